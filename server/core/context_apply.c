#include "server/core/context_apply.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/json_text.h"

static bool named(pz_string_entry **entries, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (entries[i]->key != NULL && strcmp(entries[i]->key, key) == 0)
            return true;
    }
    return false;
}

static pz_string_entry *entry(const char *key, const char *value, pz_arena *arena)
{
    pz_string_entry *e = pz_arena_calloc(arena, 1, sizeof *e);
    e->key = (char *)key;
    e->value = (char *)value;
    return e;
}

/* Explicit entries, then text(field) for each resolved field they do not name (NULL text: left
 * out). */
static pz_string_map merge(pz_string_entry **explicit_entries, size_t n_explicit, const pz_resolved_context *resolved,
                           const char *(*text)(const pz_resolved_field *f, pz_arena *arena), pz_arena *arena)
{
    if (resolved == NULL || resolved->n_fields == 0)
        return (pz_string_map){explicit_entries, n_explicit};
    pz_string_entry **out = pz_arena_alloc(arena, (n_explicit + resolved->n_fields) * sizeof *out);
    if (n_explicit > 0)
        memcpy(out, explicit_entries, n_explicit * sizeof *out);
    size_t n = n_explicit;
    for (size_t i = 0; i < resolved->n_fields; i++) {
        const pz_resolved_field *f = &resolved->fields[i];
        if (named(explicit_entries, n_explicit, f->name))
            continue;
        const char *value = text(f, arena);
        if (value != NULL && pz_utf8_valid(value, strlen(value)))
            out[n++] = entry(f->name, value, arena);
    }
    return (pz_string_map){out, n};
}

static const char *first_value_text(const pz_resolved_field *f, pz_arena *arena)
{
    const char *v = pz_value_text(&f->values[0], arena);
    return strlen(v) <= PZ_MAX_MAP_VALUE_LEN ? v : NULL;
}

pz_string_map pz_context_merge(pz_string_entry **explicit_entries, size_t n_explicit,
                               const pz_resolved_context *resolved, pz_arena *arena)
{
    return merge(explicit_entries, n_explicit, resolved, first_value_text, arena);
}

const char *pz_filter_value_text(const pz_resolved_field *f, pz_arena *arena)
{
    if (f->type != PZ_FIELD_STRING)
        return first_value_text(f, arena);
    size_t cap = 0; /* every value quoted and comma-separated, capped at the limit */
    for (size_t i = 0; i < f->n_values && cap <= PZ_MAX_MAP_VALUE_LEN; i++)
        cap += strlen(pz_value_text(&f->values[i], arena)) + 3;
    char *out = pz_arena_alloc(arena, (cap < PZ_MAX_MAP_VALUE_LEN ? cap : PZ_MAX_MAP_VALUE_LEN) + 1);
    size_t len = 0;
    for (size_t i = 0; i < f->n_values; i++) {
        const char *v = pz_value_text(&f->values[i], arena);
        size_t n = strlen(v);
        size_t need = n + 2 + (len > 0 ? 1 : 0);
        if (strchr(v, '"') != NULL || len + need > PZ_MAX_MAP_VALUE_LEN)
            continue;
        if (len > 0)
            out[len++] = ',';
        out[len++] = '"';
        memcpy(out + len, v, n);
        len += n;
        out[len++] = '"';
    }
    out[len] = '\0';
    return len > 0 ? out : NULL;
}

pz_string_map pz_filter_values_merge(pz_string_entry **explicit_entries, size_t n_explicit,
                                     const pz_resolved_context *resolved, pz_arena *arena)
{
    return merge(explicit_entries, n_explicit, resolved, pz_filter_value_text, arena);
}

const char *pz_property_value_text(const pz_resolved_field *f, pz_arena *arena)
{
    if (f->type != PZ_FIELD_STRING || f->n_values == 1)
        return pz_value_text(&f->values[0], arena);
    size_t len = 0;
    for (size_t i = 0; i < f->n_values; i++)
        len += strlen(pz_value_text(&f->values[i], arena)) + 1;
    char *out = pz_arena_alloc(arena, len);
    char *p = out;
    for (size_t i = 0; i < f->n_values; i++) {
        const char *v = pz_value_text(&f->values[i], arena);
        size_t n = strlen(v);
        if (i > 0)
            *p++ = '|';
        memcpy(p, v, n);
        p += n;
    }
    *p = '\0';
    return out;
}

/* jansson's text of an object, compact, in insertion order; NULL when it cannot be written. */
static char *dump(const json_t *obj)
{
    return json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

const char *pz_properties_enrich(const char *properties, const pz_resolved_context *resolved, size_t max_len,
                                 pz_arena *arena)
{
    if (resolved == NULL || resolved->n_fields == 0)
        return properties;
    json_t *obj = properties != NULL ? json_loads(properties, 0, NULL) : json_object();
    if (obj == NULL || !json_is_object(obj)) {
        json_decref(obj);
        return properties;
    }
    bool added = false;
    char *text = NULL;
    for (size_t i = 0; i < resolved->n_fields; i++) {
        const pz_resolved_field *f = &resolved->fields[i];
        if (json_object_get(obj, f->name) != NULL)
            continue;                                                  /* the event's own value wins */
        json_t *value = json_string(pz_property_value_text(f, arena)); /* NULL when not UTF-8: left out */
        if (value == NULL || json_object_set_new(obj, f->name, value) != 0)
            continue;
        char *candidate = dump(obj);
        if (candidate == NULL || strlen(candidate) > max_len) { /* it would not fit: leave it out */
            free(candidate);
            json_object_del(obj, f->name);
            continue;
        }
        free(text);
        text = candidate;
        added = true;
    }
    json_decref(obj);
    if (!added)
        return properties;
    const char *out = pz_arena_strdup(arena, text);
    free(text);
    return out;
}
