#include "server/core/cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/hash.h"

#define KEY_SEED 0x6b6579u
#define TAG_SEED 0x746167u
#define NS_SEED 0x6e73u
#define FIRST_BUCKETS 64
/* Recent purges remembered per shard; an older one that falls off still counts conservatively
 * (see purged_since). */
#define PURGE_LOG 64

typedef struct shard shard;
typedef struct node node;

/* One key. Holds a response (`value`) while it is in the LRU list, a flight while a call for it is
 * in progress, or both (a stale entry being replaced). A node with neither is freed at once. */
struct node {
    node *chain;               /* key table bucket chain */
    node *tag_prev, *tag_next; /* tag table bucket list (every node) */
    node *lru_prev, *lru_next; /* LRU list, only while value != NULL; most recent first */
    uint64_t hash, tag_hash, ns_hash, generation;
    const pz_prepared_response *value;
    int64_t fresh_until, swr_until, sie_until;
    pz_cache_flight *flight;
    size_t base_charge; /* the node itself, its key and tags */
    size_t key_len;
    const char *ns;
    const char *user;     /* NULL when the entry names no user */
    unsigned char data[]; /* key bytes, then ns and user NUL-terminated */
};

struct pz_cache_flight {
    shard *shard;
    node *node;
    int64_t started_ms;
    pz_cache_waiter *head, *tail;
    size_t n_waiters;
};

typedef struct purge_record {
    uint64_t hash; /* a tag hash (purge by user) or a namespace hash (purge by namespace) */
    int64_t at_ms;
} purge_record;

struct shard {
    pthread_mutex_t lock;
    node **buckets;     /* key table */
    node **tag_buckets; /* tag table, same size */
    size_t n_buckets;   /* power of two */
    size_t n_nodes;
    node lru; /* sentinel */
    size_t bytes, capacity, entries;
    purge_record purges[PURGE_LOG];
    size_t purge_next;
    int64_t purge_lost_ms; /* latest purge time that fell off the log */
    pz_cache_stats stats;  /* counters only */
};

struct pz_cache {
    shard *shards;
    unsigned n_shards;
    size_t capacity;
    int64_t settle_ms;
    _Atomic uint64_t newest_generation;
};

/* ---- keys ---- */

void pz_cache_key_init(pz_cache_key *k, const void *bytes, size_t len, const char *ns, const char *user,
                       uint64_t generation)
{
    k->bytes = bytes;
    k->len = len;
    k->ns = ns;
    k->user = user;
    k->generation = generation;
    k->hash = pz_hash64(bytes, len, KEY_SEED);
    size_t ns_len = strlen(ns);
    k->ns_hash = pz_hash64(ns, ns_len, NS_SEED);
    uint64_t h = pz_hash64(ns, ns_len + 1, TAG_SEED); /* the NUL separates ns from user */
    k->tag_hash = user != NULL ? pz_hash64(user, strlen(user), h) : h;
}

static shard *shard_of(pz_cache *c, const pz_cache_key *k)
{
    /* A user's entries share a shard, so purging them locks one; the high bits pick the shard,
     * the low bits the bucket. */
    uint64_t h = k->user != NULL ? k->tag_hash : k->hash;
    return &c->shards[(h >> 40) & (c->n_shards - 1)];
}

static bool node_matches(const node *n, const pz_cache_key *k)
{
    return n->hash == k->hash && n->key_len == k->len && n->generation == k->generation &&
           memcmp(n->data, k->bytes, k->len) == 0;
}

/* ---- tables ---- */

static node *find(shard *sh, const pz_cache_key *k)
{
    for (node *n = sh->buckets[k->hash & (sh->n_buckets - 1)]; n != NULL; n = n->chain) {
        if (node_matches(n, k))
            return n;
    }
    return NULL;
}

static void tag_link(shard *sh, node *n)
{
    node **head = &sh->tag_buckets[n->tag_hash & (sh->n_buckets - 1)];
    n->tag_prev = NULL;
    n->tag_next = *head;
    if (*head != NULL)
        (*head)->tag_prev = n;
    *head = n;
}

static void tag_unlink(shard *sh, node *n)
{
    if (n->tag_prev != NULL)
        n->tag_prev->tag_next = n->tag_next;
    else
        sh->tag_buckets[n->tag_hash & (sh->n_buckets - 1)] = n->tag_next;
    if (n->tag_next != NULL)
        n->tag_next->tag_prev = n->tag_prev;
}

