/* Tests for server/core/cache.c: freshness windows, single-flight, LRU byte bound, purges and
 * configuration generations. Time is always a parameter: nothing here sleeps. */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/core/cache.h"

#define T0 1700000000000LL /* an arbitrary wall-clock start, ms */
#define SEC 1000

static const pz_cache_ttl TTL_10S = {10 * SEC, 0, 0};

static pz_cache *new_cache(size_t capacity, unsigned shards)
{
    return pz_cache_create(&(pz_cache_options){.capacity_bytes = capacity, .shards = shards, .purge_settle_ms = -1});
}

static pz_prepared_response *response(const char *body)
{
    return pz_prepared_create((const uint8_t *)body, strlen(body), body, strlen(body));
}

static pz_cache_key key_for(const char *bytes, const char *ns, const char *user, uint64_t generation)
{
    pz_cache_key k;
    pz_cache_key_init(&k, bytes, strlen(bytes), ns, user, generation);
    return k;
}

/* Looks k up and, on a MISS with a flight, completes it with body for ttl. */
static void store(pz_cache *c, const pz_cache_key *k, const char *body, const pz_cache_ttl *ttl, int64_t now)
{
    const pz_prepared_response *out;
    pz_cache_flight *f;
    assert_int_equal(pz_cache_lookup(c, k, now, NULL, &out, &f), PZ_CACHE_MISS);
    assert_non_null(f);
    pz_prepared_response *res = response(body);
    pz_cache_complete(c, f, res, ttl, now);
    pz_prepared_unref(res);
}

/* The body of a HIT/STALE lookup, or NULL; `result` receives the lookup result. A flight handed
 * out is finished with a failure so nothing dangles. */
static char *lookup_body(pz_cache *c, const pz_cache_key *k, int64_t now, pz_cache_result *result)
{
    const pz_prepared_response *out;
    pz_cache_flight *f;
    *result = pz_cache_lookup(c, k, now, NULL, &out, &f);
    char *body = out != NULL ? strndup(out->json, out->json_len) : NULL;
    pz_prepared_unref(out);
    if (f != NULL) {
        pz_error e = {PZ_INTERNAL, "Unhandled", "X", "test"};
        pz_prepared_unref(pz_cache_fail(c, f, &e, false, now));
    }
    return body;
}

static void assert_lookup(pz_cache *c, const pz_cache_key *k, int64_t now, pz_cache_result want, const char *body)
{
    pz_cache_result got;
    char *b = lookup_body(c, k, now, &got);
    assert_int_equal(got, want);
    if (body == NULL)
        assert_null(b);
    else
        assert_string_equal(b, body);
    free(b);
}

/* ---- waiters ---- */

typedef struct test_waiter {
    pz_cache_waiter w;
    int calls;
    bool stale;
    char body[64];
    char error_code[32];
    pthread_t thread;
} test_waiter;

static void on_ready(pz_cache_waiter *w, const pz_prepared_response *res, bool stale, const pz_error *err)
{
    test_waiter *t = (test_waiter *)w;
    t->calls++;
    t->stale = stale;
    t->thread = pthread_self();
    if (res != NULL)
        snprintf(t->body, sizeof t->body, "%.*s", (int)res->json_len, res->json);
    if (err != NULL)
        snprintf(t->error_code, sizeof t->error_code, "%s", err->code);
}

static void test_fresh_then_expired(void **state)
{
    (void)state;
    pz_cache *c = new_cache(1 << 20, 4);
    pz_cache_key k = key_for("k1", "ns", "u1", 1);
    store(c, &k, "one", &TTL_10S, T0);
    assert_lookup(c, &k, T0, PZ_CACHE_HIT, "one");
    assert_lookup(c, &k, T0 + 10 * SEC - 1, PZ_CACHE_HIT, "one");
    assert_lookup(c, &k, T0 + 10 * SEC, PZ_CACHE_MISS, NULL); /* max-age is exclusive */
    pz_cache_stats s;
    pz_cache_get_stats(c, &s);
    assert_int_equal(s.hits, 2);
    assert_int_equal(s.misses, 2);
    assert_int_equal(s.expired, 1);
    assert_int_equal(s.stores, 1);
    assert_int_equal(s.entries, 0);
    pz_cache_destroy(c);
}

