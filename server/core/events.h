/* Events: validation of PutEvents requests (pure, time injected) and the event pipeline that
 * makes accepted events take effect before the client hears OK.
 *
 * Limits (Amazon Personalize PutEvents, spec §8.1; anchors §1.1), each enforced with a 400 /
 * INVALID_ARGUMENT naming the field:
 *   PZ_EVENTS_MAX_PER_CALL events per call (1..10 when eventList is present), ids and eventType
 *   1..PZ_EVENTS_MAX_ID_LEN characters, impression at most PZ_EVENTS_MAX_IMPRESSIONS ids,
 *   properties at most PZ_EVENTS_MAX_PROPERTIES_LEN characters and a JSON object, sentAt >= 0.
 */
#ifndef PZ_EVENTS_H
#define PZ_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/config.h"
#include "server/core/mem.h"
#include "server/core/request.h"
#include "server/recommenders/builtin.h"

#define PZ_EVENTS_MAX_PER_CALL 10
#define PZ_EVENTS_MAX_ID_LEN 256
#define PZ_EVENTS_MAX_IMPRESSIONS 25
#define PZ_EVENTS_MAX_PROPERTIES_LEN 1024

/* Validates `in` for namespace `ns` and fills the server-side defaults in place: a minted
 * `eventId` (a random UUID, arena-allocated) where absent and `sentAt` = now_ms/1000 (whole
 * seconds) where absent. Returns PZ_OK, or an error (status, upstream type/code, arena message) in
 * *err; on error nothing is changed that matters (the request is rejected whole). */
pz_status pz_events_validate(Personalization__V1__PutEventsRequest *in, const pz_namespace *ns, int64_t now_ms,
                             pz_arena *arena, pz_error *err);

/* The pipeline: one writer thread applies accepted events (today: to the builtin recommender's
 * statistics, one durable LMDB transaction per batch of queued calls) and only then completes
 * the request. Durable fan-out to external targets plugs in here (an outbox written in the same
 * step, dispatched by per-target cursors). */
typedef struct pz_event_pipeline pz_event_pipeline;

pz_event_pipeline *pz_event_pipeline_create(pz_builtin *builtin);
/* Queues a validated request for namespace ns_key (which must stay valid until completion: pass an
 * arena copy). `feed_builtin` says whether the namespace has a builtin target. Completes req
 * (PutEventsResponse with the event ids, or PZ_INTERNAL if the write failed) from the writer
 * thread. Any thread; never blocks on disk. After pz_event_pipeline_drain the request fails with
 * PZ_UNAVAILABLE at once. */
void pz_event_pipeline_submit(pz_event_pipeline *p, pz_request *req, const char *ns_key,
                              Personalization__V1__PutEventsRequest *events, bool feed_builtin);
/* Refuses new submissions and waits until every queued request has been completed. */
void pz_event_pipeline_drain(pz_event_pipeline *p);
/* Drains, stops the thread and frees. */
void pz_event_pipeline_destroy(pz_event_pipeline *p);

/* Fills buf (>= 37 bytes) with a random version-4 UUID string. */
void pz_uuid4(char *buf);

#endif
