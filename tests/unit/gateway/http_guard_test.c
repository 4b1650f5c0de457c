/* gateway/http_guard: the request-head checks (Host, smuggling shapes) and the body types a browser
 * sends cross-origin without a CORS preflight. */
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

static void cors_simple_body_types(void **state)
{
    (void)state;
    /* a browser sends these cross-origin without a preflight */
    const char *simple[] = {"text/plain",
                            "TEXT/Plain;charset=UTF-8",
                            " text/plain ; charset=utf-8",
                            "application/x-www-form-urlencoded",
                            "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
                            "text/plain;"};
    /* these make it ask first (a preflight) */
    const char *preflighted[] = {
        "application/json",
        "application/json; charset=utf-8",
        "text/json",
        "text/plainx",
        "text/html",
        "",
        "multipart/form-data; boundary=\"x\"", /* '"' is a CORS-unsafe byte */
        "text/plain; charset=utf-8\x01",
        "text/plain; a=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
        "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}; /* over 128 bytes */
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        assert_true(pz_cors_simple_body_type(simple[i], strlen(simple[i])));
    for (size_t i = 0; i < sizeof preflighted / sizeof preflighted[0]; i++)
        assert_false(pz_cors_simple_body_type(preflighted[i], strlen(preflighted[i])));
    /* no Content-Type at all (a Blob or ArrayBuffer body) needs no preflight either */
    assert_true(pz_cors_simple_body_type(NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(framing),
        cmocka_unit_test(host),
        cmocka_unit_test(cors_simple_body_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
