#include "server/auth/jwks_source.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "server/core/log.h"
#include "server/core/mem.h"

#define ERROR_MAX 160

struct pz_jwks_source {
    char *location;
    pz_jwks_fetch_fn fetch;
    void *fetch_ctx;
    pthread_mutex_t lock;
    pz_jwks *keys;        /* NULL until the first document parsed */
    int64_t loaded_ms;    /* when `keys` arrived */
    bool attempted;       /* a fetch ever started */
    int64_t attempted_ms; /* when the last one did */
    bool in_flight;
    uint64_t next_revision;        /* revisions handed out so far */
    atomic_uint_fast64_t revision; /* of `keys`: read on every request without the lock */
    pz_jwks_waiter *waiters;
    pz_jwks_source_stats stats;
};

pz_jwks_source *pz_jwks_source_create(const char *location, pz_jwks_fetch_fn fetch, void *fetch_ctx)
{
    pz_jwks_source *src = pz_calloc(1, sizeof *src);
    src->location = pz_strdup(location);
    src->fetch = fetch;
    src->fetch_ctx = fetch_ctx;
    atomic_init(&src->revision, 0);
    pthread_mutex_init(&src->lock, NULL);
    return src;
}

void pz_jwks_source_destroy(pz_jwks_source *src)
{
    if (src == NULL)
        return;
    pz_jwks_unref(src->keys);
    pthread_mutex_destroy(&src->lock);
    free(src->location);
    free(src);
}

const char *pz_jwks_source_location(const pz_jwks_source *src)
{
    return src->location;
}

/* Called with the lock held: whether a fetch may start now, and marks it started. */
static bool claim_fetch(pz_jwks_source *src, int64_t now_ms, int64_t min_refresh_ms)
{
    if (src->in_flight || (src->attempted && now_ms - src->attempted_ms < min_refresh_ms))
        return false;
    src->in_flight = true;
    src->attempted = true;
    src->attempted_ms = now_ms;
    src->stats.fetches++;
    return true;
}

pz_jwks_lookup pz_jwks_source_find(pz_jwks_source *src, const char *kid, int64_t now_ms, int64_t min_refresh_ms,
                                   int64_t max_age_ms, pz_jwks_waiter *w, pz_jwks **keys)
{
    pz_jwks_lookup result;
    bool start = false;
    pthread_mutex_lock(&src->lock);
    if (src->keys != NULL && pz_jwks_find(src->keys, kid) != NULL) {
        *keys = pz_jwks_ref(src->keys);
        result = PZ_JWKS_FOUND;
        /* old keys still serve while they are refreshed in the background */
        start = now_ms - src->loaded_ms > max_age_ms && claim_fetch(src, now_ms, min_refresh_ms);
    } else if (src->in_flight || (start = claim_fetch(src, now_ms, min_refresh_ms))) {
        w->next = src->waiters;
        src->waiters = w;
        src->stats.waits++;
        result = PZ_JWKS_WAIT;
    } else {
        result = src->keys != NULL ? PZ_JWKS_UNKNOWN_KID : PZ_JWKS_UNAVAILABLE;
    }
    pthread_mutex_unlock(&src->lock);
    if (start)
        src->fetch(src->fetch_ctx, src, src->location);
    return result;
}

void pz_jwks_source_fetched(pz_jwks_source *src, const char *body, size_t len, const char *failure, int64_t now_ms)
{
    char err[ERROR_MAX] = "";
    pz_jwks *parsed = body != NULL ? pz_jwks_parse(body, len, err, sizeof err) : NULL;
    pthread_mutex_lock(&src->lock);
    src->in_flight = false;
    if (parsed != NULL) {
        bool same_keys = src->keys != NULL && pz_jwks_keeps(parsed, src->keys);
        pz_jwks_set_revision(parsed, same_keys ? pz_jwks_revision(src->keys) : ++src->next_revision);
        pz_jwks_unref(src->keys);
        src->keys = parsed;
        atomic_store_explicit(&src->revision, pz_jwks_revision(parsed), memory_order_release);
        src->loaded_ms = now_ms;
        src->stats.keys = pz_jwks_count(parsed);
        src->stats.loaded_ms = now_ms;
    } else {
        src->stats.failures++;
    }
    pz_jwks_waiter *waiters = src->waiters;
    src->waiters = NULL;
    pz_jwks *current = src->keys;
    size_t n_waiters = 0;
    for (pz_jwks_waiter *w = waiters; w != NULL; w = w->next)
        n_waiters++;
    for (size_t i = 0; i < n_waiters; i++)
        pz_jwks_ref(current);
    pthread_mutex_unlock(&src->lock);
    if (parsed == NULL)
        pz_warn("auth: signing keys from %s not refreshed (%s); %s", src->location, failure != NULL ? failure : err,
                current != NULL ? "the keys loaded before keep serving" : "no keys yet: bearer tokens get 503");
    while (waiters != NULL) {
        pz_jwks_waiter *w = waiters;
        waiters = w->next;
        w->ready(w, current);
    }
}

void pz_jwks_source_get_stats(pz_jwks_source *src, pz_jwks_source_stats *out)
{
    pthread_mutex_lock(&src->lock);
    *out = src->stats;
    pthread_mutex_unlock(&src->lock);
}

void pz_jwks_source_prefetch(pz_jwks_source *src, int64_t now_ms, int64_t min_refresh_ms)
{
    pthread_mutex_lock(&src->lock);
    bool start = src->keys == NULL && claim_fetch(src, now_ms, min_refresh_ms);
    pthread_mutex_unlock(&src->lock);
    if (start)
        src->fetch(src->fetch_ctx, src, src->location);
}

uint64_t pz_jwks_source_revision(pz_jwks_source *src)
{
    return atomic_load_explicit(&src->revision, memory_order_acquire);
}
