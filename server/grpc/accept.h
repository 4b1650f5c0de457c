/* The gRPC front's own accept path: grpc core (1.51) accepts every connection it is offered and
 * has no cap on connections, no per-client limit and no way to close one connection on demand, so
 * this module listens, accepts and hands each admitted socket to grpc core
 * (grpc_server_add_channel_from_fd through the `serve` callback).
 *
 * - Admission: pz_conn_limits (total and per client address, penalty box); a refused connection
 *   is closed at once.
 * - Handshake timeout: a socket is handed over only once the client sent the HTTP/2 connection
 *   preface; one that sends nothing within handshake_timeout_ms, or anything else, is closed.
 * - Descriptor exhaustion: when accept() fails for want of descriptors or memory, accepting pauses
 *   for PZ_ACCEPT_PAUSE_MS instead of spinning on a listener that stays readable.
 * - Tracking: for each served connection it keeps a duplicate descriptor, watched for the hang-up
 *   grpc causes when it closes the connection (then the slot is released); through it, a
 *   connection found abusive (pz_grpc_acceptor_note_cancel) is aborted (TCP reset, queues purged)
 *   and its address penalized.
 *
 * One thread (epoll). pz_grpc_acceptor_note_cancel may be called from any thread.
 */
#ifndef PZ_GRPC_ACCEPT_H
#define PZ_GRPC_ACCEPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/net/conn_limits.h"
#include "server/net/listener.h"

typedef struct pz_grpc_accept_options {
    const char *host;
    int port;                 /* 0 picks a free port */
    pz_conn_limits *limits;   /* admission; not owned */
    int handshake_timeout_ms; /* the connection preface must arrive within it; > 0 */
    /* A connection whose calls end cancelled before they were answered more often than this many
     * times a second (bursts of as many allowed) is aborted and its address refused for
     * penalty_ms; 0 = no check. */
    int max_cancels_per_sec;
    int penalty_ms;
    void (*serve)(void *ctx, int fd); /* hands the socket to grpc core, which owns it afterwards */
    void *serve_ctx;
} pz_grpc_accept_options;

typedef struct pz_grpc_acceptor pz_grpc_acceptor;

/* Listens (the port must be free: see pz_listen_open) and starts the thread. Returns 0 with *out
 * and *bound_port, or -1 with a message in err. */
int pz_grpc_acceptor_start(const pz_grpc_accept_options *opts, pz_grpc_acceptor **out, int *bound_port, char *err,
                           size_t errlen);
/* Stops accepting: joins the thread, closes the listener and the sockets not yet handed over.
 * Served connections stay with grpc core. */
void pz_grpc_acceptor_stop(pz_grpc_acceptor *a);
/* Frees everything (after pz_grpc_acceptor_stop and after grpc core let go of the connections). */
void pz_grpc_acceptor_destroy(pz_grpc_acceptor *a);

typedef enum pz_cancel_verdict {
    PZ_CANCEL_COUNTED,         /* within the connection's budget (or the connection is unknown) */
    PZ_CANCEL_ABORTED,         /* this one made the connection abusive: it was aborted now */
    PZ_CANCEL_ALREADY_ABORTED, /* the connection was aborted earlier: this is the rest of its flood */
} pz_cancel_verdict;

/* Records that a call on connection `peer` (grpc_call_get_peer of a handed-over connection:
 * "fd:N") ended cancelled before the server answered it. A connection over its budget is aborted
 * and its address penalized. */
pz_cancel_verdict pz_grpc_acceptor_note_cancel(pz_grpc_acceptor *a, const char *peer);

/* The client address ("1.2.3.4:5678", "[::1]:5678") of connection `peer` ("fd:N"); false when it
 * is not one of ours (any more). */
bool pz_grpc_acceptor_peer_address(pz_grpc_acceptor *a, const char *peer, char *out, size_t len);

/* Connections handed to grpc core and still open. */
size_t pz_grpc_acceptor_connections(pz_grpc_acceptor *a);

#endif
