/* Tests for server/recommenders/builtin.{c,h} (with builtin_store.c): learning from events and the
 * four queries, against a real LMDB store in $TEST_TMPDIR. Time is injected; nothing sleeps. */
#include <lmdb.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/core/mem.h"
#include "server/recommenders/builtin.h"

#define NOW INT64_C(1700000000000)
#define HOUR INT64_C(3600000)

static char *new_dir(void)
{
    const char *tmp = getenv("TEST_TMPDIR");
    char *dir = pz_malloc(4096);
    snprintf(dir, 4096, "%s/builtin-XXXXXX", tmp != NULL ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static pz_builtin *open_at(const char *dir, const pz_builtin_options *o)
{
    pz_builtin *b = NULL;
    char err[256] = "";
    int rc = pz_builtin_open(dir, o, &b, err, sizeof(err));
    if (rc != 0)
        fail_msg("open: %s", err);
    assert_non_null(b);
    return b;
}

static pz_builtin *open_fresh(const pz_builtin_options *o)
{
    char *dir = new_dir();
    pz_builtin *b = open_at(dir, o);
    free(dir);
    return b;
}

static void ingest(pz_builtin *b, const char *ns, const char *user, const char *session, const char *item,
                   const char *type, int64_t t)
{
    pz_interaction e = {.user_id = user, .session_id = session, .item_id = item, .event_type = type, .sent_at_ms = t};
    char err[256] = "";
    if (pz_builtin_ingest(b, ns, &e, 1, err, sizeof(err)) != 0)
        fail_msg("ingest: %s", err);
}

static void assert_close(double got, double want)
{
    if (!(fabs(got - want) <= 1e-9 * fabs(want) + 1e-12))
        fail_msg("got %.17g, want %.17g", got, want);
}

static void assert_sorted(const pz_scored_item *r, int n)
{
    for (int i = 1; i < n; i++)
        if (r[i].has_score && r[i - 1].has_score)
            assert_true(r[i - 1].score >= r[i].score);
}

static int index_of(const pz_scored_item *r, int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (strcmp(r[i].item_id, id) == 0)
            return i;
    return -1;
}

static int popular(pz_builtin *b, const char *ns, size_t n, int64_t now, pz_arena *a, pz_scored_item **out)
{
    char err[256] = "";
    int count = pz_builtin_popular(b, ns, n, now, a, out, err, sizeof(err));
    if (count < 0)
        fail_msg("popular: %s", err);
    assert_sorted(*out, count);
    return count;
}

static int recommend(pz_builtin *b, const char *ns, const char *user, size_t n, bool exclude_seen, pz_arena *a,
                     pz_scored_item **out)
{
    char err[256] = "";
    int count = pz_builtin_recommend(b, ns, user, n, exclude_seen, NOW, a, out, err, sizeof(err));
    if (count < 0)
        fail_msg("recommend: %s", err);
    assert_sorted(*out, count);
    return count;
}

static int related(pz_builtin *b, const char *ns, const char *item, const char *user, size_t n, pz_arena *a,
                   pz_scored_item **out)
{
    char err[256] = "";
    int count = pz_builtin_related(b, ns, item, user, n, NOW, a, out, err, sizeof(err));
    if (count < 0)
        fail_msg("related: %s", err);
    assert_sorted(*out, count);
    return count;
}

static int rerank(pz_builtin *b, const char *ns, const char *user, const char *const *ids, size_t n, pz_arena *a,
                  pz_scored_item **out)
{
    char err[256] = "";
    int count = pz_builtin_rerank(b, ns, user, ids, n, NOW, a, out, err, sizeof(err));
    if (count < 0)
        fail_msg("rerank: %s", err);
    assert_int_equal(count, (int)n);
    assert_sorted(*out, count);
    return count;
}

static void test_popularity_order_and_weights(void **state)
{
    (void)state;
    pz_builtin *b = open_fresh(NULL);
    ingest(b, "ns", NULL, NULL, "a", "purchase", NOW); /* 4 */
    for (int i = 0; i < 3; i++)
        ingest(b, "ns", NULL, NULL, "b", "view", NOW);       /* 3 x 0.5 */
    ingest(b, "ns", NULL, NULL, "c", "add_to_cart", NOW);    /* 3, matched ignoring '_' */
    ingest(b, "ns", NULL, NULL, "c", "PURCHASE", NOW);       /* 4, matched ignoring case */
    ingest(b, "ns", NULL, NULL, "d", "something-else", NOW); /* 1 */
    ingest(b, "ns", NULL, NULL, "e", NULL, NOW);             /* 1 */
    ingest(b, "ns", NULL, NULL, NULL, "purchase", NOW);      /* ignored: no item */

    pz_arena a;
    pz_arena_init(&a);
    pz_scored_item *r;
    int n = popular(b, "ns", 10, NOW, &a, &r);
    assert_int_equal(n, 5);
    const char *want_ids[] = {"c", "a", "b", "d", "e"}; /* d and e tie: id ascending */
    const double want_scores[] = {7, 4, 1.5, 1, 1};
    for (int i = 0; i < n; i++) {
        assert_string_equal(r[i].item_id, want_ids[i]);
        assert_true(r[i].has_score);
        assert_close(r[i].score, want_scores[i]);
    }
    assert_int_equal(popular(b, "ns", 2, NOW, &a, &r), 2);
    assert_string_equal(r[1].item_id, "a");
    pz_arena_destroy(&a);
    pz_builtin_close(b);
}

static void test_decay(void **state)
{
    (void)state;
    pz_builtin_options o;
    pz_builtin_options_default(&o);
    o.half_life_hours = 1;
    pz_builtin *b = open_fresh(&o);
    for (int i = 0; i < 10; i++)
        ingest(b, "ns", NULL, NULL, "old", "click", NOW - 10 * HOUR);
    ingest(b, "ns", NULL, NULL, "mid", "click", NOW - 9 * HOUR);

    pz_arena a;
    pz_arena_init(&a);
    pz_scored_item *r;
    /* Shortly after the burst, the burst wins: 10 * 2^-1 > 1. */
    assert_int_equal(popular(b, "ns", 10, NOW - 9 * HOUR, &a, &r), 2);
    assert_string_equal(r[0].item_id, "old");
    assert_close(r[0].score, 5);
    assert_close(r[1].score, 1);
    ingest(b, "ns", NULL, NULL, "new", "click", NOW);
    /* Ten half-lives later, recent activity wins: 10 * 2^-10 < 1. */
    assert_int_equal(popular(b, "ns", 10, NOW, &a, &r), 3);
    assert_string_equal(r[0].item_id, "new");
    assert_close(r[0].score, 1);
    assert_string_equal(r[1].item_id, "old");
    assert_close(r[1].score, 10.0 / 1024);
    assert_string_equal(r[2].item_id, "mid");
    assert_close(r[2].score, 1.0 / 512);
    /* One more half-life halves every score. */
    assert_int_equal(popular(b, "ns", 10, NOW + HOUR, &a, &r), 3);
    assert_close(r[0].score, 0.5);
    assert_close(r[1].score, 10.0 / 2048);
    pz_arena_destroy(&a);
    pz_builtin_close(b);
}

/* Five users view a then b; two of them then view c; x is popular on its own. */
static void feed_catalog(pz_builtin *b, const char *ns)
{
    char user[16];
    for (int i = 0; i < 5; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        ingest(b, ns, user, NULL, "a", "view", NOW - 3 * HOUR);
        ingest(b, ns, user, NULL, "b", "view", NOW - 2 * HOUR);
        if (i < 2)
            ingest(b, ns, user, NULL, "c", "view", NOW - HOUR);
    }
    for (int i = 0; i < 20; i++)
        ingest(b, ns, NULL, NULL, "x", "view", NOW - HOUR);
}

static void test_related(void **state)
{
    (void)state;
    pz_builtin *b = open_fresh(NULL);
    feed_catalog(b, "ns");
    pz_arena a;
    pz_arena_init(&a);
    pz_scored_item *r;
    int n = related(b, "ns", "a", NULL, 10, &a, &r);
    assert_int_equal(n, 3); /* b, c by co-occurrence, then x as popular; a itself excluded */
    assert_string_equal(r[0].item_id, "b");
    assert_string_equal(r[1].item_id, "c");
    assert_string_equal(r[2].item_id, "x");
    assert_int_equal(index_of(r, n, "a"), -1);
    assert_true(r[0].score > r[1].score && r[1].score > r[2].score && r[2].score > 0);

    /* Exact value for a single pair: a view (0.5) followed by a view (0.5) adds sqrt(0.25). */
    pz_builtin *one = open_fresh(NULL);
    ingest(one, "ns", "u", NULL, "p", "view", NOW);
    ingest(one, "ns", "u", NULL, "q", "view", NOW);
    assert_int_equal(related(one, "ns", "p", NULL, 1, &a, &r), 1);
    assert_string_equal(r[0].item_id, "q");
    assert_close(r[0].score, 0.5 / (1 + sqrt(0.5)));
    pz_builtin_close(one);

    /* With a user: the user's items are excluded too. */
    ingest(b, "ns", "viewer", NULL, "c", "view", NOW);
    n = related(b, "ns", "a", "viewer", 10, &a, &r);
    assert_int_equal(index_of(r, n, "c"), -1);
    assert_string_equal(r[0].item_id, "b");
    /* Unknown item: popular. */
    n = related(b, "ns", "nope", NULL, 10, &a, &r);
    assert_int_equal(n, 4);
    assert_string_equal(r[0].item_id, "x");
    pz_arena_destroy(&a);
    pz_builtin_close(b);
}

static void test_recommend_personalized(void **state)
{
    (void)state;
    pz_builtin *b = open_fresh(NULL);
    feed_catalog(b, "ns");
    ingest(b, "ns", "me", NULL, "a", "click", NOW);
    pz_arena a;
    pz_arena_init(&a);
    pz_scored_item *r;
    int n = recommend(b, "ns", "me", 10, true, &a, &r);
    assert_int_equal(n, 3);
    assert_string_equal(r[0].item_id, "b"); /* co-viewed with a by five users */
    assert_string_equal(r[1].item_id, "c"); /* by two */
    assert_string_equal(r[2].item_id, "x"); /* popular filler, below the personalized ones */
    assert_int_equal(index_of(r, n, "a"), -1);
    assert_true(r[1].score > r[2].score);
    /* Without exclusion, the user's own item comes back (as a popular filler). */
    n = recommend(b, "ns", "me", 10, false, &a, &r);
    assert_int_equal(n, 4);
    assert_true(index_of(r, n, "a") > 1);
    /* Recent items matter: after viewing c, items co-viewed with c rank first. */
    ingest(b, "ns", "other", NULL, "c", "view", NOW);
    ingest(b, "ns", "other", NULL, "d", "purchase", NOW);
    ingest(b, "ns", "me2", NULL, "c", "click", NOW);
    n = recommend(b, "ns", "me2", 2, true, &a, &r);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].item_id, "d");
    pz_arena_destroy(&a);
    pz_builtin_close(b);
}

