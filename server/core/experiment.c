#include "server/core/experiment.h"

#include <math.h>
#include <string.h>

#include "server/core/bucket.h"

const pz_experiment *pz_experiment_find(const pz_recommender *r, const char *feature)
{
    for (size_t i = 0; i < r->n_experiments; i++) {
        if (strcmp(r->experiments[i].feature, feature) == 0)
            return &r->experiments[i];
    }
    return NULL;
}

pz_status pz_experiment_assign(const pz_recommender *r, const char *user_id, const char *feature, pz_assignment *out,
                               pz_arena *arena, pz_error *err)
{
    *out = (pz_assignment){.variation = &r->variations[0]};
    if (r->n_experiments == 0 || r->n_variations < 2 || user_id == NULL)
        return PZ_OK;
    const pz_experiment *e = feature != NULL ? pz_experiment_find(r, feature) : &r->experiments[0];
    if (e == NULL)
        return pz_error_setf(err, arena, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, "InvalidExperimentFeature",
                             "feature '%s' is not an experiment of recommender '%s'", feature, r->key);
    out->experiment = e;
    out->bucket = pz_bucket_of(e->salt, e->feature, user_id);
    out->variation = &r->variations[pz_bucket_variation(e->bucket_starts, r->n_variations, out->bucket)];
    return PZ_OK;
}

#define INVALID(code, ...) pz_error_setf(err, arena, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, code, __VA_ARGS__)

static const pz_metric *find_metric(const pz_experiment *e, const char *name)
{
    for (size_t i = 0; i < e->n_metrics; i++) {
        if (strcmp(e->metrics[i].name, name) == 0)
            return &e->metrics[i];
    }
    return NULL;
}

pz_status pz_conversion_resolve(const pz_namespace *ns, const char *user_id,
                                const Personalization__V1__ExperimentConversion *c, size_t index, pz_conversion *out,
                                pz_arena *arena, pz_error *err)
{
    *out = (pz_conversion){0};
    if (c->recommender == NULL || c->recommender[0] == '\0')
        return INVALID("InvalidExperimentConversions", "experimentConversions[%zu].recommender is required", index);
    const pz_recommender *r = pz_config_recommender_any_action(ns, c->recommender);
    if (r == NULL)
        return INVALID("InvalidRecommender",
                       "experimentConversions[%zu].recommender '%s' is not configured in namespace '%s'", index,
                       c->recommender, ns->key);
    const pz_experiment *e = NULL;
    if (c->feature != NULL) {
        e = pz_experiment_find(r, c->feature);
        if (e == NULL)
            return INVALID("InvalidExperimentFeature",
                           "experimentConversions[%zu].feature '%s' is not an experiment of recommender '%s'", index,
                           c->feature, r->key);
    } else if (r->n_experiments == 1) {
        e = &r->experiments[0];
    } else {
        return INVALID("InvalidExperimentFeature",
                       "experimentConversions[%zu].feature is required: recommender '%s' has %zu experiments", index,
                       r->key, r->n_experiments);
    }
    const pz_metric *m = NULL;
    if (c->metric != NULL) {
        m = find_metric(e, c->metric);
        if (m == NULL)
            return INVALID("InvalidExperimentMetric",
                           "experimentConversions[%zu].metric '%s' is not a metric of experiment '%s'", index,
                           c->metric, e->feature);
    } else if (e->n_metrics == 1) {
        m = &e->metrics[0];
    } else {
        return INVALID("InvalidExperimentMetric",
                       "experimentConversions[%zu].metric is required: experiment '%s' has %zu metrics", index,
                       e->feature, e->n_metrics);
    }
    if (c->has_value && !isfinite(c->value))
        return INVALID("InvalidExperimentConversions", "experimentConversions[%zu].value must be a finite number",
                       index);
    const pz_variation *v = NULL;
    if (r->n_variations > 0)
        v = &r->variations[pz_bucket_variation(e->bucket_starts, r->n_variations,
                                               pz_bucket_of(e->salt, e->feature, user_id))];
    *out = (pz_conversion){.recommender = r,
                           .experiment = e,
                           .metric = m,
                           .variation = v,
                           .value = c->has_value ? c->value : PZ_CONVERSION_DEFAULT_VALUE};
    return PZ_OK;
}

const char *pz_experiment_header(const pz_assignment *a, pz_arena *arena)
{
    /* Concatenated by hand: this runs on every cache hit an experiment decides. */
    static const char F[] = "feature=", V[] = "; variation=";
    size_t lf = strlen(a->experiment->feature), lv = strlen(a->variation->key);
    char *h = pz_arena_alloc(arena, sizeof F - 1 + lf + sizeof V - 1 + lv + 1), *p = h;
    memcpy(p, F, sizeof F - 1);
    p += sizeof F - 1;
    memcpy(p, a->experiment->feature, lf);
    p += lf;
    memcpy(p, V, sizeof V - 1);
    p += sizeof V - 1;
    memcpy(p, a->variation->key, lv + 1);
    return h;
}

static Google__Protobuf__Struct__FieldsEntry *entry(pz_arena *arena, const char *key, const char *str, double num)
{
    Google__Protobuf__Struct__FieldsEntry *e = (Google__Protobuf__Struct__FieldsEntry *)pz_arena_new_message(
        arena, &google__protobuf__struct__fields_entry__descriptor);
    Google__Protobuf__Value *v =
        (Google__Protobuf__Value *)pz_arena_new_message(arena, &google__protobuf__value__descriptor);
    if (str != NULL) {
        v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
        v->string_value = (char *)str;
    } else {
        v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
        v->number_value = num;
    }
    e->key = (char *)key;
    e->value = v;
    return e;
}

Personalization__V1__MatchedExperiment *pz_experiment_matched(const pz_assignment *a, pz_arena *arena)
{
    Personalization__V1__MatchedExperiment *m = (Personalization__V1__MatchedExperiment *)pz_arena_new_message(
        arena, &personalization__v1__matched_experiment__descriptor);
    /* Arena copies: the front writes the response after the snapshot reference is dropped. */
    m->type = pz_arena_strdup(arena, a->experiment->method);
    m->feature = pz_arena_strdup(arena, a->experiment->feature);
    m->variation = pz_arena_strdup(arena, a->variation->key);
    Google__Protobuf__Struct *d =
        (Google__Protobuf__Struct *)pz_arena_new_message(arena, &google__protobuf__struct__descriptor);
    d->n_fields = 3;
    d->fields = pz_arena_calloc(arena, d->n_fields, sizeof *d->fields);
    d->fields[0] = entry(arena, "experiment", m->feature, 0);
    d->fields[1] = entry(arena, "treatment", m->variation, 0);
    d->fields[2] = entry(arena, "bucket", NULL, (double)a->bucket);
    m->details = d;
    return m;
}
