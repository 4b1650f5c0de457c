/* Tests for server/auth/jwks_source.c: when keys are fetched (first use, unknown kid at most once per
 * min_refresh, background refresh past max_age), that waiters are woken once with the keys of the
 * moment, that a failed fetch serves the old keys (stale) and that revisions change only when a
 * key left. The fetcher is driven by hand; time is a parameter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/auth/jwks_source.h"
#include "tests/unit/auth/test_keys.h"

#define MIN_REFRESH 30000
#define MAX_AGE 3600000

typedef struct fetcher {
    int fetches;
    const char *inline_doc; /* non-NULL: answer inside the fetch call */
} fetcher;

static void fetch(void *ctx, pz_jwks_source *src, const char *location)
{
    fetcher *f = ctx;
    f->fetches++;
    assert_string_equal(location, "https://idp.example/jwks.json");
    if (f->inline_doc != NULL)
        pz_jwks_source_fetched(src, f->inline_doc, strlen(f->inline_doc), NULL, 0);
}

typedef struct waiter {
    pz_jwks_waiter w;
    int woken;
    size_t keys; /* count of the set handed over, (size_t)-1 for none */
} waiter;

static void ready(pz_jwks_waiter *w, pz_jwks *keys)
{
    waiter *x = (waiter *)w;
    x->woken++;
    x->keys = keys != NULL ? pz_jwks_count(keys) : (size_t)-1;
    pz_jwks_unref(keys);
}

static char doc_one[4096], doc_two[8192];

static int setup(void **state)
{
    (void)state;
    test_key a = test_key_new(0), b = test_key_new(0);
    char ja[1024], jb[1024];
    test_key_jwk(&a, "a", 1, ja, sizeof ja);
    test_key_jwk(&b, "b", 1, jb, sizeof jb);
    snprintf(doc_one, sizeof doc_one, "{\"keys\":[%s]}", ja);
    snprintf(doc_two, sizeof doc_two, "{\"keys\":[%s,%s]}", ja, jb);
    test_key_free(&a);
    test_key_free(&b);
    return 0;
}

static pz_jwks_lookup find(pz_jwks_source *s, const char *kid, int64_t now, waiter *w)
{
    *w = (waiter){.w.ready = ready};
    pz_jwks *keys = NULL;
    pz_jwks_lookup r = pz_jwks_source_find(s, kid, now, MIN_REFRESH, MAX_AGE, &w->w, &keys);
    if (r == PZ_JWKS_FOUND)
        pz_jwks_unref(keys);
    return r;
}

static void test_first_use_fetches_once_for_all_waiters(void **state)
{
    (void)state;
    fetcher f = {0};
    pz_jwks_source *s = pz_jwks_source_create("https://idp.example/jwks.json", fetch, &f);
    waiter w1, w2;
    assert_int_equal(find(s, "a", 1000, &w1), PZ_JWKS_WAIT);
    assert_int_equal(find(s, "a", 1001, &w2), PZ_JWKS_WAIT); /* joins the fetch in flight */
    assert_int_equal(f.fetches, 1);
    assert_int_equal(pz_jwks_source_revision(s), 0);
    pz_jwks_source_fetched(s, doc_one, strlen(doc_one), NULL, 1500);
    assert_int_equal(w1.woken, 1);
    assert_int_equal(w2.woken, 1);
    assert_int_equal(w1.keys, 1);
    waiter w3;
    assert_int_equal(find(s, "a", 2000, &w3), PZ_JWKS_FOUND);
    assert_int_equal(w3.woken, 0);
    assert_int_not_equal(pz_jwks_source_revision(s), 0);
    pz_jwks_source_stats st;
    pz_jwks_source_get_stats(s, &st);
    assert_int_equal(st.fetches, 1);
    assert_int_equal(st.waits, 2);
    assert_int_equal(st.keys, 1);
    pz_jwks_source_destroy(s);
}

