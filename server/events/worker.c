/* Dispatcher workers: one thread per registered target, delivering outbox records from the
 * target's cursor (pipeline.h). Blocking calls happen here, never on an event loop. A worker's
 * thread is started parked, before the round that registers its target writes anything, so a
 * thread that cannot be started refuses that call instead of aborting the process (issue 19). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/core/log.h"
#include "server/events/pipeline_internal.h"

/* Records read from the outbox per refill are also capped by bytes. */
#define REFILL_MAX_BYTES (64u << 20)
/* Idle workers look for records appended by others (replays) at least this often. */
#define IDLE_POLL_MS 1000

struct pz_worker {
    pz_event_pipeline *p;
    pz_target_slot *s; /* NULL while parked */
    pthread_t thread;
    pthread_mutex_t park_lock; /* guards `released` (and `s` until then) */
    pthread_cond_t park_cond;
    bool released;
    pthread_mutex_t target_lock; /* guards `target` against pz_worker_stop's cancel */
    pz_target *target;
    atomic_bool stop;
    pz_delivery_window window;
    uint64_t scan; /* the next seq to read from the outbox */
    struct drand48_data rng;
};

static double draw(pz_worker *w)
{
    if (w->p->opts.random != NULL)
        return w->p->opts.random(w->p->opts.random_ctx);
    double r;
    drand48_r(&w->rng, &r);
    return r;
}

static pz_target *build_target(pz_worker *w)
{
    pthread_mutex_lock(&w->s->lock);
    char *spec_json = pz_strdup(w->s->spec_json);
    w->s->spec_changed = false;
    pthread_mutex_unlock(&w->s->lock);
    pz_target_spec spec;
    char err[256];
    if (pz_target_spec_parse(spec_json, &spec, err, sizeof err) != 0)
        pz_fatal("events: target %s: %s", w->s->shown, err);
    free(spec_json);
    pz_target *t = pz_target_create(&spec, &w->p->env);
    pz_target_set_stream(t, w->s->stream);
    return t;
}

typedef struct refill_ctx {
    pz_worker *w;
    uint64_t skipped; /* records for this target that it does not want */
} refill_ctx;

static int on_record(void *ctx, uint64_t seq, const void *data, size_t len)
{
    refill_ctx *rc = ctx;
    pz_worker *w = rc->w;
    if (pz_delivery_full(&w->window))
        return 1;
    w->scan = seq + 1;
    pz_evrec_view v;
    if (pz_evrec_decode(data, len, &v) != 0) {
        pz_error_log("events: outbox record %llu is not a record; skipped", (unsigned long long)seq);
        return 0;
    }
    if (!pz_evrec_has_target(&v, w->s->number))
        return 0;
    if (!pz_target_wants(w->target, &v)) {
        rc->skipped++;
        return 0;
    }
    pz_delivery_entry *e = pz_delivery_push(&w->window, seq, data, len);
    if (e != NULL)
        pz_target_prepare(w->target, e);
    return 0;
}

static void refill(pz_worker *w)
{
    if (pz_delivery_full(&w->window))
        return;
    refill_ctx ctx = {w, 0};
    char err[256];
    if (pz_outbox_read(w->p->ob, w->scan, w->window.cap - w->window.count, REFILL_MAX_BYTES, on_record, &ctx, err,
                       sizeof err) < 0)
        pz_error_log("events: target %s: reading the outbox: %s", w->s->shown, err);
    if (ctx.skipped > 0) {
        pthread_mutex_lock(&w->s->lock);
        w->s->pending -= ctx.skipped < w->s->pending ? ctx.skipped : w->s->pending;
        pthread_mutex_unlock(&w->s->lock);
    }
}

typedef struct publish_ctx {
    pz_target_slot *s;
    uint64_t dead;
} publish_ctx;

