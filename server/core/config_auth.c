/* The `auth` block (ours, spec §11) at the root and per namespace, and the keys file that holds
 * `apiKeys` outside the document: one set of rules for both. Problems never quote a key hash or
 * any other value that could be a secret. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/core/config_internal.h"
#include "server/core/hash.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Defaults of a block that configures a scheme (a block without one limits nothing unless told):
 * generous enough for a backend service or a busy browser tab, low enough that one leaked key or
 * one user cannot take the whole server. */
#define DEFAULT_PER_API_KEY_RPS 1000
#define DEFAULT_PER_SUBJECT_RPS 100
#define DEFAULT_PER_CLIENT_ADDRESS_RPS 1000
/* A bucket holds this many seconds of its rate unless `burst` says otherwise. */
#define DEFAULT_BURST_SECONDS 2
#define DEFAULT_LEEWAY_SECONDS 60
#define MAX_LEEWAY_SECONDS 600
#define DEFAULT_JWKS_MIN_REFRESH_SECONDS 60
#define DEFAULT_JWKS_MAX_AGE_SECONDS 3600
#define MAX_JWKS_SECONDS (7 * 24 * 3600)
/* More keys than that belong in a keys file or a secrets manager, not in one document. */
#define MAX_API_KEYS 10000
#define MAX_KEY_NAME_LEN 128
#define MAX_SCOPES_PER_CLASS 32

const pz_auth_policy cfg_auth_none = {0};

static const char *const ACCESS_NAMES[PZ_ACCESS__COUNT] = {"inference", "events", "admin"};

const char *pz_access_name(pz_access a)
{
    return (unsigned)a < PZ_ACCESS__COUNT ? ACCESS_NAMES[a] : "unknown";
}

/* ---- members ---- */

static const cfg_member AUTH_JWT = {.key = "jwt", .kind = CFG_OBJECT};
static const cfg_member AUTH_API_KEYS = {.key = "apiKeys", .kind = CFG_ARRAY};
static const cfg_member AUTH_API_KEYS_FILE = {.key = "apiKeysFile", .kind = CFG_STRING};
static const cfg_member AUTH_RATE_LIMITS = {.key = "rateLimits", .kind = CFG_OBJECT};
static const cfg_member *const AUTH[] = {&AUTH_JWT, &AUTH_API_KEYS, &AUTH_API_KEYS_FILE, &AUTH_RATE_LIMITS};

static const cfg_member JWT_JWKS_URL = {.key = "jwksUrl", .kind = CFG_STRING, .presence = CFG_REQUIRED_IF};
static const cfg_member JWT_JWKS_FILE = {.key = "jwksFile", .kind = CFG_STRING, .presence = CFG_REQUIRED_IF};
static const cfg_member JWT_ISSUER = {.key = "issuer", .kind = CFG_STRING, .presence = CFG_REQUIRED};
static const cfg_member JWT_AUDIENCE = {.key = "audience", .kind = CFG_STRING};
static const cfg_member JWT_CLIENT_ID = {.key = "clientId", .kind = CFG_STRING};
static const cfg_member JWT_TOKEN_USE = {.key = "tokenUse", .kind = CFG_STRING};
static const cfg_member JWT_USER_ID_CLAIM = {.key = "userIdClaim", .kind = CFG_STRING};
static const cfg_member JWT_LEEWAY = {.key = "leewaySeconds", .kind = CFG_INTEGER, .min = 0, .max = MAX_LEEWAY_SECONDS};
static const cfg_member JWT_ALGORITHMS = {.key = "algorithms", .kind = CFG_ARRAY};
static const cfg_member JWT_REQUIRED_SCOPES = {.key = "requiredScopes", .kind = CFG_OBJECT};
static const cfg_member JWT_MIN_REFRESH = {
    .key = "jwksMinRefreshSeconds", .kind = CFG_INTEGER, .min = 1, .max = MAX_JWKS_SECONDS};
static const cfg_member JWT_MAX_AGE = {
    .key = "jwksMaxAgeSeconds", .kind = CFG_INTEGER, .min = 1, .max = MAX_JWKS_SECONDS};
static const cfg_member *const JWT[] = {&JWT_JWKS_URL,   &JWT_JWKS_FILE,       &JWT_ISSUER,        &JWT_AUDIENCE,
                                        &JWT_CLIENT_ID,  &JWT_TOKEN_USE,       &JWT_USER_ID_CLAIM, &JWT_LEEWAY,
                                        &JWT_ALGORITHMS, &JWT_REQUIRED_SCOPES, &JWT_MIN_REFRESH,   &JWT_MAX_AGE};

