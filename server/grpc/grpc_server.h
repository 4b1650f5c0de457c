/* The gRPC front: a grpc core (1.51) completion-queue server that serves one API's service
 * (PersonalizationService, or AdminService on the admin port) with protobuf-c messages, plus
 * grpc.health.v1.Health/Check and server reflection (grpc.reflection.v1 and v1alpha), and answers every other method
 * with UNIMPLEMENTED.
 *
 * It only translates: request metadata becomes pz_header entries (lower-case names), the call
 * deadline becomes pz_request.deadline_ms, the `if-none-match` metadata value becomes
 * pz_request.if_none_match; the core's response hints become initial metadata
 * (x-personalization-config-version, cache-control, etag, x-personalization-variation,
 * x-personalization-experiment) and errors become a status with the message (plus
 * `x-personalization-error-code` / `-type` trailing metadata carrying the upstream code and type).
 * A response the core prepared (pz_request.prepared, the response cache) is sent as its packed
 * bytes, without re-encoding or copying.
 *
 * Connections are accepted by server/grpc/accept.h (caps in total and per client address, the
 * handshake timeout, no spinning at the descriptor limit) and handed to grpc core, every client
 * byte checked by an HTTP/2 frame guard before grpc core parses it (in grpc core's own reads in
 * plaintext, in a relay over TLS): a connection resetting streams faster than
 * max_cancels_per_sec (HTTP/2 rapid reset, CVE-2023-44487, which grpc 1.51 does not defend
 * against) or opening more than max_concurrent_streams before acknowledging the SETTINGS (grpc
 * 1.51 applies the limit only after that) is aborted before grpc core reads the flood, and its
 * address refused for a while. grpc core enforces the per-connection limits set
 * as channel arguments (concurrent streams, idle time, age, keepalive, the memory quota).
 *
 * Errors also carry the core's error hints (server/core/hints.h) as trailing metadata
 * (`retry-after` on a throttled RESOURCE_EXHAUSTED).
 *
 * TLS: with tls_cert_file and tls_key_file the port serves TLS only, h2 via ALPN; with
 * tls_client_ca_file too, clients must present a certificate that CA chain verifies (mTLS). grpc
 * core 1.51 does no TLS on a descriptor handed over (grpc_server_add_channel_from_fd), so the
 * acceptor terminates TLS itself with OpenSSL (server/net/tls_context.h) and hands grpc core the
 * plaintext: every limit above applies on a TLS port as on a plaintext one, the handshake timeout
 * covering the TLS handshake and the preface. pz_grpc_server_reload_tls applies to new
 * connections and never drops one in flight.
 *
 * Threads: `threads` completion-queue threads (which also read and write plaintext connections)
 * and `relay_threads` acceptor threads (which relay TLS connections); the handler may complete a
 * request inline or on any other thread (starting a batch is thread-safe in grpc core).
 */
#ifndef PZ_GRPC_SERVER_H
#define PZ_GRPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "server/core/request.h"
#include "server/grpc/accept.h"

/* Defaults of the limits below (why each: grpc_server.c). */
#define PZ_GRPC_DEFAULT_MAX_CONNECTIONS 1024
#define PZ_GRPC_DEFAULT_MAX_CONNECTIONS_PER_CLIENT 256
#define PZ_GRPC_DEFAULT_MAX_CONCURRENT_STREAMS 100
#define PZ_GRPC_DEFAULT_HANDSHAKE_TIMEOUT_MS 10000
#define PZ_GRPC_DEFAULT_IDLE_TIMEOUT_MS 300000
#define PZ_GRPC_DEFAULT_MAX_AGE_MS 1800000
#define PZ_GRPC_DEFAULT_MEMORY_MB 256
#define PZ_GRPC_DEFAULT_MAX_CANCELS_PER_SEC 200
/* How long the address of a connection closed for abuse is refused. */
#define PZ_GRPC_ABUSE_PENALTY_MS 10000
/* A plaintext connection is the client's socket, which grpc core reads itself; a TLS one is relayed:
 * the client's socket and both ends of the socketpair to grpc core. */
