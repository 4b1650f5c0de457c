/* The authentication package: implements the core's authenticator port
 * (server/core/authenticator.h) for API keys and JWT bearer tokens, with rate limits.
 *
 *   - API keys: SHA-256 of the key sent, looked up in the policy's inline keys, then in its keys
 *     file (keys_file.h, re-read when it changes); constant-time comparison (digest.h); expiry.
 *   - Bearer tokens: a token seen before is answered from the token cache (token_cache.h) by its
 *     SHA-256; a new one is decoded and verified (jwt.h) with a key from the issuer's JWKS
 *     (jwks_source.h; URLs fetched through this package's own upstream engine, files read), then
 *     remembered until it expires.
 *   - Rate limits (rate_limit.h): per client address first (before any verification work), then
 *     per API key (its own `rateLimit` or the policy's perApiKey) or per token subject.
 *
 * Sources (JWKS URLs and files, keys files) are registered the first time a policy names them and
 * kept for the life of the process; a watcher thread re-reads keys files every `poll_ms` and, when
 * given the configuration holder, warms the sources of each new configuration.
 */
#ifndef PZ_AUTH_AUTH_H
#define PZ_AUTH_AUTH_H

#include <stddef.h>

#include "server/core/authenticator.h"
#include "server/core/buf.h"
#include "server/core/config.h"

/* How long a JWKS fetch may take before the tokens waiting for it are answered (503 without any
 * keys, 401 unknown kid with old ones). */
#define PZ_JWKS_FETCH_TIMEOUT_MS 5000
#define PZ_AUTH_POLL_MS_DEFAULT 1000

typedef struct pz_auth pz_auth;

typedef struct pz_auth_options {
    pz_config_holder *config;    /* optional: sources of each new configuration are loaded early */
    size_t token_cache_capacity; /* 0: PZ_TOKEN_CACHE_DEFAULT_CAPACITY */
    size_t rate_limit_capacity;  /* buckets per limiter; 0: PZ_RATE_LIMIT_DEFAULT_CAPACITY */
    int poll_ms;                 /* keys files and configuration; 0: PZ_AUTH_POLL_MS_DEFAULT */
} pz_auth_options;

/* Starts the upstream engine for JWKS URLs and the watcher thread. Never NULL. */
pz_auth *pz_auth_create(const pz_auth_options *opts);
/* Call after pz_auth_drain (or the service's shutdown, which drains through the port). */
void pz_auth_destroy(pz_auth *a);

/* The port for pz_service_options.authenticator. */
pz_authenticator pz_auth_port(pz_auth *a);

/* Ends JWKS fetches in flight (their tokens are answered) and refuses new ones. */
void pz_auth_drain(pz_auth *a, int grace_ms);

/* Registers and loads the sources `cfg`'s policies name (start-up, before the fronts open). */
void pz_auth_prepare(pz_auth *a, const pz_config *cfg);

/* Counters as JSON (GET /admin/auth/stats): verifications, cache hits, refusals by reason, rate
 * limiting, per JWKS source its keys and fetches. Names no key and quotes no credential. Returns 0
 * or -1 (cap). */
int pz_auth_stats_json(pz_auth *a, pz_buf *out);

#endif
