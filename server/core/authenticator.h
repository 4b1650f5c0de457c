/* The authenticator port: how the core asks "who sent this credential, and may they send one more
 * request now?" without knowing how API keys are stored, how tokens are verified or where signing
 * keys come from. server/auth/ implements it (key store, JWT verifier, JWKS cache, token cache,
 * rate limiters) and main.c hands it to the service; core tests hand in a fake.
 *
 * What is not here: which credential a request carries and what a principal may do (scopes per
 * route class, namespaces, the binding of a token to one user) are the core's decisions
 * (server/core/access.h).
 *
 * One call:
 *   1. the core fills a pz_auth_call (the policy of the request's namespace, the credential it
 *      found, the client address, now, the arena) and calls port.authenticate(port.self, call);
 *   2. the implementation charges the client address's rate limit, checks the credential, charges
 *      the principal's rate limit, fills `principal` and calls call->done(call, err) exactly once,
 *      inline (a known key, a remembered token) or later on another thread (a token whose signing
 *      key must be fetched first); err NULL on success, else PZ_UNAUTHENTICATED (bad or expired
 *      credential; the message never quotes it), PZ_RESOURCE_EXHAUSTED (a rate limit; retry_after_s
 *      set) or PZ_UNAVAILABLE (no signing keys could be loaded at all);
 *   3. `policy` (it points into the configuration snapshot) stays valid until done runs: the core
 *      holds its snapshot reference that long.
 */
#ifndef PZ_AUTHENTICATOR_H
#define PZ_AUTHENTICATOR_H

#include <stddef.h>
#include <stdint.h>

#include "server/core/config.h"
#include "server/core/mem.h"
#include "server/core/status.h"

typedef enum pz_credential_kind {
    PZ_CREDENTIAL_NONE = 0, /* the policy requires none: only the client address is limited */
    PZ_CREDENTIAL_API_KEY,  /* X-Api-Key / x-api-key */
    PZ_CREDENTIAL_BEARER,   /* Authorization: Bearer <JWT> */
} pz_credential_kind;

typedef enum pz_principal_kind {
    PZ_PRINCIPAL_ANONYMOUS = 0, /* the policy requires no credential */
    PZ_PRINCIPAL_API_KEY,
    PZ_PRINCIPAL_TOKEN,
} pz_principal_kind;

/* Who the call is from. Strings live in the call's arena; `key` stays valid until the arena is
 * destroyed (the implementation keeps its key set alive that long). */
typedef struct pz_principal {
    pz_principal_kind kind;
    const char *name;          /* the key's name or the token's subject: access logs, limits */
    const pz_api_key *key;     /* PZ_PRINCIPAL_API_KEY */
    const char *user_id;       /* token: the value of the policy's userIdClaim, NULL without one */
    const char *const *scopes; /* token: its `scope` (split on spaces) or `scp` */
    size_t n_scopes;
} pz_principal;

typedef struct pz_auth_call pz_auth_call;
typedef void (*pz_auth_done_fn)(pz_auth_call *call, const pz_error *err);

struct pz_auth_call {
    /* in: read-only for the implementation */
    const pz_auth_policy *policy;
    pz_credential_kind credential_kind;
    const char *credential; /* the key or the token (not NUL-terminated), NULL with NONE */
    size_t credential_len;
    const char *client_addr; /* "ip:port", "[ip6]:port" or NULL */
    int64_t now_ms;          /* wall clock: expiry, limits */
    pz_arena *arena;         /* for the principal and the error message */

    /* out */
    pz_principal principal;
    int retry_after_s; /* with PZ_RESOURCE_EXHAUSTED: when a request would be admitted */

    pz_auth_done_fn done;
    void *done_ctx; /* the core's */
};

typedef struct pz_authenticator {
    void *self;
    /* Starts the call; completes through call->done (see the top of this file). Any thread; never
     * blocks on the network or the disk. */
    void (*authenticate)(void *self, pz_auth_call *call);
    /* Shutdown: ends the work calls wait on (key fetches) within grace_ms, answering them, and
     * returns once every done has run. May be NULL when nothing can wait. */
    void (*drain)(void *self, int grace_ms);
} pz_authenticator;

#endif
