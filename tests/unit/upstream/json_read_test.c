/* Tests for server/upstream/json_read.c: the strict arena JSON reader for upstream answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/upstream/json_read.h"

static pz_jvalue *parse(pz_arena *a, const char *text, int depth, char *err, size_t errlen)
{
    return pz_json_read(text, strlen(text), depth, a, err, errlen);
}

static void test_reads_every_type(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    char err[128];
    pz_jvalue *v = parse(&a,
                         " {\"s\":\"x\\\"y\\\\z\\/\\b\\f\\n\\r\\t\",\"n\":-12.5e1,\"z\":0,\"t\":true,\"f\":false,"
                         "\"nul\":null,\"a\":[1,[],{}],\"u\":\"caf\\u00e9 \\ud83d\\ude00 \xe2\x82\xac\"} ",
                         8, err, sizeof err);
    assert_non_null(v);
    assert_int_equal(v->type, PZ_JOBJECT);
    assert_int_equal(v->len, 8);
    assert_string_equal(pz_jvalue_get(v, "s")->str, "x\"y\\z/\b\f\n\r\t");
    assert_true(pz_jvalue_get(v, "n")->number == -125.0);
    assert_int_equal(pz_jvalue_get(v, "z")->type, PZ_JNUMBER);
    assert_int_equal(pz_jvalue_get(v, "t")->type, PZ_JTRUE);
    assert_int_equal(pz_jvalue_get(v, "f")->type, PZ_JFALSE);
    assert_int_equal(pz_jvalue_get(v, "nul")->type, PZ_JNULL);
    const pz_jvalue *arr = pz_jvalue_get(v, "a");
    assert_int_equal(arr->len, 3);
    assert_int_equal(arr->first->next->type, PZ_JARRAY);
    assert_int_equal(arr->first->next->next->type, PZ_JOBJECT);
    assert_string_equal(pz_jvalue_get(v, "u")->str, "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac");
    assert_null(pz_jvalue_get(v, "missing"));
    assert_null(pz_jvalue_get(arr, "a")); /* not an object */
    /* \u0000 is kept, with the length telling */
    v = parse(&a, "\"a\\u0000b\"", 2, err, sizeof err);
    assert_int_equal(v->len, 3);
    pz_arena_destroy(&a);
}

static void test_rejects_malformed_documents(void **state)
{
    (void)state;
    static const char *const BAD[] = {
        "",
        "   ",
        "{",
        "[1,]",
        "{\"a\":1,}",
        "{a:1}",
        "01",
        "-",
        "1.",
        ".5",
        "1e",
        "+1",
        "\"open",
        "\"\x01\"",
        "\"\xff\"",
        "\"\xc0\xaf\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\x\"",
        "\"\\u12\"",
        "tru",
        "nul",
        "[1] x",
        "{\"a\" 1}",
        "[1 2]",
        "NaN",
        "\"\xed\xa0\x80\"",
    };
    pz_arena a;
    pz_arena_init(&a);
    char err[128];
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        pz_jvalue *v = pz_json_read(BAD[i], strlen(BAD[i]), 8, &a, err, sizeof err);
        if (v != NULL)
            fail_msg("accepted bad document %zu: %s", i, BAD[i]);
        assert_non_null(strstr(err, "at offset"));
    }
    pz_arena_destroy(&a);
}

static void test_depth_limit(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    char err[128];
    assert_non_null(parse(&a, "[[[1]]]", 3, err, sizeof err));
    assert_null(parse(&a, "[[[[1]]]]", 3, err, sizeof err));
    assert_non_null(strstr(err, "nested too deeply"));
    assert_non_null(parse(&a, "{\"a\":{\"b\":{}}}", 3, err, sizeof err));
    assert_null(parse(&a, "{\"a\":{\"b\":{\"c\":[]}}}", 3, err, sizeof err));
    pz_arena_destroy(&a);
}

static void test_utf8_validation(void **state)
{
    (void)state;
    assert_true(pz_utf8_valid("plain", 5));
    assert_true(pz_utf8_valid("\xf4\x8f\xbf\xbf", 4));  /* U+10FFFF */
    assert_false(pz_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    assert_false(pz_utf8_valid("\xe0\x80\x80", 3));     /* overlong */
    assert_false(pz_utf8_valid("\xe2\x82", 2));         /* truncated */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_every_type),
        cmocka_unit_test(test_rejects_malformed_documents),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_utf8_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
