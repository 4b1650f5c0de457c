/* AWS event targets: Personalize event trackers, Kinesis Data Streams, Kinesis Data Firehose
 * (targets.h): request bodies, signed calls and answers. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/base64.h"
#include "server/events/targets.h"
#include "server/events/targets_internal.h"

/* ---- errors ---- */

pz_outcome_kind pz_target_aws_outcome(pz_aws_error_class cls)
{
    static const pz_outcome_kind OUTCOMES[PZ_AWS_ERROR_CLASS__COUNT] = {
        [PZ_AWS_ERROR_NONE] = PZ_OUTCOME_OK,          /* delivered */
        [PZ_AWS_ERROR_THROTTLING] = PZ_OUTCOME_RETRY, /* with backoff */
        [PZ_AWS_ERROR_RETRYABLE] = PZ_OUTCOME_RETRY,  /* the upstream or the credentials */
        [PZ_AWS_ERROR_PERMANENT] = PZ_OUTCOME_REJECT, /* re-sent alone, then a dead letter */
        [PZ_AWS_ERROR_CALLER] = PZ_OUTCOME_RETRY,     /* a stream or tracker to create: the operator's */
    };
    return cls < PZ_AWS_ERROR_CLASS__COUNT ? OUTCOMES[cls] : PZ_OUTCOME_RETRY;
}

/* ---- bodies ---- */

/* The envelope's "body" object of a record (a new reference), or NULL. */
static json_t *record_body(const pz_delivery_entry *e)
{
    json_t *env = json_loadb(e->view.json, e->view.json_len, 0, NULL);
    json_t *body = json_incref(json_object_get(env, "body"));
    json_decref(env);
    if (!json_is_object(body)) {
        json_decref(body);
        return NULL;
    }
    return body;
}

int pz_personalize_body(const char *tracking_id, pz_delivery_entry *const *batch, size_t n, pz_buf *out)
{
    json_t *doc = json_object();
    json_t *events = json_array();
    json_object_set_new(doc, "trackingId", json_string(tracking_id));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *body = record_body(batch[i]);
        if (body == NULL) {
            rc = -1;
            break;
        }
        if (i == 0) {
            json_t *s = json_object_get(body, "sessionId"), *u = json_object_get(body, "userId");
            if (s != NULL)
                json_object_set(doc, "sessionId", s);
            if (u != NULL)
                json_object_set(doc, "userId", u);
        }
        json_array_extend(events, json_object_get(body, "eventList"));
        json_decref(body);
    }
    json_object_set_new(doc, "eventList", events);
    if (rc == 0) {
        char *text = json_dumps(doc, JSON_COMPACT);
        rc = text != NULL ? pz_buf_append_str(out, text) : -1;
        free(text);
    }
    json_decref(doc);
    return rc;
}

static int data_records(const char *name_key, const char *stream, pz_delivery_entry *const *batch, size_t n,
                        bool with_key, bool newline, pz_buf *out)
{
    int rc = pz_buf_printf(out, "{\"%s\":", name_key);
    rc |= pz_json_write_string(out, stream, strlen(stream));
    rc |= pz_buf_append_str(out, ",\"Records\":[");
    for (size_t i = 0; i < n && rc == 0; i++) {
        const pz_evrec_view *v = &batch[i]->view;
        rc |= pz_buf_append_str(out, i ? ",{\"Data\":\"" : "{\"Data\":\"");
        if (newline) {
            /* The envelope plus "\n", encoded in one go (base64 of a concatenation). */
            char *line = pz_malloc(v->json_len + 1);
            memcpy(line, v->json, v->json_len);
            line[v->json_len] = '\n';
            rc |= pz_base64_append(out, line, v->json_len + 1);
            free(line);
        } else {
            rc |= pz_base64_append(out, v->json, v->json_len);
        }
        rc |= pz_buf_append_char(out, '"');
        if (with_key) {
            rc |= pz_buf_append_str(out, ",\"PartitionKey\":");
            rc |= pz_json_write_string(out, v->partition_key, v->partition_key_len);
        }
        rc |= pz_buf_append_char(out, '}');
    }
    return rc | pz_buf_append_str(out, "]}");
}

int pz_kinesis_body(const char *stream, pz_delivery_entry *const *batch, size_t n, pz_buf *out)
{
    return data_records("StreamName", stream, batch, n, true, false, out);
}

int pz_firehose_body(const char *stream, pz_delivery_entry *const *batch, size_t n, pz_buf *out)
{
    return data_records("DeliveryStreamName", stream, batch, n, false, true, out);
}