static void test_unknown_user_gets_popular(void **state)
{
    (void)state;
    pz_builtin *b = open_fresh(NULL);
    feed_catalog(b, "ns");
    pz_arena a;
    pz_arena_init(&a);
    pz_scored_item *pop, *r;
    int n_pop = popular(b, "ns", 10, NOW, &a, &pop);
    const char *users[] = {"stranger", "", NULL};
    for (size_t u = 0; u < 3; u++) {
        int n = recommend(b, "ns", users[u], 10, true, &a, &r);
        assert_int_equal(n, n_pop);
        for (int i = 0; i < n; i++) {
            assert_string_equal(r[i].item_id, pop[i].item_id);
            assert_true(r[i].score == pop[i].score);
        }
    }
    assert_string_equal(pop[0].item_id, "x");
    pz_arena_destroy(&a);
    pz_builtin_close(b);
}

static void test_rerank(void **state)
{
    (void)state;
    pz_builtin *b = open_fresh(NULL);
    feed_catalog(b, "ns");
    ingest(b, "ns", "me", NULL, "a", "click", NOW);
    pz_arena a;
    pz_arena_init(&a);
    pz_scored_item *r;
    const char *ids[] = {"zz-unknown", "x", "b", "aa-unknown", "b", "c", "zz-unknown"};
    int n = rerank(b, "ns", "me", ids, 7, &a, &r);
    const char *want[] = {"b", "b", "c", "x", "zz-unknown", "aa-unknown", "zz-unknown"};
    for (int i = 0; i < n; i++)
        assert_string_equal(r[i].item_id, want[i]);
    for (int i = 0; i < 4; i++)
        assert_true(r[i].has_score);
    for (int i = 4; i < 7; i++)
        assert_false(r[i].has_score);
    assert_true(r[0].score == r[1].score);
    assert_true(r[2].score > r[3].score && r[3].score > 0);
    /* The seen item a has no affinity of its own (no self-pairs) but is known: popularity tier. */
    const char *ids2[] = {"a", "x"};
    rerank(b, "ns", "me", ids2, 2, &a, &r);
    assert_string_equal(r[0].item_id, "x");
    assert_string_equal(r[1].item_id, "a");
    /* No user: by popularity. Empty input: nothing. */
    rerank(b, "ns", NULL, ids, 7, &a, &r);
    assert_string_equal(r[0].item_id, "x");
    assert_close(r[0].score, 20 * 0.5 * exp2(-1.0 / 168));
    assert_int_equal(rerank(b, "ns", "me", ids, 0, &a, &r), 0);
    pz_arena_destroy(&a);
    pz_builtin_close(b);
}

