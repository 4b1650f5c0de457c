/* Tests for server/core/page_store.c: copies in and out, owners, TTL (injected clock), the byte
 * budget crossed (oldest first), replacement, and the page token's form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "server/core/page_store.h"

static int64_t now;

static int64_t clock_fn(void)
{
    return now;
}

static const char *get(pz_page_store *s, uint64_t key, const char *owner, pz_arena *a)
{
    const void *data;
    size_t len;
    if (!pz_page_store_get(s, key, owner, a, &data, &len))
        return NULL;
    return pz_arena_strndup(a, data, len);
}

static void test_owner_and_ttl(void **state)
{
    (void)state;
    now = 1000;
    pz_page_store *s = pz_page_store_create(1 << 20, clock_fn);
    pz_arena a;
    pz_arena_init(&a);
    char data[] = "list-one";
    pz_page_store_put(s, 7, "ns/r/u1", data, strlen(data), 500);
    data[0] = 'X'; /* the store keeps its own copy */
    assert_string_equal(get(s, 7, "ns/r/u1", &a), "list-one");
    assert_null(get(s, 7, "ns/r/u2", &a)); /* another owner: as if missing */
    assert_null(get(s, 8, "ns/r/u1", &a));
    now = 1499;
    assert_non_null(get(s, 7, "ns/r/u1", &a));
    now = 1500; /* the TTL has passed */
    assert_null(get(s, 7, "ns/r/u1", &a));
    pz_page_store_stats st;
    pz_page_store_get_stats(s, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.expired, 1);
    /* a put under the same key replaces */
    pz_page_store_put(s, 9, "o", "a", 1, 100);
    pz_page_store_put(s, 9, "o", "bb", 2, 100);
    assert_string_equal(get(s, 9, "o", &a), "bb");
    pz_page_store_get_stats(s, &st);
    assert_int_equal(st.entries, 1);
    pz_arena_destroy(&a);
    pz_page_store_destroy(s);
}

static void test_budget_evicts_oldest(void **state)
{
    (void)state;
    now = 0;
    char big[1000];
    memset(big, 'x', sizeof big);
    pz_page_store *s = pz_page_store_create(4000, clock_fn);
    pz_arena a;
    pz_arena_init(&a);
    for (uint64_t k = 1; k <= 5; k++)
        pz_page_store_put(s, k, "o", big, sizeof big, 60000);
    pz_page_store_stats st;
    pz_page_store_get_stats(s, &st);
    assert_true(st.bytes <= 4000);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.evicted, 2);
    assert_null(get(s, 1, "o", &a)); /* the oldest went */
    assert_null(get(s, 2, "o", &a));
    assert_non_null(get(s, 5, "o", &a));
    char huge[5000] = {0}; /* larger than the whole budget: not stored, nothing evicted */
    pz_page_store_put(s, 6, "o", huge, sizeof huge, 60000);
    assert_null(get(s, 6, "o", &a));
    assert_non_null(get(s, 3, "o", &a));
    pz_arena_destroy(&a);
    pz_page_store_destroy(s);
}

static void test_tokens(void **state)
{
    (void)state;
    char t[PZ_PAGE_TOKEN_MAX + 1];
    pz_page_token_format(UINT64_C(0xfedcba9876543210), 25, t);
    assert_string_equal(t, "p1fedcba9876543210.25");
    uint64_t key;
    size_t off;
    assert_true(pz_page_token_parse(t, &key, &off));
    assert_true(key == UINT64_C(0xfedcba9876543210) && off == 25);
    pz_page_token_format(UINT64_MAX, 99999, t);
    assert_true(pz_page_token_parse(t, &key, &off) && off == 99999);
    static const char *const bad[] = {"",
                                      "p1",
                                      "p2fedcba9876543210.25",
                                      "p1FEDCBA9876543210.25",
                                      "p1fedcba987654321.25",
                                      "p1fedcba9876543210",
                                      "p1fedcba9876543210.",
                                      "p1fedcba9876543210.-1",
                                      "p1fedcba9876543210.1x",
                                      "p1fedcba9876543210.100000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(pz_page_token_parse(bad[i], &key, &off));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner_and_ttl),
        cmocka_unit_test(test_budget_evicts_oldest),
        cmocka_unit_test(test_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
