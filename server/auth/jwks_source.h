/* The signing keys of one issuer, from a JWKS URL or file: loaded on first use, kept, refreshed
 * when a token names a kid they lack (at most once per `min_refresh_ms`) or when older than
 * `max_age_ms` (in the background, the old keys serving meanwhile), and served stale when a
 * refresh fails (the IdP is down): a failed refresh never drops keys that verified before.
 *
 * A lookup that needs a refresh waits for it through a pz_jwks_waiter; every waiter is woken
 * exactly once, when the refresh completes or fails. How the document is fetched is the caller's
 * (`fetch`: the upstream engine for URLs, a file read for files), so tests drive it by hand.
 * Time is a parameter. Any thread. */
#ifndef PZ_AUTH_JWKS_SOURCE_H
#define PZ_AUTH_JWKS_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "server/auth/jwks.h"

typedef struct pz_jwks_source pz_jwks_source;

/* Starts fetching `location`; the fetcher later calls pz_jwks_source_fetched exactly once (it may
 * do so before returning). Called without the source's lock held. */
typedef void (*pz_jwks_fetch_fn)(void *ctx, pz_jwks_source *src, const char *location);

typedef struct pz_jwks_waiter pz_jwks_waiter;
struct pz_jwks_waiter {
    pz_jwks_waiter *next; /* the source's */
    /* The refresh ended: keys is the current set (a reference for the waiter to drop), NULL when
     * none was ever loaded. Runs on the thread that completed the fetch. */
    void (*ready)(pz_jwks_waiter *w, pz_jwks *keys);
};

typedef enum pz_jwks_lookup {
    PZ_JWKS_FOUND,       /* *keys holds kid */
    PZ_JWKS_WAIT,        /* a refresh runs; w->ready will be called */
    PZ_JWKS_UNKNOWN_KID, /* the keys lack kid and a refresh is not allowed yet */
    PZ_JWKS_UNAVAILABLE, /* no keys were ever loaded and a fetch is not allowed yet */
} pz_jwks_lookup;

typedef struct pz_jwks_source_stats {
    unsigned long fetches, failures, waits;
    size_t keys;
    int64_t loaded_ms; /* 0: never */
} pz_jwks_source_stats;

/* Never NULL; location is copied. */
pz_jwks_source *pz_jwks_source_create(const char *location, pz_jwks_fetch_fn fetch, void *fetch_ctx);
/* No fetch may be in flight (drain the fetcher first). */
void pz_jwks_source_destroy(pz_jwks_source *src);
const char *pz_jwks_source_location(const pz_jwks_source *src);

/* Looks kid up; see pz_jwks_lookup. With FOUND, *keys is a reference the caller drops. */
pz_jwks_lookup pz_jwks_source_find(pz_jwks_source *src, const char *kid, int64_t now_ms, int64_t min_refresh_ms,
                                   int64_t max_age_ms, pz_jwks_waiter *w, pz_jwks **keys);

/* The fetch completed: the document (body, len), or NULL with `failure` saying why. A document
 * that parses replaces the keys (a new revision when a key left or changed); anything else keeps
 * them and is logged. Then wakes every waiter. Any thread. */
void pz_jwks_source_fetched(pz_jwks_source *src, const char *body, size_t len, const char *failure, int64_t now_ms);

/* Starts loading the keys when none are loaded and no fetch ran within min_refresh_ms: a new
 * configuration's sources are warm before the first token arrives. */
void pz_jwks_source_prefetch(pz_jwks_source *src, int64_t now_ms, int64_t min_refresh_ms);

/* The revision of the current keys (0 before the first load). */
uint64_t pz_jwks_source_revision(pz_jwks_source *src);

void pz_jwks_source_get_stats(pz_jwks_source *src, pz_jwks_source_stats *out);

#endif
