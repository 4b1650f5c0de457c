/* Token-bucket rate limits keyed by a string (an API key's name, a token's issuer and subject, a
 * client address): each key's bucket starts full with `burst` tokens, gains `per_second` tokens a
 * second up to `burst`, and each admitted request takes one.
 *
 * Memory is bounded: at most `capacity` buckets; past it the least recently used bucket is dropped
 * (a bucket untouched long enough to be the oldest is refilled anyway unless the limiter is being
 * flooded with distinct keys, which a per-address limit bounds). Time is a parameter. Any thread:
 * sharded, a mutex per shard. */
#ifndef PZ_AUTH_RATE_LIMIT_H
#define PZ_AUTH_RATE_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/config.h"

/* Buckets one limiter keeps by default: about 100 bytes each. */
#define PZ_RATE_LIMIT_DEFAULT_CAPACITY 100000

typedef struct pz_rate_limiter pz_rate_limiter;

/* capacity 0: PZ_RATE_LIMIT_DEFAULT_CAPACITY. Never NULL. */
pz_rate_limiter *pz_rate_limiter_create(size_t capacity);
void pz_rate_limiter_destroy(pz_rate_limiter *l);

/* Takes a token from key's bucket under `limit` (per_second 0 admits everything). Returns true when
 * admitted; false with *retry_after_ms, the time until a token will be there. */
bool pz_rate_limiter_take(pz_rate_limiter *l, const char *key, size_t key_len, const pz_rate_limit *limit,
                          int64_t now_ms, int64_t *retry_after_ms);

/* Buckets held now (tests, stats). */
size_t pz_rate_limiter_size(pz_rate_limiter *l);

#endif
