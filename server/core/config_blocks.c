/* Config blocks that appear at several levels and are inherited (spec §3.5, §3.8-§3.10, §3.12):
 * cacheControl, autoContext (and autoDynamicFilterValues), filters and inferenceItemMetadata. */
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "server/core/config_internal.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- cacheControl (§3.8) ---- */

/* Where upstream's schema applies (strict: root and namespace), every cache class is required, and
 * both keys of each; inside recommenders partial blocks are allowed. */
static const cfg_member CC_AUTO_PROVISION = {.key = "autoProvision", .kind = CFG_BOOL};
static const cfg_member CC_USER = {.key = "userSpecified", .kind = CFG_OBJECT, .presence = CFG_REQUIRED_IF};
static const cfg_member CC_SYNTHETIC_USER = {
    .key = "syntheticUserSpecified", .kind = CFG_OBJECT, .presence = CFG_REQUIRED_IF};
static const cfg_member CC_NO_USER = {.key = "noUserSpecified", .kind = CFG_OBJECT, .presence = CFG_REQUIRED_IF};
static const cfg_member *const CACHE_CONTROL[] = {&CC_AUTO_PROVISION, &CC_USER, &CC_SYNTHETIC_USER, &CC_NO_USER};

static const cfg_member POLICY_MAX_AGE = {
    .key = "maxAge", .kind = CFG_INTEGER, .presence = CFG_REQUIRED_IF, .min = 0, .max = INT_MAX};
static const cfg_member POLICY_DIRECTIVES = {.key = "directives", .kind = CFG_STRING, .presence = CFG_REQUIRED_IF};
static const cfg_member POLICY_STALE_WHILE_REVALIDATE = {
    .key = "staleWhileRevalidate", .kind = CFG_INTEGER, .min = 0, .max = INT_MAX};
static const cfg_member POLICY_STALE_IF_ERROR = {.key = "staleIfError", .kind = CFG_INTEGER, .min = 0, .max = INT_MAX};
static const cfg_member *const CACHE_POLICY[] = {&POLICY_MAX_AGE, &POLICY_DIRECTIVES, &POLICY_STALE_WHILE_REVALIDATE,
                                                 &POLICY_STALE_IF_ERROR};
#define CACHE_POLICY_SHAPE "{\"maxAge\": seconds, \"directives\": \"private|public,...\"}"

/* pz_cache_policy.header: the directives and max-age, then the staleness windows. */
static const char *render_cache_control(const pz_cache_policy *p, pz_arena *arena)
{
    const char *d = p->directives != NULL && p->directives[0] != '\0' ? p->directives : NULL, *cc = d;
    bool cacheable = p->has_max_age && p->max_age > 0;
    if (cacheable && d == NULL)
        cc = pz_arena_printf(arena, "max-age=%d", p->max_age);
    else if (cacheable && strstr(d, "max-age=") == NULL)
        cc = pz_arena_printf(arena, "%s,max-age=%d", d, p->max_age);
    if (cc == NULL || !cacheable)
        return cc;
    /* Explicit staleness windows are also advice for shared caches (RFC 5861). */
    if (p->has_stale_while_revalidate && p->stale_while_revalidate > 0 && strstr(cc, "stale-while-revalidate") == NULL)
        cc = pz_arena_printf(arena, "%s,stale-while-revalidate=%d", cc, p->stale_while_revalidate);
    if (p->has_stale_if_error && p->stale_if_error > 0 && strstr(cc, "stale-if-error") == NULL)
        cc = pz_arena_printf(arena, "%s,stale-if-error=%d", cc, p->stale_if_error);
    return cc;
}

