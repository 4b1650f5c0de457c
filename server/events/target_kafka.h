/* The kafka event target (targets.h): each record produced to the spec's topic with
 *   key   = the record's partition key (sessionId -> userId -> random, as Kinesis),
 *   value = the upstream envelope,
 *   header pz-origin = this instance's origin id (kafka_client.h), when set,
 * by an idempotent librdkafka producer with acks=all (no duplicates or reordering from the
 * producer's own retries), partitioned by murmur2 of the key as Kafka's Java clients do. A call
 * returns once every record of it has its delivery report: a record counts as delivered only
 * when the broker acknowledged it, so the target's cursor never passes an unacknowledged one.
 * A record the broker refuses as invalid or too large is rejected (then a dead letter); every
 * other failure is retried; when every record of a call failed retryably (brokers down, message
 * timeout) the failure is the call's, which pauses the target with backoff.
 *
 * Belongs to its target's worker thread; pz_kafka_producer_cancel may be called from any thread.
 */
#ifndef PZ_TARGET_KAFKA_H
#define PZ_TARGET_KAFKA_H

#include <stddef.h>

#include "server/events/delivery.h"
#include "server/events/target_spec.h"

/* Records per call, and the most bytes of a call's values and keys. */
#define PZ_KAFKA_MAX_RECORDS 1000
#define PZ_KAFKA_MAX_BYTES (16u << 20)
/* A Kafka broker's default message.max.bytes (1 MB with the batch overhead): a larger record
 * would be refused, so it is dead-lettered without being sent. */
#define PZ_KAFKA_MAX_RECORD_BYTES 1000000u
/* How long the producer waits to fill a batch: the latency a call adds. */
#define PZ_KAFKA_LINGER_MS "5"

typedef struct pz_kafka_producer pz_kafka_producer;

/* A producer for spec (borrowed: it must outlive the producer). timeout_ms bounds a call (librdkafka's
 * message.timeout.ms); 0 = 10 s. Never NULL: a configuration librdkafka refuses fails every
 * call (retried) with its reason. */
pz_kafka_producer *pz_kafka_producer_create(const pz_target_spec *spec, long timeout_ms);
void pz_kafka_producer_destroy(pz_kafka_producer *p);
void pz_kafka_producer_cancel(pz_kafka_producer *p);
void pz_kafka_producer_send(pz_kafka_producer *p, pz_delivery_entry *const *batch, size_t n, pz_outcome *out);

#endif
