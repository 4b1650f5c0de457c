#include "server/auth/jwks.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/base64.h"
#include "server/core/mem.h"

/* An uncompressed P-256 point: 0x04, then x and y of 32 bytes each (SEC 1 §2.3.3). */
#define P256_COORD 32
#define POINT_UNCOMPRESSED 0x04

struct pz_jwks {
    atomic_size_t refs;
    uint64_t revision;
    pz_jwk keys[PZ_JWKS_MAX_KEYS];
    size_t n;
};

static EVP_PKEY *rsa_key(const unsigned char *n, size_t n_len, const unsigned char *e, size_t e_len)
{
    EVP_PKEY *pkey = NULL;
    BIGNUM *bn_n = BN_bin2bn(n, (int)n_len, NULL), *bn_e = BN_bin2bn(e, (int)e_len, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (bn_n != NULL && bn_e != NULL && bld != NULL && ctx != NULL && BN_num_bits(bn_n) >= PZ_JWKS_MIN_RSA_BITS &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1 &&
        (params = OSSL_PARAM_BLD_to_param(bld)) != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return pkey;
}

static EVP_PKEY *p256_key(const unsigned char *x, size_t x_len, const unsigned char *y, size_t y_len)
{
    if (x_len != P256_COORD || y_len != P256_COORD)
        return NULL;
    unsigned char point[1 + 2 * P256_COORD];
    point[0] = POINT_UNCOMPRESSED;
    memcpy(point + 1, x, P256_COORD);
    memcpy(point + 1 + P256_COORD, y, P256_COORD);
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    if (pkey != NULL) { /* the point must lie on the curve (invalid-curve attacks) */
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (check == NULL || EVP_PKEY_public_check(check) != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
        EVP_PKEY_CTX_free(check);
    }
    return pkey;
}

/* A base64url member of a JWK, decoded into the arena; NULL when missing or malformed. */
static const unsigned char *member_bytes(json_t *jwk, const char *name, pz_arena *arena, size_t *len)
{
    json_t *v = json_object_get(jwk, name);
    if (!json_is_string(v))
        return NULL;
    return pz_base64url_decode(json_string_value(v), json_string_length(v), arena, len);
}

static const char *member_string(json_t *jwk, const char *name)
{
    json_t *v = json_object_get(jwk, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The verification key of one JWK and the algorithm it is bound to; NULL when unusable. */
static EVP_PKEY *usable_key(json_t *jwk, pz_jwt_alg *alg, pz_arena *scratch)
{
    const char *kty = member_string(jwk, "kty"), *use = member_string(jwk, "use"), *key_alg = member_string(jwk, "alg");
    if (kty == NULL || (use != NULL && strcmp(use, "sig") != 0))
        return NULL;
    size_t a_len = 0, b_len = 0;
    if (strcmp(kty, "RSA") == 0) {
        *alg = PZ_JWT_RS256;
        if (key_alg != NULL && strcmp(key_alg, "RS256") != 0)
            return NULL;
        const unsigned char *n = member_bytes(jwk, "n", scratch, &a_len), *e = member_bytes(jwk, "e", scratch, &b_len);
        return n != NULL && e != NULL ? rsa_key(n, a_len, e, b_len) : NULL;
    }
    if (strcmp(kty, "EC") == 0) {
        *alg = PZ_JWT_ES256;
        const char *crv = member_string(jwk, "crv");
        if (crv == NULL || strcmp(crv, "P-256") != 0 || (key_alg != NULL && strcmp(key_alg, "ES256") != 0))
            return NULL;
        const unsigned char *x = member_bytes(jwk, "x", scratch, &a_len), *y = member_bytes(jwk, "y", scratch, &b_len);
        return x != NULL && y != NULL ? p256_key(x, a_len, y, b_len) : NULL;
    }
    return NULL; /* "oct" (symmetric) and anything else: never usable for verification */
}

pz_jwks *pz_jwks_parse(const char *json, size_t len, char *err, size_t errlen)
{
    if (len > PZ_JWKS_MAX_BYTES) {
        snprintf(err, errlen, "the key set is larger than %u bytes", PZ_JWKS_MAX_BYTES);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    json_t *keys = root != NULL ? json_object_get(root, "keys") : NULL;
    if (!json_is_array(keys) || json_array_size(keys) > PZ_JWKS_MAX_KEYS) {
        if (root == NULL)
            snprintf(err, errlen, "not JSON: %s", jerr.text);
        else if (!json_is_array(keys))
            snprintf(err, errlen, "expected an object with a \"keys\" array");
        else
            snprintf(err, errlen, "more than %d keys", PZ_JWKS_MAX_KEYS);
        json_decref(root);
        return NULL;
    }
    pz_jwks *s = pz_calloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    pz_arena scratch;
    pz_arena_init(&scratch);
    size_t i;
    json_t *jwk;
    json_array_foreach (keys, i, jwk) {
        const char *kid = member_string(jwk, "kid");
        if (kid == NULL || pz_jwks_find(s, kid) != NULL)
            continue;
        pz_jwt_alg alg;
        EVP_PKEY *pkey = usable_key(jwk, &alg, &scratch);
        if (pkey == NULL)
            continue;
        s->keys[s->n++] = (pz_jwk){.kid = pz_strdup(kid), .alg = alg, .pkey = pkey};
    }
    pz_arena_destroy(&scratch);
    json_decref(root);
    return s;
}

pz_jwks *pz_jwks_ref(pz_jwks *s)
{
    if (s != NULL)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void pz_jwks_unref(pz_jwks *s)
{
    if (s == NULL || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free((char *)s->keys[i].kid);
        EVP_PKEY_free(s->keys[i].pkey);
    }
    free(s);
}

uint64_t pz_jwks_revision(const pz_jwks *s)
{
    return s->revision;
}

void pz_jwks_set_revision(pz_jwks *s, uint64_t revision)
{
    s->revision = revision;
}

const pz_jwk *pz_jwks_find(const pz_jwks *s, const char *kid)
{
    for (size_t i = 0; i < s->n; i++) /* a handful of keys: a scan beats any index */
        if (strcmp(s->keys[i].kid, kid) == 0)
            return &s->keys[i];
    return NULL;
}

size_t pz_jwks_count(const pz_jwks *s)
{
    return s->n;
}

bool pz_jwks_keeps(const pz_jwks *now, const pz_jwks *old)
{
    for (size_t i = 0; i < old->n; i++) {
        const pz_jwk *k = pz_jwks_find(now, old->keys[i].kid);
        if (k == NULL || k->alg != old->keys[i].alg || EVP_PKEY_eq(k->pkey, old->keys[i].pkey) != 1)
            return false;
    }
    return true;
}
