/* Kafka client pieces (kafka_client.h). */
#include "server/events/kafka_client.h"

#include <stdio.h>
#include <string.h>

#include "server/core/log.h"

/* The errors that a resend cannot fix: the broker refuses the record as it is. */
static const rd_kafka_resp_err_t PERMANENT[] = {
    RD_KAFKA_RESP_ERR_INVALID_MSG,           RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
    RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, RD_KAFKA_RESP_ERR_INVALID_RECORD,
};

pz_outcome_kind pz_kafka_outcome(rd_kafka_resp_err_t err)
{
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return PZ_OUTCOME_OK;
    for (size_t i = 0; i < sizeof PERMANENT / sizeof PERMANENT[0]; i++) {
        if (PERMANENT[i] == err)
            return PZ_OUTCOME_REJECT;
    }
    return PZ_OUTCOME_RETRY;
}

static char origin[PZ_KAFKA_ORIGIN_MAX];

void pz_kafka_set_origin(const char *o)
{
    snprintf(origin, sizeof origin, "%s", o);
}

const char *pz_kafka_origin(void)
{
    return origin;
}

/* librdkafka's syslog levels to ours; its lines name the client instance. A broker that cannot be
 * reached is an error to librdkafka but routine to us (the records wait and the stats say so):
 * warnings, which librdkafka already de-duplicates. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    pz_log(level <= 4 ? PZ_LOG_WARN : PZ_LOG_DEBUG, "kafka %s %s: %s", rd_kafka_name(rk), fac, buf);
}

/* Error events repeat what the log callback said, except a fatal one (an idempotent producer that
 * cannot go on, which the target replaces). */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL)
        pz_warn("kafka %s: fatal: %s", rd_kafka_name(rk), reason);
}

rd_kafka_conf_t *pz_kafka_conf_new(const char *const *settings, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    for (int f = 0; f < PZ_KAFKA__COUNT; f++) {
        const pz_kafka_field_info *info = pz_kafka_field_at((pz_kafka_field)f);
        if (info->property == NULL || settings[f] == NULL)
            continue;
        char why[256];
        if (rd_kafka_conf_set(conf, info->property, settings[f], why, sizeof why) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "%s: %s", info->key, why);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    return conf;
}
