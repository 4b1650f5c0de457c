/* The `rules` block (ours, issue #20): post-ranking rules at namespace, recommender or variation
 * level, inherited like `filters` (a level that sets the key replaces its parent's whole block).
 * Applied by server/core/rules.h; the shape:
 *   {"excludeSeen": {"eventTypes": [...], "windowSeconds": N},
 *    "diversity": {"field": "category", "maxPerValue": 2} | {"field": ..., "method": "mmr", "lambda": 0.5},
 *    "pin": [{"itemId": "sku-1", "position": 1} | {"field": ..., "values": [...], "position": N}],
 *    "boost": [{"itemIds": [...] | "field": ..., "values": [...], "weight": 2}],
 *    "bury": [{"itemIds": [...] | "field": ..., "values": [...]}],
 *    "filterValuesFromItem": {"CATEGORY": "category"},
 *    "pagination": {"maxItems": 100, "ttlSeconds": 1800},
 *    "lookAheadMultiplier": 2, "lookAheadMaximumValue": 500}
 * It is our own block: unknown keys are errors at every level. */
#include <stdlib.h>
#include <string.h>

#include "server/core/config_internal.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const cfg_member RULES_EXCLUDE_SEEN = {.key = "excludeSeen", .kind = CFG_OBJECT};
static const cfg_member RULES_DIVERSITY = {.key = "diversity", .kind = CFG_OBJECT};
static const cfg_member RULES_PIN = {.key = "pin", .kind = CFG_ARRAY};
static const cfg_member RULES_BOOST = {.key = "boost", .kind = CFG_ARRAY};
static const cfg_member RULES_BURY = {.key = "bury", .kind = CFG_ARRAY};
static const cfg_member RULES_FVI = {.key = "filterValuesFromItem", .kind = CFG_OBJECT};
static const cfg_member RULES_PAGINATION = {.key = "pagination", .kind = CFG_OBJECT};
static const cfg_member RULES_LOOK_AHEAD_MULTIPLIER = {.key = "lookAheadMultiplier", .kind = CFG_NUMBER, .min = 1};
static const cfg_member RULES_LOOK_AHEAD_MAXIMUM = {
    .key = "lookAheadMaximumValue", .kind = CFG_INTEGER, .min = 1, .max = PZ_RULES_MAX_LOOK_AHEAD};
static const cfg_member *const RULES[] = {&RULES_EXCLUDE_SEEN,
                                          &RULES_DIVERSITY,
                                          &RULES_PIN,
                                          &RULES_BOOST,
                                          &RULES_BURY,
                                          &RULES_FVI,
                                          &RULES_PAGINATION,
                                          &RULES_LOOK_AHEAD_MULTIPLIER,
                                          &RULES_LOOK_AHEAD_MAXIMUM};

static const cfg_member SEEN_EVENT_TYPES = {.key = "eventTypes", .kind = CFG_ARRAY};
static const cfg_member SEEN_WINDOW = {
    .key = "windowSeconds", .kind = CFG_INTEGER, .min = 1, .max = PZ_RULES_MAX_WINDOW_SECONDS};
static const cfg_member *const SEEN[] = {&SEEN_EVENT_TYPES, &SEEN_WINDOW};

static const cfg_name_value DIVERSITY_METHODS[] = {{"cap", PZ_DIVERSITY_CAP}, {"mmr", PZ_DIVERSITY_MMR}};
static const cfg_member DIVERSITY_FIELD = {
    .key = "field", .kind = CFG_STRING, .presence = CFG_REQUIRED, .max = PZ_RULES_MAX_FIELD_LEN};
static const cfg_member DIVERSITY_METHOD = {.key = "method", .kind = CFG_STRING};
static const cfg_member DIVERSITY_MAX_PER_VALUE = {
    .key = "maxPerValue", .kind = CFG_INTEGER, .presence = CFG_REQUIRED_IF, .min = 1, .max = PZ_RULES_MAX_POSITION};
static const cfg_member DIVERSITY_LAMBDA = {.key = "lambda", .kind = CFG_NUMBER, .min = 0};
static const cfg_member *const DIVERSITY[] = {&DIVERSITY_FIELD, &DIVERSITY_METHOD, &DIVERSITY_MAX_PER_VALUE,
                                              &DIVERSITY_LAMBDA};

