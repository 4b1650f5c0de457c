#include "server/core/experiment_results.h"

#include <stdio.h>
#include <string.h>

#include "server/core/bucket.h"
#include "server/core/experiment.h"
#include "server/core/experiment_stats.h"
#include "server/core/num.h"

#define INVALID(...)                                                                                                   \
    pz_error_setf(err, arena, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, "ValidationError", __VA_ARGS__)

/* A variation or metric name as shown: in the configuration, or only in the store. */
typedef struct shown {
    const char *name;
    bool removed;
    double weight; /* variations in the configuration */
} shown;

typedef struct shown_list {
    shown *items;
    size_t n, cap;
} shown_list;

static void add_shown(shown_list *l, pz_arena *arena, const char *name, bool removed, double weight)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->items[i].name, name) == 0)
            return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        shown *items = pz_arena_calloc(arena, cap, sizeof *items);
        if (l->n > 0)
            memcpy(items, l->items, l->n * sizeof *items);
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = (shown){pz_arena_strdup(arena, name), removed, weight};
}

static const pz_experiment_cell *find_cell(const pz_experiment_data *d, const char *variation, const char *metric)
{
    for (size_t i = 0; i < d->n_cells; i++) {
        const pz_experiment_cell *c = &d->cells[i];
        if (strcmp(c->variation, variation) == 0 &&
            ((metric == NULL && c->metric == NULL) ||
             (metric != NULL && c->metric != NULL && strcmp(c->metric, metric) == 0)))
            return c;
    }
    return NULL;
}

static uint64_t users_of(const pz_experiment_data *d, const char *variation)
{
    const pz_experiment_cell *c = find_cell(d, variation, NULL);
    return c != NULL ? c->users : 0;
}

/* "97%", "99.4%", "more than 99.9%": never rounds up to a certainty. */
static const char *percent(pz_arena *arena, double p)
{
    if (p >= 0.999)
        return "more than 99.9%";
    if (p >= 0.99)
        return pz_arena_printf(arena, "%.1f%%", (double)pz_double_to_i64(p * 1000, 0, 1000) / 10);
    return pz_arena_printf(arena, "%d%%", (int)pz_double_to_i64(p * 100 + 0.5, 0, 100)); /* NaN: 0 */
}

static Personalization__V1__VariationResult *new_variation(pz_arena *arena, const shown *v, bool control)
{
    Personalization__V1__VariationResult *r = (Personalization__V1__VariationResult *)pz_arena_new_message(
        arena, &personalization__v1__variation_result__descriptor);
    r->variation = (char *)v->name;
    r->has_control = true;
    r->control = control;
    if (v->removed) {
        r->has_removed = true;
        r->removed = true;
    } else {
        r->has_weight = true;
        r->weight = v->weight;
    }
    return r;
}

#define SET(m, field, value)                                                                                           \
    do {                                                                                                               \
        (m)->has_##field = true;                                                                                       \
        (m)->field = (value);                                                                                          \
    } while (0)