static const cfg_member KEY_NAME = {.key = "name", .kind = CFG_STRING, .presence = CFG_REQUIRED};
static const cfg_member KEY_SHA256 = {.key = "sha256", .kind = CFG_STRING, .presence = CFG_REQUIRED};
static const cfg_member KEY_NAMESPACES = {.key = "namespaces", .kind = CFG_ARRAY, .presence = CFG_REQUIRED};
static const cfg_member KEY_SCOPES = {.key = "scopes", .kind = CFG_ARRAY, .presence = CFG_REQUIRED};
static const cfg_member KEY_EXPIRES = {.key = "expires", .kind = CFG_STRING};
static const cfg_member KEY_RATE_LIMIT = {.key = "rateLimit", .kind = CFG_OBJECT};
static const cfg_member *const API_KEY[] = {&KEY_NAME,   &KEY_SHA256,  &KEY_NAMESPACES,
                                            &KEY_SCOPES, &KEY_EXPIRES, &KEY_RATE_LIMIT};

static const cfg_member LIMITS_PER_API_KEY = {.key = "perApiKey", .kind = CFG_OBJECT};
static const cfg_member LIMITS_PER_SUBJECT = {.key = "perSubject", .kind = CFG_OBJECT};
static const cfg_member LIMITS_PER_CLIENT_ADDRESS = {.key = "perClientAddress", .kind = CFG_OBJECT};
static const cfg_member *const RATE_LIMITS[] = {&LIMITS_PER_API_KEY, &LIMITS_PER_SUBJECT, &LIMITS_PER_CLIENT_ADDRESS};

static const cfg_member LIMIT_RPS = {.key = "requestsPerSecond", .kind = CFG_NUMBER, .min = 0};
static const cfg_member LIMIT_BURST = {.key = "burst", .kind = CFG_NUMBER, .min = 1};
static const cfg_member *const RATE_LIMIT[] = {&LIMIT_RPS, &LIMIT_BURST};

static const cfg_member KEYS_FILE_API_KEYS = {.key = "apiKeys", .kind = CFG_ARRAY, .presence = CFG_REQUIRED};
static const cfg_member *const KEYS_FILE[] = {&KEYS_FILE_API_KEYS};

static const cfg_name_value ALGORITHMS[] = {{"RS256", PZ_JWT_RS256}, {"ES256", PZ_JWT_ES256}};
static const cfg_name_value TOKEN_USES[] = {{"access", 0}, {"id", 1}};

/* ---- helpers ---- */

/* A non-empty array of non-empty strings, copied into the arena. Returns false after reporting. */
static bool read_string_array(cfg_ctx *c, json_t *v, const char *what, size_t max, const char *const **out,
                              size_t *n_out)
{
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > max) {
        cfg_error(c, "expected an array of 1 to %zu %s", max, what);
        return false;
    }
    const char **items = pz_arena_calloc(c->arena, json_array_size(v), sizeof *items);
    size_t i;
    json_t *item;
    bool ok = true;
    json_array_foreach (v, i, item) {
        if (!json_is_string(item) || json_string_length(item) == 0) {
            size_t mark = cfg_push_index(c, i);
            cfg_error(c, "expected a non-empty string (%s), got %s", what,
                      json_is_string(item) ? "an empty string" : cfg_type_name(item));
            cfg_pop(c, mark);
            ok = false;
            continue;
        }
        items[i] = pz_arena_strdup(c->arena, json_string_value(item));
    }
    *out = items;
    *n_out = json_array_size(v);
    return ok;
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)tolower((unsigned char)ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static bool parse_sha256_hex(const char *s, unsigned char out[PZ_SHA256_LEN])
{
    if (strlen(s) != 2 * PZ_SHA256_LEN)
        return false;
    for (size_t i = 0; i < PZ_SHA256_LEN; i++) {
        int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
static bool parse_rfc3339(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    int consumed = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &consumed) != 6 ||
        consumed != 19)
        return false;
    const char *p = s + consumed;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, n = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 || om > 59)
            return false;
        offset_min = (*p == '-' ? -1 : 1) * (oh * 60 + om);
        p += 6;
    } else {
        return false;
    }
    if (*p != '\0' || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - (int64_t)offset_min * 60) * 1000;
    return true;
}

