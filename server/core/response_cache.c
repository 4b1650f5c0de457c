#include "server/core/response_cache.h"

#include <pthread.h>
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
    pthread_mutex_t lock;
    pthread_cond_t idle; /* signalled when `refreshing` drops to 0 */
    size_t refreshing;   /* background refreshes in progress */
};

/* The cache stage's state for one inference, in the request arena. */
typedef struct pz_cache_call {
    pz_cache_waiter waiter; /* first member: a queued lookup is completed through it */
    pz_response_cache *rc;
    pz_inference *inf;
    pz_cache_ttl ttl;
    pz_cache_flight *flight; /* the flight this call leads, until it is finished */
} pz_cache_call;

/* A background refresh: a copy of a request whose stale entry was served, run through the
 * pipeline with the flight its lookup handed out. */
typedef struct refresh {
    pz_arena arena;
    pz_request req;
    pz_response_cache *rc;
    pz_cache_flight *flight; /* until the refresh call's lookup takes it over */
    pz_config *config;       /* reference for pz_inference_start */
    struct pz_recommenders *recommenders;
    struct pz_decorator *decorator;
} refresh;

static void refresh_done(pz_request *req);

/* ---- policy ---- */

/* The selected cache class (spec §4.1), or NULL when the configuration has none. */
static const pz_cache_policy *selected_policy(const pz_inference *inf)
{
    const pz_cache_control *cc = inf->variation->cache_control_view;
    if (cc == NULL)
        return NULL;
    const pz_cache_policy *p = inf->user_id == NULL  ? &cc->no_user_specified
                               : inf->synthetic_user ? &cc->synthetic_user_specified
                                                     : &cc->user_specified;
    return p->present ? p : NULL;
}

static pz_cache_ttl policy_ttl(const pz_cache_policy *p)
{
    int64_t max_age = p->max_age;
    int64_t swr = p->has_stale_while_revalidate           ? p->stale_while_revalidate
                  : PZ_DEFAULT_STALE_WHILE_REVALIDATE < 0 ? max_age
                                                          : PZ_DEFAULT_STALE_WHILE_REVALIDATE;
    int64_t sie = p->has_stale_if_error ? p->stale_if_error : PZ_DEFAULT_STALE_IF_ERROR_S;
    return (pz_cache_ttl){max_age * 1000, swr * 1000, sie * 1000};
}

/* Explicit staleness windows are also advice for shared caches (RFC 5861). */
static void add_staleness_directives(pz_request *req, const pz_cache_policy *p)
{
    const char *cc = req->hints.cache_control;
    if (cc == NULL)
        return;
    if (p->has_stale_while_revalidate && p->stale_while_revalidate > 0 && strstr(cc, "stale-while-revalidate") == NULL)
        cc = pz_arena_printf(req->arena, "%s,stale-while-revalidate=%d", cc, p->stale_while_revalidate);
    if (p->has_stale_if_error && p->stale_if_error > 0 && strstr(cc, "stale-if-error") == NULL)
        cc = pz_arena_printf(req->arena, "%s,stale-if-error=%d", cc, p->stale_if_error);
    req->hints.cache_control = cc;
}

/* RFC 5861: stale-if-error covers 500, 502, 503 and 504. */
static bool stale_if_error_applies(pz_status s)
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