static void test_max_age_zero_or_no_ttl_is_not_stored(void **state)
{
    (void)state;
    pz_cache *c = new_cache(1 << 20, 1);
    pz_cache_key k = key_for("k", "ns", NULL, 1);
    store(c, &k, "x", &(pz_cache_ttl){0, 5 * SEC, 5 * SEC}, T0);
    assert_lookup(c, &k, T0, PZ_CACHE_MISS, NULL);
    store(c, &k, "x", NULL, T0);
    assert_lookup(c, &k, T0, PZ_CACHE_MISS, NULL);
    pz_cache_destroy(c);
}

static void test_stale_while_revalidate_hands_out_one_refresh(void **state)
{
    (void)state;
    pz_cache *c = new_cache(1 << 20, 2);
    pz_cache_key k = key_for("k", "ns", "u", 1);
    pz_cache_ttl ttl = {10 * SEC, 5 * SEC, 0};
    store(c, &k, "old", &ttl, T0);

    const pz_prepared_response *out;
    pz_cache_flight *refresh;
    assert_int_equal(pz_cache_lookup(c, &k, T0 + 12 * SEC, NULL, &out, &refresh), PZ_CACHE_STALE);
    assert_non_null(refresh);
    assert_memory_equal(out->json, "old", 3);
    pz_prepared_unref(out);
    /* while the refresh runs, everyone else gets the stale entry and no second refresh */
    pz_cache_flight *second;
    test_waiter w = {.w.ready = on_ready};
    assert_int_equal(pz_cache_lookup(c, &k, T0 + 13 * SEC, &w.w, &out, &second), PZ_CACHE_STALE);
    assert_null(second);
    assert_int_equal(w.calls, 0);
    pz_prepared_unref(out);

    pz_prepared_response *fresh = response("new");
    pz_cache_complete(c, refresh, fresh, &ttl, T0 + 14 * SEC);
    pz_prepared_unref(fresh);
    assert_lookup(c, &k, T0 + 14 * SEC, PZ_CACHE_HIT, "new");
    assert_lookup(c, &k, T0 + 23 * SEC, PZ_CACHE_HIT, "new");
    pz_cache_stats s;
    pz_cache_get_stats(c, &s);
    assert_int_equal(s.stale_hits, 2);
    assert_int_equal(s.refreshes, 1);
    pz_cache_destroy(c);
}

static void test_past_stale_while_revalidate_is_a_miss(void **state)
{
    (void)state;
    pz_cache *c = new_cache(1 << 20, 1);
    pz_cache_key k = key_for("k", "ns", "u", 1);
    store(c, &k, "old", &(pz_cache_ttl){10 * SEC, 5 * SEC, 0}, T0);
    assert_lookup(c, &k, T0 + 14999, PZ_CACHE_STALE, "old");
    assert_lookup(c, &k, T0 + 15 * SEC, PZ_CACHE_MISS, NULL);
    pz_cache_destroy(c);
}

static void test_stale_if_error(void **state)
{
    (void)state;
    pz_cache *c = new_cache(1 << 20, 1);
    pz_cache_key k = key_for("k", "ns", "u", 1);
    pz_cache_ttl ttl = {10 * SEC, 0, 60 * SEC};
    pz_error err = {PZ_UPSTREAM_FAILED, "Service", "UpstreamFailed", "down"};
    store(c, &k, "old", &ttl, T0);

    /* past max-age, within stale-if-error: a miss whose failure falls back to the old entry */
    const pz_prepared_response *out;
    pz_cache_flight *f;
    assert_int_equal(pz_cache_lookup(c, &k, T0 + 20 * SEC, NULL, &out, &f), PZ_CACHE_MISS);
    assert_non_null(f);
    test_waiter w = {.w.ready = on_ready};
    pz_cache_flight *none;
    assert_int_equal(pz_cache_lookup(c, &k, T0 + 20 * SEC, &w.w, &out, &none), PZ_CACHE_WAIT);
    const pz_prepared_response *stale = pz_cache_fail(c, f, &err, true, T0 + 21 * SEC);
    assert_non_null(stale);
    assert_memory_equal(stale->json, "old", 3);
    pz_prepared_unref(stale);
    assert_int_equal(w.calls, 1);
    assert_true(w.stale);
    assert_string_equal(w.body, "old");

    /* the failure left the entry as it was: a client error does not use it */
    assert_int_equal(pz_cache_lookup(c, &k, T0 + 30 * SEC, NULL, &out, &f), PZ_CACHE_MISS);
    assert_null(pz_cache_fail(c, f, &err, false, T0 + 30 * SEC));

    /* past stale-if-error: gone, and the failure reaches the waiters */
    assert_int_equal(pz_cache_lookup(c, &k, T0 + 70 * SEC, NULL, &out, &f), PZ_CACHE_MISS);
    test_waiter w2 = {.w.ready = on_ready};
    assert_int_equal(pz_cache_lookup(c, &k, T0 + 70 * SEC, &w2.w, &out, &none), PZ_CACHE_WAIT);
    assert_null(pz_cache_fail(c, f, &err, true, T0 + 70 * SEC));
    assert_int_equal(w2.calls, 1);
    assert_false(w2.stale);
    assert_string_equal(w2.error_code, "UpstreamFailed");
    pz_cache_stats s;
    pz_cache_get_stats(c, &s);
    assert_int_equal(s.stale_if_error, 2); /* the leader and its waiter */
    assert_int_equal(s.entries, 0);
    pz_cache_destroy(c);
}

