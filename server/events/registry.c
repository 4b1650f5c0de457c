/* The event pipeline's target registry: slots by number and id (pipeline_internal.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/events/pipeline_internal.h"

pz_target_slot *pz_slot_new(uint32_t number, const char *id, const char *spec_json, uint64_t cursor)
{
    pz_target_spec spec;
    char err[256];
    if (pz_target_spec_parse(spec_json, &spec, err, sizeof err) != 0)
        return NULL;
    pz_target_slot *s = pz_calloc(1, sizeof *s);
    s->number = number;
    s->id = pz_strdup(id);
    s->shown = pz_target_display_id(id);
    s->type = spec.type;
    s->ns = pz_strdup(spec.ns);
    s->spec_json = pz_strdup(spec_json);
    s->cursor = s->cursor_saved = cursor;
    pthread_mutex_init(&s->lock, NULL);
    pz_target_spec_free(&spec);
    return s;
}

void pz_dead_free(pz_dead_item *d)
{
    while (d != NULL) {
        pz_dead_item *next = d->next;
        free(d->record);
        free(d);
        d = next;
    }
}

void pz_slot_free(pz_target_slot *s)
{
    pz_dead_free(s->dead_head);
    pthread_mutex_destroy(&s->lock);
    free(s->id);
    free(s->shown);
    free(s->ns);
    free(s->spec_json);
    free(s->stream);
    free(s);
}

pz_target_slot *pz_registry_find_id(pz_event_pipeline *p, const char *id)
{
    for (size_t i = 0; i < p->n_slots; i++) {
        if (strcmp(p->slots[i]->id, id) == 0)
            return p->slots[i];
    }
    return NULL;
}

pz_target_slot *pz_registry_find_number(pz_event_pipeline *p, uint32_t number)
{
    for (size_t i = 0; i < p->n_slots; i++) {
        if (p->slots[i]->number == number)
            return p->slots[i];
    }
    return NULL;
}

void pz_registry_add(pz_event_pipeline *p, pz_target_slot *s)
{
    /* The outbox instance tells a recreated outbox's numbers and seqs from the old one's. */
    char stream[128];
    snprintf(stream, sizeof stream, "outbox:%s:%u", pz_outbox_instance(p->ob), s->number);
    s->stream = pz_strdup(stream);
    pthread_mutex_lock(&p->reg_lock);
    p->slots = pz_realloc(p->slots, (p->n_slots + 1) * sizeof *p->slots);
    p->slots[p->n_slots++] = s;
    pthread_mutex_unlock(&p->reg_lock);
}

void pz_registry_remove(pz_event_pipeline *p, pz_target_slot *s)
{
    pthread_mutex_lock(&p->reg_lock);
    for (size_t i = 0; i < p->n_slots; i++) {
        if (p->slots[i] == s) {
            memmove(&p->slots[i], &p->slots[i + 1], (p->n_slots - i - 1) * sizeof *p->slots);
            p->n_slots--;
            break;
        }
    }
    pthread_mutex_unlock(&p->reg_lock);
}
