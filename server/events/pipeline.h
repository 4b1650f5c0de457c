/* The event pipeline: accepted PutEvents calls become durable outbox records, then reach every
 * event target of their namespace at least once.
 *
 * Accepting (pz_event_pipeline_submit, any thread): the call is rendered into a record (the
 * upstream envelope, record.h) on the caller's thread and queued. One writer thread takes all
 * queued calls at once and commits them in ONE LMDB transaction (group commit) together with
 * the targets' progress; only after the commit returns (fsync'ed) are the calls answered, so a
 * kill -9 at any point loses no acknowledged event. A `builtin` target is applied right after
 * the commit and before the answers when it is caught up, so the embedded recommender already
 * knows the events when the client hears 200; otherwise its worker catches up from the outbox.
 * The learner may keep what it applied in memory for a while (server/core/learner.h): the target's
 * stored cursor stays at the first record not yet durable there, so the outbox keeps those records
 * and a restart re-sends them under the target's stream (applied exactly once). Destroy asks the
 * learner to flush first.
 *
 * Targets: each (namespace, target) of the configuration that accepted a call is registered in
 * the outbox on its first record (target_spec.h) and gets a worker thread that reads the outbox
 * from the target's cursor and delivers (delivery.h, targets.h): batching within the target
 * API's limits, ordering per partition key, retries with exponential backoff and jitter forever,
 * per-record retry on partial failure, dead letters for permanent rejections. Workers report
 * progress to the writer, which stores cursors and dead letters and deletes records every target
 * has passed. A record reaches exactly the targets its namespace had when it was accepted. A
 * target removed from the configuration keeps delivering what it was given, then is retired.
 *
 * Queued calls are bounded (max_queued_calls): beyond it a call fails at once with
 * RESOURCE_EXHAUSTED (429). A full outbox fails calls with UNAVAILABLE (503) and stores none.
 * Registered targets are bounded (max_targets): a call that needs a new target beyond it, or
 * whose new target's delivery thread cannot be started, fails with UNAVAILABLE (503,
 * DeliveryCapacityExhausted) and stores nothing; the other calls of the round are unaffected.
 *
 * Experiments (issue #14, record.h's experiment records): a call's experimentConversions become
 * one record each, stored in the call's transaction; an exposure (pz_event_pipeline_expose, on
 * the request path) is only queued in memory and stored by the writer's next round, at most
 * PZ_EVENTS_EXPOSURE_FLUSH_MS later (sooner when PZ_EVENTS_EXPOSURE_BATCH are waiting), so a
 * response never waits for its exposure; beyond max_queued_exposures, exposures are dropped and
 * counted (stats: exposures.dropped). A kill -9 loses the exposures of that last moment, never an
 * acknowledged conversion. Experiment records go to the namespace's targets that take them
 * (not the Personalize tracker or the builtin recommender, which take events) and to the
 * namespace's `experiments` target, which applies them to the experiment store.
 */
#ifndef PZ_EVENT_PIPELINE_H
#define PZ_EVENT_PIPELINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/buf.h"
#include "server/core/config.h"
#include "server/core/event_sink.h"
#include "server/core/experiment_store.h"
#include "server/core/metrics.h"
#include "server/core/request.h"
#include "server/events/delivery.h"
#include "server/events/outbox.h"
#include "server/core/learner.h"
#include "server/upstream/aws.h"

#define PZ_EVENTS_MAX_QUEUED_CALLS 10000
/* Registered event targets (one delivery thread each) across every namespace. */
#define PZ_EVENTS_MAX_TARGETS 1024
/* Exposures waiting for the writer, at most (then dropped and counted). */
#define PZ_EVENTS_MAX_QUEUED_EXPOSURES 100000
/* The longest an exposure waits in memory before the writer stores it... */
#define PZ_EVENTS_EXPOSURE_FLUSH_MS 20
/* ...or until this many are waiting. */
#define PZ_EVENTS_EXPOSURE_BATCH 1024

typedef struct pz_event_pipeline pz_event_pipeline;

