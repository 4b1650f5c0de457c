/* The configuration document walker (spec §3): root -> namespaces -> recommenders -> variations,
 * experiments (config_experiments.c), post processors and event targets (config_targets.c). Validates and builds in one
 * pass, resolving inheritance (§3.12) top-down into the *_view pointers and the compact `json` members. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/config_internal.h"
#include "server/core/url_template.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- members shared by several levels, and those leading from one level to the next (the
 * walker's functions come children first) ---- */

static const cfg_member NAME = {.key = "name", .kind = CFG_STRING, .free_text = true};
const cfg_member CFG_DESCRIPTION = {.key = "description", .kind = CFG_STRING, .free_text = true};
static const cfg_member NAMESPACE_RECOMMENDERS = {.key = "recommenders", .kind = CFG_OBJECT};
static const cfg_member NAMESPACE_EVENT_TARGETS = {.key = "eventTargets", .kind = CFG_ARRAY};
/* Ours (issue 18): the namespace's shared Kafka event log (config_kafka.c). */
static const cfg_member NAMESPACE_EVENT_LOG = {.key = "eventLog", .kind = CFG_OBJECT};
static const cfg_member RECOMMENDER_POST_PROCESSOR = {.key = "responsePostProcessor", .kind = CFG_OBJECT};
static const cfg_member RECOMMENDER_EXPERIMENTS = {.key = "experiments", .kind = CFG_OBJECT};
/* Upstream's schema requires it but never checks the recommenders subtree: a recommender without
 * variations loads (with a warning) and its requests answer 404 NoVariationsConfigured. */
static const cfg_member RECOMMENDER_VARIATIONS = {.key = "variations", .kind = CFG_OBJECT};

/* ---- inheritance (§3.12) ---- */

static const cfg_member CACHE_CONTROL = {.key = "cacheControl", .kind = CFG_OBJECT};
static const cfg_member AUTO_CONTEXT = {.key = "autoContext", .kind = CFG_OBJECT};
static const cfg_member FILTERS = {.key = "filters", .kind = CFG_ARRAY};
static const cfg_member ITEM_METADATA = {.key = "inferenceItemMetadata", .kind = CFG_OBJECT};
/* Ours (issue #20): post-ranking rules (config_rules.c). */
static const cfg_member RULES = {.key = "rules", .kind = CFG_OBJECT};
/* Ours (spec §11): root and namespace; a namespace's replaces the root's whole. */
static const cfg_member AUTH = {.key = "auth", .kind = CFG_OBJECT};

enum { INH_CACHE_CONTROL, INH_AUTO_CONTEXT, INH_FILTERS, INH_ITEM_METADATA, INH_RULES, INH__COUNT };
static const cfg_member *const INHERITED[INH__COUNT] = {&CACHE_CONTROL, &AUTO_CONTEXT, &FILTERS, &ITEM_METADATA,
                                                        &RULES};
#define INH_MASK(i) (1u << (i))
#define INH_ALL (INH_MASK(INH__COUNT) - 1)

/* The inherited settings at one level, compiled and as JSON (borrowed from the document). */
typedef struct inherited {
    const pz_cache_control *cache_control;
    const pz_auto_context *auto_context;
    const pz_filters *filters;
    const pz_item_metadata *item_metadata;
    const pz_rules *rules;
    json_t *json[INH__COUNT];
} inherited;

/* Parses the inherited keys in `mask` that `obj` sets (missing or null means "not set"), then
 * resolves each against the parent's value into `out`. `strict`: root/namespace level. */
static void parse_inherited(cfg_ctx *c, json_t *obj, unsigned mask, bool strict, bool at_namespace,
                            const inherited *parent, inherited *out)
{
    inherited own = {0};
    for (int i = 0; i < INH__COUNT; i++) {
        if (!(mask & INH_MASK(i)))
            continue;
        json_t *v = cfg_get_nonnull(obj, INHERITED[i]);
        size_t mark = cfg_push_key(c, INHERITED[i]->key);
        own.json[i] = v;
        switch (i) {
        case INH_CACHE_CONTROL: own.cache_control = cfg_parse_cache_control(c, v, strict); break;
        case INH_AUTO_CONTEXT: own.auto_context = cfg_parse_auto_context(c, v, strict, true); break;
        case INH_FILTERS: own.filters = cfg_parse_filters(c, v); break;
        case INH_ITEM_METADATA: own.item_metadata = cfg_parse_item_metadata(c, v, strict, at_namespace); break;
        case INH_RULES: own.rules = cfg_parse_rules(c, v); break;
        }
        cfg_pop(c, mark);
    }
    out->cache_control = own.cache_control != NULL ? own.cache_control : parent->cache_control;
    out->auto_context = own.auto_context != NULL ? own.auto_context : parent->auto_context;
    out->filters = own.filters != NULL ? own.filters : parent->filters;
    out->item_metadata = own.item_metadata != NULL ? own.item_metadata : parent->item_metadata;
    out->rules = own.rules != NULL ? own.rules : parent->rules;
    for (int i = 0; i < INH__COUNT; i++)
        out->json[i] = own.json[i] != NULL ? own.json[i] : parent->json[i];
}

/* The object as compact JSON, with each inherited key it leaves missing or null taken from the
 * parent (shallow), as upstream hands it to Lambda functions. Arena-owned. */
