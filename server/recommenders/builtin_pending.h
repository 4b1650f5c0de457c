/* Pending writes of the builtin recommender (private to server/recommenders/builtin*.c): a hash
 * table from (database, key bytes) to the key's newest value, which the learner fills and the
 * flusher writes to LMDB in one transaction (builtin_internal.h explains the write-back design).
 *
 * Values only ever get replaced, never deleted: a table grows until it is frozen, flushed and
 * freed. A table is reference-counted so a query that started before it was flushed can keep
 * reading it. Not synchronized: the owner (builtin_store.c) serializes writers and readers with
 * its own lock; a frozen table is never written again, so readers need no lock on it.
 */
#ifndef PZ_BUILTIN_PENDING_H
#define PZ_BUILTIN_PENDING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pzb_pending pzb_pending;

/* One stored value. The entry itself may move on any put (keep `data`, not the entry); `data`
 * stays valid until the next put of the same key or the table's end. */
/* Keys this short live in the entry itself: one memory access fewer on the hot lookups (items by
 * number are 4 bytes). */
#define PZB_PENDING_INLINE_KEY 12

typedef struct pzb_pending_entry {
    uint64_t hash;
    unsigned char *key; /* inline_key when it fits */
    unsigned char *data;
    uint32_t klen, len, cap;
    uint8_t db;
    unsigned char inline_key[PZB_PENDING_INLINE_KEY];
} pzb_pending_entry;

/* A new empty table holding one reference. */
pzb_pending *pzb_pending_new(void);
pzb_pending *pzb_pending_ref(pzb_pending *p);
/* Drops a reference; the last one frees the table. NULL is fine. */
void pzb_pending_unref(pzb_pending *p);

uint64_t pzb_pending_hash(uint8_t db, const void *key, size_t klen);
/* The entry of (db, key) or NULL. `hash` is pzb_pending_hash(db, key, klen). */
const pzb_pending_entry *pzb_pending_get(const pzb_pending *p, uint8_t db, const void *key, size_t klen, uint64_t hash);
/* Sets (db, key) to len bytes of value (copied). */
void pzb_pending_put(pzb_pending *p, uint8_t db, const void *key, size_t klen, uint64_t hash, const void *value,
                     size_t len);

/* The entry of (db, key) for changing its value in place, or NULL. Valid until the next put. The
 * value buffer is aligned for any type. */
pzb_pending_entry *pzb_pending_find(pzb_pending *p, uint8_t db, const void *key, size_t klen, uint64_t hash);
/* Makes e's value len bytes long, keeping its first min(len, old length) bytes. */
void pzb_pending_resize(pzb_pending *p, pzb_pending_entry *e, size_t len);

size_t pzb_pending_count(const pzb_pending *p);
/* Memory held by the table: keys, values and bookkeeping. */
size_t pzb_pending_bytes(const pzb_pending *p);
/* The entries sorted by (db, key bytes): the order LMDB writes fastest. The array belongs to the
 * table (valid until it is freed); call once the table is frozen. */
const pzb_pending_entry *const *pzb_pending_sorted(pzb_pending *p);

#endif
