/* Outbox records: one accepted PutEvents call, as stored in the outbox and delivered to targets.
 *
 * A record is a small binary header followed by the upstream envelope (spec §8.2) as compact
 * JSON, which Kinesis and Firehose targets send as is and the other targets derive from:
 *
 *   {"namespace": ns, "path": "/events/<ns>", "headers": {...}, "queryStringParameters": null,
 *    "body": {"sessionId", "userId", "eventList": [...], "experimentConversions": [...]}}
 *
 * (or, for a forward-only namespace's REST call, "body" is the client's JSON object as it was
 * sent, compact, with the defaults filled: pz_evrec_render_body).
 *
 * - headers: the request's headers (REST) or metadata (gRPC), lower-case names, the last value
 *   wins for repeated names; credentials are redacted (PZ_EVREC_REDACTED replaces the values of
 *   authorization, proxy-authorization, x-api-key and cookie).
 * - body: the upstream keys in upstream order, with the server's defaults filled (minted eventId,
 *   sentAt), and experimentConversions when present.
 * - queryStringParameters is always null: the core does not see the REST query string.
 *
 * Header (all integers little-endian; strings not NUL-terminated in the stored bytes):
 *   u8 version (1), u8 flags, u16 n_targets, u32 targets[n_targets],
 *   u16 ns_len, u16 partition_key_len, u16 session_len, u16 user_len, u16 n_events,
 *   ns, partition_key, session, user, then the envelope JSON to the end.
 * `targets` are the numbers of the targets the record must reach (assigned by the outbox writer).
 *
 * Everything here is pure and thread-agnostic.
 */
#ifndef PZ_EVREC_H
#define PZ_EVREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/buf.h"
#include "server/core/event_sink.h"
#include "server/core/json_text.h"
#include "server/core/experiment_store.h"
#include "server/core/learner.h"
#include "server/core/mem.h"
#include "server/core/request.h"

/* The largest record (header + envelope). Below Firehose's 1,000 KiB and Kinesis's 1 MiB (data
 * plus partition key) per-record limits, so every stored record fits every target. */
#define PZ_EVREC_MAX_BYTES (1000 * 1000)
/* At most this many targets per record (a namespace's eventTargets, deduplicated). */
#define PZ_EVREC_MAX_TARGETS 64
#define PZ_EVREC_REDACTED "[REDACTED]"

/* A decoded view of a stored record: pointers into the record bytes (not NUL-terminated). */
typedef struct pz_evrec_view {
    bool experiment; /* an experiment record (below), not a PutEvents call */
    uint16_t n_targets;
    const uint8_t *targets; /* n_targets little-endian u32 values; use pz_evrec_target() */
    const char *ns;
    size_t ns_len;
    const char *partition_key; /* sessionId, else userId, else a random UUID minted at acceptance */
    size_t partition_key_len;
    const char *session; /* "" when absent */
    size_t session_len;
    const char *user; /* "" when absent */
    size_t user_len;
    uint16_t n_events;
    const char *json; /* the envelope */
    size_t json_len;
} pz_evrec_view;

/* Renders a validated request (defaults filled) of namespace `ns` with `headers` into a record
 * in `arena`, with n_targets target slots set to 0 (pz_evrec_set_target fills them). The
 * partition key falls back to `random_key` (e.g. a UUID) when there is no sessionId or userId.
 * Returns 0 with *out and *len, or -1 when the record would exceed PZ_EVREC_MAX_BYTES (the message in
 * err names the size). */
int pz_evrec_render(const Personalization__V1__PutEventsRequest *in, const char *ns, const pz_header *headers,
                    size_t n_headers, size_t n_targets, const char *random_key, pz_arena *arena, uint8_t **out,
                    size_t *len, char *err, size_t errlen);
/* The same with a forward-only namespace's body (server/core/event_sink.h): when raw is non-NULL
 * the envelope's body is raw->json as it is, the event count raw->n_events, and `in` gives only
 * sessionId and userId (the partition key). */
int pz_evrec_render_body(const Personalization__V1__PutEventsRequest *in, const pz_events_body *raw, const char *ns,
                         const pz_header *headers, size_t n_headers, size_t n_targets, const char *random_key,
                         pz_arena *arena, uint8_t **out, size_t *len, char *err, size_t errlen);