static void put(key_builder *b, const void *p, size_t n)
{
    if (b->too_large)
        return;
    if (n > PZ_RESPONSE_CACHE_MAX_KEY_BYTES - b->len) {
        b->too_large = true;
        return;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap != 0 ? b->cap * 2 : 256;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *grown = pz_arena_alloc(b->arena, cap);
        if (b->len > 0)
            memcpy(grown, b->data, b->len);
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_byte(key_builder *b, unsigned char v)
{
    put(b, &v, 1);
}

static void put_u32(key_builder *b, uint32_t v)
{
    unsigned char le[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 24)};
    put(b, le, sizeof le);
}

/* Length-prefixed, with absence distinct from the empty string. */
static void put_str(key_builder *b, const char *s)
{
    if (s == NULL) {
        put_byte(b, 0);
        return;
    }
    size_t n = strlen(s);
    put_byte(b, 1);
    put_u32(b, (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n));
    put(b, s, n);
}

static int compare_entries(const void *a, const void *b)
{
    const pz_string_entry *x = *(const pz_string_entry *const *)a, *y = *(const pz_string_entry *const *)b;
    int c = strcmp(x->key ? x->key : "", y->key ? y->key : "");
    return c != 0 ? c : strcmp(x->value ? x->value : "", y->value ? y->value : "");
}

/* A map in key order, so that the same map sent in another order shares the entry. */
static void put_map(key_builder *b, pz_string_entry **entries, size_t n)
{
    put_u32(b, (uint32_t)n);
    if (n == 0)
        return;
    pz_string_entry **sorted = pz_arena_alloc(b->arena, n * sizeof *sorted);
    memcpy(sorted, entries, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, compare_entries);
    for (size_t i = 0; i < n; i++) {
        put_str(b, sorted[i]->key);
        put_str(b, sorted[i]->value);
    }
}

/* The values of the request headers named in hints.vary (automatic context, spec §4.5). */
static void put_vary(key_builder *b, pz_request *req)
{
    const char *v = req->hints.vary;
    while (v != NULL && *v != '\0') {
        while (*v == ' ' || *v == ',')
            v++;
        size_t n = strcspn(v, ", ");
        if (n > 0) {
            char *name = pz_arena_strndup(req->arena, v, n);
            for (char *p = name; *p != '\0'; p++)
                *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
            put_str(b, name);
            put_str(b, pz_request_header(req, name));
        }
        v += n;
    }
}

/* Everything that changes the response: the call (method, namespace, recommender, variation), its
 * subject (user, item, item ids), its shape (numResults, filter and values, context, decoration,
 * synthetic user, experiment feature) and the header values automatic context consulted. The
 * configuration generation travels in pz_cache_key. Returns false when the key is too large. */
static bool build_key(key_builder *b, pz_inference *inf)
{
    pz_request *req = inf->req;
    *b = (key_builder){.arena = req->arena};
    put(b, "pz1", 3);
    put_byte(b, (unsigned char)req->rpc);
    put_str(b, inf->namespace_);
    put_str(b, inf->recommender_key);
    put_str(b, inf->variation->key);
    put_str(b, inf->user_id);
    put_str(b, inf->item_id);
    put_u32(b, (uint32_t)inf->n_item_ids);
    for (size_t i = 0; i < inf->n_item_ids && !b->too_large; i++)
        put_str(b, inf->item_ids[i]);
    put_u32(b, (uint32_t)inf->num_results);
    put_str(b, inf->filter);
    put_map(b, inf->filter_values, inf->n_filter_values);
    put_map(b, inf->context, inf->n_context);
    put_byte(b, inf->decorate_items);
    put_byte(b, inf->synthetic_user);
    put_str(b, inf->feature);
    put_vary(b, req);
    return !b->too_large;
}

/* ---- answering ---- */

static ProtobufCMessage *not_modified_message(const pz_inference *inf)
{
    pz_arena *arena = inf->req->arena;
    if (inf->action == PZ_ACTION_RERANK_ITEMS) {
        Personalization__V1__RerankResponse *r = (Personalization__V1__RerankResponse *)pz_arena_new_message(
            arena, &personalization__v1__rerank_response__descriptor);
        r->has_not_modified = 1;
        r->not_modified = 1;
        return &r->base;
    }
    Personalization__V1__RecommendationResponse *r =
        (Personalization__V1__RecommendationResponse *)pz_arena_new_message(
            arena, &personalization__v1__recommendation_response__descriptor);
    r->has_not_modified = 1;
    r->not_modified = 1;
    return &r->base;
}

/* Sets the ETag and applies If-None-Match. Returns the not_modified message when it matched (and
 * then sends no prepared body), else NULL with req->prepared = res. res must outlive the request
 * (attached to its arena). */
static ProtobufCMessage *apply_validators(pz_response_cache *rc, pz_inference *inf, const pz_prepared_response *res)
{
    pz_request *req = inf->req;
    req->hints.etag = pz_arena_strdup(req->arena, res->etag);
    if (req->if_none_match != NULL && pz_etag_none_match(req->if_none_match, strlen(req->if_none_match), res->etag)) {
        req->hints.not_modified = true;
        req->prepared = NULL;
        atomic_fetch_add_explicit(&rc->not_modified, 1, memory_order_relaxed);
        return not_modified_message(inf);
    }
    req->prepared = res;
    return NULL;
}

/* Completes the request with res (a reference, handed to the request's arena). */
static void answer(pz_cache_call *call, const pz_prepared_response *res, const char *outcome)
{
    pz_inference *inf = call->inf;
    pz_request *req = inf->req;
    pz_prepared_attach(res, req->arena);
    req->hints.cache = outcome;
    ProtobufCMessage *not_modified = apply_validators(call->rc, inf, res);
    pz_config_unref(inf->config);
    inf->config = NULL;
    pz_request_succeed(req, not_modified);
}

/* A queued lookup: the call it waited on finished. Runs on that call's thread. */
static void on_flight_done(pz_cache_waiter *w, const pz_prepared_response *res, bool stale, const pz_error *err)
{
    pz_cache_call *call = (pz_cache_call *)w;
    if (res != NULL) {
        answer(call, pz_prepared_ref(res), stale ? "stale-if-error" : "coalesced");
        return;
    }
    pz_inference *inf = call->inf;
    pz_request *req = inf->req;
    req->hints.cache = "coalesced";
    pz_config_unref(inf->config);
    inf->config = NULL;
    /* err belongs to the other request: copy what the front reads later. */
    pz_request_fail(req, err->status, pz_arena_strdup(req->arena, err->type ? err->type : PZ_ERRTYPE_UNHANDLED),
                    pz_arena_strdup(req->arena, err->code ? err->code : "Unhandled"), "%s",
                    err->message ? err->message : pz_status_str(err->status));
}

/* Arena clean-up: a flight still open when its request is freed was never finished (a stage
 * completed the request some other way); its waiters must not wait forever. */
static void abandon_flight(void *p)
{
    pz_cache_call *call = p;
    if (call->flight == NULL)
        return;
    pz_error e = {PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "CoalescedCallFailed",
                  "the identical call this request waited for ended without a response"};
    pz_prepared_unref(pz_cache_fail(call->rc->cache, call->flight, &e, true, call->rc->now_ms()));
    call->flight = NULL;
}

/* ---- background refresh ---- */

static const ProtobufCMessage *copy_message(const ProtobufCMessage *m, pz_arena *arena)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *packed = pz_arena_alloc(arena, len ? len : 1);
    protobuf_c_message_pack(m, packed);
    const ProtobufCMessage *copy = protobuf_c_message_unpack(m->descriptor, &arena->pb, len, packed);
    if (copy == NULL)
        pz_fatal("cache: a request message did not survive pack/unpack");
    return copy;
}

