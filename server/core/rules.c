#include "server/core/rules.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One item of the list being ranked. */
typedef struct cand {
    size_t src; /* index in the recommender's answer; NONE for an added pin */
    const char *id;
    double value;                 /* ranking value (boost) */
    size_t rank;                  /* position before sorting: the stable tie-break */
    const pz_field_value *fields; /* rules->n_fields values, or NULL for an added pin */
    const pz_item_record *record; /* what the field reader read; NULL for an added pin */
    size_t cls;                   /* diversity: index of the item's value among the distinct ones; NONE when absent */
} cand;

#define NONE SIZE_MAX

int pz_rules_look_ahead(const pz_rules *rules, int num_results)
{
    if (rules == NULL || num_results <= 0)
        return num_results;
    int base = rules->paginate && rules->page_max_items > num_results ? rules->page_max_items : num_results;
    double want = ceil((double)base * rules->look_ahead_multiplier);
    if (want > rules->look_ahead_maximum)
        want = rules->look_ahead_maximum;
    if (want < base)
        want = base;
    return want > PZ_MAX_NUM_RESULTS ? PZ_MAX_NUM_RESULTS : (int)want;
}

/* ---- field values ---- */

static bool same_value(const pz_field_value *a, const pz_field_value *b)
{
    if (a->kind != b->kind)
        return false;
    if (a->kind == PZ_FIELD_NUM)
        return a->num == b->num;
    return a->len == b->len && memcmp(a->text, b->text, a->len) == 0;
}

static bool value_matches(const pz_field_value *v, const pz_rule_match *m)
{
    for (size_t i = 0; i < m->n_values; i++) {
        const pz_scalar *s = &m->values[i];
        if (s->is_number ? v->kind == PZ_FIELD_NUM && v->num == s->number
                         : v->kind != PZ_FIELD_NUM && v->kind != PZ_FIELD_ABSENT && strlen(s->string) == v->len &&
                               memcmp(s->string, v->text, v->len) == 0)
            return true;
    }
    return false;
}

static bool matches(const pz_rule_match *m, const cand *c)
{
    if (m->item_ids != NULL) {
        for (size_t i = 0; i < m->n_item_ids; i++)
            if (strcmp(m->item_ids[i], c->id) == 0)
                return true;
        return false;
    }
    return c->fields != NULL && value_matches(&c->fields[m->field_index], m);
}

/* A field of a recommender-returned metadata Struct (a plain one: prerendered Structs of the
 * catalog hold no parsed fields and are never seen here, since decoration comes later). */
static bool struct_field(const Google__Protobuf__Struct *s, const char *field, pz_field_value *out)
{
    for (size_t i = 0; s != NULL && i < s->n_fields; i++) {
        const Google__Protobuf__Struct__FieldsEntry *e = s->fields[i];
        if (e->key == NULL || strcmp(e->key, field) != 0 || e->value == NULL)
            continue;
        const Google__Protobuf__Value *v = e->value;
        switch (v->kind_case) {
        case GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE:
            *out = (pz_field_value){.kind = PZ_FIELD_STR, .text = v->string_value, .len = strlen(v->string_value)};
            return true;
        case GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE:
            *out = (pz_field_value){.kind = PZ_FIELD_NUM, .num = v->number_value};
            return true;
        case GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE:
            *out = (pz_field_value){
                .kind = PZ_FIELD_OTHER, .text = v->bool_value ? "true" : "false", .len = v->bool_value ? 4 : 5};
            return true;
        default: return false;
        }
    }
    return false;
}

/* Reads the rules' fields of every candidate: the catalog first, then the recommender's own
 * metadata over it. With decoration on, the items' records are kept for it (*version: what they
 * were read from). */
