/* Tests for server/upstream/arn.c: splitting Amazon Resource Names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/upstream/arn.h"

/* The region of an ARN as the recommenders take it for a region hint ("" when not an ARN). */
static void arn_region(const char *arn, char *out, size_t outlen)
{
    pz_arn parsed;
    snprintf(out, outlen, "%s", pz_arn_parse(arn, &parsed) == 0 ? parsed.region : "");
}

static void test_arn_region(void **state)
{
    (void)state;
    char r[64];
    arn_region("arn:aws-cn:personalize:cn-north-1:111122223333:campaign/c", r, sizeof r);
    assert_string_equal(r, "cn-north-1");
    arn_region("not-an-arn", r, sizeof r);
    assert_string_equal(r, "");
    arn_region(NULL, r, sizeof r);
    assert_string_equal(r, "");
}

static void test_fields(void **state)
{
    (void)state;
    const char *text = "arn:aws:lambda:us-west-2:111122223333:function:recs:live";
    pz_arn arn;
    assert_int_equal(pz_arn_parse(text, &arn), 0);
    assert_string_equal(arn.partition, "aws");
    assert_string_equal(arn.service, "lambda");
    assert_string_equal(arn.region, "us-west-2");
    assert_string_equal(arn.account, "111122223333");
    assert_string_equal(arn.resource, "function:recs:live"); /* the rest, colons and all */
    assert_ptr_equal(arn.resource, text + strlen("arn:aws:lambda:us-west-2:111122223333:"));
    /* global resources have no region; an empty resource is still a resource */
    assert_int_equal(pz_arn_parse("arn:aws:iam::111122223333:role/r", &arn), 0);
    assert_string_equal(arn.region, "");
    assert_string_equal(arn.resource, "role/r");
    assert_int_equal(pz_arn_parse("arn:aws:personalize:us-east-1:111122223333:", &arn), 0);
    assert_string_equal(arn.resource, "");
}

static void test_rejects_malformed(void **state)
{
    (void)state;
    pz_arn arn;
    assert_int_equal(pz_arn_parse("arn:aws:personalize:us-east-1:111122223333", &arn), -1); /* five fields */
    assert_null(arn.resource);
    assert_string_equal(arn.region, ""); /* nothing half-filled */
    assert_int_equal(pz_arn_parse("urn:aws:personalize:us-east-1:111122223333:campaign/c", &arn), -1);
    assert_int_equal(pz_arn_parse("", &arn), -1);
    char long_region[200];
    snprintf(long_region, sizeof long_region, "arn:aws:s:%0100d:1:r", 0);
    assert_int_equal(pz_arn_parse(long_region, &arn), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arn_region),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_rejects_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
