/* The configuration document walker (spec §3): root -> namespaces -> recommenders -> variations,
 * experiments, post processors and event targets. Validates and builds in one pass, resolving
 * inheritance (§3.12) top-down into the *_view pointers and the compact `json` members. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/config_internal.h"
#include "server/core/url_template.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- inheritance (§3.12) ---- */

enum { INH_CACHE_CONTROL, INH_AUTO_CONTEXT, INH_FILTERS, INH_ITEM_METADATA, INH__COUNT };
static const char *const INHERITED_KEYS[INH__COUNT] = {"cacheControl", "autoContext", "filters",
                                                       "inferenceItemMetadata"};
#define INH_MASK(i) (1u << (i))
#define INH_ALL (INH_MASK(INH__COUNT) - 1)

/* The four inherited settings at one level, compiled and as JSON (borrowed from the document). */
typedef struct inherited {
    const pz_cache_control *cache_control;
    const pz_auto_context *auto_context;
    const pz_filters *filters;
    const pz_item_metadata *item_metadata;
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
        json_t *v = cfg_get_nonnull(obj, INHERITED_KEYS[i]);
        size_t mark = cfg_push_key(c, INHERITED_KEYS[i]);
        own.json[i] = v;
        switch (i) {
        case INH_CACHE_CONTROL:
            own.cache_control = cfg_parse_cache_control(c, v, strict);
            break;
        case INH_AUTO_CONTEXT:
            own.auto_context = cfg_parse_auto_context(c, v, strict, true);
            break;
        case INH_FILTERS:
            own.filters = cfg_parse_filters(c, v);
            break;
        case INH_ITEM_METADATA:
            own.item_metadata = cfg_parse_item_metadata(c, v, strict, at_namespace);
            break;
        }
        cfg_pop(c, mark);
    }
    out->cache_control = own.cache_control != NULL ? own.cache_control : parent->cache_control;
    out->auto_context = own.auto_context != NULL ? own.auto_context : parent->auto_context;
    out->filters = own.filters != NULL ? own.filters : parent->filters;
    out->item_metadata = own.item_metadata != NULL ? own.item_metadata : parent->item_metadata;
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
        if (cfg_get_nonnull(obj, INHERITED_KEYS[i]) == NULL && parent->json[i] != NULL)
            json_object_set(copy, INHERITED_KEYS[i], parent->json[i]);
    char *text = json_dumps(copy, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(copy);
    if (text == NULL)
        pz_fatal("out of memory serializing configuration JSON");
    const char *owned = pz_arena_strdup(c->arena, text);
    free(text);
    return owned;
}

static void check_path_key(cfg_ctx *c, const char *key, const char *what)
{
    if (*key == '\0')
        cfg_error(c, "empty %s key; expected letters, digits, '_' and '-' (it is a URL path segment)", what);
    else if (!cfg_is_path_key(key))
        cfg_error(c, "invalid %s key \"%.80s\"; expected letters, digits, '_' and '-' only (it is a URL path "
                     "segment)", what, key);
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

static void variation_allowed_keys(pz_variation_type type, const char **keys)
{
    size_t n = 0;
    keys[n++] = "type";
    switch (type) {
    case PZ_VARIATION_PERSONALIZE_CAMPAIGN:
    case PZ_VARIATION_PERSONALIZE_RECOMMENDER:
        keys[n++] = "promotions";
        /* fall through */
    case PZ_VARIATION_LAMBDA:
        keys[n++] = "arn";
        keys[n++] = "endpointUrl";
        keys[n++] = "region";
        break;
    case PZ_VARIATION_SAGEMAKER:
        keys[n++] = "endpointName";
        keys[n++] = "endpointUrl";
        keys[n++] = "region";
        break;
    case PZ_VARIATION_HTTP:
        keys[n++] = "url";
        break;
    case PZ_VARIATION_BUILTIN:
        keys[n++] = "strategy";
        keys[n++] = "excludeSeen";
        break;
    }
    for (int i = 0; i < INH__COUNT; i++)
        keys[n++] = INHERITED_KEYS[i];
    keys[n++] = "timeoutMs";
    keys[n++] = "fallback";
    keys[n] = NULL;
}

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
    int strategy = cfg_enum_member(c, v, "strategy", table, n, false, expected);
    out->strategy = strategy < 0 ? (pz_builtin_strategy)table[0].value : (pz_builtin_strategy)strategy;
    bool personalized = action == PZ_ACTION_RECOMMEND_ITEMS && out->strategy == PZ_STRATEGY_PERSONALIZED;
    out->exclude_seen = cfg_opt_bool(c, v, "excludeSeen", personalized);
}

