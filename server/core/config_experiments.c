/* A recommender's `experiments` (spec §3.7, §7.4): the evidently and local methods, their metrics
 * and weights (config_internal.h). */
#include <math.h>
#include <string.h>

#include "server/core/bucket.h"
#include "server/core/config_internal.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const cfg_name_value METHODS[] = {{"evidently", 0}, {"local", 1}};
/* Evidently needs a project and metrics; the local method needs weights. */
static const cfg_member EXPERIMENT_METHOD = {.key = "method", .kind = CFG_STRING, .presence = CFG_REQUIRED};
static const cfg_member EXPERIMENT_PROJECT = {.key = "project", .kind = CFG_STRING, .presence = CFG_REQUIRED_IF};
static const cfg_member EXPERIMENT_METRICS = {.key = "metrics", .kind = CFG_OBJECT, .presence = CFG_REQUIRED_IF};
static const cfg_member EXPERIMENT_WEIGHTS = {.key = "weights", .kind = CFG_OBJECT};
static const cfg_member EXPERIMENT_SALT = {.key = "salt", .kind = CFG_STRING};
static const cfg_member *const EXPERIMENT[] = {&EXPERIMENT_METHOD,  &EXPERIMENT_PROJECT, &CFG_DESCRIPTION,
                                               &EXPERIMENT_METRICS, &EXPERIMENT_WEIGHTS, &EXPERIMENT_SALT};

static const cfg_member METRIC_TRACK_EXPOSURES = {.key = "trackExposures", .kind = CFG_BOOL};
static const cfg_member METRIC_ENTITY_ID_KEY = {
    .key = "entityIdKey", .kind = CFG_STRING, .presence = CFG_REQUIRED, .free_text = true};
static const cfg_member METRIC_VALUE_KEY = {
    .key = "valueKey", .kind = CFG_STRING, .presence = CFG_REQUIRED, .free_text = true};
static const cfg_member *const METRIC[] = {&METRIC_TRACK_EXPOSURES, &METRIC_ENTITY_ID_KEY, &METRIC_VALUE_KEY};

/* Metric names follow upstream's ^\S+$: non-empty, no whitespace. */
static bool is_valid_metric_name(const char *s)
{
    return *s != '\0' && strpbrk(s, " \t\r\n\f\v") == NULL;
}

static void parse_metrics(cfg_ctx *c, json_t *v, bool required, pz_experiment *out)
{
    size_t mark = cfg_push_key(c, EXPERIMENT_METRICS.key);
    if (v == NULL) {
        if (required)
            cfg_error(c, "required key is missing; expected an object keyed by Evidently metric name");
    } else if (cfg_expect_object(c, v, "metrics keyed by metric name")) {
        pz_metric *metrics = pz_arena_calloc(c->arena, json_object_size(v), sizeof *metrics);
        size_t n = 0;
        const char *name;
        json_t *m;
        json_object_foreach (v, name, m) {
            size_t m_mark = cfg_push_key(c, name);
            if (!is_valid_metric_name(name)) /* upstream's schema does not check inside recommenders */
                cfg_warn(c, "metric name is not a non-empty name without whitespace (upstream's pattern ^\\S+$)");
            pz_metric *metric = &metrics[n++];
            metric->name = pz_arena_strdup(c->arena, name);
            metric->track_exposures = true;
            if (cfg_expect_object(c, m, "a metric {\"entityIdKey\": ..., \"valueKey\": ...}")) {
                cfg_check_members(c, m, METRIC, COUNT(METRIC), 0, false, "a metric");
                metric->track_exposures = cfg_bool(c, m, &METRIC_TRACK_EXPOSURES, true);
                metric->entity_id_key =
                    cfg_string(c, m, &METRIC_ENTITY_ID_KEY, "a dotted JSON path such as userDetails.userId");
                metric->value_key = cfg_string(c, m, &METRIC_VALUE_KEY, "a dotted JSON path such as details.clicked");
            }
            cfg_pop(c, m_mark);
        }
        out->metrics = metrics;
        out->n_metrics = n;
    }
    cfg_pop(c, mark);
}

