/* Offline evaluation of the builtin recommender's strategies (issue #21): generates a history with
 * planted structure (synth.h: user segments with item affinities), splits it by time, trains a
 * fresh store on the past, and scores what each strategy would have shown each user against what
 * the user went on to interact with.
 *
 * For every evaluated user (one train event at least and one test item not seen in training):
 *   relevant  = the distinct items of the user's test events not seen in training;
 *   hit-rate@K = share of users with at least one relevant item in the top K;
 *   recall@K   = |relevant in top K| / |relevant|, averaged over users;
 *   NDCG@K     = DCG / ideal DCG with binary gains, log2 discounts, averaged over users.
 * Strategies: personalized (recommend, seen items excluded), related (to the user's last training
 * item, the user's items excluded), popular (the same list for everyone, as the `popular` strategy
 * serves it) and popular without the user's seen items (a stronger baseline), queried at the split
 * time.
 *
 *   bazel run -c opt //tests/bench/builtin:quality -- [--users N] [--items N] [--segments N]
 *       [--events N] [--seed N] [--k N] [--neighbors K] [--recent N] [--window N]
 * (--neighbors, --recent and --window set the model's neighbors_per_item, recent_items_per_user and
 * cooccurrence_window; defaults as the server's.)
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/core/mem.h"
#include "server/recommenders/builtin.h"
#include "synth.h"

#define TRAIN_SHARE 0.8
#define EVAL_USERS 5000
#define BATCH 5000

typedef struct ulist {
    uint32_t *v;
    size_t n, cap;
} ulist;

static void ulist_add_unique(ulist *l, uint32_t x)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == x)
            return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = x;
}

static int ulist_has(const ulist *l, uint32_t x)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == x)
            return 1;
    return 0;
}

typedef struct metrics {
    const char *name;
    double hits, recall, ndcg;
    size_t users;
    double query_us;
} metrics;

/* Scores one ranked list of item ids ("i<n>") against a user's relevant items. */
static void score(metrics *m, const pz_scored_item *r, int n, int k, const ulist *relevant)
{
    double dcg = 0, idcg = 0;
    size_t found = 0;
    for (int i = 0; i < n && i < k; i++) {
        uint32_t item = (uint32_t)strtoul(r[i].item_id + 1, NULL, 10);
        if (ulist_has(relevant, item)) {
            found++;
            dcg += 1.0 / log2(i + 2.0);
        }
    }
    for (size_t i = 0; i < relevant->n && i < (size_t)k; i++)
        idcg += 1.0 / log2((double)i + 2.0);
    m->hits += found > 0;
    m->recall += (double)found / (double)relevant->n;
    m->ndcg += dcg / idcg;
    m->users++;
}

