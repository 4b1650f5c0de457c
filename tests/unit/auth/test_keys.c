#include "tests/unit/auth/test_keys.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void test_b64url(const void *data, size_t n, char *out, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = data;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = abc[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = abc[v & 63];
    }
    out[o] = '\0';
}

test_key test_key_new(int bits)
{
    test_key k;
    if (bits == 0) {
        k.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        k.alg = "ES256";
    } else {
        k.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
        k.alg = "RS256";
    }
    if (k.pkey == NULL)
        abort();
    return k;
}

void test_key_free(test_key *k)
{
    EVP_PKEY_free(k->pkey);
}

static void bn_b64(EVP_PKEY *pkey, const char *name, char *out, size_t len)
{
    BIGNUM *bn = NULL;
    EVP_PKEY_get_bn_param(pkey, name, &bn);
    unsigned char buf[1024];
    int n = BN_bn2bin(bn, buf);
    test_b64url(buf, (size_t)n, out, len);
    BN_free(bn);
}

void test_key_jwk(const test_key *k, const char *kid, int with_alg, char *out, size_t len)
{
    char alg[32] = "";
    if (with_alg)
        snprintf(alg, sizeof alg, ",\"alg\":\"%s\"", k->alg);
    if (strcmp(k->alg, "RS256") == 0) {
        char n[1024], e[32];
        bn_b64(k->pkey, OSSL_PKEY_PARAM_RSA_N, n, sizeof n);
        bn_b64(k->pkey, OSSL_PKEY_PARAM_RSA_E, e, sizeof e);
        snprintf(out, len, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\"%s}", kid, n, e,
                 alg);
        return;
    }
    unsigned char pub[65];
    size_t pub_len = 0;
    EVP_PKEY_set_utf8_string_param(k->pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "uncompressed");
    EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub, &pub_len);
    char x[64], y[64];
    test_b64url(pub + 1, 32, x, sizeof x);
    test_b64url(pub + 33, 32, y, sizeof y);
    snprintf(out, len, "{\"kty\":\"EC\",\"kid\":\"%s\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"%s}", kid, x, y, alg);
}

void test_token(const test_key *k, const char *header_json, const char *claims_json, char *out, size_t len)
{
    char h[4096], c[16384];
    test_b64url(header_json, strlen(header_json), h, sizeof h);
    test_b64url(claims_json, strlen(claims_json), c, sizeof c);
    int n = snprintf(out, len, "%s.%s.", h, c);
    if (k == NULL)
        return;
    unsigned char sig[1024];
    size_t sig_len = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k->pkey);
    EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)out, (size_t)n - 1);
    EVP_MD_CTX_free(ctx);
    if (strcmp(k->alg, "ES256") == 0) { /* DER -> r || s (RFC 7518 §3.4) */
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
        unsigned char raw[64];
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
        ECDSA_SIG_free(es);
        memcpy(sig, raw, 64);
        sig_len = 64;
    }
    test_b64url(sig, sig_len, out + n, len - (size_t)n);
}
