/* Tests for server/upstream/upstream.c: the engine against a real local HTTP server
 * (test_http_server.c). Deadlines are real but short; completion is awaited on a condition
 * variable, never by sleeping. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/core/request.h"
#include "server/upstream/upstream.h"
#include "tests/unit/upstream/test_http_server.h"

typedef struct result {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int calls;
    pz_upstream_outcome outcome;
    long status;
    char body[4096];
    int attempts;
    int64_t done_ms;
    pthread_t thread;
} result;

static void result_init(result *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cond, NULL);
}

static void on_done(void *ctx, const pz_upstream_response *res)
{
    result *r = ctx;
    pthread_mutex_lock(&r->mu);
    r->calls++;
    r->outcome = res->outcome;
    r->status = res->status;
    snprintf(r->body, sizeof r->body, "%s", res->body);
    r->attempts = res->attempts;
    r->done_ms = pz_now_ms();
    r->thread = pthread_self();
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
}

static void wait_done(result *r)
{
    pthread_mutex_lock(&r->mu);
    while (r->calls == 0)
        pthread_cond_wait(&r->cond, &r->mu);
    assert_int_equal(r->calls, 1);
    pthread_mutex_unlock(&r->mu);
}

typedef struct fixture {
    test_http_server *http;
    pz_upstream *u;
    char base[64];
} fixture;

static fixture *start(const pz_upstream_options *o)
{
    fixture *f = calloc(1, sizeof *f);
    f->http = test_http_start();
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", test_http_port(f->http));
    f->u = pz_upstream_create(o);
    return f;
}

static void stop(fixture *f)
{
    pz_upstream_destroy(f->u);
    test_http_stop(f->http);
    free(f);
}

static void submit(fixture *f, const char *method, const char *path, int timeout_ms, bool idempotent, result *r)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", f->base, path);
    pz_upstream_request req = {.method = method,
                               .url = url,
                               .deadline_ms = pz_now_ms() + timeout_ms,
                               .idempotent = idempotent,
                               .body = "{}",
                               .body_len = 2};
    pz_upstream_submit(f->u, &req, on_done, r);
}

static void test_response_and_connection_reuse(void **state)
{
    (void)state;
    fixture *f = start(NULL);
    for (int i = 0; i < 5; i++) {
        result r;
        result_init(&r);
        submit(f, "GET", "/ok", 2000, true, &r);
        wait_done(&r);
        assert_int_equal(r.outcome, PZ_UPSTREAM_RESPONSE);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "ok");
        assert_int_equal(r.attempts, 1);
        assert_false(pthread_equal(r.thread, pthread_self())); /* completed on the engine thread */
    }
    assert_int_equal(test_http_requests(f->http), 5);
    assert_int_equal(test_http_connections(f->http), 1); /* keep-alive: one connection for all */
    result r;
    result_init(&r);
    submit(f, "POST", "/echo", 2000, false, &r);
    wait_done(&r);
    assert_string_equal(r.body, "{}");
    stop(f);
}

static void test_deadline_aborts_the_transfer(void **state)
{
    (void)state;
    fixture *f = start(NULL);
    result r;
    result_init(&r);
    int64_t t0 = pz_now_ms();
    submit(f, "GET", "/slow/3000", 150, true, &r);
    wait_done(&r);
    assert_int_equal(r.outcome, PZ_UPSTREAM_TIMEOUT);
    assert_true(r.done_ms - t0 >= 140);
    assert_true(r.done_ms - t0 < 1500); /* did not wait for the upstream */
    stop(f);
}

static void test_queue_full_is_rejected_at_once(void **state)
{
    (void)state;
    pz_upstream_options o;
    pz_upstream_options_default(&o);
    o.max_inflight = 1;
    o.max_queued = 1;
    fixture *f = start(&o);
    result a, b, c;
    result_init(&a);
    result_init(&b);
    result_init(&c);
    submit(f, "GET", "/slow/300", 5000, false, &a);
    submit(f, "GET", "/slow/10", 5000, false, &b);
    submit(f, "GET", "/ok", 5000, false, &c);
    /* the third was answered inline, on this thread, before submit returned */
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.outcome, PZ_UPSTREAM_QUEUE_FULL);
    assert_true(pthread_equal(c.thread, pthread_self()));
    wait_done(&a);
    wait_done(&b);
    assert_int_equal(a.outcome, PZ_UPSTREAM_RESPONSE);
    assert_int_equal(b.outcome, PZ_UPSTREAM_RESPONSE);
    assert_true(b.done_ms >= a.done_ms); /* b waited for a's slot */
    pz_upstream_stats st;
    pz_upstream_get_stats(f->u, &st);
    assert_int_equal(st.rejected_queue_full, 1);
    assert_int_equal(st.submitted, 2);
    stop(f);
}