static void parse_cache_policy(cfg_ctx *c, json_t *obj, const cfg_member *m, bool strict, pz_cache_policy *out)
{
    json_t *v = cfg_get(obj, m);
    size_t mark = cfg_push_key(c, m->key);
    if (v == NULL) {
        if (strict)
            cfg_error(c, "required key is missing; expected a cache policy " CACHE_POLICY_SHAPE);
    } else if (cfg_expect_object(c, v, "a cache policy " CACHE_POLICY_SHAPE)) {
        out->present = true;
        cfg_check_members(c, v, CACHE_POLICY, COUNT(CACHE_POLICY), 0, strict, "a cache policy");
        out->has_max_age = cfg_int(c, v, &POLICY_MAX_AGE, &out->max_age);
        out->directives = cfg_string(c, v, &POLICY_DIRECTIVES, NULL);
        out->has_stale_while_revalidate = cfg_int(c, v, &POLICY_STALE_WHILE_REVALIDATE, &out->stale_while_revalidate);
        out->has_stale_if_error = cfg_int(c, v, &POLICY_STALE_IF_ERROR, &out->stale_if_error);
        if (strict && cfg_get(v, &POLICY_MAX_AGE) == NULL)
            cfg_error_at(c, POLICY_MAX_AGE.key, "required key is missing; expected an integer number of seconds >= 0");
        if (strict && cfg_get(v, &POLICY_DIRECTIVES) == NULL)
            cfg_error_at(c, POLICY_DIRECTIVES.key,
                         "required key is missing; expected a string such as \"private\" or "
                         "\"public\"");
        if (out->directives != NULL && strstr(out->directives, "max-age=") != NULL)
            cfg_warn_at(c, POLICY_DIRECTIVES.key,
                        "contains max-age=; the directives are sent as given and maxAge is "
                        "not appended (put the lifetime in maxAge instead)");
        out->header = render_cache_control(out, c->arena);
    }
    cfg_pop(c, mark);
}

const pz_cache_control *cfg_parse_cache_control(cfg_ctx *c, json_t *v, bool strict)
{
    if (v == NULL)
        return NULL;
    if (!cfg_expect_object(c, v, "a cacheControl block"))
        return NULL;
    pz_cache_control *cc = pz_arena_calloc(c->arena, 1, sizeof *cc);
    cfg_check_members(c, v, CACHE_CONTROL, COUNT(CACHE_CONTROL), 0, strict, "cacheControl");
    cc->auto_provision = cfg_bool(c, v, &CC_AUTO_PROVISION, true);
    parse_cache_policy(c, v, &CC_USER, strict, &cc->user_specified);
    parse_cache_policy(c, v, &CC_SYNTHETIC_USER, strict, &cc->synthetic_user_specified);
    parse_cache_policy(c, v, &CC_NO_USER, strict, &cc->no_user_specified);
    return cc;
}

/* ---- autoContext (§3.9) ---- */

static const cfg_name_value FIELD_TYPES[] = {{"string", PZ_FIELD_STRING}, {"integer", PZ_FIELD_INTEGER},
                                             {"long", PZ_FIELD_LONG},     {"float", PZ_FIELD_FLOAT},
                                             {"number", PZ_FIELD_NUMBER}, {"boolean", PZ_FIELD_BOOLEAN}};
static const cfg_name_value RULE_TYPES[] = {{"header-value", PZ_RULE_HEADER_VALUE},
                                            {"hour-of-day", PZ_RULE_HOUR_OF_DAY},
                                            {"day-of-week", PZ_RULE_DAY_OF_WEEK},
                                            {"season-of-year", PZ_RULE_SEASON_OF_YEAR},
                                            {"season", PZ_RULE_SEASON_OF_YEAR}};
static const cfg_name_value OPERATORS[] = {
    {"equals", PZ_OP_EQUALS},      {"less-than", PZ_OP_LESS_THAN},     {"greater-than", PZ_OP_GREATER_THAN},
    {"contains", PZ_OP_CONTAINS},  {"starts-with", PZ_OP_STARTS_WITH}, {"start-with", PZ_OP_STARTS_WITH},
    {"ends-with", PZ_OP_ENDS_WITH}};