static void on_dead(void *ctx, const pz_delivery_entry *e)
{
    publish_ctx *pc = ctx;
    pz_dead_item *d = pz_calloc(1, sizeof *d);
    d->seq = e->seq;
    d->attempts = e->attempts;
    d->at_ms = pz_now_ms();
    pz_copy_cut(d->reason, sizeof d->reason, e->reason);
    d->record = pz_malloc(e->record_len);
    memcpy(d->record, e->record, e->record_len);
    d->record_len = e->record_len;
    pz_warn("events: target %s rejected record %llu permanently (dead-lettered): %s", pc->s->shown,
            (unsigned long long)e->seq, e->reason);
    /* s->lock is held by publish() */
    if (pc->s->dead_tail != NULL)
        pc->s->dead_tail->next = d;
    else
        pc->s->dead_head = d;
    pc->s->dead_tail = d;
    pc->dead++;
}

/* Moves the cursor past the finished records and hands dead letters to the writer. */
static void publish(pz_worker *w, size_t finished_ok, size_t events_ok, size_t retried)
{
    pz_target_slot *s = w->s;
    pthread_mutex_lock(&s->lock);
    publish_ctx pc = {s, 0};
    uint64_t cursor = pz_delivery_advance(&w->window, w->scan, on_dead, &pc);
    bool moved = cursor != s->cursor || pc.dead > 0;
    s->cursor = cursor;
    s->delivered += finished_ok;
    s->delivered_events += events_ok;
    s->retried += retried;
    s->dead_lettered += pc.dead;
    uint64_t done = finished_ok + pc.dead;
    s->pending -= done < s->pending ? done : s->pending;
    pthread_mutex_unlock(&s->lock);
    if (moved)
        pz_pipeline_progress(w->p);
}

static void deliver_batch(pz_worker *w, pz_delivery_entry **batch, size_t n)
{
    pz_outcome *out = pz_calloc(n, sizeof *out);
    pz_target_send(w->target, batch, n, out);
    int64_t now = pz_now_ms();
    size_t ok = 0, ok_events = 0, retried = 0;
    const char *error = NULL;
    pz_delivery_settle_call(&w->window, batch, n, out, &w->p->opts.backoff, now, draw(w));
    for (size_t i = 0; i < n; i++) {
        if (out[i].kind == PZ_OUTCOME_OK) {
            ok++;
            ok_events += batch[i]->events;
        } else {
            retried += out[i].kind == PZ_OUTCOME_RETRY;
            if (error == NULL)
                error = out[i].reason;
        }
    }
    pthread_mutex_lock(&w->s->lock);
    if (error != NULL) {
        if (!w->s->retrying || strcmp(w->s->last_error, error) != 0)
            pz_warn("events: target %s: %s (%zu of %zu records to retry)", w->s->shown, error, retried, n);
        pz_copy_cut(w->s->last_error, sizeof w->s->last_error, error);
        w->s->last_error_ms = now;
    }
    if (ok > 0)
        w->s->last_ok_ms = now;
    w->s->retrying = retried > 0;
    pthread_mutex_unlock(&w->s->lock);
    publish(w, ok, ok_events, retried);
    free(out);
}

/* Builtin targets: when nothing is pending and the writer's last commit was read, hand the
 * target over to the writer (it applies new rounds inline). Returns true when handed over. */
static bool hand_over_builtin(pz_worker *w)
{
    if (w->s->type != PZ_TARGET_BUILTIN || w->window.count > 0)
        return false;
    pthread_mutex_lock(&w->s->lock);
    bool ok = w->scan >= atomic_load(&w->p->next_seq) && w->s->cursor == w->scan;
    if (ok)
        w->s->caught_up = true;
    pthread_mutex_unlock(&w->s->lock);
    return ok;
}