static void grow(shard *sh)
{
    size_t old_n = sh->n_buckets;
    node **old = sh->buckets;
    node **old_tags = sh->tag_buckets;
    sh->n_buckets = old_n * 2;
    sh->buckets = pz_calloc(sh->n_buckets, sizeof *sh->buckets);
    sh->tag_buckets = pz_calloc(sh->n_buckets, sizeof *sh->tag_buckets);
    for (size_t i = 0; i < old_n; i++) {
        node *n = old[i];
        while (n != NULL) {
            node *next = n->chain;
            node **head = &sh->buckets[n->hash & (sh->n_buckets - 1)];
            n->chain = *head;
            *head = n;
            tag_link(sh, n);
            n = next;
        }
    }
    free(old);
    free(old_tags);
}

static node *insert(shard *sh, const pz_cache_key *k)
{
    size_t ns_len = strlen(k->ns);
    size_t user_len = k->user != NULL ? strlen(k->user) : 0;
    size_t size = sizeof(node) + k->len + ns_len + 1 + (k->user != NULL ? user_len + 1 : 0);
    node *n = pz_calloc(1, size);
    n->hash = k->hash;
    n->tag_hash = k->tag_hash;
    n->ns_hash = k->ns_hash;
    n->generation = k->generation;
    n->key_len = k->len;
    n->base_charge = size;
    memcpy(n->data, k->bytes, k->len);
    char *ns = (char *)n->data + k->len;
    memcpy(ns, k->ns, ns_len + 1);
    n->ns = ns;
    if (k->user != NULL) {
        char *user = ns + ns_len + 1;
        memcpy(user, k->user, user_len + 1);
        n->user = user;
    }
    if (sh->n_nodes >= sh->n_buckets)
        grow(sh);
    node **head = &sh->buckets[n->hash & (sh->n_buckets - 1)];
    n->chain = *head;
    *head = n;
    tag_link(sh, n);
    sh->n_nodes++;
    sh->bytes += n->base_charge;
    return n;
}

/* Frees a node that holds neither a value nor a flight. */
static void remove_node(shard *sh, node *n)
{
    node **pp = &sh->buckets[n->hash & (sh->n_buckets - 1)];
    while (*pp != n)
        pp = &(*pp)->chain;
    *pp = n->chain;
    tag_unlink(sh, n);
    sh->n_nodes--;
    sh->bytes -= n->base_charge;
    free(n);
}

/* ---- values and the LRU list ---- */

static void lru_unlink(node *n)
{
    n->lru_prev->lru_next = n->lru_next;
    n->lru_next->lru_prev = n->lru_prev;
}

static void lru_push_front(shard *sh, node *n)
{
    n->lru_next = sh->lru.lru_next;
    n->lru_prev = &sh->lru;
    sh->lru.lru_next->lru_prev = n;
    sh->lru.lru_next = n;
}

/* Drops n's value; frees n too unless a flight still needs it. Returns true when n was freed. */
static bool drop_value(shard *sh, node *n)
{
    if (n->value != NULL) {
        lru_unlink(n);
        sh->bytes -= n->value->bytes;
        sh->entries--;
        pz_prepared_unref(n->value);
        n->value = NULL;
    }
    if (n->flight == NULL) {
        remove_node(sh, n);
        return true;
    }
    return false;
}

static int64_t max3(int64_t a, int64_t b, int64_t c)
{
    int64_t m = a > b ? a : b;
    return m > c ? m : c;
}

static void set_value(shard *sh, node *n, const pz_prepared_response *res, const pz_cache_ttl *ttl, int64_t now)
{
    if (n->value != NULL) {
        sh->bytes -= n->value->bytes;
        pz_prepared_unref(n->value);
        lru_unlink(n);
    } else {
        sh->entries++;
    }
    n->value = pz_prepared_ref(res);
    sh->bytes += res->bytes;
    n->fresh_until = now + ttl->max_age_ms;
    n->swr_until = n->fresh_until + (ttl->stale_while_revalidate_ms > 0 ? ttl->stale_while_revalidate_ms : 0);
    n->sie_until = n->fresh_until + (ttl->stale_if_error_ms > 0 ? ttl->stale_if_error_ms : 0);
    lru_push_front(sh, n);
}

