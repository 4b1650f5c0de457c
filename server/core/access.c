#include "server/core/access.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define API_KEY_HEADER "x-api-key"
#define AUTHORIZATION_HEADER "authorization"
static const char BEARER[] = "Bearer";
#define BEARER_LEN (sizeof BEARER - 1)

/* ---- authentication ---- */

/* The challenges a 401 under policy carries, one per scheme it accepts (RFC 9110 §11.6.1; RFC 6750
 * §3 for Bearer). `bad_token`: the request sent a token that failed. */
static const char *challenges(const pz_auth_policy *policy, bool bad_token, pz_arena *arena)
{
    const char *bearer = policy->jwt == NULL ? NULL
                         : bad_token         ? "Bearer realm=\"" PZ_AUTH_REALM "\", error=\"invalid_token\""
                                             : "Bearer realm=\"" PZ_AUTH_REALM "\"";
    const char *api_key = policy->api_key_scheme ? "ApiKey realm=\"" PZ_AUTH_REALM "\"" : NULL;
    if (bearer != NULL && api_key != NULL)
        return pz_arena_printf(arena, "%s, %s", bearer, api_key);
    return bearer != NULL ? bearer : api_key;
}

/* "key:NAME" or "token:SUBJECT" for the access log; built without printf (every request). */
static const char *principal_label(const pz_principal *p, pz_arena *arena)
{
    const char *prefix = p->kind == PZ_PRINCIPAL_API_KEY ? "key:" : "token:";
    size_t np = strlen(prefix), nn = strlen(p->name);
    char *out = pz_arena_alloc(arena, np + nn + 1);
    memcpy(out, prefix, np);
    memcpy(out + np, p->name, nn + 1);
    return out;
}

static void finish(pz_access_check *check, const pz_error *err)
{
    pz_request *req = check->req;
    if (err != NULL && err->status == PZ_UNAUTHENTICATED)
        req->hints.www_authenticate =
            challenges(check->call.policy, check->call.credential_kind == PZ_CREDENTIAL_BEARER, req->arena);
    else if (err != NULL && err->status == PZ_RESOURCE_EXHAUSTED)
        req->hints.retry_after =
            pz_arena_printf(req->arena, "%d", check->call.retry_after_s > 0 ? check->call.retry_after_s : 1);
    if (err == NULL && check->call.principal.kind != PZ_PRINCIPAL_ANONYMOUS)
        req->principal = principal_label(&check->call.principal, req->arena);
    check->done(check, err);
}

static void authenticated(pz_auth_call *call, const pz_error *err)
{
    finish((pz_access_check *)call, err);
}

static void refuse(pz_access_check *check, const char *code, const char *message)
{
    pz_error err = {PZ_UNAUTHENTICATED, PZ_ERRTYPE_AUTHENTICATION, code, message};
    finish(check, &err);
}

/* The token of an `authorization: Bearer <token>` value (scheme case-insensitive, RFC 9110 §11.1),
 * or NULL when the value uses another scheme or has no token. */
static const char *bearer_token(const pz_header *h, size_t *len)
{
    if (h->value_len <= BEARER_LEN || strncasecmp(h->value, BEARER, BEARER_LEN) != 0 || h->value[BEARER_LEN] != ' ')
        return NULL;
    const char *p = h->value + BEARER_LEN, *end = h->value + h->value_len;
    while (p < end && *p == ' ')
        p++;
    while (end > p && end[-1] == ' ')
        end--;
    *len = (size_t)(end - p);
    return *len > 0 ? p : NULL;
}

/* Picks the credential the policy accepts; false after refusing the request. */
static bool pick_credential(pz_access_check *check, const pz_request *req, const pz_auth_policy *policy)
{
    pz_auth_call *call = &check->call;
    const pz_header *key = pz_headers_find(req->headers, req->n_headers, API_KEY_HEADER);
    const pz_header *auth = pz_headers_find(req->headers, req->n_headers, AUTHORIZATION_HEADER);
    if (key != NULL && auth != NULL) {
        refuse(check, "AmbiguousCredentials", "send one credential: X-Api-Key or Authorization, not both");
        return false;
    }
    if (key != NULL) {
        if (!policy->api_key_scheme) {
            refuse(check, "UnsupportedCredentials", "API keys are not accepted here; send Authorization: Bearer");
            return false;
        }
        if (key->value_len == 0) {
            refuse(check, "InvalidApiKey", "the X-Api-Key header is empty");
            return false;
        }
        call->credential_kind = PZ_CREDENTIAL_API_KEY;
        call->credential = key->value;
        call->credential_len = key->value_len;
        return true;
    }
    if (auth != NULL) {
        size_t len = 0;
        const char *token = bearer_token(auth, &len);
        if (token == NULL) {
            refuse(check, "InvalidAuthorizationHeader", "expected Authorization: Bearer followed by a token");
            return false;
        }
        if (policy->jwt == NULL) {
            refuse(check, "UnsupportedCredentials", "bearer tokens are not accepted here; send X-Api-Key");
            return false;
        }
        call->credential_kind = PZ_CREDENTIAL_BEARER;
        call->credential = token;
        call->credential_len = len;
        return true;
    }
    refuse(check, "MissingCredentials",
           policy->jwt != NULL && policy->api_key_scheme ? "credentials are required: send X-Api-Key or "
                                                           "Authorization: Bearer"
           : policy->jwt != NULL                         ? "credentials are required: send Authorization: Bearer"
                                                         : "credentials are required: send X-Api-Key");
    return false;
}