typedef struct pz_event_pipeline_options {
    const char *outbox_dir; /* required: the outbox's LMDB environment */
    size_t outbox_map_mb;   /* 0 = PZ_OUTBOX_DEFAULT_MAP_MB */
    pz_learner learner;     /* where builtin targets apply events; zeroed = none (retried) */
    /* Where the experiments targets apply experiment records; zeroed = none (retried). */
    pz_experiment_store experiments;
    size_t max_queued_exposures; /* 0 = PZ_EVENTS_MAX_QUEUED_EXPOSURES */
    pz_aws *aws;                 /* for AWS targets; not owned; NULL = their calls are retried */
    pz_config_holder *config;    /* to retire targets removed from the configuration; NULL = never */
    bool no_dispatch;            /* store only, start no workers (tests, tools) */
    size_t max_queued_calls;     /* 0 = PZ_EVENTS_MAX_QUEUED_CALLS */
    pz_backoff_policy backoff;   /* zeros = PZ_DELIVERY_BACKOFF_BASE_MS / _CAP_MS */
    long target_timeout_ms;      /* per target call; 0 = 10 s */
    /* Queued replays are picked up and removed targets retired this often, first one interval
     * after open; 0 = 1000 ms. */
    int64_t housekeeping_ms;
    /* Most registered targets, each with its delivery thread; 0 = PZ_EVENTS_MAX_TARGETS. A call
     * that would register more is refused with UNAVAILABLE, and so is one whose target's thread
     * cannot be started (a process or thread limit): the process never aborts for it. */
    size_t max_targets;
    /* Starts a delivery thread; NULL = pthread_create with default attributes (tests inject
     * failures). Returns 0 or an errno value. */
    int (*thread_create)(pthread_t *thread, void *(*fn)(void *), void *arg);
    /* Jitter source, [0, 1); NULL = drand48_r seeded from the clock. Called on worker threads. */
    double (*random)(void *ctx);
    void *random_ctx;
} pz_event_pipeline_options;

/* Opens the outbox, loads the registered targets (starting their workers) and starts the writer.
 * Returns 0 and *out, or -1 with err. */
int pz_event_pipeline_open(const pz_event_pipeline_options *opts, pz_event_pipeline **out, char *err, size_t errlen);

/* Queues a validated call (defaults filled; s->ns is only read during this call). Completes s from
 * the writer thread once the call is durable, or with an error: INVALID_ARGUMENT when the call is
 * too large to store (record.h), RESOURCE_EXHAUSTED when the queue is full, UNAVAILABLE when
 * draining or when the outbox cannot store it. Any thread; never blocks on disk. */
void pz_event_pipeline_submit(pz_event_pipeline *p, pz_event_submission *s);

/* Queues an exposure (event_sink.h); takes a reference on e->config. Any thread; never blocks on
 * disk: a short lock and an allocation. */
void pz_event_pipeline_expose(pz_event_pipeline *p, const pz_exposure *e);

/* The event sink port (server/core/event_sink.h): submit, expose and drain. */
pz_event_sink pz_event_pipeline_sink(pz_event_pipeline *p);

/* Refuses new calls and waits until every queued call has been completed. Delivery goes on. */
void pz_event_pipeline_drain(pz_event_pipeline *p);
/* Drains, stops the workers (an in-flight call is cancelled and retried at the next start), stores
 * their progress, stops the writer and closes the outbox. */
void pz_event_pipeline_destroy(pz_event_pipeline *p);

/* Appends the delivery statistics as JSON:
 *   {"outbox": {"nextSeq", "oldestSeq", "records", "deadLetters", "replaysQueued", "usedBytes",
 *               "mapBytes"},
 *    "accepted": {"calls", "events", "commits"}, "queuedCalls",
 *    "exposures": {"accepted", "dropped", "queued"}, "experimentRecords",
 *    "targets": [{"id", "type", "namespace", "number", "cursor", "lag", "delivered",
 *                 "deliveredEvents", "retried", "deadLettered", "state", "lastError",
 *                 "lastErrorAt", "lastDeliveryAt"}]}
 * commits = durable commits that stored calls (calls / commits is the group-commit factor);
 * lag = records accepted for the target and not yet delivered or dead-lettered; counters since
 * start; state "idle", "delivering", "retrying" or "catching-up". Any thread. */
void pz_event_pipeline_stats_json(pz_event_pipeline *p, pz_buf *out);

/* Writes the pipeline's metrics (server/core/metrics.h) at `now_ms`: intake (accepted calls and
 * events, commits, queued calls), the outbox (records, dead letters, bytes used and mapped) and per
 * target {target, type, namespace}: delivered records and events, retries, dead letters, lag in
 * records and in seconds (the age of the oldest record not yet delivered, commit_clock.h) and
 * whether it is retrying. Any thread. */
void pz_event_pipeline_collect_metrics(pz_event_pipeline *p, pz_metrics_writer *w, int64_t now_ms);

/* The pipeline's outbox, for reads and admin operations (dead letters, replays) through the same
 * LMDB handle (a process may open an environment once). */
pz_outbox *pz_event_pipeline_outbox(pz_event_pipeline *p);

/* Waits until every target has no lag (or timeout_ms passes). Returns true when idle. For tests
 * and benchmarks. */
bool pz_event_pipeline_wait_delivered(pz_event_pipeline *p, int64_t timeout_ms);

#endif
