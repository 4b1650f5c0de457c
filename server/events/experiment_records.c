/* The event pipeline's experiment records (pipeline.h, record.h): which targets take them, a
 * call's conversion records, and the exposure queue the writer drains. */
#include <stdlib.h>
#include <string.h>

#include "server/core/log.h"
#include "server/events/pipeline_internal.h"
#include "server/events/record.h"

/* The Personalize tracker and the builtin recommender take events only. */
static bool takes_experiment_records(pz_event_target_type t)
{
    return t != PZ_TARGET_PERSONALIZE_EVENT_TRACKER && t != PZ_TARGET_BUILTIN;
}

static size_t add_target(pz_event_job *job, const char *ns, const pz_event_target *t)
{
    char *id, *spec;
    pz_target_spec_render(ns, t, &id, &spec);
    size_t k = 0;
    while (k < job->n_targets && strcmp(job->targets[k].id, id) != 0)
        k++;
    if (k == job->n_targets)
        job->targets[job->n_targets++] =
            (pz_job_target){pz_arena_strdup(job->arena, id), pz_arena_strdup(job->arena, spec), t->type};
    free(id);
    free(spec);
    return k;
}

void pz_job_add_ns_targets(pz_event_job *job, const pz_namespace *ns)
{
    for (size_t i = 0; i < ns->n_event_targets; i++)
        add_target(job, ns->key, &ns->event_targets[i]);
}

const uint16_t *pz_experiment_targets(pz_event_job *job, const pz_namespace *ns, bool store_only, size_t *n)
{
    uint16_t *idx = pz_arena_calloc(job->arena, job->n_targets + 1, sizeof *idx);
    *n = 0;
    for (size_t k = 0; !store_only && k < job->n_targets; k++) {
        if (takes_experiment_records(job->targets[k].type))
            idx[(*n)++] = (uint16_t)k;
    }
    const pz_event_target store = {.type = PZ_TARGET_EXPERIMENTS};
    idx[(*n)++] = (uint16_t)add_target(job, ns->key, &store);
    return idx;
}

/* Appends one record to the job (records has room). */
static void add_record(pz_event_job *job, uint8_t *bytes, size_t len, const uint16_t *targets, size_t n)
{
    job->records[job->n_records++] = (pz_job_record){bytes, len, targets, n, 0};
}

int pz_conversion_records(pz_event_job *job, const pz_event_submission *s, char *err, size_t errlen)
{
    if (s->n_conversions == 0)
        return 0;
    size_t n_targets;
    const uint16_t *targets = pz_experiment_targets(job, s->ns, false, &n_targets);
    for (size_t i = 0; i < s->n_conversions; i++) {
        const pz_conversion *c = &s->conversions[i];
        pz_experiment_record x = {.conversion = true,
                                  .ns = s->ns->key,
                                  .recommender = c->recommender->key,
                                  .action = pz_action_name(c->recommender->action),
                                  .feature = c->experiment->feature,
                                  .method = c->experiment->method,
                                  .variation = c->variation != NULL ? c->variation->key : NULL,
                                  .control =
                                      c->recommender->n_variations > 0 ? c->recommender->variations[0].key : NULL,
                                  .user_id = s->events->user_id,
                                  .metric = c->metric->name,
                                  .entity_id_key = c->metric->entity_id_key,
                                  .value_key = c->metric->value_key,
                                  .value = c->value,
                                  .at_ms = s->received_ms};
        uint8_t *bytes;
        size_t len;
        if (pz_evrec_render_experiment(&x, n_targets, job->arena, &bytes, &len, err, errlen) != 0)
            return -1;
        add_record(job, bytes, len, targets, n_targets);
    }
    return 0;
}

/* ---- exposures ---- */

void pz_event_pipeline_expose(pz_event_pipeline *p, const pz_exposure *e)
{
    size_t ulen = strlen(e->user_id);
    pz_exposure_item *it = pz_malloc(sizeof *it + ulen + 1);
    *it = (pz_exposure_item){.config = pz_config_ref(e->config),
                             .ns = e->ns,
                             .recommender = e->recommender,
                             .experiment = e->experiment,
                             .variation = e->variation,
                             .at_ms = e->at_ms};
    memcpy(it->user_id, e->user_id, ulen + 1);
    pthread_mutex_lock(&p->lock);
    if (p->exp_queued >= p->opts.max_queued_exposures) {
        pthread_mutex_unlock(&p->lock);
        pz_config_unref(it->config);
        free(it);
        atomic_fetch_add(&p->exposures_dropped, 1);
        return;
    }
    if (p->exp_tail != NULL) {
        p->exp_tail->next = it;
    } else {
        p->exp_head = it;
        p->exp_since_ms = pz_now_ms();
    }
    p->exp_tail = it;
    /* Not a reason to wake the writer each time: it comes by within the flush interval, or now
     * when a batch is waiting. */
    if (++p->exp_queued == PZ_EVENTS_EXPOSURE_BATCH)
        pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    atomic_fetch_add(&p->exposures_accepted, 1);
}