/* Key names show up in logs and limit keys: plain tokens only. */
static bool is_key_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= MAX_KEY_NAME_LEN &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
                     "@:") == n;
}

static bool is_cognito_issuer(const char *iss)
{
    static const char prefix[] = "https://cognito-idp.";
    return strncmp(iss, prefix, sizeof prefix - 1) == 0 && strstr(iss, ".amazonaws.com/") != NULL;
}

/* ---- rate limits ---- */

/* A limit: {"requestsPerSecond": r, "burst": b} (r 0 turns it off; b defaults to 2 s of r), or null
 * (off). Returns whether the key was present. */
static bool parse_rate_limit(cfg_ctx *c, json_t *obj, const cfg_member *m, pz_rate_limit *out)
{
    json_t *v = cfg_get(obj, m);
    if (v == NULL)
        return false;
    size_t mark = cfg_push_key(c, m->key);
    *out = (pz_rate_limit){0};
    if (!json_is_null(v) && cfg_expect_object(c, v, "a rate limit {\"requestsPerSecond\": r, \"burst\"?: b} or null")) {
        cfg_check_members(c, v, RATE_LIMIT, COUNT(RATE_LIMIT), 0, true, "a rate limit");
        if (cfg_get(v, &LIMIT_RPS) == NULL)
            cfg_error_at(c, LIMIT_RPS.key, "required key is missing; expected a number >= 0 (0 turns the limit off)");
        cfg_number(c, v, &LIMIT_RPS, &out->per_second);
        if (!cfg_number(c, v, &LIMIT_BURST, &out->burst))
            out->burst = out->per_second * DEFAULT_BURST_SECONDS;
        if (out->burst < 1)
            out->burst = 1;
    }
    cfg_pop(c, mark);
    return true;
}

static pz_rate_limit default_limit(double rps, bool enabled)
{
    return enabled ? (pz_rate_limit){rps, rps * DEFAULT_BURST_SECONDS} : (pz_rate_limit){0};
}

static void parse_rate_limits(cfg_ctx *c, json_t *v, pz_auth_policy *p)
{
    p->per_api_key = default_limit(DEFAULT_PER_API_KEY_RPS, p->enabled);
    p->per_subject = default_limit(DEFAULT_PER_SUBJECT_RPS, p->enabled);
    p->per_client_address = default_limit(DEFAULT_PER_CLIENT_ADDRESS_RPS, p->enabled);
    if (v == NULL)
        return;
    size_t mark = cfg_push_key(c, AUTH_RATE_LIMITS.key);
    if (cfg_expect_object(c, v, "rate limits {\"perApiKey\", \"perSubject\", \"perClientAddress\"}")) {
        cfg_check_members(c, v, RATE_LIMITS, COUNT(RATE_LIMITS), 0, true, "rateLimits");
        parse_rate_limit(c, v, &LIMITS_PER_API_KEY, &p->per_api_key);
        parse_rate_limit(c, v, &LIMITS_PER_SUBJECT, &p->per_subject);
        parse_rate_limit(c, v, &LIMITS_PER_CLIENT_ADDRESS, &p->per_client_address);
    }
    cfg_pop(c, mark);
}

/* ---- API keys ---- */

static void parse_key_scopes(cfg_ctx *c, json_t *v, pz_api_key *k)
{
    size_t mark = cfg_push_key(c, KEY_SCOPES.key);
    const char *const *names;
    size_t n;
    if (read_string_array(c, v, "scope names: inference, events, admin", PZ_ACCESS__COUNT * 4, &names, &n)) {
        for (size_t i = 0; i < n; i++) {
            int found = -1;
            for (int a = 0; a < PZ_ACCESS__COUNT; a++)
                if (strcmp(names[i], ACCESS_NAMES[a]) == 0)
                    found = a;
            if (found < 0) {
                size_t i_mark = cfg_push_index(c, i);
                cfg_error(c, "unknown scope \"%.40s\"; expected inference, events or admin", names[i]);
                cfg_pop(c, i_mark);
            } else {
                k->scopes |= PZ_ACCESS_BIT(found);
            }
        }
    }
    cfg_pop(c, mark);
}

