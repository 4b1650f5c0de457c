/* One TLS client connection of the gRPC front, relayed to grpc core through a socketpair, so that
 * every byte the client sends passes an HTTP/2 frame guard (server/grpc/h2_guard.h), decrypted,
 * before grpc core reads it (plaintext connections need no relay: grpc core reads their sockets
 * itself, through the same guard: server/grpc/read_guard.h). A connection found abusive is cut
 * off before grpc core has spent anything on the flood, whatever its completion-queue threads are
 * doing (issue 19: detecting a rapid-reset flood on those threads failed when the machine was
 * busy, because grpc core parsed and queued tens of thousands of streams before a single
 * cancelled call reached them). The plaintext form (pz_relay_create) drives the same mechanics
 * without OpenSSL, for the relay's tests.
 *
 * Two directions: client -> core (read from the client's socket, guarded, written to our end of
 * the socketpair) and core -> client. Each reads one piece at a time into the caller's scratch
 * buffer and writes it on at once; what the destination does not take is kept (at most one
 * piece) and the source is not read again until it was delivered, so a slow reader on either side
 * stops the other side's reads (TCP and socketpair flow control do the rest). A side that closes,
 * fails or hangs up is read to its end and forwarded as far as the other side takes it without
 * blocking; then the relay is done.
 *
 * TLS (pz_relay_create_tls): the client's side is an OpenSSL connection whose handshake is done;
 * the relay reads the client's decrypted bytes with SSL_read (the guard sees plaintext frames) and
 * writes grpc core's bytes with SSL_write, so grpc core only ever sees plaintext HTTP/2. Either
 * call may need the client's socket the other way round (a TLS record to send while reading, to
 * read while writing): the direction then waits for that event on the client's socket instead of
 * its usual one, and pz_relay_events asks for it. Plaintext OpenSSL already decrypted (a record
 * read only in part) is drained without waiting for the socket, since epoll cannot report it.
 *
 * Not thread-safe: a relay is driven by one thread (the acceptor's epoll loop), which asks which
 * events to watch on each descriptor (pz_relay_events) and reports them (pz_relay_on_events).
 */
#ifndef PZ_GRPC_RELAY_H
#define PZ_GRPC_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "server/grpc/h2_guard.h"

typedef enum pz_relay_end {
    PZ_RELAY_CLIENT = 0, /* the client's TCP socket */
    PZ_RELAY_CORE = 1,   /* our end of the socketpair whose other end grpc core has */
} pz_relay_end;

typedef enum pz_relay_status {
    PZ_RELAY_OPEN = 0, /* keep watching */
    PZ_RELAY_CLOSED,   /* a side closed or failed: destroy the relay */
    PZ_RELAY_ABUSIVE,  /* the client crossed a guard limit (pz_relay_guard says which): destroy, aborting */
} pz_relay_status;

typedef struct pz_relay pz_relay;

/* Takes both descriptors (non-blocking sockets). The client's bytes start with the preface. */
pz_relay *pz_relay_create(int client_fd, int core_fd, const pz_h2_guard_limits *limits, int64_t now_ms);

/* The same over TLS: takes `ssl` too (handshake done, on client_fd). `first` (may be empty) are
 * client bytes already read from ssl (the preface, checked by the acceptor): they pass the guard
 * and go to grpc core before anything else. Call pz_relay_on_events(r, PZ_RELAY_CLIENT, EPOLLIN)
 * once after creating it: ssl may hold decrypted bytes the socket will not signal. */
pz_relay *pz_relay_create_tls(int client_fd, SSL *ssl, int core_fd, const uint8_t *first, size_t first_len,
                              const pz_h2_guard_limits *limits, int64_t now_ms);

/* The descriptor of one end. */
int pz_relay_fd(const pz_relay *r, pz_relay_end end);

/* The epoll events (EPOLLIN, EPOLLOUT) to watch on one end now. */
uint32_t pz_relay_events(const pz_relay *r, pz_relay_end end);

/* One end reported epoll `events` (EPOLLHUP and EPOLLERR included): moves what can be moved
 * without blocking. `scratch` is the caller's buffer, shared by every relay of its thread; with
 * TLS at least PZ_RELAY_MIN_SCRATCH bytes. */
pz_relay_status pz_relay_on_events(pz_relay *r, pz_relay_end end, uint32_t events, uint8_t *scratch, size_t scratch_len,
                                   int64_t now_ms);

/* A TLS record's largest plaintext (RFC 8446 §5.1): one SSL_read returns a whole record into it. */
#define PZ_RELAY_MIN_SCRATCH 16384

/* What the guard saw of the client's frames. */
const pz_h2_guard *pz_relay_guard(const pz_relay *r);

/* Closes both descriptors and frees the relay. abort: the client gets a TCP reset and bytes not
 * yet delivered are dropped (for a connection cut off for abuse); otherwise an orderly close (with
 * TLS a close_notify first, if the socket takes it at once). */
void pz_relay_destroy(pz_relay *r, bool abort);

#endif
