/* The builtin recommender's queries: popular, recommend, related, rerank, and the user history
 * port (a user's recent items, for the excludeSeen rule). Every query reads
 * through one view (builtin_internal.h: pending tables, then an LMDB read transaction that never
 * waits for a writer) and copies what it returns into the caller's arena; temporaries live in a
 * query-local arena. Popularity comes from memory (builtin_pop.c); names are read only for the
 * items returned (and for ties at the cut). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/mem.h"
#include "server/recommenders/builtin.h"
#include "server/recommenders/builtin_internal.h"
#include "server/recommenders/builtin_names.h"

/* ---- a small open-addressing map from item id (never 0) to a double ---- */

typedef struct idmap {
    uint32_t *keys; /* 0 = empty slot */
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

static size_t idmap_slot(const idmap *m, uint32_t id)
{
    uint64_t h = id * UINT64_C(0x9E3779B97F4A7C15);
    size_t i = (size_t)(h ^ (h >> 29)) & (m->cap - 1);
    while (m->keys[i] != 0 && m->keys[i] != id)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static bool idmap_has(const idmap *m, uint32_t id)
{
    return m->keys[idmap_slot(m, id)] == id;
}

/* Returns the value of id, inserting 0 when absent. */
static double *idmap_add(idmap *m, uint32_t id)
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
    uint32_t id;
    double score;
    const char *name; /* in the query's scratch arena or the caller's input */
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
    pzb_view v;
    pzb_ns *ns; /* NULL: a namespace with no data */
    int64_t now;
    pz_arena scratch;
    const char *failed;
} query;

static int query_begin(query *q, pz_builtin *b, const char *ns, int64_t now_ms, char *err, size_t errlen)
{
    *q = (query){.b = b, .ns = ns != NULL ? pzb_ns_find(b, ns) : NULL, .now = now_ms};
    pz_arena_init(&q->scratch);
    int rc = pzb_view_begin(b, &q->v, false);
    if (rc != 0) {
        pz_arena_destroy(&q->scratch);
        return pzb_fail(err, errlen, "begin read", rc);
    }
    return 0;
}

/* Ends the view; turns rc into the query's return value. */
static int query_end(query *q, int rc, char *err, size_t errlen)
{
    pzb_view_end(&q->v);
    pz_arena_destroy(&q->scratch);
    return rc != 0 ? pzb_fail(err, errlen, q->failed, rc) : 0;
}

static int failed(query *q, const char *what, int rc)
{
    q->failed = what;
    return rc;
}

/* The user's recent items (in scratch, most recent first); *n = 0 for no or unknown user. */
static int load_user(query *q, const char *user, pzb_recent **list, size_t *n)
{
    size_t cap = q->b->opts.recent_items_per_user;
    *list = pz_arena_alloc(&q->scratch, cap * sizeof(pzb_recent));
    *n = 0;
    if (q->ns == NULL || user == NULL || user[0] == '\0')
        return 0;
    unsigned char key[PZB_KEY_MAX], val[PZ_BUILTIN_MAX_RECENT * PZB_RECENT_BYTES + PZB_RECENT_BYTES];
    size_t klen = pzb_ns_key(key, q->ns->no, user), len;
    if (klen == 0)
        return 0; /* over-long: unknown */
    int rc = pzb_view_get(&q->v, PZB_USERS, key, klen, val, sizeof val, &len);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return failed(q, "read recent items", rc);
    *n = pzb_recent_decode(val, len, *list, cap);
    return 0;
}

/* Looks an item of the query's namespace up by name: 0, MDB_NOTFOUND or an error. */
static int find_item(query *q, const char *item, uint32_t *id)
{
    unsigned char key[PZB_KEY_MAX];
    size_t klen = q->ns != NULL && item != NULL ? pzb_ns_key(key, q->ns->no, item) : 0, len;
    if (klen == 0)
        return MDB_NOTFOUND;
    int rc = pzb_view_get(&q->v, PZB_ITEMS, key, klen, id, sizeof *id, &len);
    return rc == 0 && len != sizeof *id ? MDB_CORRUPTED : rc;
}

/* The item's name, copied (NUL-terminated) into `into`: the query's scratch, or the caller's
 * arena when the name is the answer. */
static int item_name(query *q, uint32_t id, pz_arena *into, const char **name, size_t *len)
{
    if (pzb_names_get(q->b->instance, id, name, len)) { /* an id's name never changes: see builtin_names.h */
        *name = pz_arena_strndup(into, *name, *len);
        return 0;
    }
    unsigned char key[4], val[PZB_BYID_MAX];
    pzb_put_be32(key, id);
    size_t vlen;
    int rc = pzb_view_get(&q->v, PZB_BYID, key, sizeof key, val, sizeof val, &vlen);
    if (rc == 0 && vlen < PZB_BYID_HEAD)
        rc = MDB_CORRUPTED;
    if (rc != 0)
        return failed(q, "read item", rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc);
    *len = vlen - PZB_BYID_HEAD;
    *name = pz_arena_strndup(into, (const char *)val + PZB_BYID_HEAD, *len);
    pzb_names_put(q->b->instance, id, *name, *len);
    return 0;
}

static double recency_weight(size_t rank)
{
    return 1.0 / (1.0 + (double)rank);
}

/* scores[x] += weight * cooc(from, x) for every kept neighbour x of `from` not in exclude. */
static int gather_cooc(query *q, uint32_t from, double weight, const idmap *exclude, idmap *scores)
{
    unsigned char key[4], val[PZ_BUILTIN_MAX_NEIGHBORS * PZB_NEIGHBOR_BYTES];
    pzb_put_be32(key, from);
    size_t len;
    int rc = pzb_view_get(&q->v, PZB_COOC, key, sizeof key, val, sizeof val, &len);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return failed(q, "read co-occurrence", rc);
    pzb_neighbor list[PZ_BUILTIN_MAX_NEIGHBORS];
    size_t n = pzb_neighbors_decode(val, len, list, PZ_BUILTIN_MAX_NEIGHBORS);
    for (size_t i = 0; i < n; i++) {
        if (exclude == NULL || !idmap_has(exclude, list[i].id))
            *idmap_add(scores, list[i].id) += weight * pzb_neighbor_decayed(q->b, &list[i], q->now);
    }
    return 0;
}

/* Damps items that co-occur with everything because they are popular. */
static double damped(query *q, double affinity, double L)
{
    double s = affinity / (1.0 + sqrt(pzb_decayed(q->b, L, q->now)));
    return s > 0 ? (s < DBL_MAX ? s : DBL_MAX) : 0;
}

/* For rank_scores: a min-heap of scores, the root the lowest kept. */
static void sift_down(double *h, size_t n, size_t i)
{
    for (;;) {
        size_t low = i, l = 2 * i + 1, r = l + 1;
        if (l < n && h[l] < h[low])
            low = l;
        if (r < n && h[r] < h[low])
            low = r;
        if (low == i)
            return;
        double t = h[i];
        h[i] = h[low];
        h[low] = t;
        i = low;
    }
}

/* Turns summed co-occurrence into the best n candidates, best first. Scores need no lookup
 * (popularity is in memory); a bounded heap finds the n-th best score, and only the candidates at
 * or above it get their names read (names break ties). */
static int rank_scores(query *q, const idmap *scores, size_t n, candvec *out)
{
    if (n == 0 || scores->len == 0)
        return 0;
    cand *all = pz_arena_alloc(&q->scratch, scores->len * sizeof(cand));
    size_t count = 0;
    for (size_t i = 0; i < scores->cap; i++) {
        if (scores->keys[i] != 0)
            all[count++] =
                (cand){.id = scores->keys[i], .score = damped(q, scores->vals[i], pzb_pop_get(q->b, scores->keys[i]))};
    }
    double threshold = -1;
    if (count > n) {
        double *heap = pz_arena_alloc(&q->scratch, n * sizeof(double));
        for (size_t i = 0; i < n; i++)
            heap[i] = all[i].score;
        for (size_t i = n / 2 + 1; i-- > 0;)
            sift_down(heap, n, i);
        for (size_t i = n; i < count; i++) {
            if (all[i].score > heap[0]) {
                heap[0] = all[i].score;
                sift_down(heap, n, 0);
            }
        }
        threshold = heap[0];
    }
    for (size_t i = 0; i < count; i++) {
        if (all[i].score < threshold)
            continue;
        int rc = item_name(q, all[i].id, &q->scratch, &all[i].name, &all[i].len);
        if (rc != 0)
            return rc;
        *candvec_push(out) = all[i];
    }
    qsort(out->v, out->n, sizeof(cand), cand_cmp);
    if (out->n > n)
        out->n = n;
    return 0;
}

/* Popular items taken from the namespace's top list, for fill_popular. */
typedef struct fill_ctx {
    query *q;
    const idmap *exclude;
    candvec *out;
    double ceiling, first_L;
    bool first;
} fill_ctx;

static bool fill_skip(void *ctx, uint32_t id)
{
    return idmap_has(((fill_ctx *)ctx)->exclude, id);
}

static void fill_take(void *ctx, const pzb_top_item *t)
{
    fill_ctx *f = ctx;
    if (f->first)
        f->first_L = t->L;
    f->first = false;
    cand *c = candvec_push(f->out);
    c->id = t->id;
    c->name = pz_arena_strndup(&f->q->scratch, t->name, t->len);
    c->len = t->len;
    c->score = f->ceiling >= 0 ? f->ceiling * exp2(t->L - f->first_L) : pzb_decayed(f->q->b, t->L, f->q->now);
}

/* Appends popular items not in exclude until out holds `limit`. When out already holds personalized
 * items, popular ones are scaled to at most half the lowest of those scores so the list stays
 * sorted: score = last/2 * pop(x)/pop(first filled). */
static void fill_popular(query *q, const idmap *exclude, size_t limit, candvec *out)
{
    if (q->ns == NULL || out->n >= limit)
        return;
    fill_ctx f = {.q = q,
                  .exclude = exclude,
                  .out = out,
                  .ceiling = out->n > 0 ? out->v[out->n - 1].score / 2 : -1,
                  .first = true};
    pzb_top_each(q->ns, limit - out->n, fill_skip, fill_take, &f);
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
        fill_popular(q, exclude, n_results, &c);
        *out = emit(arena, c.v, c.n);
        *count = (int)c.n;
    }
    free(c.v);
    return rc;
}

