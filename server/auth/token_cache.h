/* Verified bearer tokens, remembered by the SHA-256 of the token until they expire, so a repeat
 * request costs a hash and a lookup instead of a signature verification (issue #15 point 3).
 *
 * An entry counts only for the policy that verified it (pz_auth_policy.fingerprint) and the
 * revision of the key set its key came from: a configuration change or a signing key that left
 * the JWKS makes the token verify again. The token itself is not kept. At most `capacity` entries;
 * past it the oldest goes. Time is a parameter. Any thread: sharded, a mutex per shard. */
#ifndef PZ_AUTH_TOKEN_CACHE_H
#define PZ_AUTH_TOKEN_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/auth/jwt.h"

/* Tokens remembered by default: a few hundred bytes each. */
#define PZ_TOKEN_CACHE_DEFAULT_CAPACITY 100000

typedef struct pz_token_cache pz_token_cache;

/* The identity of a verified token: its hash, the policy and the key set revision. */
typedef struct pz_token_key {
    unsigned char digest[PZ_SHA256_LEN];
    uint64_t policy;
    uint64_t keys_revision;
} pz_token_key;

/* capacity 0: the default. Never NULL. */
pz_token_cache *pz_token_cache_create(size_t capacity);
void pz_token_cache_destroy(pz_token_cache *c);

/* True with the remembered claims copied into arena when key is there and still valid at now_ms
 * (with leeway); an entry found expired is dropped. */
bool pz_token_cache_get(pz_token_cache *c, const pz_token_key *key, int leeway_seconds, int64_t now_ms, pz_arena *arena,
                        pz_jwt_claims *out);
/* Remembers claims (copied) under key, replacing an older entry for it. */
void pz_token_cache_put(pz_token_cache *c, const pz_token_key *key, const pz_jwt_claims *claims);
size_t pz_token_cache_size(pz_token_cache *c);

#endif