/* Copies what the refresh needs from inf's request: it outlives that request. */
static refresh *prepare_refresh(pz_response_cache *rc, pz_inference *inf, pz_cache_flight *flight)
{
    const pz_request *src = inf->req;
    refresh *r = pz_calloc(1, sizeof *r);
    pz_arena_init(&r->arena);
    pz_request_init(&r->req, &r->arena);
    r->req.rpc = src->rpc;
    r->req.message = copy_message(src->message, &r->arena);
    pz_header *headers = pz_arena_calloc(&r->arena, src->n_headers ? src->n_headers : 1, sizeof *headers);
    for (size_t i = 0; i < src->n_headers; i++) {
        const pz_header *h = &src->headers[i];
        headers[i] = (pz_header){pz_arena_strndup(&r->arena, h->name, h->name_len), h->name_len,
                                 pz_arena_strndup(&r->arena, h->value, h->value_len), h->value_len};
    }
    r->req.headers = headers;
    r->req.n_headers = src->n_headers;
    r->req.protocol = "refresh";
    r->req.on_done = refresh_done;
    r->req.front_data = r;
    r->rc = rc;
    r->flight = flight;
    r->config = pz_config_ref(inf->config);
    r->recommenders = inf->recommenders;
    r->decorator = inf->decorator;
    return r;
}

