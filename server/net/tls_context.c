#include "server/net/tls_context.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "server/core/mem.h"

/* OpenSSL's error strings fit in 256 bytes (ERR_error_string_n wants at least 120). */
#define OPENSSL_ERROR_MAX 256

static const unsigned char H2_ONLY[] = "\x02h2";
static const unsigned char H2_OR_HTTP1[] = "\x02h2\x08http/1.1";
const pz_tls_alpn PZ_TLS_ALPN_H2_ONLY = {H2_ONLY, sizeof H2_ONLY - 1, true};
const pz_tls_alpn PZ_TLS_ALPN_H2_OR_HTTP1 = {H2_OR_HTTP1, sizeof H2_OR_HTTP1 - 1, false};

/* Sessions resumed under mTLS must have been verified by this server (OpenSSL refuses resumption
 * without a session id context when peers are verified). */
static const unsigned char SESSION_CONTEXT[] = "personalization-server";

struct pz_tls_context {
    pz_tls_options o;
    pthread_mutex_t lock; /* guards ctx: swapped by a reload, referenced by each new connection */
    SSL_CTX *ctx;
};

/* Is `proto` (length-prefixed) in the client's list `in` (length-prefixed entries)? */
static bool offered(const unsigned char *proto, const unsigned char *in, unsigned int inlen)
{
    for (unsigned int i = 0; i < inlen;) {
        unsigned int len = in[i];
        if (len == 0 || i + 1 + len > inlen)
            return false; /* malformed: OpenSSL checks the extension, this is belt and braces */
        if (len == proto[0] && memcmp(in + i + 1, proto + 1, len) == 0)
            return true;
        i += 1 + len;
    }
    return false;
}

/* The first of the policy's protocols the client offers (server preference). */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    (void)ssl;
    const pz_tls_alpn *alpn = arg;
    for (size_t i = 0; i < alpn->wire_len; i += 1 + (size_t)alpn->wire[i]) {
        if (offered(alpn->wire + i, in, inlen)) {
            *out = alpn->wire + i + 1;
            *outlen = alpn->wire[i];
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return alpn->required ? SSL_TLSEXT_ERR_ALERT_FATAL : SSL_TLSEXT_ERR_NOACK;
}

static void openssl_error(char *err, size_t errlen, const char *what, const char *path)
{
    char ebuf[OPENSSL_ERROR_MAX];
    ERR_error_string_n(ERR_get_error(), ebuf, sizeof ebuf);
    ERR_clear_error();
    snprintf(err, errlen, "cannot load %s '%s': %s", what, path, ebuf);
}

/* Steps of building a context, in order; each returns false with err. */
static bool load_chain(SSL_CTX *ctx, const pz_tls_options *o, char *err, size_t errlen)
{
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) == 1)
        return true;
    openssl_error(err, errlen, "the TLS certificate", o->cert_file);
    return false;
}

static bool load_key(SSL_CTX *ctx, const pz_tls_options *o, char *err, size_t errlen)
{
    if (SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) == 1 && SSL_CTX_check_private_key(ctx) == 1)
        return true;
    openssl_error(err, errlen, "the TLS key (or it does not match the certificate)", o->key_file);
    return false;
}

static bool load_client_ca(SSL_CTX *ctx, const pz_tls_options *o, char *err, size_t errlen)
{
    if (o->client_ca_file == NULL)
        return true;
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->client_ca_file);
    if (SSL_CTX_load_verify_locations(ctx, o->client_ca_file, NULL) != 1 || names == NULL) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        openssl_error(err, errlen, "the client CA certificates", o->client_ca_file);
        return false;
    }
    SSL_CTX_set_client_CA_list(ctx, names); /* takes the names */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_session_id_context(ctx, SESSION_CONTEXT, sizeof SESSION_CONTEXT - 1);
    return true;
}

static SSL_CTX *build(const pz_tls_options *o, char *err, size_t errlen)
{
    static bool (*const STEPS[])(SSL_CTX *, const pz_tls_options *, char *, size_t) = {
        load_chain,
        load_key,
        load_client_ca,
    };
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        openssl_error(err, errlen, "a TLS context for", o->cert_file);
        return NULL;
    }
    for (size_t i = 0; i < sizeof STEPS / sizeof STEPS[0]; i++) {
        if (!STEPS[i](ctx, o, err, errlen)) {
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, (void *)o->alpn);
    return ctx;
}

pz_tls_context *pz_tls_context_create(const pz_tls_options *o, char *err, size_t errlen)
{
    SSL_CTX *ctx = build(o, err, errlen);
    if (ctx == NULL)
        return NULL;
    pz_tls_context *t = pz_calloc(1, sizeof *t);
    t->o = *o;
    t->ctx = ctx;
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

int pz_tls_context_reload(pz_tls_context *t, char *err, size_t errlen)
{
    SSL_CTX *next = build(&t->o, err, errlen);
    if (next == NULL)
        return -1;
    pthread_mutex_lock(&t->lock);
    SSL_CTX *old = t->ctx;
    t->ctx = next;
    pthread_mutex_unlock(&t->lock);
    SSL_CTX_free(old); /* connections still using it hold their own references */
    return 0;
}

SSL_CTX *pz_tls_context_acquire(pz_tls_context *t)
{
    pthread_mutex_lock(&t->lock);
    SSL_CTX *ctx = t->ctx;
    SSL_CTX_up_ref(ctx);
    pthread_mutex_unlock(&t->lock);
    return ctx;
}

void pz_tls_context_destroy(pz_tls_context *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

bool pz_tls_alpn_agreed(const SSL *ssl, const pz_tls_alpn *alpn)
{
    const unsigned char *proto = NULL;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl, &proto, &len);
    return !alpn->required || len > 0;
}
