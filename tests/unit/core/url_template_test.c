/* Tests for server/core/url_template.c: placeholder checks, expansion and URL encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/core/url_template.h"

static void test_check_accepts_every_placeholder(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(pz_url_template_check("https://x.example/{namespace}/{recommender}/{user_id}/{userId}/"
                                           "{item_id}/{itemId}?ids={itemIds}&n={numResults}&f={filter}"
                                           "&fv={filterValues}&c={context}&d={decorateItems}&s={syntheticUser}"
                                           "&x={feature}",
                                           err, sizeof err),
                     0);
    assert_int_equal(pz_url_template_check("http://plain.example/no/placeholders", err, sizeof err), 0);
}

/* A name that is not the server's is a query parameter (issue 12: upstream fills every
 * placeholder from the query string); only malformed templates are refused. */
static void test_check_rejects_unbalanced_and_bad_names(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(pz_url_template_check("http://x/{userid}?p={page}", err, sizeof err), 0);
    assert_true(pz_url_template_builtin("userId", 6));
    assert_false(pz_url_template_builtin("userid", 6));
    assert_false(pz_url_template_builtin("page", 4));
    char long_name[80] = "http://x/{";
    memset(long_name + 10, 'n', PZ_URL_TEMPLATE_MAX_NAME);
    strcpy(long_name + 10 + PZ_URL_TEMPLATE_MAX_NAME, "}");
    assert_int_equal(pz_url_template_check(long_name, err, sizeof err), -1);
    assert_non_null(strstr(err, "1 to 63 characters"));
    long_name[10 + PZ_URL_TEMPLATE_MAX_NAME - 1] = '}';
    long_name[10 + PZ_URL_TEMPLATE_MAX_NAME] = '\0';
    assert_int_equal(pz_url_template_check(long_name, err, sizeof err), 0); /* 63: the longest */
    assert_int_equal(pz_url_template_check("http://x/{userId", err, sizeof err), -1);
    assert_non_null(strstr(err, "not closed"));
    assert_int_equal(pz_url_template_check("http://x/{user{Id}}", err, sizeof err), -1);
    assert_int_equal(pz_url_template_check("http://x/}", err, sizeof err), -1);
    assert_int_equal(pz_url_template_check("http://x/{}", err, sizeof err), -1);
}

static void collect(void *ctx, const char *name, size_t len)
{
    char *out = ctx;
    strncat(out, name, len);
    strcat(out, ";");
}

static void test_each_visits_every_placeholder(void **state)
{
    (void)state;
    char seen[128] = "";
    pz_url_template_each("http://x/{userId}/{page}?q={page}&n={numResults}", collect, seen);
    assert_string_equal(seen, "userId;page;page;numResults;");
}

static const char *lookup(void *ctx, const char *name)
{
    (void)ctx;
    if (strcmp(name, "page") == 0)
        return "2 of 3";
    if (strcmp(name, "userId") == 0)
        return "a b/c?d=e&f#g%";
    if (strcmp(name, "numResults") == 0)
        return "25";
    if (strcmp(name, "itemId") == 0)
        return "caf\xc3\xa9-~._";
    return NULL; /* absent: "" */
}

static void test_expand_encodes_values(void **state)
{
    (void)state;
    pz_buf out;
    pz_buf_init(&out, 1024);
    assert_int_equal(
        pz_url_template_expand("http://h/r/{userId}?n={numResults}&i={itemId}&f={filter}", lookup, NULL, &out), 0);
    assert_string_equal(out.data, "http://h/r/a%20b%2Fc%3Fd%3De%26f%23g%25?n=25&i=caf%C3%A9-~._&f=");
    pz_buf_free(&out);
}

static void test_expand_respects_the_cap(void **state)
{
    (void)state;
    pz_buf out;
    pz_buf_init(&out, 20);
    assert_int_equal(pz_url_template_expand("http://h/{userId}", lookup, NULL, &out), -1);
    pz_buf_free(&out);
    pz_buf_init(&out, 64);
    assert_int_equal(pz_url_template_expand("http://h/{page}/{bogus}", lookup, NULL, &out), 0);
    assert_string_equal(out.data, "http://h/2%20of%203/"); /* the lookup's query parameters; absent: "" */
    pz_buf_free(&out);
    pz_buf_init(&out, 64);
    assert_int_equal(pz_url_template_expand("http://h/{}", lookup, NULL, &out), -1);
    pz_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_accepts_every_placeholder),
        cmocka_unit_test(test_check_rejects_unbalanced_and_bad_names),
        cmocka_unit_test(test_each_visits_every_placeholder),
        cmocka_unit_test(test_expand_encodes_values),
        cmocka_unit_test(test_expand_respects_the_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
