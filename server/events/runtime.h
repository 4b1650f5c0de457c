/* The server's event delivery, assembled: the event pipeline over `<data-dir>/outbox/` with the
 * process's AWS credentials provider (created by main.c, shared with the recommenders), plus the
 * stats callback of GET /admin/events/stats. One per process; start and stop from the main thread.
 */
#ifndef PZ_EVENTS_RUNTIME_H
#define PZ_EVENTS_RUNTIME_H

#include <stddef.h>

#include "server/core/buf.h"
#include "server/core/config.h"
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
/* GET /admin/events/stats (a pz_health_fn): the pipeline's statistics; returns 200. */
int pz_events_runtime_stats(void *rt, pz_buf *out);
/* Stops delivery (after the service drained) and frees everything. NULL is fine. */
void pz_events_runtime_stop(pz_events_runtime *rt);

#endif