/* ---- queries ---- */

static size_t clamp_results(size_t n)
{
    return n > INT32_MAX ? INT32_MAX : n;
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
    int rc = personal_then_popular(&q, &none, &exclude, clamp_results(n_results), arena, out, &count);
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
        rc = personal_then_popular(&q, &scores, &exclude, clamp_results(n_results), arena, out, &count);
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
    uint32_t item = 0;
    int found = rc == 0 ? find_item(&q, item_id, &item) : MDB_NOTFOUND;
    if (found == 0) {
        idmap_add(&exclude, item);
        rc = gather_cooc(&q, item, 1.0, &exclude, &scores);
    } else if (found != MDB_NOTFOUND) {
        rc = failed(&q, "read item", found);
    }
    if (rc == 0)
        rc = personal_then_popular(&q, &scores, &exclude, clamp_results(n_results), arena, out, &count);
    idmap_free(&scores);
    idmap_free(&exclude);
    return query_end(&q, rc, err, errlen) != 0 ? -1 : count;
}

/* Scores every input id: tier 0 with affinity (the user's recommend score), tier 1 known (score =
 * L for now), tier 2 unknown. */
static int score_inputs(query *q, const idmap *affinity, const char *const *ids, cand *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        c[i].name = ids[i] != NULL ? ids[i] : "";
        c[i].len = strlen(c[i].name);
        c[i].pos = i;
        uint32_t id;
        int rc = find_item(q, c[i].name, &id);
        if (rc == MDB_NOTFOUND) {
            c[i].tier = 2;
            continue;
        }
        if (rc != 0)
            return failed(q, "read item", rc);
        c[i].id = id;
        double L = pzb_pop_get(q->b, id);
        size_t slot = idmap_slot(affinity, id);
        c[i].score = affinity->keys[slot] == id ? damped(q, affinity->vals[slot], L) : 0;
        if (c[i].score <= 0) {
            c[i].tier = 1;
            c[i].score = L; /* same order as popularity; turned into a score after sorting */
        }
    }
    return 0;
}

