#include "server/auth/token_cache.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/mem.h"

#define SHARDS 16

/* One remembered token; its scope array and strings follow it in the same allocation (`packed`
 * bytes), so a hit copies them with one memcpy. */
typedef struct entry {
    struct entry *next_in_chain;
    struct entry *newer, *older; /* insertion order, for eviction */
    pz_token_key key;
    size_t packed;
    pz_jwt_claims claims; /* strings and the scope array point into this allocation */
} entry;

/* Where a pointer into e's packed block lands in a copy of the block at `to`. */
static const char *moved(const entry *e, const char *p, char *to)
{
    return p == NULL ? NULL : to + (p - (const char *)(e + 1));
}

typedef struct shard {
    pthread_mutex_t lock;
    entry **chains;
    size_t n_chains; /* a power of two */
    size_t n, capacity;
    entry *newest, *oldest;
} shard;

struct pz_token_cache {
    shard shards[SHARDS];
};

static uint64_t index_of(const pz_token_key *k)
{
    uint64_t h;
    memcpy(&h, k->digest, sizeof h); /* SHA-256 output: already uniform */
    return h ^ k->policy;
}

static bool same_key(const pz_token_key *a, const pz_token_key *b)
{
    return a->policy == b->policy && a->keys_revision == b->keys_revision &&
           CRYPTO_memcmp(a->digest, b->digest, PZ_SHA256_LEN) == 0;
}

pz_token_cache *pz_token_cache_create(size_t capacity)
{
    if (capacity == 0)
        capacity = PZ_TOKEN_CACHE_DEFAULT_CAPACITY;
    pz_token_cache *c = pz_calloc(1, sizeof *c);
    for (size_t i = 0; i < SHARDS; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_init(&s->lock, NULL);
        s->capacity = capacity / SHARDS > 0 ? capacity / SHARDS : 1;
        s->n_chains = 1;
        while (s->n_chains < s->capacity)
            s->n_chains <<= 1;
        s->chains = pz_calloc(s->n_chains, sizeof *s->chains);
    }
    return c;
}

void pz_token_cache_destroy(pz_token_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < SHARDS; i++) {
        shard *s = &c->shards[i];
        for (entry *e = s->newest, *next; e != NULL; e = next) {
            next = e->older;
            free(e);
        }
        free(s->chains);
        pthread_mutex_destroy(&s->lock);
    }
    free(c);
}

static void unlink_entry(shard *s, entry *e)
{
    entry **p = &s->chains[index_of(&e->key) & (s->n_chains - 1)];
    while (*p != e)
        p = &(*p)->next_in_chain;
    *p = e->next_in_chain;
    if (e->newer != NULL)
        e->newer->older = e->older;
    else
        s->newest = e->older;
    if (e->older != NULL)
        e->older->newer = e->newer;
    else
        s->oldest = e->newer;
    s->n--;
}

static entry *find(shard *s, const pz_token_key *key)
{
    for (entry *e = s->chains[index_of(key) & (s->n_chains - 1)]; e != NULL; e = e->next_in_chain)
        if (same_key(&e->key, key))
            return e;
    return NULL;
}

static shard *shard_of(pz_token_cache *c, const pz_token_key *key)
{
    return &c->shards[(index_of(key) >> 32) % SHARDS];
}

bool pz_token_cache_get(pz_token_cache *c, const pz_token_key *key, int leeway_seconds, int64_t now_ms, pz_arena *arena,
                        pz_jwt_claims *out)
{
    shard *s = shard_of(c, key);
    pthread_mutex_lock(&s->lock);
    entry *e = find(s, key);
    bool hit = false;
    if (e != NULL && !pz_jwt_claims_current(&e->claims, leeway_seconds, now_ms)) {
        unlink_entry(s, e);
        free(e);
    } else if (e != NULL) {
        const pz_jwt_claims *k = &e->claims;
        char *copy = pz_arena_alloc(arena, e->packed);
        memcpy(copy, e + 1, e->packed);
        *out = *k;
        out->subject = moved(e, k->subject, copy);
        out->user_id = moved(e, k->user_id, copy);
        out->scopes = (const char **)copy;
        for (size_t i = 0; i < k->n_scopes; i++)
            out->scopes[i] = moved(e, k->scopes[i], copy);
        hit = true;
    }
    pthread_mutex_unlock(&s->lock);
    return hit;
}

/* Bytes the strings of claims take, NULs included. */
static size_t strings_size(const pz_jwt_claims *c)
{
    size_t n = strlen(c->subject) + 1 + (c->user_id != NULL ? strlen(c->user_id) + 1 : 0);
    for (size_t i = 0; i < c->n_scopes; i++)
        n += strlen(c->scopes[i]) + 1;
    return n;
}

static const char *pack(char **p, const char *s)
{
    size_t n = strlen(s) + 1;
    memcpy(*p, s, n);
    const char *at = *p;
    *p += n;
    return at;
}

void pz_token_cache_put(pz_token_cache *c, const pz_token_key *key, const pz_jwt_claims *claims)
{
    size_t scopes_bytes = claims->n_scopes * sizeof(const char *);
    entry *e = pz_calloc(1, sizeof *e + scopes_bytes + strings_size(claims));
    e->packed = scopes_bytes + strings_size(claims);
    e->key = *key;
    e->claims = *claims;
    e->claims.scopes = (const char **)(e + 1);
    char *p = (char *)(e + 1) + scopes_bytes;
    e->claims.subject = pack(&p, claims->subject);
    e->claims.user_id = claims->user_id != NULL ? pack(&p, claims->user_id) : NULL;
    for (size_t i = 0; i < claims->n_scopes; i++)
        e->claims.scopes[i] = pack(&p, claims->scopes[i]);

    shard *s = shard_of(c, key);
    pthread_mutex_lock(&s->lock);
    entry *old = find(s, key);
    if (old != NULL) {
        unlink_entry(s, old);
        free(old);
    }
    if (s->n >= s->capacity) {
        entry *victim = s->oldest;
        unlink_entry(s, victim);
        free(victim);
    }
    entry **chain = &s->chains[index_of(key) & (s->n_chains - 1)];
    e->next_in_chain = *chain;
    *chain = e;
    e->older = s->newest;
    if (s->newest != NULL)
        s->newest->newer = e;
    s->newest = e;
    if (s->oldest == NULL)
        s->oldest = e;
    s->n++;
    pthread_mutex_unlock(&s->lock);
}

size_t pz_token_cache_size(pz_token_cache *c)
{
    size_t n = 0;
    for (size_t i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&c->shards[i].lock);
        n += c->shards[i].n;
        pthread_mutex_unlock(&c->shards[i].lock);
    }
    return n;
}
