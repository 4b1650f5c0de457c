#include "server/core/response_cache.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/etag.h"
#include "server/core/log.h"

struct pz_response_cache {
    pz_cache *cache;
    pz_render_json_fn render_json;
    int64_t (*now_ms)(void);
    atomic_ulong not_modified;   /* 304 / not_modified answers */
    atomic_ulong bypassed;       /* cacheable requests answered without the cache (key too large) */
    atomic_ulong refresh_failed; /* background refreshes whose call failed */
};

/* ---- policy ---- */

const pz_cache_policy *pz_cache_class(const pz_query *q, const pz_variation *v)
{
    const pz_cache_control *cc = v != NULL ? v->cache_control_view : NULL;
    if (cc == NULL)
        return NULL;
    const pz_cache_policy *p = q->user_id == NULL  ? &cc->no_user_specified
                               : q->synthetic_user ? &cc->synthetic_user_specified
                                                   : &cc->user_specified;
    return p->present ? p : NULL;
}

bool pz_cache_class_cacheable(const pz_cache_policy *p)
{
    return p != NULL && p->has_max_age && p->max_age > 0;
}

pz_cache_ttl pz_cache_class_ttl(const pz_cache_policy *p)
{
    int64_t max_age = p->max_age;
    int64_t swr = p->has_stale_while_revalidate           ? p->stale_while_revalidate
                  : PZ_DEFAULT_STALE_WHILE_REVALIDATE < 0 ? max_age
                                                          : PZ_DEFAULT_STALE_WHILE_REVALIDATE;
    int64_t sie = p->has_stale_if_error ? p->stale_if_error : PZ_DEFAULT_STALE_IF_ERROR_S;
    return (pz_cache_ttl){max_age * 1000, swr * 1000, sie * 1000};
}

const char *pz_cache_control_value(const pz_cache_policy *p)
{
    return p != NULL ? p->header : NULL;
}

bool pz_cache_stale_if_error_applies(pz_status s)
{
    return s == PZ_INTERNAL || s == PZ_UPSTREAM_FAILED || s == PZ_UNAVAILABLE || s == PZ_DEADLINE_EXCEEDED;
}

/* ---- the key ---- */

/* The key is built in the request arena (no malloc on the hit path); past
 * PZ_RESPONSE_CACHE_MAX_KEY_BYTES it is abandoned and the request bypasses the cache. */
typedef struct key_builder {
    pz_arena *arena;
    unsigned char *data;
    size_t len, cap;
    bool too_large;
} key_builder;

/* The slow half of reserve(): grows the buffer (within the key limit, so that a length within the
 * capacity is always within the limit) or gives up on the key. */
static bool grow(key_builder *b, size_t n)
{
    if (b->too_large)
        return false;
    if (n > PZ_RESPONSE_CACHE_MAX_KEY_BYTES - b->len) {
        b->too_large = true;
        b->cap = b->len; /* no room for anything more: every later reserve() comes here */
        return false;
    }
    size_t cap = b->cap != 0 ? b->cap * 2 : 256;
    while (cap < b->len + n)
        cap *= 2;
    if (cap > PZ_RESPONSE_CACHE_MAX_KEY_BYTES)
        cap = PZ_RESPONSE_CACHE_MAX_KEY_BYTES;
    unsigned char *grown = pz_arena_alloc(b->arena, cap);
    if (b->len > 0)
        memcpy(grown, b->data, b->len);
    b->data = grown;
    b->cap = cap;
    return true;
}

/* Room for n more bytes. The key is built on every cacheable request: the usual case is one
 * comparison, the rest is grow(). */
static inline bool reserve(key_builder *b, size_t n)
{
    return n <= b->cap - b->len || grow(b, n);
}

static inline void put(key_builder *b, const void *p, size_t n)
{
    if (reserve(b, n)) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    }
}

static inline void put_byte(key_builder *b, unsigned char v)
{
    if (reserve(b, 1))
        b->data[b->len++] = v;
}

static inline void write_u32(unsigned char *o, uint32_t v)
{
    o[0] = (unsigned char)v;
    o[1] = (unsigned char)(v >> 8);
    o[2] = (unsigned char)(v >> 16);
    o[3] = (unsigned char)(v >> 24);
}

/* Little-endian. */
static inline void put_u32(key_builder *b, uint32_t v)
{
    if (reserve(b, 4)) {
        write_u32(b->data + b->len, v);
        b->len += 4;
    }
}

