#include "server/auth/rate_limit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/hash.h"
#include "server/core/mem.h"

#define SHARDS 16
#define MS_PER_SEC 1000.0
#define HASH_SEED 0x726174656c696dULL

typedef struct bucket {
    struct bucket *next_in_chain;
    struct bucket *newer, *older; /* the shard's LRU list */
    uint64_t hash;
    double tokens;
    int64_t updated_ms;
    size_t key_len;
    char key[]; /* not NUL-terminated */
} bucket;

typedef struct shard {
    pthread_mutex_t lock;
    bucket **chains;
    size_t n_chains; /* a power of two */
    size_t n, capacity;
    bucket *newest, *oldest;
} shard;

struct pz_rate_limiter {
    shard shards[SHARDS];
};

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

pz_rate_limiter *pz_rate_limiter_create(size_t capacity)
{
    if (capacity == 0)
        capacity = PZ_RATE_LIMIT_DEFAULT_CAPACITY;
    pz_rate_limiter *l = pz_calloc(1, sizeof *l);
    for (size_t i = 0; i < SHARDS; i++) {
        shard *s = &l->shards[i];
        pthread_mutex_init(&s->lock, NULL);
        s->capacity = capacity / SHARDS > 0 ? capacity / SHARDS : 1;
        s->n_chains = pow2_at_least(s->capacity);
        s->chains = pz_calloc(s->n_chains, sizeof *s->chains);
    }
    return l;
}

void pz_rate_limiter_destroy(pz_rate_limiter *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < SHARDS; i++) {
        shard *s = &l->shards[i];
        for (bucket *b = s->newest, *next; b != NULL; b = next) {
            next = b->older;
            free(b);
        }
        free(s->chains);
        pthread_mutex_destroy(&s->lock);
    }
    free(l);
}

static void lru_unlink(shard *s, bucket *b)
{
    if (b->newer != NULL)
        b->newer->older = b->older;
    else
        s->newest = b->older;
    if (b->older != NULL)
        b->older->newer = b->newer;
    else
        s->oldest = b->newer;
    b->newer = b->older = NULL;
}

static void lru_push(shard *s, bucket *b)
{
    b->older = s->newest;
    b->newer = NULL;
    if (s->newest != NULL)
        s->newest->newer = b;
    s->newest = b;
    if (s->oldest == NULL)
        s->oldest = b;
}

static void evict_oldest(shard *s)
{
    bucket *victim = s->oldest;
    lru_unlink(s, victim);
    bucket **p = &s->chains[victim->hash & (s->n_chains - 1)];
    while (*p != victim)
        p = &(*p)->next_in_chain;
    *p = victim->next_in_chain;
    s->n--;
    free(victim);
}

static bucket *find_or_add(shard *s, const char *key, size_t key_len, uint64_t hash, double burst, int64_t now_ms)
{
    bucket **chain = &s->chains[hash & (s->n_chains - 1)];
    for (bucket *b = *chain; b != NULL; b = b->next_in_chain)
        if (b->hash == hash && b->key_len == key_len && memcmp(b->key, key, key_len) == 0) {
            lru_unlink(s, b);
            lru_push(s, b);
            return b;
        }
    if (s->n >= s->capacity)
        evict_oldest(s);
    bucket *b = pz_calloc(1, sizeof *b + key_len);
    b->hash = hash;
    b->tokens = burst;
    b->updated_ms = now_ms;
    b->key_len = key_len;
    memcpy(b->key, key, key_len);
    b->next_in_chain = *chain;
    *chain = b;
    lru_push(s, b);
    s->n++;
    return b;
}

bool pz_rate_limiter_take(pz_rate_limiter *l, const char *key, size_t key_len, const pz_rate_limit *limit,
                          int64_t now_ms, int64_t *retry_after_ms)
{
    if (limit->per_second <= 0)
        return true;
    uint64_t hash = pz_hash64(key, key_len, HASH_SEED);
    shard *s = &l->shards[hash % SHARDS];
    pthread_mutex_lock(&s->lock);
    bucket *b = find_or_add(s, key, key_len, hash, limit->burst, now_ms);
    if (now_ms > b->updated_ms) {
        b->tokens = fmin(limit->burst, b->tokens + (double)(now_ms - b->updated_ms) * limit->per_second / MS_PER_SEC);
        b->updated_ms = now_ms;
    }
    bool admitted = b->tokens >= 1.0;
    if (admitted)
        b->tokens -= 1.0;
    else
        *retry_after_ms = (int64_t)ceil((1.0 - b->tokens) * MS_PER_SEC / limit->per_second);
    pthread_mutex_unlock(&s->lock);
    return admitted;
}

size_t pz_rate_limiter_size(pz_rate_limiter *l)
{
    size_t n = 0;
    for (size_t i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&l->shards[i].lock);
        n += l->shards[i].n;
        pthread_mutex_unlock(&l->shards[i].lock);
    }
    return n;
}
