/* The in-process response cache: finished responses (server/core/prepared.h) by key, bounded by
 * bytes with LRU eviction, with single-flight misses, stale-while-revalidate, stale-if-error and
 * purge by user or namespace. Modelled on h2o's lib/common/cache.c: the caller supplies `now`
 * everywhere, so expiry is a pure function of the arguments and tests never sleep.
 *
 * Keys are opaque bytes built by the caller (server/core/response_cache.c builds them from
 * everything that changes a response) plus three attributes used for invalidation: the namespace,
 * the user that owns the entry (NULL for responses that name no user) and the configuration
 * generation that produced it.
 *
 * Life of an entry (times from when it was stored; windows from pz_cache_ttl):
 *
 *   [0, max_age)                      fresh: lookups HIT
 *   [max_age, max_age + swr)          stale: lookups get it (STALE) and the first one also gets a
 *                                     refresh flight to run in the background; others keep
 *                                     getting the stale entry while that refresh runs
 *   [max_age, max_age + sie)          usable only if the call that replaces it fails
 *                                     (pz_cache_fail with use_stale)
 *   later                             gone
 *
 * Single-flight: the first lookup that finds no usable entry gets a MISS and a flight; it must
 * finish it exactly once (pz_cache_complete or pz_cache_fail). Lookups for the same key in the
 * meantime are queued on the flight (WAIT) and their `ready` callback runs once, on the thread
 * that finishes the flight, with the same response (or error).
 *
 * Purge: pz_cache_purge_user / _namespace make matching entries stale at once (no SWR, so the next
 * lookup is a MISS) but keep them for stale-if-error; a result whose call started before the
 * purge, or less than `purge_settle_ms` after it, is handed to its callers but not stored (it may
 * have been computed from the state the purge is about). A lookup with a newer configuration
 * generation than any seen before drops every entry of older generations.
 *
 * Threads: every function may be called from any thread. The cache is split into shards, each
 * with its own lock; entries of one user live in one shard (so a purge by user locks one shard).
 * Callbacks never run under a lock.
 */
#ifndef PZ_CACHE_H
#define PZ_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/prepared.h"
#include "server/core/status.h"

/* Limits. A flight queues at most PZ_CACHE_MAX_WAITERS callers; more get a MISS without a flight
 * (they call the recommender themselves, uncached). Shards: a power of two up to
 * PZ_CACHE_MAX_SHARDS. */
#define PZ_CACHE_MAX_WAITERS 1024
#define PZ_CACHE_MAX_SHARDS 256
#define PZ_CACHE_DEFAULT_SHARDS 16
#define PZ_CACHE_DEFAULT_PURGE_SETTLE_MS 1000

typedef struct pz_cache pz_cache;
typedef struct pz_cache_flight pz_cache_flight;

typedef struct pz_cache_options {
    size_t capacity_bytes;   /* byte budget over all shards (entries, keys and bookkeeping); an
                              * entry larger than capacity_bytes / shards is never stored */
    unsigned shards;         /* 0 = PZ_CACHE_DEFAULT_SHARDS; rounded up to a power of two */
    int64_t purge_settle_ms; /* < 0 = PZ_CACHE_DEFAULT_PURGE_SETTLE_MS */
} pz_cache_options;

/* What identifies an entry. All pointers are borrowed for the duration of the call. */
typedef struct pz_cache_key {
    const void *bytes;
    size_t len;
    const char *ns;      /* namespace; required */
    const char *user;    /* owner, or NULL when the response names no user */
    uint64_t generation; /* configuration generation */
    uint64_t hash;       /* set by pz_cache_key_init */
    uint64_t tag_hash;   /* hash of (ns, user); set by pz_cache_key_init */
    uint64_t ns_hash;    /* hash of ns; set by pz_cache_key_init */
} pz_cache_key;

/* Fills k and computes its hashes. */
void pz_cache_key_init(pz_cache_key *k, const void *bytes, size_t len, const char *ns, const char *user,
                       uint64_t generation);

/* Freshness windows of an entry, in milliseconds (>= 0). */
typedef struct pz_cache_ttl {
    int64_t max_age_ms;
    int64_t stale_while_revalidate_ms;
    int64_t stale_if_error_ms;
} pz_cache_ttl;