static void run_refresh(refresh *r)
{
    pz_response_cache *rc = r->rc;
    pthread_mutex_lock(&rc->lock);
    rc->refreshing++;
    pthread_mutex_unlock(&rc->lock);
    pz_inference_start(&r->req, r->config, r->recommenders, r->decorator, rc); /* takes over the config ref */
}

static void refresh_done(pz_request *req)
{
    refresh *r = req->front_data;
    pz_response_cache *rc = r->rc;
    if (req->status != PZ_OK) {
        atomic_fetch_add_explicit(&rc->refresh_failed, 1, memory_order_relaxed);
        pz_warn("cache: background refresh failed (%s): %s", req->error.code ? req->error.code : "-",
                req->error.message ? req->error.message : "");
    }
    if (r->flight != NULL) /* failed before its lookup took the flight over */
        pz_prepared_unref(pz_cache_fail(rc->cache, r->flight, &req->error, false, rc->now_ms()));
    pz_arena_destroy(&r->arena);
    free(r);
    pthread_mutex_lock(&rc->lock);
    if (--rc->refreshing == 0)
        pthread_cond_broadcast(&rc->idle);
    pthread_mutex_unlock(&rc->lock);
}

/* ---- the stage ---- */

bool pz_response_cache_lookup(pz_response_cache *rc, pz_inference *inf)
{
    pz_request *req = inf->req;
    const pz_cache_policy *policy = selected_policy(inf);
    if (rc == NULL || policy == NULL || !policy->has_max_age || policy->max_age <= 0)
        return false; /* not cacheable: no ETag either (spec §4.1) */
    add_staleness_directives(req, policy);
    pz_cache_call *call = pz_arena_calloc(req->arena, 1, sizeof *call);
    call->rc = rc;
    call->inf = inf;
    call->ttl = policy_ttl(policy);
    call->waiter.ready = on_flight_done;
    inf->cache_call = call;
    if (req->on_done == refresh_done) { /* this is a refresh: lead the flight its lookup got */
        refresh *r = req->front_data;
        call->flight = r->flight;
        r->flight = NULL;
        pz_arena_defer(req->arena, abandon_flight, call);
        req->hints.cache = "refresh";
        return false;
    }
    if (rc->cache == NULL || rc->render_json == NULL)
        return false;

    key_builder key_bytes;
    if (!build_key(&key_bytes, inf)) {
        atomic_fetch_add_explicit(&rc->bypassed, 1, memory_order_relaxed);
        req->hints.cache = "bypass";
        return false;
    }
    pz_cache_key key;
    pz_cache_key_init(&key, key_bytes.data, key_bytes.len, inf->namespace_, inf->user_id,
                      pz_config_generation(inf->config));
    const pz_prepared_response *found = NULL;
    pz_cache_flight *flight = NULL;
    switch (pz_cache_lookup(rc->cache, &key, rc->now_ms(), &call->waiter, &found, &flight)) {
    case PZ_CACHE_HIT: answer(call, found, "hit"); return true;
    case PZ_CACHE_STALE: {
        refresh *r = flight != NULL ? prepare_refresh(rc, inf, flight) : NULL;
        answer(call, found, "stale"); /* inf is gone after this */
        if (r != NULL)
            run_refresh(r);
        return true;
    }
    case PZ_CACHE_MISS:
        call->flight = flight;
        if (flight != NULL) /* whatever happens to this request, its waiters get an answer */
            pz_arena_defer(req->arena, abandon_flight, call);
        req->hints.cache = flight != NULL ? "miss" : "bypass";
        return false;
    case PZ_CACHE_WAIT: return true; /* the request may already be completed: touch nothing */
    }
    return false;
}