static pz_status read_fields(const pz_rules_ports *ports, const pz_rules *rules, const pz_query *q,
                             const pz_recommend_call *call, cand *cands, size_t n, uint64_t *version, pz_arena *arena,
                             pz_error *err)
{
    if (rules->n_fields == 0 || n == 0)
        return PZ_OK;
    pz_field_value *values = pz_arena_calloc(arena, n * rules->n_fields, sizeof *values);
    /* kept only for decoration to reuse: none without it */
    pz_item_record *records = q->decorate_items ? pz_arena_calloc(arena, n, sizeof *records) : NULL;
    const char **ids = pz_arena_alloc(arena, n * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        ids[i] = cands[i].id;
        cands[i].fields = &values[i * rules->n_fields];
        cands[i].record = records != NULL ? &records[i] : NULL;
    }
    pz_field_lookup job = {.ns = q->namespace_,
                           .ids = ids,
                           .n_ids = n,
                           .fields = rules->fields,
                           .n_fields = rules->n_fields,
                           .values = values,
                           .arena = arena,
                           .records = records};
    if (ports->decorator != NULL && pz_decorator_fields(ports->decorator, q, &job, err) != PZ_OK)
        return err->status;
    *version = job.version;
    for (size_t i = 0; call->extras != NULL && i < n; i++) {
        const Google__Protobuf__Struct *md = call->extras[cands[i].src].metadata;
        for (size_t f = 0; md != NULL && f < rules->n_fields; f++)
            struct_field(md, rules->fields[f], &values[i * rules->n_fields + f]);
    }
    return PZ_OK;
}

/* ---- excludeSeen ---- */

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct seen_set {
    const char **ids; /* sorted */
    size_t n;
} seen_set;

static bool is_seen(const seen_set *s, const char *id)
{
    return s->n > 0 && bsearch(&id, s->ids, s->n, sizeof *s->ids, compare_strings) != NULL;
}

static pz_status read_seen(const pz_rules_ports *ports, const pz_rules *rules, const pz_query *q, pz_arena *arena,
                           seen_set *out, pz_error *err)
{
    *out = (seen_set){0};
    if (!rules->exclude_seen || q->user_id == NULL || ports->history.seen == NULL)
        return PZ_OK;
    pz_history_query hq = {
        .ns = q->namespace_,
        .user_id = q->user_id,
        .event_types = rules->seen_event_types,
        .n_event_types = rules->n_seen_event_types,
        .since_ms = rules->seen_window_seconds > 0 ? q->received_ms - (int64_t)rules->seen_window_seconds * 1000 : 0};
    const char **ids = NULL;
    size_t n = 0;
    pz_status s = ports->history.seen(ports->history.self, &hq, arena, &ids, &n, err);
    if (s != PZ_OK)
        return s;
    if (n > 1)
        qsort(ids, n, sizeof *ids, compare_strings);
    *out = (seen_set){ids, n};
    return PZ_OK;
}

/* ---- ordering ---- */