static void parse_api_key(cfg_ctx *c, json_t *v, bool strict, pz_api_key *k)
{
    if (!cfg_expect_object(c, v, "an API key {\"name\", \"sha256\", \"namespaces\", \"scopes\", ...}"))
        return;
    cfg_check_members(c, v, API_KEY, COUNT(API_KEY), 0, strict, "an API key");
    k->name = cfg_string(c, v, &KEY_NAME, "the key's name (shown in logs)");
    if (k->name != NULL && !is_key_name(k->name))
        cfg_error_at(c, KEY_NAME.key, "expected 1 to %d letters, digits and . _ - @ :", MAX_KEY_NAME_LEN);
    const char *hash = cfg_string(c, v, &KEY_SHA256, "the SHA-256 of the key, 64 hex digits");
    if (hash != NULL && !parse_sha256_hex(hash, k->sha256))
        cfg_error_at(c, KEY_SHA256.key,
                     "expected the SHA-256 of the key as 64 hex digits (personalization-server create-api-key "
                     "prints it)");
    json_t *ns = cfg_get(v, &KEY_NAMESPACES);
    size_t mark = cfg_push_key(c, KEY_NAMESPACES.key);
    if (ns == NULL) {
        cfg_error(c, "required key is missing; expected an array of namespace names, or [\"*\"] for all");
    } else if (read_string_array(c, ns, "namespace names, or \"*\" for all", MAX_API_KEYS, &k->namespaces,
                                 &k->n_namespaces)) {
        for (size_t i = 0; i < k->n_namespaces; i++)
            k->all_namespaces = k->all_namespaces || strcmp(k->namespaces[i], "*") == 0;
    }
    cfg_pop(c, mark);
    json_t *scopes = cfg_get(v, &KEY_SCOPES);
    if (scopes == NULL)
        cfg_error_at(c, KEY_SCOPES.key, "required key is missing; expected an array of inference, events, admin");
    else
        parse_key_scopes(c, scopes, k);
    const char *expires = cfg_string(c, v, &KEY_EXPIRES, NULL);
    if (expires != NULL && !parse_rfc3339(expires, &k->expires_ms))
        cfg_error_at(c, KEY_EXPIRES.key, "\"%.40s\" is not an RFC 3339 date-time such as 2027-01-01T00:00:00Z",
                     expires);
    k->has_rate_limit = parse_rate_limit(c, v, &KEY_RATE_LIMIT, &k->rate_limit);
}

static int compare_key_hashes(const void *a, const void *b)
{
    return memcmp(((const pz_api_key *)a)->sha256, ((const pz_api_key *)b)->sha256, PZ_SHA256_LEN);
}

/* Parses an array of API keys; names and keys must be unique. The result is sorted by hash (see
 * pz_auth_policy.api_keys). */
static pz_api_key *parse_api_keys(cfg_ctx *c, json_t *v, bool strict, size_t *n_out)
{
    *n_out = 0;
    if (!json_is_array(v) || json_array_size(v) > MAX_API_KEYS) {
        cfg_error(c, "expected an array of at most %d API keys, got %s", MAX_API_KEYS,
                  json_is_array(v) ? "more" : cfg_type_name(v));
        return NULL;
    }
    size_t n = json_array_size(v);
    pz_api_key *keys = pz_arena_calloc(c->arena, n ? n : 1, sizeof *keys);
    size_t i;
    json_t *item;
    json_array_foreach (v, i, item) {
        size_t mark = cfg_push_index(c, i);
        parse_api_key(c, item, strict, &keys[i]);
        for (size_t k = 0; k < i; k++)
            if (keys[i].name != NULL && keys[k].name != NULL && strcmp(keys[i].name, keys[k].name) == 0)
                cfg_error_at(c, KEY_NAME.key, "duplicate key name \"%.80s\" (also at index %zu)", keys[i].name, k);
        cfg_pop(c, mark);
    }
    qsort(keys, n, sizeof *keys, compare_key_hashes);
    for (size_t k = 1; k < n; k++)
        if (keys[k].name != NULL && keys[k - 1].name != NULL && compare_key_hashes(&keys[k - 1], &keys[k]) == 0)
            cfg_error(c, "keys \"%.80s\" and \"%.80s\" have the same sha256: each key must be different",
                      keys[k - 1].name, keys[k].name);
    *n_out = n;
    return keys;
}

/* ---- JWT ---- */

