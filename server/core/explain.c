#include "server/core/explain.h"

#include <string.h>

#include "server/core/json_text.h"

/* s as valid UTF-8: each byte that does not start a valid sequence becomes '?'. */
static char *utf8_text(const char *s, pz_arena *arena)
{
    size_t len = strlen(s);
    if (pz_utf8_valid(s, len))
        return (char *)s;
    char *out = pz_arena_strndup(arena, s, len);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = pz_utf8_next((const unsigned char *)out + i, len - i, &cp);
        if (n == 0) {
            out[i] = '?';
            n = 1;
        }
        i += n;
    }
    return out;
}

static Google__Protobuf__Value *value_message(const pz_value *v, pz_arena *arena)
{
    Google__Protobuf__Value *m =
        (Google__Protobuf__Value *)pz_arena_new_message(arena, &google__protobuf__value__descriptor);
    switch (v->kind) {
    case PZ_VALUE_STRING:
        m->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
        m->string_value = utf8_text(v->string, arena);
        break;
    case PZ_VALUE_NUMBER:
        m->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
        m->number_value = v->number;
        break;
    case PZ_VALUE_BOOL:
        m->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
        m->bool_value = v->boolean;
        break;
    }
    return m;
}

static Personalization__V1__ResolvedField *field_message(const pz_resolved_field *f, pz_arena *arena)
{
    Personalization__V1__ResolvedField *m = (Personalization__V1__ResolvedField *)pz_arena_new_message(
        arena, &personalization__v1__resolved_field__descriptor);
    m->n_values = f->n_values;
    m->values = pz_arena_alloc(arena, f->n_values * sizeof *m->values);
    for (size_t i = 0; i < f->n_values; i++)
        m->values[i] = value_message(&f->values[i], arena);
    m->type = (char *)pz_field_type_name(f->type);
    return m;
}

/* The map entries of both field maps (ContextEntry and AutoFilterValuesEntry) share a layout:
 * base, key, ResolvedField value. */
typedef struct field_entry {
    ProtobufCMessage base;
    char *key;
    Personalization__V1__ResolvedField *value;
} field_entry;

static void *field_map(const pz_resolved_context *rc, const ProtobufCMessageDescriptor *entry_desc, size_t *n,
                       pz_arena *arena)
{
    *n = rc != NULL ? rc->n_fields : 0;
    if (*n == 0)
        return NULL;
    field_entry **entries = pz_arena_alloc(arena, *n * sizeof *entries);
    for (size_t i = 0; i < *n; i++) {
        field_entry *e = (field_entry *)pz_arena_new_message(arena, entry_desc);
        e->key = (char *)rc->fields[i].name;
        e->value = field_message(&rc->fields[i], arena);
        entries[i] = e;
    }
    return entries;
}

/* A string map (SentContextEntry and FilterValuesEntry share pz_string_entry's layout). */
static void *string_map(pz_string_entry **src, size_t n, const ProtobufCMessageDescriptor *entry_desc, pz_arena *arena)
{
    if (n == 0)
        return NULL;
    pz_string_entry **entries = pz_arena_alloc(arena, n * sizeof *entries);
    for (size_t i = 0; i < n; i++) {
        pz_string_entry *e = (pz_string_entry *)pz_arena_new_message(arena, entry_desc);
        e->key = utf8_text(src[i]->key != NULL ? src[i]->key : "", arena);
        e->value = utf8_text(src[i]->value != NULL ? src[i]->value : "", arena);
        entries[i] = e;
    }
    return entries;
}

static char *local_time_text(const pz_civil_time *t, pz_arena *arena)
{
    int32_t off = t->utc_offset;
    char sign = off < 0 ? '-' : '+';
    off = off < 0 ? -off : off;
    return pz_arena_printf(arena, "%04lld-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", (long long)t->year, t->month, t->day,
                           t->hour, t->minute, t->second, sign, off / 3600, off / 60 % 60);
}

Personalization__V1__Explain *pz_explain_build(const pz_explain_input *in, pz_arena *arena)
{
    Personalization__V1__Explain *e =
        (Personalization__V1__Explain *)pz_arena_new_message(arena, &personalization__v1__explain__descriptor);
    e->context = field_map(in->context, &personalization__v1__explain__context_entry__descriptor, &e->n_context, arena);
    e->auto_filter_values =
        field_map(in->filter_values, &personalization__v1__explain__auto_filter_values_entry__descriptor,
                  &e->n_auto_filter_values, arena);
    const pz_query *q = in->query;
    e->sent_context =
        string_map(q->context, q->n_context, &personalization__v1__explain__sent_context_entry__descriptor, arena);
    e->n_sent_context = q->n_context;
    e->filter_values = string_map(q->filter_values, q->n_filter_values,
                                  &personalization__v1__explain__filter_values_entry__descriptor, arena);
    e->n_filter_values = q->n_filter_values;
    e->filter = in->filter != NULL ? utf8_text(in->filter, arena) : NULL;
    e->variation = (char *)in->variation;
    e->cache = (char *)(in->cache != NULL ? in->cache : "bypass");
    e->has_upstream_ms = true;
    e->upstream_ms = (double)in->upstream_us / 1000.0;
    const pz_viewer *v = in->viewer;
    if (v != NULL) {
        e->n_vary = v->n_consulted;
        e->vary = (char **)v->consulted;
        if (v->time_done) {
            e->time_zone = utf8_text(v->zone, arena);
            e->local_time = local_time_text(&v->local, arena);
        }
    }
    return e;
}

void pz_explain_attach(ProtobufCMessage *response, Personalization__V1__Explain *explain)
{
    if (response->descriptor == &personalization__v1__rerank_response__descriptor)
        ((Personalization__V1__RerankResponse *)response)->explain = explain;
    else if (response->descriptor == &personalization__v1__recommendation_response__descriptor)
        ((Personalization__V1__RecommendationResponse *)response)->explain = explain;
}
