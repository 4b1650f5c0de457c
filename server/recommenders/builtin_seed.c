/* Seeding the builtin recommender with a recorded history (builtin_seed.h). */
#include "server/recommenders/builtin_seed.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/mem.h"
#include "server/core/num.h"

/* Events are loaded in batches: one write transaction each. */
#define SEED_BATCH 2000

typedef struct seed_event {
    char *user_id, *session_id, *item_id, *event_type;
    double sent_at;
} seed_event;

static void free_seed_events(seed_event *evs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(evs[i].user_id);
        free(evs[i].session_id);
        free(evs[i].item_id);
        free(evs[i].event_type);
    }
    free(evs);
}

static char *dup_field(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? pz_strdup(s) : NULL;
}

/* Parses a JSON Lines history. Returns the events (caller frees) or NULL with err. */
static seed_event *parse_history(const char *text, size_t len, size_t *n_out, double *newest, char *err, size_t errlen)
{
    size_t cap = 1024, n = 0, line_no = 0;
    seed_event *evs = pz_malloc(cap * sizeof *evs);
    *newest = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t line_len = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
        line_no++;
        if (line_len > 0) {
            json_error_t jerr;
            json_t *obj = json_loadb(text + pos, line_len, 0, &jerr);
            if (obj == NULL || !json_is_object(obj)) {
                snprintf(err, errlen, "history line %zu: %s", line_no, obj == NULL ? jerr.text : "not an object");
                json_decref(obj);
                free_seed_events(evs, n);
                return NULL;
            }
            if (n == cap) {
                cap *= 2;
                evs = pz_realloc(evs, cap * sizeof *evs);
            }
            seed_event *e = &evs[n++];
            e->user_id = dup_field(obj, "userId");
            e->session_id = dup_field(obj, "sessionId");
            e->item_id = dup_field(obj, "itemId");
            e->event_type = dup_field(obj, "eventType");
            e->sent_at = json_number_value(json_object_get(obj, "sentAt"));
            if (e->sent_at > *newest)
                *newest = e->sent_at;
            json_decref(obj);
        }
        pos += line_len + 1;
    }
    *n_out = n;
    return evs;
}

long pz_builtin_seed(pz_builtin *b, const char *ns, const char *jsonl, size_t len, int64_t now_ms, char *err,
                     size_t errlen)
{
    if (pz_builtin_has_data(b, ns))
        return 0;
    size_t n;
    double newest;
    seed_event *evs = parse_history(jsonl, len, &n, &newest, err, errlen);
    if (evs == NULL)
        return -1;
    int64_t shift_ms = now_ms - pz_epoch_s_to_ms(newest);
    pz_interaction *batch = pz_calloc(SEED_BATCH, sizeof *batch);
    long loaded = 0;
    for (size_t i = 0; i < n; i += SEED_BATCH) {
        size_t k = n - i < SEED_BATCH ? n - i : SEED_BATCH;
        for (size_t j = 0; j < k; j++) {
            const seed_event *e = &evs[i + j];
            batch[j] = (pz_interaction){.user_id = e->user_id,
                                        .session_id = e->session_id,
                                        .item_id = e->item_id,
                                        .event_type = e->event_type,
                                        .sent_at_ms = pz_epoch_s_to_ms(e->sent_at) + shift_ms};
        }
        if (pz_builtin_ingest(b, ns, batch, k, err, errlen) != 0) {
            loaded = -1;
            break;
        }
        loaded += (long)k;
    }
    free(batch);
    free_seed_events(evs, n);
    return loaded;
}