typedef struct completer {
    pz_cache *c;
    pz_cache_flight *f;
    pz_prepared_response *res;
    pthread_t thread;
} completer;

static void *complete_flight(void *arg)
{
    completer *x = arg;
    x->thread = pthread_self();
    pz_cache_complete(x->c, x->f, x->res, &TTL_10S, T0 + 1);
    return NULL;
}

static void test_single_flight_many_waiters_completed_on_another_thread(void **state)
{
    (void)state;
    enum { N = 200 };
    pz_cache *c = new_cache(1 << 20, 8);
    pz_cache_key k = key_for("hot", "ns", "u", 1);
    const pz_prepared_response *out;
    pz_cache_flight *leader;
    assert_int_equal(pz_cache_lookup(c, &k, T0, NULL, &out, &leader), PZ_CACHE_MISS);
    assert_non_null(leader);
    test_waiter *w = calloc(N, sizeof *w);
    for (int i = 0; i < N; i++) {
        w[i].w.ready = on_ready;
        pz_cache_flight *f;
        assert_int_equal(pz_cache_lookup(c, &k, T0, &w[i].w, &out, &f), PZ_CACHE_WAIT);
        assert_null(f);
        assert_null(out);
    }
    /* a caller that will not wait computes on its own, uncoalesced and unstored */
    pz_cache_flight *f;
    assert_int_equal(pz_cache_lookup(c, &k, T0, NULL, &out, &f), PZ_CACHE_MISS);
    assert_null(f);

    completer x = {c, leader, response("shared"), 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, complete_flight, &x), 0);
    pthread_join(t, NULL);
    for (int i = 0; i < N; i++) {
        assert_int_equal(w[i].calls, 1);
        assert_string_equal(w[i].body, "shared");
        assert_false(w[i].stale);
        assert_true(pthread_equal(w[i].thread, x.thread));
    }
    pz_prepared_unref(x.res);
    assert_lookup(c, &k, T0 + 2, PZ_CACHE_HIT, "shared");
    pz_cache_stats s;
    pz_cache_get_stats(c, &s);
    assert_int_equal(s.coalesced, N);
    assert_int_equal(s.stores, 1);
    free(w);
    pz_cache_destroy(c);
}

static void test_waiter_limit(void **state)
{
    (void)state;
    pz_cache *c = new_cache(1 << 20, 1);
    pz_cache_key k = key_for("k", "ns", NULL, 1);
    const pz_prepared_response *out;
    pz_cache_flight *leader, *f;
    assert_int_equal(pz_cache_lookup(c, &k, T0, NULL, &out, &leader), PZ_CACHE_MISS);
    test_waiter *w = calloc(PZ_CACHE_MAX_WAITERS + 1, sizeof *w);
    for (int i = 0; i < PZ_CACHE_MAX_WAITERS; i++) {
        w[i].w.ready = on_ready;
        assert_int_equal(pz_cache_lookup(c, &k, T0, &w[i].w, &out, &f), PZ_CACHE_WAIT);
    }
    w[PZ_CACHE_MAX_WAITERS].w.ready = on_ready;
    assert_int_equal(pz_cache_lookup(c, &k, T0, &w[PZ_CACHE_MAX_WAITERS].w, &out, &f), PZ_CACHE_MISS);
    assert_null(f);
    pz_error e = {PZ_UNAVAILABLE, "Service", "Down", "down"};
    assert_null(pz_cache_fail(c, leader, &e, true, T0));
    for (int i = 0; i < PZ_CACHE_MAX_WAITERS; i++)
        assert_int_equal(w[i].calls, 1);
    assert_int_equal(w[PZ_CACHE_MAX_WAITERS].calls, 0);
    free(w);
    pz_cache_destroy(c);
}

