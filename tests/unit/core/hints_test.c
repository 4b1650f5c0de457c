/* Tests for server/core/hints.c: the names, order and conditions under which each front sends the
 * response hints (both fronts' wire output depends on them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/core/hints.h"

static const pz_response_hints ALL_SET = {
    .config_version = "v1",
    .cache_control = "private,max-age=10",
    .etag = "\"e\"",
    .vary = "cloudfront-viewer-country",
    .variation = "var",
    .experiment = "exp",
    .fallback_from = "failed",
};

/* "name=value;..." for what `front` sends, in table order. */
static void render(const pz_response_hints *h, pz_front front, bool cacheable, char *out, size_t len)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < PZ_HINT_HEADERS_COUNT; i++) {
        const char *v = pz_hint_value(&pz_hint_headers[i], h, front, cacheable);
        if (v != NULL)
            n += (size_t)snprintf(out + n, len - n, "%s=%s;", pz_hint_headers[i].name, v);
    }
}

static void test_rest_cacheable_route(void **state)
{
    (void)state;
    char out[512];
    render(&ALL_SET, PZ_FRONT_REST, true, out, sizeof out);
    assert_string_equal(out, "x-personalization-config-version=v1;cache-control=private,max-age=10;etag=\"e\";"
                             "vary=cloudfront-viewer-country;x-personalization-variation=var;"
                             "x-personalization-experiment=exp;x-personalization-fallback=failed;");
}

static void test_rest_uncacheable_route(void **state)
{
    (void)state;
    char out[512];
    render(&ALL_SET, PZ_FRONT_REST, false, out, sizeof out);
    assert_string_equal(out, "x-personalization-config-version=v1;cache-control=no-store;"
                             "vary=cloudfront-viewer-country;x-personalization-variation=var;"
                             "x-personalization-experiment=exp;x-personalization-fallback=failed;");
    pz_response_hints none = {0};
    render(&none, PZ_FRONT_REST, false, out, sizeof out);
    assert_string_equal(out, "cache-control=no-store;"); /* said even when the core set nothing */
    render(&none, PZ_FRONT_REST, true, out, sizeof out);
    assert_string_equal(out, ""); /* no policy, no header (spec §4.1) */
}

static void test_grpc(void **state)
{
    (void)state;
    char out[512];
    render(&ALL_SET, PZ_FRONT_GRPC, true, out, sizeof out);
    assert_string_equal(out, "x-personalization-config-version=v1;cache-control=private,max-age=10;etag=\"e\";"
                             "x-personalization-variation=var;x-personalization-experiment=exp;"
                             "x-personalization-fallback=failed;");
}

static void test_request_id_on_every_response(void **state)
{
    (void)state;
    pz_response_hints h = {.request_id = "0123456789abcdef", .variation = "v"};
    char out[512];
    render(&h, PZ_FRONT_REST, false, out, sizeof out);
    assert_string_equal(out, "cache-control=no-store;x-personalization-variation=v;x-request-id=0123456789abcdef;");
    render(&h, PZ_FRONT_GRPC, true, out, sizeof out);
    assert_string_equal(out, "x-personalization-variation=v;x-request-id=0123456789abcdef;");
    /* errors carry the request id and nothing else */
    for (size_t i = 0; i < PZ_HINT_HEADERS_COUNT; i++)
        assert_int_equal(pz_hint_headers[i].on_errors, strcmp(pz_hint_headers[i].name, "x-request-id") == 0);
}

/* A value that would split the header is never sent, on either front. */
static void test_values_with_control_characters_are_not_sent(void **state)
{
    (void)state;
    assert_true(pz_header_value_valid("private,max-age=10"));
    assert_true(pz_header_value_valid(""));
    assert_true(pz_header_value_valid("caf\xC3\xA9")); /* obs-text is not a control character */
    assert_false(pz_header_value_valid("v1\r\nSet-Cookie: a=b"));
    assert_false(pz_header_value_valid("v1\nX: y"));
    assert_false(pz_header_value_valid("tab\there"));
    assert_false(pz_header_value_valid("del\x7f"));
    pz_response_hints h = {.config_version = "v1\r\nSet-Cookie: a=b", .variation = "ok"};
    char out[256];
    render(&h, PZ_FRONT_REST, true, out, sizeof out);
    assert_string_equal(out, "x-personalization-variation=ok;");
    render(&h, PZ_FRONT_GRPC, true, out, sizeof out);
    assert_string_equal(out, "x-personalization-variation=ok;");
}

/* Each row's field is the hints member its header carries, whatever the front would send of it. */
static void test_field_is_the_member_the_row_names(void **state)
{
    (void)state;
    pz_response_hints h = ALL_SET;
    h.etag = "\"e\"\n"; /* sent by neither front (a control character), but still the field */
    h.request_id = "rid";
    const struct {
        const char *name, *member;
    } want[] = {
        {"x-personalization-config-version", h.config_version},
        {"cache-control", h.cache_control},
        {"etag", h.etag},
        {"vary", h.vary},
        {"x-personalization-variation", h.variation},
        {"x-personalization-experiment", h.experiment},
        {"x-personalization-fallback", h.fallback_from},
        {"x-request-id", h.request_id},
    };
    assert_int_equal(sizeof want / sizeof want[0], PZ_HINT_HEADERS_COUNT);
    for (size_t i = 0; i < PZ_HINT_HEADERS_COUNT; i++) {
        assert_string_equal(pz_hint_headers[i].name, want[i].name);
        assert_ptr_equal(pz_hint_field(&pz_hint_headers[i], &h), want[i].member);
    }
    assert_null(pz_hint_value(&pz_hint_headers[2], &h, PZ_FRONT_GRPC, true));
}

static void test_rows_are_lower_case_and_distinct(void **state)
{
    (void)state;
    for (size_t i = 0; i < PZ_HINT_HEADERS_COUNT; i++) {
        const pz_hint_header *row = &pz_hint_headers[i];
        for (const char *p = row->name; *p != '\0'; p++)
            assert_false(*p >= 'A' && *p <= 'Z');
        assert_true(row->offset + sizeof(const char *) <= sizeof(pz_response_hints));
        assert_int_not_equal(row->fronts, 0);
        for (size_t k = i + 1; k < PZ_HINT_HEADERS_COUNT; k++) {
            assert_string_not_equal(row->name, pz_hint_headers[k].name);
            assert_int_not_equal(row->offset, pz_hint_headers[k].offset);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rest_cacheable_route),
        cmocka_unit_test(test_rest_uncacheable_route),
        cmocka_unit_test(test_grpc),
        cmocka_unit_test(test_request_id_on_every_response),
        cmocka_unit_test(test_values_with_control_characters_are_not_sent),
        cmocka_unit_test(test_field_is_the_member_the_row_names),
        cmocka_unit_test(test_rows_are_lower_case_and_distinct),
    };
    return cmocka_run_group_tests_name("core_hints", tests, NULL, NULL);
}
