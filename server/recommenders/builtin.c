/* The builtin recommender's queries: popular, recommend, related, rerank. Every query runs in one
 * LMDB read transaction (never waits for the writer) and copies what it returns into the caller's
 * arena; temporaries are malloc'd and freed before returning. Storage layout and decay encoding:
 * builtin_internal.h; learning: builtin_store.c. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/mem.h"
#include "server/recommenders/builtin.h"
#include "server/recommenders/builtin_internal.h"

/* ---- a small open-addressing map from item id (never 0) to a double ---- */

typedef struct idmap {
    uint64_t *keys; /* 0 = empty slot */
    double *vals;
    size_t cap; /* power of two */
    size_t len;
} idmap;

static void idmap_init(idmap *m)
{
    m->cap = 64;
    m->len = 0;
    m->keys = pz_calloc(m->cap, sizeof(*m->keys));
    m->vals = pz_calloc(m->cap, sizeof(*m->vals));
}

static void idmap_free(idmap *m)
{
    free(m->keys);
    free(m->vals);
}

static size_t idmap_slot(const idmap *m, uint64_t id)
{
    uint64_t h = id * UINT64_C(0x9E3779B97F4A7C15);
    size_t i = (size_t)(h ^ (h >> 29)) & (m->cap - 1);
    while (m->keys[i] != 0 && m->keys[i] != id)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static bool idmap_has(const idmap *m, uint64_t id)
{
    return m->keys[idmap_slot(m, id)] == id;
}

/* Returns the value of id, inserting 0 when absent. */
static double *idmap_add(idmap *m, uint64_t id)
{
    if ((m->len + 1) * 2 > m->cap) {
        idmap old = *m;
        m->cap *= 2;
        m->len = 0;
        m->keys = pz_calloc(m->cap, sizeof(*m->keys));
        m->vals = pz_calloc(m->cap, sizeof(*m->vals));
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i] != 0)
                *idmap_add(m, old.keys[i]) = old.vals[i];
        idmap_free(&old);
    }
    size_t i = idmap_slot(m, id);
    if (m->keys[i] == 0) {
        m->keys[i] = id;
        m->vals[i] = 0;
        m->len++;
    }
    return &m->vals[i];
}

/* ---- candidates ---- */

typedef struct cand {
    uint64_t id;
    double score;
    const char *name; /* in the LMDB map or the caller's input: valid during the query */
    size_t len;
    size_t pos; /* input position (rerank) */
    int tier;   /* rerank: 0 affinity, 1 popularity only, 2 no statistics */
} cand;

typedef struct candvec {
    cand *v;
    size_t n, cap;
} candvec;

static cand *candvec_push(candvec *c)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->v = pz_realloc(c->v, c->cap * sizeof(*c->v));
    }
    cand *x = &c->v[c->n++];
    memset(x, 0, sizeof(*x));
    return x;
}

static int name_cmp(const cand *x, const cand *y)
{
    int c = memcmp(x->name, y->name, x->len < y->len ? x->len : y->len);
    if (c != 0)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Best first: tier, then score descending, then item id ascending, then input position. The last
 * tier (no statistics) keeps input order. */
static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->tier != y->tier)
        return x->tier < y->tier ? -1 : 1;
    if (x->tier != 2) {
        if (x->score != y->score)
            return x->score > y->score ? -1 : 1;
        int c = name_cmp(x, y);
        if (c != 0)
            return c;
    }
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* ---- reading ---- */

typedef struct query {
    pz_builtin *b;
    MDB_txn *txn;
    const char *ns;
    int64_t now;
    const char *failed;
} query;

static int query_begin(query *q, pz_builtin *b, const char *ns, int64_t now_ms, char *err, size_t errlen)
{
    *q = (query){.b = b, .ns = ns, .now = now_ms};
    int rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &q->txn);
    return rc != 0 ? pzb_fail(b, err, errlen, "begin read", rc) : 0;
}

/* Ends the read transaction; turns rc into the query's return value. */
static int query_end(query *q, int rc, char *err, size_t errlen)
{
    mdb_txn_abort(q->txn);
    return rc != 0 ? pzb_fail(q->b, err, errlen, q->failed, rc) : 0;
}

static int failed(query *q, const char *what, int rc)
{
    q->failed = what;
    return rc;
}