static const cfg_member FIELD_TYPE = {.key = "type", .kind = CFG_STRING, .presence = CFG_REQUIRED};
static const cfg_member FIELD_DESCRIPTION = {.key = "description", .kind = CFG_STRING, .free_text = true};
static const cfg_member FIELD_DEFAULT = {.key = "default", .kind = CFG_ANY};
static const cfg_member FIELD_EVALUATE_ALL = {.key = "evaluateAll", .kind = CFG_BOOL};
static const cfg_member FIELD_RULES = {.key = "rules", .kind = CFG_ARRAY, .presence = CFG_REQUIRED};
static const cfg_member *const FIELD[] = {&FIELD_TYPE, &FIELD_DESCRIPTION, &FIELD_DEFAULT, &FIELD_EVALUATE_ALL,
                                          &FIELD_RULES};

/* A rule's members depend on its type: only header-value rules name a header. */
static const cfg_member RULE_TYPE = {.key = "type", .kind = CFG_STRING, .presence = CFG_REQUIRED};
static const cfg_member RULE_HEADER = {
    .key = "header", .kind = CFG_STRING, .presence = CFG_REQUIRED, .only = CFG_VARIANT(PZ_RULE_HEADER_VALUE)};
static const cfg_member RULE_VALUE_MAPPINGS = {.key = "valueMappings", .kind = CFG_ARRAY};
static const cfg_member *const RULE[] = {&RULE_TYPE, &RULE_HEADER, &RULE_VALUE_MAPPINGS};

static const cfg_member MAPPING_OPERATOR = {.key = "operator", .kind = CFG_STRING, .presence = CFG_REQUIRED};
static const cfg_member MAPPING_VALUE = {.key = "value", .kind = CFG_ANY, .presence = CFG_REQUIRED};
static const cfg_member MAPPING_MAP_TO = {.key = "mapTo", .kind = CFG_ANY, .presence = CFG_REQUIRED};
static const cfg_member *const MAPPING[] = {&MAPPING_OPERATOR, &MAPPING_VALUE, &MAPPING_MAP_TO};

static void parse_value_mapping(cfg_ctx *c, json_t *v, pz_value_mapping *out)
{
    if (!cfg_expect_object(c, v, "a value mapping {\"operator\", \"value\", \"mapTo\"}"))
        return;
    /* Upstream's schema misplaces additionalProperties inside `properties` here, so it accepts
     * unknown keys at every level: they only warn. */
    cfg_check_members(c, v, MAPPING, COUNT(MAPPING), 0, false, "a value mapping");
    int op = cfg_enum(c, v, &MAPPING_OPERATOR, OPERATORS, COUNT(OPERATORS),
                      "equals, less-than, greater-than, contains, starts-with (or start-with), ends-with");
    out->op = op < 0 ? PZ_OP_EQUALS : (pz_mapping_op)op;
    cfg_scalar(c, v, &MAPPING_VALUE, &out->value);
    cfg_scalar(c, v, &MAPPING_MAP_TO, &out->map_to);
}

static void parse_rule(cfg_ctx *c, json_t *v, bool strict, pz_context_rule *out)
{
    if (!cfg_expect_object(c, v, "a rule {\"type\": ..., \"valueMappings\": [...]}"))
        return;
    int type = cfg_enum(c, v, &RULE_TYPE, RULE_TYPES, COUNT(RULE_TYPES),
                        "header-value, hour-of-day, day-of-week, season-of-year (or season)");
    if (type < 0)
        return;
    out->type = (pz_rule_type)type;
    bool header_rule = out->type == PZ_RULE_HEADER_VALUE;
    cfg_check_members(c, v, RULE, COUNT(RULE), CFG_VARIANT(out->type), strict,
                      header_rule ? "a header-value rule" : "a time rule");
    if (header_rule) {
        const char *header = cfg_string(c, v, &RULE_HEADER, "a request header name");
        if (header != NULL && !cfg_is_http_token(header)) {
            cfg_error_at(c, RULE_HEADER.key,
                         "\"%.80s\" is not a valid header name; expected letters, digits and "
                         "!#$%%&'*+-.^_`|~ only",
                         header);
        } else if (header != NULL) {
            char *lower = pz_arena_strdup(c->arena, header);
            for (char *p = lower; *p != '\0'; p++)
                *p = (char)tolower((unsigned char)*p);
            out->header = lower;
        }
    }

    json_t *mappings = cfg_get(v, &RULE_VALUE_MAPPINGS);
    if (mappings == NULL)
        return;
    size_t mark = cfg_push_key(c, RULE_VALUE_MAPPINGS.key);
    if (!json_is_array(mappings)) {
        cfg_error(c, "expected an array of value mappings, got %s", cfg_type_name(mappings));
    } else {
        pz_value_mapping *items = pz_arena_calloc(c->arena, json_array_size(mappings), sizeof *items);
        size_t i;
        json_t *m;
        json_array_foreach (mappings, i, m) {
            size_t m_mark = cfg_push_index(c, i);
            parse_value_mapping(c, m, &items[i]);
            cfg_pop(c, m_mark);
        }
        out->has_value_mappings = true;
        out->value_mappings = items;
        out->n_value_mappings = json_array_size(mappings);
    }
    cfg_pop(c, mark);
}

