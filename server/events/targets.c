/* Event target adapters (targets.h): dispatch by type, and the local targets (http webhook, file,
 * builtin). The AWS targets are in target_aws.c. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/log.h"
#include "server/events/targets.h"
#include "server/events/targets_internal.h"

static pz_delivery_limits limits_for(pz_event_target_type type)
{
    switch (type) {
    case PZ_TARGET_PERSONALIZE_EVENT_TRACKER:
        return (pz_delivery_limits){.max_records = PZ_PERSONALIZE_MAX_EVENTS,
                                    .max_bytes = SIZE_MAX,
                                    .max_record_bytes = PZ_EVREC_MAX_BYTES,
                                    .max_events = PZ_PERSONALIZE_MAX_EVENTS,
                                    .atomic = true,
                                    .one_group = true};
    case PZ_TARGET_KINESIS_STREAM:
        return (pz_delivery_limits){.max_records = PZ_KINESIS_MAX_RECORDS,
                                    .max_bytes = PZ_KINESIS_MAX_BYTES,
                                    .max_record_bytes = PZ_KINESIS_MAX_RECORD_BYTES};
    case PZ_TARGET_KINESIS_FIREHOSE:
        return (pz_delivery_limits){.max_records = PZ_FIREHOSE_MAX_RECORDS,
                                    .max_bytes = PZ_FIREHOSE_MAX_BYTES,
                                    .max_record_bytes = PZ_FIREHOSE_MAX_RECORD_BYTES};
    case PZ_TARGET_HTTP:
        return (pz_delivery_limits){.max_records = PZ_WEBHOOK_MAX_RECORDS,
                                    .max_bytes = PZ_WEBHOOK_MAX_BYTES,
                                    .max_record_bytes = PZ_WEBHOOK_MAX_BYTES,
                                    .atomic = true};
    case PZ_TARGET_FILE:
        return (pz_delivery_limits){.max_records = PZ_WEBHOOK_MAX_RECORDS,
                                    .max_bytes = PZ_WEBHOOK_MAX_BYTES,
                                    .max_record_bytes = SIZE_MAX,
                                    .atomic = true};
    case PZ_TARGET_KAFKA: /* not atomic: a call holds one record per key, so retries keep key order */
        return (pz_delivery_limits){.max_records = PZ_KAFKA_MAX_RECORDS,
                                    .max_bytes = PZ_KAFKA_MAX_BYTES,
                                    .max_record_bytes = PZ_KAFKA_MAX_RECORD_BYTES};
    case PZ_TARGET_BUILTIN:
        return (pz_delivery_limits){.max_records = PZ_BUILTIN_TARGET_MAX_RECORDS,
                                    .max_bytes = SIZE_MAX,
                                    .max_record_bytes = SIZE_MAX,
                                    .atomic = true};
    case PZ_TARGET_EXPERIMENTS:
        return (pz_delivery_limits){.max_records = PZ_EXPERIMENTS_TARGET_MAX_RECORDS,
                                    .max_bytes = SIZE_MAX,
                                    .max_record_bytes = SIZE_MAX,
                                    .atomic = true};
    }
    return (pz_delivery_limits){.max_records = 1, .max_bytes = SIZE_MAX, .max_record_bytes = SIZE_MAX};
}

pz_target *pz_target_create(pz_target_spec *spec, const pz_target_env *env)
{
    pz_target *t = pz_calloc(1, sizeof *t);
    t->spec = *spec;
    memset(spec, 0, sizeof *spec);
    t->env = *env;
    t->limits = limits_for(t->spec.type);
    switch (t->spec.type) {
    case PZ_TARGET_FILE: t->file = pz_file_sink_create(t->spec.path, PZ_FILE_SINK_MAX_BYTES, PZ_FILE_SINK_KEEP); break;
    case PZ_TARGET_HTTP:
        t->header_lines = pz_calloc(t->spec.n_headers + 2, sizeof(char *));
        for (size_t i = 0; i < t->spec.n_headers; i++) {
            size_t len = strlen(t->spec.header_names[i]) + strlen(t->spec.header_values[i]) + 3;
            t->header_lines[i] = pz_malloc(len);
            snprintf(t->header_lines[i], len, "%s: %s", t->spec.header_names[i], t->spec.header_values[i]);
        }
        t->header_lines[t->spec.n_headers] = pz_strdup("Content-Type: application/json");
        t->http = pz_blocking_create();
        break;
    case PZ_TARGET_KAFKA: t->kafka = pz_kafka_producer_create(&t->spec, t->env.timeout_ms); break;
    case PZ_TARGET_BUILTIN:
    case PZ_TARGET_EXPERIMENTS: break;
    default: t->http = pz_blocking_create(); break;
    }
    return t;
}

