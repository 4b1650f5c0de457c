/* The kafka event target (target_kafka.h). */
#include "server/events/target_kafka.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/log.h"
#include "server/core/mem.h"
#include "server/events/kafka_client.h"

#define DEFAULT_TIMEOUT_MS 10000
#define POLL_MS 50

struct pz_kafka_producer {
    const pz_target_spec *spec;
    long timeout_ms;
    rd_kafka_t *rk; /* NULL when librdkafka refused the configuration */
    char error[PZ_DELIVERY_MAX_REASON];
    atomic_bool cancelled;
};

/* The outcomes of one call, filled by the delivery reports. */
typedef struct call {
    pz_outcome *out;
    size_t pending;
} call;

typedef struct slot {
    call *c;
    size_t i;
} slot;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    slot *s = m->_private;
    pz_outcome *o = &s->c->out[s->i];
    o->kind = pz_kafka_outcome(m->err);
    o->call_level = false;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
        pz_reason_printf(o->reason, sizeof o->reason, "kafka: %s", rd_kafka_err2str(m->err));
    else
        o->reason[0] = '\0';
    s->c->pending--;
}

static const struct {
    const char *name, *value;
} PRODUCER[] = {
    {"enable.idempotence", "true"}, /* no duplicates or reordering from the producer's retries */
    {"acks", "all"},
    {"linger.ms", PZ_KAFKA_LINGER_MS},
    {"partitioner", "murmur2_random"}, /* the Java clients' partitioner: same key, same partition */
    {"compression.type", "lz4"},
};

static void open_producer(pz_kafka_producer *p)
{
    char err[256] = "";
    rd_kafka_conf_t *conf = pz_kafka_conf_new((const char *const *)p->spec->kafka, err, sizeof err);
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%ld", p->timeout_ms);
    for (size_t i = 0; conf != NULL && i <= sizeof PRODUCER / sizeof PRODUCER[0]; i++) {
        const char *name = i < sizeof PRODUCER / sizeof PRODUCER[0] ? PRODUCER[i].name : "message.timeout.ms";
        const char *value = i < sizeof PRODUCER / sizeof PRODUCER[0] ? PRODUCER[i].value : timeout;
        if (rd_kafka_conf_set(conf, name, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            conf = NULL;
        }
    }
    if (conf != NULL) {
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err); /* takes conf on success */
        if (p->rk == NULL)
            rd_kafka_conf_destroy(conf);
    }
    if (p->rk == NULL) {
        pz_reason_printf(p->error, sizeof p->error, "kafka producer: %s", err);
        pz_warn("event target %s: %s", p->spec->id, p->error);
    }
}

pz_kafka_producer *pz_kafka_producer_create(const pz_target_spec *spec, long timeout_ms)
{
    pz_kafka_producer *p = pz_calloc(1, sizeof *p);
    p->spec = spec;
    p->timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
    open_producer(p);
    return p;
}

static void close_producer(pz_kafka_producer *p)
{
    if (p->rk == NULL)
        return;
    /* Nothing is in flight between calls (a call waits for every report); purge is for safety. */
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(p->rk);
    p->rk = NULL;
}

void pz_kafka_producer_destroy(pz_kafka_producer *p)
{
    if (p == NULL)
        return;
    close_producer(p);
    free(p);
}

void pz_kafka_producer_cancel(pz_kafka_producer *p)
{
    atomic_store(&p->cancelled, true);
}

static void fail_all(pz_outcome *out, size_t n, const char *reason)
{
    for (size_t i = 0; i < n; i++) {
        out[i].kind = PZ_OUTCOME_RETRY;
        out[i].call_level = true;
        pz_reason_printf(out[i].reason, sizeof out[i].reason, "%s", reason);
    }
}

void pz_kafka_producer_send(pz_kafka_producer *p, pz_delivery_entry *const *batch, size_t n, pz_outcome *out)
{
    if (p->rk != NULL) {
        char why[256];
        rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(p->rk, why, sizeof why);
        if (fatal != RD_KAFKA_RESP_ERR_NO_ERROR) { /* an idempotent producer cannot go on: a new one */
            pz_warn("event target %s: kafka producer failed (%s): starting a new one", p->spec->id, why);
            close_producer(p);
            open_producer(p);
        }
    }
    if (p->rk == NULL || atomic_load(&p->cancelled)) {
        fail_all(out, n, p->rk == NULL ? p->error : "cancelled");
        return;
    }
    call c = {.out = out};
    slot *slots = pz_calloc(n, sizeof *slots);
    const char *origin = pz_kafka_origin();
    for (size_t i = 0; i < n; i++) {
        const pz_evrec_view *v = &batch[i]->view;
        slots[i] = (slot){.c = &c, .i = i};
        rd_kafka_resp_err_t err;
        if (origin[0] != '\0')
            err = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(p->spec->kafka[PZ_KAFKA_TOPIC]),
                                    RD_KAFKA_V_KEY(v->partition_key, v->partition_key_len),
                                    RD_KAFKA_V_VALUE((void *)v->json, v->json_len),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                    RD_KAFKA_V_HEADER(PZ_KAFKA_ORIGIN_HEADER, origin, (ssize_t)strlen(origin)),
                                    RD_KAFKA_V_OPAQUE(&slots[i]), RD_KAFKA_V_END);
        else
            err = rd_kafka_producev(
                p->rk, RD_KAFKA_V_TOPIC(p->spec->kafka[PZ_KAFKA_TOPIC]),
                RD_KAFKA_V_KEY(v->partition_key, v->partition_key_len), RD_KAFKA_V_VALUE((void *)v->json, v->json_len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&slots[i]), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            c.pending++;
        } else {
            out[i].kind = pz_kafka_outcome(err);
            out[i].call_level = false;
            pz_reason_printf(out[i].reason, sizeof out[i].reason, "kafka: %s", rd_kafka_err2str(err));
        }
    }
    /* Every produced message gets exactly one report, at the latest message.timeout.ms later:
     * the loop ends, and no report can arrive after the slots are freed. */
    bool purged = false;
    while (c.pending > 0) {
        rd_kafka_poll(p->rk, POLL_MS);
        if (!purged && atomic_load(&p->cancelled)) {
            rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            purged = true;
        }
    }
    free(slots);
    /* Nothing acknowledged and nothing refused: the cluster is unreachable, pause the target. */
    bool all_retry = true;
    for (size_t i = 0; i < n && all_retry; i++)
        all_retry = out[i].kind == PZ_OUTCOME_RETRY;
    for (size_t i = 0; i < n && all_retry; i++)
        out[i].call_level = true;
}
