/* Kafka client pieces shared by the kafka event target (target_kafka.c) and the namespace event
 * log consumer (event_log.h), on librdkafka:
 *   - the client configuration from a target's or event log's settings (server/core/
 *     kafka_settings.h: brokers and the TLS / SASL options, one table);
 *   - how a librdkafka error maps to a delivery outcome (one table of the permanent ones);
 *   - this process's origin id, carried in a header of every message it produces so that the
 *     event log consumer of the same instance knows which events it already applied locally.
 * Thread-safe except pz_kafka_set_origin (call it once before any producer starts).
 */
#ifndef PZ_KAFKA_CLIENT_H
#define PZ_KAFKA_CLIENT_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "server/core/kafka_settings.h"
#include "server/events/delivery.h"

/* The message header that names the instance that accepted the event. */
#define PZ_KAFKA_ORIGIN_HEADER "pz-origin"
#define PZ_KAFKA_ORIGIN_MAX 64

/* A new librdkafka configuration with bootstrap.servers and the security options set from
 * settings[0..PZ_KAFKA__COUNT) (NULL entries absent), librdkafka's logs routed to ours. Returns
 * NULL with err when librdkafka refuses a value (e.g. a TLS option it was built without). */
rd_kafka_conf_t *pz_kafka_conf_new(const char *const *settings, char *err, size_t errlen);

/* What a message's delivery error means for its record: REJECT for the errors a broker gives for
 * a record it will never accept as sent (invalid, corrupt or too large), RETRY for the rest
 * (broker down, timeouts, leadership changes, authorization and missing topics, which an operator
 * can fix). NO_ERROR is OK. */
pz_outcome_kind pz_kafka_outcome(rd_kafka_resp_err_t err);

/* Sets this instance's origin id (at most PZ_KAFKA_ORIGIN_MAX - 1 bytes; empty = none). */
void pz_kafka_set_origin(const char *origin);
/* "" until set. */
const char *pz_kafka_origin(void);

#endif
