/* JSON Web Token verification (RFC 7519) for bearer tokens, following RFC 8725:
 *
 *   pz_jwt_decode            splits and decodes a compact JWS; the algorithm comes from the policy's
 *                            allowlist (RS256/ES256 only: `none` and HMAC are refused whatever the
 *                            header says), a kid is required, `crit` is refused (we understand no
 *                            extension);
 *   pz_jwt_verify_signature  verifies with the key its kid selects, which must be bound to the same
 *                            algorithm (jwks.h): no RS256 key can verify an HS256 or ES256 token;
 *   pz_jwt_check_claims      iss (exact), exp (required), nbf and iat with the policy's leeway,
 *                            aud, client_id, token_use, the subject and the userIdClaim, scopes.
 *
 * Signatures are verified by OpenSSL (EVP_DigestVerify); nothing here does signature math. Errors
 * are PZ_UNAUTHENTICATED with a code and a fixed message: nothing of the token is ever quoted.
 * Pure functions of their inputs (time is a parameter): any thread. */
#ifndef PZ_AUTH_JWT_H
#define PZ_AUTH_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/auth/jwks.h"
#include "server/core/config.h"
#include "server/core/mem.h"
#include "server/core/status.h"

/* Tokens longer than this are refused before any work: Cognito's are about 1 KB. */
#define PZ_JWT_MAX_BYTES 8192
/* Scopes kept from one token (more are an error). */
#define PZ_JWT_MAX_SCOPES 64

typedef struct pz_jwt {
    pz_jwt_alg alg;
    const char *kid;
    const char *signing_input; /* header.payload, as sent (points into the token) */
    size_t signing_input_len;
    const unsigned char *signature;
    size_t signature_len;
    const char *payload; /* decoded JSON claims */
    size_t payload_len;
} pz_jwt;

/* What a verified token says that the server uses. Arena-owned. */
typedef struct pz_jwt_claims {
    const char *subject; /* `sub`, else `client_id` (machine-to-machine tokens) */
    const char *user_id; /* the policy's userIdClaim, NULL when it has none */
    const char **scopes;
    size_t n_scopes;
    int64_t expires_ms;    /* exp */
    int64_t not_before_ms; /* nbf, 0 without one */
} pz_jwt_claims;

/* Returns true with *out, or false with *err (PZ_UNAUTHENTICATED). */
bool pz_jwt_decode(const char *token, size_t len, unsigned allowed_algorithms, pz_arena *arena, pz_jwt *out,
                   pz_error *err);
bool pz_jwt_verify_signature(const pz_jwt *t, const pz_jwk *key, pz_error *err);
bool pz_jwt_check_claims(const pz_jwt *t, const pz_jwt_policy *policy, int64_t now_ms, pz_arena *arena,
                         pz_jwt_claims *out, pz_error *err);
/* Whether claims remembered from a verified token are still within their validity at now_ms. */
bool pz_jwt_claims_current(const pz_jwt_claims *c, int leeway_seconds, int64_t now_ms);

#endif
