/* Kafka connection settings (kafka_settings.h). */
#include "server/core/kafka_settings.h"

#include <stdlib.h>
#include <string.h>

static const pz_kafka_field_info FIELDS[PZ_KAFKA__COUNT] = {
    [PZ_KAFKA_BROKERS] = {"brokers", "bootstrap.servers", false, false, false},
    [PZ_KAFKA_TOPIC] = {"topic", NULL, false, false, false},
    [PZ_KAFKA_SECURITY_PROTOCOL] = {"securityProtocol", "security.protocol", false, false, false},
    [PZ_KAFKA_SASL_MECHANISM] = {"saslMechanism", "sasl.mechanism", false, true, false},
    [PZ_KAFKA_SASL_USERNAME] = {"saslUsername", "sasl.username", false, true, false},
    [PZ_KAFKA_SASL_PASSWORD] = {"saslPassword", "sasl.password", true, true, false},
    [PZ_KAFKA_SSL_CA_LOCATION] = {"sslCaLocation", "ssl.ca.location", false, false, true},
    [PZ_KAFKA_SSL_CERTIFICATE_LOCATION] = {"sslCertificateLocation", "ssl.certificate.location", false, false, true},
    [PZ_KAFKA_SSL_KEY_LOCATION] = {"sslKeyLocation", "ssl.key.location", false, false, true},
    [PZ_KAFKA_SSL_KEY_PASSWORD] = {"sslKeyPassword", "ssl.key.password", true, false, true},
};

const pz_kafka_field_info *pz_kafka_field_at(pz_kafka_field f)
{
    return &FIELDS[f];
}

#define TOPIC_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
#define PZ_KAFKA_TOPIC_MAX 249

bool pz_kafka_topic_valid(const char *topic)
{
    size_t n = strlen(topic);
    return n > 0 && n <= PZ_KAFKA_TOPIC_MAX && strspn(topic, TOPIC_CHARS) == n && strcmp(topic, ".") != 0 &&
           strcmp(topic, "..") != 0;
}

static bool broker_valid(const char *s, size_t len)
{
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ':')
            colon = s + i;
    }
    if (colon == NULL || colon == s || (size_t)(colon - s) + 1 >= len)
        return false;
    size_t host_len = (size_t)(colon - s), port_len = len - host_len - 1;
    if (port_len > 5 || strspn(colon + 1, "0123456789") < port_len)
        return false;
    long port = strtol(colon + 1, NULL, 10);
    if (port < 1 || port > 65535)
        return false;
    /* Host names, IPv4 and bracketed IPv6 literals. */
    for (size_t i = 0; i < host_len; i++) {
        if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_[]:", s[i]) == NULL)
            return false;
    }
    return true;
}

bool pz_kafka_brokers_valid(const char *brokers)
{
    if (brokers[0] == '\0')
        return false;
    const char *p = brokers;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (!broker_valid(p, len))
            return false;
        if (comma == NULL)
            return true;
        p = comma + 1;
    }
}