/* The figures of one metric, and its verdict. */
static Personalization__V1__MetricResults *metric_results(pz_arena *arena, const pz_experiment_data *d,
                                                          const shown_list *vars, const shown *metric,
                                                          bool track_exposures)
{
    Personalization__V1__MetricResults *m = (Personalization__V1__MetricResults *)pz_arena_new_message(
        arena, &personalization__v1__metric_results__descriptor);
    m->metric = (char *)metric->name;
    SET(m, track_exposures, track_exposures);
    m->n_variations = vars->n;
    m->variations = pz_arena_calloc(arena, vars->n ? vars->n : 1, sizeof *m->variations);
    uint64_t n0 = 0, x0 = 0, total_converted = 0;
    bool enough = vars->n >= 2;
    size_t best = 0;
    double best_p = -1;
    for (size_t i = 0; i < vars->n; i++) {
        const shown *v = &vars->items[i];
        Personalization__V1__VariationResult *r = new_variation(arena, v, i == 0);
        const pz_experiment_cell *c = find_cell(d, v->name, metric->name);
        uint64_t n = users_of(d, v->name), x = c != NULL ? c->converted_users : 0;
        if (x > n) /* a user exposed only under a removed variation may convert here: keep x/n a proportion */
            x = n;
        SET(r, users_exposed, (int64_t)n);
        SET(r, exposures, (int64_t)(c != NULL ? c->exposures : 0));
        SET(r, conversions, (int64_t)(c != NULL ? c->conversions : 0));
        SET(r, converted_users, (int64_t)x);
        SET(r, conversion_value, c != NULL ? c->value : 0);
        SET(r, unattributed_conversions, (int64_t)(c != NULL ? c->unattributed : 0));
        if (n > 0) {
            SET(r, conversion_rate, pz_stats_rate(x, n));
            double lo, hi;
            pz_stats_wilson(x, n, &lo, &hi);
            SET(r, conversion_rate_low, lo);
            SET(r, conversion_rate_high, hi);
        }
        total_converted += x;
        if (!v->removed && n < PZ_STATS_MIN_USERS)
            enough = false;
        if (i == 0) {
            n0 = n;
            x0 = x;
        } else if (n > 0 && n0 > 0) {
            double lift, p;
            if (pz_stats_lift(x0, n0, x, n, &lift))
                SET(r, lift, lift);
            if (pz_stats_p_value(x0, n0, x, n, &p))
                SET(r, p_value, p);
            double beat = pz_stats_prob_beat(x0, n0, x, n);
            SET(r, probability_to_beat_control, beat);
            if (!v->removed && beat > best_p) {
                best_p = beat;
                best = i;
            }
        }
        m->variations[i] = r;
    }
    const char *control = vars->n > 0 ? vars->items[0].name : "";
    if (vars->n < 2) {
        m->verdict = "a single variation: nothing to compare";
    } else if (!enough || total_converted < PZ_STATS_MIN_CONVERTED || best_p < 0) {
        m->verdict = pz_arena_printf(arena,
                                     "not enough data yet: a verdict needs %d users exposed per variation and %d "
                                     "converted users in all (%llu so far)",
                                     PZ_STATS_MIN_USERS, PZ_STATS_MIN_CONVERTED, (unsigned long long)total_converted);
    } else if (best_p >= PZ_STATS_DECISIVE) {
        m->verdict = pz_arena_printf(arena, "%s beats %s with %s probability", vars->items[best].name, control,
                                     percent(arena, best_p));
        m->winner = (char *)vars->items[best].name;
    } else if (1 - best_p >= PZ_STATS_DECISIVE) {
        m->verdict = vars->n == 2
                         ? pz_arena_printf(arena, "%s beats %s with %s probability", control, vars->items[best].name,
                                           percent(arena, 1 - best_p))
                         : pz_arena_printf(arena, "%s beats every other variation with at least %s probability",
                                           control, percent(arena, 1 - best_p));
        m->winner = (char *)control;
    } else {
        m->verdict = pz_arena_printf(arena, "no clear winner yet: %s beats %s with %s probability",
                                     vars->items[best].name, control, percent(arena, best_p));
    }
    return m;
}

/* Where an experiment is: its configuration (e may be NULL: removed) and its counts. */
typedef struct located {
    const pz_recommender *recommender; /* NULL when removed */
    const pz_experiment *experiment;   /* NULL when removed */
    pz_experiment_data data;
} located;

static pz_status read_counts(const pz_experiment_store *store, const char *ns, const char *rec, const char *feature,
                             pz_arena *arena, pz_experiment_data *out, pz_error *err)
{
    *out = (pz_experiment_data){0};
    char msg[256] = "";
    if (store == NULL || store->read == NULL)
        return PZ_OK;
    if (store->read(store->self, ns, rec, feature, arena, out, msg, sizeof msg) != 0)
        return pz_error_setf(err, arena, PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "ExperimentStoreUnavailable",
                             "the experiment results cannot be read: %s", msg);
    return PZ_OK;
}