static void *worker_main(void *arg)
{
    pz_worker *w = arg;
    /* Parked until the round that registers the target commits (or gives it up). */
    pthread_mutex_lock(&w->park_lock);
    while (!w->released)
        pthread_cond_wait(&w->park_cond, &w->park_lock);
    pthread_mutex_unlock(&w->park_lock);
    if (w->s == NULL)
        return NULL;
    pz_target_slot *s = w->s;
    size_t cap = pz_target_limits(w->target)->max_records;
    pz_delivery_entry **batch = pz_calloc(cap, sizeof *batch);
    while (!atomic_load(&w->stop)) {
        uint64_t gen = pz_pipeline_generation(w->p);
        pthread_mutex_lock(&s->lock);
        bool writer_owns = s->caught_up;
        bool rebuild = s->spec_changed;
        if (writer_owns)
            w->scan = s->cursor; /* resume from where the writer got to, if it hands back */
        pthread_mutex_unlock(&s->lock);
        if (writer_owns) {
            pz_pipeline_wait_records(w->p, gen, pz_now_ms() + IDLE_POLL_MS, &w->stop);
            continue;
        }
        if (rebuild) {
            pthread_mutex_lock(&w->target_lock);
            pz_target_destroy(w->target);
            w->target = build_target(w);
            pthread_mutex_unlock(&w->target_lock);
            continue; /* same type (it is part of the id), so the same limits */
        }
        refill(w);
        int64_t now = pz_now_ms();
        size_t n = pz_delivery_pick(&w->window, pz_target_limits(w->target), now, batch, cap);
        if (n == 0) {
            publish(w, 0, 0, 0); /* oversize records marked dead by the pick, skipped records */
            if (hand_over_builtin(w))
                continue;
            int64_t due = pz_delivery_next_due(&w->window);
            int64_t until = now + IDLE_POLL_MS;
            if (due < until)
                until = due;
            /* New records change nothing while the target is paused or the window is full. */
            bool records_help = now >= w->window.paused_until_ms && !pz_delivery_full(&w->window);
            if (w->window.count == 0 || due > now)
                pz_pipeline_wait_records(w->p, records_help ? gen : UINT64_MAX, until, &w->stop);
            continue;
        }
        deliver_batch(w, batch, n);
    }
    free(batch);
    return NULL;
}

pz_worker *pz_worker_park(pz_event_pipeline *p, char *err, size_t errlen)
{
    pz_worker *w = pz_calloc(1, sizeof *w);
    w->p = p;
    pthread_mutex_init(&w->target_lock, NULL);
    pthread_mutex_init(&w->park_lock, NULL);
    pthread_cond_init(&w->park_cond, NULL);
    atomic_init(&w->stop, false);
    int rc = p->opts.thread_create != NULL ? p->opts.thread_create(&w->thread, worker_main, w)
                                           : pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start a delivery thread: %s", strerror(rc));
        pthread_cond_destroy(&w->park_cond);
        pthread_mutex_destroy(&w->park_lock);
        pthread_mutex_destroy(&w->target_lock);
        free(w);
        return NULL;
    }
    return w;
}

static void unpark(pz_worker *w, pz_target_slot *s)
{
    pthread_mutex_lock(&w->park_lock);
    w->s = s;
    w->released = true;
    pthread_cond_signal(&w->park_cond);
    pthread_mutex_unlock(&w->park_lock);
}

void pz_worker_release(pz_worker *w, pz_target_slot *s)
{
    srand48_r((long)time(NULL) ^ (long)s->number * 7919, &w->rng);
    w->s = s;
    w->target = build_target(w);
    pz_delivery_init(&w->window, PZ_DELIVERY_WINDOW_RECORDS);
    pthread_mutex_lock(&s->lock);
    w->scan = s->cursor;
    pthread_mutex_unlock(&s->lock);
    unpark(w, s);
}

void pz_worker_abandon(pz_worker *w)
{
    unpark(w, NULL);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->park_cond);
    pthread_mutex_destroy(&w->park_lock);
    pthread_mutex_destroy(&w->target_lock);
    free(w);
}

pz_worker *pz_worker_start(pz_event_pipeline *p, pz_target_slot *s, char *err, size_t errlen)
{
    pz_worker *w = pz_worker_park(p, err, errlen);
    if (w != NULL)
        pz_worker_release(w, s);
    return w;
}

void pz_worker_stop(pz_worker *w)
{
    atomic_store(&w->stop, true);
    pthread_mutex_lock(&w->target_lock);
    pz_target_cancel(w->target);
    pthread_mutex_unlock(&w->target_lock);
}

void pz_worker_join(pz_worker *w)
{
    pthread_join(w->thread, NULL);
    /* What the worker finished but did not publish yet is redelivered after a restart. */
    pz_delivery_free(&w->window);
    pz_target_destroy(w->target);
    pthread_cond_destroy(&w->park_cond);
    pthread_mutex_destroy(&w->park_lock);
    pthread_mutex_destroy(&w->target_lock);
    free(w);
}