static void assert_same(const pz_scored_item *x, int nx, const pz_scored_item *y, int ny)
{
    assert_int_equal(nx, ny);
    for (int i = 0; i < nx; i++) {
        assert_string_equal(x[i].item_id, y[i].item_id);
        assert_int_equal(x[i].has_score, y[i].has_score);
        assert_memory_equal(&x[i].score, &y[i].score, sizeof(double)); /* bit for bit */
    }
}

static void feed_mixed(pz_builtin *b)
{
    char user[16], item[16];
    for (int i = 0; i < 300; i++) {
        snprintf(user, sizeof(user), "u%d", (i * 7) % 13);
        snprintf(item, sizeof(item), "i%d", (i * i) % 37);
        ingest(b, "ns", i % 5 == 0 ? NULL : user, "s1", item, i % 3 ? "view" : "purchase",
               NOW - (300 - i) * INT64_C(60000));
    }
}

static void test_determinism(void **state)
{
    (void)state;
    pz_builtin *b1 = open_fresh(NULL), *b2 = open_fresh(NULL);
    feed_mixed(b1);
    feed_mixed(b2);
    pz_arena a;
    pz_arena_init(&a);
    pz_scored_item *x, *y;
    int nx, ny;
    nx = popular(b1, "ns", 50, NOW, &a, &x);
    ny = popular(b2, "ns", 50, NOW, &a, &y);
    assert_same(x, nx, y, ny);
    for (int u = 0; u < 13; u++) {
        char user[16];
        snprintf(user, sizeof(user), "u%d", u);
        nx = recommend(b1, "ns", user, 20, true, &a, &x);
        ny = recommend(b2, "ns", user, 20, true, &a, &y);
        assert_true(nx > 0);
        assert_same(x, nx, y, ny);
        nx = related(b1, "ns", "i4", user, 20, &a, &x);
        ny = related(b2, "ns", "i4", user, 20, &a, &y);
        assert_same(x, nx, y, ny);
        const char *ids[] = {"i1", "nope", "i9", "i16", "i0", "i1"};
        nx = rerank(b1, "ns", user, ids, 6, &a, &x);
        ny = rerank(b2, "ns", user, ids, 6, &a, &y);
        assert_same(x, nx, y, ny);
        /* Asking for fewer gives a prefix of the longer list (top-n selection agrees with a sort). */
        for (size_t k = 1; k <= 7; k += 3) {
            ny = recommend(b1, "ns", user, k, true, &a, &y);
            nx = recommend(b1, "ns", user, 20, true, &a, &x);
            assert_same(x, nx < (int)k ? nx : (int)k, y, ny);
            ny = related(b1, "ns", "i4", NULL, k, &a, &y);
            nx = related(b1, "ns", "i4", NULL, 20, &a, &x);
            assert_same(x, nx < (int)k ? nx : (int)k, y, ny);
        }
        /* The same store twice: same answer. */
        nx = recommend(b1, "ns", user, 20, true, &a, &x);
        ny = recommend(b1, "ns", user, 20, true, &a, &y);
        assert_same(x, nx, y, ny);
    }
    pz_arena_destroy(&a);
    pz_builtin_close(b1);
    pz_builtin_close(b2);
}

static void test_persistence_and_has_data(void **state)
{
    (void)state;
    char *dir = new_dir();
    pz_builtin_options o;
    pz_builtin_options_default(&o);
    o.half_life_hours = 1;
    pz_builtin *b = open_at(dir, &o);
    assert_false(pz_builtin_has_data(b, "ns"));
    ingest(b, "ns", "u", NULL, NULL, "view", NOW); /* no item: not data */
    assert_false(pz_builtin_has_data(b, "ns"));
    feed_catalog(b, "ns");
    assert_true(pz_builtin_has_data(b, "ns"));
    assert_false(pz_builtin_has_data(b, "n"));
    assert_false(pz_builtin_has_data(b, "ns2"));
    pz_arena a;
    pz_arena_init(&a);
    pz_scored_item *before, *after;
    int n_before = related(b, "ns", "a", NULL, 10, &a, &before);
    pz_builtin_close(b);

    o.half_life_hours = 1000; /* ignored: the store keeps the half-life it was created with */
    b = open_at(dir, &o);
    assert_true(pz_builtin_has_data(b, "ns"));
    int n_after = related(b, "ns", "a", NULL, 10, &a, &after);
    assert_same(before, n_before, after, n_after);
    /* Learning continues where it stopped (ids keep being assigned without collisions). */
    ingest(b, "ns", "u0", NULL, "new-item", "purchase", NOW);
    assert_int_equal(popular(b, "ns", 10, NOW, &a, &after), 5);
    assert_string_equal(after[0].item_id, "x");
    assert_close(after[0].score, 5); /* 20 views an hour ago, half-life 1 hour */
    assert_string_equal(after[1].item_id, "new-item");
    assert_close(after[1].score, 4);
    int n = related(b, "ns", "new-item", NULL, 10, &a, &after);
    assert_int_equal(n, 4); /* paired with u0's a, b, c; x fills */
    assert_string_equal(after[3].item_id, "x");
    pz_builtin_close(b);
    pz_arena_destroy(&a);
    free(dir);
}

static void test_oversized_ids_rejected(void **state)
{
    (void)state;
    pz_builtin *b = open_fresh(NULL);
    char long_id[PZ_BUILTIN_MAX_ID_LEN + 2], max_id[PZ_BUILTIN_MAX_ID_LEN + 1];
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    memset(max_id, 'y', sizeof(max_id) - 1);
    max_id[sizeof(max_id) - 1] = '\0';
    char err[256] = "";
    pz_interaction ev[2] = {{.item_id = "ok", .sent_at_ms = NOW}, {.item_id = long_id, .sent_at_ms = NOW}};
    assert_int_equal(pz_builtin_ingest(b, "ns", ev, 2, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "item id"));
    assert_false(pz_builtin_has_data(b, "ns")); /* nothing applied */
    ev[1] = (pz_interaction){.item_id = "ok", .user_id = long_id};
    assert_int_equal(pz_builtin_ingest(b, "ns", ev, 2, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "user id"));
    ev[1] = (pz_interaction){.item_id = "ok", .session_id = long_id};
    assert_int_equal(pz_builtin_ingest(b, "ns", ev, 2, err, sizeof(err)), -1);
    char long_ns[PZ_BUILTIN_MAX_NS_LEN + 2];
    memset(long_ns, 'n', sizeof(long_ns) - 1);
    long_ns[sizeof(long_ns) - 1] = '\0';
    assert_int_equal(pz_builtin_ingest(b, long_ns, ev, 1, err, sizeof(err)), -1);
    assert_false(pz_builtin_has_data(b, long_ns));

    /* The longest allowed ids work everywhere, including the longest namespace. */
    long_ns[PZ_BUILTIN_MAX_NS_LEN] = '\0';
    ingest(b, long_ns, max_id, max_id, max_id, "view", NOW);
    ingest(b, long_ns, max_id, max_id, "other", "view", NOW);
    pz_arena a;
    pz_arena_init(&a);
    pz_scored_item *r;
    assert_int_equal(related(b, long_ns, max_id, NULL, 5, &a, &r), 1);
    assert_string_equal(r[0].item_id, "other");
    /* Queries treat over-long ids as unknown. */
    assert_int_equal(recommend(b, long_ns, long_id, 5, true, &a, &r), 2);
    assert_int_equal(related(b, long_ns, long_id, NULL, 5, &a, &r), 2);
    const char *ids[] = {long_id, max_id};
    rerank(b, long_ns, long_id, ids, 2, &a, &r);
    assert_string_equal(r[0].item_id, max_id);
    assert_false(r[1].has_score);
    pz_arena_destroy(&a);
    pz_builtin_close(b);
}

