/* Access control: the core's decisions about who may do what (spec §11 [ours]; OWASP API1, API2).
 *
 * Two steps, both driven by the auth policy of the request's namespace (pz_namespace.auth_view, or
 * the root's pz_config_auth for /admin and unknown namespaces):
 *
 *   1. pz_access_authenticate: finds the credential the request carries (x-api-key, or
 *      `authorization: Bearer <JWT>`; headers and gRPC metadata alike), refuses a missing, doubled
 *      or unusable one with 401 and hands the rest to the authenticator port
 *      (server/core/authenticator.h), which checks it and applies the rate limits. A 401 gets the
 *      policy's challenges (hints.www_authenticate), a 429 its Retry-After (hints.retry_after).
 *      With a policy that requires nothing and limits nothing it completes inline at once.
 *   2. pz_access_authorize: whether that principal may use the route class (scopes), the namespace
 *      (API keys) and act for the user ids of the request (a token bound by `userIdClaim` acts for
 *      its own user only; API keys act for any user). 403 otherwise.
 *
 * Both run before the response cache is consulted (the sequencer's `authenticate` and `authorize`
 * stages; PutEvents in service.c), so a cached response never reaches a caller who may not have
 * it. Errors keep the upstream shape and never quote the credential.
 */
#ifndef PZ_ACCESS_H
#define PZ_ACCESS_H

#include "server/core/authenticator.h"
#include "server/core/config.h"
#include "server/core/request.h"

#define PZ_ERRTYPE_AUTHENTICATION "Authentication"
#define PZ_ERRTYPE_AUTHORIZATION "Authorization"
#define PZ_ERRTYPE_THROTTLING "Throttling"

/* The realm of the challenges (RFC 9110 §11.6.1). */
#define PZ_AUTH_REALM "personalization"

typedef struct pz_access_check pz_access_check;
typedef void (*pz_access_done_fn)(pz_access_check *check, const pz_error *err);

/* One authentication in progress; the caller owns it (in the request arena) until done runs. */
struct pz_access_check {
    pz_auth_call call; /* call.principal is the outcome */
    pz_request *req;
    pz_access_done_fn done;
    void *done_ctx;
};

/* Whether a request under policy must go through pz_access_authenticate at all: false when the
 * policy requires no credential and limits nothing (then the principal is anonymous). */
bool pz_access_needed(const pz_auth_policy *policy);

/* Authenticates req under policy; calls done(check, err) exactly once, inline or on another thread:
 * err NULL (check->call.principal set, req->principal named) or the error with its hints set on
 * req. port may be NULL only for a policy that requires and limits nothing (none is needed then).
 * policy must stay valid until done runs. */
void pz_access_authenticate(const pz_authenticator *port, pz_access_check *check, pz_request *req,
                            const pz_auth_policy *policy, pz_access_done_fn done, void *done_ctx);

/* Whether principal may do `access` in namespace ns (NULL for /admin) for user_id (NULL or empty
 * when the request names no user). Returns PZ_OK, or PZ_PERMISSION_DENIED with *err. */
pz_status pz_access_authorize(const pz_principal *principal, const pz_auth_policy *policy, pz_access access,
                              const char *ns, const char *user_id, pz_arena *arena, pz_error *err);

#endif
