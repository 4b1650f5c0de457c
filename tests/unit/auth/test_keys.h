/* Test signing keys and tokens for the auth package's unit tests, made with OpenSSL directly (the
 * test's own minting, independent of the code under test): key pairs, their JWK text, and compact
 * JWS tokens signed over whatever header and claims a test writes. */
#ifndef PZ_TEST_AUTH_KEYS_H
#define PZ_TEST_AUTH_KEYS_H

#include <stddef.h>

typedef struct test_key {
    void *pkey;      /* EVP_PKEY *, private */
    const char *alg; /* "RS256" or "ES256" */
} test_key;

/* bits 0: a P-256 key (ES256); else an RSA key of that size (RS256). Free with test_key_free. */
test_key test_key_new(int bits);
void test_key_free(test_key *k);
/* The public JWK object text with kid (and alg when with_alg), into out. */
void test_key_jwk(const test_key *k, const char *kid, int with_alg, char *out, size_t len);
/* header.payload.signature over the given JSON texts, signed with k (or with an empty signature
 * when k is NULL), into out. */
void test_token(const test_key *k, const char *header_json, const char *claims_json, char *out, size_t len);
/* base64url without padding of data[0..n), NUL-terminated into out. */
void test_b64url(const void *data, size_t n, char *out, size_t len);

#endif