static void test_n_results_and_empty_namespace(void **state)
{
    (void)state;
    pz_builtin *b = open_fresh(NULL);
    feed_catalog(b, "ns");
    pz_arena a;
    pz_arena_init(&a);
    pz_scored_item *r;
    assert_int_equal(popular(b, "ns", 1000, NOW, &a, &r), 4);
    assert_int_equal(recommend(b, "ns", "u0", 1000, true, &a, &r), 1); /* only x is unseen */
    assert_int_equal(related(b, "ns", "a", NULL, 1000, &a, &r), 3);
    assert_int_equal(popular(b, "ns", 0, NOW, &a, &r), 0);
    assert_int_equal(recommend(b, "ns", "u0", 0, true, &a, &r), 0);

    assert_int_equal(popular(b, "empty", 10, NOW, &a, &r), 0);
    assert_int_equal(recommend(b, "empty", "u0", 10, true, &a, &r), 0);
    assert_int_equal(related(b, "empty", "a", "u0", 10, &a, &r), 0);
    const char *ids[] = {"b", "a", "b"};
    rerank(b, "empty", "u0", ids, 3, &a, &r);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(r[i].item_id, ids[i]);
        assert_false(r[i].has_score);
    }
    /* The empty string is a namespace like any other. */
    assert_int_equal(popular(b, "", 10, NOW, &a, &r), 0);
    ingest(b, "", NULL, NULL, "e", "view", NOW);
    assert_int_equal(popular(b, "", 10, NOW, &a, &r), 1);
    assert_true(pz_builtin_has_data(b, ""));
    pz_arena_destroy(&a);
    pz_builtin_close(b);
}

static void test_namespaces_isolated(void **state)
{
    (void)state;
    pz_builtin *b = open_fresh(NULL);
    ingest(b, "one", "u", NULL, "a", "view", NOW);
    ingest(b, "one", "u", NULL, "b", "view", NOW);
    ingest(b, "two", "u", NULL, "a", "purchase", NOW);
    ingest(b, "two", "u", NULL, "c", "purchase", NOW);
    ingest(b, "on", "u", NULL, "z", "purchase", NOW); /* a prefix of "one" */
    pz_arena a;
    pz_arena_init(&a);
    pz_scored_item *r;
    assert_int_equal(popular(b, "one", 10, NOW, &a, &r), 2);
    assert_close(r[0].score, 0.5);
    assert_int_equal(related(b, "one", "a", NULL, 10, &a, &r), 1);
    assert_string_equal(r[0].item_id, "b");
    assert_int_equal(related(b, "two", "a", NULL, 10, &a, &r), 1);
    assert_string_equal(r[0].item_id, "c");
    assert_int_equal(recommend(b, "one", "u", 10, true, &a, &r), 0);
    assert_int_equal(recommend(b, "two", "u", 10, false, &a, &r), 2);
    assert_int_equal(popular(b, "on", 10, NOW, &a, &r), 1);
    assert_string_equal(r[0].item_id, "z");
    pz_arena_destroy(&a);
    pz_builtin_close(b);
}

static void test_sessions_and_recent_cap(void **state)
{
    (void)state;
    pz_builtin_options o;
    pz_builtin_options_default(&o);
    o.recent_items_per_user = 2;
    o.cooccurrence_window = 1;
    pz_builtin *b = open_fresh(&o);
    /* Anonymous events pair through their session, only with the most recent item (window 1). */
    ingest(b, "ns", NULL, "s", "a", "view", NOW);
    ingest(b, "ns", NULL, "s", "b", "view", NOW + 1);
    ingest(b, "ns", NULL, "s", "c", "view", NOW + 2);
    ingest(b, "ns", NULL, NULL, "d", "view", NOW); /* no owner: popularity only */
    pz_arena a;
    pz_arena_init(&a);
    pz_scored_item *r;
    assert_int_equal(related(b, "ns", "c", NULL, 1, &a, &r), 1);
    assert_string_equal(r[0].item_id, "b");
    assert_int_equal(related(b, "ns", "a", NULL, 1, &a, &r), 1);
    assert_string_equal(r[0].item_id, "b");
    /* The user keeps only the 2 most recent items: a is no longer "seen". */
    ingest(b, "ns", "u", NULL, "a", "view", NOW);
    ingest(b, "ns", "u", NULL, "b", "view", NOW + 1);
    ingest(b, "ns", "u", NULL, "c", "view", NOW + 2);
    int n = recommend(b, "ns", "u", 10, true, &a, &r);
    assert_true(index_of(r, n, "a") >= 0);
    assert_int_equal(index_of(r, n, "b"), -1);
    assert_int_equal(index_of(r, n, "c"), -1);
    /* A repeated item moves to the front instead of taking a second slot. */
    ingest(b, "ns", "u", NULL, "b", "view", NOW + 3);
    ingest(b, "ns", "u", NULL, "b", "view", NOW + 4);
    n = recommend(b, "ns", "u", 10, true, &a, &r);
    assert_int_equal(index_of(r, n, "c"), -1);
    pz_arena_destroy(&a);
    pz_builtin_close(b);
}