static int compare_by_value(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? 1 : -1;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

/* bury, then boost (steps 2 and 3). */
static void bury_and_boost(const pz_rules *rules, const pz_recommend_call *call, cand *list, size_t n, cand *scratch)
{
    bool scored = true;
    for (size_t i = 0; i < n; i++) {
        const pz_scored_item *it = &call->items[list[i].src];
        scored = scored && it->has_score && it->score >= 0 && isfinite(it->score);
    }
    bool boosted = false;
    size_t kept = 0, buried = 0;
    for (size_t i = 0; i < n; i++) {
        cand *c = &list[i];
        c->rank = i;
        c->value = scored ? call->items[c->src].score : (double)(n - i);
        for (size_t b = 0; b < rules->n_boosts; b++)
            if (matches(&rules->boosts[b].match, c)) {
                c->value *= rules->boosts[b].weight;
                boosted = true;
            }
        bool bury = false;
        for (size_t b = 0; !bury && b < rules->n_buries; b++)
            bury = matches(&rules->buries[b], c);
        if (bury)
            scratch[buried++] = *c;
        else
            list[kept++] = *c;
    }
    memcpy(list + kept, scratch, buried * sizeof *list);
    if (boosted)
        qsort(list, kept, sizeof *list, compare_by_value);
}

/* Gives each item the index of its diversity value among the distinct values (NONE: absent). */
static size_t classify(cand *list, size_t n, pz_arena *arena)
{
    size_t f = 0; /* the diversity field comes first in rules->fields */
    const pz_field_value **distinct = pz_arena_alloc(arena, (n + 1) * sizeof *distinct);
    size_t d = 0;
    for (size_t i = 0; i < n; i++) {
        const pz_field_value *v = list[i].fields != NULL ? &list[i].fields[f] : NULL;
        list[i].cls = NONE;
        if (v == NULL || v->kind == PZ_FIELD_ABSENT)
            continue;
        size_t k = 0;
        while (k < d && !same_value(distinct[k], v))
            k++;
        if (k == d)
            distinct[d++] = v;
        list[i].cls = k;
    }
    return d;
}

/* Step 4. Returns the new length. */
static size_t diversify(const pz_rules *rules, cand *list, size_t n, int num_results, cand *scratch, pz_arena *arena)
{
    if (rules->diversity == PZ_DIVERSITY_NONE || n == 0)
        return n;
    size_t d = classify(list, n, arena);
    size_t *count = pz_arena_calloc(arena, d + 1, sizeof *count);
    if (rules->diversity == PZ_DIVERSITY_CAP) {
        size_t kept = 0;
        for (size_t i = 0; i < n; i++)
            if (list[i].cls == NONE || count[list[i].cls]++ < (size_t)rules->max_per_value)
                list[kept++] = list[i];
        return kept;
    }
    /* MMR, greedily for the first numResults places; the rest keep their order. */
    bool *taken = pz_arena_calloc(arena, n, sizeof *taken);
    size_t k = (size_t)num_results < n ? (size_t)num_results : n;
    double lambda = rules->mmr_lambda;
    for (size_t out = 0; out < k; out++) {
        size_t best = NONE;
        double best_score = 0;
        for (size_t i = 0; i < n; i++) {
            if (taken[i])
                continue;
            double rel = 1.0 - (double)i / (double)n;
            double sim = list[i].cls != NONE && count[list[i].cls] > 0 ? 1.0 : 0.0;
            double score = lambda * rel - (1.0 - lambda) * sim;
            if (best == NONE || score > best_score) {
                best = i;
                best_score = score;
            }
        }
        taken[best] = true;
        if (list[best].cls != NONE)
            count[list[best].cls]++;
        scratch[out] = list[best];
    }
    size_t m = k;
    for (size_t i = 0; i < n; i++)
        if (!taken[i])
            scratch[m++] = list[i];
    memcpy(list, scratch, n * sizeof *list);
    return n;
}

/* Step 5: pulls every pinned item out, then inserts them at their positions in ascending order,
 * so a later insertion never moves an earlier pin. Returns the new length (list has room for
 * n + n_pins). */
static size_t pin(const pz_rules *rules, const seen_set *seen, cand *list, size_t n, pz_arena *arena)
{
    if (rules->n_pins == 0)
        return n;
    cand *pinned = pz_arena_alloc(arena, rules->n_pins * sizeof *pinned);
    int *positions = pz_arena_alloc(arena, rules->n_pins * sizeof *positions);
    size_t n_pinned = 0;
    for (size_t p = 0; p < rules->n_pins; p++) {
        const pz_rule_pin *pn = &rules->pins[p];
        size_t at = NONE;
        for (size_t i = 0; i < n && at == NONE; i++)
            if (matches(&pn->match, &list[i]))
                at = i;
        if (at != NONE) {
            pinned[n_pinned] = list[at];
            memmove(list + at, list + at + 1, (n - at - 1) * sizeof *list);
            n--;
        } else if (pn->match.item_ids != NULL && !is_seen(seen, pn->match.item_ids[0])) {
            bool already = false; /* an earlier pin took it */
            for (size_t j = 0; j < n_pinned; j++)
                already = already || strcmp(pinned[j].id, pn->match.item_ids[0]) == 0;
            if (already)
                continue;
            pinned[n_pinned] = (cand){.src = NONE, .id = pn->match.item_ids[0], .cls = NONE};
        } else {
            continue;
        }
        positions[n_pinned++] = pn->position;
    }
    for (size_t j = 0; j < n_pinned; j++) { /* positions ascend: rules->pins is sorted */
        size_t at = (size_t)positions[j] - 1 < n ? (size_t)positions[j] - 1 : n;
        memmove(list + at + 1, list + at, (n - at) * sizeof *list);
        list[at] = pinned[j];
        n++;
    }
    return n;
}

pz_status pz_rules_apply(const pz_rules_ports *ports, const pz_rules *rules, const pz_query *q, pz_recommend_call *call,
                         pz_item_records *records, pz_arena *arena, pz_error *err)
{
    if (records != NULL)
        *records = (pz_item_records){0};
    if (rules == NULL || q->action == PZ_ACTION_RERANK_ITEMS)
        return PZ_OK;
    seen_set seen;
    pz_status s = read_seen(ports, rules, q, arena, &seen, err);
    if (s != PZ_OK)
        return s;
    size_t cap = call->n_items + rules->n_pins;
    cand *list = pz_arena_alloc(arena, (cap + 1) * sizeof *list);
    cand *scratch = pz_arena_alloc(arena, (cap + 1) * sizeof *scratch);
    size_t n = 0;
    for (size_t i = 0; i < call->n_items; i++)
        if (!is_seen(&seen, call->items[i].item_id))
            list[n++] = (cand){.src = i, .id = call->items[i].item_id, .cls = NONE};
    uint64_t version = 0;
    s = read_fields(ports, rules, q, call, list, n, &version, arena, err);
    if (s != PZ_OK)
        return s;
    bool read = n > 0 && list[0].record != NULL;
    bury_and_boost(rules, call, list, n, scratch);
    n = diversify(rules, list, n, q->num_results, scratch, arena);
    n = pin(rules, &seen, list, n, arena);

    pz_scored_item *items = pz_arena_alloc(arena, (n + 1) * sizeof *items);
    pz_item_extra *extras = call->extras != NULL ? pz_arena_calloc(arena, n + 1, sizeof *extras) : NULL;
    pz_item_record *kept = records != NULL && read ? pz_arena_calloc(arena, n + 1, sizeof *kept) : NULL;
    for (size_t i = 0; i < n; i++) {
        if (kept != NULL && list[i].record != NULL)
            kept[i] = *list[i].record;
        if (list[i].src == NONE) {
            items[i] = (pz_scored_item){.item_id = list[i].id};
            continue;
        }
        items[i] = call->items[list[i].src];
        if (extras != NULL)
            extras[i] = call->extras[list[i].src];
    }
    call->items = items;
    call->n_items = n;
    call->extras = extras;
    if (kept != NULL)
        *records = (pz_item_records){.items = kept, .n = n, .version = version};
    return PZ_OK;
}

/* ---- filterValuesFromItem ---- */

static bool has_filter_value(const pz_query *q, const char *key)
{
    for (size_t i = 0; i < q->n_filter_values; i++)
        if (strcmp(q->filter_values[i]->key, key) == 0)
            return true;
    return false;
}

/* Personalize's filter value syntax: a string in double quotes (inner quotes escaped), a number
 * as written. */
static char *filter_value(const pz_field_value *v, pz_arena *arena)
{
    if (v->kind == PZ_FIELD_NUM)
        return pz_arena_printf(arena, "%.17g", v->num);
    if (v->kind != PZ_FIELD_STR)
        return NULL;
    char *out = pz_arena_alloc(arena, v->len * 2 + 3);
    size_t k = 0;
    out[k++] = '"';
    for (size_t i = 0; i < v->len; i++) {
        if (v->text[i] == '"' || v->text[i] == '\\')
            out[k++] = '\\';
        out[k++] = v->text[i];
    }
    out[k++] = '"';
    out[k] = '\0';
    return out;
}

pz_status pz_rules_filter_values_from_item(const pz_rules_ports *ports, const pz_rules *rules, pz_query *q,
                                           pz_arena *arena, pz_error *err)
{
    if (rules == NULL || rules->n_fvi == 0 || q->action != PZ_ACTION_RELATED_ITEMS || q->item_id == NULL ||
        ports->decorator == NULL)
        return PZ_OK;
    pz_field_value *values = pz_arena_calloc(arena, rules->n_fvi, sizeof *values);
    pz_field_lookup job = {.ns = q->namespace_,
                           .ids = &q->item_id,
                           .n_ids = 1,
                           .fields = rules->fvi_fields,
                           .n_fields = rules->n_fvi,
                           .values = values,
                           .arena = arena};
    pz_status s = pz_decorator_fields(ports->decorator, q, &job, err);
    if (s != PZ_OK)
        return s;
    pz_string_entry **entries = pz_arena_alloc(arena, (q->n_filter_values + rules->n_fvi) * sizeof *entries);
    if (q->n_filter_values > 0)
        memcpy(entries, q->filter_values, q->n_filter_values * sizeof *entries);
    size_t n = q->n_filter_values;
    for (size_t i = 0; i < rules->n_fvi; i++) {
        char *text = filter_value(&values[i], arena);
        if (text == NULL || has_filter_value(q, rules->fvi_params[i]))
            continue;
        pz_string_entry *e = pz_arena_calloc(arena, 1, sizeof *e);
        e->key = (char *)rules->fvi_params[i];
        e->value = text;
        entries[n++] = e;
    }
    q->filter_values = entries;
    q->n_filter_values = n;
    return PZ_OK;
}
