/* The page store: ranked lists kept for pagination (rules.pagination, server/core/rules.h). The
 * first page of a paginated answer stores the whole list ranked for it (a packed
 * RecommendationResponse), keyed by a 64-bit key derived from its recommendationId; later pages
 * are slices of it, so page 2 never repeats page 1 and costs no recommender call.
 *
 * An entry lives until its TTL passes or the byte budget evicts it (oldest first). Each entry
 * names its owner (namespace, recommender, subject): a key presented for another owner is refused
 * as if missing, so a token cannot read someone else's list. In-process memory, like the response
 * cache: a token is good on the process that issued it.
 *
 * Threads: every function may be called from any thread (one mutex; entries are copied in and
 * out, never shared).
 */
#ifndef PZ_PAGE_STORE_H
#define PZ_PAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/mem.h"

#define PZ_PAGE_STORE_DEFAULT_BYTES (16u << 20)

typedef struct pz_page_store pz_page_store;

/* A store of at most max_bytes (entries, owners and bookkeeping). now_ms NULL: pz_now_ms. Never
 * NULL. */
pz_page_store *pz_page_store_create(size_t max_bytes, int64_t (*now_ms)(void));
void pz_page_store_destroy(pz_page_store *s);

/* Stores a copy of data[0..len) for owner under key, replacing an entry with that key, for ttl_ms.
 * An entry larger than the budget is not stored. */
void pz_page_store_put(pz_page_store *s, uint64_t key, const char *owner, const void *data, size_t len, int64_t ttl_ms);

/* Copies the live entry of key into the arena when owner matches: returns 1 with *data, *len; 0
 * when missing, expired or another owner's. */
int pz_page_store_get(pz_page_store *s, uint64_t key, const char *owner, pz_arena *arena, const void **data,
                      size_t *len);

typedef struct pz_page_store_stats {
    size_t entries, bytes;
    unsigned long long stored, evicted, expired;
} pz_page_store_stats;

void pz_page_store_get_stats(pz_page_store *s, pz_page_store_stats *out);

/* Page tokens: "p1" + the key as 16 lowercase hex digits + "." + the offset in decimal (URL-safe,
 * at most 40 characters). */
#define PZ_PAGE_TOKEN_MAX 40
void pz_page_token_format(uint64_t key, size_t offset, char out[PZ_PAGE_TOKEN_MAX + 1]);
/* True with *key and *offset when token has that form (an offset of at most 6 digits). */
bool pz_page_token_parse(const char *token, uint64_t *key, size_t *offset);

#endif