/* ---- experiment records (issue #14) ----
 *
 * One exposure (a response served to a user an experiment decided for, per metric with
 * trackExposures) or one conversion (an experimentConversions entry of an accepted PutEvents
 * call), delivered to the namespace's targets and to the experiment store. The header is the same
 * (flag PZ_EVREC_FLAG_EXPERIMENT, no session, the user, partition key the user, no events); the
 * JSON is the envelope's shape, so a consumer reads every record of a target alike:
 *
 *   {"namespace": ns, "path": "/experiments/<ns>/<recommender>/<feature>", "headers": {},
 *    "queryStringParameters": null, "body": {"userId": user,
 *    "experimentEvent": {"type": "exposure" | "conversion", "recommender", "action", "feature",
 *      "method", "variation", "control", "userId", "metric" (null: an exposure that only counts
 *      the user, sent to the experiment store alone), "value" (conversions), "timestamp" (epoch
 *      seconds, millisecond precision),
 *      "data": the metric's entityIdKey and valueKey dotted paths set to the user and the value
 *      (exposures 1e-07, as upstream sent Evidently), e.g. {"userDetails": {"userId": "u1"},
 *      "details": {"clicked": 1}}}}}
 */
#define PZ_EVREC_FLAG_EVENTS 0x01u
#define PZ_EVREC_FLAG_EXPERIMENT 0x02u
/* The value upstream put in an exposure's data (spec §7.2). */
#define PZ_EVREC_EXPOSURE_DATA_VALUE 0.0000001

typedef struct pz_experiment_record {
    bool conversion; /* else an exposure */
    const char *ns;
    const char *recommender;
    const char *action;
    const char *feature;
    const char *method;
    const char *variation; /* may be NULL (a conversion for a recommender without variations) */
    const char *control;
    const char *user_id;
    const char *metric;                    /* NULL: an exposure that only counts the user */
    const char *entity_id_key, *value_key; /* the metric's; NULL without a metric */
    double value;                          /* conversions */
    int64_t at_ms;
} pz_experiment_record;

/* Renders an experiment record with n_targets target slots, like pz_evrec_render. */
int pz_evrec_render_experiment(const pz_experiment_record *x, size_t n_targets, pz_arena *arena, uint8_t **out,
                               size_t *len, char *err, size_t errlen);

/* Decodes the header of a stored record. Returns 0, or -1 when the bytes are not a record. */
int pz_evrec_decode(const void *data, size_t len, pz_evrec_view *v);

/* Target number i of a decoded record / of record bytes in place. */
uint32_t pz_evrec_target(const pz_evrec_view *v, size_t i);
void pz_evrec_set_target(uint8_t *record, size_t i, uint32_t number);
/* True when the record must reach target `number`. */
bool pz_evrec_has_target(const pz_evrec_view *v, uint32_t number);

/* A copy of the record (malloc'ed, caller frees) whose target list is exactly {number}: how a
 * dead letter is replayed to the one target that rejected it. NULL when `data` is not a record. */
uint8_t *pz_evrec_retarget(const void *data, size_t len, uint32_t number, size_t *out_len);

/* What a model learns from an envelope (parsed JSON, as targets and the Kafka event log read it):
 * the interactions of root.body.eventList, appended to *evs (grown as needed; *cap is its
 * capacity), each with `seq`. Strings point into root: valid while root is. Returns how many were
 * appended. One mapping for every learner source (the builtin target, the event log). */
size_t pz_evrec_interactions(json_t *root, uint64_t seq, int64_t now_ms, pz_interaction **evs, size_t *n, size_t *cap);

/* The counted form of an experiment record (root: its parsed envelope), with `seq`; strings point
 * into root. False when the envelope is not an experiment record. One reading for every counting
 * source (the experiments target, the event log). */
bool pz_evrec_experiment_event(json_t *root, uint64_t seq, pz_experiment_event *out);

/* Fills buf with 32 random hex characters: the partition key of a call with neither sessionId
 * nor userId (spec §14 #18). */
void pz_evrec_random_key(char buf[33]);

/* A JSON number (shortest round-trip form; integers without a fraction) for the targets; strings
 * use pz_json_write_string (server/core/json_text.h). Returns pz_buf_append's result (-1 when the
 * buffer's cap is reached). */
int pz_json_number(pz_buf *b, double d);

#endif