int pz_builtin_rerank(pz_builtin *b, const char *ns, const char *user_id, const char *const *item_ids, size_t n_ids,
                      int64_t now_ms, pz_arena *arena, pz_scored_item **out, char *err, size_t errlen)
{
    *out = NULL;
    if (n_ids > INT32_MAX)
        return pzb_fail_msg(err, errlen, "rerank: too many ids (%zu)", n_ids);
    query q;
    if (query_begin(&q, b, ns, now_ms, err, errlen) != 0)
        return -1;
    pzb_recent *recent;
    size_t n_recent;
    idmap affinity;
    idmap_init(&affinity);
    cand *c = pz_calloc(n_ids ? n_ids : 1, sizeof(*c));
    int rc = load_user(&q, user_id, &recent, &n_recent);
    for (size_t i = 0; rc == 0 && i < n_recent; i++)
        rc = gather_cooc(&q, recent[i].id, recency_weight(i), NULL, &affinity);
    if (rc == 0)
        rc = score_inputs(&q, &affinity, item_ids, c, n_ids);
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
    idmap_free(&affinity);
    free(c);
    return query_end(&q, rc, err, errlen) != 0 ? -1 : (int)n_ids;
}

/* ---- the user history port (builtin.h) ---- */

/* The stored weights the query's event types map to (a history entry keeps its type's weight, not
 * its name), found once per query rather than once per history entry. */