static void test_open_errors_and_map_full(void **state)
{
    (void)state;
    char err[256];
    pz_builtin *b = NULL;
    pz_builtin_options o;
    pz_builtin_options_default(&o);
    o.half_life_hours = 0;
    char *dir = new_dir();
    assert_int_equal(pz_builtin_open(dir, &o, &b, err, sizeof(err)), -1);
    assert_null(b);
    assert_non_null(strstr(err, "half_life_hours"));
    assert_int_equal(pz_builtin_open("/proc/nope/store", NULL, &b, err, sizeof(err)), -1);
    assert_null(b);

    pz_builtin_options_default(&o);
    o.map_size_mb = 1;
    o.max_size_mb = 1;
    b = open_at(dir, &o);
    char item[PZ_BUILTIN_MAX_ID_LEN + 1];
    memset(item, 'i', sizeof(item) - 1);
    item[sizeof(item) - 1] = '\0';
    pz_interaction ev[100];
    int rc = 0;
    for (int batch = 0; batch < 100 && rc == 0; batch++) {
        for (int i = 0; i < 100; i++) {
            char *id = pz_strdup(item), prefix[32]; /* unique, full-length ids */
            int len = snprintf(prefix, sizeof(prefix), "%d-%d-", batch, i);
            memcpy(id, prefix, (size_t)len);
            ev[i] = (pz_interaction){.item_id = id, .sent_at_ms = NOW};
        }
        rc = pz_builtin_ingest(b, "ns", ev, 100, err, sizeof(err));
        for (int i = 0; i < 100; i++)
            free((char *)ev[i].item_id);
    }
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "max_size_mb"));
    /* Reads still work; what was committed stays. */
    assert_true(pz_builtin_has_data(b, "ns"));
    pz_builtin_close(b);
    free(dir);
}

/* ---- the bounded model, write-back, streams, growth and limits ---- */

static long learn(pz_builtin *b, const char *ns, const char *stream, const pz_interaction *ev, size_t n)
{
    char err[256] = "";
    long applied = pz_builtin_learn(b, ns, stream, ev, n, err, sizeof(err));
    if (applied < 0)
        fail_msg("learn: %s", err);
    return applied;
}

static void flush(pz_builtin *b)
{
    char err[256] = "";
    if (pz_builtin_flush(b, err, sizeof(err)) != 0)
        fail_msg("flush: %s", err);
}

/* The largest value in the named database of a closed store, read with LMDB directly. */
static size_t largest_value(const char *dir, const char *db)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur;
    MDB_val k, v;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
    assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
    size_t largest = 0;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        largest = v.mv_size > largest ? v.mv_size : largest;
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return largest;
}

static void test_neighbor_lists_are_bounded_and_keep_the_heavy(void **state)
{
    (void)state;
    char *dir = new_dir();
    pz_builtin_options o;
    pz_builtin_options_default(&o);
    o.neighbors_per_item = 4;
    o.recent_items_per_user = 3;
    pz_builtin *b = open_at(dir, &o);
    /* hub co-occurs with heavy for 20 users, and with 40 light items once each, interleaved: heavy
     * is a third of hub's pairs, above the 1/K that Space-Saving guarantees to keep */
    char user[32], item[32];
    for (int i = 0; i < 40; i++) {
        snprintf(user, sizeof(user), "light-%d", i);
        snprintf(item, sizeof(item), "light-item-%d", i);
        ingest(b, "ns", user, NULL, "hub", "view", NOW - HOUR);
        ingest(b, "ns", user, NULL, item, "view", NOW - HOUR);
        if (i % 2 == 0) {
            snprintf(user, sizeof(user), "heavy-%d", i);
            ingest(b, "ns", user, NULL, "hub", "view", NOW - HOUR);
            ingest(b, "ns", user, NULL, "heavy", "view", NOW - HOUR);
        }
    }
    pz_arena a;
    pz_arena_init(&a);
    pz_scored_item *r;
    assert_int_equal(related(b, "ns", "hub", NULL, 1, &a, &r), 1);
    assert_string_equal(r[0].item_id, "heavy"); /* Space-Saving keeps what is frequent */
    pz_arena_destroy(&a);
    pz_builtin_close(b);
    assert_true(largest_value(dir, "cooc") <= 4 * 16);      /* K = 4 neighbours of 16 bytes */
    assert_true(largest_value(dir, "users") <= 3 * 16);     /* 3 recent items of 16 bytes */
    assert_true(largest_value(dir, "sessions") <= 20 * 16); /* the window */
    free(dir);
}

static void test_learned_events_are_visible_at_once_and_durable_after_a_flush(void **state)
{
    (void)state;
    char *dir = new_dir();
    pz_builtin_options o;
    pz_builtin_options_default(&o);
    o.flush_interval_ms = 3600 * 1000; /* only explicit flushes */
    pz_builtin *b = open_at(dir, &o);
    pz_interaction ev[] = {{.user_id = "u", .item_id = "a", .event_type = "click", .sent_at_ms = NOW},
                           {.user_id = "u", .item_id = "b", .event_type = "click", .sent_at_ms = NOW}};
    assert_int_equal(learn(b, "ns", NULL, ev, 2), 2);
    pz_arena a;
    pz_arena_init(&a);
    pz_scored_item *r;
    assert_int_equal(related(b, "ns", "a", NULL, 5, &a, &r), 1);
    assert_string_equal(r[0].item_id, "b");
    pz_builtin_stats st;
    pz_builtin_stats_get(b, &st);
    assert_true(st.pending_entries > 0);
    assert_int_equal(st.flushes, 0);
    assert_int_equal(st.events_learned, 2);
    flush(b);
    pz_builtin_stats_get(b, &st);
    assert_int_equal(st.pending_entries, 0);
    assert_int_equal(st.flushes, 1);
    assert_false(st.full);
    assert_int_equal(related(b, "ns", "a", NULL, 5, &a, &r), 1); /* now from LMDB */
    assert_string_equal(r[0].item_id, "b");
    /* closing flushes too */
    ev[1].item_id = "c";
    learn(b, "ns", NULL, ev, 2);
    pz_builtin_close(b);
    b = open_at(dir, &o);
    assert_int_equal(related(b, "ns", "a", NULL, 5, &a, &r), 2);
    pz_buf json;
    pz_buf_init(&json, 4096);
    pz_builtin_stats_json(b, &json);
    assert_non_null(strstr(json.data, "\"state\":\"ok\""));
    assert_non_null(strstr(json.data, "\"items\":3"));
    assert_non_null(strstr(json.data, "\"namespaces\":1"));
    pz_buf_free(&json);
    pz_arena_destroy(&a);
    pz_builtin_close(b);
    free(dir);
}