/* One weight per variation in variation order; unnamed variations weigh 0; absent: an equal split.
 * Then the bucket ranges the weights give (server/core/bucket.h). */
static void parse_weights(cfg_ctx *c, json_t *v, const pz_recommender *r, pz_experiment *out)
{
    size_t mark = cfg_push_key(c, EXPERIMENT_WEIGHTS.key);
    if (v != NULL && cfg_expect_object(c, v, "weights mapping variation keys to numbers >= 0")) {
        double *weights = pz_arena_calloc(c->arena, r->n_variations ? r->n_variations : 1, sizeof *weights);
        double total = 0;
        size_t errors_before = cfg_error_count(c);
        const char *key;
        json_t *w;
        json_object_foreach (v, key, w) {
            const pz_variation *var = cfg_find_variation(r->variations, r->n_variations, key);
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
    uint32_t *starts = pz_arena_calloc(c->arena, r->n_variations + 1, sizeof *starts);
    pz_bucket_ranges(out->weights, r->n_variations, starts);
    out->bucket_starts = starts;
    cfg_pop(c, mark);
}

static void parse_experiment(cfg_ctx *c, json_t *v, const char *ns_key, const pz_recommender *r, pz_experiment *out)
{
    out->salt = pz_arena_printf(c->arena, "%s/%s", ns_key, r->key);
    if (!cfg_expect_object(c, v, "an experiment {\"method\": ..., ...}"))
        return;
    cfg_check_members(c, v, EXPERIMENT, COUNT(EXPERIMENT), 0, false, "an experiment");
    int method = cfg_enum(c, v, &EXPERIMENT_METHOD, METHODS, COUNT(METHODS), "evidently, local");
    out->description = cfg_string(c, v, &CFG_DESCRIPTION, NULL);
    const char *salt = cfg_string(c, v, &EXPERIMENT_SALT, "a string");
    if (salt != NULL)
        out->salt = salt;
    if (method == 0) {
        out->method = "evidently";
        out->project = cfg_string_required(c, v, &EXPERIMENT_PROJECT, "the Evidently project name");
        parse_metrics(c, cfg_get(v, &EXPERIMENT_METRICS), true, out);
        /* Said once per load, not per request: the project is no longer called. */
        cfg_warn(c,
                 "CloudWatch Evidently was shut down in October 2025: this experiment is evaluated locally by "
                 "the built-in engine (%s), its project is not called",
                 cfg_get(v, &EXPERIMENT_WEIGHTS) != NULL ? "with its weights" : "equal weights");
    } else if (method == 1) {
        out->method = "local";
        out->project = cfg_string(c, v, &EXPERIMENT_PROJECT, NULL);
        parse_metrics(c, cfg_get(v, &EXPERIMENT_METRICS), false, out);
    }
    parse_weights(c, cfg_get(v, &EXPERIMENT_WEIGHTS), r, out);
}

void cfg_parse_experiments(cfg_ctx *c, json_t *v, const char *ns_key, pz_recommender *r)
{
    if (!cfg_expect_object(c, v, "experiments keyed by feature name"))
        return;
    pz_experiment *exps = pz_arena_calloc(c->arena, json_object_size(v), sizeof *exps);
    size_t n = 0;
    const char *feature;
    json_t *e;
    json_object_foreach (v, feature, e) {
        size_t e_mark = cfg_push_key(c, feature);
        if (!cfg_is_feature_key(feature)) /* upstream's schema does not check inside recommenders */
            cfg_warn(c, "feature name is not letters, digits, '-', '.' and '_' only: it loads, and clients "
                        "must percent-encode it in the feature parameter");
        exps[n].feature = pz_arena_strdup(c->arena, feature);
        parse_experiment(c, e, ns_key, r, &exps[n]);
        n++;
        cfg_pop(c, e_mark);
    }
    r->experiments = exps;
    r->n_experiments = n;
}