static size_t entry_charge(pz_cache *c, const char *key, const char *body)
{
    /* measured, not assumed: store one entry in an empty cache and read the bytes charged */
    pz_cache_key k = key_for(key, "ns", NULL, 1);
    store(c, &k, body, &TTL_10S, T0);
    pz_cache_stats s;
    pz_cache_get_stats(c, &s);
    return s.bytes;
}

static void test_lru_byte_bound(void **state)
{
    (void)state;
    char body[200];
    memset(body, 'b', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    pz_cache *probe = new_cache(1 << 20, 1);
    size_t one = entry_charge(probe, "key-00", body);
    pz_cache_destroy(probe);

    size_t capacity = one * 5 + one / 2; /* room for five entries */
    pz_cache *c = new_cache(capacity, 1);
    char key[16];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "key-%02d", i);
        pz_cache_key k = key_for(key, "ns", NULL, 1);
        store(c, &k, body, &TTL_10S, T0 + i);
    }
    /* touch key-00 so key-01 becomes the least recently used */
    pz_cache_key k0 = key_for("key-00", "ns", NULL, 1);
    pz_cache_result r;
    free(lookup_body(c, &k0, T0 + 10, &r));
    assert_int_equal(r, PZ_CACHE_HIT);
    pz_cache_key k5 = key_for("key-05", "ns", NULL, 1);
    store(c, &k5, body, &TTL_10S, T0 + 11);
    pz_cache_stats s;
    pz_cache_get_stats(c, &s);
    assert_true(s.bytes <= capacity);
    assert_int_equal(s.entries, 5);
    assert_int_equal(s.evictions, 1);
    pz_cache_key k1 = key_for("key-01", "ns", NULL, 1);
    assert_lookup(c, &k1, T0 + 12, PZ_CACHE_MISS, NULL);
    assert_lookup(c, &k0, T0 + 12, PZ_CACHE_HIT, body);
    assert_lookup(c, &k5, T0 + 12, PZ_CACHE_HIT, body);

    /* an entry larger than the whole budget is handed out but never stored */
    size_t big_len = capacity + 1;
    char *big = malloc(big_len + 1);
    memset(big, 'x', big_len);
    big[big_len] = '\0';
    pz_cache_key kb = key_for("big", "ns", NULL, 1);
    store(c, &kb, big, &TTL_10S, T0 + 13);
    assert_lookup(c, &kb, T0 + 13, PZ_CACHE_MISS, NULL);
    pz_cache_get_stats(c, &s);
    assert_int_equal(s.not_stored, 1);
    assert_int_equal(s.entries, 5); /* nothing was evicted for it */
    assert_true(s.bytes <= capacity);
    free(big);
    pz_cache_destroy(c);
}

static void test_many_keys_grow_the_table(void **state)
{
    (void)state;
    pz_cache *c = new_cache(64 << 20, 2);
    char key[32], body[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        snprintf(body, sizeof body, "body-%d", i);
        pz_cache_key k = key_for(key, "ns", i % 3 == 0 ? NULL : "u", 1);
        store(c, &k, body, &TTL_10S, T0);
    }
    for (int i = 0; i < 5000; i += 7) {
        snprintf(key, sizeof key, "key-%d", i);
        snprintf(body, sizeof body, "body-%d", i);
        pz_cache_key k = key_for(key, "ns", i % 3 == 0 ? NULL : "u", 1);
        assert_lookup(c, &k, T0 + 1, PZ_CACHE_HIT, body);
    }
    pz_cache_stats s;
    pz_cache_get_stats(c, &s);
    assert_int_equal(s.entries, 5000);
    pz_cache_destroy(c);
}

