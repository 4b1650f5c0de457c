#include "tests/unit/net/tls_certs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define DAY_SECONDS (24L * 60 * 60)

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "tls_certs: %s failed\n", what);
        ERR_print_errors_fp(stderr);
        abort();
    }
}

static void write_pem(tls_certs *c, const char *name, X509 *cert, EVP_PKEY *key)
{
    char file[32];
    snprintf(file, sizeof file, "%s.pem", name);
    FILE *f = fopen(tls_certs_path(c, file), "w");
    check(f != NULL && PEM_write_X509(f, cert) == 1, "writing a certificate");
    fclose(f);
    snprintf(file, sizeof file, "%s.key", name);
    f = fopen(tls_certs_path(c, file), "w");
    check(f != NULL && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1, "writing a key");
    fclose(f);
}

/* A certificate for `cn` with a new key, signed by issuer/issuer_key (NULL: self-signed CA). */
static X509 *make_cert(const char *cn, X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY **key_out, long serial)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    check(key != NULL && x != NULL, "key generation");
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -DAY_SECONDS);
    X509_gmtime_adj(X509_getm_notAfter(x), DAY_SECONDS);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *ext =
        X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, issuer == NULL ? "CA:TRUE" : "CA:FALSE");
    check(ext != NULL && X509_add_ext(x, ext, -1) == 1, "basic constraints");
    X509_EXTENSION_free(ext);
    if (issuer != NULL) {
        ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
        check(ext != NULL && X509_add_ext(x, ext, -1) == 1, "subject alt name");
        X509_EXTENSION_free(ext);
    }
    check(X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) > 0, "signing");
    *key_out = key;
    return x;
}

void tls_certs_make(tls_certs *c)
{
    snprintf(c->dir, sizeof c->dir, "/tmp/pz-tls-certs-XXXXXX");
    check(mkdtemp(c->dir) != NULL, "mkdtemp");
    EVP_PKEY *ca_key, *other_key;
    X509 *ca = make_cert("test-ca", NULL, NULL, &ca_key, 1);
    X509 *other = make_cert("other-ca", NULL, NULL, &other_key, 2);
    write_pem(c, "ca", ca, ca_key);
    static const struct {
        const char *name;
        int by_other_ca;
    } LEAVES[] = {{"server", 0}, {"server2", 0}, {"client", 0}, {"stranger", 1}};
    for (size_t i = 0; i < sizeof LEAVES / sizeof LEAVES[0]; i++) {
        EVP_PKEY *key;
        X509 *x = make_cert(LEAVES[i].name, LEAVES[i].by_other_ca ? other : ca,
                            LEAVES[i].by_other_ca ? other_key : ca_key, &key, (long)(10 + i));
        write_pem(c, LEAVES[i].name, x, key);
        X509_free(x);
        EVP_PKEY_free(key);
    }
    X509_free(ca);
    X509_free(other);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(other_key);
}

const char *tls_certs_path(tls_certs *c, const char *name)
{
    snprintf(c->path, sizeof c->path, "%s/%s", c->dir, name);
    return c->path;
}

void tls_certs_remove(tls_certs *c)
{
    static const char *const FILES[] = {"ca.pem",       "ca.key",       "server.pem", "server.key",
                                        "server2.pem",  "server2.key",  "client.pem", "client.key",
                                        "stranger.pem", "stranger.key", "broken.pem"};
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++)
        unlink(tls_certs_path(c, FILES[i]));
    rmdir(c->dir);
}

SSL_CTX *tls_certs_client_ctx(tls_certs *c, const unsigned char *alpn, unsigned alpn_len, const char *name)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    check(ctx != NULL && SSL_CTX_load_verify_locations(ctx, tls_certs_path(c, "ca.pem"), NULL) == 1, "client CA");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (alpn != NULL)
        check(SSL_CTX_set_alpn_protos(ctx, alpn, alpn_len) == 0, "client ALPN");
    if (name != NULL) {
        char file[32];
        snprintf(file, sizeof file, "%s.pem", name);
        check(SSL_CTX_use_certificate_chain_file(ctx, tls_certs_path(c, file)) == 1, "client certificate");
        snprintf(file, sizeof file, "%s.key", name);
        check(SSL_CTX_use_PrivateKey_file(ctx, tls_certs_path(c, file), SSL_FILETYPE_PEM) == 1, "client key");
    }
    return ctx;
}

/* One step of one side: 1 done, 0 wants more, -1 failed. */
static int step(SSL *ssl)
{
    int n = SSL_do_handshake(ssl);
    if (n == 1)
        return 1;
    int e = SSL_get_error(ssl, n);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

int tls_certs_handshake(SSL *client, SSL *server)
{
    /* TLS 1.3: the client is done before the server read its Finished (and may only learn of a
     * refusal at its next read), so both sides are driven until both are done or one failed */
    int cs = 0, ss = 0;
    for (int i = 0; i < 1000 && (cs != 1 || ss != 1); i++) {
        if (cs == 0)
            cs = step(client);
        if (ss == 0)
            ss = step(server);
        if (cs < 0 || ss < 0) {
            ERR_clear_error();
            return 0;
        }
    }
    return cs == 1 && ss == 1;
}