#define PZ_GRPC_DESCRIPTORS_PER_CONNECTION 1
#define PZ_GRPC_DESCRIPTORS_PER_TLS_CONNECTION 3

typedef struct pz_grpc_options {
    const char *address;         /* e.g. "0.0.0.0:50051"; port 0 picks a free port */
    int threads;                 /* completion-queue threads, >= 1 */
    int relay_threads;           /* acceptor and TLS relay threads (server/grpc/accept.h), up to
                                  * PZ_GRPC_MAX_RELAY_THREADS; 0 = 1 */
    pz_grpc_accept_stats *stats; /* connection counts for /metrics; NULL: none; not owned */
    /* Its completion queue does not poll (GRPC_CQ_NON_POLLING): the threads of another grpc server
     * of the process do its I/O, as grpc 1.51 polls every descriptor of the process from one epoll
     * set. For a server with little traffic (the admin API): an idle poller of its own takes a
     * share of every other server's I/O and adds thread hand-offs (README "Performance"). Its calls
     * progress only while that other server runs: start it with it, stop it first. */
    bool non_polling;
    size_t max_message_bytes; /* max request size; 0 = 4 MiB */
    pz_handle_fn handle;
    void *handle_ctx;
    int stop_grace_ms; /* how long stop waits for in-flight calls before cancelling
                        * them; 0 = 2000 */
    pz_api api;        /* whose RPCs to serve (server/core/rpc.h): PZ_API_PUBLIC (the default) or
                        * PZ_API_ADMIN; reflection lists that API's service only */
    /* Limits (README "Security and limits"); 0 = the default named in grpc_server.c. */
    size_t max_connections;            /* open connections in total */
    size_t max_connections_per_client; /* open connections per client address */
    int max_concurrent_streams;        /* advertised SETTINGS_MAX_CONCURRENT_STREAMS per connection */
    int handshake_timeout_ms;          /* the TLS handshake (if any) and the HTTP/2 preface must be done within it */
    int idle_timeout_ms;               /* a connection without calls for that long is closed (GOAWAY) */
    int max_connection_age_ms;         /* a connection is asked to go away after that long (±10 %) ... */
    int max_connection_age_grace_ms;   /* ... and closed at the latest that much later; the acceptor's read
                                          guard keeps these three on plaintext, grpc core over TLS */
    size_t memory_bytes;               /* grpc core's memory quota for the server */
    int max_cancels_per_sec;           /* calls a client may cancel (RST_STREAM) a second per connection */
    const char *tls_cert_file;         /* PEM chain; with tls_key_file turns on TLS (terminated by the acceptor) */
    const char *tls_key_file;          /* PEM private key */
    const char *tls_client_ca_file;    /* PEM CA certificates: require and verify client certificates */
} pz_grpc_options;

typedef struct pz_grpc_server pz_grpc_server;

/* Initializes grpc, binds, starts serving. Returns 0 with *out and *bound_port, or -1 with a
 * message in err (nothing left running). */
int pz_grpc_server_start(const pz_grpc_options *opts, pz_grpc_server **out, int *bound_port, char *err, size_t errlen);

/* Reads the certificate, key and client CA files again for new connections. Returns 0, or -1 with
 * err (the previous ones stay in use). No-op without TLS. Any thread. */
int pz_grpc_server_reload_tls(pz_grpc_server *s, char *err, size_t errlen);

/* Graceful stop: stops accepting, cancels calls still in flight after a short grace period
 * (stop_grace_ms), joins the threads, frees everything and shuts grpc down. Blocks until the
 * handler has completed every request it was given (a request completed after its call was
 * cancelled is fine: its answer is dropped), so stop the front before whatever completes them. */
void pz_grpc_server_stop(pz_grpc_server *s);

#endif
