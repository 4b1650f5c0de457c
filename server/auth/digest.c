#include "server/auth/digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

#include "server/core/mem.h"

/* Bytes of the hash prefix the search orders by. */
#define SEARCH_PREFIX 8

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static pthread_key_t ctx_key;

static void free_ctx(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

/* Fetched once: an implicit fetch per call (EVP_sha256) costs a lookup in the provider store. */
static void fetch_sha256(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (sha256_md == NULL || pthread_key_create(&ctx_key, free_ctx) != 0)
        pz_fatal("OpenSSL has no SHA-256");
}

void pz_sha256(const void *data, size_t n, unsigned char out[PZ_SHA256_LEN])
{
    pthread_once(&sha256_once, fetch_sha256);
    /* one context per thread, reused: allocating one per digest costs more than hashing a key */
    EVP_MD_CTX *ctx = pthread_getspecific(ctx_key);
    if (ctx == NULL) {
        ctx = EVP_MD_CTX_new();
        if (ctx == NULL || pthread_setspecific(ctx_key, ctx) != 0)
            pz_fatal("out of memory for a SHA-256 context");
    }
    unsigned int len = 0;
    if (EVP_DigestInit_ex2(ctx, sha256_md, NULL) != 1 || EVP_DigestUpdate(ctx, data, n) != 1 ||
        EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != PZ_SHA256_LEN)
        pz_fatal("SHA-256 failed");
}

const pz_api_key *pz_api_key_lookup(const pz_api_key *keys, size_t n, const unsigned char digest[PZ_SHA256_LEN])
{
    size_t lo = 0, hi = n;
    while (lo < hi) { /* the first key whose prefix is not below the digest's */
        size_t mid = lo + (hi - lo) / 2;
        if (memcmp(keys[mid].sha256, digest, SEARCH_PREFIX) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < n && memcmp(keys[i].sha256, digest, SEARCH_PREFIX) == 0; i++)
        if (CRYPTO_memcmp(keys[i].sha256, digest, PZ_SHA256_LEN) == 0)
            return &keys[i];
    return NULL;
}