/* A queued lookup. `ready` runs exactly once with either a response (borrowed: take a reference
 * to keep it; `stale` says it is a stale entry served because the call failed) or the error the
 * call failed with (borrowed: copy what you keep). */
typedef struct pz_cache_waiter pz_cache_waiter;
struct pz_cache_waiter {
    pz_cache_waiter *next; /* owned by the cache while queued */
    void (*ready)(pz_cache_waiter *w, const pz_prepared_response *res, bool stale, const pz_error *err);
};

typedef enum pz_cache_result {
    PZ_CACHE_HIT,   /* *out: a fresh entry (a reference the caller owns) */
    PZ_CACHE_STALE, /* *out: a stale entry within stale-while-revalidate (a reference); *flight
                     * non-NULL when the caller must refresh it in the background */
    PZ_CACHE_MISS,  /* nothing usable: call the recommender; *flight non-NULL when the caller
                     * leads a flight it must finish (NULL: compute uncoalesced, nothing stored) */
    PZ_CACHE_WAIT,  /* queued on the flight in progress: w->ready will run (maybe already did) */
} pz_cache_result;

/* Creates a cache. Never NULL. */
pz_cache *pz_cache_create(const pz_cache_options *opts);
/* Frees the cache and every entry. No flight may be in progress. */
void pz_cache_destroy(pz_cache *c);

/* Looks key up at time now_ms. `w` may be NULL: the caller does not want to wait, and gets a MISS
 * without a flight when another call is already in progress. After a WAIT the caller must not
 * touch w's owner again: it may already be completed. */
pz_cache_result pz_cache_lookup(pz_cache *c, const pz_cache_key *key, int64_t now_ms, pz_cache_waiter *w,
                                const pz_prepared_response **out, pz_cache_flight **flight);

/* Finishes a flight with a response: stores it for `ttl` (not stored when ttl is NULL or its
 * max_age is 0, when it is too large, when its generation is outdated, or when the key was purged
 * since the flight started, see above) and hands it to every waiter. res is borrowed. The flight
 * is freed. */
void pz_cache_complete(pz_cache *c, pz_cache_flight *f, const pz_prepared_response *res, const pz_cache_ttl *ttl,
                       int64_t now_ms);

/* Finishes a flight whose call failed. When use_stale and the key holds an entry still within its
 * stale-if-error window, returns it (a reference the caller owns) and hands it to every waiter as
 * stale; otherwise returns NULL and hands err to every waiter. The flight is freed. */
const pz_prepared_response *pz_cache_fail(pz_cache *c, pz_cache_flight *f, const pz_error *err, bool use_stale,
                                          int64_t now_ms);

/* Makes every entry of (ns, user) / of ns stale at once (see above). Returns how many entries it
 * touched. */
size_t pz_cache_purge_user(pz_cache *c, const char *ns, const char *user, int64_t now_ms);
size_t pz_cache_purge_namespace(pz_cache *c, const char *ns, int64_t now_ms);
/* Makes every entry stale at once, as if each namespace were purged. */
size_t pz_cache_purge_all(pz_cache *c, int64_t now_ms);

typedef struct pz_cache_stats {
    uint64_t hits;           /* fresh entries served */
    uint64_t stale_hits;     /* stale entries served while a refresh runs (SWR) */
    uint64_t stale_if_error; /* stale entries served because the call failed */
    uint64_t misses;         /* lookups that found nothing usable */
    uint64_t coalesced;      /* lookups queued on a flight in progress */
    uint64_t refreshes;      /* background refreshes handed out */
    uint64_t stores;         /* responses stored */
    uint64_t not_stored;     /* responses not stored: too large, purged meanwhile, outdated */
    uint64_t evictions;      /* entries evicted to stay within the byte budget */
    uint64_t expired;        /* entries dropped past every window */
    uint64_t purged;         /* entries made stale by a purge, or dropped by a config reload */
    size_t entries;          /* entries holding a response now */
    size_t bytes;            /* bytes charged now */
    size_t capacity_bytes;
} pz_cache_stats;

/* A consistent-per-shard snapshot of the counters. */
void pz_cache_get_stats(pz_cache *c, pz_cache_stats *out);

#endif
