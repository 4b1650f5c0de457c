/* Event target adapters: how a batch of outbox records becomes calls to one target, and how the
 * target's answer becomes one outcome per record (delivery.h).
 *
 *   personalize-event-tracker  POST {endpoint}/events (rest-json, SigV4 "personalize"): the body
 *                              with `trackingId`, without experimentConversions; consecutive
 *                              records of one session and user merged, at most 10 events and one
 *                              session per call; records with no events are skipped.
 *   kinesis-stream             PutRecords (X-Amz-Target Kinesis_20131202.PutRecords): the envelope
 *                              as Data, PartitionKey sessionId -> userId -> random; at most 500
 *                              records and 5 MiB per call, one record per partition key per call;
 *                              FailedRecordCount / per-record ErrorCode retried per record.
 *   kinesis-firehose           PutRecordBatch (Firehose_20150804.PutRecordBatch): the envelope plus
 *                              "\n" as Data; at most 500 records and 4 MiB per call;
 *                              FailedPutCount / RequestResponses retried per record.
 *   http                       POST url, {"records": [envelope, ...]} with the configured headers;
 *                              at most 500 records and 4 MiB per call, all-or-nothing.
 *   file                       JSON Lines of envelopes appended to `path`, fdatasync'ed per call,
 *                              rotated by size (file_sink.h).
 *   kafka                      each record produced to a topic, key = the Kinesis partition key,
 *                              value = the envelope, acknowledged by every in-sync replica
 *                              (target_kafka.h).
 *   builtin                    the events applied to the embedded recommender.
 *   experiments                (never configured) experiment records applied to the experiment
 *                              store (server/core/experiment_store.h), in seq order, at most 2000
 *                              per call; other records are not its business.
 *
 * Answers: 2xx is delivered; throttling, 5xx, timeouts, connection errors, missing credentials,
 * authorization and missing-resource errors are retried (an operator can fix them); a
 * validation error (HTTP 400 ValidationException, InvalidArgumentException,
 * InvalidInputException, SerializationException; 413; webhook 400/413/415/422) is permanent.
 * AWS answers are read by the classifier shared with the recommenders
 * (server/upstream/aws_errors.h, pz_target_aws_outcome below).
 *
 * A target adapter belongs to its worker thread.
 */
#ifndef PZ_EVENT_TARGETS_H
#define PZ_EVENT_TARGETS_H

#include <stdbool.h>
#include <stddef.h>

#include "server/events/delivery.h"
#include "server/events/target_spec.h"
#include "server/core/experiment_store.h"
#include "server/core/learner.h"
#include "server/upstream/aws.h"
#include "server/upstream/aws_errors.h"

/* Target API limits (per call). */
#define PZ_PERSONALIZE_MAX_EVENTS 10
#define PZ_KINESIS_MAX_RECORDS 500
#define PZ_KINESIS_MAX_BYTES (5u << 20)
#define PZ_KINESIS_MAX_RECORD_BYTES (1u << 20)
#define PZ_FIREHOSE_MAX_RECORDS 500
#define PZ_FIREHOSE_MAX_BYTES (4u << 20)
#define PZ_FIREHOSE_MAX_RECORD_BYTES (1000u * 1024)
#define PZ_WEBHOOK_MAX_RECORDS 500
#define PZ_WEBHOOK_MAX_BYTES (4u << 20)
#define PZ_BUILTIN_TARGET_MAX_RECORDS 500
/* A call is one LMDB commit (an fsync): as many records as the delivery window holds. */
#define PZ_EXPERIMENTS_TARGET_MAX_RECORDS PZ_DELIVERY_WINDOW_RECORDS

typedef struct pz_target pz_target;

typedef struct pz_target_env {
    pz_aws *aws;                     /* AWS targets; NULL fails their calls (retried) */
    pz_learner learner;              /* builtin targets; zeroed = none (their records are retried) */
    pz_experiment_store experiments; /* the experiments target; zeroed = none (retried) */
    long timeout_ms;                 /* per call; 0 = default */
} pz_target_env;

/* Creates the adapter for a spec, which it takes over (*spec is zeroed). Never NULL. */
pz_target *pz_target_create(pz_target_spec *spec, const pz_target_env *env);
const pz_target_spec *pz_target_get_spec(const pz_target *t);
void pz_target_destroy(pz_target *t);
/* Makes the current and later calls fail fast (any thread). */
void pz_target_cancel(pz_target *t);
/* Builtin targets: the learner stream their events are applied under (server/core/learner.h), each
 * event numbered with its record's seq. Not copied: it must outlive the target. */
void pz_target_set_stream(pz_target *t, const char *stream);

const pz_delivery_limits *pz_target_limits(const pz_target *t);
/* False for records the target has nothing to do with (Personalize: no events): they count as
 * delivered without a call. */
bool pz_target_wants(const pz_target *t, const pz_evrec_view *v);
/* Sets the entry's ordering key, group and cost for this target. */
void pz_target_prepare(const pz_target *t, pz_delivery_entry *e);
/* Delivers batch[0..n) (one call, or one write), writing one outcome per record. */
void pz_target_send(pz_target *t, pz_delivery_entry *const *batch, size_t n, pz_outcome *out);

/* ---- pure pieces, exposed for tests ---- */

/* What the class of an AWS answer (server/upstream/aws_errors.h) means for the records of the call:
 * NONE is delivered, PERMANENT rejected (re-sent alone, then a dead letter), every other class
 * retried: THROTTLING and RETRYABLE by definition, CALLER because an AWS target's call carries only
 * records the server already accepted and names from the configuration (a missing stream is the
 * operator's to create). */
pz_outcome_kind pz_target_aws_outcome(pz_aws_error_class cls);

/* Request bodies, appended to out (capped buffer). Return 0, or -1 when out's cap is reached or a
 * record's envelope is not valid JSON. */
int pz_personalize_body(const char *tracking_id, pz_delivery_entry *const *batch, size_t n, pz_buf *out);
int pz_kinesis_body(const char *stream, pz_delivery_entry *const *batch, size_t n, pz_buf *out);
int pz_firehose_body(const char *stream, pz_delivery_entry *const *batch, size_t n, pz_buf *out);
int pz_webhook_body(pz_delivery_entry *const *batch, size_t n, pz_buf *out);

/* Per-record results of a 200 PutRecords / PutRecordBatch answer: OK, or RETRY with the record's
 * ErrorCode and ErrorMessage. An answer that does not list exactly n results retries every
 * record. `records_key` is "Records" (Kinesis) or "RequestResponses" (Firehose). */
void pz_batch_results(const char *body, size_t len, const char *records_key, size_t n, pz_outcome *out);

#endif