static double clock_us(clockid_t which)
{
    struct timespec ts;
    clock_gettime(which, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double now_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

static void fail(const char *what, const char *err)
{
    fprintf(stderr, "quality: %s: %s\n", what, err);
    exit(1);
}

int main(int argc, char **argv)
{
    synth_options o;
    synth_defaults(&o);
    pz_builtin_options bo;
    pz_builtin_options_default(&bo);
    bo.pending_mb = 512;
    int k = 10;
    static const struct option opts[] = {
        {"users", required_argument, NULL, 'u'},     {"items", required_argument, NULL, 'i'},
        {"segments", required_argument, NULL, 's'},  {"events", required_argument, NULL, 'e'},
        {"seed", required_argument, NULL, 'r'},      {"k", required_argument, NULL, 'k'},
        {"neighbors", required_argument, NULL, 'n'}, {"recent", required_argument, NULL, 'c'},
        {"window", required_argument, NULL, 'w'},    {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        unsigned long long v = strtoull(optarg, NULL, 10);
        switch (c) {
        case 'u': o.users = v; break;
        case 'i': o.items = v; break;
        case 's': o.segments = v; break;
        case 'e': o.events = v; break;
        case 'r': o.seed = v; break;
        case 'k': k = (int)v; break;
        case 'n': bo.neighbors_per_item = v; break;
        case 'c': bo.recent_items_per_user = v; break;
        case 'w': bo.cooccurrence_window = v; break;
        default:
            fprintf(stderr, "usage: quality [--users N] [--items N] [--segments N] [--events N] [--seed N] [--k N]\n");
            return 2;
        }
    }
    synth *s = synth_new(&o);
    synth_event *all = malloc(o.events * sizeof *all);
    size_t n = 0;
    while (synth_next(s, &all[n]))
        n++;
    size_t split = (size_t)(TRAIN_SHARE * (double)n);
    int64_t split_ms = all[split].t_ms;

    char dir[] = "/tmp/pz-quality-XXXXXX", err[512];
    if (mkdtemp(dir) == NULL)
        fail("mkdtemp", "cannot create a directory");
    pz_builtin *b;
    if (pz_builtin_open(dir, &bo, &b, err, sizeof err) != 0)
        fail("open", err);

    /* training: the events before the split, in time order */
    ulist *seen = calloc(o.users, sizeof *seen), *future = calloc(o.users, sizeof *future);
    uint32_t *last = calloc(o.users, sizeof *last);
    pz_interaction *batch = calloc(BATCH, sizeof *batch);
    char(*names)[2][24] = calloc(BATCH, sizeof *names);
    double t0 = now_us(), cpu0 = clock_us(CLOCK_PROCESS_CPUTIME_ID), bench_us = 0;
    for (size_t i = 0, m = 0; i < split; i++) {
        const synth_event *e = &all[i];
        snprintf(names[m][0], sizeof names[m][0], "u%u", e->user);
        snprintf(names[m][1], sizeof names[m][1], "i%u", e->item);
        batch[m] = (pz_interaction){
            .user_id = names[m][0], .item_id = names[m][1], .event_type = e->type, .sent_at_ms = e->t_ms};
        double b0 = clock_us(CLOCK_THREAD_CPUTIME_ID); /* the benchmark's own bookkeeping, not counted */
        ulist_add_unique(&seen[e->user], e->item);
        last[e->user] = e->item + 1;
        bench_us += clock_us(CLOCK_THREAD_CPUTIME_ID) - b0;
        if (++m == BATCH || i + 1 == split) {
            if (pz_builtin_learn(b, "q", NULL, batch, m, err, sizeof err) < 0)
                fail("learn", err);
            m = 0;
        }
    }
    double learn_s = (now_us() - t0) / 1e6;
    if (pz_builtin_flush(b, err, sizeof err) != 0)
        fail("flush", err);
    double train_s = (now_us() - t0) / 1e6;
    double train_cpu_us = clock_us(CLOCK_PROCESS_CPUTIME_ID) - cpu0 - bench_us;
    for (size_t i = split; i < n; i++) {
        if (!ulist_has(&seen[all[i].user], all[i].item))
            ulist_add_unique(&future[all[i].user], all[i].item);
    }

    metrics m[4] = {{.name = "personalized (recommend-items)"},
                    {.name = "related (to the last item)"},
                    {.name = "popular"},
                    {.name = "popular, seen items removed"}};
    pz_arena a;
    pz_arena_init(&a);
    size_t evaluated = 0;
    for (uint32_t u = 0; u < o.users && evaluated < EVAL_USERS; u++) {
        if (seen[u].n == 0 || future[u].n == 0)
            continue;
        evaluated++;
        char user[24], item[24];
        snprintf(user, sizeof user, "u%u", u);
        snprintf(item, sizeof item, "i%u", last[u] - 1);
        pz_scored_item *r;
        double q0 = clock_us(CLOCK_THREAD_CPUTIME_ID);
        int got = pz_builtin_recommend(b, "q", user, (size_t)k, true, split_ms, &a, &r, err, sizeof err);
        m[0].query_us += clock_us(CLOCK_THREAD_CPUTIME_ID) - q0;
        if (got < 0)
            fail("recommend", err);
        score(&m[0], r, got, k, &future[u]);
        q0 = clock_us(CLOCK_THREAD_CPUTIME_ID);
        got = pz_builtin_related(b, "q", item, user, (size_t)k, split_ms, &a, &r, err, sizeof err);
        m[1].query_us += clock_us(CLOCK_THREAD_CPUTIME_ID) - q0;
        if (got < 0)
            fail("related", err);
        score(&m[1], r, got, k, &future[u]);
        q0 = clock_us(CLOCK_THREAD_CPUTIME_ID);
        got = pz_builtin_popular(b, "q", (size_t)k, split_ms, &a, &r, err, sizeof err);
        m[2].query_us += clock_us(CLOCK_THREAD_CPUTIME_ID) - q0;
        if (got < 0)
            fail("popular", err);
        score(&m[2], r, got, k, &future[u]);
        got = pz_builtin_popular(b, "q", (size_t)k + seen[u].n, split_ms, &a, &r, err, sizeof err);
        pz_scored_item *unseen = pz_arena_calloc(&a, (size_t)k, sizeof *unseen);
        int kept = 0;
        for (int i = 0; i < got && kept < k; i++) {
            if (!ulist_has(&seen[u], (uint32_t)strtoul(r[i].item_id + 1, NULL, 10)))
                unseen[kept++] = r[i];
        }
        score(&m[3], unseen, kept, k, &future[u]);
        pz_arena_reset(&a);
    }
    pz_arena_destroy(&a);

    printf("history: %llu events (%zu users in %zu segments, %zu items, %.0f %% of a user's events in their segment, "
           "Zipf %.1f), seed %llu\n",
           (unsigned long long)n, o.users, o.segments, o.items, o.affinity * 100, o.item_skew,
           (unsigned long long)o.seed);
    printf("model: neighbors_per_item %zu, recent_items_per_user %zu, cooccurrence_window %zu\n", bo.neighbors_per_item,
           bo.recent_items_per_user, bo.cooccurrence_window);
    printf("split by time: %zu training events (first %.0f %%), %zu later; %zu users evaluated (train and unseen "
           "future items); trained in %.2f s (%.0f events/s; learning %.2f s, writing %.2f s; %.1f µs of CPU per "
           "event)\n\n",
           split, TRAIN_SHARE * 100, n - split, evaluated, train_s, (double)split / train_s, learn_s, train_s - learn_s,
           train_cpu_us / (double)split);
    printf("| strategy | hit-rate@%d | recall@%d | NDCG@%d | query CPU µs |\n|---|---|---|---|---|\n", k, k, k);
    for (int i = 0; i < 4; i++)
        printf("| %s | %.3f | %.3f | %.3f | %.0f |\n", m[i].name, m[i].hits / (double)m[i].users,
               m[i].recall / (double)m[i].users, m[i].ndcg / (double)m[i].users,
               i == 3 ? 0 : m[i].query_us / (double)m[i].users);
    double lift = (m[0].ndcg / (double)m[0].users) / (m[3].ndcg / (double)m[3].users);
    printf("\npersonalized vs popular (seen removed): NDCG@%d x%.2f, hit-rate x%.2f\n", k, lift,
           (m[0].hits / (double)m[0].users) / (m[3].hits / (double)m[3].users));

    pz_builtin_close(b);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "quality: could not remove %s\n", dir);
    for (size_t u = 0; u < o.users; u++) {
        free(seen[u].v);
        free(future[u].v);
    }
    free(seen);
    free(future);
    free(last);
    free(batch);
    free(names);
    free(all);
    synth_free(s);
    return 0;
}
