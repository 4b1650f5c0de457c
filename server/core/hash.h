/* A fast non-cryptographic 64-bit hash (MurmurHash64A, public domain, by Austin Appleby) for
 * cache keys and content-derived ETags. Pure; any thread. */
#ifndef PZ_HASH_H
#define PZ_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Hash of p[0..len) with the given seed. Deterministic across runs and machines (little- and
 * big-endian alike): the bytes are read as little-endian words. */
uint64_t pz_hash64(const void *p, size_t len, uint64_t seed);

#endif
