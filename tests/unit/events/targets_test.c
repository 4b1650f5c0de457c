/* Tests for the event target adapters' pure parts (server/events/targets.h, target_spec.h,
 * file_sink.h): request bodies, per-record results, error classification, target ids and specs,
 * limits and keys, the file sink's rotation. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/core/base64.h"
#include "server/events/file_sink.h"
#include "server/events/targets.h"

/* A window entry holding a record for session/user with `n_events` click events. */
static pz_delivery_entry *entry(pz_delivery_window *w, uint64_t seq, const char *session, const char *user,
                                int n_events, const char *conversion)
{
    pz_arena a;
    pz_arena_init(&a);
    Personalization__V1__PutEventsRequest *m = (Personalization__V1__PutEventsRequest *)pz_arena_new_message(
        &a, &personalization__v1__put_events_request__descriptor);
    m->session_id = (char *)session;
    m->user_id = (char *)user;
    m->n_event_list = (size_t)n_events;
    m->event_list = pz_arena_calloc(&a, n_events ? (size_t)n_events : 1, sizeof *m->event_list);
    for (int i = 0; i < n_events; i++) {
        Personalization__V1__Event *e =
            (Personalization__V1__Event *)pz_arena_new_message(&a, &personalization__v1__event__descriptor);
        e->event_id = pz_arena_printf(&a, "e%llu-%d", (unsigned long long)seq, i);
        e->event_type = "click";
        e->has_sent_at = 1;
        e->sent_at = 100;
        m->event_list[i] = e;
    }
    if (conversion != NULL) {
        Personalization__V1__ExperimentConversion *c =
            (Personalization__V1__ExperimentConversion *)pz_arena_new_message(
                &a, &personalization__v1__experiment_conversion__descriptor);
        c->recommender = (char *)conversion;
        m->experiment_conversions = pz_arena_calloc(&a, 1, sizeof(void *));
        m->experiment_conversions[0] = c;
        m->n_experiment_conversions = 1;
    }
    uint8_t *rec;
    size_t len;
    char err[128];
    assert_int_equal(pz_evrec_render(m, "shop", NULL, 0, 0, "rk", &a, &rec, &len, err, sizeof err), 0);
    pz_delivery_entry *e = pz_delivery_push(w, seq, rec, len);
    pz_arena_destroy(&a);
    return e;
}

static void test_personalize_body_merges_one_session(void **state)
{
    (void)state;
    pz_delivery_window w;
    pz_delivery_init(&w, 8);
    pz_delivery_entry *batch[2];
    batch[0] = entry(&w, 1, "s1", "u1", 2, "for-you");
    batch[1] = entry(&w, 2, "s1", "u1", 1, NULL);
    pz_buf b;
    pz_buf_init(&b, 1 << 20);
    assert_int_equal(pz_personalize_body("trk-1", batch, 2, &b), 0);
    json_t *doc = json_loads(b.data, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "trackingId")), "trk-1");
    assert_string_equal(json_string_value(json_object_get(doc, "sessionId")), "s1");
    assert_string_equal(json_string_value(json_object_get(doc, "userId")), "u1");
    assert_null(json_object_get(doc, "experimentConversions"));
    json_t *list = json_object_get(doc, "eventList");
    assert_int_equal(json_array_size(list), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 2), "eventId")), "e2-0");
    assert_int_equal(json_object_size(doc), 4);
    json_decref(doc);
    pz_buf_free(&b);
    pz_delivery_free(&w);
}

