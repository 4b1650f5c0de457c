/* Pending writes of the builtin recommender: an open-addressing hash table (builtin_pending.h). */
#include "server/recommenders/builtin_pending.h"

#include <stdlib.h>
#include <string.h>

#include "server/core/mem.h"

/* Bookkeeping counted per entry besides its key and value: the entry, its slot, malloc headers. */
#define ENTRY_OVERHEAD (sizeof(pzb_pending_entry) + 2 * sizeof(uint32_t) + 32)
#define FIRST_SLOTS 1024
/* A value buffer grows to this multiple of what it must hold, so a list growing by one entry per
 * event is not reallocated every time. */
#define GROWTH_NUM 5
#define GROWTH_DEN 4

struct pzb_pending {
    atomic_int refs;
    pzb_pending_entry *entries; /* in insertion order */
    size_t n, cap;
    uint32_t *slots; /* index + 1 into entries; 0 = empty */
    size_t n_slots;  /* power of two, at least twice n */
    size_t bytes;
    const pzb_pending_entry **sorted;
};

pzb_pending *pzb_pending_new(void)
{
    pzb_pending *p = pz_calloc(1, sizeof *p);
    atomic_init(&p->refs, 1);
    p->n_slots = FIRST_SLOTS;
    p->slots = pz_calloc(p->n_slots, sizeof *p->slots);
    return p;
}

pzb_pending *pzb_pending_ref(pzb_pending *p)
{
    atomic_fetch_add(&p->refs, 1);
    return p;
}

void pzb_pending_unref(pzb_pending *p)
{
    if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    for (size_t i = 0; i < p->n; i++) {
        if (p->entries[i].klen > PZB_PENDING_INLINE_KEY)
            free(p->entries[i].key);
        free(p->entries[i].data);
    }
    free(p->entries);
    free(p->slots);
    free(p->sorted);
    free(p);
}

uint64_t pzb_pending_hash(uint8_t db, const void *key, size_t klen)
{
    /* FNV-1a over the database byte and the key, then a final mix for the low bits. */
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    h = (h ^ db) * UINT64_C(0x100000001b3);
    const unsigned char *k = key;
    for (size_t i = 0; i < klen; i++)
        h = (h ^ k[i]) * UINT64_C(0x100000001b3);
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return h;
}

static size_t find_slot(const pzb_pending *p, uint8_t db, const void *key, size_t klen, uint64_t hash)
{
    size_t mask = p->n_slots - 1;
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        uint32_t at = p->slots[i];
        if (at == 0)
            return i;
        const pzb_pending_entry *e = &p->entries[at - 1];
        if (e->hash == hash && e->db == db && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return i;
    }
}

const pzb_pending_entry *pzb_pending_get(const pzb_pending *p, uint8_t db, const void *key, size_t klen, uint64_t hash)
{
    uint32_t at = p->slots[find_slot(p, db, key, klen, hash)];
    return at != 0 ? &p->entries[at - 1] : NULL;
}

static void grow_slots(pzb_pending *p)
{
    free(p->slots);
    p->n_slots *= 2;
    p->slots = pz_calloc(p->n_slots, sizeof *p->slots);
    size_t mask = p->n_slots - 1;
    for (size_t k = 0; k < p->n; k++) {
        size_t i = (size_t)p->entries[k].hash & mask;
        while (p->slots[i] != 0)
            i = (i + 1) & mask;
        p->slots[i] = (uint32_t)(k + 1);
    }
}

pzb_pending_entry *pzb_pending_find(pzb_pending *p, uint8_t db, const void *key, size_t klen, uint64_t hash)
{
    uint32_t at = p->slots[find_slot(p, db, key, klen, hash)];
    return at != 0 ? &p->entries[at - 1] : NULL;
}

void pzb_pending_resize(pzb_pending *p, pzb_pending_entry *e, size_t len)
{
    if (len > e->cap) {
        size_t cap = len * GROWTH_NUM / GROWTH_DEN + 8;
        p->bytes += cap - e->cap;
        e->data = pz_realloc(e->data, cap);
        e->cap = (uint32_t)cap;
    }
    e->len = (uint32_t)len;
}

void pzb_pending_put(pzb_pending *p, uint8_t db, const void *key, size_t klen, uint64_t hash, const void *value,
                     size_t len)
{
    size_t slot = find_slot(p, db, key, klen, hash);
    pzb_pending_entry *e;
    if (p->slots[slot] != 0) {
        e = &p->entries[p->slots[slot] - 1];
    } else {
        if (p->n == p->cap) {
            p->cap = p->cap ? p->cap * 2 : 256;
            p->entries = pz_realloc(p->entries, p->cap * sizeof *p->entries);
            for (size_t i = 0; i < p->n; i++) /* inline keys moved with their entries */
                if (p->entries[i].klen <= PZB_PENDING_INLINE_KEY)
                    p->entries[i].key = p->entries[i].inline_key;
        }
        e = &p->entries[p->n++];
        *e = (pzb_pending_entry){.hash = hash, .klen = (uint32_t)klen, .db = db};
        e->key = klen <= PZB_PENDING_INLINE_KEY ? e->inline_key : pz_malloc(klen);
        memcpy(e->key, key, klen);
        p->slots[slot] = (uint32_t)p->n;
        p->bytes += klen + ENTRY_OVERHEAD;
        if (p->n * 2 > p->n_slots)
            grow_slots(p);
    }
    if (len > e->cap) {
        size_t cap = len * GROWTH_NUM / GROWTH_DEN + 8;
        p->bytes += cap - e->cap;
        free(e->data);
        e->data = pz_malloc(cap);
        e->cap = (uint32_t)cap;
    }
    if (len > 0) /* an empty value leaves data NULL, which memcpy must not see even for 0 bytes */
        memcpy(e->data, value, len);
    e->len = (uint32_t)len;
}

size_t pzb_pending_count(const pzb_pending *p)
{
    return p->n;
}

size_t pzb_pending_bytes(const pzb_pending *p)
{
    return p->bytes + p->n_slots * sizeof *p->slots;
}

static int entry_cmp(const void *a, const void *b)
{
    const pzb_pending_entry *x = *(const pzb_pending_entry *const *)a, *y = *(const pzb_pending_entry *const *)b;
    if (x->db != y->db)
        return x->db < y->db ? -1 : 1;
    int c = memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen);
    if (c != 0)
        return c;
    return x->klen < y->klen ? -1 : x->klen > y->klen;
}

const pzb_pending_entry *const *pzb_pending_sorted(pzb_pending *p)
{
    if (p->sorted == NULL) {
        p->sorted = pz_malloc((p->n ? p->n : 1) * sizeof *p->sorted);
        for (size_t i = 0; i < p->n; i++)
            p->sorted[i] = &p->entries[i];
        qsort(p->sorted, p->n, sizeof *p->sorted, entry_cmp);
    }
    return p->sorted;
}
