/* The namespace event log consumer (issue 18): every instance learns from every event.
 *
 * A namespace may name a Kafka topic as its `eventLog` (server/core/config.h). Every instance
 * produces its accepted events there through the outbox (the log is one of the namespace's event
 * targets, delivered by target_kafka.h) and, here, consumes the whole topic: all partitions, by
 * manual assignment (no consumer group rebalancing; each instance reads everything), from the
 * offsets stored in `<dir>` (LMDB, per namespace, topic and Kafka cluster id: a new bootstrap
 * list for the same cluster resumes where it was), or from the beginning of the topic when it has none (an
 * instance that joins late replays the log and converges). For each batch it
 *   1. applies the events to the local model through the learner port (server/core/learner.h)
 *      and counts other instances' experiment exposures and conversions in the experiment store
 *      (server/core/experiment_store.h), one call per partition, each partition its own stream
 *      of both ("kafka:<hash of the offsets key>#<partition>") whose seqs are the messages'
 *      offsets + 1: every instance's experiment results count the whole fleet's traffic;
 *   2. purges the response cache for the users concerned (the purge callback: the same path the
 *      events handler uses), after the model changed, so no stale list is cached after it;
 *   3. stores where each partition resumes in LMDB (fsync'ed): after the last message applied, but
 *      never past the first event the learner applied and has not written yet
 *      (learner.unflushed_from); an idle consumer moves it on as the learner writes.
 * A learner failure retries the same batch with backoff; nothing is skipped.
 *
 * Applied once: messages carry the origin of the instance that accepted them (kafka_client.h).
 * An instance skips its own events when the namespace also has a `builtin` target, since that
 * target already applied them locally (before the 200); without one, the log is how its own
 * events reach its model too. Its own experiment records are always skipped: its outbox counts
 * them in its store.
 *
 * Exactly once, across kill -9: what is read again after a restart (from the stored resume points)
 * is either not in the model (the learner had not written it: applied now) or at or below its
 * stream's mark, which the learner writes with the events (skipped). The experiment store writes
 * its counts and marks in one transaction before apply returns. The learner bounds how many
 * streams it tracks (the builtin's PZB_MAX_STREAMS, 1024, over every source): a topic's partitions
 * count against it.
 *
 * The set of logs follows the configuration: a consumer starts for each (namespace, brokers,
 * topic) that appears, and stops when it disappears (its offsets stay stored).
 */
#ifndef PZ_EVENT_LOG_H
#define PZ_EVENT_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "server/core/buf.h"
#include "server/core/config.h"
#include "server/core/experiment_store.h"
#include "server/core/learner.h"

/* Most messages a consumer applies in one batch. */
#define PZ_EVENT_LOG_BATCH 1000
/* How long a consumer waits to fill a batch. */
#define PZ_EVENT_LOG_BATCH_WAIT_MS 20
/* The longest a broker may hold a fetch that has no data (librdkafka's default is 500 ms). */
#define PZ_EVENT_LOG_FETCH_WAIT_MS "50"
/* How often the configuration's logs are compared with the running consumers, and a topic's
 * partition count is checked again (partitions added to a topic are picked up). */
#define PZ_EVENT_LOG_RESYNC_MS 1000
#define PZ_EVENT_LOG_PARTITIONS_CHECK_MS 30000

typedef struct pz_event_log pz_event_log;

typedef struct pz_event_log_options {
    const char *dir;          /* required: the LMDB environment of offsets and the origin id */
    pz_config_holder *config; /* required */
    pz_learner learner;       /* where events are applied; learn == NULL: consumers are not started */
    /* Where other instances' experiment exposures and conversions are counted (each partition a
     * stream of the store, at most once); apply == NULL: they are not counted. */
    pz_experiment_store experiments;
    /* Makes a user's cached responses stale (any thread); NULL = no cache. */
    void (*purge)(void *ctx, const char *ns, const char *user_id);
    void *purge_ctx;
    int64_t resync_ms; /* 0 = PZ_EVENT_LOG_RESYNC_MS */
} pz_event_log_options;

/* Opens the offsets store, reads (or mints, on the first start) this instance's origin id, and
 * sets it as the origin of every message the process produces (kafka_client.h). Consumers start
 * with pz_event_log_start. Returns 0 and *out, or -1 with err. */
int pz_event_log_open(const pz_event_log_options *opts, pz_event_log **out, char *err, size_t errlen);
/* Starts the consumers of the configured logs and the thread that follows the configuration. */
void pz_event_log_start(pz_event_log *l);
const char *pz_event_log_origin(const pz_event_log *l);
/* {"origin": "...", "logs": [{"namespace", "topic", "brokers", "partitions", "consumed",
 *  "applied", "experimentRecords", "skippedOwn", "batches", "lastError"}]}: applied counts events,
 * experimentRecords other instances' exposures and conversions counted, skippedOwn this instance's
 * own events and records. Any thread. */
void pz_event_log_stats_json(pz_event_log *l, pz_buf *out);
/* Stops the consumers (a batch being applied finishes first) and closes the store. NULL is fine. */
void pz_event_log_close(pz_event_log *l);

#endif
