#include "server/auth/jwt.h"

#include <jansson.h>
#include <math.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <string.h>

#include "server/core/access.h"
#include "server/core/base64.h"

#define MS_PER_SEC 1000
/* An ES256 signature is r and s, 32 bytes each (RFC 7518 §3.4); DER wraps them in a few bytes more. */
#define ES256_COORD 32
#define ES256_DER_MAX 80

static const char *const ALG_NAMES[PZ_JWT_ALG__COUNT] = {"RS256", "ES256"};

static bool reject(pz_error *err, const char *code, const char *message)
{
    *err = (pz_error){PZ_UNAUTHENTICATED, PZ_ERRTYPE_AUTHENTICATION, code, message};
    return false;
}

#define MALFORMED(err) reject(err, "InvalidToken", "the bearer token is not a well-formed JWT")

/* ---- decoding ---- */

static bool decode_header(const unsigned char *json, size_t len, unsigned allowed, pz_arena *arena, pz_jwt *out,
                          pz_error *err)
{
    json_t *h = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(h)) {
        json_decref(h);
        return MALFORMED(err);
    }
    json_t *alg = json_object_get(h, "alg"), *kid = json_object_get(h, "kid");
    int found = -1;
    for (int a = 0; a < PZ_JWT_ALG__COUNT; a++)
        if (json_is_string(alg) && strcmp(json_string_value(alg), ALG_NAMES[a]) == 0 && (allowed & (1u << a)))
            found = a;
    bool ok = false;
    if (found < 0)
        reject(err, "UnsupportedAlgorithm", "the token's algorithm is not one this server accepts");
    else if (!json_is_string(kid) || json_string_length(kid) == 0)
        reject(err, "InvalidToken", "the token names no signing key (kid)");
    else if (json_object_get(h, "crit") != NULL)
        reject(err, "InvalidToken", "the token requires extensions this server does not understand (crit)");
    else {
        out->alg = (pz_jwt_alg)found;
        out->kid = pz_arena_strdup(arena, json_string_value(kid));
        ok = true;
    }
    json_decref(h);
    return ok;
}

bool pz_jwt_decode(const char *token, size_t len, unsigned allowed_algorithms, pz_arena *arena, pz_jwt *out,
                   pz_error *err)
{
    if (len > PZ_JWT_MAX_BYTES)
        return reject(err, "TokenTooLarge", "the bearer token is larger than this server accepts");
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
        return MALFORMED(err);
    size_t header_len, signature_len;
    const unsigned char *header = pz_base64url_decode(token, (size_t)(dot1 - token), arena, &header_len);
    const unsigned char *payload = pz_base64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), arena, &out->payload_len);
    const unsigned char *signature =
        pz_base64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), arena, &signature_len);
    if (header == NULL || payload == NULL || signature == NULL)
        return MALFORMED(err);
    if (!decode_header(header, header_len, allowed_algorithms, arena, out, err))
        return false; /* first: an unsigned "alg":"none" token is refused for its algorithm */
    if (signature_len == 0)
        return MALFORMED(err);
    out->signing_input = token;
    out->signing_input_len = (size_t)(dot2 - token);
    out->signature = signature;
    out->signature_len = signature_len;
    out->payload = (const char *)payload;
    return true;
}

/* ---- signature ---- */

/* JWS carries ES256 as r || s; OpenSSL verifies the DER ECDSA-Sig-Value. A format conversion. */
static size_t es256_to_der(const unsigned char *raw, unsigned char *der)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, ES256_COORD, NULL), *s = BN_bin2bn(raw + ES256_COORD, ES256_COORD, NULL);
    size_t len = 0;
    if (sig != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(sig, r, s) == 1) {
        r = s = NULL; /* owned by sig now */
        unsigned char *p = der;
        int n = i2d_ECDSA_SIG(sig, &p);
        len = n > 0 ? (size_t)n : 0;
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return len;
}

bool pz_jwt_verify_signature(const pz_jwt *t, const pz_jwk *key, pz_error *err)
{
    if (key->alg != t->alg) /* a kid names a key of another type: never verify across algorithms */
        return reject(err, "InvalidSignature", "the token's signature does not verify");
    const unsigned char *sig = t->signature;
    size_t sig_len = t->signature_len;
    unsigned char der[ES256_DER_MAX];
    if (t->alg == PZ_JWT_ES256) {
        if (sig_len != 2 * ES256_COORD || (sig_len = es256_to_der(t->signature, der)) == 0)
            return reject(err, "InvalidSignature", "the token's signature does not verify");
        sig = der;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL && EVP_DigestVerifyInit_ex(ctx, NULL, "SHA256", NULL, NULL, key->pkey, NULL) == 1 &&
              EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)t->signing_input, t->signing_input_len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok || reject(err, "InvalidSignature", "the token's signature does not verify");
}

/* ---- claims ---- */

