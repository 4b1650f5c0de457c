/* Tests for server/auth/token_cache.c and rate_limit.c: remembered tokens (by hash, policy and key
 * revision, until they expire, bounded) and token buckets (burst, refill, Retry-After, bounded).
 * Time is a parameter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/auth/digest.h"
#include "server/auth/rate_limit.h"
#include "server/auth/token_cache.h"

static pz_token_key key_of(const char *token, uint64_t policy, uint64_t revision)
{
    pz_token_key k = {.policy = policy, .keys_revision = revision};
    pz_sha256(token, strlen(token), k.digest);
    return k;
}

static void test_tokens_are_remembered_until_they_expire(void **state)
{
    (void)state;
    pz_token_cache *c = pz_token_cache_create(0);
    const char *scopes[] = {"openid", "api/read"};
    pz_jwt_claims claims = {.subject = "u1", .user_id = "u1", .scopes = scopes, .n_scopes = 2, .expires_ms = 100000};
    pz_token_key k = key_of("token-1", 7, 1);
    pz_token_cache_put(c, &k, &claims);
    pz_arena arena;
    pz_arena_init(&arena);
    pz_jwt_claims got;
    assert_true(pz_token_cache_get(c, &k, 0, 99999, &arena, &got));
    assert_string_equal(got.subject, "u1");
    assert_string_equal(got.scopes[1], "api/read");
    assert_ptr_not_equal(got.subject, claims.subject); /* a copy in the caller's arena */
    pz_token_key other_policy = key_of("token-1", 8, 1), other_keys = key_of("token-1", 7, 2),
                 other_token = key_of("token-2", 7, 1);
    assert_false(pz_token_cache_get(c, &other_policy, 0, 1, &arena, &got));
    assert_false(pz_token_cache_get(c, &other_keys, 0, 1, &arena, &got));
    assert_false(pz_token_cache_get(c, &other_token, 0, 1, &arena, &got));
    assert_true(pz_token_cache_get(c, &k, 5, 104999, &arena, &got)); /* within the leeway */
    assert_false(pz_token_cache_get(c, &k, 0, 100001, &arena, &got));
    assert_int_equal(pz_token_cache_size(c), 0); /* an expired entry found is dropped */
    pz_arena_destroy(&arena);
    pz_token_cache_destroy(c);
}

static void test_token_cache_is_bounded(void **state)
{
    (void)state;
    pz_token_cache *c = pz_token_cache_create(64);
    pz_jwt_claims claims = {.subject = "u", .expires_ms = 1000};
    char token[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(token, sizeof token, "t-%d", i);
        pz_token_key k = key_of(token, 1, 1);
        pz_token_cache_put(c, &k, &claims);
        pz_token_cache_put(c, &k, &claims); /* replaces, never duplicates */
    }
    assert_true(pz_token_cache_size(c) <= 64);
    pz_arena arena;
    pz_arena_init(&arena);
    pz_jwt_claims got;
    pz_token_key newest = key_of("t-999", 1, 1), oldest = key_of("t-0", 1, 1);
    assert_true(pz_token_cache_get(c, &newest, 0, 1, &arena, &got));
    assert_false(pz_token_cache_get(c, &oldest, 0, 1, &arena, &got));
    pz_arena_destroy(&arena);
    pz_token_cache_destroy(c);
}

static void test_token_bucket(void **state)
{
    (void)state;
    pz_rate_limiter *l = pz_rate_limiter_create(0);
    pz_rate_limit limit = {.per_second = 2, .burst = 3};
    int64_t retry = 0;
    for (int i = 0; i < 3; i++)
        assert_true(pz_rate_limiter_take(l, "k", 1, &limit, 1000, &retry));
    assert_false(pz_rate_limiter_take(l, "k", 1, &limit, 1000, &retry));
    assert_int_equal(retry, 500);                                           /* one token every 500 ms */
    assert_true(pz_rate_limiter_take(l, "other", 5, &limit, 1000, &retry)); /* keys are apart */
    assert_false(pz_rate_limiter_take(l, "k", 1, &limit, 1400, &retry));
    assert_int_equal(retry, 100);
    assert_true(pz_rate_limiter_take(l, "k", 1, &limit, 1500, &retry));
    assert_true(pz_rate_limiter_take(l, "k", 1, &limit, 60000, &retry)); /* refilled up to the burst only */
    assert_true(pz_rate_limiter_take(l, "k", 1, &limit, 60000, &retry));
    assert_true(pz_rate_limiter_take(l, "k", 1, &limit, 60000, &retry));
    assert_false(pz_rate_limiter_take(l, "k", 1, &limit, 60000, &retry));
    pz_rate_limit off = {0};
    assert_true(pz_rate_limiter_take(l, "k", 1, &off, 60000, &retry));
    pz_rate_limiter_destroy(l);
}

static void test_rate_limiter_is_bounded(void **state)
{
    (void)state;
    pz_rate_limiter *l = pz_rate_limiter_create(160);
    pz_rate_limit limit = {.per_second = 1, .burst = 1};
    int64_t retry;
    char key[32];
    assert_true(pz_rate_limiter_take(l, "hot", 3, &limit, 0, &retry));
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "addr-%d", i);
        assert_true(pz_rate_limiter_take(l, key, strlen(key), &limit, 0, &retry));
        if (i % 8 == 0) /* used often: stays among the recently used */
            assert_false(pz_rate_limiter_take(l, "hot", 3, &limit, 0, &retry));
    }
    assert_true(pz_rate_limiter_size(l) <= 160);
    pz_rate_limiter_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_are_remembered_until_they_expire),
        cmocka_unit_test(test_token_cache_is_bounded),
        cmocka_unit_test(test_token_bucket),
        cmocka_unit_test(test_rate_limiter_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