static const char *resolved_json(cfg_ctx *c, json_t *obj, const inherited *parent)
{
    if (!json_is_object(obj) || cfg_error_count(c) > 0)
        return NULL; /* the snapshot is discarded anyway */
    json_t *copy = json_copy(obj);
    if (copy == NULL)
        pz_fatal("out of memory copying configuration JSON");
    for (int i = 0; i < INH__COUNT; i++)
        if (cfg_get_nonnull(obj, INHERITED[i]) == NULL && parent->json[i] != NULL)
            json_object_set(copy, INHERITED[i]->key, parent->json[i]);
    char *text = json_dumps(copy, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(copy);
    if (text == NULL)
        pz_fatal("out of memory serializing configuration JSON");
    const char *owned = pz_arena_strdup(c->arena, text);
    free(text);
    return owned;
}

/* Keys of namespaces, recommenders and variations: upstream's pattern ^[a-zA-Z0-9_-]*$. Its
 * schema enforces it for namespaces only (`strict`: an error); the recommenders subtree it never
 * validates, so a key outside the pattern loads there, with a warning. An empty key matches the
 * pattern but cannot be requested (an empty URL path segment). */
static void check_path_key(cfg_ctx *c, const char *key, const char *what, bool strict)
{
    if (*key == '\0')
        cfg_warn(c, "empty %s key: it loads but cannot be requested (an empty URL path segment)", what);
    else if (!cfg_is_path_key(key) && strict)
        cfg_error(c,
                  "invalid %s key \"%.80s\"; expected letters, digits, '_' and '-' only (it is a URL path "
                  "segment)",
                  what, key);
    else if (!cfg_is_path_key(key))
        cfg_warn(c,
                 "%s key \"%.80s\" is not letters, digits, '_' and '-' only: it loads, and clients must "
                 "percent-encode it in URLs",
                 what, key);
}

static const char *const ACTION_NAMES[PZ_ACTION__COUNT] = {"recommend-items", "related-items", "rerank-items"};

/* ---- variations (§3.4) ---- */

static const cfg_name_value VARIATION_TYPES[] = {{"builtin", PZ_VARIATION_BUILTIN},
                                                 {"personalize-campaign", PZ_VARIATION_PERSONALIZE_CAMPAIGN},
                                                 {"personalize-recommender", PZ_VARIATION_PERSONALIZE_RECOMMENDER},
                                                 {"lambda", PZ_VARIATION_LAMBDA},
                                                 {"function", PZ_VARIATION_LAMBDA},
                                                 {"sagemaker", PZ_VARIATION_SAGEMAKER},
                                                 {"http", PZ_VARIATION_HTTP}};

/* Builtin strategies that fit each action; the first is the default. */
static const cfg_name_value RECOMMEND_STRATEGIES[] = {{"personalized", PZ_STRATEGY_PERSONALIZED},
                                                      {"popular", PZ_STRATEGY_POPULAR}};
static const cfg_name_value RELATED_STRATEGIES[] = {{"co-occurrence", PZ_STRATEGY_CO_OCCURRENCE},
                                                    {"popular", PZ_STRATEGY_POPULAR}};
static const cfg_name_value RERANK_STRATEGIES[] = {{"affinity", PZ_STRATEGY_AFFINITY}};

#define MAX_TIMEOUT_MS 60000

/* A variation's members depend on its type. */
#define V_PERSONALIZE                                                                                                  \
    (CFG_VARIANT(PZ_VARIATION_PERSONALIZE_CAMPAIGN) | CFG_VARIANT(PZ_VARIATION_PERSONALIZE_RECOMMENDER))
#define V_LAMBDA CFG_VARIANT(PZ_VARIATION_LAMBDA)
#define V_SAGEMAKER CFG_VARIANT(PZ_VARIATION_SAGEMAKER)
#define V_HTTP CFG_VARIANT(PZ_VARIATION_HTTP)
#define V_BUILTIN CFG_VARIANT(PZ_VARIATION_BUILTIN)
static const cfg_member VARIATION_TYPE = {.key = "type", .kind = CFG_STRING, .presence = CFG_REQUIRED};
static const cfg_member VARIATION_PROMOTIONS = {.key = "promotions", .kind = CFG_ARRAY, .only = V_PERSONALIZE};
static const cfg_member VARIATION_ARN = {
    .key = "arn", .kind = CFG_STRING, .presence = CFG_REQUIRED, .only = V_PERSONALIZE | V_LAMBDA};
static const cfg_member VARIATION_ENDPOINT_NAME = {
    .key = "endpointName", .kind = CFG_STRING, .presence = CFG_REQUIRED, .only = V_SAGEMAKER};
/* Ours: where the AWS-backed variations are called (VPC endpoints, tests) and in which region. */
static const cfg_member VARIATION_ENDPOINT_URL = {
    .key = "endpointUrl", .kind = CFG_STRING, .only = V_PERSONALIZE | V_LAMBDA | V_SAGEMAKER};
static const cfg_member VARIATION_REGION = {
    .key = "region", .kind = CFG_STRING, .only = V_PERSONALIZE | V_LAMBDA | V_SAGEMAKER};
static const cfg_member VARIATION_URL = {.key = "url", .kind = CFG_STRING, .presence = CFG_REQUIRED, .only = V_HTTP};
static const cfg_member VARIATION_STRATEGY = {.key = "strategy", .kind = CFG_STRING, .only = V_BUILTIN};
static const cfg_member VARIATION_EXCLUDE_SEEN = {.key = "excludeSeen", .kind = CFG_BOOL, .only = V_BUILTIN};
static const cfg_member VARIATION_TIMEOUT_MS = {
    .key = "timeoutMs", .kind = CFG_INTEGER, .min = 1, .max = MAX_TIMEOUT_MS};
static const cfg_member VARIATION_FALLBACK = {.key = "fallback", .kind = CFG_STRING};
static const cfg_member *const VARIATION[] = {
    &VARIATION_TYPE,         &VARIATION_PROMOTIONS, &VARIATION_ARN,      &VARIATION_ENDPOINT_NAME,
    &VARIATION_ENDPOINT_URL, &VARIATION_REGION,     &VARIATION_URL,      &VARIATION_STRATEGY,
    &VARIATION_EXCLUDE_SEEN, &CACHE_CONTROL,        &AUTO_CONTEXT,       &FILTERS,
    &ITEM_METADATA,          &VARIATION_TIMEOUT_MS, &VARIATION_FALLBACK, &RULES,
};

static void parse_builtin(cfg_ctx *c, json_t *v, pz_action action, pz_variation *out)
{
    const cfg_name_value *table = RECOMMEND_STRATEGIES;
    size_t n = COUNT(RECOMMEND_STRATEGIES);
    const char *expected = "personalized, popular (for recommend-items)";
    if (action == PZ_ACTION_RELATED_ITEMS) {
        table = RELATED_STRATEGIES;
        n = COUNT(RELATED_STRATEGIES);
        expected = "co-occurrence, popular (for related-items)";
    } else if (action == PZ_ACTION_RERANK_ITEMS) {
        table = RERANK_STRATEGIES;
        n = COUNT(RERANK_STRATEGIES);
        expected = "affinity (for rerank-items)";
    }
    int strategy = cfg_enum(c, v, &VARIATION_STRATEGY, table, n, expected);
    out->strategy = strategy < 0 ? (pz_builtin_strategy)table[0].value : (pz_builtin_strategy)strategy;
    bool personalized = action == PZ_ACTION_RECOMMEND_ITEMS && out->strategy == PZ_STRATEGY_PERSONALIZED;
    out->exclude_seen = cfg_bool(c, v, &VARIATION_EXCLUDE_SEEN, personalized);
}

/* Our optional service location keys on the AWS-backed variations. */
static void parse_aws_location(cfg_ctx *c, json_t *v, pz_variation *out)
{
    out->endpoint_url = cfg_string(c, v, &VARIATION_ENDPOINT_URL, NULL);
    if (out->endpoint_url != NULL && !cfg_is_http_url(out->endpoint_url))
        cfg_error_at(c, VARIATION_ENDPOINT_URL.key, "\"%.120s\" is not an http:// or https:// URL with a host",
                     out->endpoint_url);
    out->region = cfg_string(c, v, &VARIATION_REGION, NULL);
    if (out->region != NULL && !cfg_is_region(out->region))
        cfg_error_at(c, VARIATION_REGION.key, "invalid region \"%.60s\"; expected e.g. \"us-east-1\"", out->region);
}

static const cfg_member PROMOTION_NAME = {
    .key = "name", .kind = CFG_STRING, .presence = CFG_REQUIRED, .free_text = true};
static const cfg_member PROMOTION_PERCENT = {
    .key = "percentPromotedItems", .kind = CFG_INTEGER, .presence = CFG_REQUIRED, .min = 1, .max = 100};
static const cfg_member PROMOTION_FILTER_ARN = {.key = "filterArn", .kind = CFG_STRING, .presence = CFG_REQUIRED};
static const cfg_member PROMOTION_FILTER_VALUES = {.key = "filterValues", .kind = CFG_OBJECT};
static const cfg_member *const PROMOTION[] = {&PROMOTION_NAME, &PROMOTION_PERCENT, &PROMOTION_FILTER_ARN,
                                              &PROMOTION_FILTER_VALUES};
#define MAX_PROMOTIONS 10

/* GetRecommendations `promotions`, checked and kept as compact JSON to pass through. */
static void parse_promotions(cfg_ctx *c, json_t *v, pz_variation *out)
{
    json_t *list = cfg_get(v, &VARIATION_PROMOTIONS);
    if (list == NULL)
        return;
    size_t mark = cfg_push_key(c, VARIATION_PROMOTIONS.key);
    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > MAX_PROMOTIONS) {
        cfg_error(c,
                  "expected an array of 1 to %d promotions {\"name\", \"percentPromotedItems\", \"filterArn\", "
                  "\"filterValues\"?}",
                  MAX_PROMOTIONS);
        cfg_pop(c, mark);
        return;
    }
    size_t i;
    json_t *p;
    json_array_foreach (list, i, p) {
        size_t p_mark = cfg_push_index(c, i);
        if (cfg_expect_object(c, p, "a promotion {\"name\", \"percentPromotedItems\", \"filterArn\", ...}")) {
            cfg_check_members(c, p, PROMOTION, COUNT(PROMOTION), 0, false, "a promotion");
            cfg_string(c, p, &PROMOTION_NAME, "the promotion's name");
            int percent = 0;
            cfg_int(c, p, &PROMOTION_PERCENT, &percent);
            const char *arn = cfg_string(c, p, &PROMOTION_FILTER_ARN, "a Personalize filter ARN");
            if (arn != NULL && !cfg_is_personalize_filter_arn(arn))
                cfg_error_at(c, PROMOTION_FILTER_ARN.key, "\"%.120s\" is not a Personalize filter ARN", arn);
            json_t *values = cfg_get(p, &PROMOTION_FILTER_VALUES);
            if (values != NULL && !json_is_object(values)) {
                cfg_error_at(c, PROMOTION_FILTER_VALUES.key, "expected an object of strings, got %s",
                             cfg_type_name(values));
            } else if (values != NULL) {
                const char *k;
                json_t *fv;
                json_object_foreach (values, k, fv) {
                    if (!json_is_string(fv))
                        cfg_error_at(c, PROMOTION_FILTER_VALUES.key, "value of \"%.50s\" must be a string", k);
                }
            }
        }
        cfg_pop(c, p_mark);
    }
    if (cfg_error_count(c) == 0) {
        char *text = json_dumps(list, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text == NULL)
            pz_fatal("out of memory serializing promotions");
        out->promotions_json = pz_arena_strdup(c->arena, text);
        free(text);
    }
    cfg_pop(c, mark);
}