static void test_purge_user(void **state)
{
    (void)state;
    pz_cache *c = new_cache(1 << 20, 16);
    pz_cache_ttl ttl = {10 * SEC, 10 * SEC, 60 * SEC};
    pz_cache_key a1 = key_for("a1", "shop", "alice", 1), a2 = key_for("a2", "shop", "alice", 1);
    pz_cache_key b1 = key_for("b1", "shop", "bob", 1), n1 = key_for("n1", "shop", NULL, 1);
    pz_cache_key other = key_for("a1", "other-shop", "alice", 1);
    store(c, &a1, "a1", &ttl, T0);
    store(c, &a2, "a2", &ttl, T0);
    store(c, &b1, "b1", &ttl, T0);
    store(c, &n1, "n1", &ttl, T0);
    store(c, &other, "o", &ttl, T0);
    assert_int_equal(pz_cache_purge_user(c, "shop", "alice", T0 + SEC), 2);
    assert_int_equal(pz_cache_purge_user(c, "shop", "nobody", T0 + SEC), 0);
    /* purged entries are not served, not even as stale-while-revalidate ... */
    const pz_prepared_response *out;
    pz_cache_flight *f;
    assert_int_equal(pz_cache_lookup(c, &a1, T0 + 3 * SEC, NULL, &out, &f), PZ_CACHE_MISS);
    assert_non_null(f);
    /* ... but they still cover an upstream failure */
    pz_error err = {PZ_UNAVAILABLE, "Service", "Down", "down"};
    const pz_prepared_response *stale = pz_cache_fail(c, f, &err, true, T0 + 3 * SEC);
    assert_non_null(stale);
    pz_prepared_unref(stale);
    assert_lookup(c, &a2, T0 + 3 * SEC, PZ_CACHE_MISS, NULL);
    assert_lookup(c, &b1, T0 + 3 * SEC, PZ_CACHE_HIT, "b1");
    assert_lookup(c, &n1, T0 + 3 * SEC, PZ_CACHE_HIT, "n1");
    assert_lookup(c, &other, T0 + 3 * SEC, PZ_CACHE_HIT, "o");
    pz_cache_destroy(c);
}

static void test_purge_races_with_calls_in_flight(void **state)
{
    (void)state;
    pz_cache *c = pz_cache_create(&(pz_cache_options){.capacity_bytes = 1 << 20, .purge_settle_ms = 1000});
    pz_cache_key k = key_for("k", "shop", "alice", 1);
    const pz_prepared_response *out;
    pz_cache_flight *f;
    pz_prepared_response *res = response("computed");

    /* started before the purge: handed out, not stored */
    assert_int_equal(pz_cache_lookup(c, &k, T0, NULL, &out, &f), PZ_CACHE_MISS);
    pz_cache_purge_user(c, "shop", "alice", T0 + 10);
    pz_cache_complete(c, f, res, &TTL_10S, T0 + 20);
    /* started within the settle window after it: the purged state may not be written yet */
    assert_int_equal(pz_cache_lookup(c, &k, T0 + 500, NULL, &out, &f), PZ_CACHE_MISS);
    pz_cache_complete(c, f, res, &TTL_10S, T0 + 510);
    /* started after the window: stored */
    assert_int_equal(pz_cache_lookup(c, &k, T0 + 1011, NULL, &out, &f), PZ_CACHE_MISS);
    pz_cache_complete(c, f, res, &TTL_10S, T0 + 1020);
    assert_lookup(c, &k, T0 + 1030, PZ_CACHE_HIT, "computed");
    pz_cache_stats s;
    pz_cache_get_stats(c, &s);
    assert_int_equal(s.not_stored, 2);
    assert_int_equal(s.stores, 1);

    /* another user's purge does not block alice */
    pz_cache_key k2 = key_for("k2", "shop", "alice", 1);
    assert_int_equal(pz_cache_lookup(c, &k2, T0 + 5000, NULL, &out, &f), PZ_CACHE_MISS);
    pz_cache_purge_user(c, "shop", "bob", T0 + 5001);
    pz_cache_complete(c, f, res, &TTL_10S, T0 + 5002);
    assert_lookup(c, &k2, T0 + 5003, PZ_CACHE_HIT, "computed");
    pz_prepared_unref(res);
    pz_cache_destroy(c);
}