static void parse_algorithms(cfg_ctx *c, json_t *v, pz_jwt_policy *j)
{
    j->algorithms = (1u << PZ_JWT_RS256) | (1u << PZ_JWT_ES256);
    if (v == NULL)
        return;
    size_t mark = cfg_push_key(c, JWT_ALGORITHMS.key);
    const char *const *names;
    size_t n;
    if (read_string_array(c, v, "JWS algorithms: RS256, ES256", COUNT(ALGORITHMS) * 2, &names, &n)) {
        j->algorithms = 0;
        for (size_t i = 0; i < n; i++) {
            int found = -1;
            for (size_t a = 0; a < COUNT(ALGORITHMS); a++)
                if (strcmp(names[i], ALGORITHMS[a].name) == 0)
                    found = ALGORITHMS[a].value;
            size_t i_mark = cfg_push_index(c, i);
            if (found < 0)
                cfg_error(c,
                          "algorithm \"%.20s\" is not allowed; expected RS256 or ES256 (asymmetric only: 'none' and "
                          "HMAC would let anyone holding the public keys mint tokens, RFC 8725 §2.1)",
                          names[i]);
            else
                j->algorithms |= 1u << found;
            cfg_pop(c, i_mark);
        }
    }
    cfg_pop(c, mark);
}

static void parse_required_scopes(cfg_ctx *c, json_t *v, pz_jwt_policy *j)
{
    if (v == NULL)
        return;
    size_t mark = cfg_push_key(c, JWT_REQUIRED_SCOPES.key);
    if (cfg_expect_object(c, v, "required scopes keyed by route class (inference, events, admin)")) {
        const char *key;
        json_t *list;
        json_object_foreach (v, key, list) {
            size_t k_mark = cfg_push_key(c, key);
            int found = -1;
            for (int a = 0; a < PZ_ACCESS__COUNT; a++)
                if (strcmp(key, ACCESS_NAMES[a]) == 0)
                    found = a;
            if (found < 0)
                cfg_error(c, "unknown route class; expected inference, events or admin");
            else if (read_string_array(c, list, "scopes, any one of which grants the class", MAX_SCOPES_PER_CLASS,
                                       &j->required_scopes[found], &j->n_required_scopes[found]))
                j->has_required_scopes[found] = true;
            cfg_pop(c, k_mark);
        }
    }
    cfg_pop(c, mark);
}

static const pz_jwt_policy *parse_jwt(cfg_ctx *c, json_t *v)
{
    size_t mark = cfg_push_key(c, AUTH_JWT.key);
    pz_jwt_policy *j = NULL;
    if (cfg_expect_object(c, v, "a JWT policy {\"jwksUrl\" or \"jwksFile\", \"issuer\", ...}")) {
        j = pz_arena_calloc(c->arena, 1, sizeof *j);
        cfg_check_members(c, v, JWT, COUNT(JWT), 0, true, "a JWT policy");
        j->jwks_url = cfg_string(c, v, &JWT_JWKS_URL, NULL);
        j->jwks_file = cfg_string(c, v, &JWT_JWKS_FILE, NULL);
        if ((cfg_get(v, &JWT_JWKS_URL) == NULL) == (cfg_get(v, &JWT_JWKS_FILE) == NULL))
            cfg_error(c, "expected exactly one of \"jwksUrl\" (fetched, cached and refreshed) and \"jwksFile\"");
        if (j->jwks_url != NULL && !cfg_is_http_url(j->jwks_url))
            cfg_error_at(c, JWT_JWKS_URL.key, "expected an http:// or https:// URL with a host");
        j->issuer = cfg_string(c, v, &JWT_ISSUER, "the exact `iss` of accepted tokens");
        j->audience = cfg_string(c, v, &JWT_AUDIENCE, NULL);
        j->client_id = cfg_string(c, v, &JWT_CLIENT_ID, NULL);
        int use = cfg_enum(c, v, &JWT_TOKEN_USE, TOKEN_USES, COUNT(TOKEN_USES), "access, id");
        if (use >= 0)
            j->token_use = TOKEN_USES[use].name;
        else if (cfg_get(v, &JWT_TOKEN_USE) == NULL && j->issuer != NULL && is_cognito_issuer(j->issuer))
            j->token_use = "access"; /* what upstream's edge accepts (spec §11) */
        j->user_id_claim = cfg_string(c, v, &JWT_USER_ID_CLAIM, NULL);
        j->leeway_seconds = DEFAULT_LEEWAY_SECONDS;
        cfg_int(c, v, &JWT_LEEWAY, &j->leeway_seconds);
        parse_algorithms(c, cfg_get(v, &JWT_ALGORITHMS), j);
        parse_required_scopes(c, cfg_get(v, &JWT_REQUIRED_SCOPES), j);
        j->jwks_min_refresh_seconds = DEFAULT_JWKS_MIN_REFRESH_SECONDS;
        j->jwks_max_age_seconds = DEFAULT_JWKS_MAX_AGE_SECONDS;
        cfg_int(c, v, &JWT_MIN_REFRESH, &j->jwks_min_refresh_seconds);
        cfg_int(c, v, &JWT_MAX_AGE, &j->jwks_max_age_seconds);
    }
    cfg_pop(c, mark);
    return j;
}