/* Length-prefixed, with absence distinct from the empty string: 0, or 1, the length (u32) and the
 * bytes. */
static void put_str(key_builder *b, const char *s)
{
    if (s == NULL) {
        put_byte(b, 0);
        return;
    }
    size_t n = strlen(s);
    if (!reserve(b, 5 + n)) /* so within the key limit: the length fits its u32 */
        return;
    unsigned char *o = b->data + b->len;
    o[0] = 1;
    write_u32(o + 1, (uint32_t)n);
    memcpy(o + 5, s, n);
    b->len += 5 + n;
}

static int compare_entries(const void *a, const void *b)
{
    const pz_string_entry *x = *(const pz_string_entry *const *)a, *y = *(const pz_string_entry *const *)b;
    int c = strcmp(x->key ? x->key : "", y->key ? y->key : "");
    return c != 0 ? c : strcmp(x->value ? x->value : "", y->value ? y->value : "");
}

/* A map in key order, so that the same map sent in another order shares the entry. Maps are
 * small (automatic context adds a handful of entries to every keyed request): an insertion sort
 * costs less than qsort's set-up up to a few dozen entries. */
#define INSERTION_SORT_MAX 32

static void put_map(key_builder *b, pz_string_entry **entries, size_t n)
{
    put_u32(b, (uint32_t)n);
    if (n == 0)
        return;
    pz_string_entry **sorted = pz_arena_alloc(b->arena, n * sizeof *sorted);
    memcpy(sorted, entries, n * sizeof *sorted);
    if (n > INSERTION_SORT_MAX) {
        qsort(sorted, n, sizeof *sorted, compare_entries);
    } else {
        for (size_t i = 1; i < n; i++) {
            pz_string_entry *e = sorted[i];
            size_t j = i;
            for (; j > 0 && compare_entries(&sorted[j - 1], &e) > 0; j--)
                sorted[j] = sorted[j - 1];
            sorted[j] = e;
        }
    }
    for (size_t i = 0; i < n; i++) {
        put_str(b, sorted[i]->key);
        put_str(b, sorted[i]->value);
    }
}

/* Everything that changes the response: the call (method, namespace, recommender, variation), its
 * subject (user, item, item ids), its shape (numResults, filter, decoration, synthetic user,
 * experiment feature, page token, and filter values and context as resolved: explicit and
 * automatic) and the query parameters an http variation's URL reads. The configuration generation
 * travels in pz_cache_key. Returns false when the key is too large. */
static bool build_key(key_builder *b, const pz_response_key *k, pz_arena *arena)
{
    const pz_query *q = k->query;
    *b = (key_builder){.arena = arena};
    put(b, "pz1", 3);
    put_byte(b, (unsigned char)q->rpc);
    put_str(b, q->namespace_);
    put_str(b, q->recommender_key);
    put_str(b, k->variation_key);
    put_str(b, q->user_id);
    put_str(b, q->item_id);
    put_u32(b, (uint32_t)q->n_item_ids);
    for (size_t i = 0; i < q->n_item_ids && !b->too_large; i++)
        put_str(b, q->item_ids[i]);
    put_u32(b, (uint32_t)q->num_results);
    put_str(b, q->filter);
    put_map(b, q->filter_values, q->n_filter_values);
    put_map(b, q->context, q->n_context);
    put_byte(b, q->decorate_items);
    put_byte(b, q->synthetic_user);
    put_str(b, q->feature);
    put_str(b, q->page_token);
    for (size_t i = 0; i < k->n_params; i++) { /* an http URL's query placeholders */
        const pz_header *p = pz_query_param_find(q->query_params, q->n_query_params, k->params[i]);
        put_str(b, k->params[i]);
        put_str(b, p != NULL ? pz_arena_strndup(arena, p->value, p->value_len) : NULL);
    }
    return !b->too_large;
}

/* ---- the store ---- */

int64_t pz_response_cache_now(const pz_response_cache *rc)
{
    return rc->now_ms();
}

