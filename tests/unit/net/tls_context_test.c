/* pz_tls_context with certificates made by OpenSSL in the test (tests/unit/net/tls_certs.h) and
 * real handshakes over socketpairs: the ALPN policies (h2 only: refused without h2; h2 or
 * http/1.1: falls back), mTLS (no certificate or another CA's refused), reload (new connections
 * see the new certificate, a broken file keeps the old one) and the errors at load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/net/tls_context.h"
#include "tests/unit/net/tls_certs.h"

static const unsigned char ALPN_H2[] = "\x02h2";
static const unsigned char ALPN_HTTP1[] = "\x08http/1.1";
static const unsigned char ALPN_BOTH[] = "\x08http/1.1\x02h2";

typedef struct conn {
    int fds[2];
    SSL_CTX *client_ctx;
    SSL *client, *server;
    int ok; /* the handshake finished on both sides */
} conn;

/* A handshake between a client (alpn, client certificate `cert`) and a server SSL from t. */
static void connect_to(conn *c, tls_certs *certs, pz_tls_context *t, const unsigned char *alpn, unsigned alpn_len,
                       const char *cert)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, c->fds), 0);
    c->client_ctx = tls_certs_client_ctx(certs, alpn, alpn_len, cert);
    c->client = SSL_new(c->client_ctx);
    SSL_set_fd(c->client, c->fds[0]);
    SSL_set_connect_state(c->client);
    SSL_set_tlsext_host_name(c->client, "localhost");
    SSL_CTX *server_ctx = pz_tls_context_acquire(t);
    c->server = SSL_new(server_ctx);
    SSL_CTX_free(server_ctx);
    SSL_set_fd(c->server, c->fds[1]);
    SSL_set_accept_state(c->server);
    c->ok = tls_certs_handshake(c->client, c->server);
    if (c->ok) {
        /* TLS 1.3: a client certificate the server refuses is only reported at the client's next
         * read; a round trip settles it */
        char b = 0;
        c->ok = SSL_write(c->client, "x", 1) == 1 && SSL_read(c->server, &b, 1) == 1 && b == 'x';
    }
}

static void disconnect(conn *c)
{
    SSL_free(c->client);
    SSL_free(c->server);
    SSL_CTX_free(c->client_ctx);
    close(c->fds[0]);
    close(c->fds[1]);
}

static const char *selected(SSL *ssl, char *buf, size_t len)
{
    const unsigned char *p = NULL;
    unsigned n = 0;
    SSL_get0_alpn_selected(ssl, &p, &n);
    snprintf(buf, len, "%.*s", (int)n, p != NULL ? (const char *)p : "");
    return buf;
}

static pz_tls_context *context(tls_certs *certs, const pz_tls_alpn *alpn, int mtls)
{
    static char cert[192], key[192], ca[192];
    snprintf(cert, sizeof cert, "%s", tls_certs_path(certs, "server.pem"));
    snprintf(key, sizeof key, "%s", tls_certs_path(certs, "server.key"));
    snprintf(ca, sizeof ca, "%s", tls_certs_path(certs, "ca.pem"));
    pz_tls_options o = {.cert_file = cert, .key_file = key, .client_ca_file = mtls ? ca : NULL, .alpn = alpn};
    char err[256] = "";
    pz_tls_context *t = pz_tls_context_create(&o, err, sizeof err);
    assert_non_null(t);
    return t;
}

static int setup(void **state)
{
    static tls_certs certs;
    tls_certs_make(&certs);
    *state = &certs;
    return 0;
}

static int teardown(void **state)
{
    tls_certs_remove(*state);
    return 0;
}

static void test_h2_only_policy(void **state)
{
    tls_certs *certs = *state;
    pz_tls_context *t = context(certs, &PZ_TLS_ALPN_H2_ONLY, 0);
    char buf[16];
    conn c;
    connect_to(&c, certs, t, ALPN_BOTH, sizeof ALPN_BOTH - 1, NULL);
    assert_true(c.ok);
    assert_string_equal(selected(c.server, buf, sizeof buf), "h2"); /* the server's preference */
    assert_true(pz_tls_alpn_agreed(c.server, &PZ_TLS_ALPN_H2_ONLY));
    disconnect(&c);
    connect_to(&c, certs, t, ALPN_HTTP1, sizeof ALPN_HTTP1 - 1, NULL);
    assert_false(c.ok); /* no_application_protocol */
    disconnect(&c);
    connect_to(&c, certs, t, NULL, 0, NULL);
    assert_true(c.ok); /* no ALPN extension: the callback never runs ... */
    assert_false(pz_tls_alpn_agreed(c.server, &PZ_TLS_ALPN_H2_ONLY)); /* ... so the front checks */
    disconnect(&c);
    pz_tls_context_destroy(t);
}

static void test_h2_or_http1_policy(void **state)
{
    tls_certs *certs = *state;
    pz_tls_context *t = context(certs, &PZ_TLS_ALPN_H2_OR_HTTP1, 0);
    char buf[16];
    conn c;
    connect_to(&c, certs, t, ALPN_H2, sizeof ALPN_H2 - 1, NULL);
    assert_true(c.ok);
    assert_string_equal(selected(c.server, buf, sizeof buf), "h2");
    disconnect(&c);
    connect_to(&c, certs, t, ALPN_HTTP1, sizeof ALPN_HTTP1 - 1, NULL);
    assert_true(c.ok);
    assert_string_equal(selected(c.server, buf, sizeof buf), "http/1.1");
    disconnect(&c);
    static const unsigned char other[] = "\x06spdy/3";
    connect_to(&c, certs, t, other, sizeof other - 1, NULL);
    assert_true(c.ok); /* nothing in common: no protocol, HTTP/1.1 */
    assert_string_equal(selected(c.server, buf, sizeof buf), "");
    assert_true(pz_tls_alpn_agreed(c.server, &PZ_TLS_ALPN_H2_OR_HTTP1));
    disconnect(&c);
    pz_tls_context_destroy(t);
}