static const cfg_member PAGE_MAX_ITEMS = {
    .key = "maxItems", .kind = CFG_INTEGER, .min = 1, .max = PZ_RULES_MAX_LOOK_AHEAD};
static const cfg_member PAGE_TTL = {.key = "ttlSeconds", .kind = CFG_INTEGER, .min = 1, .max = PZ_RULES_MAX_PAGE_TTL};
static const cfg_member *const PAGINATION[] = {&PAGE_MAX_ITEMS, &PAGE_TTL};

/* Match members shared by pin, boost and bury. */
static const cfg_member MATCH_ITEM_ID = {.key = "itemId", .kind = CFG_STRING, .max = 256};
static const cfg_member MATCH_ITEM_IDS = {.key = "itemIds", .kind = CFG_ARRAY};
static const cfg_member MATCH_FIELD = {.key = "field", .kind = CFG_STRING, .max = PZ_RULES_MAX_FIELD_LEN};
static const cfg_member MATCH_VALUES = {.key = "values", .kind = CFG_ARRAY};
static const cfg_member PIN_POSITION = {
    .key = "position", .kind = CFG_INTEGER, .presence = CFG_REQUIRED, .min = 1, .max = PZ_RULES_MAX_POSITION};
static const cfg_member BOOST_WEIGHT = {.key = "weight", .kind = CFG_NUMBER, .presence = CFG_OPTIONAL, .min = 0};
static const cfg_member *const PIN[] = {&MATCH_ITEM_ID, &MATCH_FIELD, &MATCH_VALUES, &PIN_POSITION};
static const cfg_member *const BOOST[] = {&MATCH_ITEM_IDS, &MATCH_FIELD, &MATCH_VALUES, &BOOST_WEIGHT};
static const cfg_member *const BURY[] = {&MATCH_ITEM_IDS, &MATCH_FIELD, &MATCH_VALUES};

/* An array of 1..max non-empty strings without control characters, or NULL (reported). */
static const char *const *string_array(cfg_ctx *c, json_t *obj, const cfg_member *m, size_t max, size_t max_len,
                                       size_t *n)
{
    json_t *a = cfg_get(obj, m);
    *n = 0;
    if (a == NULL)
        return NULL;
    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > max) {
        cfg_error_at(c, m->key, "expected an array of 1 to %zu strings, got %s%s", max, cfg_type_name(a),
                     json_is_array(a) ? (json_array_size(a) == 0 ? " (empty)" : " (too many)") : "");
        return NULL;
    }
    const char **out = pz_arena_calloc(c->arena, json_array_size(a), sizeof *out);
    size_t i;
    json_t *s;
    json_array_foreach (a, i, s) {
        size_t len = json_string_length(s);
        if (!json_is_string(s) || len == 0 || len > max_len) {
            cfg_error_at(c, m->key, "element %zu: expected a string of 1 to %zu bytes", i, max_len);
            return NULL;
        }
        long at = cfg_control_char_at(json_string_value(s), len);
        if (at >= 0) {
            cfg_error_control_char(c, m->key, json_string_value(s), at);
            return NULL;
        }
        out[i] = pz_arena_strdup(c->arena, json_string_value(s));
    }
    *n = json_array_size(a);
    return out;
}

