/* A server TLS context built from the --tls-* flags, shared by both fronts (the REST front hands it
 * to h2o, the gRPC acceptor terminates TLS with it in its relay), and swapped on reload.
 *
 * What every context has: the certificate chain and private key (PEM files), TLS >= 1.2, an ALPN
 * policy chosen by the front, and with a client CA file: client certificates required and verified
 * against it (the CA names are sent in the CertificateRequest so a client can pick its certificate;
 * resumed sessions must have been verified by this server: a session id context is set).
 *
 * ALPN: the server's preference order; a client that offers none of the protocols gets no protocol
 * (and falls back to what the front serves without ALPN) unless the policy requires one, in which
 * case its handshake fails with the no_application_protocol alert. A client that sends no ALPN
 * extension at all is not seen by the ALPN callback: a front that requires a protocol checks the
 * outcome after the handshake (pz_tls_alpn_agreed).
 *
 * Reload builds a whole new context from the same files and swaps it in for new connections;
 * connections already open keep the one they started with (each SSL holds a reference). A reload
 * that fails (a file missing or broken) keeps the context in use. Thread-safe.
 */
#ifndef PZ_NET_TLS_CONTEXT_H
#define PZ_NET_TLS_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

/* An ALPN policy: the protocols in wire format (length-prefixed, in preference order) and whether
 * a client must agree on one of them. The policies below are the only ones: callbacks keep a
 * pointer to them, so they must outlive every context. */
typedef struct pz_tls_alpn {
    const unsigned char *wire;
    size_t wire_len;
    bool required;
} pz_tls_alpn;

/* gRPC: h2 only (grpc clients require it; there is nothing else on the port). */
extern const pz_tls_alpn PZ_TLS_ALPN_H2_ONLY;
/* REST: h2, else http/1.1 (and HTTP/1.1 for a client that offers neither). */
extern const pz_tls_alpn PZ_TLS_ALPN_H2_OR_HTTP1;

typedef struct pz_tls_options {
    const char *cert_file;      /* PEM certificate chain, leaf first */
    const char *key_file;       /* PEM private key */
    const char *client_ca_file; /* PEM CA certificates for client certificates (mTLS); NULL: none asked */
    const pz_tls_alpn *alpn;    /* one of the policies above */
} pz_tls_options;

typedef struct pz_tls_context pz_tls_context;

/* Builds the first context. The option strings must outlive it. NULL with a message in err. */
pz_tls_context *pz_tls_context_create(const pz_tls_options *o, char *err, size_t errlen);
/* Reads the files again; 0, or -1 with err and the context in use kept. */
int pz_tls_context_reload(pz_tls_context *t, char *err, size_t errlen);
/* The context for a new connection, with a reference the caller drops (SSL_CTX_free) once its SSL
 * was made (SSL_new takes its own). */
SSL_CTX *pz_tls_context_acquire(pz_tls_context *t);
/* Frees the holder and its reference (connections still open keep theirs). */
void pz_tls_context_destroy(pz_tls_context *t);

/* After the handshake: true when the policy of `ssl`'s context is met (a protocol was selected, or
 * none was required). */
bool pz_tls_alpn_agreed(const SSL *ssl, const pz_tls_alpn *alpn);

#endif