void pz_target_destroy(pz_target *t)
{
    if (t == NULL)
        return;
    pz_blocking_destroy(t->http);
    pz_file_sink_destroy(t->file);
    pz_kafka_producer_destroy(t->kafka);
    for (size_t i = 0; t->header_lines != NULL && t->header_lines[i] != NULL; i++)
        free(t->header_lines[i]);
    free(t->header_lines);
    pz_target_spec_free(&t->spec);
    free(t);
}

void pz_target_cancel(pz_target *t)
{
    if (t->http != NULL)
        pz_blocking_cancel(t->http);
    if (t->kafka != NULL)
        pz_kafka_producer_cancel(t->kafka);
}

void pz_target_set_stream(pz_target *t, const char *stream)
{
    t->stream = stream;
}

const pz_target_spec *pz_target_get_spec(const pz_target *t)
{
    return &t->spec;
}

const pz_delivery_limits *pz_target_limits(const pz_target *t)
{
    return &t->limits;
}

bool pz_target_wants(const pz_target *t, const pz_evrec_view *v)
{
    /* Upstream builds the tracker call only when eventList is non-empty (spec §8.2); the builtin
     * recommender learns from events only. */
    if (t->spec.type == PZ_TARGET_PERSONALIZE_EVENT_TRACKER || t->spec.type == PZ_TARGET_BUILTIN)
        return v->n_events > 0;
    if (t->spec.type == PZ_TARGET_EXPERIMENTS)
        return v->experiment;
    return true;
}

void pz_target_prepare(const pz_target *t, pz_delivery_entry *e)
{
    const pz_evrec_view *v = &e->view;
    switch (t->spec.type) {
    case PZ_TARGET_PERSONALIZE_EVENT_TRACKER: {
        e->key_hash = pz_delivery_hash(v->session, v->session_len, 1);
        e->group_hash = pz_delivery_hash(v->user, v->user_len, e->key_hash);
        e->cost = v->json_len;
        break;
    }
    case PZ_TARGET_KINESIS_STREAM:
    case PZ_TARGET_KAFKA: /* the same key orders both */
        e->key_hash = pz_delivery_hash(v->partition_key, v->partition_key_len, 2);
        e->cost = v->json_len + v->partition_key_len;
        break;
    case PZ_TARGET_KINESIS_FIREHOSE:
        e->key_hash = 0; /* Firehose has no ordering key */
        e->cost = v->json_len + 1;
        break;
    case PZ_TARGET_EXPERIMENTS:
        /* One key for all: the store applies a namespace's records in seq order, at most once. */
        e->key_hash = 1;
        e->cost = v->json_len;
        break;
    default:
        e->key_hash = pz_delivery_hash(v->partition_key, v->partition_key_len, 3);
        e->cost = v->json_len + 1;
        break;
    }
}

static void all(pz_outcome *out, size_t n, pz_outcome_kind kind, const char *reason)
{
    for (size_t i = 0; i < n; i++) {
        out[i].kind = kind;
        out[i].call_level = true;
        pz_reason_printf(out[i].reason, sizeof out[i].reason, "%s", reason);
    }
}

/* ---- http webhook ---- */

int pz_webhook_body(pz_delivery_entry *const *batch, size_t n, pz_buf *out)
{
    int rc = pz_buf_append_str(out, "{\"records\":[");
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i > 0)
            rc |= pz_buf_append_char(out, ',');
        rc |= pz_buf_append(out, batch[i]->view.json, batch[i]->view.json_len);
    }
    return rc | pz_buf_append_str(out, "]}");
}

static void send_webhook(pz_target *t, pz_delivery_entry *const *batch, size_t n, pz_outcome *out)
{
    pz_buf body;
    pz_buf_init(&body, PZ_WEBHOOK_MAX_BYTES + 64);
    if (pz_webhook_body(batch, n, &body) != 0) {
        all(out, n, PZ_OUTCOME_REJECT, "the records do not fit one webhook call");
        pz_buf_free(&body);
        return;
    }
    pz_blocking_request req = {.url = t->spec.url,
                               .headers = (const char *const *)t->header_lines,
                               .body = body.data,
                               .body_len = body.len,
                               .timeout_ms = t->env.timeout_ms};
    pz_blocking_response resp;
    char reason[PZ_DELIVERY_MAX_REASON];
    if (pz_blocking_post(t->http, &req, &resp) != 0) {
        all(out, n, PZ_OUTCOME_RETRY, resp.error);
    } else if (resp.status >= 200 && resp.status < 300) {
        all(out, n, PZ_OUTCOME_OK, "");
    } else {
        long s = resp.status;
        bool permanent = s == 400 || s == 413 || s == 415 || s == 422;
        pz_reason_printf(reason, sizeof reason, "HTTP %ld: %.180s", s, resp.body.data ? resp.body.data : "");
        all(out, n, permanent ? PZ_OUTCOME_REJECT : PZ_OUTCOME_RETRY, reason);
    }
    pz_blocking_response_free(&resp);
    pz_buf_free(&body);
}