/* Reads `itemId`/`itemIds` or `field` + `values` into out. Exactly one way must be given. */
static bool parse_match(cfg_ctx *c, json_t *v, bool single_id, pz_rule_match *out)
{
    if (single_id) {
        const char *id = cfg_string(c, v, &MATCH_ITEM_ID, NULL);
        if (id != NULL) {
            const char **ids = pz_arena_calloc(c->arena, 1, sizeof *ids);
            ids[0] = id;
            out->item_ids = ids;
            out->n_item_ids = 1;
        }
    } else {
        out->item_ids = string_array(c, v, &MATCH_ITEM_IDS, PZ_RULES_MAX_IDS, 256, &out->n_item_ids);
    }
    out->field = cfg_string(c, v, &MATCH_FIELD, NULL);
    json_t *values = cfg_get(v, &MATCH_VALUES);
    bool by_ids = out->item_ids != NULL, by_field = out->field != NULL || values != NULL;
    if (by_ids == by_field) {
        cfg_error(c, "expected either %s or \"field\" with \"values\"", single_id ? "\"itemId\"" : "\"itemIds\"");
        return false;
    }
    if (by_ids)
        return true;
    if (out->field == NULL) {
        cfg_error_at(c, MATCH_FIELD.key, "required with \"values\"; expected a metadata field name");
        return false;
    }
    if (!json_is_array(values) || json_array_size(values) == 0 || json_array_size(values) > PZ_RULES_MAX_VALUES) {
        cfg_error_at(c, MATCH_VALUES.key, "expected an array of 1 to %d strings or numbers", PZ_RULES_MAX_VALUES);
        return false;
    }
    pz_scalar *vals = pz_arena_calloc(c->arena, json_array_size(values), sizeof *vals);
    size_t i;
    json_t *e;
    json_array_foreach (values, i, e) {
        if (json_is_number(e)) {
            vals[i] = (pz_scalar){.is_number = true, .number = json_number_value(e)};
        } else if (json_is_string(e)) {
            vals[i] = (pz_scalar){.string = pz_arena_strdup(c->arena, json_string_value(e))};
        } else {
            cfg_error_at(c, MATCH_VALUES.key, "element %zu: expected a string or a number, got %s", i,
                         cfg_type_name(e));
            return false;
        }
    }
    out->values = vals;
    out->n_values = json_array_size(values);
    return true;
}

/* Reads an array member of objects, each through `one`, into an arena array of `size`-byte
 * elements. */
static void *parse_list(cfg_ctx *c, json_t *rules, const cfg_member *m, size_t size, size_t *n,
                        bool (*one)(cfg_ctx *c, json_t *v, void *out))
{
    json_t *a = cfg_get(rules, m);
    *n = 0;
    if (a == NULL)
        return NULL;
    size_t mark = cfg_push_key(c, m->key);
    char *items = NULL;
    if (!json_is_array(a) || json_array_size(a) > PZ_RULES_MAX_ENTRIES) {
        cfg_error(c, "expected an array of at most %d objects, got %s", PZ_RULES_MAX_ENTRIES,
                  json_is_array(a) ? "more" : cfg_type_name(a));
    } else {
        items = pz_arena_calloc(c->arena, json_array_size(a) + 1, size);
        size_t i;
        json_t *v;
        json_array_foreach (a, i, v) {
            size_t i_mark = cfg_push_index(c, i);
            if (cfg_expect_object(c, v, "an object") && one(c, v, items + *n * size))
                (*n)++;
            cfg_pop(c, i_mark);
        }
    }
    cfg_pop(c, mark);
    return items;
}

static bool one_pin(cfg_ctx *c, json_t *v, void *out)
{
    pz_rule_pin *p = out;
    cfg_check_members(c, v, PIN, COUNT(PIN), 0, true, "a pin");
    return parse_match(c, v, true, &p->match) & cfg_int(c, v, &PIN_POSITION, &p->position);
}

static bool one_boost(cfg_ctx *c, json_t *v, void *out)
{
    pz_rule_boost *b = out;
    cfg_check_members(c, v, BOOST, COUNT(BOOST), 0, true, "a boost");
    b->weight = 2;
    cfg_number(c, v, &BOOST_WEIGHT, &b->weight);
    if (b->weight <= 0) {
        cfg_error_at(c, BOOST_WEIGHT.key, "must be above 0 (below 1 demotes, above 1 promotes)");
        return false;
    }
    return parse_match(c, v, false, &b->match);
}

static bool one_bury(cfg_ctx *c, json_t *v, void *out)
{
    cfg_check_members(c, v, BURY, COUNT(BURY), 0, true, "a bury");
    return parse_match(c, v, false, out);
}

static int compare_pins(const void *a, const void *b)
{
    const pz_rule_pin *x = a, *y = b;
    return (x->position > y->position) - (x->position < y->position);
}

static void parse_exclude_seen(cfg_ctx *c, json_t *v, pz_rules *r)
{
    size_t mark = cfg_push_key(c, RULES_EXCLUDE_SEEN.key);
    if (cfg_expect_object(c, v, "{\"eventTypes\"?: [...], \"windowSeconds\"?: N}")) {
        cfg_check_members(c, v, SEEN, COUNT(SEEN), 0, true, "excludeSeen");
        r->exclude_seen = true;
        r->seen_event_types =
            string_array(c, v, &SEEN_EVENT_TYPES, PZ_RULES_MAX_EVENT_TYPES, 256, &r->n_seen_event_types);
        cfg_int(c, v, &SEEN_WINDOW, &r->seen_window_seconds);
    }
    cfg_pop(c, mark);
}