/* ---- the block ---- */

static uint64_t fingerprint(json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL)
        pz_fatal("out of memory serializing the auth block");
    uint64_t h = pz_hash64(text, strlen(text), 0x61757468u);
    free(text);
    return h;
}

const pz_auth_policy *cfg_parse_auth(cfg_ctx *c, json_t *v)
{
    if (!cfg_expect_object(c, v, "an auth block {\"jwt\"?, \"apiKeys\"?, \"apiKeysFile\"?, \"rateLimits\"?}"))
        return NULL;
    cfg_check_members(c, v, AUTH, COUNT(AUTH), 0, true, "an auth block");
    pz_auth_policy *p = pz_arena_calloc(c->arena, 1, sizeof *p);
    json_t *jwt = cfg_get(v, &AUTH_JWT);
    if (jwt != NULL)
        p->jwt = parse_jwt(c, jwt);
    json_t *keys = cfg_get(v, &AUTH_API_KEYS);
    if (keys != NULL) {
        size_t mark = cfg_push_key(c, AUTH_API_KEYS.key);
        p->api_keys = parse_api_keys(c, keys, true, &p->n_api_keys);
        cfg_pop(c, mark);
    }
    p->api_keys_file = cfg_string(c, v, &AUTH_API_KEYS_FILE, NULL);
    p->api_key_scheme = keys != NULL || p->api_keys_file != NULL;
    p->enabled = p->jwt != NULL || p->api_key_scheme;
    parse_rate_limits(c, cfg_get(v, &AUTH_RATE_LIMITS), p);
    p->fingerprint = fingerprint(v);
    return p;
}

/* ---- keys files ---- */

struct pz_api_key_set {
    pz_arena arena;
    const pz_api_key *keys;
    size_t n;
};

pz_api_key_set *pz_api_key_set_parse(const char *json, size_t len, pz_config_problems *problems)
{
    pz_config_problems local;
    pz_config_problems *p = problems;
    if (p == NULL) {
        pz_config_problems_init(&local);
        p = &local;
    }
    size_t errors_before = p->n_errors;
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    pz_api_key_set *set = NULL;
    if (root == NULL) {
        cfg_problem_add(p, false, "$", "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
    } else {
        set = pz_calloc(1, sizeof *set);
        pz_arena_init(&set->arena);
        cfg_ctx ctx = {.arena = &set->arena, .problems = p, .path = "$", .path_len = 1};
        if (cfg_expect_object(&ctx, root, "a keys file {\"apiKeys\": [...]}")) {
            cfg_check_members(&ctx, root, KEYS_FILE, COUNT(KEYS_FILE), 0, true, "a keys file");
            json_t *keys = cfg_get(root, &KEYS_FILE_API_KEYS);
            size_t mark = cfg_push_key(&ctx, KEYS_FILE_API_KEYS.key);
            if (keys == NULL)
                cfg_error(&ctx, "required key is missing; expected an array of API keys");
            else
                set->keys = parse_api_keys(&ctx, keys, true, &set->n);
            cfg_pop(&ctx, mark);
        }
        json_decref(root);
        if (p->n_errors > errors_before) {
            pz_api_key_set_free(set);
            set = NULL;
        }
    }
    if (p == &local)
        pz_config_problems_free(&local);
    return set;
}

void pz_api_key_set_free(pz_api_key_set *s)
{
    if (s == NULL)
        return;
    pz_arena_destroy(&s->arena);
    free(s);
}

const pz_api_key *pz_api_key_set_keys(const pz_api_key_set *s, size_t *n)
{
    *n = s->n;
    return s->keys;
}