static void parse_field(cfg_ctx *c, json_t *v, bool strict, pz_context_field *out)
{
    if (!cfg_expect_object(c, v, "a context field {\"type\": ..., \"rules\": [...]}"))
        return;
    cfg_check_members(c, v, FIELD, COUNT(FIELD), 0, strict, "a context field");
    int type =
        cfg_enum(c, v, &FIELD_TYPE, FIELD_TYPES, COUNT(FIELD_TYPES), "string, integer, long, float, number, boolean");
    out->type = type < 0 ? PZ_FIELD_STRING : (pz_field_type)type;
    out->description = cfg_string(c, v, &FIELD_DESCRIPTION, NULL);
    out->evaluate_all = cfg_bool(c, v, &FIELD_EVALUATE_ALL, false);
    out->has_default = cfg_scalar(c, v, &FIELD_DEFAULT, &out->default_value);

    json_t *rules = cfg_get(v, &FIELD_RULES);
    size_t mark = cfg_push_key(c, FIELD_RULES.key);
    if (rules == NULL) {
        cfg_error(c, "required key is missing; expected an array of rules");
    } else if (!json_is_array(rules)) {
        cfg_error(c, "expected an array of rules, got %s", cfg_type_name(rules));
    } else {
        pz_context_rule *items = pz_arena_calloc(c->arena, json_array_size(rules), sizeof *items);
        size_t i;
        json_t *r;
        json_array_foreach (rules, i, r) {
            size_t r_mark = cfg_push_index(c, i);
            parse_rule(c, r, strict, &items[i]);
            cfg_pop(c, r_mark);
        }
        out->rules = items;
        out->n_rules = json_array_size(rules);
    }
    cfg_pop(c, mark);
}

const pz_auto_context *cfg_parse_auto_context(cfg_ctx *c, json_t *v, bool strict, bool key_is_field_name)
{
    if (v == NULL)
        return NULL;
    if (!cfg_expect_object(c, v,
                           key_is_field_name ? "autoContext fields keyed by context field name"
                                             : "rules keyed by filter parameter name"))
        return NULL;
    pz_context_field *fields = pz_arena_calloc(c->arena, json_object_size(v), sizeof *fields);
    size_t n = 0;
    const char *key;
    json_t *fv;
    json_object_foreach (v, key, fv) {
        size_t mark = cfg_push_key(c, key);
        if (key_is_field_name && !cfg_is_alnum_key(key) && strict)
            cfg_error(c, "invalid context field name; expected letters and digits only, the camelCase of the "
                         "Personalize column (e.g. deviceType)");
        else if (key_is_field_name && !cfg_is_alnum_key(key)) /* inside recommenders: upstream never checks */
            cfg_warn(c, "context field name is not letters and digits only (the camelCase of the Personalize "
                        "column, e.g. deviceType)");
        else if (!key_is_field_name && !cfg_is_path_key(key))
            cfg_error(c, "invalid filter parameter name; expected letters, digits, '_' and '-' only");
        else if (strlen(key) > (key_is_field_name ? PZ_MAX_CONTEXT_KEY_LEN : PZ_MAX_FILTER_VALUE_KEY_LEN))
            cfg_error(c, "%s name longer than %d characters, Personalize's limit",
                      key_is_field_name ? "context field" : "filter parameter",
                      key_is_field_name ? PZ_MAX_CONTEXT_KEY_LEN : PZ_MAX_FILTER_VALUE_KEY_LEN);
        fields[n].name = pz_arena_strdup(c->arena, key);
        parse_field(c, fv, strict, &fields[n]);
        n++;
        cfg_pop(c, mark);
    }
    pz_auto_context *ac = pz_arena_calloc(c->arena, 1, sizeof *ac);
    ac->fields = fields;
    ac->n_fields = n;
    return ac;
}

