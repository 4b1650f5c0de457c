/* The gRPC front's own accept path: grpc core (1.51) accepts every connection it is offered, has no
 * cap on connections, no per-client limit, no rapid-reset defence and applies its stream limit only
 * to clients that acknowledged it, so this module listens, accepts, admits, waits for each
 * connection's preface and then hands it to grpc core (the `serve` callback,
 * grpc_server_add_channel_from_fd) with every byte the client sends checked by an HTTP/2 frame
 * guard (server/grpc/h2_guard.h) before grpc core parses it:
 * - plaintext: grpc core gets the client's socket itself, and the guard runs inside grpc core's
 *   own reads of it (server/grpc/read_guard.h): no copy, no extra thread;
 * - TLS: grpc core gets one end of a socketpair, and a relay (server/grpc/relay.h) decrypts the
 *   client's bytes, guards and forwards them, and encrypts grpc core's.
 *
 * - Admission: pz_conn_limits (total and per client address, penalty box); a refused connection
 *   is closed at once.
 * - TLS (tls set): the acceptor terminates TLS itself (OpenSSL, server/net/tls_context.h), so grpc
 *   core only sees plaintext. The handshake is non-blocking, driven by the same epoll loop; ALPN
 *   must select "h2" (grpc clients require it): a client offering other protocols fails the
 *   handshake, one offering none is closed after it. Client certificates are required and verified
 *   when the context has a client CA. Each connection takes the context of the moment it was
 *   accepted, so a reload (pz_tls_context_reload) applies to new connections and open ones keep
 *   theirs. OpenSSL writes to the socket with write(): the process must ignore SIGPIPE.
 * - Handshake timeout: a connection is served only once the client finished the TLS handshake (if
 *   any) and sent the HTTP/2 connection preface (in plaintext only peeked at: grpc core reads it);
 *   one that does not within handshake_timeout_ms, or sends anything else, is closed.
 * - Descriptor exhaustion: when accept() or socketpair() fails for want of descriptors or memory,
 *   accepting pauses for PZ_ACCEPT_PAUSE_MS instead of spinning on a listener that stays readable.
 *   A served connection takes one descriptor in plaintext, three over TLS (the client's socket and
 *   both socketpair ends).
 * - Guard: a client that crosses a guard limit (stream resets beyond max_resets_per_sec, more new
 *   streams than max_streams_unacked before acknowledging the SETTINGS) is aborted (TCP reset)
 *   before grpc core sees the offending bytes, and its address refused for penalty_ms. The check
 *   runs as the bytes are read, not when grpc core's completion-queue threads get to the calls.
 * - Lifetime: a plaintext connection's idle and age limits (`lifetime`) are kept by its read guard
 *   (conn_lifetime.h: GOAWAY, then a shutdown once its calls are done); the first thread tends
 *   every such connection each 250 ms. Over TLS grpc core keeps them (its channel arguments).
 * - Names: grpc core names a connection handed to it by its descriptor ("fd:N", what
 *   grpc_call_get_peer returns); pz_grpc_acceptor_peer_address maps that to the client's address.
 * - Life: a plaintext connection is grpc core's once served, and ends when grpc core closes its
 *   socket (the guard's close hook gives the slot back, on grpc core's thread); a relayed one ends
 *   when either side closes.
 * - Threads: `threads` acceptor threads ("relay threads"), each an epoll loop over its own
 *   connections (their TLS handshake, preface and, over TLS, relay), so TLS spreads over cores. The
 *   first also owns the listener: it accepts, admits, and hands each connection to the next thread
 *   in turn (round robin, itself included). Over TLS a relay thread does about a third of a cached
 *   call's CPU (README "Security and limits" has the figures and how many threads `auto` runs).
 *
 * The lookups and the stats may be read from any thread.
 */
#ifndef PZ_GRPC_ACCEPT_H
#define PZ_GRPC_ACCEPT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/metrics.h"