static void test_deadline_while_queued(void **state)
{
    (void)state;
    pz_upstream_options o;
    pz_upstream_options_default(&o);
    o.max_inflight = 1;
    fixture *f = start(&o);
    result a, b;
    result_init(&a);
    result_init(&b);
    submit(f, "GET", "/slow/600", 5000, false, &a);
    submit(f, "GET", "/ok", 100, false, &b);
    wait_done(&b);
    assert_int_equal(b.outcome, PZ_UPSTREAM_TIMEOUT);
    assert_int_equal(b.attempts, 0); /* never started */
    wait_done(&a);
    assert_int_equal(a.outcome, PZ_UPSTREAM_RESPONSE);
    assert_int_equal(test_http_requests(f->http), 1);
    stop(f);
}

static void test_breaker_opens_after_failures(void **state)
{
    (void)state;
    pz_upstream_options o;
    pz_upstream_options_default(&o);
    o.breaker_threshold = 2;
    o.breaker_open_ms = 60000;
    fixture *f = start(&o);
    for (int i = 0; i < 2; i++) {
        result r;
        result_init(&r);
        submit(f, "POST", "/status/500", 2000, false, &r);
        wait_done(&r);
        assert_int_equal(r.outcome, PZ_UPSTREAM_RESPONSE);
        assert_int_equal(r.status, 500);
    }
    result r;
    result_init(&r);
    submit(f, "POST", "/ok", 2000, false, &r);
    wait_done(&r);
    assert_int_equal(r.outcome, PZ_UPSTREAM_CIRCUIT_OPEN);
    assert_int_equal(test_http_requests(f->http), 2); /* the third never reached the upstream */
    /* another upstream (breaker key) is unaffected */
    char url[128];
    snprintf(url, sizeof url, "%s/ok", f->base);
    result other;
    result_init(&other);
    pz_upstream_request req = {.method = "GET", .url = url, .breaker_key = "other", .deadline_ms = pz_now_ms() + 2000};
    pz_upstream_submit(f->u, &req, on_done, &other);
    wait_done(&other);
    assert_int_equal(other.outcome, PZ_UPSTREAM_RESPONSE);
    stop(f);
}

static void test_idempotent_calls_are_retried(void **state)
{
    (void)state;
    fixture *f = start(NULL);
    result r;
    result_init(&r);
    submit(f, "GET", "/flaky/a", 3000, true, &r);
    wait_done(&r);
    assert_int_equal(r.outcome, PZ_UPSTREAM_RESPONSE);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "recovered");
    assert_int_equal(r.attempts, 2);
    /* a call that is not idempotent is not */
    result_init(&r);
    submit(f, "POST", "/flaky/b", 3000, false, &r);
    wait_done(&r);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.attempts, 1);
    /* nor is a 4xx */
    result_init(&r);
    submit(f, "GET", "/status/400", 3000, true, &r);
    wait_done(&r);
    assert_int_equal(r.status, 400);
    assert_int_equal(r.attempts, 1);
    /* attempts are capped */
    result_init(&r);
    submit(f, "GET", "/status/503", 3000, true, &r);
    wait_done(&r);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.attempts, 3);
    stop(f);
}

static void test_retry_budget_limits_retries(void **state)
{
    (void)state;
    pz_upstream_options o;
    pz_upstream_options_default(&o);
    o.retry_ratio = 0;
    o.retry_min_per_sec = 0; /* one token to start with, none earned */
    o.breaker_threshold = 100;
    fixture *f = start(&o);
    result r;
    result_init(&r);
    submit(f, "GET", "/status/503", 3000, true, &r);
    wait_done(&r);
    assert_int_equal(r.attempts, 2);
    result_init(&r);
    submit(f, "GET", "/status/503", 3000, true, &r);
    wait_done(&r);
    assert_int_equal(r.attempts, 1); /* budget spent: no retry storm */
    pz_upstream_stats st;
    pz_upstream_get_stats(f->u, &st);
    assert_int_equal(st.retries, 1);
    stop(f);
}