/* The user's recent items (malloc'd, most recent first); *n = 0 for no or unknown user. */
static int load_user(query *q, const char *user, pzb_recent **list, size_t *n)
{
    *list = pz_malloc(q->b->recent_cap * sizeof(pzb_recent));
    *n = 0;
    if (user == NULL || user[0] == '\0')
        return 0;
    int rc = pzb_get_recent(q->txn, q->b->users, q->ns, user, *list, q->b->recent_cap, n);
    return rc != 0 ? failed(q, "read recent items", rc) : 0;
}

static double recency_weight(size_t rank)
{
    return 1.0 / (1.0 + (double)rank);
}

/* scores[x] += weight * cooc(from, x) for every neighbour x of `from` not in exclude. */
static int gather_cooc(query *q, uint64_t from, double weight, const idmap *exclude, idmap *scores)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(q->txn, q->b->cooc, &cur);
    if (rc != 0)
        return failed(q, "open cursor", rc);
    unsigned char prefix[8];
    pzb_put_be64(prefix, from);
    MDB_val k = {.mv_size = sizeof(prefix), .mv_data = prefix}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16 || memcmp(k.mv_data, prefix, 8) != 0 || v.mv_size != sizeof(double))
            break;
        uint64_t to = pzb_get_be64((const unsigned char *)k.mv_data + 8);
        if (idmap_has(exclude, to))
            continue;
        double L;
        memcpy(&L, v.mv_data, sizeof(L));
        *idmap_add(scores, to) += weight * pzb_decayed(q->b, L, q->now);
    }
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : failed(q, "read co-occurrence", rc);
}

/* Damps items that co-occur with everything because they are popular. */
static double damped(query *q, double affinity, double L)
{
    double s = affinity / (1.0 + sqrt(pzb_decayed(q->b, L, q->now)));
    return s > 0 ? (s < DBL_MAX ? s : DBL_MAX) : 0;
}

/* For rank_scores' bounded heap: a max-heap by cand_cmp, so the root is the worst candidate kept. */
static void sift_down(cand *h, size_t n, size_t i)
{
    for (;;) {
        size_t worst = i, l = 2 * i + 1, r = l + 1;
        if (l < n && cand_cmp(&h[l], &h[worst]) > 0)
            worst = l;
        if (r < n && cand_cmp(&h[r], &h[worst]) > 0)
            worst = r;
        if (worst == i)
            return;
        cand t = h[i];
        h[i] = h[worst];
        h[worst] = t;
        i = worst;
    }
}

/* Turns summed co-occurrence into the best n candidates, best first. A bounded heap keeps this
 * O(C log n) for C candidates; raw sums below the worst kept score skip the lookup, since damping
 * only lowers a score. */
static int rank_scores(query *q, const idmap *scores, size_t n, candvec *out)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < scores->cap; i++) {
        if (scores->keys[i] == 0)
            continue;
        bool full = out->n == n;
        if (full && scores->vals[i] < out->v[0].score)
            continue;
        cand c = {.id = scores->keys[i]};
        double L;
        int rc = pzb_get_by_id(q->b, q->txn, c.id, &L, &c.name, &c.len);
        if (rc != 0)
            return failed(q, "read item", rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc);
        c.score = damped(q, scores->vals[i], L);
        if (!full) {
            *candvec_push(out) = c;
            if (out->n == n)
                for (size_t j = n / 2 + 1; j-- > 0;)
                    sift_down(out->v, n, j);
        } else if (cand_cmp(&c, &out->v[0]) < 0) {
            out->v[0] = c;
            sift_down(out->v, n, 0);
        }
    }
    if (out->n > 0)
        qsort(out->v, out->n, sizeof(cand), cand_cmp);
    return 0;
}

/* Appends popular items not in exclude until out holds `limit`. When out already holds personalized
 * items, popular ones are scaled to at most half the lowest of those scores so the list stays
 * sorted: score = last/2 * pop(x)/pop(first filled). */
static int fill_popular(query *q, const idmap *exclude, size_t limit, candvec *out)
{
    char prefix[PZB_KEY_MAX];
    size_t plen = pzb_key(prefix, q->ns, "");
    if (plen == 0 || out->n >= limit)
        return 0;
    double ceiling = out->n > 0 ? out->v[out->n - 1].score / 2 : -1, first_L = 0;
    bool first = true;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(q->txn, q->b->popidx, &cur);
    if (rc != 0)
        return failed(q, "open cursor", rc);
    MDB_val k = {.mv_size = plen, .mv_data = prefix}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && out->n < limit;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen + 8 || memcmp(k.mv_data, prefix, plen) != 0 || v.mv_size != sizeof(uint64_t))
            break;
        uint64_t id;
        memcpy(&id, v.mv_data, sizeof(id));
        if (idmap_has(exclude, id))
            continue;
        const unsigned char *key = k.mv_data;
        double L = pzb_desc_value(pzb_get_be64(key + plen));
        if (first)
            first_L = L;
        first = false;
        cand *c = candvec_push(out);
        c->id = id;
        c->name = (const char *)key + plen + 8;
        c->len = k.mv_size - plen - 8;
        c->score = ceiling >= 0 ? ceiling * exp2(L - first_L) : pzb_decayed(q->b, L, q->now);
    }
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : failed(q, "read popularity", rc);
}