#include "server/grpc/conn_lifetime.h"
#include "server/grpc/h2_guard.h"
#include "server/net/conn_limits.h"
#include "server/net/listener.h"
#include "server/net/tls_context.h"

/* The most relay threads one acceptor runs (--grpc-relay-threads). */
#define PZ_GRPC_MAX_RELAY_THREADS 64

/* What an acceptor counts, for /metrics (pz_grpc_accept_stats_collect). Owned by the caller; must
 * outlive the acceptor and every scrape. */
typedef struct pz_grpc_accept_stats {
    const char *api;                                    /* the `api` label: "public", "admin" */
    int relay_threads;                                  /* set by pz_grpc_acceptor_start */
    atomic_long connections[PZ_GRPC_MAX_RELAY_THREADS]; /* served and open, per relay thread */
    atomic_ulong aborted;                               /* connections cut off by the guard */
} pz_grpc_accept_stats;

typedef struct pz_grpc_accept_options {
    const char *host;
    int port;                         /* 0 picks a free port */
    pz_conn_limits *limits;           /* admission; not owned */
    pz_tls_context *tls;              /* TLS with it (ALPN policy PZ_TLS_ALPN_H2_ONLY); NULL: plaintext; not owned */
    int handshake_timeout_ms;         /* the connection preface must arrive within it; > 0 */
    pz_h2_guard_limits guard;         /* what a client may send */
    int penalty_ms;                   /* how long the address of an aborted connection is refused */
    void (*serve)(void *ctx, int fd); /* hands grpc core the client's socket (plaintext) or its end of a
                                         socketpair (TLS), which it owns afterwards */
    void *serve_ctx;
    int threads;                 /* relay threads, 1 to PZ_GRPC_MAX_RELAY_THREADS; 0: 1 */
    pz_grpc_accept_stats *stats; /* counted into when set; not owned */
    /* Plaintext connections' idle and age limits, kept by the read guard (conn_lifetime.h) when
     * idle_ms or age_ms is set; over TLS grpc core keeps them (its own channel arguments). */
    pz_conn_lifetime_limits lifetime;
} pz_grpc_accept_options;

typedef struct pz_grpc_acceptor pz_grpc_acceptor;

/* Listens (the port must be free: see pz_listen_open) and starts the threads. Returns 0 with *out
 * and *bound_port, or -1 with a message in err. */
int pz_grpc_acceptor_start(const pz_grpc_accept_options *opts, pz_grpc_acceptor **out, int *bound_port, char *err,
                           size_t errlen);
/* Stops accepting: closes the listener and the connections still in their handshake. Served
 * connections go on (calls in flight finish, GOAWAY reaches the clients): relayed ones until
 * pz_grpc_acceptor_destroy, the others until grpc core closes them. */
void pz_grpc_acceptor_stop(pz_grpc_acceptor *a);
/* Stops the threads, closes every relayed connection still open, detaches the guard of every other
 * one (grpc core still owns and closes those sockets) and frees everything (after grpc core was
 * shut down). */
void pz_grpc_acceptor_destroy(pz_grpc_acceptor *a);

/* The client address ("1.2.3.4:5678", "[::1]:5678") of connection `peer` ("fd:N"); false when it
 * is not one of ours (any more). */
bool pz_grpc_acceptor_peer_address(pz_grpc_acceptor *a, const char *peer, char *out, size_t len);

/* Connections served (handed to grpc core) and still open. */
size_t pz_grpc_acceptor_connections(pz_grpc_acceptor *a);

/* A pz_metrics_collect_fn over a NULL-terminated array of stats (ctx: pz_grpc_accept_stats **):
 * pz_grpc_connections{api,relay} (open connections per relay thread) and
 * pz_grpc_connections_aborted_total{api}. */
void pz_grpc_accept_stats_collect(void *ctx, pz_metrics_writer *w);

#endif
