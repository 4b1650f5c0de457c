/* A JSON Web Key Set (RFC 7517) of signature verification keys, parsed once into OpenSSL keys.
 *
 * Only asymmetric signing keys are kept, each bound to the one algorithm it can verify (RFC 8725
 * §3.1, "bind each key to one algorithm and key type"): kty RSA (modulus >= 2048 bits) to RS256,
 * kty EC with crv P-256 to ES256. A key's own `alg` must be that algorithm when present, and its
 * `use` must be "sig" when present. Keys of any other type (symmetric "oct" keys included), keys
 * without a kid and duplicate kids are skipped (the first wins), so no token can select them.
 *
 * A pz_jwks is immutable and reference-counted: any thread. */
#ifndef PZ_AUTH_JWKS_H
#define PZ_AUTH_JWKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/config.h"

/* Limits of a key set document: a real one holds a handful of keys in a few KB. */
#define PZ_JWKS_MAX_BYTES (256u * 1024)
#define PZ_JWKS_MAX_KEYS 64
#define PZ_JWKS_MIN_RSA_BITS 2048

typedef struct pz_jwk {
    const char *kid;
    pz_jwt_alg alg;
    void *pkey; /* EVP_PKEY * */
} pz_jwk;

typedef struct pz_jwks pz_jwks;

/* Parses a JWKS document. Returns a key set with one reference (it may hold no usable key), or NULL
 * with a reason in err (not JSON, no "keys" array, too large, too many keys). */
pz_jwks *pz_jwks_parse(const char *json, size_t len, char *err, size_t errlen);
pz_jwks *pz_jwks_ref(pz_jwks *s);
void pz_jwks_unref(pz_jwks *s);

/* The revision its source gave it (jwks_source.h): tokens verified under one revision are
 * remembered only for it. Set before the set is shared. */
uint64_t pz_jwks_revision(const pz_jwks *s);
void pz_jwks_set_revision(pz_jwks *s, uint64_t revision);

/* The key with that kid, or NULL. */
const pz_jwk *pz_jwks_find(const pz_jwks *s, const char *kid);
size_t pz_jwks_count(const pz_jwks *s);
/* Whether every key of `old` is in `now` with the same algorithm and key material: when it is
 * not, tokens verified with a key that left must be verified again. */
bool pz_jwks_keeps(const pz_jwks *now, const pz_jwks *old);

#endif