/* Evicts least recently used values until the shard fits its budget; `keep` is never evicted. */
static void evict(shard *sh, node *keep)
{
    while (sh->bytes > sh->capacity) {
        node *victim = sh->lru.lru_prev;
        if (victim == &sh->lru || victim == keep)
            break;
        drop_value(sh, victim);
        sh->stats.evictions++;
    }
}

/* ---- purges ---- */

static void log_purge(shard *sh, uint64_t hash, int64_t now)
{
    purge_record *r = &sh->purges[sh->purge_next];
    if (r->at_ms > sh->purge_lost_ms)
        sh->purge_lost_ms = r->at_ms;
    r->hash = hash;
    r->at_ms = now;
    sh->purge_next = (sh->purge_next + 1) % PURGE_LOG;
}

/* True when n's user or namespace was purged at or after `since`. A purge that fell off the log
 * counts for every key (false positives only cost a store). */
static bool purged_since(const shard *sh, const node *n, int64_t since)
{
    if (sh->purge_lost_ms >= since)
        return true;
    for (size_t i = 0; i < PURGE_LOG; i++) {
        const purge_record *r = &sh->purges[i];
        if (r->at_ms >= since && (r->hash == n->tag_hash || r->hash == n->ns_hash))
            return true;
    }
    return false;
}

static void soft_expire(shard *sh, node *n, int64_t now)
{
    if (n->value == NULL)
        return;
    if (n->fresh_until > now)
        n->fresh_until = now;
    if (n->swr_until > now)
        n->swr_until = now;
    sh->stats.purged++;
}

size_t pz_cache_purge_user(pz_cache *c, const char *ns, const char *user, int64_t now_ms)
{
    if (user == NULL)
        return 0;
    pz_cache_key k;
    pz_cache_key_init(&k, "", 0, ns, user, 0);
    shard *sh = shard_of(c, &k);
    size_t n_purged = 0;
    pthread_mutex_lock(&sh->lock);
    for (node *n = sh->tag_buckets[k.tag_hash & (sh->n_buckets - 1)]; n != NULL; n = n->tag_next) {
        if (n->tag_hash == k.tag_hash && n->user != NULL && strcmp(n->user, user) == 0 && strcmp(n->ns, ns) == 0 &&
            n->value != NULL) {
            soft_expire(sh, n, now_ms);
            n_purged++;
        }
    }
    log_purge(sh, k.tag_hash, now_ms);
    pthread_mutex_unlock(&sh->lock);
    return n_purged;
}

size_t pz_cache_purge_namespace(pz_cache *c, const char *ns, int64_t now_ms)
{
    pz_cache_key k;
    pz_cache_key_init(&k, "", 0, ns, NULL, 0);
    size_t n_purged = 0;
    for (unsigned i = 0; i < c->n_shards; i++) {
        shard *sh = &c->shards[i];
        pthread_mutex_lock(&sh->lock);
        for (node *n = sh->lru.lru_next; n != &sh->lru; n = n->lru_next) {
            if (n->ns_hash == k.ns_hash && strcmp(n->ns, ns) == 0) {
                soft_expire(sh, n, now_ms);
                n_purged++;
            }
        }
        log_purge(sh, k.ns_hash, now_ms);
        pthread_mutex_unlock(&sh->lock);
    }
    return n_purged;
}

size_t pz_cache_purge_all(pz_cache *c, int64_t now_ms)
{
    size_t n_purged = 0;
    for (unsigned i = 0; i < c->n_shards; i++) {
        shard *sh = &c->shards[i];
        pthread_mutex_lock(&sh->lock);
        for (node *n = sh->lru.lru_next; n != &sh->lru; n = n->lru_next) {
            if (n->value != NULL) {
                soft_expire(sh, n, now_ms);
                n_purged++;
            }
        }
        if (sh->purge_lost_ms < now_ms)
            sh->purge_lost_ms = now_ms; /* as a purge of every key: results of calls in flight are not stored */
        pthread_mutex_unlock(&sh->lock);
    }
    return n_purged;
}

/* A newer configuration generation was seen: entries of older ones can never be looked up again
 * (the generation is part of the key), so they go now rather than by LRU. */
