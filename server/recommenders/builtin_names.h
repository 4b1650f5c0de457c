/* Item names by id, cached per thread (module prefix pzb_names).
 *
 * The builtin store gives every item a uint32 id once and never changes or reuses it (ids only
 * grow; nothing deletes a byid record), so the name of an id is immutable for the life of a store
 * instance and can be cached without invalidation. A miss costs an LMDB read behind the pending
 * tables' lock (about 0.3 µs); every recommend, related and history query reads up to a few dozen
 * names, mostly of the same popular items.
 *
 * Per thread, so a lookup takes no lock and shares no cache line: a direct-mapped table of
 * PZB_NAMES_SLOTS entries, allocated at the thread's first use and freed when the thread ends.
 * Entries are keyed by (store instance, id): a store opened later at the same address has a new
 * instance number (pzb_names_instance), so it never sees another store's names. Names longer than
 * PZB_NAMES_MAX_LEN bytes are not cached (the caller reads the store).
 */
#ifndef PZB_NAMES_H
#define PZB_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PZB_NAMES_SLOTS 2048 /* per thread; a power of two */
#define PZB_NAMES_MAX_LEN 50 /* an entry is 64 bytes: 2048 entries = 128 KiB per thread that reads */

/* A number no other store instance of this process has (never 0). */
uint64_t pzb_names_instance(void);

/* The cached name of `id` in store `instance`: a pointer into this thread's table, valid until
 * this thread's next pzb_names_put. False when not cached. */
bool pzb_names_get(uint64_t instance, uint32_t id, const char **name, size_t *len);

/* Caches the name of `id` (nothing when longer than PZB_NAMES_MAX_LEN, or out of memory). */
void pzb_names_put(uint64_t instance, uint32_t id, const char *name, size_t len);

#endif
