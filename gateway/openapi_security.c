/* The document's authentication (openapi_internal.h): components.securitySchemes for the schemes
 * the configuration accepts anywhere, and each operation's `security` from the policy that governs
 * it (server/core/access.h enforces the same policies; README "Authentication and abuse limits"). */
#include <stddef.h>

#include "gateway/openapi_internal.h"

static bool accepts_api_key(const pz_auth_policy *p)
{
    return p->api_key_scheme;
}

static bool accepts_jwt(const pz_auth_policy *p)
{
    return p->jwt != NULL;
}

/* One row per scheme the server verifies, in the order a requirement lists them (either one is
 * enough, so each is an alternative). `fields`: the scheme object's members besides description. */
static const struct {
    const char *name;
    bool (*accepts)(const pz_auth_policy *p);
    const char *fields[3][2];
    const char *description;
} SCHEMES[] = {
    {"apiKey",
     accepts_api_key,
     {{"type", "apiKey"}, {"in", "header"}, {"name", "x-api-key"}},
     "An API key (pzk_...) from the configuration's auth.apiKeys or apiKeysFile; acts for any user within its "
     "scopes and namespaces. Sending an API key and a bearer token together is refused."},
    {"bearerJwt",
     accepts_jwt,
     {{"type", "http"}, {"scheme", "bearer"}, {"bearerFormat", "JWT"}},
     "An OAuth2 access token (RS256 or ES256) from the configured issuer. Inference and events need no scope "
     "unless requiredScopes says so; admin routes need requiredScopes.admin."},
};
#define N_SCHEMES (sizeof SCHEMES / sizeof SCHEMES[0])

static bool policy_accepts(const pz_auth_policy *p, size_t scheme)
{
    return p != NULL && p->enabled && SCHEMES[scheme].accepts(p);
}

void pz_oa_security_schemes(pz_oa_gen *g, const pz_config *cfg, json_t *components)
{
    json_t *schemes = NULL;
    for (size_t s = 0; s < N_SCHEMES; s++) {
        bool used = policy_accepts(pz_config_auth(cfg), s);
        for (size_t i = 0; i < pz_config_namespace_count(cfg) && !used; i++)
            used = policy_accepts(pz_config_namespace_at(cfg, i)->auth_view, s);
        if (!used)
            continue;
        if (schemes == NULL)
            schemes = pz_oa_set(g, components, "securitySchemes", json_object());
        json_t *scheme = pz_oa_set(g, schemes, SCHEMES[s].name, json_object());
        for (size_t f = 0; f < sizeof SCHEMES[s].fields / sizeof SCHEMES[s].fields[0]; f++)
            pz_oa_set(g, scheme, SCHEMES[s].fields[f][0], pz_oa_str(SCHEMES[s].fields[f][1]));
        pz_oa_set(g, scheme, "description", pz_oa_str(SCHEMES[s].description));
    }
}

json_t *pz_oa_security(pz_oa_gen *g, const pz_auth_policy *policy)
{
    json_t *alternatives = json_array();
    for (size_t s = 0; s < N_SCHEMES; s++)
        if (policy_accepts(policy, s))
            pz_oa_push(g, alternatives, pz_oa_obj_with(g, SCHEMES[s].name, json_array()));
    return alternatives;
}
