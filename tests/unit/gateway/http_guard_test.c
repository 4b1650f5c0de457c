/* gateway/http_guard: the request-head checks (Host, smuggling shapes) and JSON content types. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "gateway/http_guard.h"

static pz_http1_framing check(const char *head)
{
    return pz_http1_check_framing(head, strlen(head));
}

static void framing(void **state)
{
    (void)state;
    assert_int_equal(check("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), PZ_FRAMING_OK);
    assert_int_equal(check("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"), PZ_FRAMING_OK);
    assert_int_equal(check("POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 5\r\nTRANSFER-ENCODING: chunked\r\n\r\n"),
                     PZ_FRAMING_LENGTH_AND_CHUNKED);
    assert_int_equal(check("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: x\r\nContent-Length: 5\r\n\r\n"),
                     PZ_FRAMING_LENGTH_AND_CHUNKED);
    assert_int_equal(check("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
                     PZ_FRAMING_CONFLICTING_LENGTHS);
    /* the same value twice is one length (RFC 9110 §8.6), spaces aside */
    assert_int_equal(check("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length:5 \r\n\r\n"),
                     PZ_FRAMING_OK);
    /* headers after the empty line are the body's business */
    assert_int_equal(check("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\nTransfer-Encoding: chunked\r\n"),
                     PZ_FRAMING_OK);
    assert_string_equal(pz_http1_framing_message(PZ_FRAMING_CONFLICTING_LENGTHS),
                        "the request has conflicting Content-Length headers");
}

static void host(void **state)
{
    (void)state;
    assert_int_equal(check("GET / HTTP/1.1\r\n\r\n"), PZ_FRAMING_MISSING_HOST);
    assert_int_equal(check("GET / HTTP/1.1\r\nhOST:x\r\n\r\n"), PZ_FRAMING_OK);
    assert_int_equal(check("GET / HTTP/1.0\r\n\r\n"), PZ_FRAMING_OK);
    assert_int_equal(check("GET / HTTP/1.1\nAccept: */*\n\n"), PZ_FRAMING_MISSING_HOST);
}

static void json_types(void **state)
{
    (void)state;
    const char *yes[] = {"application/json", "Application/JSON", " application/json ",
                         "application/json; charset=utf-8", "application/json;charset=UTF-8"};
    const char *no[] = {"",
                        "text/plain",
                        "application/x-www-form-urlencoded",
                        "multipart/form-data; boundary=x",
                        "application/jsonp",
                        "application/json-seq",
                        "text/json",
                        "application/"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(pz_is_json_content_type(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(pz_is_json_content_type(no[i], strlen(no[i])));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(framing),
        cmocka_unit_test(host),
        cmocka_unit_test(json_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