static void test_purge_log_overflow_is_conservative(void **state)
{
    (void)state;
    pz_cache *c = pz_cache_create(&(pz_cache_options){.capacity_bytes = 1 << 20, .shards = 1, .purge_settle_ms = 0});
    pz_cache_key k = key_for("k", "shop", "alice", 1);
    const pz_prepared_response *out;
    pz_cache_flight *f;
    assert_int_equal(pz_cache_lookup(c, &k, T0, NULL, &out, &f), PZ_CACHE_MISS);
    pz_cache_purge_user(c, "shop", "alice", T0 + 1);
    char user[32];
    for (int i = 0; i < 500; i++) { /* push alice's purge out of the log */
        snprintf(user, sizeof user, "user-%d", i);
        pz_cache_purge_user(c, "shop", user, T0 + 2);
    }
    pz_prepared_response *res = response("r");
    pz_cache_complete(c, f, res, &TTL_10S, T0 + 3);
    pz_prepared_unref(res);
    assert_lookup(c, &k, T0 + 4, PZ_CACHE_MISS, NULL);
    pz_cache_destroy(c);
}

static void test_purge_namespace(void **state)
{
    (void)state;
    pz_cache *c = new_cache(1 << 20, 4);
    pz_cache_key a = key_for("a", "shop", "alice", 1), b = key_for("b", "shop", NULL, 1);
    pz_cache_key o = key_for("o", "blog", "alice", 1);
    store(c, &a, "a", &TTL_10S, T0);
    store(c, &b, "b", &TTL_10S, T0);
    store(c, &o, "o", &TTL_10S, T0);
    assert_int_equal(pz_cache_purge_namespace(c, "shop", T0 + 1), 2);
    assert_lookup(c, &a, T0 + 2, PZ_CACHE_MISS, NULL);
    assert_lookup(c, &b, T0 + 2, PZ_CACHE_MISS, NULL);
    assert_lookup(c, &o, T0 + 2, PZ_CACHE_HIT, "o");
    pz_cache_destroy(c);
}

static void test_purge_all(void **state)
{
    (void)state;
    pz_cache *c = pz_cache_create(&(pz_cache_options){.capacity_bytes = 1 << 20, .shards = 4, .purge_settle_ms = 0});
    pz_cache_key a = key_for("a", "shop", "alice", 1), o = key_for("o", "blog", NULL, 1);
    store(c, &a, "a", &TTL_10S, T0);
    store(c, &o, "o", &TTL_10S, T0);
    const pz_prepared_response *out;
    pz_cache_flight *f;
    pz_cache_key late = key_for("late", "news", "bob", 1);
    assert_int_equal(pz_cache_lookup(c, &late, T0, NULL, &out, &f), PZ_CACHE_MISS); /* in flight during the purge */
    assert_int_equal(pz_cache_purge_all(c, T0 + 1), 2);
    assert_lookup(c, &a, T0 + 2, PZ_CACHE_MISS, NULL);
    assert_lookup(c, &o, T0 + 2, PZ_CACHE_MISS, NULL);
    pz_prepared_response *res = response("computed before the purge");
    pz_cache_complete(c, f, res, &TTL_10S, T0 + 3);
    pz_prepared_unref(res);
    assert_lookup(c, &late, T0 + 4, PZ_CACHE_MISS, NULL); /* not stored */
    pz_cache_stats st;
    pz_cache_get_stats(c, &st);
    assert_int_equal(st.purged, 2);
    pz_cache_destroy(c);
}