/* Copies the first n candidates into the arena. */
static pz_scored_item *emit(pz_arena *arena, const cand *v, size_t n)
{
    pz_scored_item *items = pz_arena_calloc(arena, n, sizeof(*items));
    for (size_t i = 0; i < n; i++) {
        items[i].item_id = pz_arena_strndup(arena, v[i].name, v[i].len);
        items[i].has_score = v[i].tier != 2;
        items[i].score = items[i].has_score ? v[i].score : 0;
    }
    return items;
}

/* The top n_results of scores, then popular items, none in exclude. */
static int personal_then_popular(query *q, const idmap *scores, idmap *exclude, size_t n_results, pz_arena *arena,
                                 pz_scored_item **out, int *count)
{
    candvec c = {0};
    int rc = rank_scores(q, scores, n_results, &c);
    if (rc == 0) {
        for (size_t i = 0; i < c.n; i++)
            idmap_add(exclude, c.v[i].id);
        rc = fill_popular(q, exclude, n_results, &c);
    }
    if (rc == 0) {
        *out = emit(arena, c.v, c.n);
        *count = (int)c.n;
    }
    free(c.v);
    return rc;
}

/* ---- queries ---- */

static int clamp_results(size_t n)
{
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

int pz_builtin_popular(pz_builtin *b, const char *ns, size_t n_results, int64_t now_ms, pz_arena *arena,
                       pz_scored_item **out, char *err, size_t errlen)
{
    *out = NULL;
    query q;
    if (query_begin(&q, b, ns, now_ms, err, errlen) != 0)
        return -1;
    idmap none, exclude;
    idmap_init(&none);
    idmap_init(&exclude);
    int count = 0;
    int rc = personal_then_popular(&q, &none, &exclude, (size_t)clamp_results(n_results), arena, out, &count);
    idmap_free(&none);
    idmap_free(&exclude);
    return query_end(&q, rc, err, errlen) != 0 ? -1 : count;
}

int pz_builtin_recommend(pz_builtin *b, const char *ns, const char *user_id, size_t n_results, bool exclude_seen,
                         int64_t now_ms, pz_arena *arena, pz_scored_item **out, char *err, size_t errlen)
{
    *out = NULL;
    query q;
    if (query_begin(&q, b, ns, now_ms, err, errlen) != 0)
        return -1;
    pzb_recent *recent;
    size_t n_recent;
    idmap scores, exclude;
    idmap_init(&scores);
    idmap_init(&exclude);
    int count = 0;
    int rc = load_user(&q, user_id, &recent, &n_recent);
    for (size_t i = 0; rc == 0 && exclude_seen && i < n_recent; i++)
        idmap_add(&exclude, recent[i].id);
    for (size_t i = 0; rc == 0 && i < n_recent; i++)
        rc = gather_cooc(&q, recent[i].id, recency_weight(i), &exclude, &scores);
    if (rc == 0)
        rc = personal_then_popular(&q, &scores, &exclude, (size_t)clamp_results(n_results), arena, out, &count);
    free(recent);
    idmap_free(&scores);
    idmap_free(&exclude);
    return query_end(&q, rc, err, errlen) != 0 ? -1 : count;
}

int pz_builtin_related(pz_builtin *b, const char *ns, const char *item_id, const char *user_id, size_t n_results,
                       int64_t now_ms, pz_arena *arena, pz_scored_item **out, char *err, size_t errlen)
{
    *out = NULL;
    query q;
    if (query_begin(&q, b, ns, now_ms, err, errlen) != 0)
        return -1;
    pzb_recent *recent;
    size_t n_recent;
    idmap scores, exclude;
    idmap_init(&scores);
    idmap_init(&exclude);
    int count = 0;
    int rc = load_user(&q, user_id, &recent, &n_recent);
    for (size_t i = 0; rc == 0 && i < n_recent; i++)
        idmap_add(&exclude, recent[i].id);
    pzb_item item;
    int found = rc == 0 && item_id != NULL ? pzb_get_item(b, q.txn, ns, item_id, &item) : MDB_NOTFOUND;
    if (found == 0) {
        idmap_add(&exclude, item.id);
        rc = gather_cooc(&q, item.id, 1.0, &exclude, &scores);
    } else if (found != MDB_NOTFOUND) {
        rc = failed(&q, "read item", found);
    }
    if (rc == 0)
        rc = personal_then_popular(&q, &scores, &exclude, (size_t)clamp_results(n_results), arena, out, &count);
    free(recent);
    idmap_free(&scores);
    idmap_free(&exclude);
    return query_end(&q, rc, err, errlen) != 0 ? -1 : count;
}

/* The user's affinity for one known item: sum over recent items j of recency * cooc(j, x), damped
 * like recommend. */
static int affinity(query *q, const pzb_recent *recent, size_t n_recent, const pzb_item *rec, double *out)
{
    double sum = 0;
    unsigned char key[16];
    pzb_put_be64(key + 8, rec->id);
    for (size_t i = 0; i < n_recent; i++) {
        if (recent[i].id == rec->id)
            continue;
        pzb_put_be64(key, recent[i].id);
        MDB_val k = {.mv_size = sizeof(key), .mv_data = key}, v;
        int rc = mdb_get(q->txn, q->b->cooc, &k, &v);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc != 0 || v.mv_size != sizeof(double))
            return failed(q, "read co-occurrence", rc != 0 ? rc : MDB_CORRUPTED);
        double L;
        memcpy(&L, v.mv_data, sizeof(L));
        sum += recency_weight(i) * pzb_decayed(q->b, L, q->now);
    }
    *out = damped(q, sum, rec->L);
    return 0;
}