/* The targets of a namespace's exposure records, rendered once per writer round and namespace
 * (rendering a target's spec is the expensive part of an exposure on the writer's side). */
typedef struct ns_targets {
    const pz_namespace *ns;
    pz_job_target *targets;
    size_t n_targets;
    const uint16_t *with_metric, *user_only; /* the store's target and the others / the store's alone */
    size_t n_with_metric, n_user_only;
} ns_targets;

static void targets_of(ns_targets *t, const pz_namespace *ns, pz_arena *arena)
{
    if (t->ns == ns)
        return;
    pz_event_job tmp = {.arena = arena};
    tmp.targets = pz_arena_calloc(arena, ns->n_event_targets + 1, sizeof *tmp.targets);
    pz_job_add_ns_targets(&tmp, ns);
    t->with_metric = pz_experiment_targets(&tmp, ns, false, &t->n_with_metric);
    t->user_only = pz_experiment_targets(&tmp, ns, true, &t->n_user_only);
    t->targets = tmp.targets;
    t->n_targets = tmp.n_targets;
    t->ns = ns;
}

/* The exposure records of one served response: one per metric with trackExposures, else one that
 * only counts the user (and goes to the experiment store alone). */
static pz_event_job *exposure_job(pz_exposure_item *it, const ns_targets *t, pz_arena *arena)
{
    const pz_experiment *e = it->experiment;
    const pz_recommender *r = it->recommender;
    pz_event_job *job = pz_arena_calloc(arena, 1, sizeof *job);
    job->arena = arena;
    job->ns = pz_arena_strdup(arena, it->ns->key);
    job->targets = t->targets; /* shared, read-only from here on */
    job->n_targets = t->n_targets;
    size_t tracked = 0;
    for (size_t i = 0; i < e->n_metrics; i++)
        tracked += e->metrics[i].track_exposures;
    job->records = pz_arena_calloc(arena, tracked ? tracked : 1, sizeof *job->records);
    const uint16_t *targets = tracked > 0 ? t->with_metric : t->user_only;
    size_t n_targets = tracked > 0 ? t->n_with_metric : t->n_user_only;
    pz_experiment_record x = {.ns = it->ns->key,
                              .recommender = r->key,
                              .action = pz_action_name(r->action),
                              .feature = e->feature,
                              .method = e->method,
                              .variation = it->variation->key,
                              .control = r->variations[0].key,
                              .user_id = it->user_id,
                              .at_ms = it->at_ms};
    char err[256];
    for (size_t i = 0; i <= e->n_metrics; i++) {
        if (i < e->n_metrics && !e->metrics[i].track_exposures)
            continue;
        if (i == e->n_metrics && tracked > 0)
            break;
        const pz_metric *m = i < e->n_metrics ? &e->metrics[i] : NULL;
        x.metric = m != NULL ? m->name : NULL;
        x.entity_id_key = m != NULL ? m->entity_id_key : NULL;
        x.value_key = m != NULL ? m->value_key : NULL;
        uint8_t *bytes;
        size_t len;
        if (pz_evrec_render_experiment(&x, n_targets, arena, &bytes, &len, err, sizeof err) != 0) {
            pz_warn("events: an exposure of experiment %s is not stored: %s", e->feature, err);
            continue;
        }
        add_record(job, bytes, len, targets, n_targets);
    }
    return job;
}

pz_event_job *pz_exposure_jobs(pz_exposure_item *items, pz_arena *arena)
{
    pz_event_job *head = NULL, *tail = NULL;
    ns_targets t = {0};
    pz_config *held = NULL; /* keeps t.ns's snapshot alive, so a pointer compare cannot mistake a new
                             * snapshot's namespace for it */
    while (items != NULL) {
        pz_exposure_item *it = items;
        items = it->next;
        targets_of(&t, it->ns, arena);
        pz_event_job *job = exposure_job(it, &t, arena);
        if (tail != NULL)
            tail->next = job;
        else
            head = job;
        tail = job;
        if (held != NULL)
            pz_config_unref(held);
        held = it->config; /* the item's reference, handed over */
        free(it);
    }
    if (held != NULL)
        pz_config_unref(held);
    return head;
}
