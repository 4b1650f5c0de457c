/* PutEvents validation (pure, time injected): the limits a call must meet before it is handed to
 * the event sink (server/core/event_sink.h), which stores and delivers it.
 *
 * Limits (Amazon Personalize PutEvents, spec §8.1; anchors §1.1), each enforced with a 400 /
 * INVALID_ARGUMENT naming the field:
 *   PZ_EVENTS_MAX_PER_CALL events per call (1..10 when eventList is present), ids and eventType
 *   1..PZ_EVENTS_MAX_ID_LEN characters, impression at most PZ_EVENTS_MAX_IMPRESSIONS ids,
 *   properties at most PZ_EVENTS_MAX_PROPERTIES_LEN characters and a JSON object nested at most
 *   PZ_EVENTS_MAX_PROPERTIES_DEPTH levels.
 *
 * Client time (issue 19): a `sentAt` more than PZ_EVENTS_MAX_CLOCK_SKEW_S seconds after the
 * server's clock, or more than PZ_EVENTS_MAX_AGE_S before it, is rejected (400), like any other
 * invalid field: one event dated 2100 would otherwise top every decayed popularity list for every
 * user, and a time like 1e308 has no integer millisecond value at all. Times are rejected, not
 * clamped, so a stored event is always what the client sent.
 */
#ifndef PZ_EVENT_VALIDATION_H
#define PZ_EVENT_VALIDATION_H

#include <stdbool.h>
#include <stdint.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/config.h"
#include "server/core/experiment.h"
#include "server/core/mem.h"
#include "server/core/request.h"

#define PZ_EVENTS_MAX_PER_CALL 10
#define PZ_EVENTS_MAX_ID_LEN 256
#define PZ_EVENTS_MAX_IMPRESSIONS 25
#define PZ_EVENTS_MAX_PROPERTIES_LEN 1024
#define PZ_EVENTS_MAX_PROPERTIES_DEPTH 64
#define PZ_EVENTS_MAX_ATTRIBUTION_LEN 1024 /* metricAttribution.eventAttributionSource (Personalize) */
#define PZ_EVENTS_MAX_CLOCK_SKEW_S 300
#define PZ_EVENTS_MAX_AGE_S (365 * 24 * 3600)

/* Validates `in` for namespace `ns` and fills the server-side defaults in place: a minted
 * `eventId` (a random UUID, arena-allocated) where absent and `sentAt` = now_ms/1000 (whole
 * seconds) where absent. experimentConversions are resolved into *conversions (one per entry, in
 * the arena; NULL when there are none) by server/core/experiment.h's rules, with its 400 codes
 * (UserIdRequired when there is no userId). Returns PZ_OK, or an error (status, upstream
 * type/code, arena message) in *err; on error nothing is changed that matters (the request is
 * rejected whole). */
pz_status pz_events_validate(Personalization__V1__PutEventsRequest *in, const pz_namespace *ns, int64_t now_ms,
                             pz_arena *arena, pz_conversion **conversions, pz_error *err);

#endif
