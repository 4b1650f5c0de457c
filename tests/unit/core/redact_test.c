/* Tests for server/core/redact.c and the log writer's use of it (issue 19: webhook credentials and
 * tokens appeared in /admin/events/stats and in logs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/core/log.h"
#include "server/core/redact.h"

static void expect(const char *in, const char *want)
{
    char *got = pz_redact_urls_dup(in);
    if (strcmp(got, want) != 0)
        fail_msg("redact(%s) = %s, want %s", in, got, want);
    free(got);
}

static void test_urls(void **state)
{
    (void)state;
    expect("https://user:pass@hooks.example.com/in?token=abc&page=2#frag",
           "https://***@hooks.example.com/in?token=***&page=***#***");
    expect("http://h.example/e", "http://h.example/e"); /* nothing secret: unchanged */
    expect("http://tok@h.example:8443/p;x?a", "http://***@h.example:8443/p;x?a");
    expect("connect to https://u:p@a.example/x failed; retry http://b.example/?k=v&&q=",
           "connect to https://***@a.example/x failed; retry http://b.example/?k=***&&q=***");
    expect("\"https://u:p@a.example/\"", "\"https://***@a.example/\""); /* stops at the quote */
    expect("no url :// here, a://", "no url :// here, a://");
    expect("", "");
    /* '@' after the authority is not userinfo. */
    expect("https://a.example/users/@me?x=1", "https://a.example/users/@me?x=***");
}

static void test_cut_to_capacity(void **state)
{
    (void)state;
    char out[16];
    const char *in = "https://user:pass@h.example/?token=secret";
    size_t n = pz_redact_urls(in, strlen(in), out, sizeof out);
    assert_int_equal(n, 15);
    assert_string_equal(out, "https://***@h.e");
    assert_null(strstr(out, "pass"));
}

static void test_tokens(void **state)
{
    (void)state;
    char *t = pz_redact_token("3f1e2d4c-aaaa-bbbb-cccc-1234567890ab");
    assert_string_equal(t, "***90ab");
    free(t);
    t = pz_redact_token("trk-1");
    assert_string_equal(t, "***");
    free(t);
}

static void expect_json(const char *in, const char *want)
{
    json_error_t err;
    json_t *doc = json_loads(in, 0, &err);
    assert_non_null(doc);
    pz_redact_json(doc);
    char *out = json_dumps(doc, JSON_COMPACT);
    assert_string_equal(out, want);
    free(out);
    json_decref(doc);
}

/* Documents (the admin API's configuration): header values, members named like secrets (whole
 * values, nested too), tracking ids, URLs in any string; everything else, keys included, kept. */
static void test_json_documents(void **state)
{
    (void)state;
    expect_json("{\"eventTargets\":[{\"type\":\"http\",\"url\":\"https://hooks.example/x\","
                "\"headers\":{\"Authorization\":\"Bearer abc\",\"X-Tenant\":\"t1\"}}]}",
                "{\"eventTargets\":[{\"type\":\"http\",\"url\":\"https://hooks.example/x\","
                "\"headers\":{\"Authorization\":\"***\",\"X-Tenant\":\"***\"}}]}");
    expect_json(
        "{\"auth\":{\"apiKeys\":[{\"name\":\"k\",\"key\":\"s\"}],\"clientSecret\":\"x\",\"issuer\":\"i\"},"
        "\"password\":7,\"sessionToken\":null,\"trackingId\":\"0123456789abcdef\",\"n\":{\"trackingId\":\"short\"}}",
        "{\"auth\":{\"apiKeys\":[{\"name\":\"***\",\"key\":\"***\"}],\"clientSecret\":\"***\",\"issuer\":\"i\"},"
        "\"password\":\"***\",\"sessionToken\":\"***\",\"trackingId\":\"***cdef\",\"n\":{\"trackingId\":\"***\"}}");
    expect_json("{\"url\":\"https://user:pa55@config.example:8443/a@b?key=v&n=2#f\",\"other\":\"mailto:a@b\","
                "\"list\":[\"http://u@h/\",\"plain\"]}",
                "{\"url\":\"https://***@config.example:8443/a@b?key=***&n=***#***\",\"other\":\"mailto:a@b\","
                "\"list\":[\"http://***@h/\",\"plain\"]}");
    expect_json("{\"version\":\"3\",\"namespaces\":{}}", "{\"version\":\"3\",\"namespaces\":{}}");
}

static void test_log_lines_are_redacted(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    pz_warn("events: target shop/http/%s: HTTP 500", "https://admin:hunter2@hooks.example/in?token=s3cr3t");
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    char buf[1024] = "";
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    /* The URL runs to the next space, so the ':' after it is part of the redacted value. */
    assert_non_null(strstr(buf, " events: target shop/http/https://***@hooks.example/in?token=*** HTTP 500\n"));
    assert_null(strstr(buf, "hunter2"));
    assert_null(strstr(buf, "s3cr3t"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_cut_to_capacity),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_json_documents),
        cmocka_unit_test(test_log_lines_are_redacted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