static const char *string_claim(json_t *claims, const char *name)
{
    json_t *v = json_object_get(claims, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A NumericDate claim in ms; false when absent or not a number. */
static bool time_claim(json_t *claims, const char *name, int64_t *ms)
{
    json_t *v = json_object_get(claims, name);
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || fabs(json_number_value(v)) > 1e13)
        return false;
    *ms = (int64_t)(json_number_value(v) * MS_PER_SEC);
    return true;
}

static bool audience_matches(json_t *aud, const char *expected)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), expected) == 0;
    size_t i;
    json_t *v;
    json_array_foreach (aud, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), expected) == 0)
            return true;
    return false;
}

/* `scope` (space-separated, RFC 8693 §4.2) or `scp` (an array or a string). */
static bool read_scopes(json_t *claims, pz_arena *arena, pz_jwt_claims *out)
{
    out->scopes = pz_arena_calloc(arena, PZ_JWT_MAX_SCOPES, sizeof *out->scopes);
    json_t *scp = json_object_get(claims, "scp");
    if (json_is_array(scp)) {
        size_t i;
        json_t *v;
        json_array_foreach (scp, i, v) {
            if (!json_is_string(v) || out->n_scopes == PZ_JWT_MAX_SCOPES)
                return false;
            out->scopes[out->n_scopes++] = pz_arena_strdup(arena, json_string_value(v));
        }
        return true;
    }
    const char *text = string_claim(claims, "scope");
    if (text == NULL)
        text = json_is_string(scp) ? json_string_value(scp) : "";
    for (const char *p = text; *p != '\0';) {
        size_t n = strcspn(p, " ");
        if (n > 0) {
            if (out->n_scopes == PZ_JWT_MAX_SCOPES)
                return false;
            out->scopes[out->n_scopes++] = pz_arena_strndup(arena, p, n);
        }
        p += n + (p[n] == ' ');
    }
    return true;
}

bool pz_jwt_check_claims(const pz_jwt *t, const pz_jwt_policy *policy, int64_t now_ms, pz_arena *arena,
                         pz_jwt_claims *out, pz_error *err)
{
    json_t *claims = json_loadb(t->payload, t->payload_len, JSON_REJECT_DUPLICATES, NULL);
    int64_t leeway_ms = (int64_t)policy->leeway_seconds * MS_PER_SEC, iat = 0;
    *out = (pz_jwt_claims){0};
    const char *iss = string_claim(claims, "iss"), *sub = string_claim(claims, "sub");
    const char *client_id = string_claim(claims, "client_id"), *use = string_claim(claims, "token_use");
    bool ok = false;
    if (!json_is_object(claims))
        MALFORMED(err);
    else if (iss == NULL || strcmp(iss, policy->issuer) != 0)
        reject(err, "InvalidIssuer", "the token was not issued by the issuer this server trusts");
    else if (!time_claim(claims, "exp", &out->expires_ms))
        reject(err, "InvalidToken", "the token has no expiry (exp)");
    else if (now_ms > out->expires_ms + leeway_ms)
        reject(err, "TokenExpired", "the token has expired");
    else if (json_object_get(claims, "nbf") != NULL &&
             (!time_claim(claims, "nbf", &out->not_before_ms) || out->not_before_ms > now_ms + leeway_ms))
        reject(err, "TokenNotYetValid", "the token is not valid yet (nbf)");
    else if (json_object_get(claims, "iat") != NULL && (!time_claim(claims, "iat", &iat) || iat > now_ms + leeway_ms))
        reject(err, "TokenNotYetValid", "the token was issued in the future (iat)");
    else if (policy->audience != NULL && !audience_matches(json_object_get(claims, "aud"), policy->audience))
        reject(err, "InvalidAudience", "the token is not meant for this server (aud)");
    else if (policy->client_id != NULL && (client_id == NULL || strcmp(client_id, policy->client_id) != 0))
        reject(err, "InvalidAudience", "the token was issued to another client (client_id)");
    else if (policy->token_use != NULL && (use == NULL || strcmp(use, policy->token_use) != 0))
        reject(err, "InvalidTokenUse",
               policy->token_use[0] == 'a' ? "an access token is required (token_use)"
                                           : "an ID token is required (token_use)");
    else if (sub == NULL && client_id == NULL)
        reject(err, "InvalidToken", "the token names no subject (sub)");
    else if (policy->user_id_claim != NULL &&
             ((out->user_id = string_claim(claims, policy->user_id_claim)) == NULL || out->user_id[0] == '\0'))
        reject(err, "InvalidToken", "the token does not name its user (the configured userIdClaim)");
    else if (!read_scopes(claims, arena, out))
        reject(err, "InvalidToken", "the token's scopes are malformed or too many");
    else {
        out->subject = pz_arena_strdup(arena, sub != NULL ? sub : client_id);
        out->user_id = out->user_id != NULL ? pz_arena_strdup(arena, out->user_id) : NULL;
        ok = true;
    }
    json_decref(claims);
    return ok;
}

bool pz_jwt_claims_current(const pz_jwt_claims *c, int leeway_seconds, int64_t now_ms)
{
    int64_t leeway_ms = (int64_t)leeway_seconds * MS_PER_SEC;
    return now_ms <= c->expires_ms + leeway_ms && c->not_before_ms <= now_ms + leeway_ms;
}