typedef struct query_params {
    cfg_ctx *c;
    const char **names;
    size_t n;
} query_params;

static void add_query_param(void *ctx, const char *name, size_t len)
{
    query_params *qp = ctx;
    if (pz_url_template_builtin(name, len))
        return;
    for (size_t i = 0; i < qp->n; i++)
        if (strlen(qp->names[i]) == len && memcmp(qp->names[i], name, len) == 0)
            return;
    qp->names[qp->n++] = pz_arena_strndup(qp->c->arena, name, len);
    cfg_warn_at(qp->c, VARIATION_URL.key,
                "placeholder {%.*s} is not one of the server's: it is filled from the request's query parameter "
                "\"%.*s\" (empty when absent; gRPC requests have none)",
                (int)len, name, (int)len, name);
}

/* The http URL's placeholders upstream fills from the query string and the server does not name:
 * they stay query parameters, each warned about in case it is a misspelled one of ours. */
static void collect_query_params(cfg_ctx *c, pz_variation *out)
{
    size_t max = 0;
    for (const char *p = strchr(out->url, '{'); p != NULL; p = strchr(p + 1, '{'))
        max++;
    query_params qp = {c, pz_arena_calloc(c->arena, max ? max : 1, sizeof(const char *)), 0};
    pz_url_template_each(out->url, add_query_param, &qp);
    out->query_params = qp.names;
    out->n_query_params = qp.n;
}