/* Scores every input id: tier 0 with affinity, tier 1 known (score = L for now), tier 2 unknown. */
static int score_inputs(query *q, const pzb_recent *recent, size_t n_recent, const char *const *ids, cand *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        c[i].name = ids[i] != NULL ? ids[i] : "";
        c[i].len = strlen(c[i].name);
        c[i].pos = i;
        pzb_item rec;
        int rc = pzb_get_item(q->b, q->txn, q->ns, c[i].name, &rec);
        if (rc == MDB_NOTFOUND) {
            c[i].tier = 2;
            continue;
        }
        if (rc != 0)
            return failed(q, "read item", rc);
        c[i].id = rec.id;
        rc = affinity(q, recent, n_recent, &rec, &c[i].score);
        if (rc != 0)
            return rc;
        if (c[i].score <= 0) {
            c[i].tier = 1;
            c[i].score = rec.L; /* same order as popularity; turned into a score after sorting */
        }
    }
    return 0;
}

int pz_builtin_rerank(pz_builtin *b, const char *ns, const char *user_id, const char *const *item_ids, size_t n_ids,
                      int64_t now_ms, pz_arena *arena, pz_scored_item **out, char *err, size_t errlen)
{
    *out = NULL;
    if (n_ids > INT32_MAX) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "builtin: rerank: too many ids (%zu)", n_ids);
        return -1;
    }
    query q;
    if (query_begin(&q, b, ns, now_ms, err, errlen) != 0)
        return -1;
    pzb_recent *recent;
    size_t n_recent;
    cand *c = pz_calloc(n_ids, sizeof(*c));
    int rc = load_user(&q, user_id, &recent, &n_recent);
    if (rc == 0)
        rc = score_inputs(&q, recent, n_recent, item_ids, c, n_ids);
    if (rc == 0) {
        if (n_ids > 0)
            qsort(c, n_ids, sizeof(*c), cand_cmp);
        /* Popularity-only ids go below the lowest affinity score, like recommend's popular fill. */
        size_t first = 0;
        while (first < n_ids && c[first].tier == 0)
            first++;
        double ceiling = first > 0 ? c[first - 1].score / 2 : -1, top_L = first < n_ids ? c[first].score : 0;
        for (size_t i = first; i < n_ids && c[i].tier == 1; i++)
            c[i].score = ceiling >= 0 ? ceiling * exp2(c[i].score - top_L) : pzb_decayed(b, c[i].score, now_ms);
        *out = emit(arena, c, n_ids);
    }
    free(recent);
    free(c);
    return query_end(&q, rc, err, errlen) != 0 ? -1 : (int)n_ids;
}