void pz_batch_results(const char *body, size_t len, const char *records_key, size_t n, pz_outcome *out)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    json_t *list = json_object_get(doc, records_key);
    if (!json_is_array(list) || json_array_size(list) != n) {
        for (size_t i = 0; i < n; i++) {
            out[i].kind = PZ_OUTCOME_RETRY;
            out[i].call_level = true;
            pz_reason_printf(out[i].reason, sizeof out[i].reason, "the answer does not list %zu %s", n, records_key);
        }
        json_decref(doc);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(list, i);
        const char *code = json_string_value(json_object_get(r, "ErrorCode"));
        const char *msg = json_string_value(json_object_get(r, "ErrorMessage"));
        out[i].call_level = false;
        if (code == NULL) {
            out[i].kind = PZ_OUTCOME_OK;
            out[i].reason[0] = '\0';
        } else {
            /* Per-record errors are throttling or internal failures: always worth retrying. */
            out[i].kind = PZ_OUTCOME_RETRY;
            pz_reason_printf(out[i].reason, sizeof out[i].reason, "%s: %s", code, msg ? msg : "");
        }
    }
    json_decref(doc);
}

/* ---- calls ---- */

static void all(pz_outcome *out, size_t n, pz_outcome_kind kind, const char *reason)
{
    for (size_t i = 0; i < n; i++) {
        out[i].kind = kind;
        out[i].call_level = true;
        pz_reason_printf(out[i].reason, sizeof out[i].reason, "%s", reason);
    }
}

void pz_target_send_aws(pz_target *t, pz_delivery_entry *const *batch, size_t n, pz_outcome *out)
{
    const pz_target_spec *spec = &t->spec;
    pz_aws_service service = spec->type == PZ_TARGET_PERSONALIZE_EVENT_TRACKER ? PZ_AWS_PERSONALIZE_EVENTS
                             : spec->type == PZ_TARGET_KINESIS_STREAM          ? PZ_AWS_KINESIS
                                                                               : PZ_AWS_FIREHOSE;
    char reason[PZ_DELIVERY_MAX_REASON];
    char region[64], endpoint[1024], url[1100];
    pz_aws_region(t->env.aws, spec->region, region, sizeof region);
    pz_aws_signing signing;
    if (pz_aws_signing_for(t->env.aws, service, region, &signing, reason, sizeof reason) != 0) {
        all(out, n, PZ_OUTCOME_RETRY, reason);
        return;
    }
    if (region[0] == '\0') {
        all(out, n, PZ_OUTCOME_RETRY, "no AWS region: set the target's \"region\", AWS_REGION or a profile region");
        return;
    }
    pz_aws_endpoint(service, region, spec->endpoint_url, endpoint, sizeof endpoint);
    pz_buf body;
    pz_buf_init(&body, 8u << 20);
    int rc;
    const char *headers[3] = {NULL, NULL, NULL};
    const char *records_key = NULL;
    switch (spec->type) {
    case PZ_TARGET_PERSONALIZE_EVENT_TRACKER:
        snprintf(url, sizeof url, "%s/events", endpoint);
        headers[0] = "Content-Type: application/json";
        rc = pz_personalize_body(spec->tracking_id, batch, n, &body);
        break;
    case PZ_TARGET_KINESIS_STREAM:
        snprintf(url, sizeof url, "%s/", endpoint);
        headers[0] = "Content-Type: application/x-amz-json-1.1";
        headers[1] = "X-Amz-Target: Kinesis_20131202.PutRecords";
        records_key = "Records";
        rc = pz_kinesis_body(spec->stream_name, batch, n, &body);
        break;
    default:
        snprintf(url, sizeof url, "%s/", endpoint);
        headers[0] = "Content-Type: application/x-amz-json-1.1";
        headers[1] = "X-Amz-Target: Firehose_20150804.PutRecordBatch";
        records_key = "RequestResponses";
        rc = pz_firehose_body(spec->stream_name, batch, n, &body);
        break;
    }
    if (rc != 0) {
        all(out, n, PZ_OUTCOME_REJECT, "the stored record cannot be turned into a request");
        pz_buf_free(&body);
        return;
    }
    pz_blocking_request req = {.url = url,
                               .headers = headers,
                               .body = body.data,
                               .body_len = body.len,
                               .timeout_ms = t->env.timeout_ms,
                               .signing = &signing};
    pz_blocking_response resp;
    if (pz_blocking_post(t->http, &req, &resp) != 0) {
        all(out, n, PZ_OUTCOME_RETRY, resp.error);
    } else if (resp.status == 200 && records_key != NULL) {
        pz_batch_results(resp.body.data ? resp.body.data : "", resp.body.len, records_key, n, out);
    } else if (resp.status >= 200 && resp.status < 300) {
        all(out, n, PZ_OUTCOME_OK, "");
    } else {
        pz_aws_error e;
        pz_aws_error_classify(resp.status, resp.error_type, resp.body.data, resp.body.len, &e);
        pz_reason_printf(reason, sizeof reason, "HTTP %ld %s: %.160s", resp.status,
                         e.type[0] ? e.type : "(no error type)", resp.body.data ? resp.body.data : "");
        all(out, n, pz_target_aws_outcome(e.cls), reason);
    }
    pz_blocking_response_free(&resp);
    pz_buf_free(&body);
}
