/* The event pipeline (pipeline.h): opening, accepting calls, the writer thread's loop, the
 * notifications between writer and workers, stopping. A round of the writer is in round.c, the
 * target registry in registry.c, delivery in worker.c. */
#include "server/events/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/core/log.h"
#include "server/core/status.h"
#include "server/events/pipeline_internal.h"
#include "server/events/record.h"

/* A progress-only commit (cursors, dead letters) waits this long for company. */
#define PROGRESS_COALESCE_MS 20
#define DEFAULT_HOUSEKEEPING_MS 1000

/* ---- notifications ---- */

void pz_pipeline_progress(pz_event_pipeline *p)
{
    pthread_mutex_lock(&p->lock);
    p->progress = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

uint64_t pz_pipeline_generation(pz_event_pipeline *p)
{
    pthread_mutex_lock(&p->notify_lock);
    uint64_t g = p->generation;
    pthread_mutex_unlock(&p->notify_lock);
    return g;
}

static struct timespec abs_time(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    return ts;
}

void pz_pipeline_wait_records(pz_event_pipeline *p, uint64_t seen_generation, int64_t until_ms, const atomic_bool *stop)
{
    pthread_mutex_lock(&p->notify_lock);
    while ((seen_generation == UINT64_MAX || p->generation == seen_generation) && !atomic_load(&p->workers_stopping) &&
           !atomic_load(stop) && pz_now_ms() < until_ms) {
        struct timespec ts = abs_time(until_ms);
        pthread_cond_timedwait(&p->notify, &p->notify_lock, &ts);
    }
    pthread_mutex_unlock(&p->notify_lock);
}

void pz_pipeline_notify_workers(pz_event_pipeline *p)
{
    pthread_mutex_lock(&p->notify_lock);
    p->generation++;
    pthread_cond_broadcast(&p->notify);
    pthread_mutex_unlock(&p->notify_lock);
}

static void *writer_main(void *arg)
{
    pz_event_pipeline *p = arg;
    int64_t next_housekeeping = pz_now_ms() + p->opts.housekeeping_ms;
    int64_t last_progress_round = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        int64_t now = pz_now_ms();
        for (;;) {
            bool progress_due = p->progress && now >= last_progress_round + PROGRESS_COALESCE_MS;
            int64_t exposures_due_at = p->exp_head != NULL ? p->exp_since_ms + PZ_EVENTS_EXPOSURE_FLUSH_MS : INT64_MAX;
            if (p->head != NULL || p->stopping || progress_due || now >= next_housekeeping || now >= exposures_due_at ||
                p->exp_queued >= PZ_EVENTS_EXPOSURE_BATCH)
                break;
            int64_t deadline = next_housekeeping;
            if (p->progress && last_progress_round + PROGRESS_COALESCE_MS < deadline)
                deadline = last_progress_round + PROGRESS_COALESCE_MS;
            if (exposures_due_at < deadline)
                deadline = exposures_due_at;
            struct timespec ts = abs_time(deadline);
            pthread_cond_timedwait(&p->wake, &p->lock, &ts);
            now = pz_now_ms();
        }
        pz_event_job *jobs = p->head;
        p->head = p->tail = NULL;
        p->queued = 0;
        /* Exposures served before a call was submitted are stored with it or earlier, so a
         * conversion never reaches the store before its exposure. */
        pz_exposure_item *exposures = p->exp_head;
        p->exp_head = p->exp_tail = NULL;
        p->exp_queued = 0;
        p->progress = false;
        p->busy = true;
        bool stop = p->stopping;
        bool may_retire = !p->draining;
        bool housekeeping = now >= next_housekeeping;
        pthread_mutex_unlock(&p->lock);
        pz_pipeline_round(p, exposures, jobs, housekeeping, may_retire);
        if (housekeeping)
            next_housekeeping = now + p->opts.housekeeping_ms;
        last_progress_round = now;
        pthread_mutex_lock(&p->lock);
        p->busy = false;
        if (p->head == NULL)
            pthread_cond_broadcast(&p->idle);
        if (stop && p->head == NULL && p->exp_head == NULL)
            break;
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ---- opening ---- */

static void on_stored_target(void *ctx, const pz_outbox_target *t)
{
    pz_event_pipeline *p = ctx;
    pz_target_slot *s = pz_slot_new(t->number, t->id, t->spec, t->cursor);
    if (s == NULL) {
        char *shown = pz_target_display_id(t->id);
        pz_error_log("events: stored target %s has an invalid spec; ignored", shown);
        free(shown);
        return;
    }
    pz_registry_add(p, s);
}

static int count_pending(void *ctx, uint64_t seq, const void *data, size_t len)
{
    pz_event_pipeline *p = ctx;
    pz_evrec_view v;
    if (pz_evrec_decode(data, len, &v) != 0)
        return 0;
    for (size_t i = 0; i < v.n_targets; i++) {
        pz_target_slot *s = pz_registry_find_number(p, pz_evrec_target(&v, i));
        if (s != NULL && seq >= s->cursor)
            s->pending++;
    }
    return 0;
}

int pz_event_pipeline_open(const pz_event_pipeline_options *opts, pz_event_pipeline **out, char *err, size_t errlen)
{
    pz_event_pipeline *p = pz_calloc(1, sizeof *p);
    p->opts = *opts;
    if (p->opts.max_queued_calls == 0)
        p->opts.max_queued_calls = PZ_EVENTS_MAX_QUEUED_CALLS;
    if (p->opts.max_targets == 0)
        p->opts.max_targets = PZ_EVENTS_MAX_TARGETS;
    if (p->opts.max_queued_exposures == 0)
        p->opts.max_queued_exposures = PZ_EVENTS_MAX_QUEUED_EXPOSURES;
    if (p->opts.housekeeping_ms <= 0)
        p->opts.housekeeping_ms = DEFAULT_HOUSEKEEPING_MS;
    if (p->opts.backoff.base_ms <= 0)
        p->opts.backoff.base_ms = PZ_DELIVERY_BACKOFF_BASE_MS;
    if (p->opts.backoff.cap_ms < p->opts.backoff.base_ms)
        p->opts.backoff.cap_ms = PZ_DELIVERY_BACKOFF_CAP_MS;
    p->env = (pz_target_env){.aws = opts->aws,
                             .learner = opts->learner,
                             .experiments = opts->experiments,
                             .timeout_ms = opts->target_timeout_ms};
    if (pz_outbox_open(opts->outbox_dir, opts->outbox_map_mb, &p->ob, err, errlen) != 0) {
        free(p);
        return -1;
    }
    pthread_mutex_init(&p->reg_lock, NULL);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->idle, NULL);
    pthread_mutex_init(&p->notify_lock, NULL);
    pthread_cond_init(&p->notify, NULL);
    pz_outbox_info info;
    if (pz_outbox_targets(p->ob, on_stored_target, p, err, errlen) < 0 ||
        pz_outbox_info_get(p->ob, &info, err, errlen) != 0 ||
        pz_outbox_read(p->ob, 0, SIZE_MAX, SIZE_MAX, count_pending, p, err, errlen) < 0) {
        pz_event_pipeline_destroy(p);
        return -1;
    }
    atomic_init(&p->next_seq, info.next_seq);
    pz_commit_clock_init(&p->commit_clock, info.next_seq, pz_now_ms());
    p->commit_clock_ready = true;
    for (size_t i = 0; i < p->n_slots; i++) {
        if (p->slots[i]->pending > 0)
            pz_info("events: target %s has %llu record(s) to deliver", p->slots[i]->shown,
                    (unsigned long long)p->slots[i]->pending);
    }
    pz_pipeline_start_missing_workers(p);
    if (pthread_create(&p->writer, NULL, writer_main, p) != 0)
        pz_fatal("cannot start the event writer thread");
    pthread_setname_np(p->writer, "pz-events-write"); /* top -H */
    p->writer_started = true;
    *out = p;
    return 0;
}

/* ---- submitting ---- */

static void fail_now(pz_event_submission *s, pz_status status, const char *code, const char *msg)
{
    pz_error e;
    pz_error_setf(&e, s->arena, status, status == PZ_INVALID_ARGUMENT ? PZ_ERRTYPE_VALIDATION : PZ_ERRTYPE_UNHANDLED,
                  code, "%s", msg);
    s->done(s, &e);
}

void pz_event_pipeline_submit(pz_event_pipeline *p, pz_event_submission *s)
{
    const pz_namespace *ns = s->ns;
    const Personalization__V1__PutEventsRequest *events = s->events;
    pz_arena *arena = s->arena;
    pz_event_job *job = pz_arena_calloc(arena, 1, sizeof *job);
    job->submission = s;
    job->arena = arena;
    job->ns = pz_arena_strdup(arena, ns->key);
    job->events = events;
    job->n_events = s->raw != NULL ? s->raw->n_events : events->n_event_list; /* a raw body leaves the list empty */
    job->targets = pz_arena_calloc(arena, ns->n_event_targets + 1, sizeof(pz_job_target));
    pz_job_add_ns_targets(job, ns);
    job->records = pz_arena_calloc(arena, 1 + s->n_conversions, sizeof *job->records);
    /* the envelope: every configured target */
    uint16_t *all = pz_arena_calloc(arena, job->n_targets ? job->n_targets : 1, sizeof *all);
    for (size_t k = 0; k < job->n_targets; k++)
        all[k] = (uint16_t)k;
    char random_key[33], err[256];
    pz_evrec_random_key(random_key);
    pz_job_record *env = &job->records[job->n_records++];
    *env = (pz_job_record){.targets = all, .n_targets = job->n_targets};
    if (pz_evrec_render_body(events, s->raw, ns->key, s->headers, s->n_headers, job->n_targets, random_key, arena,
                             &env->bytes, &env->len, err, sizeof err) != 0 ||
        pz_conversion_records(job, s, err, sizeof err) != 0) {
        fail_now(s, PZ_INVALID_ARGUMENT, "ValidationError", err);
        return;
    }
    pthread_mutex_lock(&p->lock);
    if (p->draining) {
        pthread_mutex_unlock(&p->lock);
        fail_now(s, PZ_UNAVAILABLE, "ShuttingDown", "the server is shutting down; retry on another instance");
        return;
    }
    if (p->queued >= p->opts.max_queued_calls) {
        size_t max = p->opts.max_queued_calls;
        pthread_mutex_unlock(&p->lock);
        pz_error e;
        pz_error_setf(&e, arena, PZ_RESOURCE_EXHAUSTED, PZ_ERRTYPE_UNHANDLED, "TooManyRequests",
                      "%zu event calls are already waiting to be stored; retry later", max);
        s->done(s, &e);
        return;
    }
    if (p->tail != NULL)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    p->queued++;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

/* ---- stopping ---- */

void pz_event_pipeline_drain(pz_event_pipeline *p)
{
    pthread_mutex_lock(&p->lock);
    p->draining = true;
    while (p->head != NULL || p->busy)
        pthread_cond_wait(&p->idle, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void pz_event_pipeline_destroy(pz_event_pipeline *p)
{
    if (p == NULL)
        return;
    bool writer_running = p->writer_started;
    if (writer_running)
        pz_event_pipeline_drain(p);
    atomic_store(&p->workers_stopping, true);
    for (size_t i = 0; i < p->n_slots; i++) {
        if (p->slots[i]->worker != NULL)
            pz_worker_stop(p->slots[i]->worker);
    }
    pz_pipeline_notify_workers(p);
    for (size_t i = 0; i < p->n_slots; i++) {
        if (p->slots[i]->worker != NULL)
            pz_worker_join(p->slots[i]->worker);
        p->slots[i]->worker = NULL;
    }
    if (writer_running && p->opts.learner.flush != NULL) {
        /* What the builtin targets applied becomes durable, so the last round stores their
         * cursors past it and nothing is re-sent at the next start. */
        char err[256];
        if (p->opts.learner.flush(p->opts.learner.self, err, sizeof err) != 0)
            pz_warn("events: the builtin recommender could not write what it learned (%s); the outbox keeps those "
                    "events for the next start",
                    err);
    }
    if (writer_running) {
        /* A last round stores what the workers finished. */
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->writer, NULL);
    }
    for (size_t i = 0; i < p->n_slots; i++)
        pz_slot_free(p->slots[i]);
    free(p->slots);
    pz_outbox_close(p->ob);
    pthread_cond_destroy(&p->notify);
    pthread_mutex_destroy(&p->notify_lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->reg_lock);
    if (p->commit_clock_ready)
        pz_commit_clock_destroy(&p->commit_clock);
    free(p);
}

pz_outbox *pz_event_pipeline_outbox(pz_event_pipeline *p)
{
    return p->ob;
}

static void sink_submit(void *self, pz_event_submission *s)
{
    pz_event_pipeline_submit(self, s);
}

static void sink_expose(void *self, const pz_exposure *e)
{
    pz_event_pipeline_expose(self, e);
}

static void sink_drain(void *self)
{
    pz_event_pipeline_drain(self);
}

pz_event_sink pz_event_pipeline_sink(pz_event_pipeline *p)
{
    return (pz_event_sink){.self = p, .submit = sink_submit, .expose = sink_expose, .drain = sink_drain};
}