static void parse_backend(cfg_ctx *c, json_t *v, pz_action action, pz_variation *out)
{
    switch (out->type) {
    case PZ_VARIATION_PERSONALIZE_CAMPAIGN:
    case PZ_VARIATION_PERSONALIZE_RECOMMENDER: {
        out->arn = cfg_string(c, v, &VARIATION_ARN, "a Personalize campaign or recommender ARN");
        bool is_recommender = false;
        if (out->arn != NULL && !cfg_is_personalize_arn(out->arn, &is_recommender)) {
            cfg_error_at(c, VARIATION_ARN.key,
                         "\"%.120s\" is not a Personalize campaign or recommender ARN; expected "
                         "arn:{partition}:personalize:{region}:{12-digit account}:campaign/{name} or "
                         ":recommender/{name}",
                         out->arn);
        } else if (out->arn != NULL) {
            /* Upstream picks the backend from the ARN, not from `type` (§3.4.1). */
            pz_variation_type by_arn =
                is_recommender ? PZ_VARIATION_PERSONALIZE_RECOMMENDER : PZ_VARIATION_PERSONALIZE_CAMPAIGN;
            if (by_arn != out->type)
                cfg_warn_at(c, VARIATION_ARN.key,
                            "the ARN is a Personalize %s but type is \"%s\"; the ARN decides the backend",
                            is_recommender ? "recommender" : "campaign", out->type_name);
            out->type = by_arn;
        }
        parse_aws_location(c, v, out);
        parse_promotions(c, v, out);
        break;
    }
    case PZ_VARIATION_LAMBDA:
        out->arn = cfg_string(c, v, &VARIATION_ARN, "a Lambda function ARN");
        if (out->arn != NULL && !cfg_is_lambda_arn(out->arn))
            cfg_error_at(c, VARIATION_ARN.key,
                         "\"%.120s\" is not a Lambda function ARN; expected "
                         "arn:{partition}:lambda:{region}:{12-digit account}:function:{name}",
                         out->arn);
        parse_aws_location(c, v, out);
        break;
    case PZ_VARIATION_SAGEMAKER:
        out->endpoint_name = cfg_string(c, v, &VARIATION_ENDPOINT_NAME, "a SageMaker endpoint name");
        if (out->endpoint_name != NULL && !cfg_is_path_key(out->endpoint_name))
            cfg_error_at(c, VARIATION_ENDPOINT_NAME.key,
                         "invalid endpoint name \"%.80s\"; expected letters, digits and '-'", out->endpoint_name);
        parse_aws_location(c, v, out);
        break;
    case PZ_VARIATION_HTTP: {
        out->url = cfg_string(c, v, &VARIATION_URL, "an http:// or https:// URL template");
        char why[160];
        if (out->url != NULL && !cfg_is_http_url(out->url))
            cfg_error_at(c, VARIATION_URL.key, "\"%.120s\" is not an http:// or https:// URL with a host", out->url);
        else if (out->url != NULL && pz_url_template_check(out->url, why, sizeof why) != 0)
            cfg_error_at(c, VARIATION_URL.key, "%s", why);
        else if (out->url != NULL)
            collect_query_params(c, out);
        break;
    }
    case PZ_VARIATION_BUILTIN: parse_builtin(c, v, action, out); break;
    }
}

