/* PutEvents validation (pure, time injected): the limits a call must meet before it is handed to
 * the event sink (server/core/event_sink.h), which stores and delivers it.
 *
 * Limits (Amazon Personalize PutEvents, spec §8.1; anchors §1.1), each enforced with a 400 /
 * INVALID_ARGUMENT naming the field:
 *   PZ_EVENTS_MAX_PER_CALL events per call (1..10 when eventList is present), ids and eventType
 *   1..PZ_EVENTS_MAX_ID_LEN characters, impression at most PZ_EVENTS_MAX_IMPRESSIONS ids,
 *   properties at most PZ_EVENTS_MAX_PROPERTIES_LEN characters and a JSON object, sentAt >= 0.
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
