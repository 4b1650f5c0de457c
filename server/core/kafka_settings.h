/* Kafka connection settings (issue 18): one table of the keys a `kafka` event target and a
 * namespace's `eventLog` take in the configuration, the librdkafka property each one sets, and
 * which ones are secrets (hidden wherever a spec is shown). The configuration reads the keys
 * (config_kafka.c), the outbox stores them in a target's spec (server/events/target_spec.c) and
 * the Kafka client turns them into librdkafka properties (server/events/kafka_client.c): all
 * three walk this table, so a new option is one row. Pure; any thread.
 */
#ifndef PZ_KAFKA_SETTINGS_H
#define PZ_KAFKA_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

typedef enum pz_kafka_field {
    PZ_KAFKA_BROKERS,           /* "host:port,host:port": bootstrap servers (required) */
    PZ_KAFKA_TOPIC,             /* required */
    PZ_KAFKA_SECURITY_PROTOCOL, /* plaintext (default), ssl, sasl_plaintext, sasl_ssl */
    PZ_KAFKA_SASL_MECHANISM,    /* PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 */
    PZ_KAFKA_SASL_USERNAME,
    PZ_KAFKA_SASL_PASSWORD,
    PZ_KAFKA_SSL_CA_LOCATION,          /* CA bundle (PEM) that signs the brokers' certificates */
    PZ_KAFKA_SSL_CERTIFICATE_LOCATION, /* client certificate (mutual TLS) */
    PZ_KAFKA_SSL_KEY_LOCATION,
    PZ_KAFKA_SSL_KEY_PASSWORD,
    PZ_KAFKA__COUNT
} pz_kafka_field;

/* NULL fields are absent (librdkafka's default applies). */
typedef struct pz_kafka_settings {
    const char *v[PZ_KAFKA__COUNT];
} pz_kafka_settings;

typedef struct pz_kafka_field_info {
    const char *key;      /* the configuration / spec JSON key */
    const char *property; /* the librdkafka property; NULL for the topic (not a client property) */
    bool secret;          /* hidden when shown */
    bool sasl;            /* only meaningful with a sasl_* protocol */
    bool ssl;             /* only meaningful with ssl or sasl_ssl */
} pz_kafka_field_info;

const pz_kafka_field_info *pz_kafka_field_at(pz_kafka_field f);

/* Kafka's topic name rule: 1-249 of [a-zA-Z0-9._-], not "." or "..". */
bool pz_kafka_topic_valid(const char *topic);
/* A broker list: comma-separated host:port entries (port 1-65535), no spaces, at least one. */
bool pz_kafka_brokers_valid(const char *brokers);

#endif