static Personalization__V1__ExperimentResults *build(pz_arena *arena, const char *ns, const char *rec,
                                                     const char *feature, const located *l)
{
    Personalization__V1__ExperimentResults *res = (Personalization__V1__ExperimentResults *)pz_arena_new_message(
        arena, &personalization__v1__experiment_results__descriptor);
    const pz_experiment *e = l->experiment;
    const pz_recommender *r = l->recommender;
    const pz_experiment_data *d = &l->data;
    res->namespace_ = pz_arena_strdup(arena, ns);
    res->recommender = pz_arena_strdup(arena, rec);
    res->feature = pz_arena_strdup(arena, feature);
    res->status = e != NULL ? "running" : "removed";
    if (e != NULL) {
        res->action = pz_arena_strdup(arena, pz_action_name(r->action));
        res->method = pz_arena_strdup(arena, e->method);
        res->description = e->description != NULL ? pz_arena_strdup(arena, e->description) : NULL;
        res->salt = pz_arena_printf(arena, "bucket = MurmurHash64A(\"%s\" NUL feature NUL userId) into %u buckets",
                                    e->salt, PZ_BUCKETS);
    }
    /* Variations: the configuration's in order (the control first), then the store's others. */
    shown_list vars = {0};
    if (e != NULL) {
        for (size_t i = 0; i < r->n_variations; i++)
            add_shown(&vars, arena, r->variations[i].key, false,
                      (double)(e->bucket_starts[i + 1] - e->bucket_starts[i]) / PZ_BUCKETS);
    } else if (d->control != NULL) {
        add_shown(&vars, arena, d->control, true, 0);
    }
    for (size_t i = 0; i < d->n_cells; i++)
        add_shown(&vars, arena, d->cells[i].variation, true, 0);
    shown_list metrics = {0};
    for (size_t i = 0; e != NULL && i < e->n_metrics; i++)
        add_shown(&metrics, arena, e->metrics[i].name, false, 0);
    for (size_t i = 0; i < d->n_cells; i++) {
        if (d->cells[i].metric != NULL)
            add_shown(&metrics, arena, d->cells[i].metric, true, 0);
    }
    uint64_t total = 0;
    res->n_variations = vars.n;
    res->variations = pz_arena_calloc(arena, vars.n ? vars.n : 1, sizeof *res->variations);
    for (size_t i = 0; i < vars.n; i++) {
        Personalization__V1__VariationResult *v = new_variation(arena, &vars.items[i], i == 0);
        uint64_t n = users_of(d, vars.items[i].name);
        SET(v, users_exposed, (int64_t)n);
        total += n;
        res->variations[i] = v;
    }
    SET(res, users_exposed, (int64_t)total);
    res->n_metrics = metrics.n;
    res->metrics = pz_arena_calloc(arena, metrics.n ? metrics.n : 1, sizeof *res->metrics);
    for (size_t i = 0; i < metrics.n; i++) {
        bool track = true;
        for (size_t k = 0; e != NULL && k < e->n_metrics; k++) {
            if (strcmp(e->metrics[k].name, metrics.items[i].name) == 0)
                track = e->metrics[k].track_exposures;
        }
        res->metrics[i] = metric_results(arena, d, &vars, &metrics.items[i], track);
    }
    res->verdict =
        metrics.n > 0 ? res->metrics[0]->verdict : "no metric configured: add metrics to measure conversions";
    if (d->found) {
        SET(res, first_event_ms, d->first_ms);
        SET(res, last_event_ms, d->last_ms);
    }
    return res;
}

pz_status pz_experiment_results(const pz_config *cfg, const pz_experiment_store *store,
                                const Personalization__V1__GetExperimentResultsRequest *in, pz_arena *arena,
                                Personalization__V1__ExperimentResults **out, pz_error *err)
{
    const char *fields[] = {in->namespace_, in->recommender, in->feature};
    const char *names[] = {"namespace", "recommender", "feature"};
    for (size_t i = 0; i < 3; i++) {
        if (fields[i] == NULL || fields[i][0] == '\0')
            return INVALID("%s is required", names[i]);
    }
    located l = {0};
    const pz_namespace *ns = pz_config_namespace(cfg, in->namespace_);
    l.recommender = ns != NULL ? pz_config_recommender_any_action(ns, in->recommender) : NULL;
    l.experiment = l.recommender != NULL ? pz_experiment_find(l.recommender, in->feature) : NULL;
    if (l.experiment == NULL)
        l.recommender = NULL;
    pz_status s = read_counts(store, in->namespace_, in->recommender, in->feature, arena, &l.data, err);
    if (s != PZ_OK)
        return s;
    if (l.experiment == NULL && !l.data.found)
        return pz_error_setf(err, arena, PZ_NOT_FOUND, PZ_ERRTYPE_CONFIGURATION, "ExperimentNotFound",
                             "namespace '%s' has no experiment '%s' on recommender '%s', configured or with "
                             "stored results",
                             in->namespace_, in->feature, in->recommender);
    *out = build(arena, in->namespace_, in->recommender, in->feature, &l);
    return PZ_OK;
}