static void test_streams_apply_each_event_once(void **state)
{
    (void)state;
    char *dir = new_dir();
    pz_builtin_options o;
    pz_builtin_options_default(&o);
    o.flush_interval_ms = 3600 * 1000;
    pz_builtin *b = open_at(dir, &o);
    pz_interaction ev[6];
    for (int i = 0; i < 6; i++)
        ev[i] = (pz_interaction){.item_id = "x", .event_type = "click", .sent_at_ms = NOW, .seq = (uint64_t)i + 1};
    assert_int_equal(pz_builtin_stream_mark(b, "s"), 0);
    assert_true(pz_builtin_unflushed_from(b, "s") == UINT64_MAX);
    assert_int_equal(learn(b, "ns", "s", ev, 3), 3); /* seqs 1-3 */
    assert_int_equal(pz_builtin_unflushed_from(b, "s"), 1);
    assert_int_equal(learn(b, "ns", "s", ev, 5), 2); /* 1-3 again are skipped */
    assert_int_equal(pz_builtin_stream_mark(b, "s"), 5);
    assert_int_equal(learn(b, "ns", "other", ev, 1), 1); /* streams are independent */
    flush(b);
    assert_true(pz_builtin_unflushed_from(b, "s") == UINT64_MAX);
    assert_int_equal(learn(b, "ns", NULL, ev, 1), 1); /* no stream: always applied */
    pz_builtin_close(b);
    b = open_at(dir, &o);
    assert_int_equal(pz_builtin_stream_mark(b, "s"), 5); /* durable with the statistics */
    assert_int_equal(learn(b, "ns", "s", ev, 6), 1);     /* only seq 6 */
    assert_int_equal(pz_builtin_unflushed_from(b, "s"), 6);
    pz_arena a;
    pz_arena_init(&a);
    pz_scored_item *r;
    assert_int_equal(popular(b, "ns", 5, NOW, &a, &r), 1);
    assert_close(r[0].score, 8); /* 6 from "s", 1 from "other", 1 without a stream */
    pz_builtin_stats st;
    pz_builtin_stats_get(b, &st);
    assert_int_equal(st.events_skipped, 5);
    /* seqs must not decrease within a call; a too-long stream name is refused */
    char err[256];
    pz_interaction back[2] = {ev[3], ev[1]};
    assert_int_equal(pz_builtin_learn(b, "ns", "s", back, 2, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "must not decrease"));
    char long_stream[PZ_BUILTIN_MAX_STREAM_LEN + 2];
    memset(long_stream, 's', sizeof(long_stream) - 1);
    long_stream[sizeof(long_stream) - 1] = '\0';
    assert_int_equal(pz_builtin_learn(b, "ns", long_stream, ev, 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "stream name"));
    pz_arena_destroy(&a);
    pz_builtin_close(b);
    free(dir);
}