pz_cache_result pz_response_cache_lookup(pz_response_cache *rc, const pz_response_key *key, pz_arena *arena,
                                         pz_cache_waiter *w, const pz_prepared_response **found,
                                         pz_cache_flight **flight, const char **outcome)
{
    *found = NULL;
    *flight = NULL;
    *outcome = NULL;
    if (rc->cache == NULL || rc->render_json == NULL)
        return PZ_CACHE_MISS;
    key_builder key_bytes;
    if (!build_key(&key_bytes, key, arena)) {
        atomic_fetch_add_explicit(&rc->bypassed, 1, memory_order_relaxed);
        *outcome = "bypass";
        return PZ_CACHE_MISS;
    }
    const pz_query *q = key->query;
    pz_cache_key ck;
    pz_cache_key_init(&ck, key_bytes.data, key_bytes.len, q->namespace_, q->user_id, key->generation);
    pz_cache_result r = pz_cache_lookup(rc->cache, &ck, rc->now_ms(), w, found, flight);
    switch (r) {
    case PZ_CACHE_HIT: *outcome = "hit"; break;
    case PZ_CACHE_STALE: *outcome = "stale"; break;
    case PZ_CACHE_MISS: *outcome = *flight != NULL ? "miss" : "bypass"; break;
    case PZ_CACHE_WAIT: break; /* the waiter may already be completed: touch nothing of it */
    }
    return r;
}

pz_prepared_response *pz_response_cache_prepare(pz_response_cache *rc, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *packed = pz_malloc(len ? len : 1);
    protobuf_c_message_pack(msg, packed);
    pz_buf json;
    pz_buf_init(&json, PZ_RESPONSE_CACHE_MAX_JSON_BYTES);
    bool rendered = rc->render_json != NULL && rc->render_json(msg, &json) == 0;
    pz_prepared_response *p = pz_prepared_create(packed, len, rendered ? json.data : NULL, rendered ? json.len : 0);
    pz_buf_free(&json);
    free(packed);
    return p;
}

void pz_response_cache_complete(pz_response_cache *rc, pz_cache_flight *flight, const pz_prepared_response *res,
                                const pz_cache_ttl *ttl, bool keep)
{
    pz_cache_complete(rc->cache, flight, res, keep && res->json != NULL ? ttl : NULL, rc->now_ms());
}

const pz_prepared_response *pz_response_cache_fail(pz_response_cache *rc, pz_cache_flight *flight, const pz_error *err)
{
    return pz_cache_fail(rc->cache, flight, err, pz_cache_stale_if_error_applies(err->status), rc->now_ms());
}

void pz_response_cache_abandon(pz_response_cache *rc, pz_cache_flight *flight)
{
    pz_error e = {PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "CoalescedCallFailed",
                  "the identical call this request waited for ended without a response"};
    pz_prepared_unref(pz_cache_fail(rc->cache, flight, &e, true, rc->now_ms()));
}

bool pz_response_cache_not_modified(pz_response_cache *rc, const char *if_none_match, const char *etag)
{
    if (if_none_match == NULL || !pz_etag_none_match(if_none_match, strlen(if_none_match), etag))
        return false;
    atomic_fetch_add_explicit(&rc->not_modified, 1, memory_order_relaxed);
    return true;
}

void pz_response_cache_refresh_failed(pz_response_cache *rc)
{
    atomic_fetch_add_explicit(&rc->refresh_failed, 1, memory_order_relaxed);
}

void pz_response_cache_purge_user(pz_response_cache *rc, const char *ns, const char *user)
{
    if (rc == NULL || rc->cache == NULL || ns == NULL || user == NULL || user[0] == '\0')
        return;
    size_t n = pz_cache_purge_user(rc->cache, ns, user, rc->now_ms());
    if (n > 0)
        pz_debug("cache: event for %s/%s made %zu entries stale", ns, user, n);
}

int pz_response_cache_stats_json(pz_response_cache *rc, pz_buf *out)
{
    pz_cache_stats s = {0};
    if (rc->cache != NULL)
        pz_cache_get_stats(rc->cache, &s);
    return pz_buf_printf(
        out,
        "{\"enabled\":%s,\"entries\":%zu,\"bytes\":%zu,\"capacityBytes\":%zu,\"hits\":%llu,\"staleHits\":%llu,"
        "\"staleIfError\":%llu,\"misses\":%llu,\"coalesced\":%llu,\"refreshes\":%llu,\"refreshFailures\":%lu,"
        "\"stores\":%llu,\"notStored\":%llu,\"evictions\":%llu,\"expired\":%llu,\"purged\":%llu,"
        "\"notModified\":%lu,\"bypassed\":%lu,\"codedBodies\":%lu}",
        rc->cache != NULL && rc->render_json != NULL ? "true" : "false", s.entries, s.bytes, s.capacity_bytes,
        (unsigned long long)s.hits, (unsigned long long)s.stale_hits, (unsigned long long)s.stale_if_error,
        (unsigned long long)s.misses, (unsigned long long)s.coalesced, (unsigned long long)s.refreshes,
        atomic_load(&rc->refresh_failed), (unsigned long long)s.stores, (unsigned long long)s.not_stored,
        (unsigned long long)s.evictions, (unsigned long long)s.expired, (unsigned long long)s.purged,
        atomic_load(&rc->not_modified), atomic_load(&rc->bypassed), pz_prepared_variants_encoded());
}