/* ---- filters (§3.5) ---- */

static const cfg_member FILTER_ARN = {.key = "arn", .kind = CFG_STRING, .presence = CFG_REQUIRED};
static const cfg_member FILTER_CONDITION = {.key = "condition", .kind = CFG_STRING};
static const cfg_member FILTER_AUTO_DYNAMIC_FILTER_VALUES = {.key = "autoDynamicFilterValues", .kind = CFG_OBJECT};
static const cfg_member *const FILTER[] = {&FILTER_ARN, &FILTER_CONDITION, &FILTER_AUTO_DYNAMIC_FILTER_VALUES};
static const cfg_name_value FILTER_CONDITIONS[] = {{"user-required", 1}};

static void parse_filter(cfg_ctx *c, json_t *f, pz_filter *out)
{
    if (!cfg_expect_object(c, f, "a filter {\"arn\": ..., \"condition\"?: \"user-required\"}"))
        return;
    cfg_check_members(c, f, FILTER, COUNT(FILTER), 0, false, "a filter");
    out->arn = cfg_string(c, f, &FILTER_ARN, "a Personalize filter ARN");
    if (out->arn != NULL && !cfg_is_personalize_filter_arn(out->arn))
        cfg_error_at(c, FILTER_ARN.key,
                     "\"%.120s\" is not a Personalize filter ARN; expected "
                     "arn:{partition}:personalize:{region}:{12-digit account}:filter/{name}",
                     out->arn);
    int condition = cfg_enum(c, f, &FILTER_CONDITION, FILTER_CONDITIONS, COUNT(FILTER_CONDITIONS), "user-required");
    out->user_required = condition == 1;
    size_t mark = cfg_push_key(c, FILTER_AUTO_DYNAMIC_FILTER_VALUES.key);
    out->auto_dynamic_filter_values =
        cfg_parse_auto_context(c, cfg_get_nonnull(f, &FILTER_AUTO_DYNAMIC_FILTER_VALUES), false, false);
    cfg_pop(c, mark);
}

const pz_filters *cfg_parse_filters(cfg_ctx *c, json_t *v)
{
    if (v == NULL)
        return NULL;
    if (!json_is_array(v)) {
        cfg_error(c, "expected an array of filters [{\"arn\": ..., \"condition\"?: \"user-required\"}], got %s",
                  cfg_type_name(v));
        return NULL;
    }
    pz_filter *items = pz_arena_calloc(c->arena, json_array_size(v), sizeof *items);
    size_t i;
    json_t *f;
    json_array_foreach (v, i, f) {
        size_t mark = cfg_push_index(c, i);
        parse_filter(c, f, &items[i]);
        cfg_pop(c, mark);
    }
    pz_filters *filters = pz_arena_calloc(c->arena, 1, sizeof *filters);
    filters->items = items;
    filters->n = json_array_size(v);
    return filters;
}

/* ---- inferenceItemMetadata (§3.10) ---- */

#define MAX_PERSONALIZE_COLUMNS 10

static const cfg_name_value METADATA_TYPES[] = {{"personalize", PZ_ITEM_METADATA_PERSONALIZE},
                                                {"localdb", PZ_ITEM_METADATA_LOCALDB},
                                                {"dynamodb", PZ_ITEM_METADATA_DYNAMODB}};
static const cfg_name_value BILLING_MODES[] = {{"PAY_PER_REQUEST", 0}, {"PROVISIONED", 1}};
/* The members depend on the type: personalize names columns (required), localdb may, dynamodb
 * describes its table. */