static void test_unknown_kid_refreshes_at_most_once_per_interval(void **state)
{
    (void)state;
    fetcher f = {.inline_doc = doc_one};
    pz_jwks_source *s = pz_jwks_source_create("https://idp.example/jwks.json", fetch, &f);
    waiter w;
    assert_int_equal(find(s, "a", 0, &w), PZ_JWKS_WAIT); /* answered inline */
    assert_int_equal(w.woken, 1);
    uint64_t rev = pz_jwks_source_revision(s);
    assert_int_equal(find(s, "b", 10000, &w), PZ_JWKS_UNKNOWN_KID); /* within MIN_REFRESH of the last fetch */
    assert_int_equal(f.fetches, 1);
    f.inline_doc = doc_two; /* the IdP rotated: b appears */
    assert_int_equal(find(s, "b", MIN_REFRESH + 1, &w), PZ_JWKS_WAIT);
    assert_int_equal(f.fetches, 2);
    assert_int_equal(w.keys, 2);
    assert_int_equal(find(s, "b", MIN_REFRESH + 2, &w), PZ_JWKS_FOUND);
    assert_int_equal(pz_jwks_source_revision(s), rev); /* nothing left: tokens stay remembered */
    f.inline_doc = doc_one;                            /* b is withdrawn */
    assert_int_equal(find(s, "c", 2 * MIN_REFRESH + 3, &w), PZ_JWKS_WAIT);
    assert_int_not_equal(pz_jwks_source_revision(s), rev);
    pz_jwks_source_destroy(s);
}

static void test_a_failed_refresh_serves_the_old_keys(void **state)
{
    (void)state;
    fetcher f = {0};
    pz_jwks_source *s = pz_jwks_source_create("https://idp.example/jwks.json", fetch, &f);
    waiter w;
    assert_int_equal(find(s, "a", 0, &w), PZ_JWKS_WAIT);
    pz_jwks_source_fetched(s, NULL, 0, "connection refused", 10); /* the IdP never answered */
    assert_int_equal(w.keys, (size_t)-1);
    assert_int_equal(find(s, "a", 20, &w), PZ_JWKS_UNAVAILABLE); /* and may not be asked again yet */
    assert_int_equal(find(s, "a", MIN_REFRESH + 1, &w), PZ_JWKS_WAIT);
    pz_jwks_source_fetched(s, doc_one, strlen(doc_one), NULL, MIN_REFRESH + 2);
    assert_int_equal(w.keys, 1);
    assert_int_equal(find(s, "zz", 2 * MIN_REFRESH + 3, &w), PZ_JWKS_WAIT);
    pz_jwks_source_fetched(s, "{not json", 9, NULL, 2 * MIN_REFRESH + 4); /* down again */
    assert_int_equal(w.keys, 1); /* the waiter gets the keys that still verify */
    assert_int_equal(find(s, "a", 2 * MIN_REFRESH + 5, &w), PZ_JWKS_FOUND);
    pz_jwks_source_stats st;
    pz_jwks_source_get_stats(s, &st);
    assert_int_equal(st.failures, 2);
    pz_jwks_source_destroy(s);
}

static void test_old_keys_refresh_in_the_background(void **state)
{
    (void)state;
    fetcher f = {.inline_doc = doc_one};
    pz_jwks_source *s = pz_jwks_source_create("https://idp.example/jwks.json", fetch, &f);
    pz_jwks_source_prefetch(s, 0, MIN_REFRESH); /* a new configuration warms its sources */
    assert_int_equal(f.fetches, 1);
    pz_jwks_source_prefetch(s, 10, MIN_REFRESH); /* keys there: nothing */
    assert_int_equal(f.fetches, 1);
    waiter w;
    assert_int_equal(find(s, "a", MAX_AGE, &w), PZ_JWKS_FOUND);
    assert_int_equal(f.fetches, 1);
    assert_int_equal(find(s, "a", MAX_AGE + 1, &w), PZ_JWKS_FOUND); /* served, and refreshed meanwhile */
    assert_int_equal(f.fetches, 2);
    assert_int_equal(w.woken, 0);
    pz_jwks_source_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_use_fetches_once_for_all_waiters),
        cmocka_unit_test(test_unknown_kid_refreshes_at_most_once_per_interval),
        cmocka_unit_test(test_a_failed_refresh_serves_the_old_keys),
        cmocka_unit_test(test_old_keys_refresh_in_the_background),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