void pz_response_cache_collect_metrics(pz_response_cache *rc, pz_metrics_writer *w)
{
    pz_cache_stats s = {0};
    if (rc->cache != NULL)
        pz_cache_get_stats(rc->cache, &s);
    static const char *const OUTCOME[] = {"outcome"};
    const struct {
        const char *outcome;
        uint64_t n;
    } lookups[] = {
        {"hit", s.hits},    {"stale", s.stale_hits},    {"stale_if_error", s.stale_if_error},
        {"miss", s.misses}, {"coalesced", s.coalesced}, {"bypass", atomic_load(&rc->bypassed)},
    };
    pz_metrics_write_family(w, "pz_cache_lookups_total", PZ_METRIC_COUNTER,
                            "Response cache lookups by outcome (bypass: not cacheable by key size).");
    for (size_t i = 0; i < sizeof lookups / sizeof lookups[0]; i++)
        pz_metrics_write_sample(w, "pz_cache_lookups_total", 1, OUTCOME, &lookups[i].outcome, (double)lookups[i].n);
    const struct {
        const char *name, *help;
        pz_metric_type type;
        double value;
    } rows[] = {
        {"pz_cache_not_modified_total", "Conditional requests answered 304 / not_modified.", PZ_METRIC_COUNTER,
         (double)atomic_load(&rc->not_modified)},
        {"pz_cache_refreshes_total", "Background refreshes of stale entries started.", PZ_METRIC_COUNTER,
         (double)s.refreshes},
        {"pz_cache_refresh_failures_total", "Background refreshes whose call failed.", PZ_METRIC_COUNTER,
         (double)atomic_load(&rc->refresh_failed)},
        {"pz_cache_stores_total", "Responses stored.", PZ_METRIC_COUNTER, (double)s.stores},
        {"pz_cache_not_stored_total", "Responses not stored (too large, purged meanwhile, outdated).",
         PZ_METRIC_COUNTER, (double)s.not_stored},
        {"pz_cache_evictions_total", "Entries evicted to stay within the byte budget.", PZ_METRIC_COUNTER,
         (double)s.evictions},
        {"pz_cache_expired_total", "Entries dropped past every freshness window.", PZ_METRIC_COUNTER,
         (double)s.expired},
        {"pz_cache_purged_total", "Entries made stale by a purge or dropped by a configuration reload.",
         PZ_METRIC_COUNTER, (double)s.purged},
        {"pz_cache_entries", "Entries holding a response.", PZ_METRIC_GAUGE, (double)s.entries},
        {"pz_cache_bytes", "Bytes the cache holds, against its budget.", PZ_METRIC_GAUGE, (double)s.bytes},
        {"pz_cache_capacity_bytes", "The cache's byte budget (--cache-bytes).", PZ_METRIC_GAUGE,
         (double)s.capacity_bytes},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        pz_metrics_write_single(w, rows[i].name, rows[i].type, rows[i].help, rows[i].value);
}

/* ---- life cycle ---- */

pz_response_cache *pz_response_cache_create(const pz_response_cache_options *opts)
{
    pz_response_cache *rc = pz_calloc(1, sizeof *rc);
    rc->cache = opts->cache;
    rc->render_json = opts->render_json;
    rc->now_ms = opts->now_ms != NULL ? opts->now_ms : pz_now_ms;
    atomic_init(&rc->not_modified, 0);
    atomic_init(&rc->bypassed, 0);
    atomic_init(&rc->refresh_failed, 0);
    return rc;
}

void pz_response_cache_destroy(pz_response_cache *rc)
{
    free(rc);
}
