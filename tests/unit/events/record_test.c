/* Tests for server/events/record.c: the upstream envelope, redaction, partition keys, the size
 * limit, the binary header, JSON and base64 helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/core/base64.h"
#include "server/events/record.h"

static Personalization__V1__PutEventsRequest *request(pz_arena *a)
{
    Personalization__V1__PutEventsRequest *m = (Personalization__V1__PutEventsRequest *)pz_arena_new_message(
        a, &personalization__v1__put_events_request__descriptor);
    m->namespace_ = "shop";
    m->session_id = "s-1";
    m->user_id = "u-1";
    m->n_event_list = 1;
    m->event_list = pz_arena_calloc(a, 1, sizeof *m->event_list);
    Personalization__V1__Event *e =
        (Personalization__V1__Event *)pz_arena_new_message(a, &personalization__v1__event__descriptor);
    e->event_id = "e-1";
    e->event_type = "click";
    e->item_id = "i-\"9\"";
    e->has_sent_at = 1;
    e->sent_at = 1712345678;
    e->has_event_value = 1;
    e->event_value = 0.1;
    static char *impressions[] = {"i-9", "i-3"};
    e->impression = impressions;
    e->n_impression = 2;
    e->properties = "{\"deviceType\":\"Phone\"}";
    m->event_list[0] = e;
    return m;
}

static pz_header H(const char *name, const char *value)
{
    return (pz_header){name, strlen(name), value, strlen(value)};
}

static void test_envelope_is_upstream_shaped(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    Personalization__V1__PutEventsRequest *m = request(&a);
    pz_header hs[] = {H("content-type", "application/json"),
                      H("authorization", "Bearer secret"),
                      H("x-api-key", "k"),
                      H("x-dup", "first"),
                      H("cookie", "c=1"),
                      H("x-dup", "second"),
                      H(":authority", "pseudo")};
    uint8_t *rec;
    size_t len;
    char err[256];
    assert_int_equal(pz_evrec_render(m, "my shop", hs, 7, 2, "rand", &a, &rec, &len, err, sizeof err), 0);
    pz_evrec_view v;
    assert_int_equal(pz_evrec_decode(rec, len, &v), 0);
    char *json = strndup(v.json, v.json_len);
    assert_string_equal(json, "{\"namespace\":\"my shop\",\"path\":\"/events/my%20shop\",\"headers\":{"
                              "\"content-type\":\"application/json\",\"authorization\":\"[REDACTED]\","
                              "\"x-api-key\":\"[REDACTED]\",\"cookie\":\"[REDACTED]\",\"x-dup\":\"second\"},"
                              "\"queryStringParameters\":null,\"body\":{\"sessionId\":\"s-1\",\"userId\":\"u-1\","
                              "\"eventList\":[{\"eventId\":\"e-1\",\"eventType\":\"click\",\"eventValue\":0.1,"
                              "\"itemId\":\"i-\\\"9\\\"\",\"impression\":[\"i-9\",\"i-3\"],"
                              "\"properties\":\"{\\\"deviceType\\\":\\\"Phone\\\"}\",\"sentAt\":1712345678}]}}");
    free(json);
    assert_int_equal(v.n_targets, 2);
    assert_int_equal(v.n_events, 1);
    assert_memory_equal(v.ns, "my shop", v.ns_len);
    assert_memory_equal(v.partition_key, "s-1", v.partition_key_len); /* sessionId first */
    assert_memory_equal(v.session, "s-1", v.session_len);
    assert_memory_equal(v.user, "u-1", v.user_len);
    pz_arena_destroy(&a);
}