/* What a rules block set on a recommender or variation (`obj`) of this action cannot do: it is
 * accepted, and said (a namespace's block applies to each action as it can). */
static void warn_rules_not_applied(cfg_ctx *c, json_t *obj, pz_action action)
{
    json_t *rules = cfg_get_nonnull(obj, &RULES);
    if (!json_is_object(rules))
        return;
    size_t mark = cfg_push_key(c, RULES.key);
    if (action == PZ_ACTION_RERANK_ITEMS)
        cfg_warn(c, "ignored: rules apply to recommend-items and related-items; a rerank answers every id it was "
                    "given, in the recommender's order");
    else if (action != PZ_ACTION_RELATED_ITEMS && json_object_get(rules, "filterValuesFromItem") != NULL)
        cfg_warn_at(c, "filterValuesFromItem", "ignored: it applies to related-items (the current item's fields)");
    cfg_pop(c, mark);
}

/* A cached first page hands out its nextPageToken for as long as the cache serves it: a list kept
 * for less time than that makes the token expire while the page is still served. */
static void check_page_lifetime(cfg_ctx *c, const pz_variation *v)
{
    const pz_rules *r = v->rules_view;
    const pz_cache_control *cc = v->cache_control_view;
    if (r == NULL || !r->paginate || cc == NULL)
        return;
    const pz_cache_policy *classes[] = {&cc->user_specified, &cc->synthetic_user_specified, &cc->no_user_specified};
    for (size_t i = 0; i < COUNT(classes); i++) {
        const pz_cache_policy *p = classes[i];
        long lifetime =
            p->has_max_age ? (long)p->max_age + (p->has_stale_while_revalidate ? p->stale_while_revalidate : p->max_age)
                           : 0;
        if (lifetime > r->page_ttl_seconds) {
            cfg_warn(c,
                     "rules.pagination.ttlSeconds (%d) is shorter than how long a cached first page may be served "
                     "(maxAge + staleWhileRevalidate = %ld s): its nextPageToken can expire while it is served",
                     r->page_ttl_seconds, lifetime);
            return;
        }
    }
}

static void parse_variation(cfg_ctx *c, const char *key, json_t *v, pz_action action, const inherited *parent,
                            pz_variation *out)
{
    out->key = pz_arena_strdup(c->arena, key);
    out->timeout_ms = 5000;
    check_path_key(c, key, "variation", false);
    if (!cfg_expect_object(c, v, "a variation {\"type\": ..., ...}"))
        return;
    int type = cfg_enum(c, v, &VARIATION_TYPE, VARIATION_TYPES, COUNT(VARIATION_TYPES),
                        "personalize-campaign, personalize-recommender, lambda (or function), sagemaker, "
                        "http, builtin");
    if (type >= 0) {
        out->type = (pz_variation_type)type;
        out->type_name = pz_arena_strdup(c->arena, json_string_value(cfg_get(v, &VARIATION_TYPE)));
        char what[64];
        snprintf(what, sizeof what, "a %s variation", out->type_name);
        cfg_check_members(c, v, VARIATION, COUNT(VARIATION), CFG_VARIANT(out->type), false, what);
        parse_backend(c, v, action, out);
    }
    cfg_int(c, v, &VARIATION_TIMEOUT_MS, &out->timeout_ms);
    out->fallback = cfg_string(c, v, &VARIATION_FALLBACK, NULL);

    inherited view;
    parse_inherited(c, v, INH_ALL, false, false, parent, &view);
    out->cache_control_view = view.cache_control;
    out->auto_context_view = view.auto_context;
    out->filters_view = view.filters;
    out->item_metadata_view = view.item_metadata;
    out->rules_view = view.rules;
    warn_rules_not_applied(c, v, action);
    check_page_lifetime(c, out);
    out->json = resolved_json(c, v, parent);
}

const pz_variation *cfg_find_variation(const pz_variation *vars, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(vars[i].key, key) == 0)
            return &vars[i];
    return NULL;
}

/* A fallback names another variation of the same recommender, and chains must end. */
static void check_fallbacks(cfg_ctx *c, const pz_variation *vars, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (vars[i].fallback == NULL)
            continue;
        size_t mark = cfg_push_key(c, vars[i].key);
        const pz_variation *target = cfg_find_variation(vars, n, vars[i].fallback);
        if (strcmp(vars[i].fallback, vars[i].key) == 0) {
            cfg_error_at(c, VARIATION_FALLBACK.key,
                         "a variation cannot fall back to itself; expected another variation key");
        } else if (target == NULL) {
            cfg_error_at(c, VARIATION_FALLBACK.key,
                         "no variation \"%.80s\" in this recommender; expected the key of another "
                         "variation of the same recommender",
                         vars[i].fallback);
        } else {
            size_t steps = 0;
            while (target != NULL && target->fallback != NULL && target != &vars[i] && steps++ < n)
                target = cfg_find_variation(vars, n, target->fallback);
            if (target == &vars[i] || steps > n)
                cfg_error_at(c, VARIATION_FALLBACK.key,
                             "the fallback chain starting at \"%.80s\" loops; expected a chain that "
                             "ends at a variation without fallback",
                             vars[i].key);
        }
        cfg_pop(c, mark);
    }
}