/* Packs and renders the response once. JSON is left out when it cannot be rendered (too large). */
static pz_prepared_response *prepare(pz_response_cache *rc, const ProtobufCMessage *msg, pz_arena *arena)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *packed = pz_arena_alloc(arena, len ? len : 1);
    protobuf_c_message_pack(msg, packed);
    pz_buf json;
    pz_buf_init(&json, PZ_RESPONSE_CACHE_MAX_JSON_BYTES);
    bool rendered = rc->render_json != NULL && rc->render_json(msg, &json) == 0;
    pz_prepared_response *p = pz_prepared_create(packed, len, rendered ? json.data : NULL, rendered ? json.len : 0);
    pz_buf_free(&json);
    return p;
}

void pz_response_cache_store(pz_inference *inf)
{
    pz_cache_call *call = inf->cache_call;
    if (call == NULL || inf->response == NULL)
        return;
    pz_response_cache *rc = call->rc;
    pz_request *req = inf->req;
    pz_prepared_response *res = prepare(rc, inf->response, req->arena);
    if (call->flight != NULL) {
        pz_cache_flight *flight = call->flight;
        call->flight = NULL;
        /* Handed to the waiters but not kept: without JSON (a hit could not be served over REST), or
         * when a fallback variation answered (a degraded answer must not outlive the failure). */
        bool keep = res->json != NULL && req->hints.fallback_from == NULL;
        pz_cache_complete(rc->cache, flight, res, keep ? &call->ttl : NULL, rc->now_ms());
    }
    pz_prepared_attach(res, req->arena);
    ProtobufCMessage *not_modified = apply_validators(rc, inf, res);
    if (not_modified != NULL)
        inf->response = not_modified;
}

bool pz_response_cache_failed(pz_inference *inf, const pz_error *err)
{
    pz_cache_call *call = inf->cache_call;
    if (call == NULL || call->flight == NULL)
        return false;
    pz_response_cache *rc = call->rc;
    pz_cache_flight *flight = call->flight;
    call->flight = NULL;
    const pz_prepared_response *stale =
        pz_cache_fail(rc->cache, flight, err, stale_if_error_applies(err->status), rc->now_ms());
    if (stale == NULL)
        return false;
    answer(call, stale, "stale-if-error");
    return true;
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
        "\"notModified\":%lu,\"bypassed\":%lu}",
        rc->cache != NULL && rc->render_json != NULL ? "true" : "false", s.entries, s.bytes, s.capacity_bytes,
        (unsigned long long)s.hits, (unsigned long long)s.stale_hits, (unsigned long long)s.stale_if_error,
        (unsigned long long)s.misses, (unsigned long long)s.coalesced, (unsigned long long)s.refreshes,
        atomic_load(&rc->refresh_failed), (unsigned long long)s.stores, (unsigned long long)s.not_stored,
        (unsigned long long)s.evictions, (unsigned long long)s.expired, (unsigned long long)s.purged,
        atomic_load(&rc->not_modified), atomic_load(&rc->bypassed));
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
    pthread_mutex_init(&rc->lock, NULL);
    pthread_cond_init(&rc->idle, NULL);
    return rc;
}

void pz_response_cache_destroy(pz_response_cache *rc)
{
    if (rc == NULL)
        return;
    pthread_mutex_lock(&rc->lock);
    while (rc->refreshing > 0)
        pthread_cond_wait(&rc->idle, &rc->lock);
    pthread_mutex_unlock(&rc->lock);
    pthread_cond_destroy(&rc->idle);
    pthread_mutex_destroy(&rc->lock);
    free(rc);
}
