/* Tests for the request context's operations part (server/core/request.c, request_metrics.c,
 * log.c): request ids (the caller's when valid, else minted and unique), W3C traceparent parsing,
 * the access line in the text and JSON formats (request id, trace id, configured names), the
 * finished hook, and the requests' metrics with their bounded labels. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/request.h"
#include "server/core/request_metrics.h"

static void init_with_headers(pz_request *req, pz_arena *a, const pz_header *h, size_t n)
{
    pz_request_init(req, a);
    req->headers = h;
    req->n_headers = n;
}

#define HEADER(name, value)                                                                                            \
    {                                                                                                                  \
        name, sizeof name - 1, value, sizeof value - 1                                                                 \
    }

static void test_request_ids(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    pz_request req;
    const pz_header good[] = {HEADER("x-request-id", "client-42.a:b_c")};
    init_with_headers(&req, &a, good, 1);
    pz_request_assign_id(&req);
    assert_string_equal(req.hints.request_id, "client-42.a:b_c");

    const char *bad_values[] = {"", "has space", "semi;colon", "quote\""};
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
        pz_header bad = {"x-request-id", 12, bad_values[i], strlen(bad_values[i])};
        init_with_headers(&req, &a, &bad, 1);
        pz_request_assign_id(&req);
        assert_int_equal(strlen(req.hints.request_id), 16);
        assert_string_not_equal(req.hints.request_id, bad_values[i]);
    }
    char too_long[PZ_REQUEST_ID_MAX + 2];
    memset(too_long, 'a', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    pz_header longer = {"x-request-id", 12, too_long, strlen(too_long)};
    init_with_headers(&req, &a, &longer, 1);
    pz_request_assign_id(&req);
    assert_int_equal(strlen(req.hints.request_id), 16);

    /* minted ids: 16 lower-case hex characters, never the same twice */
    char seen[64][17];
    for (int i = 0; i < 64; i++) {
        init_with_headers(&req, &a, NULL, 0);
        pz_request_assign_id(&req);
        assert_int_equal(strspn(req.hints.request_id, "0123456789abcdef"), 16);
        snprintf(seen[i], sizeof seen[i], "%s", req.hints.request_id);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(seen[k], seen[i]);
    }
    pz_arena_destroy(&a);
}