static void test_mtls(void **state)
{
    tls_certs *certs = *state;
    pz_tls_context *t = context(certs, &PZ_TLS_ALPN_H2_ONLY, 1);
    conn c;
    connect_to(&c, certs, t, ALPN_H2, sizeof ALPN_H2 - 1, "client");
    assert_true(c.ok);
    X509 *peer = SSL_get1_peer_certificate(c.server);
    assert_non_null(peer);
    X509_free(peer);
    assert_int_equal(SSL_get_verify_result(c.server), X509_V_OK);
    disconnect(&c);
    connect_to(&c, certs, t, ALPN_H2, sizeof ALPN_H2 - 1, NULL);
    assert_false(c.ok);
    disconnect(&c);
    connect_to(&c, certs, t, ALPN_H2, sizeof ALPN_H2 - 1, "stranger");
    assert_false(c.ok);
    disconnect(&c);
    pz_tls_context_destroy(t);
}

/* The SHA-256 of the certificate the server shows a new connection. */
static void shown(tls_certs *certs, pz_tls_context *t, unsigned char md[32])
{
    conn c;
    connect_to(&c, certs, t, ALPN_H2, sizeof ALPN_H2 - 1, NULL);
    assert_true(c.ok);
    X509 *peer = SSL_get1_peer_certificate(c.client);
    unsigned n = 0;
    X509_digest(peer, EVP_sha256(), md, &n);
    X509_free(peer);
    disconnect(&c);
}

static void copy_file(const char *from, const char *to)
{
    char buf[8192];
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

static void test_reload(void **state)
{
    tls_certs *certs = *state;
    char cert[192], key[192], s2[192], k2[192], s1[192];
    snprintf(cert, sizeof cert, "%s", tls_certs_path(certs, "broken.pem"));
    snprintf(s1, sizeof s1, "%s", tls_certs_path(certs, "server.pem"));
    snprintf(key, sizeof key, "%s", tls_certs_path(certs, "server.key"));
    snprintf(s2, sizeof s2, "%s", tls_certs_path(certs, "server2.pem"));
    snprintf(k2, sizeof k2, "%s", tls_certs_path(certs, "server2.key"));
    copy_file(s1, cert); /* broken.pem: the live certificate file, replaced below */
    char key_live[200];
    snprintf(key_live, sizeof key_live, "%s.live", key);
    copy_file(key, key_live);
    pz_tls_options o = {.cert_file = cert, .key_file = key_live, .alpn = &PZ_TLS_ALPN_H2_ONLY};
    char err[256] = "";
    pz_tls_context *t = pz_tls_context_create(&o, err, sizeof err);
    assert_non_null(t);

    /* a connection open across the reload keeps working */
    conn open;
    connect_to(&open, certs, t, ALPN_H2, sizeof ALPN_H2 - 1, NULL);
    assert_true(open.ok);
    unsigned char before[32], after[32];
    shown(certs, t, before);
    copy_file(s2, cert);
    copy_file(k2, key_live);
    assert_int_equal(pz_tls_context_reload(t, err, sizeof err), 0);
    shown(certs, t, after);
    assert_memory_not_equal(before, after, 32);
    char b = 0;
    assert_int_equal(SSL_write(open.client, "y", 1), 1);
    assert_int_equal(SSL_read(open.server, &b, 1), 1);
    assert_int_equal(b, 'y');
    disconnect(&open);

    /* a broken file: -1 with the file named, the context in use kept */
    FILE *f = fopen(cert, "w");
    fputs("not a certificate\n", f);
    fclose(f);
    assert_int_equal(pz_tls_context_reload(t, err, sizeof err), -1);
    assert_non_null(strstr(err, cert));
    unsigned char kept[32];
    shown(certs, t, kept);
    assert_memory_equal(kept, after, 32);
    /* a key that does not match the certificate */
    copy_file(s1, cert);
    assert_int_equal(pz_tls_context_reload(t, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not match"));
    pz_tls_context_destroy(t);
    unlink(key_live);
}

static void test_create_errors(void **state)
{
    tls_certs *certs = *state;
    char key[192];
    snprintf(key, sizeof key, "%s", tls_certs_path(certs, "server.key"));
    char err[256] = "";
    pz_tls_options o = {.cert_file = "/nonexistent/cert.pem", .key_file = key, .alpn = &PZ_TLS_ALPN_H2_ONLY};
    assert_null(pz_tls_context_create(&o, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/cert.pem"));
    char cert[192];
    snprintf(cert, sizeof cert, "%s", tls_certs_path(certs, "server.pem"));
    o = (pz_tls_options){
        .cert_file = cert, .key_file = key, .client_ca_file = "/nonexistent/ca.pem", .alpn = &PZ_TLS_ALPN_H2_ONLY};
    assert_null(pz_tls_context_create(&o, err, sizeof err));
    assert_non_null(strstr(err, "client CA"));
    assert_non_null(strstr(err, "/nonexistent/ca.pem"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h2_only_policy), cmocka_unit_test(test_h2_or_http1_policy), cmocka_unit_test(test_mtls),
        cmocka_unit_test(test_reload),         cmocka_unit_test(test_create_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