static void parse_diversity(cfg_ctx *c, json_t *v, pz_rules *r)
{
    size_t mark = cfg_push_key(c, RULES_DIVERSITY.key);
    if (cfg_expect_object(c, v, "{\"field\": ..., \"maxPerValue\": N}")) {
        cfg_check_members(c, v, DIVERSITY, COUNT(DIVERSITY), 0, true, "diversity");
        r->diversity_field = cfg_string(c, v, &DIVERSITY_FIELD, "a metadata field name");
        int method = cfg_enum(c, v, &DIVERSITY_METHOD, DIVERSITY_METHODS, COUNT(DIVERSITY_METHODS), "cap, mmr");
        r->diversity = method < 0 ? PZ_DIVERSITY_CAP : (pz_diversity_method)method;
        bool has_max = cfg_int(c, v, &DIVERSITY_MAX_PER_VALUE, &r->max_per_value);
        bool bad_method = method < 0 && cfg_get(v, &DIVERSITY_METHOD) != NULL;
        if (r->diversity == PZ_DIVERSITY_CAP && !bad_method && !has_max && cfg_get(v, &DIVERSITY_MAX_PER_VALUE) == NULL)
            cfg_error_at(c, DIVERSITY_MAX_PER_VALUE.key, "required with method cap; expected an integer from 1 to %d",
                         PZ_RULES_MAX_POSITION);
        r->mmr_lambda = 0.5;
        if (cfg_number(c, v, &DIVERSITY_LAMBDA, &r->mmr_lambda) && r->mmr_lambda > 1)
            cfg_error_at(c, DIVERSITY_LAMBDA.key, "out of range: %g; expected a number from 0 to 1", r->mmr_lambda);
        if (r->diversity == PZ_DIVERSITY_CAP && cfg_get(v, &DIVERSITY_LAMBDA) != NULL)
            cfg_warn_at(c, DIVERSITY_LAMBDA.key, "ignored: lambda applies to method mmr only");
        if (r->diversity == PZ_DIVERSITY_MMR && has_max)
            cfg_warn_at(c, DIVERSITY_MAX_PER_VALUE.key, "ignored: maxPerValue applies to method cap only");
        if (r->diversity_field == NULL)
            r->diversity = PZ_DIVERSITY_NONE;
    }
    cfg_pop(c, mark);
}

static void parse_fvi(cfg_ctx *c, json_t *v, pz_rules *r)
{
    size_t mark = cfg_push_key(c, RULES_FVI.key);
    if (cfg_expect_object(c, v, "{\"FILTER_PARAMETER\": \"metadata field\", ...}")) {
        size_t n = json_object_size(v);
        if (n == 0 || n > PZ_RULES_MAX_FVI) {
            cfg_error(c, "expected 1 to %d filter parameters", PZ_RULES_MAX_FVI);
        } else {
            const char **params = pz_arena_calloc(c->arena, n, sizeof *params);
            const char **fields = pz_arena_calloc(c->arena, n, sizeof *fields);
            const char *key;
            json_t *f;
            json_object_foreach (v, key, f) {
                if (!cfg_is_path_key(key) || strlen(key) > 50)
                    cfg_error(c, "filter parameter \"%.60s\": expected 1 to 50 letters, digits, '_' or '-'", key);
                else if (!json_is_string(f) || json_string_length(f) == 0 ||
                         json_string_length(f) > PZ_RULES_MAX_FIELD_LEN ||
                         cfg_control_char_at(json_string_value(f), json_string_length(f)) >= 0)
                    cfg_error_at(c, key, "expected a metadata field name (1 to %d bytes, no control characters)",
                                 PZ_RULES_MAX_FIELD_LEN);
                else {
                    params[r->n_fvi] = pz_arena_strdup(c->arena, key);
                    fields[r->n_fvi++] = pz_arena_strdup(c->arena, json_string_value(f));
                }
            }
            r->fvi_params = params;
            r->fvi_fields = fields;
        }
    }
    cfg_pop(c, mark);
}