static void test_connection_failure(void **state)
{
    (void)state;
    pz_upstream *u = pz_upstream_create(NULL);
    test_http_server *tmp = test_http_start();
    int port = test_http_port(tmp);
    test_http_stop(tmp); /* nothing listens there any more */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", port);
    result r;
    result_init(&r);
    pz_upstream_request req = {.method = "GET", .url = url, .deadline_ms = pz_now_ms() + 2000};
    pz_upstream_submit(u, &req, on_done, &r);
    wait_done(&r);
    assert_int_equal(r.outcome, PZ_UPSTREAM_CONNECT_FAILED);
    pz_upstream_destroy(u);
}

static void test_response_size_cap(void **state)
{
    (void)state;
    fixture *f = start(NULL);
    char url[128];
    snprintf(url, sizeof url, "%s/big/100000", f->base);
    result r;
    result_init(&r);
    pz_upstream_request req = {
        .method = "GET", .url = url, .deadline_ms = pz_now_ms() + 2000, .max_response_bytes = 1000};
    pz_upstream_submit(f->u, &req, on_done, &r);
    wait_done(&r);
    assert_int_equal(r.outcome, PZ_UPSTREAM_TOO_LARGE);
    result_init(&r);
    snprintf(url, sizeof url, "%s/big/1000", f->base);
    pz_upstream_submit(f->u, &req, on_done, &r);
    wait_done(&r);
    assert_int_equal(r.outcome, PZ_UPSTREAM_RESPONSE);
    assert_int_equal(strlen(r.body), 1000);
    stop(f);
}

static void test_sigv4_is_applied(void **state)
{
    (void)state;
    fixture *f = start(NULL);
    char url[128];
    snprintf(url, sizeof url, "%s/auth", f->base);
    const char *headers[] = {"Content-Type: application/json"};
    pz_aws_signing signing = {
        .region = "eu-west-1",
        .service = "personalize",
        .creds = {.access_key_id = "AKIDTEST", .secret_access_key = "secret", .session_token = "tok"}};
    pz_upstream_request req = {.method = "POST",
                               .url = url,
                               .headers = headers,
                               .n_headers = 1,
                               .body = "{}",
                               .body_len = 2,
                               .signing = &signing,
                               .deadline_ms = pz_now_ms() + 2000};
    result r;
    result_init(&r);
    pz_upstream_submit(f->u, &req, on_done, &r);
    wait_done(&r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "AWS4-HMAC-SHA256 Credential=AKIDTEST/"));
    assert_non_null(strstr(r.body, "/eu-west-1/personalize/aws4_request"));
    assert_non_null(strstr(r.body, "x-amz-security-token")); /* the token is signed */
    stop(f);
}

static void test_drain_ends_calls_in_flight(void **state)
{
    (void)state;
    fixture *f = start(NULL);
    result a, b;
    result_init(&a);
    result_init(&b);
    submit(f, "GET", "/slow/800", 10000, false, &a);
    pz_upstream_drain(f->u, 50);
    assert_int_equal(a.calls, 1); /* drain returns after every callback ran */
    assert_int_equal(a.outcome, PZ_UPSTREAM_SHUTDOWN);
    submit(f, "GET", "/ok", 1000, false, &b);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.outcome, PZ_UPSTREAM_SHUTDOWN);
    stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_response_and_connection_reuse),
        cmocka_unit_test(test_deadline_aborts_the_transfer),
        cmocka_unit_test(test_queue_full_is_rejected_at_once),
        cmocka_unit_test(test_deadline_while_queued),
        cmocka_unit_test(test_breaker_opens_after_failures),
        cmocka_unit_test(test_idempotent_calls_are_retried),
        cmocka_unit_test(test_retry_budget_limits_retries),
        cmocka_unit_test(test_connection_failure),
        cmocka_unit_test(test_response_size_cap),
        cmocka_unit_test(test_sigv4_is_applied),
        cmocka_unit_test(test_drain_ends_calls_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
