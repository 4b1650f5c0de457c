/* Tests for server/upstream/upstream_policy.c: breaker, retry budget, backoff, with time
 * passed in (no sleeping). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server/upstream/upstream_policy.h"

static void test_breaker_opens_after_threshold_consecutive_failures(void **state)
{
    (void)state;
    pz_breaker b;
    pz_breaker_init(&b, 3, 1000);
    int64_t t = 10000;
    assert_true(pz_breaker_allow(&b, t));
    pz_breaker_record(&b, false, t);
    pz_breaker_record(&b, false, t);
    pz_breaker_record(&b, true, t); /* a success resets the count */
    pz_breaker_record(&b, false, t);
    pz_breaker_record(&b, false, t);
    assert_int_equal(b.state, PZ_BREAKER_CLOSED);
    assert_true(pz_breaker_allow(&b, t));
    pz_breaker_record(&b, false, t);
    assert_int_equal(b.state, PZ_BREAKER_OPEN);
    assert_false(pz_breaker_allow(&b, t));
    assert_false(pz_breaker_allow(&b, t + 999));
}

static void test_breaker_half_open_lets_one_probe(void **state)
{
    (void)state;
    pz_breaker b;
    pz_breaker_init(&b, 1, 1000);
    pz_breaker_record(&b, false, 0);
    assert_int_equal(b.state, PZ_BREAKER_OPEN);
    assert_true(pz_breaker_allow(&b, 1000)); /* the probe */
    assert_int_equal(b.state, PZ_BREAKER_HALF_OPEN);
    assert_false(pz_breaker_allow(&b, 1001)); /* only one */
    pz_breaker_record(&b, false, 1500);       /* probe failed: open again, from now */
    assert_int_equal(b.state, PZ_BREAKER_OPEN);
    assert_false(pz_breaker_allow(&b, 2400));
    assert_true(pz_breaker_allow(&b, 2500));
    pz_breaker_record(&b, true, 2510); /* probe succeeded: closed */
    assert_int_equal(b.state, PZ_BREAKER_CLOSED);
    assert_true(pz_breaker_allow(&b, 2511));
    assert_true(pz_breaker_allow(&b, 2511));
}

static void test_breaker_ignores_stragglers_while_open(void **state)
{
    (void)state;
    pz_breaker b;
    pz_breaker_init(&b, 1, 1000);
    pz_breaker_record(&b, false, 0);
    pz_breaker_record(&b, true, 10); /* a call started before it opened */
    assert_int_equal(b.state, PZ_BREAKER_OPEN);
    assert_false(pz_breaker_allow(&b, 20));
}

static void test_retry_budget_ratio_and_floor(void **state)
{
    (void)state;
    pz_retry_budget r;
    pz_retry_budget_init(&r, 0.1, 0, 5, 0); /* 10% of calls, no floor, burst 5 */
    for (int i = 0; i < 5; i++)
        assert_true(pz_retry_budget_try_spend(&r, 0));
    assert_false(pz_retry_budget_try_spend(&r, 0)); /* burst spent */
    for (int i = 0; i < 9; i++)
        pz_retry_budget_on_call(&r);
    assert_false(pz_retry_budget_try_spend(&r, 0)); /* 0.9 tokens */
    pz_retry_budget_on_call(&r);
    assert_true(pz_retry_budget_try_spend(&r, 0));       /* 10 calls earn one retry */
    assert_false(pz_retry_budget_try_spend(&r, 100000)); /* no floor: time earns nothing */

    pz_retry_budget_init(&r, 0, 2, 4, 0); /* floor: 2 retries per second, burst 4 */
    for (int i = 0; i < 4; i++)
        assert_true(pz_retry_budget_try_spend(&r, 0));
    assert_false(pz_retry_budget_try_spend(&r, 0));
    assert_false(pz_retry_budget_try_spend(&r, 499)); /* 0.998 tokens */
    assert_true(pz_retry_budget_try_spend(&r, 500));
    assert_true(pz_retry_budget_try_spend(&r, 10000)); /* capped at the burst, not 19 */
    assert_true(pz_retry_budget_try_spend(&r, 10000));
    assert_true(pz_retry_budget_try_spend(&r, 10000));
    assert_true(pz_retry_budget_try_spend(&r, 10000));
    assert_false(pz_retry_budget_try_spend(&r, 10000));
}

static void test_backoff_doubles_with_jitter_and_cap(void **state)
{
    (void)state;
    uint32_t seed = 42;
    for (int i = 0; i < 200; i++) {
        int64_t d1 = pz_retry_backoff_ms(1, 25, 250, &seed);
        int64_t d2 = pz_retry_backoff_ms(2, 25, 250, &seed);
        int64_t d9 = pz_retry_backoff_ms(9, 25, 250, &seed);
        assert_true(d1 >= 12 && d1 <= 25);
        assert_true(d2 >= 25 && d2 <= 50);
        assert_true(d9 >= 125 && d9 <= 250);
    }
    uint32_t a = 7, b = 7;
    assert_int_equal(pz_retry_backoff_ms(3, 25, 250, &a), pz_retry_backoff_ms(3, 25, 250, &b)); /* seeded */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_breaker_opens_after_threshold_consecutive_failures),
        cmocka_unit_test(test_breaker_half_open_lets_one_probe),
        cmocka_unit_test(test_breaker_ignores_stragglers_while_open),
        cmocka_unit_test(test_retry_budget_ratio_and_floor),
        cmocka_unit_test(test_backoff_doubles_with_jitter_and_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