bool pz_access_needed(const pz_auth_policy *policy)
{
    return policy->enabled || policy->per_client_address.per_second > 0;
}

void pz_access_authenticate(const pz_authenticator *port, pz_access_check *check, pz_request *req,
                            const pz_auth_policy *policy, pz_access_done_fn done, void *done_ctx)
{
    *check = (pz_access_check){.call = {.policy = policy,
                                        .client_addr = pz_request_client_addr(req),
                                        .now_ms = req->received_ms,
                                        .arena = req->arena,
                                        .done = authenticated,
                                        .done_ctx = check},
                               .req = req,
                               .done = done,
                               .done_ctx = done_ctx};
    if (!pz_access_needed(policy) || port == NULL || port->authenticate == NULL) {
        if (policy->enabled) /* a wiring mistake must not open the door */
            refuse(check, "AuthenticationUnavailable", "authentication is configured but not available");
        else
            finish(check, NULL);
        return;
    }
    if (policy->enabled && !pick_credential(check, req, policy))
        return;
    port->authenticate(port->self, &check->call);
}

/* ---- authorization ---- */

#define DENY(err, arena, code, ...)                                                                                    \
    pz_error_setf(err, arena, PZ_PERMISSION_DENIED, PZ_ERRTYPE_AUTHORIZATION, code, __VA_ARGS__)

static bool key_allows_namespace(const pz_api_key *key, const char *ns)
{
    if (ns == NULL || key->all_namespaces)
        return true;
    for (size_t i = 0; i < key->n_namespaces; i++)
        if (strcmp(key->namespaces[i], ns) == 0)
            return true;
    return false;
}

static bool token_has_scope(const pz_principal *p, const pz_jwt_policy *jwt, pz_access access)
{
    for (size_t i = 0; i < jwt->n_required_scopes[access]; i++)
        for (size_t k = 0; k < p->n_scopes; k++)
            if (strcmp(jwt->required_scopes[access][i], p->scopes[k]) == 0)
                return true;
    return false;
}

pz_status pz_access_authorize(const pz_principal *principal, const pz_auth_policy *policy, pz_access access,
                              const char *ns, const char *user_id, pz_arena *arena, pz_error *err)
{
    const char *what = pz_access_name(access);
    switch (principal->kind) {
    case PZ_PRINCIPAL_ANONYMOUS: break;
    case PZ_PRINCIPAL_API_KEY:
        if ((principal->key->scopes & PZ_ACCESS_BIT(access)) == 0)
            return DENY(err, arena, "InsufficientScope", "API key '%s' does not have the '%s' scope", principal->name,
                        what);
        if (!key_allows_namespace(principal->key, ns))
            return DENY(err, arena, "NamespaceNotAllowed", "API key '%s' may not use namespace '%s'", principal->name,
                        ns);
        break; /* backend services act for any user */
    case PZ_PRINCIPAL_TOKEN: {
        const pz_jwt_policy *jwt = policy->jwt;
        if (jwt->has_required_scopes[access] ? !token_has_scope(principal, jwt, access) : access == PZ_ACCESS_ADMIN)
            return DENY(err, arena, "InsufficientScope", "the token has no scope that grants '%s'%s", what,
                        access == PZ_ACCESS_ADMIN && !jwt->has_required_scopes[access]
                            ? " (tokens get admin access only through jwt.requiredScopes.admin)"
                            : "");
        if (principal->user_id != NULL && user_id != NULL && user_id[0] != '\0' &&
            strcmp(principal->user_id, user_id) != 0)
            return DENY(err, arena, "UserMismatch",
                        "the token acts for its own user only, not for the user named in "
                        "the request");
        break;
    }
    }
    return PZ_OK;
}