/* ---- file ---- */

static void send_file(pz_target *t, pz_delivery_entry *const *batch, size_t n, pz_outcome *out)
{
    struct iovec *iov = pz_calloc(2 * n, sizeof *iov);
    static char newline[] = "\n";
    for (size_t i = 0; i < n; i++) {
        iov[2 * i].iov_base = (void *)batch[i]->view.json;
        iov[2 * i].iov_len = batch[i]->view.json_len;
        iov[2 * i + 1].iov_base = newline;
        iov[2 * i + 1].iov_len = 1;
    }
    char err[PZ_DELIVERY_MAX_REASON];
    if (pz_file_sink_write(t->file, iov, (int)(2 * n), err, sizeof err) == 0)
        all(out, n, PZ_OUTCOME_OK, "");
    else
        all(out, n, PZ_OUTCOME_RETRY, err);
    free(iov);
}

/* ---- builtin ---- */

static void send_builtin(pz_target *t, pz_delivery_entry *const *batch, size_t n, pz_outcome *out)
{
    json_t **bodies = pz_calloc(n, sizeof *bodies);
    pz_interaction *evs = NULL;
    size_t k = 0, cap = 0;
    int64_t now_ms = pz_now_ms();
    for (size_t i = 0; i < n; i++) {
        bodies[i] = json_loadb(batch[i]->view.json, batch[i]->view.json_len, 0, NULL);
        pz_evrec_interactions(bodies[i], batch[i]->seq, now_ms, &evs, &k, &cap);
    }
    char err[PZ_DELIVERY_MAX_REASON] = "";
    if (t->env.learner.learn == NULL)
        all(out, n, PZ_OUTCOME_RETRY, "no builtin recommender");
    else if (k == 0 || t->env.learner.learn(t->env.learner.self, t->spec.ns, t->stream, evs, k, err, sizeof err) == 0)
        all(out, n, PZ_OUTCOME_OK, "");
    else
        all(out, n, PZ_OUTCOME_RETRY, err);
    free(evs);
    for (size_t i = 0; i < n; i++)
        json_decref(bodies[i]);
    free(bodies);
}

/* ---- experiments: the experiment store's counts ---- */

static void send_experiments(pz_target *t, pz_delivery_entry *const *batch, size_t n, pz_outcome *out)
{
    if (t->env.experiments.apply == NULL) {
        all(out, n, PZ_OUTCOME_RETRY, "no experiment store");
        return;
    }
    json_t **roots = pz_calloc(n, sizeof *roots);
    pz_experiment_event *evs = pz_calloc(n, sizeof *evs);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        roots[i] = json_loadb(batch[i]->view.json, batch[i]->view.json_len, 0, NULL);
        if (pz_evrec_experiment_event(roots[i], batch[i]->seq, &evs[k]))
            k++; /* a record that is not one counts as applied: nothing in it can be counted */
    }
    char err[PZ_DELIVERY_MAX_REASON] = "";
    if (k == 0 || t->env.experiments.apply(t->env.experiments.self, t->spec.ns, NULL, evs, k, err, sizeof err) == 0)
        all(out, n, PZ_OUTCOME_OK, "");
    else
        all(out, n, PZ_OUTCOME_RETRY, err);
    for (size_t i = 0; i < n; i++)
        json_decref(roots[i]);
    free(roots);
    free(evs);
}

void pz_target_send(pz_target *t, pz_delivery_entry *const *batch, size_t n, pz_outcome *out)
{
    switch (t->spec.type) {
    case PZ_TARGET_HTTP: send_webhook(t, batch, n, out); break;
    case PZ_TARGET_FILE: send_file(t, batch, n, out); break;
    case PZ_TARGET_BUILTIN: send_builtin(t, batch, n, out); break;
    case PZ_TARGET_EXPERIMENTS: send_experiments(t, batch, n, out); break;
    case PZ_TARGET_KAFKA: pz_kafka_producer_send(t->kafka, batch, n, out); break;
    default: pz_target_send_aws(t, batch, n, out); break;
    }
}