static void drop_generations_before(pz_cache *c, uint64_t generation)
{
    for (unsigned i = 0; i < c->n_shards; i++) {
        shard *sh = &c->shards[i];
        pthread_mutex_lock(&sh->lock);
        node *n = sh->lru.lru_next;
        while (n != &sh->lru) {
            node *next = n->lru_next;
            if (n->generation < generation) {
                drop_value(sh, n);
                sh->stats.purged++;
            }
            n = next;
        }
        pthread_mutex_unlock(&sh->lock);
    }
}

static void note_generation(pz_cache *c, uint64_t generation)
{
    uint64_t seen = atomic_load_explicit(&c->newest_generation, memory_order_relaxed);
    while (generation > seen) {
        if (atomic_compare_exchange_weak(&c->newest_generation, &seen, generation)) {
            drop_generations_before(c, generation);
            return;
        }
    }
}

/* ---- lookups and flights ---- */

static pz_cache_flight *start_flight(shard *sh, node *n, int64_t now)
{
    pz_cache_flight *f = pz_calloc(1, sizeof *f);
    f->shard = sh;
    f->node = n;
    f->started_ms = now;
    n->flight = f;
    return f;
}

pz_cache_result pz_cache_lookup(pz_cache *c, const pz_cache_key *key, int64_t now_ms, pz_cache_waiter *w,
                                const pz_prepared_response **out, pz_cache_flight **flight)
{
    *out = NULL;
    *flight = NULL;
    note_generation(c, key->generation);
    shard *sh = shard_of(c, key);
    pthread_mutex_lock(&sh->lock);
    node *n = find(sh, key);
    if (n != NULL && n->value != NULL) {
        if (now_ms >= max3(n->fresh_until, n->swr_until, n->sie_until)) {
            sh->stats.expired++;
            if (drop_value(sh, n))
                n = NULL;
        } else if (now_ms < n->fresh_until || now_ms < n->swr_until) {
            bool fresh = now_ms < n->fresh_until;
            *out = pz_prepared_ref(n->value);
            lru_unlink(n);
            lru_push_front(sh, n);
            if (fresh) {
                sh->stats.hits++;
            } else {
                sh->stats.stale_hits++;
                if (n->flight == NULL) {
                    *flight = start_flight(sh, n, now_ms);
                    sh->stats.refreshes++;
                }
            }
            pthread_mutex_unlock(&sh->lock);
            return fresh ? PZ_CACHE_HIT : PZ_CACHE_STALE;
        }
    }
    if (n != NULL && n->flight != NULL) {
        pz_cache_flight *f = n->flight;
        if (w == NULL || f->n_waiters >= PZ_CACHE_MAX_WAITERS) {
            sh->stats.misses++;
            pthread_mutex_unlock(&sh->lock);
            return PZ_CACHE_MISS;
        }
        w->next = NULL;
        if (f->tail != NULL)
            f->tail->next = w;
        else
            f->head = w;
        f->tail = w;
        f->n_waiters++;
        sh->stats.coalesced++;
        pthread_mutex_unlock(&sh->lock);
        return PZ_CACHE_WAIT;
    }
    if (n == NULL)
        n = insert(sh, key);
    *flight = start_flight(sh, n, now_ms);
    sh->stats.misses++;
    pthread_mutex_unlock(&sh->lock);
    return PZ_CACHE_MISS;
}

/* Detaches the flight from its node (freeing the node if it holds no value) and returns its
 * waiters. Called with the shard locked. */
static pz_cache_waiter *end_flight(shard *sh, pz_cache_flight *f)
{
    node *n = f->node;
    n->flight = NULL;
    if (n->value == NULL)
        remove_node(sh, n);
    return f->head;
}

static void wake(pz_cache_waiter *w, const pz_prepared_response *res, bool stale, const pz_error *err)
{
    while (w != NULL) {
        pz_cache_waiter *next = w->next; /* ready may free w */
        w->ready(w, res, stale, err);
        w = next;
    }
}

void pz_cache_complete(pz_cache *c, pz_cache_flight *f, const pz_prepared_response *res, const pz_cache_ttl *ttl,
                       int64_t now_ms)
{
    shard *sh = f->shard;
    pthread_mutex_lock(&sh->lock);
    node *n = f->node;
    if (res != NULL && ttl != NULL && ttl->max_age_ms > 0) {
        bool storable = n->base_charge + res->bytes <= sh->capacity &&
                        n->generation >= atomic_load_explicit(&c->newest_generation, memory_order_relaxed) &&
                        !purged_since(sh, n, f->started_ms - c->settle_ms);
        if (storable) {
            set_value(sh, n, res, ttl, now_ms);
            sh->stats.stores++;
            evict(sh, n);
        } else {
            sh->stats.not_stored++;
        }
    }
    pz_cache_waiter *waiters = end_flight(sh, f);
    pthread_mutex_unlock(&sh->lock);
    wake(waiters, res, false, NULL);
    free(f);
}