static Personalization__V1__ExperimentSummary *summary(pz_arena *arena, const char *ns, const char *rec,
                                                       const char *feature, const located *l)
{
    Personalization__V1__ExperimentResults *r = build(arena, ns, rec, feature, l);
    Personalization__V1__ExperimentSummary *s = (Personalization__V1__ExperimentSummary *)pz_arena_new_message(
        arena, &personalization__v1__experiment_summary__descriptor);
    s->namespace_ = r->namespace_;
    s->recommender = r->recommender;
    s->feature = r->feature;
    s->action = r->action;
    s->method = r->method;
    s->description = r->description;
    s->status = r->status;
    s->n_variations = r->n_variations;
    s->variations = pz_arena_calloc(arena, r->n_variations ? r->n_variations : 1, sizeof *s->variations);
    for (size_t i = 0; i < r->n_variations; i++)
        s->variations[i] = r->variations[i]->variation;
    SET(s, users_exposed, r->users_exposed);
    s->verdict = r->verdict;
    s->results_path = pz_arena_printf(arena, "/experiments/%s/%s/%s", ns, rec, feature);
    return s;
}

pz_status pz_experiment_list(const pz_config *cfg, const pz_experiment_store *store,
                             const Personalization__V1__ListExperimentsRequest *in, pz_arena *arena,
                             Personalization__V1__ListExperimentsResponse **out, pz_error *err)
{
    if (in->namespace_ == NULL || in->namespace_[0] == '\0')
        return INVALID("namespace is required");
    const char *ns_key = in->namespace_;
    const pz_namespace *ns = pz_config_namespace(cfg, ns_key);
    pz_experiment_ref *stored = NULL;
    size_t n_stored = 0;
    char msg[256] = "";
    if (store != NULL && store->list != NULL &&
        store->list(store->self, ns_key, arena, &stored, &n_stored, msg, sizeof msg) != 0)
        return pz_error_setf(err, arena, PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "ExperimentStoreUnavailable",
                             "the experiment results cannot be read: %s", msg);
    if (ns == NULL && n_stored == 0)
        return pz_error_setf(err, arena, PZ_NOT_FOUND, PZ_ERRTYPE_CONFIGURATION, "NamespaceNotFound",
                             "namespace '%s' is not configured and has no stored experiment results", ns_key);
    size_t cap = n_stored;
    for (int a = 0; ns != NULL && a < PZ_ACTION__COUNT; a++) {
        for (size_t i = 0; i < ns->n_recommenders[a]; i++)
            cap += ns->recommenders[a][i].n_experiments;
    }
    Personalization__V1__ListExperimentsResponse *resp =
        (Personalization__V1__ListExperimentsResponse *)pz_arena_new_message(
            arena, &personalization__v1__list_experiments_response__descriptor);
    resp->experiments = pz_arena_calloc(arena, cap ? cap : 1, sizeof *resp->experiments);
    bool *listed = pz_arena_calloc(arena, n_stored ? n_stored : 1, sizeof *listed);
    for (int a = 0; ns != NULL && a < PZ_ACTION__COUNT; a++) {
        for (size_t i = 0; i < ns->n_recommenders[a]; i++) {
            const pz_recommender *r = &ns->recommenders[a][i];
            for (size_t k = 0; k < r->n_experiments; k++) {
                located l = {.recommender = r, .experiment = &r->experiments[k]};
                pz_status s = read_counts(store, ns_key, r->key, r->experiments[k].feature, arena, &l.data, err);
                if (s != PZ_OK)
                    return s;
                for (size_t j = 0; j < n_stored; j++)
                    listed[j] = listed[j] || (strcmp(stored[j].recommender, r->key) == 0 &&
                                              strcmp(stored[j].feature, r->experiments[k].feature) == 0);
                resp->experiments[resp->n_experiments++] = summary(arena, ns_key, r->key, l.experiment->feature, &l);
            }
        }
    }
    for (size_t j = 0; j < n_stored; j++) { /* removed from the configuration, results kept */
        if (listed[j])
            continue;
        located l = {0};
        pz_status s = read_counts(store, ns_key, stored[j].recommender, stored[j].feature, arena, &l.data, err);
        if (s != PZ_OK)
            return s;
        resp->experiments[resp->n_experiments++] = summary(arena, ns_key, stored[j].recommender, stored[j].feature, &l);
    }
    *out = resp;
    return PZ_OK;
}