static void test_kinesis_and_firehose_bodies(void **state)
{
    (void)state;
    pz_delivery_window w;
    pz_delivery_init(&w, 8);
    pz_delivery_entry *batch[2];
    batch[0] = entry(&w, 1, "s\"1", "u1", 1, NULL);
    batch[1] = entry(&w, 2, NULL, NULL, 1, NULL);
    pz_buf b;
    pz_buf_init(&b, 1 << 20);
    assert_int_equal(pz_kinesis_body("clicks", batch, 2, &b), 0);
    json_t *doc = json_loads(b.data, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "StreamName")), "clicks");
    json_t *r0 = json_array_get(json_object_get(doc, "Records"), 0);
    assert_string_equal(json_string_value(json_object_get(r0, "PartitionKey")), "s\"1");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(doc, "Records"), 1), "PartitionKey")), "rk");
    /* Data is the envelope, base64 */
    pz_buf expect;
    pz_buf_init(&expect, 1 << 20);
    pz_base64_append(&expect, batch[0]->view.json, batch[0]->view.json_len);
    assert_string_equal(json_string_value(json_object_get(r0, "Data")), expect.data);
    json_decref(doc);

    pz_buf_clear(&b);
    assert_int_equal(pz_firehose_body("lake", batch, 1, &b), 0);
    doc = json_loads(b.data, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "DeliveryStreamName")), "lake");
    r0 = json_array_get(json_object_get(doc, "Records"), 0);
    assert_null(json_object_get(r0, "PartitionKey"));
    char *line = malloc(batch[0]->view.json_len + 1);
    memcpy(line, batch[0]->view.json, batch[0]->view.json_len);
    line[batch[0]->view.json_len] = '\n'; /* newline-terminated (spec §8.2 [ours]) */
    pz_buf_clear(&expect);
    pz_base64_append(&expect, line, batch[0]->view.json_len + 1);
    assert_string_equal(json_string_value(json_object_get(r0, "Data")), expect.data);
    free(line);
    json_decref(doc);

    pz_buf_clear(&b);
    assert_int_equal(pz_webhook_body(batch, 2, &b), 0);
    doc = json_loads(b.data, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(doc, "records")), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(doc, "records"), 0), "namespace")), "shop");
    json_decref(doc);
    pz_buf small;
    pz_buf_init(&small, 16);
    assert_int_equal(pz_kinesis_body("clicks", batch, 2, &small), -1); /* the cap holds */
    pz_buf_free(&small);
    pz_buf_free(&expect);
    pz_buf_free(&b);
    pz_delivery_free(&w);
}

static void test_batch_results_per_record(void **state)
{
    (void)state;
    pz_outcome out[3];
    const char *kinesis = "{\"FailedRecordCount\":1,\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"},"
                          "{\"ErrorCode\":\"ProvisionedThroughputExceededException\",\"ErrorMessage\":\"slow down\"},"
                          "{\"SequenceNumber\":\"2\",\"ShardId\":\"s\"}]}";
    pz_batch_results(kinesis, strlen(kinesis), "Records", 3, out);
    assert_int_equal(out[0].kind, PZ_OUTCOME_OK);
    assert_int_equal(out[1].kind, PZ_OUTCOME_RETRY);
    assert_false(out[1].call_level);
    assert_string_equal(out[1].reason, "ProvisionedThroughputExceededException: slow down");
    assert_int_equal(out[2].kind, PZ_OUTCOME_OK);
    const char *firehose =
        "{\"FailedPutCount\":1,\"RequestResponses\":[{\"ErrorCode\":\"ServiceUnavailableException\"},"
        "{\"RecordId\":\"x\"}]}";
    pz_batch_results(firehose, strlen(firehose), "RequestResponses", 2, out);
    assert_int_equal(out[0].kind, PZ_OUTCOME_RETRY);
    assert_int_equal(out[1].kind, PZ_OUTCOME_OK);
    /* an answer that does not list every record: retry them all */
    pz_batch_results(firehose, strlen(firehose), "RequestResponses", 3, out);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(out[i].kind, PZ_OUTCOME_RETRY);
        assert_true(out[i].call_level);
    }
    pz_batch_results("not json", 8, "Records", 1, out);
    assert_int_equal(out[0].kind, PZ_OUTCOME_RETRY);
}

/* An AWS answer as the AWS targets read it: the shared classifier (server/upstream/aws_errors.h),
 * then the targets' mapping of its class. */
static pz_outcome_kind aws_outcome(long status, const char *error_type)
{
    pz_aws_error e;
    return pz_target_aws_outcome(pz_aws_error_classify(status, error_type, NULL, 0, &e));
}

