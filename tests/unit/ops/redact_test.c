/* Tests for server/ops/redact.c: what leaves through the admin API has no secrets: header values,
 * members named like secrets (whole values, nested too), the user information of URLs; everything
 * else, keys included, is kept as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/ops/redact.h"

static void assert_redacts(const char *in, const char *expected)
{
    json_error_t err;
    json_t *doc = json_loads(in, 0, &err);
    assert_non_null(doc);
    pz_redact_config(doc);
    char *out = json_dumps(doc, JSON_COMPACT);
    assert_string_equal(out, expected);
    free(out);
    json_decref(doc);
}

static void test_headers_and_secret_names(void **state)
{
    (void)state;
    assert_redacts("{\"eventTargets\":[{\"type\":\"http\",\"url\":\"https://hooks.example/x\","
                   "\"headers\":{\"Authorization\":\"Bearer abc\",\"X-Tenant\":\"t1\"}}]}",
                   "{\"eventTargets\":[{\"type\":\"http\",\"url\":\"https://hooks.example/x\","
                   "\"headers\":{\"Authorization\":\"[REDACTED]\",\"X-Tenant\":\"[REDACTED]\"}}]}");
    assert_redacts("{\"auth\":{\"apiKeys\":[{\"name\":\"k\",\"key\":\"s\"}],\"clientSecret\":\"x\",\"issuer\":\"i\"},"
                   "\"password\":7,\"sessionToken\":null,\"trackingId\":\"tid\"}",
                   "{\"auth\":{\"apiKeys\":[{\"name\":\"[REDACTED]\",\"key\":\"[REDACTED]\"}],"
                   "\"clientSecret\":\"[REDACTED]\",\"issuer\":\"i\"},\"password\":\"[REDACTED]\","
                   "\"sessionToken\":\"[REDACTED]\",\"trackingId\":\"tid\"}");
}

static void test_url_user_information(void **state)
{
    (void)state;
    assert_redacts("{\"url\":\"https://user:pa55@config.example:8443/a@b?x=y\",\"other\":\"mailto:a@b\","
                   "\"list\":[\"http://u@h/\",\"plain\"]}",
                   "{\"url\":\"https://[REDACTED]@config.example:8443/a@b?x=y\",\"other\":\"mailto:a@b\","
                   "\"list\":[\"http://[REDACTED]@h/\",\"plain\"]}");
    assert_redacts("{\"version\":\"3\",\"namespaces\":{}}", "{\"version\":\"3\",\"namespaces\":{}}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers_and_secret_names),
        cmocka_unit_test(test_url_user_information),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