#define IM_PERSONALIZE CFG_VARIANT(PZ_ITEM_METADATA_PERSONALIZE)
#define IM_LOCALDB CFG_VARIANT(PZ_ITEM_METADATA_LOCALDB)
#define IM_DYNAMODB CFG_VARIANT(PZ_ITEM_METADATA_DYNAMODB)
static const cfg_member IM_TYPE = {.key = "type", .kind = CFG_STRING, .presence = CFG_REQUIRED};
static const cfg_member IM_SYNC_INTERVAL = {
    .key = "syncInterval", .kind = CFG_INTEGER, .min = 5, .max = 3600, .only = IM_LOCALDB};
static const cfg_member IM_ITEM_COLUMNS = {
    .key = "itemColumns", .kind = CFG_ARRAY, .presence = CFG_REQUIRED_IF, .only = IM_PERSONALIZE | IM_LOCALDB};
static const cfg_member IM_AUTO_PROVISION = {.key = "autoProvision", .kind = CFG_BOOL, .only = IM_DYNAMODB};
static const cfg_member IM_BILLING_MODE = {.key = "billingMode", .kind = CFG_STRING, .only = IM_DYNAMODB};
static const cfg_member IM_PROVISIONED_THROUGHPUT = {
    .key = "provisionedThroughput", .kind = CFG_OBJECT, .presence = CFG_REQUIRED_IF, .only = IM_DYNAMODB};
static const cfg_member *const ITEM_METADATA[] = {&IM_TYPE,           &IM_SYNC_INTERVAL, &IM_ITEM_COLUMNS,
                                                  &IM_AUTO_PROVISION, &IM_BILLING_MODE,  &IM_PROVISIONED_THROUGHPUT};

/* Both required with billingMode PROVISIONED. */
static const cfg_member THROUGHPUT_READ = {
    .key = "readCapacityUnits", .kind = CFG_INTEGER, .presence = CFG_REQUIRED_IF, .min = 0, .max = INT_MAX};
static const cfg_member THROUGHPUT_WRITE = {
    .key = "writeCapacityUnits", .kind = CFG_INTEGER, .presence = CFG_REQUIRED_IF, .min = 0, .max = INT_MAX};
static const cfg_member *const THROUGHPUT[] = {&THROUGHPUT_READ, &THROUGHPUT_WRITE};

static void parse_item_columns(cfg_ctx *c, json_t *v, bool required, size_t max, pz_item_metadata *out)
{
    json_t *cols = cfg_get(v, &IM_ITEM_COLUMNS);
    size_t mark = cfg_push_key(c, IM_ITEM_COLUMNS.key);
    if (cols == NULL) {
        if (required)
            cfg_error(c, "required key is missing; expected an array of 1 to %zu item column names", max);
    } else if (!json_is_array(cols) || json_array_size(cols) == 0) {
        cfg_error(c, "expected a non-empty array of item column names, got %s",
                  json_is_array(cols) ? "an empty array" : cfg_type_name(cols));
    } else if (json_array_size(cols) > max) {
        cfg_error(c, "too many columns: %zu; Personalize returns at most %zu item metadata columns",
                  json_array_size(cols), max);
    } else {
        const char **names = pz_arena_calloc(c->arena, json_array_size(cols), sizeof *names);
        size_t i;
        json_t *col;
        json_array_foreach (cols, i, col) {
            if (!json_is_string(col) || json_string_length(col) == 0) {
                size_t i_mark = cfg_push_index(c, i);
                cfg_error(c, "expected a non-empty column name string, got %s",
                          json_is_string(col) ? "an empty string" : cfg_type_name(col));
                cfg_pop(c, i_mark);
                continue;
            }
            names[i] = pz_arena_strdup(c->arena, json_string_value(col));
        }
        out->item_columns = names;
        out->n_item_columns = json_array_size(cols);
    }
    cfg_pop(c, mark);
}