static void parse_variations(cfg_ctx *c, json_t *rec, pz_action action, const inherited *parent, pz_recommender *r)
{
    json_t *v = cfg_get(rec, &RECOMMENDER_VARIATIONS);
    size_t mark = cfg_push_key(c, RECOMMENDER_VARIATIONS.key);
    if (v == NULL || json_is_null(v)) {
        cfg_warn(c, "recommender has no variations: it loads, and its requests answer 404 NoVariationsConfigured "
                    "(add an object keyed by variation name; the first one is the default)");
    } else if (!json_is_object(v)) {
        cfg_error(c, "expected an object keyed by variation name, got %s", cfg_type_name(v));
    } else if (json_object_size(v) == 0) {
        cfg_warn(c, "recommender has no variations: it loads, and its requests answer 404 NoVariationsConfigured "
                    "(the first variation is the default)");
    } else {
        pz_variation *vars = pz_arena_calloc(c->arena, json_object_size(v), sizeof *vars);
        size_t n = 0;
        const char *key;
        json_t *value;
        json_object_foreach (v, key, value) {
            size_t v_mark = cfg_push_key(c, key);
            parse_variation(c, key, value, action, parent, &vars[n++]);
            cfg_pop(c, v_mark);
        }
        check_fallbacks(c, vars, n);
        r->variations = vars;
        r->n_variations = n;
    }
    cfg_pop(c, mark);
}

/* ---- responsePostProcessor (§3.6) ---- */

static const cfg_name_value POST_PROCESSOR_TYPES[] = {{"lambda", 0}};
static const cfg_member POST_PROCESSOR_TYPE = {.key = "type", .kind = CFG_STRING, .presence = CFG_REQUIRED};
static const cfg_member POST_PROCESSOR_ARN = {.key = "arn", .kind = CFG_STRING, .presence = CFG_REQUIRED};
static const cfg_member POST_PROCESSOR_LOOK_AHEAD_MULTIPLIER = {
    .key = "lookAheadMultiplier", .kind = CFG_NUMBER, .min = 1};
static const cfg_member POST_PROCESSOR_LOOK_AHEAD_MAXIMUM = {
    .key = "lookAheadMaximumValue", .kind = CFG_NUMBER, .min = 1};
static const cfg_member *const POST_PROCESSOR[] = {&POST_PROCESSOR_TYPE, &POST_PROCESSOR_ARN,
                                                   &POST_PROCESSOR_LOOK_AHEAD_MULTIPLIER,
                                                   &POST_PROCESSOR_LOOK_AHEAD_MAXIMUM};

static const pz_post_processor *parse_post_processor(cfg_ctx *c, json_t *v)
{
    if (v == NULL)
        return NULL;
    size_t mark = cfg_push_key(c, RECOMMENDER_POST_PROCESSOR.key);
    pz_post_processor *pp = NULL;
    if (cfg_expect_object(c, v, "a post processor {\"type\": \"lambda\", \"arn\": ...}")) {
        pp = pz_arena_calloc(c->arena, 1, sizeof *pp);
        cfg_check_members(c, v, POST_PROCESSOR, COUNT(POST_PROCESSOR), 0, false, "a post processor");
        if (cfg_enum(c, v, &POST_PROCESSOR_TYPE, POST_PROCESSOR_TYPES, COUNT(POST_PROCESSOR_TYPES), "lambda") == 0)
            pp->type = "lambda";
        pp->arn = cfg_string(c, v, &POST_PROCESSOR_ARN, "a Lambda function ARN");
        if (pp->arn != NULL && !cfg_is_lambda_arn(pp->arn))
            cfg_error_at(c, POST_PROCESSOR_ARN.key,
                         "\"%.120s\" is not a Lambda function ARN; expected "
                         "arn:{partition}:lambda:{region}:{12-digit account}:function:{name}",
                         pp->arn);
        cfg_number(c, v, &POST_PROCESSOR_LOOK_AHEAD_MULTIPLIER, &pp->look_ahead_multiplier);
        cfg_number(c, v, &POST_PROCESSOR_LOOK_AHEAD_MAXIMUM, &pp->look_ahead_maximum_value);
    }
    cfg_pop(c, mark);
    return pp;
}

/* ---- recommenders (§3.3) ---- */

static const cfg_member *const RECOMMENDER[] = {&NAME,
                                                &CFG_DESCRIPTION,
                                                &CACHE_CONTROL,
                                                &AUTO_CONTEXT,
                                                &FILTERS,
                                                &ITEM_METADATA,
                                                &RULES,
                                                &RECOMMENDER_POST_PROCESSOR,
                                                &RECOMMENDER_EXPERIMENTS,
                                                &RECOMMENDER_VARIATIONS};

static void parse_recommender(cfg_ctx *c, const char *ns_key, const char *key, json_t *v, pz_action action,
                              const inherited *parent, pz_recommender *r)
{
    r->key = pz_arena_strdup(c->arena, key);
    r->action = action;
    check_path_key(c, key, "recommender", false);
    if (!cfg_expect_object(c, v, "a recommender {\"variations\": {...}, ...}"))
        return;
    cfg_check_members(c, v, RECOMMENDER, COUNT(RECOMMENDER), 0, false, "a recommender");
    r->name = cfg_string(c, v, &NAME, NULL);
    r->description = cfg_string(c, v, &CFG_DESCRIPTION, NULL);
    inherited view;
    parse_inherited(c, v, INH_ALL, false, false, parent, &view);
    r->cache_control_view = view.cache_control;
    r->auto_context_view = view.auto_context;
    r->filters_view = view.filters;
    r->item_metadata_view = view.item_metadata;
    r->rules_view = view.rules;
    warn_rules_not_applied(c, v, action);
    parse_variations(c, v, action, &view, r);
    r->post_processor = parse_post_processor(c, cfg_get(v, &RECOMMENDER_POST_PROCESSOR));
    json_t *experiments = cfg_get(v, &RECOMMENDER_EXPERIMENTS);
    if (experiments != NULL) {
        size_t e_mark = cfg_push_key(c, RECOMMENDER_EXPERIMENTS.key);
        cfg_parse_experiments(c, experiments, ns_key, r);
        cfg_pop(c, e_mark);
    }
    r->json = resolved_json(c, v, parent);
}