typedef struct type_weights {
    float *w;
    size_t n; /* 0: any type */
} type_weights;

static void query_weights(const pz_history_query *h, pz_arena *scratch, type_weights *tw)
{
    tw->n = h->n_event_types;
    tw->w = pz_arena_alloc(scratch, (tw->n + 1) * sizeof *tw->w);
    for (size_t i = 0; i < tw->n; i++)
        tw->w[i] = (float)pzb_event_weight(h->event_types[i]);
}

static bool type_matches(float weight, const type_weights *tw)
{
    if (tw->n == 0)
        return true;
    for (size_t i = 0; i < tw->n; i++)
        if (tw->w[i] == weight)
            return true;
    return false;
}

static pz_status seen(void *self, const pz_history_query *h, pz_arena *arena, const char ***ids, size_t *n,
                      pz_error *err)
{
    *ids = NULL;
    *n = 0;
    char msg[256];
    query q;
    if (query_begin(&q, self, h->ns, 0, msg, sizeof msg) != 0)
        return pz_error_setf(err, arena, PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "HistoryFailed", "%s", msg);
    pzb_recent *recent;
    size_t n_recent, k = 0;
    type_weights tw;
    query_weights(h, &q.scratch, &tw);
    int rc = load_user(&q, h->user_id, &recent, &n_recent);
    const char **out = pz_arena_alloc(arena, (n_recent + 1) * sizeof *out);
    for (size_t i = 0; rc == 0 && i < n_recent; i++) {
        if (recent[i].t_ms < h->since_ms || !type_matches(recent[i].weight, &tw))
            continue;
        const char *name;
        size_t len;
        rc = item_name(&q, recent[i].id, arena, &name, &len); /* copied once, into the caller's arena */
        if (rc == 0)
            out[k++] = name;
    }
    if (query_end(&q, rc, msg, sizeof msg) != 0)
        return pz_error_setf(err, arena, PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "HistoryFailed", "%s", msg);
    *ids = out;
    *n = k;
    return PZ_OK;
}

pz_history_port pz_builtin_history(pz_builtin *b)
{
    return (pz_history_port){.self = b, .seen = seen};
}