static void test_traceparent(void **state)
{
    (void)state;
    char id[33];
    const char *ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    assert_true(pz_traceparent_trace_id(ok, strlen(ok), id));
    assert_string_equal(id, "4bf92f3577b34da6a3ce929d0e0e4736");
    const char *later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-adds";
    assert_true(pz_traceparent_trace_id(later, strlen(later), id)); /* a later version may add fields */
    static const char *const bad[] = {
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   /* all-zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   /* all-zero parent id */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version ff */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   /* upper case */
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",    /* short trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", /* version 00 is exactly 55 */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",   /* flags */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(pz_traceparent_trace_id(bad[i], strlen(bad[i]), id));
}

/* Runs fn with stderr going to a file; returns what was written (static buffer). */
static const char *capture_stderr(void (*fn)(void *), void *arg)
{
    static char out[8192];
    char path[] = "/tmp/pz-request-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn(arg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, out, sizeof out - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return out;
}

typedef struct hook_seen {
    int calls;
    int code;
    char what[64];
} hook_seen;

static void on_finished(void *ctx, const pz_request *req, const char *what, int code)
{
    (void)req;
    hook_seen *h = ctx;
    h->calls++;
    h->code = code;
    snprintf(h->what, sizeof h->what, "%s", what);
}

static void log_one(void *arg)
{
    pz_request_log_access(arg, "GET /recommend-items/{namespace}/{recommender}/{user_id}", 404);
}

static void test_access_line_formats(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    pz_request req;
    const pz_header h[] = {HEADER("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                           HEADER("x-request-id", "rid-1")};
    init_with_headers(&req, &a, h, 2);
    pz_request_assign_id(&req);
    req.protocol = "rest";
    req.client_addr = "127.0.0.1:5000";
    req.principal = "key:backend";
    req.status = PZ_NOT_FOUND;
    req.error.code = "RecommenderNotConfigured";
    req.hints.namespace_key = "demo";
    hook_seen seen = {0};
    pz_request_set_finished_hook(on_finished, &seen);

    const char *text = capture_stderr(log_one, &req);
    assert_non_null(strstr(text, " info  access rest GET /recommend-items/{namespace}/{recommender}/{user_id} "
                                 "status=404 dur_ms="));
    assert_non_null(strstr(text, " client=127.0.0.1:5000 principal=key:backend variation=- "));
    assert_non_null(strstr(text, "error=RecommenderNotConfigured request_id=rid-1 "
                                 "trace_id=4bf92f3577b34da6a3ce929d0e0e4736\n"));

    pz_log_set_format(PZ_LOG_JSON);
    const char *json = capture_stderr(log_one, &req);
    pz_log_set_format(PZ_LOG_TEXT);
    assert_true(json[0] == '{');
    assert_non_null(strstr(json, "\"level\":\"info\",\"msg\":\"access\",\"protocol\":\"rest\","
                                 "\"route\":\"GET /recommend-items/{namespace}/{recommender}/{user_id}\","
                                 "\"status\":404,\"duration_ms\":"));
    assert_non_null(strstr(json, "\"client\":\"127.0.0.1:5000\",\"principal\":\"key:backend\",\"namespace\":\"demo\","
                                 "\"error\":\"RecommenderNotConfigured\",\"request_id\":\"rid-1\","
                                 "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}\n"));
    assert_int_equal(seen.calls, 2);

    /* below the log level: no line, the hook (metrics) still runs */
    pz_log_set_level(PZ_LOG_WARN);
    const char *quiet = capture_stderr(log_one, &req);
    pz_log_set_level(PZ_LOG_INFO);
    assert_string_equal(quiet, "");
    assert_int_equal(seen.calls, 3);
    assert_int_equal(seen.code, 404);
    pz_request_set_finished_hook(NULL, NULL);
    pz_arena_destroy(&a);
}

static void log_plain(void *arg)
{
    (void)arg;
    pz_info("a \"quoted\"\nline");
}

static void test_json_lines_escape_messages(void **state)
{
    (void)state;
    pz_log_set_format(PZ_LOG_JSON);
    const char *json = capture_stderr(log_plain, NULL);
    pz_log_set_format(PZ_LOG_TEXT);
    assert_non_null(strstr(json, "\",\"level\":\"info\",\"msg\":\"a \\\"quoted\\\"\\nline\"}\n"));
    assert_int_equal(strncmp(json, "{\"time\":\"", 9), 0);
    pz_log_format f;
    assert_int_equal(pz_log_format_parse("JSON", &f), 0);
    assert_int_equal(f, PZ_LOG_JSON);
    assert_int_equal(pz_log_format_parse("xml", &f), -1);
}

static void log_secret(void *arg)
{
    (void)arg;
    pz_warn("webhook https://admin:hunter2@hooks.example/in?token=s3cr3t failed");
}

static void log_forged_route(void *arg)
{
    pz_request_log_access(arg, "POST /x\n2026-01-01T00:00:00.000Z info  forged https://u:pw@h/?k=v", 404);
}

/* Issue 19's rules hold in both formats: URLs redacted (server/core/redact.h), one line per event. */
static void test_both_formats_escape_and_redact(void **state)
{
    (void)state;
    pz_log_set_format(PZ_LOG_JSON);
    const char *json = capture_stderr(log_secret, NULL);
    assert_non_null(strstr(json, "\"msg\":\"webhook https://***@hooks.example/in?token=*** failed\"}\n"));
    pz_arena a;
    pz_arena_init(&a);
    pz_request req;
    init_with_headers(&req, &a, NULL, 0);
    req.protocol = "rest";
    json = capture_stderr(log_forged_route, &req);
    assert_non_null(strstr(json, "\"route\":\"POST /x\\n2026-01-01T00:00:00.000Z info  forged https://***@h/?k=***\""));
    assert_null(strstr(json, "pw@"));
    assert_int_equal(strchr(json, '\n') - json, (long)strlen(json) - 1); /* one line */
    pz_log_set_format(PZ_LOG_TEXT);
    const char *text = capture_stderr(log_forged_route, &req);
    assert_non_null(strstr(text, "access rest POST /x\\x0a2026-01-01T00:00:00.000Z info  forged https://***@h/?k=*** "
                                 "status=404"));
    assert_int_equal(strchr(text, '\n') - text, (long)strlen(text) - 1);
    pz_arena_destroy(&a);
}

static void test_status_classes(void **state)
{
    (void)state;
    assert_string_equal(pz_status_class(true, 200), "2xx");
    assert_string_equal(pz_status_class(true, 304), "3xx");
    assert_string_equal(pz_status_class(true, 429), "4xx");
    assert_string_equal(pz_status_class(true, 504), "5xx");
    assert_string_equal(pz_status_class(false, 0), "2xx");  /* OK */
    assert_string_equal(pz_status_class(false, 1), "4xx");  /* CANCELLED */
    assert_string_equal(pz_status_class(false, 3), "4xx");  /* INVALID_ARGUMENT */
    assert_string_equal(pz_status_class(false, 4), "5xx");  /* DEADLINE_EXCEEDED */
    assert_string_equal(pz_status_class(false, 8), "4xx");  /* RESOURCE_EXHAUSTED */
    assert_string_equal(pz_status_class(false, 14), "5xx"); /* UNAVAILABLE */
    assert_string_equal(pz_status_class(false, 16), "4xx"); /* UNAUTHENTICATED */
    assert_string_equal(pz_status_class(false, 99), "5xx");
}

static void test_request_metrics(void **state)
{
    (void)state;
    pz_metrics *m = pz_metrics_create();
    pz_request_metrics *rm = pz_request_metrics_create(m);
    pz_arena a;
    pz_arena_init(&a);
    pz_request req;
    pz_request_init(&req, &a);
    req.protocol = "grpc";
    req.hints.namespace_key = "demo";
    req.hints.recommender_key = "for-you";
    req.hints.variation = "v1";
    pz_request_metrics_record(rm, &req, "RecommendItems", 0);
    pz_request_metrics_record(rm, &req, "RecommendItems", 0);
    pz_request unknown;
    pz_request_init(&unknown, &a); /* did not resolve: names stay out of the labels */
    unknown.protocol = "rest";
    pz_request_metrics_record(rm, &unknown, "GET /recommend-items/{namespace}/{recommender}/{user_id}", 404);
    pz_buf b;
    pz_buf_init(&b, 1 << 20);
    assert_int_equal(pz_metrics_render(m, &b), 0);
    assert_non_null(strstr(b.data, "pz_requests_total{protocol=\"grpc\",route=\"RecommendItems\",namespace=\"demo\","
                                   "recommender=\"for-you\",variation=\"v1\",status_class=\"2xx\"} 2\n"));
    assert_non_null(strstr(b.data, "pz_requests_total{protocol=\"rest\",route=\"GET "
                                   "/recommend-items/{namespace}/{recommender}/{user_id}\",namespace=\"\","
                                   "recommender=\"\",variation=\"\",status_class=\"4xx\"} 1\n"));
    assert_non_null(strstr(b.data,
                           "pz_request_duration_seconds_count{protocol=\"grpc\",route=\"RecommendItems\","
                           "namespace=\"demo\",recommender=\"for-you\",variation=\"v1\",status_class=\"2xx\"} 2\n"));
    pz_buf_free(&b);
    pz_arena_destroy(&a);
    pz_request_metrics_destroy(rm);
    pz_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_ids),
        cmocka_unit_test(test_traceparent),
        cmocka_unit_test(test_access_line_formats),
        cmocka_unit_test(test_json_lines_escape_messages),
        cmocka_unit_test(test_both_formats_escape_and_redact),
        cmocka_unit_test(test_status_classes),
        cmocka_unit_test(test_request_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