static void test_conversions_and_metric_attribution(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    Personalization__V1__PutEventsRequest *m = request(&a);
    Personalization__V1__MetricAttribution *ma = (Personalization__V1__MetricAttribution *)pz_arena_new_message(
        &a, &personalization__v1__metric_attribution__descriptor);
    ma->event_attribution_source = "email";
    m->event_list[0]->metric_attribution = ma;
    Personalization__V1__ExperimentConversion *c = (Personalization__V1__ExperimentConversion *)pz_arena_new_message(
        &a, &personalization__v1__experiment_conversion__descriptor);
    c->recommender = "for-you";
    c->metric = "clicks";
    c->has_value = 1;
    c->value = 2;
    m->experiment_conversions = pz_arena_calloc(&a, 1, sizeof *m->experiment_conversions);
    m->experiment_conversions[0] = c;
    m->n_experiment_conversions = 1;
    uint8_t *rec;
    size_t len;
    char err[256];
    assert_int_equal(pz_evrec_render(m, "shop", NULL, 0, 0, "r", &a, &rec, &len, err, sizeof err), 0);
    pz_evrec_view v;
    assert_int_equal(pz_evrec_decode(rec, len, &v), 0);
    char *json = strndup(v.json, v.json_len);
    assert_non_null(strstr(json, "\"metricAttribution\":{\"eventAttributionSource\":\"email\"}}]"));
    assert_non_null(strstr(json, ",\"experimentConversions\":[{\"recommender\":\"for-you\",\"metric\":\"clicks\","
                                 "\"value\":2}]}}"));
    assert_non_null(strstr(json, "\"headers\":{}"));
    free(json);
    pz_arena_destroy(&a);
}

/* A forward-only namespace's REST body is the envelope's body as it is; the typed request gives
 * only the partition key's sessionId/userId. */
static void test_forwarded_body_is_the_envelope_body(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    Personalization__V1__PutEventsRequest *m = (Personalization__V1__PutEventsRequest *)pz_arena_new_message(
        &a, &personalization__v1__put_events_request__descriptor);
    m->user_id = "u-9";
    const char *body = "{\"userId\":\"u-9\",\"page\":\"home\",\"eventList\":[1,2,3,4,5,6,7,8,9,10,11,12]}";
    pz_events_body raw = {.json = body, .len = strlen(body), .n_events = 12};
    uint8_t *rec;
    size_t len;
    char err[256];
    assert_int_equal(pz_evrec_render_body(m, &raw, "shop", NULL, 0, 1, "r", &a, &rec, &len, err, sizeof err), 0);
    pz_evrec_view v;
    assert_int_equal(pz_evrec_decode(rec, len, &v), 0);
    assert_int_equal(v.n_events, 12);
    assert_memory_equal(v.partition_key, "u-9", 3);
    char *json = strndup(v.json, v.json_len);
    assert_string_equal(json, "{\"namespace\":\"shop\",\"path\":\"/events/shop\",\"headers\":{},"
                              "\"queryStringParameters\":null,\"body\":{\"userId\":\"u-9\",\"page\":\"home\","
                              "\"eventList\":[1,2,3,4,5,6,7,8,9,10,11,12]}}");
    free(json);
    pz_arena_destroy(&a);
}

static void test_partition_key_falls_back_to_user_then_random(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    Personalization__V1__PutEventsRequest *m = request(&a);
    m->session_id = NULL;
    uint8_t *rec;
    size_t len;
    char err[256];
    pz_evrec_view v;
    assert_int_equal(pz_evrec_render(m, "shop", NULL, 0, 0, "rand-key", &a, &rec, &len, err, sizeof err), 0);
    assert_int_equal(pz_evrec_decode(rec, len, &v), 0);
    assert_memory_equal(v.partition_key, "u-1", v.partition_key_len);
    assert_int_equal(v.session_len, 0);
    m->user_id = NULL;
    assert_int_equal(pz_evrec_render(m, "shop", NULL, 0, 0, "rand-key", &a, &rec, &len, err, sizeof err), 0);
    assert_int_equal(pz_evrec_decode(rec, len, &v), 0);
    assert_int_equal(v.partition_key_len, 8);
    assert_memory_equal(v.partition_key, "rand-key", 8);
    char k1[33], k2[33];
    pz_evrec_random_key(k1);
    pz_evrec_random_key(k2);
    assert_int_equal(strlen(k1), 32);
    assert_string_not_equal(k1, k2);
    pz_arena_destroy(&a);
}

static void test_record_size_limit(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    Personalization__V1__PutEventsRequest *m = request(&a);
    char *big = malloc(PZ_EVREC_MAX_BYTES);
    memset(big, 'x', PZ_EVREC_MAX_BYTES - 1);
    big[PZ_EVREC_MAX_BYTES - 1] = '\0';
    pz_header hs[] = {H("x-big", big)};
    uint8_t *rec;
    size_t len;
    char err[256];
    assert_int_equal(pz_evrec_render(m, "shop", hs, 1, 1, "r", &a, &rec, &len, err, sizeof err), -1);
    assert_non_null(strstr(err, "too large"));
    /* just under the limit is fine */
    big[PZ_EVREC_MAX_BYTES - 2000] = '\0';
    hs[0] = H("x-big", big);
    assert_int_equal(pz_evrec_render(m, "shop", hs, 1, 1, "r", &a, &rec, &len, err, sizeof err), 0);
    assert_true(len <= PZ_EVREC_MAX_BYTES);
    assert_int_equal(
        pz_evrec_render(m, "shop", NULL, 0, PZ_EVREC_MAX_TARGETS + 1, "r", &a, &rec, &len, err, sizeof err), -1);
    free(big);
    pz_arena_destroy(&a);
}

