/* Config blocks that appear at several levels and are inherited (spec §3.5, §3.8-§3.10, §3.12):
 * cacheControl, autoContext (and autoDynamicFilterValues), filters and inferenceItemMetadata. */
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "server/core/config_internal.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- cacheControl (§3.8) ---- */

static const char *const CACHE_CONTROL_KEYS[] = {"autoProvision", "userSpecified", "syntheticUserSpecified",
                                                 "noUserSpecified", NULL};
static const char *const CACHE_POLICY_KEYS[] = {"maxAge", "directives", "staleWhileRevalidate", "staleIfError",
                                                NULL};
#define CACHE_POLICY_SHAPE "{\"maxAge\": seconds, \"directives\": \"private|public,...\"}"

static void parse_cache_policy(cfg_ctx *c, json_t *obj, const char *key, bool strict, pz_cache_policy *out)
{
    json_t *v = json_object_get(obj, key);
    size_t mark = cfg_push_key(c, key);
    if (v == NULL) {
        if (strict)
            cfg_error(c, "required key is missing; expected a cache policy " CACHE_POLICY_SHAPE);
    } else if (cfg_expect_object(c, v, "a cache policy " CACHE_POLICY_SHAPE)) {
        out->present = true;
        cfg_check_keys(c, v, CACHE_POLICY_KEYS, strict, "a cache policy");
        out->has_max_age = cfg_opt_int(c, v, "maxAge", 0, INT_MAX, &out->max_age);
        out->directives = cfg_opt_string(c, v, "directives");
        out->has_stale_while_revalidate =
            cfg_opt_int(c, v, "staleWhileRevalidate", 0, INT_MAX, &out->stale_while_revalidate);
        out->has_stale_if_error = cfg_opt_int(c, v, "staleIfError", 0, INT_MAX, &out->stale_if_error);
        if (strict && json_object_get(v, "maxAge") == NULL)
            cfg_error_at(c, "maxAge", "required key is missing; expected an integer number of seconds >= 0");
        if (strict && json_object_get(v, "directives") == NULL)
            cfg_error_at(c, "directives", "required key is missing; expected a string such as \"private\" or "
                                          "\"public\"");
        if (out->directives != NULL && strstr(out->directives, "max-age=") != NULL)
            cfg_warn_at(c, "directives", "contains max-age=; the directives are sent as given and maxAge is not "
                                         "appended (put the lifetime in maxAge instead)");
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
    cfg_check_keys(c, v, CACHE_CONTROL_KEYS, strict, "cacheControl");
    cc->auto_provision = cfg_opt_bool(c, v, "autoProvision", true);
    parse_cache_policy(c, v, "userSpecified", strict, &cc->user_specified);
    parse_cache_policy(c, v, "syntheticUserSpecified", strict, &cc->synthetic_user_specified);
    parse_cache_policy(c, v, "noUserSpecified", strict, &cc->no_user_specified);
    return cc;
}

/* ---- autoContext (§3.9) ---- */

static const cfg_name_value FIELD_TYPES[] = {
    {"string", PZ_FIELD_STRING}, {"integer", PZ_FIELD_INTEGER}, {"long", PZ_FIELD_LONG}, {"float", PZ_FIELD_FLOAT}};
static const cfg_name_value RULE_TYPES[] = {{"header-value", PZ_RULE_HEADER_VALUE},
                                        {"hour-of-day", PZ_RULE_HOUR_OF_DAY},
                                        {"day-of-week", PZ_RULE_DAY_OF_WEEK},
                                        {"season-of-year", PZ_RULE_SEASON_OF_YEAR},
                                        {"season", PZ_RULE_SEASON_OF_YEAR}};
static const cfg_name_value OPERATORS[] = {{"equals", PZ_OP_EQUALS},           {"less-than", PZ_OP_LESS_THAN},
                                       {"greater-than", PZ_OP_GREATER_THAN}, {"contains", PZ_OP_CONTAINS},
                                       {"starts-with", PZ_OP_STARTS_WITH},   {"start-with", PZ_OP_STARTS_WITH},
                                       {"ends-with", PZ_OP_ENDS_WITH}};
static const char *const FIELD_KEYS[] = {"type", "description", "default", "evaluateAll", "rules", NULL};
static const char *const HEADER_RULE_KEYS[] = {"type", "header", "valueMappings", NULL};
static const char *const TIME_RULE_KEYS[] = {"type", "valueMappings", NULL};
static const char *const MAPPING_KEYS[] = {"operator", "value", "mapTo", NULL};

static void parse_value_mapping(cfg_ctx *c, json_t *v, bool strict, pz_value_mapping *out)
{
    if (!cfg_expect_object(c, v, "a value mapping {\"operator\", \"value\", \"mapTo\"}"))
        return;
    cfg_check_keys(c, v, MAPPING_KEYS, strict, "a value mapping");
    int op = cfg_enum_member(c, v, "operator", OPERATORS, COUNT(OPERATORS), true,
                         "equals, less-than, greater-than, contains, starts-with (or start-with), ends-with");
    out->op = op < 0 ? PZ_OP_EQUALS : (pz_mapping_op)op;
    cfg_scalar(c, v, "value", true, &out->value);
    cfg_scalar(c, v, "mapTo", true, &out->map_to);
}

static void parse_rule(cfg_ctx *c, json_t *v, bool strict, pz_context_rule *out)
{
    if (!cfg_expect_object(c, v, "a rule {\"type\": ..., \"valueMappings\": [...]}"))
        return;
    int type = cfg_enum_member(c, v, "type", RULE_TYPES, COUNT(RULE_TYPES), true,
                           "header-value, hour-of-day, day-of-week, season-of-year (or season)");
    if (type < 0)
        return;
    out->type = (pz_rule_type)type;
    if (out->type == PZ_RULE_HEADER_VALUE) {
        cfg_check_keys(c, v, HEADER_RULE_KEYS, strict, "a header-value rule");
        const char *header = cfg_req_string(c, v, "header", "a request header name");
        if (header != NULL && !cfg_is_http_token(header)) {
            cfg_error_at(c, "header", "\"%.80s\" is not a valid header name; expected letters, digits and "
                                      "!#$%%&'*+-.^_`|~ only", header);
        } else if (header != NULL) {
            char *lower = pz_arena_strdup(c->arena, header);
            for (char *p = lower; *p != '\0'; p++)
                *p = (char)tolower((unsigned char)*p);
            out->header = lower;
        }
    } else {
        cfg_check_keys(c, v, TIME_RULE_KEYS, strict, "a time rule");
    }

    json_t *mappings = json_object_get(v, "valueMappings");
    if (mappings == NULL)
        return;
    size_t mark = cfg_push_key(c, "valueMappings");
    if (!json_is_array(mappings)) {
        cfg_error(c, "expected an array of value mappings, got %s", cfg_type_name(mappings));
    } else {
        pz_value_mapping *items = pz_arena_calloc(c->arena, json_array_size(mappings), sizeof *items);
        size_t i;
        json_t *m;
        json_array_foreach(mappings, i, m) {
            size_t m_mark = cfg_push_index(c, i);
            parse_value_mapping(c, m, strict, &items[i]);
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
    cfg_check_keys(c, v, FIELD_KEYS, strict, "a context field");
    int type = cfg_enum_member(c, v, "type", FIELD_TYPES, COUNT(FIELD_TYPES), true, "string, integer, long, float");
    out->type = type < 0 ? PZ_FIELD_STRING : (pz_field_type)type;
    out->description = cfg_opt_string(c, v, "description");
    out->evaluate_all = cfg_opt_bool(c, v, "evaluateAll", false);
    out->has_default = cfg_scalar(c, v, "default", false, &out->default_value);

    json_t *rules = json_object_get(v, "rules");
    size_t mark = cfg_push_key(c, "rules");
    if (rules == NULL) {
        cfg_error(c, "required key is missing; expected an array of rules");
    } else if (!json_is_array(rules)) {
        cfg_error(c, "expected an array of rules, got %s", cfg_type_name(rules));
    } else {
        pz_context_rule *items = pz_arena_calloc(c->arena, json_array_size(rules), sizeof *items);
        size_t i;
        json_t *r;
        json_array_foreach(rules, i, r) {
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
    if (!cfg_expect_object(c, v, key_is_field_name ? "autoContext fields keyed by context field name"
                                                   : "rules keyed by filter parameter name"))
        return NULL;
    pz_context_field *fields = pz_arena_calloc(c->arena, json_object_size(v), sizeof *fields);
    size_t n = 0;
    const char *key;
    json_t *fv;
    json_object_foreach(v, key, fv) {
        size_t mark = cfg_push_key(c, key);
        if (key_is_field_name && !cfg_is_alnum_key(key))
            cfg_error(c, "invalid context field name; expected letters and digits only, the camelCase of the "
                         "Personalize column (e.g. deviceType)");
        else if (!key_is_field_name && !cfg_is_path_key(key))
            cfg_error(c, "invalid filter parameter name; expected letters, digits, '_' and '-' only");
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

static const char *const FILTER_KEYS[] = {"arn", "condition", "autoDynamicFilterValues", NULL};
static const cfg_name_value FILTER_CONDITIONS[] = {{"user-required", 1}};

static void parse_filter(cfg_ctx *c, json_t *f, pz_filter *out)
{
    if (!cfg_expect_object(c, f, "a filter {\"arn\": ..., \"condition\"?: \"user-required\"}"))
        return;
    cfg_check_keys(c, f, FILTER_KEYS, false, "a filter");
    out->arn = cfg_req_string(c, f, "arn", "a Personalize filter ARN");
    if (out->arn != NULL && !cfg_is_personalize_filter_arn(out->arn))
        cfg_error_at(c, "arn", "\"%.120s\" is not a Personalize filter ARN; expected "
                               "arn:{partition}:personalize:{region}:{12-digit account}:filter/{name}", out->arn);
    int condition = cfg_enum_member(c, f, "condition", FILTER_CONDITIONS, COUNT(FILTER_CONDITIONS), false,
                                    "user-required");
    out->user_required = condition == 1;
    size_t mark = cfg_push_key(c, "autoDynamicFilterValues");
    out->auto_dynamic_filter_values =
        cfg_parse_auto_context(c, cfg_get_nonnull(f, "autoDynamicFilterValues"), false, false);
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
    json_array_foreach(v, i, f) {
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
static const char *const PERSONALIZE_METADATA_KEYS[] = {"type", "itemColumns", NULL};
static const char *const LOCALDB_METADATA_KEYS[] = {"type", "syncInterval", "itemColumns", NULL};
static const char *const DYNAMODB_METADATA_KEYS[] = {"type", "autoProvision", "billingMode", "provisionedThroughput",
                                                     NULL};
static const char *const THROUGHPUT_KEYS[] = {"readCapacityUnits", "writeCapacityUnits", NULL};

static void parse_item_columns(cfg_ctx *c, json_t *v, bool required, size_t max, pz_item_metadata *out)
{
    json_t *cols = json_object_get(v, "itemColumns");
    size_t mark = cfg_push_key(c, "itemColumns");
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
        json_array_foreach(cols, i, col) {
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

static void parse_dynamodb(cfg_ctx *c, json_t *v, bool strict, pz_item_metadata *out)
{
    out->auto_provision = cfg_opt_bool(c, v, "autoProvision", true);
    int mode = cfg_enum_member(c, v, "billingMode", BILLING_MODES, COUNT(BILLING_MODES), false,
                           "PAY_PER_REQUEST, PROVISIONED");
    out->billing_mode = mode == 1 ? "PROVISIONED" : "PAY_PER_REQUEST";
    json_t *tp = json_object_get(v, "provisionedThroughput");
    size_t mark = cfg_push_key(c, "provisionedThroughput");
    if (tp == NULL) {
        if (mode == 1)
            cfg_error(c, "required with billingMode PROVISIONED; expected {\"readCapacityUnits\": n, "
                         "\"writeCapacityUnits\": n}");
    } else if (cfg_expect_object(c, tp, "{\"readCapacityUnits\": n, \"writeCapacityUnits\": n}")) {
        cfg_check_keys(c, tp, THROUGHPUT_KEYS, strict, "provisionedThroughput");
        bool has_read = cfg_opt_int(c, tp, "readCapacityUnits", 0, INT_MAX, &out->read_capacity_units);
        bool has_write = cfg_opt_int(c, tp, "writeCapacityUnits", 0, INT_MAX, &out->write_capacity_units);
        if (mode == 1 && !has_read && json_object_get(tp, "readCapacityUnits") == NULL)
            cfg_error_at(c, "readCapacityUnits", "required with billingMode PROVISIONED; expected an integer >= 0");
        if (mode == 1 && !has_write && json_object_get(tp, "writeCapacityUnits") == NULL)
            cfg_error_at(c, "writeCapacityUnits", "required with billingMode PROVISIONED; expected an integer >= 0");
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
    int type = cfg_enum_member(c, v, "type", METADATA_TYPES, COUNT(METADATA_TYPES), true,
                           "personalize, localdb, dynamodb");
    if (type < 0)
        return NULL;
    pz_item_metadata *im = pz_arena_calloc(c->arena, 1, sizeof *im);
    im->type = (pz_item_metadata_type)type;
    im->sync_interval = 300;
    im->auto_provision = true;
    im->billing_mode = "PAY_PER_REQUEST";
    switch (im->type) {
    case PZ_ITEM_METADATA_PERSONALIZE:
        cfg_check_keys(c, v, PERSONALIZE_METADATA_KEYS, strict, "personalize item metadata");
        parse_item_columns(c, v, true, MAX_PERSONALIZE_COLUMNS, im);
        break;
    case PZ_ITEM_METADATA_LOCALDB:
        cfg_check_keys(c, v, LOCALDB_METADATA_KEYS, strict, "localdb item metadata");
        cfg_opt_int(c, v, "syncInterval", 5, 3600, &im->sync_interval);
        parse_item_columns(c, v, false, SIZE_MAX, im);
        break;
    case PZ_ITEM_METADATA_DYNAMODB:
        cfg_check_keys(c, v, DYNAMODB_METADATA_KEYS, strict, "dynamodb item metadata");
        parse_dynamodb(c, v, strict, im);
        break;
    }
    if (!at_namespace && im->type != PZ_ITEM_METADATA_PERSONALIZE)
        cfg_warn(c, "%s item metadata only takes effect at namespace level; decoration here uses the namespace's "
                    "setting", im->type == PZ_ITEM_METADATA_LOCALDB ? "localdb" : "dynamodb");
    return im;
}
