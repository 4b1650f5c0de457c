/* Test certificates made with OpenSSL's API (P-256 keys, SHA-256 signatures), written as PEM files
 * into a fresh temporary directory: a CA, two server certificates it signed ("server", "server2"),
 * a client certificate it signed ("client") and a client certificate signed by another CA
 * ("stranger"). Paths: tls_certs_path(&c, "server.pem"), "server.key", "ca.pem", ... */
#ifndef PZ_TESTS_TLS_CERTS_H
#define PZ_TESTS_TLS_CERTS_H

#include <openssl/ssl.h>

typedef struct tls_certs {
    char dir[64];
    char path[192]; /* the last tls_certs_path result */
} tls_certs;

/* Makes the files; fails the test (abort) when OpenSSL cannot. */
void tls_certs_make(tls_certs *c);
const char *tls_certs_path(tls_certs *c, const char *name);
/* Removes the files and the directory. */
void tls_certs_remove(tls_certs *c);

/* A client context trusting ca.pem, offering `alpn` (wire format, NULL: no ALPN), with the client
 * certificate `name` ("client", "stranger") or none (NULL). */
SSL_CTX *tls_certs_client_ctx(tls_certs *c, const unsigned char *alpn, unsigned alpn_len, const char *name);

/* Drives a handshake between a client SSL and a server SSL on non-blocking sockets in this thread;
 * returns 1 when both finished, 0 when either failed. */
int tls_certs_handshake(SSL *client, SSL *server);

#endif
