/* PutEvents validation (pure, time injected): the rules a call must meet before it is handed to
 * the event sink (server/core/event_sink.h), which stores and delivers it. Which rules apply
 * depends on the namespace's event targets (upstream checks the PutEvents shape only because
 * Personalize does):
 *
 * - A namespace with a Personalize event tracker or the builtin target (or none at all) needs the
 *   PutEvents shape and its limits (Amazon Personalize PutEvents, spec §8.1; anchors §1.1), each
 *   enforced with a 400 / INVALID_ARGUMENT naming the field: PZ_EVENTS_MAX_PER_CALL events per
 *   call (1..10 when eventList is present), ids and eventType 1..PZ_EVENTS_MAX_ID_LEN characters,
 *   impression at most PZ_EVENTS_MAX_IMPRESSIONS ids, properties at most
 *   PZ_EVENTS_MAX_PROPERTIES_LEN characters and a JSON object nested at most
 *   PZ_EVENTS_MAX_PROPERTIES_DEPTH levels, sentAt >= 0 and within the client time window below.
 * - A forward-only namespace (pz_events_forward_only: streams, webhooks and files only) takes any
 *   call, as upstream forwards any JSON object to those targets: over REST the body as sent (any
 *   JSON object, pz_events_read_body), over gRPC the message without the PutEvents limits.
 * Either way experimentConversions follow server/core/experiment.h's rules (they count in the
 * experiments' results, whatever the targets), and the server's defaults are filled in: a minted
 * eventId and sentAt = now where absent.
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
#include "server/core/event_sink.h"
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

/* True when ns has event targets and every one only forwards what it is given: kinesis-stream,
 * kinesis-firehose, http, file. */
bool pz_events_forward_only(const pz_namespace *ns);

/* Reads a forward-only namespace's REST body[0..len) as a JSON object (key order, unknown keys and
 * every value kept; a key given twice keeps its last value) into *out, filling in each object of
 * an eventList array a minted eventId and sentAt = now_ms/1000 (whole seconds) where absent;
 * numbers are written in their shortest round-trip form. What the server itself reads goes into
 * `in`: sessionId and userId (when strings) and experimentConversions (for pz_events_validate).
 * Returns PZ_OK, or PZ_INVALID_ARGUMENT with *err: InvalidJSONRequestPayload ("<reason>: line L
 * column C (char N)") for text that is not JSON, ValidationError for JSON that is not an object
 * or nests deeper than PZ_EVENTS_MAX_DEPTH, InvalidExperimentConversions for experimentConversions
 * that are not an array of {recommender, feature?, metric?: strings, value?: number}. */
pz_status pz_events_read_body(const char *body, size_t len, int64_t now_ms, pz_arena *arena,
                              Personalization__V1__PutEventsRequest *in, pz_events_body *out, pz_error *err);

/* The deepest a forwarded body may nest (objects and arrays), as the REST transcoder's limit. */
#define PZ_EVENTS_MAX_DEPTH 64

#endif