/* Our optional service location keys on the AWS-backed variations. */
static void parse_aws_location(cfg_ctx *c, json_t *v, pz_variation *out)
{
    out->endpoint_url = cfg_opt_string(c, v, "endpointUrl");
    if (out->endpoint_url != NULL && !cfg_is_http_url(out->endpoint_url))
        cfg_error_at(c, "endpointUrl", "\"%.120s\" is not an http:// or https:// URL with a host", out->endpoint_url);
    out->region = cfg_opt_string(c, v, "region");
    if (out->region != NULL && !cfg_is_region(out->region))
        cfg_error_at(c, "region", "invalid region \"%.60s\"; expected e.g. \"us-east-1\"", out->region);
}

static const char *const PROMOTION_KEYS[] = {"name", "percentPromotedItems", "filterArn", "filterValues", NULL};
#define MAX_PROMOTIONS 10

/* GetRecommendations `promotions`, checked and kept as compact JSON to pass through. */
static void parse_promotions(cfg_ctx *c, json_t *v, pz_variation *out)
{
    json_t *list = json_object_get(v, "promotions");
    if (list == NULL)
        return;
    size_t mark = cfg_push_key(c, "promotions");
    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > MAX_PROMOTIONS) {
        cfg_error(c, "expected an array of 1 to %d promotions {\"name\", \"percentPromotedItems\", \"filterArn\", "
                     "\"filterValues\"?}", MAX_PROMOTIONS);
        cfg_pop(c, mark);
        return;
    }
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p) {
        size_t p_mark = cfg_push_index(c, i);
        if (cfg_expect_object(c, p, "a promotion {\"name\", \"percentPromotedItems\", \"filterArn\", ...}")) {
            cfg_check_keys(c, p, PROMOTION_KEYS, false, "a promotion");
            cfg_req_string(c, p, "name", "the promotion's name");
            int percent = 0;
            if (json_object_get(p, "percentPromotedItems") == NULL)
                cfg_error_at(c, "percentPromotedItems", "required key is missing; expected an integer from 1 to 100");
            else
                cfg_opt_int(c, p, "percentPromotedItems", 1, 100, &percent);
            const char *arn = cfg_req_string(c, p, "filterArn", "a Personalize filter ARN");
            if (arn != NULL && !cfg_is_personalize_filter_arn(arn))
                cfg_error_at(c, "filterArn", "\"%.120s\" is not a Personalize filter ARN", arn);
            json_t *values = json_object_get(p, "filterValues");
            if (values != NULL && !json_is_object(values)) {
                cfg_error_at(c, "filterValues", "expected an object of strings, got %s", cfg_type_name(values));
            } else if (values != NULL) {
                const char *k;
                json_t *fv;
                json_object_foreach(values, k, fv) {
                    if (!json_is_string(fv))
                        cfg_error_at(c, "filterValues", "value of \"%.50s\" must be a string", k);
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

static void parse_backend(cfg_ctx *c, json_t *v, pz_action action, pz_variation *out)
{
    switch (out->type) {
    case PZ_VARIATION_PERSONALIZE_CAMPAIGN:
    case PZ_VARIATION_PERSONALIZE_RECOMMENDER: {
        out->arn = cfg_req_string(c, v, "arn", "a Personalize campaign or recommender ARN");
        bool is_recommender = false;
        if (out->arn != NULL && !cfg_is_personalize_arn(out->arn, &is_recommender)) {
            cfg_error_at(c, "arn", "\"%.120s\" is not a Personalize campaign or recommender ARN; expected "
                                   "arn:{partition}:personalize:{region}:{12-digit account}:campaign/{name} or "
                                   ":recommender/{name}", out->arn);
        } else if (out->arn != NULL) {
            /* Upstream picks the backend from the ARN, not from `type` (§3.4.1). */
            pz_variation_type by_arn =
                is_recommender ? PZ_VARIATION_PERSONALIZE_RECOMMENDER : PZ_VARIATION_PERSONALIZE_CAMPAIGN;
            if (by_arn != out->type)
                cfg_warn_at(c, "arn", "the ARN is a Personalize %s but type is \"%s\"; the ARN decides the backend",
                            is_recommender ? "recommender" : "campaign", out->type_name);
            out->type = by_arn;
        }
        parse_aws_location(c, v, out);
        parse_promotions(c, v, out);
        break;
    }
    case PZ_VARIATION_LAMBDA:
        out->arn = cfg_req_string(c, v, "arn", "a Lambda function ARN");
        if (out->arn != NULL && !cfg_is_lambda_arn(out->arn))
            cfg_error_at(c, "arn", "\"%.120s\" is not a Lambda function ARN; expected "
                                   "arn:{partition}:lambda:{region}:{12-digit account}:function:{name}", out->arn);
        parse_aws_location(c, v, out);
        break;
    case PZ_VARIATION_SAGEMAKER:
        out->endpoint_name = cfg_req_string(c, v, "endpointName", "a SageMaker endpoint name");
        if (out->endpoint_name != NULL && !cfg_is_path_key(out->endpoint_name))
            cfg_error_at(c, "endpointName", "invalid endpoint name \"%.80s\"; expected letters, digits and '-'",
                         out->endpoint_name);
        parse_aws_location(c, v, out);
        break;
    case PZ_VARIATION_HTTP: {
        out->url = cfg_req_string(c, v, "url", "an http:// or https:// URL template");
        char why[160];
        if (out->url != NULL && !cfg_is_http_url(out->url))
            cfg_error_at(c, "url", "\"%.120s\" is not an http:// or https:// URL with a host", out->url);
        else if (out->url != NULL && pz_url_template_check(out->url, why, sizeof why) != 0)
            cfg_error_at(c, "url", "%s", why);
        break;
    }
    case PZ_VARIATION_BUILTIN:
        parse_builtin(c, v, action, out);
        break;
    }
}

static void parse_variation(cfg_ctx *c, const char *key, json_t *v, pz_action action, const inherited *parent,
                            pz_variation *out)
{
    out->key = pz_arena_strdup(c->arena, key);
    out->timeout_ms = 5000;
    check_path_key(c, key, "variation");
    if (!cfg_expect_object(c, v, "a variation {\"type\": ..., ...}"))
        return;
    int type = cfg_enum_member(c, v, "type", VARIATION_TYPES, COUNT(VARIATION_TYPES), true,
                               "personalize-campaign, personalize-recommender, lambda (or function), sagemaker, "
                               "http, builtin");
    if (type >= 0) {
        out->type = (pz_variation_type)type;
        out->type_name = pz_arena_strdup(c->arena, json_string_value(json_object_get(v, "type")));
        const char *allowed[16];
        variation_allowed_keys(out->type, allowed);
        char what[64];
        snprintf(what, sizeof what, "a %s variation", out->type_name);
        cfg_check_keys(c, v, allowed, false, what);
        parse_backend(c, v, action, out);
    }
    cfg_opt_int(c, v, "timeoutMs", 1, MAX_TIMEOUT_MS, &out->timeout_ms);
    out->fallback = cfg_opt_string(c, v, "fallback");

    inherited view;
    parse_inherited(c, v, INH_ALL, false, false, parent, &view);
    out->cache_control_view = view.cache_control;
    out->auto_context_view = view.auto_context;
    out->filters_view = view.filters;
    out->item_metadata_view = view.item_metadata;
    out->json = resolved_json(c, v, parent);
}

static const pz_variation *find_variation(const pz_variation *vars, size_t n, const char *key)
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
        const pz_variation *target = find_variation(vars, n, vars[i].fallback);
        if (strcmp(vars[i].fallback, vars[i].key) == 0) {
            cfg_error_at(c, "fallback", "a variation cannot fall back to itself; expected another variation key");
        } else if (target == NULL) {
            cfg_error_at(c, "fallback", "no variation \"%.80s\" in this recommender; expected the key of another "
                                        "variation of the same recommender", vars[i].fallback);
        } else {
            size_t steps = 0;
            while (target != NULL && target->fallback != NULL && target != &vars[i] && steps++ < n)
                target = find_variation(vars, n, target->fallback);
            if (target == &vars[i] || steps > n)
                cfg_error_at(c, "fallback", "the fallback chain starting at \"%.80s\" loops; expected a chain that "
                                            "ends at a variation without fallback", vars[i].key);
        }
        cfg_pop(c, mark);
    }
}

static void parse_variations(cfg_ctx *c, json_t *rec, pz_action action, const inherited *parent, pz_recommender *r)
{
    json_t *v = json_object_get(rec, "variations");
    size_t mark = cfg_push_key(c, "variations");
    if (v == NULL) {
        cfg_error(c, "required key is missing; a recommender needs at least one variation (an object keyed by "
                     "variation name; the first one is the default)");
    } else if (!json_is_object(v)) {
        cfg_error(c, "expected an object keyed by variation name, got %s", cfg_type_name(v));
    } else if (json_object_size(v) == 0) {
        cfg_error(c, "empty; a recommender needs at least one variation (the first one is the default)");
    } else {
        pz_variation *vars = pz_arena_calloc(c->arena, json_object_size(v), sizeof *vars);
        size_t n = 0;
        const char *key;
        json_t *value;
        json_object_foreach(v, key, value) {
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

/* ---- experiments (§3.7, §7.4) ---- */

static const cfg_name_value METHODS[] = {{"evidently", 0}, {"local", 1}};
static const char *const EXPERIMENT_KEYS[] = {"method", "project", "description", "metrics", "weights", NULL};
static const char *const METRIC_KEYS[] = {"trackExposures", "entityIdKey", "valueKey", NULL};

/* Metric names follow upstream's ^\S+$: non-empty, no whitespace. */
static bool is_valid_metric_name(const char *s)
{
    return *s != '\0' && strpbrk(s, " \t\r\n\f\v") == NULL;
}

static void parse_metrics(cfg_ctx *c, json_t *v, bool required, pz_experiment *out)
{
    size_t mark = cfg_push_key(c, "metrics");
    if (v == NULL) {
        if (required)
            cfg_error(c, "required key is missing; expected an object keyed by Evidently metric name");
    } else if (cfg_expect_object(c, v, "metrics keyed by metric name")) {
        pz_metric *metrics = pz_arena_calloc(c->arena, json_object_size(v), sizeof *metrics);
        size_t n = 0;
        const char *name;
        json_t *m;
        json_object_foreach(v, name, m) {
            size_t m_mark = cfg_push_key(c, name);
            if (!is_valid_metric_name(name))
                cfg_error(c, "invalid metric name; expected a non-empty name without whitespace");
            pz_metric *metric = &metrics[n++];
            metric->name = pz_arena_strdup(c->arena, name);
            metric->track_exposures = true;
            if (cfg_expect_object(c, m, "a metric {\"entityIdKey\": ..., \"valueKey\": ...}")) {
                cfg_check_keys(c, m, METRIC_KEYS, false, "a metric");
                metric->track_exposures = cfg_opt_bool(c, m, "trackExposures", true);
                metric->entity_id_key = cfg_req_string(c, m, "entityIdKey", "a dotted JSON path such as "
                                                                            "userDetails.userId");
                metric->value_key = cfg_req_string(c, m, "valueKey", "a dotted JSON path such as details.clicked");
            }
            cfg_pop(c, m_mark);
        }
        out->metrics = metrics;
        out->n_metrics = n;
    }
    cfg_pop(c, mark);
}

/* Local method: one weight per variation in variation order; unnamed variations weigh 0. */
static void parse_weights(cfg_ctx *c, json_t *v, const pz_recommender *r, pz_experiment *out)
{
    size_t mark = cfg_push_key(c, "weights");
    if (v == NULL) {
        cfg_error(c, "required with method local; expected an object mapping variation keys to numbers >= 0");
    } else if (cfg_expect_object(c, v, "weights mapping variation keys to numbers >= 0")) {
        double *weights = pz_arena_calloc(c->arena, r->n_variations ? r->n_variations : 1, sizeof *weights);
        double total = 0;
        size_t errors_before = cfg_error_count(c);
        const char *key;
        json_t *w;
        json_object_foreach(v, key, w) {
            const pz_variation *var = find_variation(r->variations, r->n_variations, key);
            if (r->variations != NULL && var == NULL) {
                cfg_error_at(c, key, "no variation \"%.80s\" in this recommender; weights must name its variations",
                             key);
            } else if (!json_is_number(w) || !isfinite(json_number_value(w)) || json_number_value(w) < 0) {
                cfg_error_at(c, key, "expected a weight >= 0, got %s",
                             json_is_number(w) ? "a negative number" : cfg_type_name(w));
            } else if (var != NULL) {
                weights[var - r->variations] = json_number_value(w);
                total += json_number_value(w);
            }
        }
        if (total <= 0 && cfg_error_count(c) == errors_before)
            cfg_error(c, "all weights are zero; expected at least one variation with a weight > 0");
        out->weights = weights;
    }
    cfg_pop(c, mark);
}

static void parse_experiment(cfg_ctx *c, json_t *v, const pz_recommender *r, pz_experiment *out)
{
    if (!cfg_expect_object(c, v, "an experiment {\"method\": ..., ...}"))
        return;
    cfg_check_keys(c, v, EXPERIMENT_KEYS, false, "an experiment");
    int method = cfg_enum_member(c, v, "method", METHODS, COUNT(METHODS), true, "evidently, local");
    out->description = cfg_opt_string(c, v, "description");
    if (method == 0) {
        out->method = "evidently";
        out->project = cfg_req_string(c, v, "project", "the Evidently project name");
        parse_metrics(c, json_object_get(v, "metrics"), true, out);
        if (json_object_get(v, "weights") != NULL)
            cfg_warn_at(c, "weights", "ignored with method evidently (Evidently assigns the variation)");
    } else if (method == 1) {
        out->method = "local";
        out->project = cfg_opt_string(c, v, "project");
        parse_metrics(c, json_object_get(v, "metrics"), false, out);
        parse_weights(c, json_object_get(v, "weights"), r, out);
    }
}

static void parse_experiments(cfg_ctx *c, json_t *v, pz_recommender *r)
{
    if (v == NULL)
        return;
    size_t mark = cfg_push_key(c, "experiments");
    if (cfg_expect_object(c, v, "experiments keyed by feature name")) {
        pz_experiment *exps = pz_arena_calloc(c->arena, json_object_size(v), sizeof *exps);
        size_t n = 0;
        const char *feature;
        json_t *e;
        json_object_foreach(v, feature, e) {
            size_t e_mark = cfg_push_key(c, feature);
            if (!cfg_is_feature_key(feature))
                cfg_error(c, "invalid feature name; expected letters, digits, '-', '.' and '_' only");
            exps[n].feature = pz_arena_strdup(c->arena, feature);
            parse_experiment(c, e, r, &exps[n]);
            n++;
            cfg_pop(c, e_mark);
        }
        r->experiments = exps;
        r->n_experiments = n;
    }
    cfg_pop(c, mark);
}

/* ---- responsePostProcessor (§3.6) ---- */

static const cfg_name_value POST_PROCESSOR_TYPES[] = {{"lambda", 0}};
static const char *const POST_PROCESSOR_KEYS[] = {"type", "arn", "lookAheadMultiplier", "lookAheadMaximumValue",
                                                  NULL};

static const pz_post_processor *parse_post_processor(cfg_ctx *c, json_t *v)
{
    if (v == NULL)
        return NULL;
    size_t mark = cfg_push_key(c, "responsePostProcessor");
    pz_post_processor *pp = NULL;
    if (cfg_expect_object(c, v, "a post processor {\"type\": \"lambda\", \"arn\": ...}")) {
        pp = pz_arena_calloc(c->arena, 1, sizeof *pp);
        cfg_check_keys(c, v, POST_PROCESSOR_KEYS, false, "a post processor");
        if (cfg_enum_member(c, v, "type", POST_PROCESSOR_TYPES, COUNT(POST_PROCESSOR_TYPES), true, "lambda") == 0)
            pp->type = "lambda";
        pp->arn = cfg_req_string(c, v, "arn", "a Lambda function ARN");
        if (pp->arn != NULL && !cfg_is_lambda_arn(pp->arn))
            cfg_error_at(c, "arn", "\"%.120s\" is not a Lambda function ARN; expected "
                                   "arn:{partition}:lambda:{region}:{12-digit account}:function:{name}", pp->arn);
        cfg_opt_number(c, v, "lookAheadMultiplier", 1, &pp->look_ahead_multiplier);
        cfg_opt_number(c, v, "lookAheadMaximumValue", 1, &pp->look_ahead_maximum_value);
    }
    cfg_pop(c, mark);
    return pp;
}

/* ---- recommenders (§3.3) ---- */

static const char *const RECOMMENDER_KEYS[] = {"name",        "description",  "cacheControl", "autoContext",
                                               "filters",     "inferenceItemMetadata", "responsePostProcessor",
                                               "experiments", "variations",   NULL};

static void parse_recommender(cfg_ctx *c, const char *key, json_t *v, pz_action action, const inherited *parent,
                              pz_recommender *r)
{
    r->key = pz_arena_strdup(c->arena, key);
    r->action = action;
    check_path_key(c, key, "recommender");
    if (!cfg_expect_object(c, v, "a recommender {\"variations\": {...}, ...}"))
        return;
    cfg_check_keys(c, v, RECOMMENDER_KEYS, false, "a recommender");
    r->name = cfg_opt_string(c, v, "name");
    r->description = cfg_opt_string(c, v, "description");
    inherited view;
    parse_inherited(c, v, INH_ALL, false, false, parent, &view);
    r->cache_control_view = view.cache_control;
    r->auto_context_view = view.auto_context;
    r->filters_view = view.filters;
    r->item_metadata_view = view.item_metadata;
    parse_variations(c, v, action, &view, r);
    r->post_processor = parse_post_processor(c, json_object_get(v, "responsePostProcessor"));
    parse_experiments(c, json_object_get(v, "experiments"), r);
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
    size_t mark = cfg_push_key(c, "recommenders");
    if (!cfg_expect_object(c, v, "recommenders keyed by action (recommend-items, related-items, rerank-items)")) {
        cfg_pop(c, mark);
        return;
    }
    const char *action_key;
    json_t *recs;
    json_object_foreach(v, action_key, recs) {
        size_t a_mark = cfg_push_key(c, action_key);
        int action = -1;
        for (int a = 0; a < PZ_ACTION__COUNT; a++)
            if (strcmp(ACTION_NAMES[a], action_key) == 0)
                action = a;
        if (action < 0) {
            cfg_error(c, "unknown action; expected one of: recommend-items, related-items, rerank-items");
        } else if (cfg_expect_object(c, recs, "recommenders keyed by recommender name")) {
            size_t n = json_object_size(recs);
            pz_recommender *items = pz_arena_calloc(c->arena, n, sizeof *items);
            const pz_recommender **sorted = pz_arena_calloc(c->arena, n, sizeof *sorted);
            size_t i = 0;
            const char *key;
            json_t *r;
            json_object_foreach(recs, key, r) {
                size_t r_mark = cfg_push_key(c, key);
                parse_recommender(c, key, r, (pz_action)action, parent, &items[i]);
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

/* ---- eventTargets (§3.11) ---- */

static const cfg_name_value TARGET_TYPES[] = {{"personalize-event-tracker", PZ_TARGET_PERSONALIZE_EVENT_TRACKER},
                                              {"kinesis-stream", PZ_TARGET_KINESIS_STREAM},
                                              {"kinesis-firehose", PZ_TARGET_KINESIS_FIREHOSE},
                                              {"builtin", PZ_TARGET_BUILTIN},
                                              {"http", PZ_TARGET_HTTP},
                                              {"file", PZ_TARGET_FILE}};
static const char *const TRACKER_KEYS[] = {"type", "trackingId", "endpointUrl", "region", NULL};
static const char *const KINESIS_KEYS[] = {"type", "streamName", "endpointUrl", "region", NULL};
static const char *const BUILTIN_TARGET_KEYS[] = {"type", NULL};
static const char *const HTTP_TARGET_KEYS[] = {"type", "url", "headers", NULL};
static const char *const FILE_TARGET_KEYS[] = {"type", "path", NULL};

static void parse_target_headers(cfg_ctx *c, json_t *v, pz_event_target *t)
{
    if (v == NULL)
        return;
    size_t mark = cfg_push_key(c, "headers");
    if (cfg_expect_object(c, v, "headers mapping header names to string values")) {
        size_t n = json_object_size(v);
        const char **names = pz_arena_calloc(c->arena, n, sizeof *names);
        const char **values = pz_arena_calloc(c->arena, n, sizeof *values);
        size_t i = 0;
        const char *name;
        json_t *value;
        json_object_foreach(v, name, value) {
            if (!cfg_is_http_token(name))
                cfg_error_at(c, name, "invalid header name; expected letters, digits and !#$%%&'*+-.^_`|~ only");
            else if (!json_is_string(value) || strpbrk(json_string_value(value), "\r\n") != NULL)
                cfg_error_at(c, name, "expected a single-line string header value, got %s",
                             json_is_string(value) ? "a value with a line break" : cfg_type_name(value));
            names[i] = pz_arena_strdup(c->arena, name);
            values[i] = json_is_string(value) ? pz_arena_strdup(c->arena, json_string_value(value)) : "";
            i++;
        }
        t->header_names = names;
        t->header_values = values;
        t->n_headers = n;
    }
    cfg_pop(c, mark);
}

/* Our optional endpoint override and region on the AWS targets. */
static void parse_aws_target_location(cfg_ctx *c, json_t *v, pz_event_target *t)
{
    t->endpoint_url = cfg_opt_string(c, v, "endpointUrl");
    if (t->endpoint_url != NULL && !cfg_is_http_url(t->endpoint_url))
        cfg_error_at(c, "endpointUrl", "\"%.120s\" is not an http:// or https:// URL with a host", t->endpoint_url);
    t->region = cfg_opt_string(c, v, "region");
    if (t->region != NULL && (t->region[0] == '\0' || strspn(t->region, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
                                                         strlen(t->region)))
        cfg_error_at(c, "region", "invalid region \"%.60s\"; expected e.g. \"us-east-1\"", t->region);
}

static void parse_event_target(cfg_ctx *c, json_t *v, pz_event_target *t)
{
    if (!cfg_expect_object(c, v, "an event target {\"type\": ..., ...}"))
        return;
    int type = cfg_enum_member(c, v, "type", TARGET_TYPES, COUNT(TARGET_TYPES), true,
                               "personalize-event-tracker, kinesis-stream, kinesis-firehose, builtin, http, file");
    if (type < 0)
        return;
    t->type = (pz_event_target_type)type;
    switch (t->type) {
    case PZ_TARGET_PERSONALIZE_EVENT_TRACKER:
        cfg_check_keys(c, v, TRACKER_KEYS, true, "a personalize-event-tracker target");
        t->tracking_id = cfg_req_string(c, v, "trackingId", "a Personalize event tracker tracking ID");
        if (t->tracking_id != NULL && !cfg_is_tracking_id(t->tracking_id))
            cfg_error_at(c, "trackingId", "invalid tracking ID; expected letters, digits and '-' only");
        parse_aws_target_location(c, v, t);
        break;
    case PZ_TARGET_KINESIS_STREAM:
    case PZ_TARGET_KINESIS_FIREHOSE:
        cfg_check_keys(c, v, KINESIS_KEYS, true, "a kinesis target");
        t->stream_name = cfg_req_string(c, v, "streamName", "a Kinesis stream or Firehose name");
        if (t->stream_name != NULL && !cfg_is_stream_name(t->stream_name))
            cfg_error_at(c, "streamName", "invalid stream name; expected letters, digits, '_', '.' and '-' only");
        parse_aws_target_location(c, v, t);
        break;
    case PZ_TARGET_BUILTIN:
        cfg_check_keys(c, v, BUILTIN_TARGET_KEYS, true, "a builtin target");
        break;
    case PZ_TARGET_HTTP:
        cfg_check_keys(c, v, HTTP_TARGET_KEYS, true, "an http target");
        t->url = cfg_req_string(c, v, "url", "an http:// or https:// URL");
        if (t->url != NULL && !cfg_is_http_url(t->url))
            cfg_error_at(c, "url", "\"%.120s\" is not an http:// or https:// URL with a host", t->url);
        parse_target_headers(c, json_object_get(v, "headers"), t);
        break;
    case PZ_TARGET_FILE:
        cfg_check_keys(c, v, FILE_TARGET_KEYS, true, "a file target");
        t->path = cfg_req_string(c, v, "path", "a file path to append events to");
        break;
    }
}

static void parse_event_targets(cfg_ctx *c, json_t *v, pz_namespace *ns)
{
    if (v == NULL)
        return;
    size_t mark = cfg_push_key(c, "eventTargets");
    ns->has_event_targets = true;
    if (!json_is_array(v)) {
        cfg_error(c, "expected an array of event targets, got %s", cfg_type_name(v));
    } else {
        pz_event_target *targets = pz_arena_calloc(c->arena, json_array_size(v), sizeof *targets);
        size_t i;
        json_t *t;
        json_array_foreach(v, i, t) {
            size_t t_mark = cfg_push_index(c, i);
            parse_event_target(c, t, &targets[i]);
            cfg_pop(c, t_mark);
        }
        ns->event_targets = targets;
        ns->n_event_targets = json_array_size(v);
    }
    cfg_pop(c, mark);
}

/* ---- namespaces (§3.2) and the root (§3.1) ---- */

static const char *const NAMESPACE_KEYS[] = {"name",        "description",          "cacheControl",
                                             "autoContext", "inferenceItemMetadata", "recommenders",
                                             "eventTargets", NULL};
static const char *const ROOT_KEYS[] = {"version", "description", "title", "cacheControl", "autoContext",
                                        "namespaces", NULL};

static void parse_namespace(cfg_ctx *c, const char *key, json_t *v, const inherited *root, cfg_namespace *out)
{
    pz_namespace *ns = &out->pub;
    ns->key = pz_arena_strdup(c->arena, key);
    check_path_key(c, key, "namespace");
    if (!cfg_expect_object(c, v, "a namespace {\"recommenders\": ..., \"eventTargets\": ...}"))
        return;
    cfg_check_keys(c, v, NAMESPACE_KEYS, true, "a namespace");
    ns->name = cfg_opt_string(c, v, "name");
    ns->description = cfg_opt_string(c, v, "description");
    inherited view;
    parse_inherited(c, v, INH_MASK(INH_CACHE_CONTROL) | INH_MASK(INH_AUTO_CONTEXT) | INH_MASK(INH_ITEM_METADATA),
                    true, true, root, &view);
    ns->cache_control_view = view.cache_control;
    ns->auto_context_view = view.auto_context;
    ns->item_metadata_view = view.item_metadata;
    json_t *recs = json_object_get(v, "recommenders");
    json_t *targets = json_object_get(v, "eventTargets");
    if (recs == NULL && targets == NULL)
        cfg_error(c, "a namespace needs \"recommenders\", \"eventTargets\" or both");
    parse_recommenders(c, recs, &view, out);
    parse_event_targets(c, targets, ns);
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
    cfg_check_keys(c, root, ROOT_KEYS, true, "the configuration root");
    cfg->version = cfg_opt_string(c, root, "version");
    cfg->description = cfg_opt_string(c, root, "description");
    cfg->title = cfg_opt_string(c, root, "title");
    inherited none = {0}, view;
    parse_inherited(c, root, INH_MASK(INH_CACHE_CONTROL) | INH_MASK(INH_AUTO_CONTEXT), true, true, &none, &view);

    json_t *namespaces = json_object_get(root, "namespaces");
    size_t mark = cfg_push_key(c, "namespaces");
    if (namespaces == NULL) {
        cfg_error(c, "required key is missing; expected an object keyed by namespace name");
    } else if (cfg_expect_object(c, namespaces, "namespaces keyed by namespace name")) {
        size_t n = json_object_size(namespaces);
        cfg->namespaces = pz_arena_calloc(c->arena, n, sizeof *cfg->namespaces);
        cfg->sorted_namespaces = pz_arena_calloc(c->arena, n, sizeof *cfg->sorted_namespaces);
        const char *key;
        json_t *ns;
        json_object_foreach(namespaces, key, ns) {
            size_t ns_mark = cfg_push_key(c, key);
            cfg_namespace *out = &cfg->namespaces[cfg->n_namespaces];
            parse_namespace(c, key, ns, &view, out);
            cfg->sorted_namespaces[cfg->n_namespaces++] = out;
            cfg_pop(c, ns_mark);
        }
        qsort(cfg->sorted_namespaces, n, sizeof *cfg->sorted_namespaces, compare_namespace_ptrs);
    }
    cfg_pop(c, mark);
}
