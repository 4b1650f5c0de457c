#include "server/core/page_store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/clock.h"

#define N_BUCKETS 4096 /* a power of two */

/* One entry: a bucket chain link and a place in the insertion order (eviction: oldest first). */
typedef struct entry {
    uint64_t key;
    int64_t expires_ms;
    struct entry *next_in_bucket;
    struct entry *older, *newer;
    size_t bytes; /* what it counts against the budget */
    size_t len;
    char *owner;
    unsigned char data[];
} entry;

struct pz_page_store {
    pthread_mutex_t lock;
    entry *buckets[N_BUCKETS];
    entry *oldest, *newest;
    size_t max_bytes, bytes, entries;
    unsigned long long stored, evicted, expired;
    int64_t (*now_ms)(void);
};

pz_page_store *pz_page_store_create(size_t max_bytes, int64_t (*now_ms)(void))
{
    pz_page_store *s = pz_calloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->max_bytes = max_bytes;
    s->now_ms = now_ms != NULL ? now_ms : pz_now_ms;
    return s;
}

void pz_page_store_destroy(pz_page_store *s)
{
    if (s == NULL)
        return;
    for (entry *e = s->oldest, *next; e != NULL; e = next) {
        next = e->newer;
        free(e);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Unlinks e from its bucket and the order, and frees it. Under the lock. */
static void drop(pz_page_store *s, entry *e)
{
    entry **p = &s->buckets[e->key & (N_BUCKETS - 1)];
    while (*p != e)
        p = &(*p)->next_in_bucket;
    *p = e->next_in_bucket;
    if (e->older != NULL)
        e->older->newer = e->newer;
    else
        s->oldest = e->newer;
    if (e->newer != NULL)
        e->newer->older = e->older;
    else
        s->newest = e->older;
    s->bytes -= e->bytes;
    s->entries--;
    free(e);
}

static entry *find(pz_page_store *s, uint64_t key)
{
    entry *e = s->buckets[key & (N_BUCKETS - 1)];
    while (e != NULL && e->key != key)
        e = e->next_in_bucket;
    return e;
}

void pz_page_store_put(pz_page_store *s, uint64_t key, const char *owner, const void *data, size_t len, int64_t ttl_ms)
{
    size_t owner_len = strlen(owner) + 1;
    size_t bytes = sizeof(entry) + len + owner_len;
    if (bytes > s->max_bytes)
        return;
    entry *e = pz_malloc(bytes);
    *e = (entry){.key = key, .bytes = bytes, .len = len};
    memcpy(e->data, data, len);
    e->owner = (char *)e->data + len;
    memcpy(e->owner, owner, owner_len);
    pthread_mutex_lock(&s->lock);
    int64_t now = s->now_ms();
    e->expires_ms = now + ttl_ms;
    entry *old = find(s, key);
    if (old != NULL)
        drop(s, old);
    /* Expired entries go first (they are among the oldest when TTLs are alike), then the oldest
     * live ones, until the new one fits. */
    while (s->oldest != NULL && (s->oldest->expires_ms <= now || s->bytes + bytes > s->max_bytes)) {
        if (s->oldest->expires_ms <= now)
            s->expired++;
        else
            s->evicted++;
        drop(s, s->oldest);
    }
    entry **bucket = &s->buckets[key & (N_BUCKETS - 1)];
    e->next_in_bucket = *bucket;
    *bucket = e;
    e->older = s->newest;
    if (s->newest != NULL)
        s->newest->newer = e;
    else
        s->oldest = e;
    s->newest = e;
    s->bytes += bytes;
    s->entries++;
    s->stored++;
    pthread_mutex_unlock(&s->lock);
}

int pz_page_store_get(pz_page_store *s, uint64_t key, const char *owner, pz_arena *arena, const void **data,
                      size_t *len)
{
    int found = 0;
    pthread_mutex_lock(&s->lock);
    entry *e = find(s, key);
    if (e != NULL && e->expires_ms <= s->now_ms()) {
        s->expired++;
        drop(s, e);
        e = NULL;
    }
    if (e != NULL && strcmp(e->owner, owner) == 0) {
        void *copy = pz_arena_alloc(arena, e->len ? e->len : 1);
        memcpy(copy, e->data, e->len);
        *data = copy;
        *len = e->len;
        found = 1;
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

void pz_page_store_get_stats(pz_page_store *s, pz_page_store_stats *out)
{
    pthread_mutex_lock(&s->lock);
    *out = (pz_page_store_stats){s->entries, s->bytes, s->stored, s->evicted, s->expired};
    pthread_mutex_unlock(&s->lock);
}

void pz_page_token_format(uint64_t key, size_t offset, char out[PZ_PAGE_TOKEN_MAX + 1])
{
    snprintf(out, PZ_PAGE_TOKEN_MAX + 1, "p1%016" PRIx64 ".%zu", key, offset);
}

bool pz_page_token_parse(const char *token, uint64_t *key, size_t *offset)
{
    if (strncmp(token, "p1", 2) != 0 || strlen(token) > PZ_PAGE_TOKEN_MAX)
        return false;
    uint64_t k = 0;
    const char *p = token + 2;
    for (int i = 0; i < 16; i++, p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
        if (d < 0)
            return false;
        k = k << 4 | (uint64_t)d;
    }
    if (*p++ != '.' || *p == '\0')
        return false;
    size_t off = 0;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return false;
        off = off * 10 + (size_t)(*p - '0');
        if (off > 99999)
            return false;
    }
    *key = k;
    *offset = off;
    return true;
}
