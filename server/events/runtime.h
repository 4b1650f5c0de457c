/* The server's event delivery, assembled: the event pipeline over `<data-dir>/outbox/` with the
 * process's AWS credentials provider (created by main.c, shared with the recommenders), plus what
 * the admin API and the metrics read from it: stats, dead letters, replays, metrics. One per
 * process; start and stop from the main thread; the rest from any thread.
 */
#ifndef PZ_EVENTS_RUNTIME_H
#define PZ_EVENTS_RUNTIME_H

#include <stddef.h>

#include "server/core/buf.h"
#include "server/core/config.h"
#include "server/core/metrics.h"
#include "server/core/status.h"
#include "server/events/pipeline.h"
#include "server/core/experiment_store.h"
#include "server/core/learner.h"
#include "server/upstream/aws.h"

typedef struct pz_events_runtime pz_events_runtime;

/* Opens the outbox under data_dir and starts delivery. Builtin targets apply events through
 * learner, experiments targets experiment records through experiments (server/experiments/ in
 * main.c). aws: for the AWS targets, not owned (it must outlive the runtime); NULL fails their
 * calls (retried). outbox_map_mb 0 = the default. Returns 0 and *out, or -1 with err. */
int pz_events_runtime_start(const char *data_dir, size_t outbox_map_mb, pz_learner learner,
                            pz_experiment_store experiments, pz_config_holder *config, pz_aws *aws,
                            pz_events_runtime **out, char *err, size_t errlen);
/* The event sink port the service submits accepted calls to. */
pz_event_sink pz_events_runtime_sink(pz_events_runtime *rt);
/* The admin API's events back-end (server/ops/admin.h pz_admin_events; ctx is the runtime):
 * the pipeline's statistics (pz_event_pipeline_stats_json); {"deadLetters": [...]} (at most limit,
 * of `target` or all, dead_letters.h); {"requeued": N} after queuing dead letters for redelivery,
 * picked up within a second (PZ_NOT_FOUND for an unknown target). */
pz_status pz_events_runtime_stats(void *rt, pz_buf *out, char *err, size_t errlen);
pz_status pz_events_runtime_dead_letters(void *rt, const char *target, size_t limit, pz_buf *out, char *err,
                                         size_t errlen);
pz_status pz_events_runtime_replay(void *rt, const char *target, uint64_t seq, pz_buf *out, char *err, size_t errlen);
/* A metrics collector (server/core/metrics.h; ctx is the runtime): pz_event_pipeline_collect_metrics. */
void pz_events_runtime_collect_metrics(void *rt, pz_metrics_writer *w);
/* Stops delivery (after the service drained) and frees everything. NULL is fine. */
void pz_events_runtime_stop(pz_events_runtime *rt);

#endif