/* The cleaned error type the classifier reads from a header or a body. */
static void aws_error_type(const char *header, const char *body, size_t body_len, char *out, size_t outlen)
{
    pz_aws_error e;
    pz_aws_error_classify(400, header, body, body_len, &e);
    snprintf(out, outlen, "%s", e.type);
}

static void test_aws_error_classification(void **state)
{
    (void)state;
    char type[128];
    aws_error_type("ValidationException:http://internal.amazon.com/coral/com.amazon.coral.validate/", NULL, 0, type,
                   sizeof type);
    assert_string_equal(type, "ValidationException");
    const char *body = "{\"__type\":\"com.amazonaws.kinesis.v20131202#ResourceNotFoundException\",\"message\":\"x\"}";
    aws_error_type("", body, strlen(body), type, sizeof type);
    assert_string_equal(type, "ResourceNotFoundException");
    aws_error_type(NULL, "{\"message\":\"x\"}", 15, type, sizeof type);
    assert_string_equal(type, "");
    assert_int_equal(aws_outcome(400, "ValidationException"), PZ_OUTCOME_REJECT);
    assert_int_equal(aws_outcome(400, "InvalidArgumentException"), PZ_OUTCOME_REJECT);
    assert_int_equal(aws_outcome(400, "InvalidInputException"), PZ_OUTCOME_REJECT);
    assert_int_equal(aws_outcome(400, "SerializationException"), PZ_OUTCOME_REJECT);
    assert_int_equal(aws_outcome(413, ""), PZ_OUTCOME_REJECT);
    /* throttling, auth and missing resources can be fixed: retried */
    assert_int_equal(aws_outcome(400, "ProvisionedThroughputExceededException"), PZ_OUTCOME_RETRY);
    assert_int_equal(aws_outcome(400, "ThrottlingException"), PZ_OUTCOME_RETRY);
    assert_int_equal(aws_outcome(400, "ResourceNotFoundException"), PZ_OUTCOME_RETRY);
    assert_int_equal(aws_outcome(403, "InvalidSignatureException"), PZ_OUTCOME_RETRY);
    assert_int_equal(aws_outcome(400, ""), PZ_OUTCOME_RETRY);
    assert_int_equal(aws_outcome(500, "ValidationException"), PZ_OUTCOME_RETRY);
    assert_int_equal(aws_outcome(503, NULL), PZ_OUTCOME_RETRY);
    assert_int_equal(aws_outcome(200, NULL), PZ_OUTCOME_OK);
}

/* Issue 19: ids and specs are shown redacted; the stored id stays whole and either form names it. */
static void test_target_display_forms(void **state)
{
    (void)state;
    const char *names[] = {"Authorization"};
    const char *values[] = {"Bearer s3cr3t"};
    pz_event_target http = {.type = PZ_TARGET_HTTP,
                            .url = "https://hook:pw@h.example/e?token=abc",
                            .header_names = names,
                            .header_values = values,
                            .n_headers = 1};
    char *id, *spec;
    pz_target_spec_render("shop", &http, &id, &spec);
    assert_string_equal(id, "shop/http/https://hook:pw@h.example/e?token=abc");
    char *shown = pz_target_display_id(id);
    assert_string_equal(shown, "shop/http/https://***@h.example/e?token=***");
    assert_true(pz_target_id_matches(id, id));
    assert_true(pz_target_id_matches(id, shown));
    assert_false(pz_target_id_matches(id, "shop/http/https://h.example/e"));
    char *spec_shown = pz_target_spec_display_json(spec);
    assert_string_equal(spec_shown, "{\"headers\":{\"Authorization\":\"***\"},\"namespace\":\"shop\",\"type\":\"http\","
                                    "\"url\":\"https://***@h.example/e?token=***\"}");
    free(spec_shown);
    free(shown);
    free(id);
    free(spec);

    pz_event_target trk = {.type = PZ_TARGET_PERSONALIZE_EVENT_TRACKER,
                           .tracking_id = "3f1e2d4c-aaaa-bbbb-cccc-1234567890ab"};
    pz_target_spec_render("shop", &trk, &id, &spec);
    shown = pz_target_display_id(id);
    assert_string_equal(shown, "shop/personalize-event-tracker/***90ab");
    spec_shown = pz_target_spec_display_json(spec);
    assert_null(strstr(spec_shown, "3f1e2d4c"));
    assert_non_null(strstr(spec_shown, "\"trackingId\":\"***90ab\""));
    free(spec_shown);
    free(shown);
    free(id);
    free(spec);

    /* Other ids are shown as they are. */
    shown = pz_target_display_id("shop/kinesis-stream/clicks");
    assert_string_equal(shown, "shop/kinesis-stream/clicks");
    free(shown);
    shown = pz_target_display_id("shop/builtin");
    assert_string_equal(shown, "shop/builtin");
    free(shown);
}