static void parse_pagination(cfg_ctx *c, json_t *v, pz_rules *r)
{
    size_t mark = cfg_push_key(c, RULES_PAGINATION.key);
    if (cfg_expect_object(c, v, "{\"maxItems\"?: N, \"ttlSeconds\"?: N}")) {
        cfg_check_members(c, v, PAGINATION, COUNT(PAGINATION), 0, true, "pagination");
        r->paginate = true;
        r->page_max_items = PZ_RULES_DEFAULT_PAGE_ITEMS;
        r->page_ttl_seconds = PZ_RULES_DEFAULT_PAGE_TTL;
        cfg_int(c, v, &PAGE_MAX_ITEMS, &r->page_max_items);
        cfg_int(c, v, &PAGE_TTL, &r->page_ttl_seconds);
    }
    cfg_pop(c, mark);
}

/* Adds f to the rules' field list unless it is there; returns its index. */
static size_t need_field(pz_rules *r, const char **fields, const char *f)
{
    for (size_t i = 0; i < r->n_fields; i++)
        if (strcmp(fields[i], f) == 0)
            return i;
    fields[r->n_fields] = f;
    return r->n_fields++;
}

static void need_match_field(pz_rules *r, const char **fields, const pz_rule_match *m)
{
    if (m->field != NULL)
        ((pz_rule_match *)m)->field_index = need_field(r, fields, m->field);
}

const pz_rules *cfg_parse_rules(cfg_ctx *c, json_t *v)
{
    if (v == NULL || !cfg_expect_object(c, v, "a rules block {\"excludeSeen\", \"diversity\", \"pin\", ...}"))
        return NULL;
    size_t errors = cfg_error_count(c);
    cfg_check_members(c, v, RULES, COUNT(RULES), 0, true, "rules");
    pz_rules *r = pz_arena_calloc(c->arena, 1, sizeof *r);
    json_t *seen = cfg_get(v, &RULES_EXCLUDE_SEEN), *div = cfg_get(v, &RULES_DIVERSITY), *fvi = cfg_get(v, &RULES_FVI);
    if (seen != NULL)
        parse_exclude_seen(c, seen, r);
    if (div != NULL)
        parse_diversity(c, div, r);
    pz_rule_pin *pins = parse_list(c, v, &RULES_PIN, sizeof(pz_rule_pin), &r->n_pins, one_pin);
    if (pins != NULL)
        qsort(pins, r->n_pins, sizeof *pins, compare_pins);
    r->pins = pins;
    r->boosts = parse_list(c, v, &RULES_BOOST, sizeof(pz_rule_boost), &r->n_boosts, one_boost);
    r->buries = parse_list(c, v, &RULES_BURY, sizeof(pz_rule_match), &r->n_buries, one_bury);
    if (fvi != NULL)
        parse_fvi(c, fvi, r);
    json_t *pages = cfg_get(v, &RULES_PAGINATION);
    if (pages != NULL)
        parse_pagination(c, pages, r);
    /* Rules that remove or move items ask the recommender for more (look-ahead), so numResults is
     * still met when items go; pins alone only place what they name. */
    bool reorders = r->exclude_seen || r->diversity != PZ_DIVERSITY_NONE || r->n_boosts > 0 || r->n_buries > 0;
    r->look_ahead_multiplier = reorders ? PZ_RULES_DEFAULT_LOOK_AHEAD : 1;
    cfg_number(c, v, &RULES_LOOK_AHEAD_MULTIPLIER, &r->look_ahead_multiplier);
    r->look_ahead_maximum = PZ_RULES_MAX_LOOK_AHEAD;
    cfg_int(c, v, &RULES_LOOK_AHEAD_MAXIMUM, &r->look_ahead_maximum);

    const char **fields = pz_arena_calloc(c->arena, 1 + r->n_pins + r->n_boosts + r->n_buries, sizeof *fields);
    if (r->diversity != PZ_DIVERSITY_NONE)
        need_field(r, fields, r->diversity_field); /* index 0 */
    for (size_t i = 0; i < r->n_pins; i++)
        need_match_field(r, fields, &r->pins[i].match);
    for (size_t i = 0; i < r->n_boosts; i++)
        need_match_field(r, fields, &r->boosts[i].match);
    for (size_t i = 0; i < r->n_buries; i++)
        need_match_field(r, fields, &r->buries[i]);
    r->fields = fields;
    return cfg_error_count(c) > errors ? NULL : r;
}