static void parse_dynamodb(cfg_ctx *c, json_t *v, pz_item_metadata *out)
{
    out->auto_provision = cfg_bool(c, v, &IM_AUTO_PROVISION, true);
    int mode = cfg_enum(c, v, &IM_BILLING_MODE, BILLING_MODES, COUNT(BILLING_MODES), "PAY_PER_REQUEST, PROVISIONED");
    out->billing_mode = mode == 1 ? "PROVISIONED" : "PAY_PER_REQUEST";
    json_t *tp = cfg_get(v, &IM_PROVISIONED_THROUGHPUT);
    size_t mark = cfg_push_key(c, IM_PROVISIONED_THROUGHPUT.key);
    if (tp == NULL) {
        if (mode == 1) /* upstream's schema does not require it either */
            cfg_warn(c, "missing with billingMode PROVISIONED; expected {\"readCapacityUnits\": n, "
                        "\"writeCapacityUnits\": n}");
    } else if (cfg_expect_object(c, tp, "{\"readCapacityUnits\": n, \"writeCapacityUnits\": n}")) {
        /* Upstream's schema neither closes this object nor requires its members: unknown or missing
         * keys only warn (this server provisions no table; the values are informational). */
        cfg_check_members(c, tp, THROUGHPUT, COUNT(THROUGHPUT), 0, false, "provisionedThroughput");
        bool has_read = cfg_int(c, tp, &THROUGHPUT_READ, &out->read_capacity_units);
        bool has_write = cfg_int(c, tp, &THROUGHPUT_WRITE, &out->write_capacity_units);
        if (mode == 1 && !has_read && cfg_get(tp, &THROUGHPUT_READ) == NULL)
            cfg_warn_at(c, THROUGHPUT_READ.key, "missing with billingMode PROVISIONED; expected an integer >= 0");
        if (mode == 1 && !has_write && cfg_get(tp, &THROUGHPUT_WRITE) == NULL)
            cfg_warn_at(c, THROUGHPUT_WRITE.key, "missing with billingMode PROVISIONED; expected an integer >= 0");
        if (mode != 1)
            cfg_warn(c, "ignored: billingMode is PAY_PER_REQUEST");
    }
    cfg_pop(c, mark);
}

const pz_item_metadata *cfg_parse_item_metadata(cfg_ctx *c, json_t *v, bool strict, bool at_namespace)
{
    if (v == NULL)
        return NULL;
    if (!cfg_expect_object(c, v, "an inferenceItemMetadata block with \"type\" personalize, localdb or dynamodb"))
        return NULL;
    int type = cfg_enum(c, v, &IM_TYPE, METADATA_TYPES, COUNT(METADATA_TYPES), "personalize, localdb, dynamodb");
    if (type < 0)
        return NULL;
    pz_item_metadata *im = pz_arena_calloc(c->arena, 1, sizeof *im);
    im->type = (pz_item_metadata_type)type;
    im->sync_interval = 300;
    im->auto_provision = true;
    im->billing_mode = "PAY_PER_REQUEST";
    char what[64];
    snprintf(what, sizeof what, "%s item metadata", json_string_value(cfg_get(v, &IM_TYPE)));
    cfg_check_members(c, v, ITEM_METADATA, COUNT(ITEM_METADATA), CFG_VARIANT(im->type), strict, what);
    switch (im->type) {
    case PZ_ITEM_METADATA_PERSONALIZE: parse_item_columns(c, v, true, MAX_PERSONALIZE_COLUMNS, im); break;
    case PZ_ITEM_METADATA_LOCALDB:
        cfg_int(c, v, &IM_SYNC_INTERVAL, &im->sync_interval);
        parse_item_columns(c, v, false, SIZE_MAX, im);
        break;
    case PZ_ITEM_METADATA_DYNAMODB: parse_dynamodb(c, v, im); break;
    }
    if (!at_namespace && im->type != PZ_ITEM_METADATA_PERSONALIZE)
        cfg_warn(c,
                 "%s item metadata only takes effect at namespace level; decoration here uses the namespace's "
                 "setting",
                 im->type == PZ_ITEM_METADATA_LOCALDB ? "localdb" : "dynamodb");
    return im;
}