static void test_new_generation_drops_older_entries(void **state)
{
    (void)state;
    pz_cache *c = new_cache(1 << 20, 4);
    pz_cache_key g1 = key_for("same-bytes", "shop", "alice", 1);
    pz_cache_key g1b = key_for("other", "shop", NULL, 1);
    pz_cache_key g2 = key_for("same-bytes", "shop", "alice", 2);
    store(c, &g1, "v1", &TTL_10S, T0);
    store(c, &g1b, "v1b", &TTL_10S, T0);
    const pz_prepared_response *out;
    pz_cache_flight *f;
    /* a request on the old snapshot still in flight when the new one appears */
    pz_cache_key g1c = key_for("late", "shop", NULL, 1);
    pz_cache_flight *late;
    assert_int_equal(pz_cache_lookup(c, &g1c, T0, NULL, &out, &late), PZ_CACHE_MISS);

    assert_int_equal(pz_cache_lookup(c, &g2, T0 + 1, NULL, &out, &f), PZ_CACHE_MISS);
    pz_cache_stats s;
    pz_cache_get_stats(c, &s);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.purged, 2);
    pz_prepared_response *res = response("v2");
    pz_cache_complete(c, f, res, &TTL_10S, T0 + 2);
    pz_cache_complete(c, late, res, &TTL_10S, T0 + 2); /* outdated: not stored */
    pz_prepared_unref(res);
    assert_lookup(c, &g2, T0 + 3, PZ_CACHE_HIT, "v2");
    assert_lookup(c, &g1, T0 + 3, PZ_CACHE_MISS, NULL);
    assert_lookup(c, &g1c, T0 + 3, PZ_CACHE_MISS, NULL);
    pz_cache_destroy(c);
}

/* Hammers one cache from several threads: every lookup ends in a hit, a miss it completes itself
 * or a wait that another thread answers; the counters add up and the budget holds. */
typedef struct counted_waiter {
    pz_cache_waiter w;
    atomic_int answered;
    atomic_bool got_response;
} counted_waiter;

static void on_ready_count(pz_cache_waiter *w, const pz_prepared_response *res, bool stale, const pz_error *err)
{
    (void)stale;
    (void)err;
    counted_waiter *cw = (counted_waiter *)w;
    atomic_store(&cw->got_response, res != NULL);
    atomic_fetch_add(&cw->answered, 1);
}

typedef struct hammer {
    pz_cache *c;
    int bad_answers;
} hammer;

static void *hammer_main(void *arg)
{
    hammer *h = arg;
    char key[32];
    pz_prepared_response *res = response("hammered");
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "k-%d", i % 37);
        pz_cache_key k = key_for(key, "ns", i % 2 ? "u" : NULL, 1);
        const pz_prepared_response *out;
        pz_cache_flight *f;
        counted_waiter w = {.w.ready = on_ready_count};
        atomic_init(&w.answered, 0);
        atomic_init(&w.got_response, false);
        pz_cache_result r = pz_cache_lookup(h->c, &k, T0 + i, &w.w, &out, &f);
        if (f != NULL) /* a leader never waits, so waiters are always answered */
            pz_cache_complete(h->c, f, res, &(pz_cache_ttl){5, 0, 0}, T0 + i);
        pz_prepared_unref(out);
        if (r == PZ_CACHE_WAIT) {
            while (atomic_load(&w.answered) == 0) {
            }
            if (atomic_load(&w.answered) != 1 || !atomic_load(&w.got_response))
                h->bad_answers++;
        }
    }
    pz_prepared_unref(res);
    return NULL;
}

static void test_concurrent_use(void **state)
{
    (void)state;
    pz_cache *c = new_cache(4096, 4);
    hammer h[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        h[i] = (hammer){c, 0};
        assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(h[i].bad_answers, 0);
    }
    pz_cache_stats s;
    pz_cache_get_stats(c, &s);
    assert_int_equal(s.hits + s.misses + s.coalesced + s.stale_hits, 4 * 3000);
    assert_true(s.bytes <= 4096);
    pz_cache_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_then_expired),
        cmocka_unit_test(test_max_age_zero_or_no_ttl_is_not_stored),
        cmocka_unit_test(test_stale_while_revalidate_hands_out_one_refresh),
        cmocka_unit_test(test_past_stale_while_revalidate_is_a_miss),
        cmocka_unit_test(test_stale_if_error),
        cmocka_unit_test(test_single_flight_many_waiters_completed_on_another_thread),
        cmocka_unit_test(test_waiter_limit),
        cmocka_unit_test(test_lru_byte_bound),
        cmocka_unit_test(test_many_keys_grow_the_table),
        cmocka_unit_test(test_purge_user),
        cmocka_unit_test(test_purge_races_with_calls_in_flight),
        cmocka_unit_test(test_purge_log_overflow_is_conservative),
        cmocka_unit_test(test_purge_namespace),
        cmocka_unit_test(test_purge_all),
        cmocka_unit_test(test_new_generation_drops_older_entries),
        cmocka_unit_test(test_concurrent_use),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
