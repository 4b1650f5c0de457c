/* SHA-256 and constant-time API key lookup, on OpenSSL libcrypto. Any thread. */
#ifndef PZ_AUTH_DIGEST_H
#define PZ_AUTH_DIGEST_H

#include <stddef.h>

#include "server/core/config.h"

/* out = SHA-256(data[0..n)). Never fails (out of memory is fatal). */
void pz_sha256(const void *data, size_t n, unsigned char out[PZ_SHA256_LEN]);

/* The key among keys[0..n) (sorted by sha256, as the configuration keeps them) whose hash is
 * `digest`, or NULL. The search narrows by the first bytes of the hashes, which tells a caller only
 * how the hash of their own guess compares with stored hashes (nothing about any key, SHA-256 being
 * preimage-resistant); the candidate is then compared in full with CRYPTO_memcmp, whose time does
 * not depend on where the bytes differ. */
const pz_api_key *pz_api_key_lookup(const pz_api_key *keys, size_t n, const unsigned char digest[PZ_SHA256_LEN]);

#endif