/* n events on distinct 200-byte item ids of user u. */
static int learn_long_items(pz_builtin *b, int from, int n, char *err, size_t errlen)
{
    pz_interaction ev[50];
    char ids[50][210];
    for (int done = 0; done < n; done += 50) {
        int k = n - done < 50 ? n - done : 50;
        for (int i = 0; i < k; i++) {
            snprintf(ids[i], sizeof(ids[i]), "%0200d", from + done + i);
            ev[i] = (pz_interaction){.user_id = "u", .item_id = ids[i], .event_type = "view", .sent_at_ms = NOW};
        }
        if (pz_builtin_learn(b, "ns", NULL, ev, (size_t)k, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static void test_the_map_grows_up_to_its_limit(void **state)
{
    (void)state;
    pz_builtin_options o;
    pz_builtin_options_default(&o);
    o.map_size_mb = 1;
    o.max_size_mb = 64;
    o.pending_mb = 1; /* many flushes */
    pz_builtin *b = open_fresh(&o);
    char err[256] = "";
    if (learn_long_items(b, 0, 6000, err, sizeof(err)) != 0)
        fail_msg("learn: %s", err);
    flush(b);
    pz_builtin_stats st;
    pz_builtin_stats_get(b, &st);
    assert_true(st.map_growths >= 1);
    assert_true(st.map_bytes > ((size_t)1 << 20));
    assert_true(st.used_bytes > ((size_t)1 << 20));
    assert_true(st.flushes >= 2);
    assert_int_equal(st.flush_failures, 0);
    assert_int_equal(st.items, 6000);
    pz_builtin_close(b);
}

/* The automatic budget grows with the items known, so that half of it keeps holding every item's
 * neighbour list twice and flushes stay rare as the catalog grows; an explicit one is exact. */
static void test_the_automatic_memory_budget_grows_with_the_items(void **state)
{
    (void)state;
    pz_builtin_options o;
    pz_builtin_options_default(&o);
    assert_int_equal(o.pending_mb, PZ_BUILTIN_PENDING_AUTO);
    o.neighbors_per_item = 100;
    pz_builtin *b = open_fresh(&o);
    const size_t least = (size_t)PZ_BUILTIN_PENDING_AUTO_MIN_MB << 20;
    assert_int_equal(pz_builtin_pending_budget(b), least);
    char err[256] = "";
    if (learn_long_items(b, 0, 300, err, sizeof(err)) != 0)
        fail_msg("learn: %s", err);
    assert_int_equal(pz_builtin_pending_budget(b), least + 4 * 300 * 100 * 16);
    pz_builtin_stats st;
    pz_builtin_stats_get(b, &st);
    assert_int_equal(st.pending_budget_bytes, least + 4 * 300 * 100 * 16);
    pz_buf json;
    pz_buf_init(&json, 4096);
    pz_builtin_stats_json(b, &json);
    char expect[64];
    snprintf(expect, sizeof(expect), "\"pendingBudgetBytes\":%zu,", least + 4 * 300 * 100 * 16);
    assert_non_null(strstr(json.data, expect));
    pz_buf_free(&json);
    pz_builtin_close(b);

    o.pending_mb = 3;
    b = open_fresh(&o);
    if (learn_long_items(b, 0, 300, err, sizeof(err)) != 0)
        fail_msg("learn: %s", err);
    assert_int_equal(pz_builtin_pending_budget(b), (size_t)3 << 20);
    pz_builtin_close(b);
}

static void test_a_full_store_is_loud_and_refuses_once_its_memory_is_used(void **state)
{
    (void)state;
    char *dir = new_dir();
    pz_builtin_options o;
    pz_builtin_options_default(&o);
    o.map_size_mb = 1;
    o.max_size_mb = 1;
    o.pending_mb = 2;
    o.retry_ms = 3600 * 1000;
    o.max_size_name = "--builtin-max-mb";
    pz_builtin *b = open_at(dir, &o);
    char err[256] = "";
    int rc = 0, from = 0;
    for (; rc == 0 && from < 200000; from += 500)
        rc = learn_long_items(b, from, 500, err, sizeof(err));
    assert_int_equal(rc, -1); /* refused at last: the memory budget is used */
    assert_non_null(strstr(err, "cannot learn"));
    assert_non_null(strstr(err, "--builtin-max-mb"));
    pz_builtin_stats st;
    pz_builtin_stats_get(b, &st);
    assert_true(st.full);
    assert_true(st.flush_failures >= 1);
    assert_true(st.pending_bytes >= ((size_t)1 << 20)); /* learned in memory meanwhile */
    assert_non_null(strstr(st.last_error, "the store is full"));
    pz_buf json;
    pz_buf_init(&json, 4096);
    pz_builtin_stats_json(b, &json);
    assert_non_null(strstr(json.data, "\"state\":\"degraded\""));
    pz_buf_free(&json);
    /* queries still answer, from memory */
    pz_arena a;
    pz_arena_init(&a);
    pz_scored_item *r;
    assert_int_equal(popular(b, "ns", 10, NOW, &a, &r), 10);
    assert_int_equal(pz_builtin_flush(b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "the store is full"));
    pz_arena_destroy(&a);
    pz_builtin_close(b);
    /* with room, the store works again (what was not written is for the sources to re-send) */
    o.max_size_mb = 256;
    b = open_at(dir, &o);
    if (learn_long_items(b, 0, 100, err, sizeof(err)) != 0)
        fail_msg("learn: %s", err);
    flush(b);
    pz_builtin_close(b);
    free(dir);
}

static void test_one_process_per_store_and_old_formats_refused(void **state)
{
    (void)state;
    char *dir = new_dir();
    pz_builtin *b = open_at(dir, NULL), *again = NULL;
    char err[256];
    assert_int_equal(pz_builtin_open(dir, NULL, &again, err, sizeof(err)), -1);
    assert_null(again);
    assert_non_null(strstr(err, "in use by another process"));
    pz_builtin_close(b);
    b = open_at(dir, NULL); /* free again once closed */
    pz_builtin_close(b);
    free(dir);

    /* a store of the first format: meta "next_id" as 8 bytes and no "format" */
    dir = new_dir();
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", MDB_CREATE, &dbi), 0);
    uint64_t next = 5;
    MDB_val k = {.mv_size = 7, .mv_data = "next_id"}, v = {.mv_size = 8, .mv_data = &next};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    assert_int_equal(pz_builtin_open(dir, NULL, &b, err, sizeof(err)), -1);
    if (strstr(err, "earlier version") == NULL)
        fail_msg("%s", err);
    assert_non_null(strstr(err, "import-events"));
    free(dir);
}

static void test_namespace_limit(void **state)
{
    (void)state;
    pz_builtin *b = open_fresh(NULL);
    char ns[32], err[256];
    pz_interaction ev = {.item_id = "i", .sent_at_ms = NOW};
    for (int i = 0; i < PZ_BUILTIN_MAX_NAMESPACES; i++) {
        snprintf(ns, sizeof(ns), "ns-%d", i);
        learn(b, ns, NULL, &ev, 1);
    }
    assert_int_equal(pz_builtin_learn(b, "one-too-many", NULL, &ev, 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too many namespaces"));
    assert_int_equal(learn(b, "ns-7", NULL, &ev, 1), 1); /* known ones still learn */
    assert_true(pz_builtin_has_data(b, "ns-4095"));
    assert_false(pz_builtin_has_data(b, "one-too-many"));
    pz_builtin_close(b);
}

/* ---- concurrency: one writer, several readers, no errors ---- */

typedef struct shared {
    pz_builtin *b;
    bool write_back; /* learn without flushing each call */
    atomic_bool done;
    atomic_int errors;
    atomic_int queries;
} shared;

static void *writer(void *arg)
{
    shared *s = arg;
    char user[16], err[256];
    /* write-back: enough distinct long ids to make the map grow under the readers */
    int rounds = s->write_back ? 1000 : 200;
    for (int i = 0; i < rounds && atomic_load(&s->errors) == 0; i++) {
        pz_interaction ev[5];
        char items[5][210];
        for (int j = 0; j < 5; j++) {
            snprintf(user, sizeof(user), "u%d", (i + j) % 17);
            if (s->write_back && j == 3)
                snprintf(items[j], sizeof(items[j]), "%0200d", i);
            else
                snprintf(items[j], sizeof(items[j]), "i%d", (i * 5 + j) % 61);
            ev[j] = (pz_interaction){.user_id = j == 4 ? NULL : pz_strdup(user),
                                     .session_id = "s",
                                     .item_id = items[j],
                                     .event_type = j % 2 ? "view" : "click",
                                     .sent_at_ms = NOW + i};
        }
        int rc = s->write_back ? (pz_builtin_learn(s->b, "ns", NULL, ev, 5, err, sizeof(err)) < 0 ? -1 : 0)
                               : pz_builtin_ingest(s->b, "ns", ev, 5, err, sizeof(err));
        if (rc != 0)
            atomic_fetch_add(&s->errors, 1);
        for (int j = 0; j < 5; j++)
            free((char *)ev[j].user_id);
    }
    atomic_store(&s->done, true);
    return NULL;
}

static bool sorted(const pz_scored_item *r, int n)
{
    for (int i = 1; i < n; i++)
        if (r[i].has_score && r[i - 1].has_score && r[i - 1].score < r[i].score)
            return false;
    return true;
}

static void *reader(void *arg)
{
    shared *s = arg;
    pz_arena a;
    pz_arena_init(&a);
    char err[256];
    const char *ids[] = {"i1", "i2", "none", "i3", "i1"};
    for (int round = 0; !atomic_load(&s->done) || round < 20; round++) {
        pz_scored_item *r;
        char user[16];
        snprintf(user, sizeof(user), "u%d", round % 17);
        int n = pz_builtin_popular(s->b, "ns", 10, NOW, &a, &r, err, sizeof(err));
        bool ok = n >= 0 && sorted(r, n);
        n = pz_builtin_recommend(s->b, "ns", user, 10, true, NOW, &a, &r, err, sizeof(err));
        ok = ok && n >= 0 && sorted(r, n);
        n = pz_builtin_related(s->b, "ns", "i7", user, 10, NOW, &a, &r, err, sizeof(err));
        ok = ok && n >= 0 && sorted(r, n);
        n = pz_builtin_rerank(s->b, "ns", user, ids, 5, NOW, &a, &r, err, sizeof(err));
        ok = ok && n == 5 && sorted(r, n);
        (void)pz_builtin_has_data(s->b, "ns");
        if (!ok)
            atomic_fetch_add(&s->errors, 1);
        atomic_fetch_add(&s->queries, 1);
        pz_arena_reset(&a);
    }
    pz_arena_destroy(&a);
    return NULL;
}

static void run_concurrently(shared *s_in, pz_builtin_stats *st)
{
    shared s = *s_in;
    atomic_init(&s.done, false);
    atomic_init(&s.errors, 0);
    atomic_init(&s.queries, 0);
    pthread_t w, r[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&r[i], NULL, reader, &s), 0);
    assert_int_equal(pthread_create(&w, NULL, writer, &s), 0);
    pthread_join(w, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(r[i], NULL);
    assert_int_equal(atomic_load(&s.errors), 0);
    assert_true(atomic_load(&s.queries) >= 80);
    assert_true(pz_builtin_has_data(s.b, "ns"));
    char err[256];
    assert_int_equal(pz_builtin_flush(s.b, err, sizeof(err)), 0);
    pz_builtin_stats_get(s.b, st);
    pz_builtin_close(s.b);
}

/* The history port for excludeSeen: a user's items in the namespace, by the strongest event type's
 * weight and the latest event's time; other users and namespaces are not seen. */
static const char *seen_list(pz_history_port port, const char *ns, const char *user, const char *const *types,
                             size_t n_types, int64_t since, pz_arena *a)
{
    pz_history_query q = {.ns = ns, .user_id = user, .event_types = types, .n_event_types = n_types, .since_ms = since};
    const char **ids;
    size_t n;
    pz_error err;
    assert_int_equal(port.seen(port.self, &q, a, &ids, &n, &err), PZ_OK);
    /* sorted, comma-joined */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(ids[j - 1], ids[j]) > 0; j--) {
            const char *t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    char *out = pz_arena_calloc(a, 1, 1024);
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), 1024 - strlen(out), "%s%s", i ? "," : "", ids[i]);
    return out;
}

static void test_history_port(void **state)
{
    (void)state;
    pz_builtin *b = open_fresh(NULL);
    ingest(b, "ns", "u1", NULL, "bought", "purchase", NOW - 10 * HOUR);
    ingest(b, "ns", "u1", NULL, "viewed", "view", NOW - 2 * HOUR);
    ingest(b, "ns", "u1", NULL, "clicked", "click", NOW - 1 * HOUR);
    ingest(b, "ns", "u1", NULL, "both", "view", NOW - 30 * HOUR);
    ingest(b, "ns", "u1", NULL, "both", "Add-To-Cart", NOW - 20 * HOUR);
    ingest(b, "ns", "u2", NULL, "other", "purchase", NOW);
    ingest(b, "ns2", "u1", NULL, "elsewhere", "purchase", NOW);
    pz_history_port port = pz_builtin_history(b);
    pz_arena a;
    pz_arena_init(&a);
    assert_string_equal(seen_list(port, "ns", "u1", NULL, 0, 0, &a), "both,bought,clicked,viewed");
    static const char *const purchase[] = {"purchase", "cart"};
    assert_string_equal(seen_list(port, "ns", "u1", purchase, 2, 0, &a), "both,bought");
    static const char *const view[] = {"impression"}; /* the same weight as view */
    assert_string_equal(seen_list(port, "ns", "u1", view, 1, 0, &a), "viewed");
    assert_string_equal(seen_list(port, "ns", "u1", NULL, 0, NOW - 3 * HOUR, &a), "clicked,viewed");
    assert_string_equal(seen_list(port, "ns", "nobody", NULL, 0, 0, &a), "");
    assert_string_equal(seen_list(port, "none", "u1", NULL, 0, 0, &a), "");
    /* learned but not yet flushed (the pending table) is seen at once */
    pz_interaction e = {.user_id = "u2", .item_id = "pending", .event_type = "click", .sent_at_ms = NOW};
    char err[256] = "";
    assert_int_equal(pz_builtin_learn(b, "ns", NULL, &e, 1, err, sizeof err), 1);
    assert_string_equal(seen_list(port, "ns", "u2", NULL, 0, 0, &a), "other,pending");
    pz_arena_destroy(&a);
    pz_builtin_close(b);
}

/* Item names are cached per thread by (store, id) (builtin_names.h): a store opened after another
 * one closed, often at the same address, gives its own names for the same ids, and names too long
 * for the cache still come back whole. */
static void test_item_names_are_never_another_stores(void **state)
{
    (void)state;
    char long_name[PZ_BUILTIN_MAX_ID_LEN + 1];
    memset(long_name, 'L', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    const char *const names[][2] = {{"first-a", long_name}, {"second-a", "second-b"}};
    for (int round = 0; round < 2; round++) {
        pz_builtin *b = open_fresh(NULL);
        ingest(b, "ns", "u1", NULL, names[round][0], "purchase", NOW - HOUR); /* id 1 in each store */
        ingest(b, "ns", "u1", NULL, names[round][1], "click", NOW);           /* id 2 */
        pz_arena a;
        pz_arena_init(&a);
        for (int twice = 0; twice < 2; twice++) { /* the second read comes from the cache */
            pz_scored_item *out;
            assert_int_equal(popular(b, "ns", 10, NOW, &a, &out), 2);
            assert_true(index_of(out, 2, names[round][0]) >= 0 && index_of(out, 2, names[round][1]) >= 0);
            char want[2 * PZ_BUILTIN_MAX_ID_LEN + 2]; /* sorted: 'L' < 'f' */
            snprintf(want, sizeof want, "%s", round == 0 ? long_name : "second-a,second-b");
            if (round == 0)
                strcat(want, ",first-a");
            assert_string_equal(seen_list(pz_builtin_history(b), "ns", "u1", NULL, 0, 0, &a), want);
        }
        pz_arena_destroy(&a);
        pz_builtin_close(b);
    }
}

static void test_concurrent_writer_and_readers(void **state)
{
    (void)state;
    shared s = {.b = open_fresh(NULL)};
    pz_builtin_stats st;
    run_concurrently(&s, &st);
}

/* Learning in memory while the flusher writes and grows the map under the readers. */
static void test_concurrent_write_back_and_map_growth(void **state)
{
    (void)state;
    pz_builtin_options o;
    pz_builtin_options_default(&o);
    o.map_size_mb = 1;
    o.pending_mb = 1;
    o.flush_interval_ms = 1;
    shared s = {.b = open_fresh(&o), .write_back = true};
    pz_builtin_stats st;
    run_concurrently(&s, &st);
    assert_true(st.map_growths >= 1);
    assert_true(st.flushes >= 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_popularity_order_and_weights),
        cmocka_unit_test(test_history_port),
        cmocka_unit_test(test_item_names_are_never_another_stores),
        cmocka_unit_test(test_decay),
        cmocka_unit_test(test_related),
        cmocka_unit_test(test_recommend_personalized),
        cmocka_unit_test(test_unknown_user_gets_popular),
        cmocka_unit_test(test_rerank),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_persistence_and_has_data),
        cmocka_unit_test(test_oversized_ids_rejected),
        cmocka_unit_test(test_n_results_and_empty_namespace),
        cmocka_unit_test(test_namespaces_isolated),
        cmocka_unit_test(test_sessions_and_recent_cap),
        cmocka_unit_test(test_open_errors_and_map_full),
        cmocka_unit_test(test_neighbor_lists_are_bounded_and_keep_the_heavy),
        cmocka_unit_test(test_learned_events_are_visible_at_once_and_durable_after_a_flush),
        cmocka_unit_test(test_streams_apply_each_event_once),
        cmocka_unit_test(test_the_map_grows_up_to_its_limit),
        cmocka_unit_test(test_the_automatic_memory_budget_grows_with_the_items),
        cmocka_unit_test(test_a_full_store_is_loud_and_refuses_once_its_memory_is_used),
        cmocka_unit_test(test_one_process_per_store_and_old_formats_refused),
        cmocka_unit_test(test_namespace_limit),
        cmocka_unit_test(test_concurrent_writer_and_readers),
        cmocka_unit_test(test_concurrent_write_back_and_map_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