static void test_targets_and_retarget(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    uint8_t *rec;
    size_t len;
    char err[256];
    assert_int_equal(pz_evrec_render(request(&a), "shop", NULL, 0, 3, "r", &a, &rec, &len, err, sizeof err), 0);
    pz_evrec_set_target(rec, 0, 7);
    pz_evrec_set_target(rec, 1, 70000);
    pz_evrec_set_target(rec, 2, 9);
    pz_evrec_view v;
    assert_int_equal(pz_evrec_decode(rec, len, &v), 0);
    assert_int_equal(pz_evrec_target(&v, 1), 70000);
    assert_true(pz_evrec_has_target(&v, 9));
    assert_false(pz_evrec_has_target(&v, 8));
    size_t rlen;
    uint8_t *r = pz_evrec_retarget(rec, len, 42, &rlen);
    assert_non_null(r);
    assert_int_equal(rlen, len - 8);
    pz_evrec_view rv;
    assert_int_equal(pz_evrec_decode(r, rlen, &rv), 0);
    assert_int_equal(rv.n_targets, 1);
    assert_int_equal(pz_evrec_target(&rv, 0), 42);
    assert_int_equal(rv.json_len, v.json_len);
    assert_memory_equal(rv.json, v.json, v.json_len);
    assert_memory_equal(rv.partition_key, "s-1", 3);
    free(r);
    /* not records */
    assert_int_equal(pz_evrec_decode("\x02garbage", 8, &v), -1);
    assert_int_equal(pz_evrec_decode(rec, 10, &v), -1);
    assert_null(pz_evrec_retarget("x", 1, 1, &rlen));
    pz_arena_destroy(&a);
}

static void test_json_helpers(void **state)
{
    (void)state;
    pz_buf b;
    pz_buf_init(&b, 1024);
    const char s[] = "a\"b\\c\n\x01\xc3\xa9\xff\xe2\x82";
    pz_json_write_string(&b, s, sizeof s - 1);
    /* invalid bytes become U+FFFD, written as the character itself (one escaper for all JSON) */
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    pz_buf_clear(&b);
    pz_json_number(&b, 1712345678);
    pz_buf_append_char(&b, ' ');
    pz_json_number(&b, 0.1);
    pz_buf_append_char(&b, ' ');
    pz_json_number(&b, -2.5e-7);
    pz_buf_append_char(&b, ' ');
    pz_json_number(&b, 1.0 / 0.0);
    assert_string_equal(b.data, "1712345678 0.1 -2.5e-07 null");
    pz_buf_clear(&b);
    pz_base64_append(&b, "any carnal pleas", 16);
    pz_buf_append_char(&b, ' ');
    pz_base64_append(&b, "any carnal pleasu", 17);
    pz_buf_append_char(&b, ' ');
    pz_base64_append(&b, "any carnal pleasur", 18);
    assert_string_equal(b.data, "YW55IGNhcm5hbCBwbGVhcw== YW55IGNhcm5hbCBwbGVhc3U= YW55IGNhcm5hbCBwbGVhc3Vy");
    pz_buf clipped;
    pz_buf_init(&clipped, 4);
    assert_int_equal(pz_json_write_string(&clipped, "abcdef", 6), -1);
    pz_buf_free(&clipped);
    pz_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_is_upstream_shaped),
        cmocka_unit_test(test_conversions_and_metric_attribution),
        cmocka_unit_test(test_forwarded_body_is_the_envelope_body),
        cmocka_unit_test(test_partition_key_falls_back_to_user_then_random),
        cmocka_unit_test(test_record_size_limit),
        cmocka_unit_test(test_targets_and_retarget),
        cmocka_unit_test(test_json_helpers),
    };
    return cmocka_run_group_tests_name("events_record", tests, NULL, NULL);
}