static int compare_recommender_ptrs(const void *a, const void *b)
{
    return strcmp((*(const pz_recommender *const *)a)->key, (*(const pz_recommender *const *)b)->key);
}

static void parse_recommenders(cfg_ctx *c, json_t *v, const inherited *parent, cfg_namespace *ns)
{
    if (v == NULL)
        return;
    size_t mark = cfg_push_key(c, NAMESPACE_RECOMMENDERS.key);
    if (!cfg_expect_object(c, v, "recommenders keyed by action (recommend-items, related-items, rerank-items)")) {
        cfg_pop(c, mark);
        return;
    }
    const char *action_key;
    json_t *recs;
    json_object_foreach (v, action_key, recs) {
        size_t a_mark = cfg_push_key(c, action_key);
        int action = -1;
        for (int a = 0; a < PZ_ACTION__COUNT; a++)
            if (strcmp(ACTION_NAMES[a], action_key) == 0)
                action = a;
        if (action < 0) { /* upstream's schema never checks the recommenders subtree: it loads */
            cfg_warn(c, "unknown action is ignored: no route serves it; expected one of: recommend-items, "
                        "related-items, rerank-items");
        } else if (cfg_expect_object(c, recs, "recommenders keyed by recommender name")) {
            size_t n = json_object_size(recs);
            pz_recommender *items = pz_arena_calloc(c->arena, n, sizeof *items);
            const pz_recommender **sorted = pz_arena_calloc(c->arena, n, sizeof *sorted);
            size_t i = 0;
            const char *key;
            json_t *r;
            json_object_foreach (recs, key, r) {
                size_t r_mark = cfg_push_key(c, key);
                parse_recommender(c, ns->pub.key, key, r, (pz_action)action, parent, &items[i]);
                sorted[i] = &items[i];
                i++;
                cfg_pop(c, r_mark);
            }
            qsort(sorted, n, sizeof *sorted, compare_recommender_ptrs);
            ns->pub.recommenders[action] = items;
            ns->pub.n_recommenders[action] = n;
            ns->sorted[action] = sorted;
            ns->action_order[ns->n_action_order++] = (pz_action)action;
        }
        cfg_pop(c, a_mark);
    }
    cfg_pop(c, mark);
}

/* ---- namespaces (§3.2) and the root (§3.1) ---- */

static const cfg_member *const NAMESPACE[] = {
    &NAME,  &CFG_DESCRIPTION,        &CACHE_CONTROL,           &AUTO_CONTEXT, &ITEM_METADATA,
    &RULES, &NAMESPACE_RECOMMENDERS, &NAMESPACE_EVENT_TARGETS, &AUTH,         &NAMESPACE_EVENT_LOG};

/* The version is echoed in a header and gRPC metadata on every response and in /healthz: bounded so
 * it always fits (gRPC's default metadata budget is 8 KiB for every entry together). */
static const cfg_member ROOT_VERSION = {.key = "version", .kind = CFG_STRING, .max = PZ_CONFIG_MAX_VERSION_LEN};
/* Ours: the OpenAPI title (upstream's generator reads it, its schema forbids it). */
static const cfg_member ROOT_TITLE = {.key = "title", .kind = CFG_STRING, .free_text = true};
/* Ours: the proxies whose forwarding headers name the client (automatic context). */
static const cfg_member ROOT_TRUSTED_PROXIES = {.key = "trustedProxies", .kind = CFG_ARRAY};
static const cfg_member ROOT_NAMESPACES = {.key = "namespaces", .kind = CFG_OBJECT, .presence = CFG_REQUIRED};
static const cfg_member *const ROOT[] = {&ROOT_VERSION, &CFG_DESCRIPTION,      &ROOT_TITLE,      &CACHE_CONTROL,
                                         &AUTO_CONTEXT, &ROOT_TRUSTED_PROXIES, &ROOT_NAMESPACES, &AUTH};

/* The namespace's own `auth`, else the root's (missing or null: inherited, spec §3.12). */
static const pz_auth_policy *parse_auth_view(cfg_ctx *c, json_t *obj, const pz_auth_policy *parent)
{
    json_t *v = cfg_get_nonnull(obj, &AUTH);
    if (v == NULL)
        return parent;
    size_t mark = cfg_push_key(c, AUTH.key);
    const pz_auth_policy *own = cfg_parse_auth(c, v);
    cfg_pop(c, mark);
    return own != NULL ? own : parent;
}