const pz_prepared_response *pz_cache_fail(pz_cache *c, pz_cache_flight *f, const pz_error *err, bool use_stale,
                                          int64_t now_ms)
{
    (void)c;
    shard *sh = f->shard;
    pthread_mutex_lock(&sh->lock);
    node *n = f->node;
    const pz_prepared_response *stale = NULL;
    if (use_stale && n->value != NULL && now_ms < n->sie_until) {
        stale = pz_prepared_ref(n->value);
        sh->stats.stale_if_error += 1 + f->n_waiters;
    }
    pz_cache_waiter *waiters = end_flight(sh, f);
    pthread_mutex_unlock(&sh->lock);
    wake(waiters, stale, stale != NULL, stale != NULL ? NULL : err);
    free(f);
    return stale;
}

/* ---- life cycle and stats ---- */

pz_cache *pz_cache_create(const pz_cache_options *opts)
{
    pz_cache *c = pz_calloc(1, sizeof *c);
    unsigned want = opts->shards != 0 ? opts->shards : PZ_CACHE_DEFAULT_SHARDS;
    if (want > PZ_CACHE_MAX_SHARDS)
        want = PZ_CACHE_MAX_SHARDS;
    c->n_shards = 1;
    while (c->n_shards < want)
        c->n_shards *= 2;
    c->capacity = opts->capacity_bytes;
    c->settle_ms = opts->purge_settle_ms >= 0 ? opts->purge_settle_ms : PZ_CACHE_DEFAULT_PURGE_SETTLE_MS;
    atomic_init(&c->newest_generation, 0);
    c->shards = pz_calloc(c->n_shards, sizeof *c->shards);
    for (unsigned i = 0; i < c->n_shards; i++) {
        shard *sh = &c->shards[i];
        pthread_mutex_init(&sh->lock, NULL);
        sh->n_buckets = FIRST_BUCKETS;
        sh->buckets = pz_calloc(sh->n_buckets, sizeof *sh->buckets);
        sh->tag_buckets = pz_calloc(sh->n_buckets, sizeof *sh->tag_buckets);
        sh->lru.lru_next = sh->lru.lru_prev = &sh->lru;
        sh->capacity = c->capacity / c->n_shards;
        sh->purge_lost_ms = INT64_MIN;
        for (size_t k = 0; k < PURGE_LOG; k++)
            sh->purges[k].at_ms = INT64_MIN;
    }
    return c;
}

void pz_cache_destroy(pz_cache *c)
{
    if (c == NULL)
        return;
    for (unsigned i = 0; i < c->n_shards; i++) {
        shard *sh = &c->shards[i];
        for (size_t b = 0; b < sh->n_buckets; b++) {
            node *n = sh->buckets[b];
            while (n != NULL) {
                node *next = n->chain;
                pz_prepared_unref(n->value);
                free(n->flight);
                free(n);
                n = next;
            }
        }
        free(sh->buckets);
        free(sh->tag_buckets);
        pthread_mutex_destroy(&sh->lock);
    }
    free(c->shards);
    free(c);
}

void pz_cache_get_stats(pz_cache *c, pz_cache_stats *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < c->n_shards; i++) {
        shard *sh = &c->shards[i];
        pthread_mutex_lock(&sh->lock);
        const pz_cache_stats *s = &sh->stats;
        out->hits += s->hits;
        out->stale_hits += s->stale_hits;
        out->stale_if_error += s->stale_if_error;
        out->misses += s->misses;
        out->coalesced += s->coalesced;
        out->refreshes += s->refreshes;
        out->stores += s->stores;
        out->not_stored += s->not_stored;
        out->evictions += s->evictions;
        out->expired += s->expired;
        out->purged += s->purged;
        out->entries += sh->entries;
        out->bytes += sh->bytes;
        pthread_mutex_unlock(&sh->lock);
    }
    out->capacity_bytes = c->capacity;
}