static void test_target_ids_specs_limits_and_keys(void **state)
{
    (void)state;
    const char *names[] = {"Authorization", "X-Source"};
    const char *values[] = {"Bearer t", "pz"};
    pz_event_target http = {.type = PZ_TARGET_HTTP,
                            .url = "https://h.example/e",
                            .header_names = names,
                            .header_values = values,
                            .n_headers = 2};
    char *id, *spec;
    pz_target_spec_render("shop", &http, &id, &spec);
    assert_string_equal(id, "shop/http/https://h.example/e");
    pz_target_spec parsed;
    char err[256];
    assert_int_equal(pz_target_spec_parse(spec, &parsed, err, sizeof err), 0);
    assert_string_equal(parsed.id, id);
    assert_int_equal(parsed.type, PZ_TARGET_HTTP);
    assert_int_equal(parsed.n_headers, 2);
    assert_string_equal(parsed.header_values[0], "Bearer t");
    pz_target_spec_free(&parsed);
    free(id);
    free(spec);

    pz_event_target kin = {.type = PZ_TARGET_KINESIS_STREAM,
                           .stream_name = "clicks",
                           .region = "eu-west-1",
                           .endpoint_url = "https://vpce.example"};
    pz_target_spec_render("shop", &kin, &id, &spec);
    assert_string_equal(id, "shop/kinesis-stream/clicks");
    assert_string_equal(spec, "{\"endpointUrl\":\"https://vpce.example\",\"namespace\":\"shop\",\"region\":"
                              "\"eu-west-1\",\"streamName\":\"clicks\",\"type\":\"kinesis-stream\"}");
    assert_int_equal(pz_target_spec_parse(spec, &parsed, err, sizeof err), 0);
    pz_target_env env = {0};
    pz_target *t = pz_target_create(&parsed, &env); /* takes the spec */
    assert_null(parsed.id);
    assert_string_equal(pz_target_get_spec(t)->region, "eu-west-1");
    const pz_delivery_limits *lim = pz_target_limits(t);
    assert_int_equal(lim->max_records, PZ_KINESIS_MAX_RECORDS);
    assert_int_equal(lim->max_bytes, PZ_KINESIS_MAX_BYTES);
    assert_false(lim->atomic);
    pz_delivery_window w;
    pz_delivery_init(&w, 4);
    pz_delivery_entry *e = entry(&w, 1, "s1", "u1", 1, NULL);
    pz_target_prepare(t, e);
    assert_int_equal(e->cost, e->view.json_len + 2); /* data + partition key */
    assert_int_not_equal(e->key_hash, 0);
    pz_delivery_entry *conv_only = entry(&w, 2, "s1", "u1", 0, "for-you");
    assert_true(pz_target_wants(t, &conv_only->view));
    pz_target_destroy(t);
    free(id);
    free(spec);

    pz_event_target trk = {.type = PZ_TARGET_PERSONALIZE_EVENT_TRACKER, .tracking_id = "trk"};
    pz_target_spec_render("shop", &trk, &id, &spec);
    assert_int_equal(pz_target_spec_parse(spec, &parsed, err, sizeof err), 0);
    t = pz_target_create(&parsed, &env);
    assert_false(pz_target_wants(t, &conv_only->view)); /* no events: nothing to send */
    assert_int_equal(pz_target_limits(t)->max_events, PZ_PERSONALIZE_MAX_EVENTS);
    assert_true(pz_target_limits(t)->one_group);
    pz_delivery_entry *other_user = entry(&w, 3, "s1", "u2", 1, NULL);
    pz_target_prepare(t, e);
    pz_target_prepare(t, other_user);
    assert_int_equal(e->key_hash, other_user->key_hash);         /* same session: ordered together */
    assert_int_not_equal(e->group_hash, other_user->group_hash); /* but not in one call */
    pz_target_destroy(t);
    free(id);
    free(spec);
    pz_delivery_free(&w);

    assert_int_equal(pz_target_spec_parse("{\"type\":\"sqs\",\"namespace\":\"x\"}", &parsed, err, sizeof err), -1);
    assert_int_equal(pz_target_spec_parse("nope", &parsed, err, sizeof err), -1);
    assert_string_equal(pz_target_type_name(PZ_TARGET_KINESIS_FIREHOSE), "kinesis-firehose");
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void test_file_sink_rotates_by_size_and_keeps_n(void **state)
{
    (void)state;
    const char *tmp = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
    char dir[512], path[600], p1[620], p2[620], p3[620];
    snprintf(dir, sizeof dir, "%s/file_sink_%d", tmp, (int)getpid());
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/events.jsonl", dir);
    snprintf(p1, sizeof p1, "%s.1", path);
    snprintf(p2, sizeof p2, "%s.2", path);
    snprintf(p3, sizeof p3, "%s.3", path);
    pz_file_sink *s = pz_file_sink_create(path, 100, 2);
    char line[41];
    memset(line, 'a', 39);
    line[39] = '\n';
    line[40] = '\0';
    struct iovec iov = {line, 40};
    char err[256];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pz_file_sink_write(s, &iov, 1, err, sizeof err), 0);
    assert_int_equal(file_size(path), 80);
    assert_int_equal(pz_file_sink_write(s, &iov, 1, err, sizeof err), 0); /* 120 > 100: rotated first */
    assert_int_equal(file_size(path), 40);
    assert_int_equal(file_size(p1), 80);
    for (int i = 0; i < 6; i++)
        assert_int_equal(pz_file_sink_write(s, &iov, 1, err, sizeof err), 0);
    assert_true(file_size(p2) > 0);
    assert_int_equal(file_size(p3), -1); /* keep = 2 */
    /* a write bigger than the limit still lands whole, in a fresh file */
    char big[300];
    memset(big, 'b', 299);
    big[299] = '\n';
    struct iovec two[2] = {{big, 150}, {big + 150, 150}};
    assert_int_equal(pz_file_sink_write(s, two, 2, err, sizeof err), 0);
    assert_int_equal(file_size(path), 300);
    pz_file_sink_destroy(s);
    /* an unwritable path fails with a message, and works once it exists */
    char missing[700];
    snprintf(missing, sizeof missing, "%s/later/events.jsonl", dir);
    s = pz_file_sink_create(missing, 0, 1);
    assert_int_equal(pz_file_sink_write(s, &iov, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
    char later[620];
    snprintf(later, sizeof later, "%s/later", dir);
    mkdir(later, 0755);
    assert_int_equal(pz_file_sink_write(s, &iov, 1, err, sizeof err), 0);
    assert_int_equal(file_size(missing), 40);
    pz_file_sink_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_personalize_body_merges_one_session),
        cmocka_unit_test(test_kinesis_and_firehose_bodies),
        cmocka_unit_test(test_batch_results_per_record),
        cmocka_unit_test(test_aws_error_classification),
        cmocka_unit_test(test_target_ids_specs_limits_and_keys),
        cmocka_unit_test(test_target_display_forms),
        cmocka_unit_test(test_file_sink_rotates_by_size_and_keeps_n),
    };
    return cmocka_run_group_tests_name("events_targets", tests, NULL, NULL);
}