static void parse_namespace(cfg_ctx *c, const char *key, json_t *v, const inherited *root,
                            const pz_auth_policy *root_auth, cfg_namespace *out)
{
    pz_namespace *ns = &out->pub;
    ns->key = pz_arena_strdup(c->arena, key);
    ns->auth_view = root_auth;
    check_path_key(c, key, "namespace", true);
    if (!cfg_expect_object(c, v, "a namespace {\"recommenders\": ..., \"eventTargets\": ...}"))
        return;
    cfg_check_members(c, v, NAMESPACE, COUNT(NAMESPACE), 0, true, "a namespace");
    ns->name = cfg_string(c, v, &NAME, NULL);
    ns->description = cfg_string(c, v, &CFG_DESCRIPTION, NULL);
    inherited view;
    parse_inherited(c, v,
                    INH_MASK(INH_CACHE_CONTROL) | INH_MASK(INH_AUTO_CONTEXT) | INH_MASK(INH_ITEM_METADATA) |
                        INH_MASK(INH_RULES),
                    true, true, root, &view);
    ns->cache_control_view = view.cache_control;
    ns->auto_context_view = view.auto_context;
    ns->item_metadata_view = view.item_metadata;
    ns->rules_view = view.rules;
    ns->auth_view = parse_auth_view(c, v, root_auth);
    json_t *recs = cfg_get(v, &NAMESPACE_RECOMMENDERS);
    json_t *targets = cfg_get(v, &NAMESPACE_EVENT_TARGETS);
    if (recs == NULL && targets == NULL)
        cfg_error(c, "a namespace needs \"recommenders\", \"eventTargets\" or both");
    parse_recommenders(c, recs, &view, out);
    if (targets != NULL) {
        size_t mark = cfg_push_key(c, NAMESPACE_EVENT_TARGETS.key);
        cfg_parse_event_targets(c, targets, ns);
        cfg_pop(c, mark);
    }
    cfg_parse_event_log(c, cfg_get(v, &NAMESPACE_EVENT_LOG), ns);
}

static void parse_trusted_proxies(cfg_ctx *c, json_t *v, pz_config *cfg)
{
    if (v == NULL)
        return;
    size_t mark = cfg_push_key(c, ROOT_TRUSTED_PROXIES.key);
    if (!json_is_array(v)) {
        cfg_error(c, "expected an array of CIDR blocks such as \"10.0.0.0/8\", got %s", cfg_type_name(v));
    } else {
        pz_cidr *blocks = pz_arena_calloc(c->arena, json_array_size(v) ? json_array_size(v) : 1, sizeof *blocks);
        size_t i;
        json_t *item;
        json_array_foreach (v, i, item) {
            size_t item_mark = cfg_push_index(c, i);
            if (!json_is_string(item) ||
                !pz_cidr_parse(json_string_value(item), json_string_length(item), &blocks[cfg->n_trusted_proxies]))
                cfg_error(c, "expected a CIDR block (\"10.0.0.0/8\", \"2001:db8::/32\") or an address, with no "
                             "bits set past the prefix");
            else
                cfg->n_trusted_proxies++;
            cfg_pop(c, item_mark);
        }
        cfg->trusted_proxies = blocks;
    }
    cfg_pop(c, mark);
}

static int compare_namespace_ptrs(const void *a, const void *b)
{
    return strcmp((*(const cfg_namespace *const *)a)->pub.key, (*(const cfg_namespace *const *)b)->pub.key);
}

void cfg_parse_document(cfg_ctx *c, json_t *root, pz_config *cfg)
{
    if (!json_is_object(root)) {
        cfg_error(c, "expected the configuration object {\"namespaces\": {...}}, got %s", cfg_type_name(root));
        return;
    }
    cfg_check_members(c, root, ROOT, COUNT(ROOT), 0, true, "the configuration root");
    cfg->version = cfg_string(c, root, &ROOT_VERSION, NULL);
    cfg->description = cfg_string(c, root, &CFG_DESCRIPTION, NULL);
    cfg->title = cfg_string(c, root, &ROOT_TITLE, NULL);
    parse_trusted_proxies(c, cfg_get(root, &ROOT_TRUSTED_PROXIES), cfg);
    cfg->auth = parse_auth_view(c, root, &cfg_auth_none);
    inherited none = {0}, view;
    parse_inherited(c, root, INH_MASK(INH_CACHE_CONTROL) | INH_MASK(INH_AUTO_CONTEXT), true, true, &none, &view);

    json_t *namespaces = cfg_get(root, &ROOT_NAMESPACES);
    size_t mark = cfg_push_key(c, ROOT_NAMESPACES.key);
    if (namespaces == NULL) {
        cfg_error(c, "required key is missing; expected an object keyed by namespace name");
    } else if (cfg_expect_object(c, namespaces, "namespaces keyed by namespace name")) {
        size_t n = json_object_size(namespaces);
        cfg->namespaces = pz_arena_calloc(c->arena, n, sizeof *cfg->namespaces);
        cfg->sorted_namespaces = pz_arena_calloc(c->arena, n, sizeof *cfg->sorted_namespaces);
        const char *key;
        json_t *ns;
        json_object_foreach (namespaces, key, ns) {
            size_t ns_mark = cfg_push_key(c, key);
            cfg_namespace *out = &cfg->namespaces[cfg->n_namespaces];
            parse_namespace(c, key, ns, &view, cfg->auth, out);
            cfg->sorted_namespaces[cfg->n_namespaces++] = out;
            cfg_pop(c, ns_mark);
        }
        qsort(cfg->sorted_namespaces, n, sizeof *cfg->sorted_namespaces, compare_namespace_ptrs);
    }
    cfg_pop(c, mark);
}
