/* Tests for server/upstream/blocking_call.c: the blocking client against a
 * real local HTTP server (test_http_server.c): answers of any status, the AWS error type header,
 * connection reuse, SigV4 with the session token, the response size cap, cancellation,
 * connection failures, GET with If-None-Match and ETag, and a per-request response cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/upstream/blocking_call.h"
#include "tests/unit/upstream/test_http_server.h"

typedef struct fixture {
    test_http_server *http;
    pz_blocking_client *client;
    char url[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->http = test_http_start();
    f->client = pz_blocking_create();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pz_blocking_destroy(f->client);
    test_http_stop(f->http);
    free(f);
    return 0;
}

static const char *url(fixture *f, const char *path)
{
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d%s", test_http_port(f->http), path);
    return f->url;
}

static void test_answers_of_any_status_on_one_connection(void **state)
{
    fixture *f = *state;
    const char *headers[] = {"Content-Type: application/json", NULL};
    pz_blocking_request req = {.url = url(f, "/echo"), .headers = headers, .body = "{\"a\":1}", .body_len = 7};
    pz_blocking_response resp;
    assert_int_equal(pz_blocking_post(f->client, &req, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body.len, 7);
    assert_memory_equal(resp.body.data, "{\"a\":1}", 7);
    pz_blocking_response_free(&resp);

    req.url = url(f, "/status/503");
    assert_int_equal(pz_blocking_post(f->client, &req, &resp), 0); /* a response, whatever its status */
    assert_int_equal(resp.status, 503);
    assert_string_equal(resp.error_type, "");
    pz_blocking_response_free(&resp);

    req.url = url(f, "/amzn-error/ValidationException");
    assert_int_equal(pz_blocking_post(f->client, &req, &resp), 0);
    assert_int_equal(resp.status, 400);
    assert_string_equal(resp.error_type, "ValidationException:http://internal.amazon.com/");
    pz_blocking_response_free(&resp);
    assert_int_equal(test_http_requests(f->http), 3);
    assert_int_equal(test_http_connections(f->http), 1); /* kept alive */
}

static void test_signed_with_the_session_token(void **state)
{
    fixture *f = *state;
    pz_aws_signing signing = {.region = "eu-west-1",
                              .service = "kinesis",
                              .creds = {.access_key_id = "AKIDTEST", .secret_access_key = "s", .session_token = "t"}};
    const char *headers[] = {"Content-Type: application/x-amz-json-1.1", "X-Amz-Target: Kinesis_20131202.PutRecords",
                             NULL};
    pz_blocking_request req = {
        .url = url(f, "/auth"), .headers = headers, .body = "{}", .body_len = 2, .signing = &signing};
    pz_blocking_response resp;
    assert_int_equal(pz_blocking_post(f->client, &req, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_non_null(resp.body.data);
    assert_non_null(strstr(resp.body.data, "AWS4-HMAC-SHA256 Credential=AKIDTEST/"));
    assert_non_null(strstr(resp.body.data, "/eu-west-1/kinesis/aws4_request"));
    assert_non_null(strstr(resp.body.data, "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;"
                                           "x-amz-target, "));
    pz_blocking_response_free(&resp);
}

static void test_failures(void **state)
{
    fixture *f = *state;
    pz_blocking_response resp;
    char big[64];
    snprintf(big, sizeof big, "/big/%u", PZ_BLOCKING_MAX_RESPONSE_BYTES + 1);
    pz_blocking_request req = {.url = url(f, big), .body = "", .body_len = 0};
    assert_int_equal(pz_blocking_post(f->client, &req, &resp), -1);
    assert_non_null(strstr(resp.error, "response too large"));
    pz_blocking_response_free(&resp);

    test_http_server *gone = test_http_start();
    char closed[128];
    snprintf(closed, sizeof closed, "http://127.0.0.1:%d/ok", test_http_port(gone));
    test_http_stop(gone);
    req.url = closed;
    assert_int_equal(pz_blocking_post(f->client, &req, &resp), -1);
    assert_int_equal(resp.status, 0);
    assert_non_null(strstr(resp.error, closed));
    pz_blocking_response_free(&resp);

    pz_blocking_cancel(f->client);
    req.url = url(f, "/ok");
    assert_int_equal(pz_blocking_post(f->client, &req, &resp), -1);
    assert_non_null(strstr(resp.error, "cancelled"));
    pz_blocking_response_free(&resp);
}

static void test_get_with_if_none_match(void **state)
{
    fixture *f = *state;
    pz_blocking_request req = {.method = "GET", .url = url(f, "/etag/v1")};
    pz_blocking_response resp;
    assert_int_equal(pz_blocking_call(f->client, &req, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body.data, "tagged GET");
    assert_string_equal(resp.etag, "\"v1\"");
    pz_blocking_response_free(&resp);

    const char *headers[] = {"If-None-Match: \"v1\"", NULL};
    req.headers = headers;
    assert_int_equal(pz_blocking_call(f->client, &req, &resp), 0);
    assert_int_equal(resp.status, 304);
    assert_int_equal(resp.body.len, 0);
    pz_blocking_response_free(&resp);

    /* the same client still POSTs after a GET */
    pz_blocking_request post = {.url = url(f, "/etag/v2"), .body = "x", .body_len = 1};
    assert_int_equal(pz_blocking_post(f->client, &post, &resp), 0);
    assert_string_equal(resp.body.data, "tagged POST");
    pz_blocking_response_free(&resp);
}

static void test_response_cap_per_request(void **state)
{
    fixture *f = *state;
    pz_blocking_request req = {.method = "GET", .url = url(f, "/big/100"), .max_response_bytes = 99};
    pz_blocking_response resp;
    assert_int_equal(pz_blocking_call(f->client, &req, &resp), -1);
    assert_non_null(strstr(resp.error, "response too large"));
    pz_blocking_response_free(&resp);
    req.max_response_bytes = 100;
    assert_int_equal(pz_blocking_call(f->client, &req, &resp), 0);
    assert_int_equal(resp.body.len, 100);
    pz_blocking_response_free(&resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_answers_of_any_status_on_one_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signed_with_the_session_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_with_if_none_match, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_cap_per_request, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
