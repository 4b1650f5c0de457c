/* How long a plaintext gRPC connection lives: idle and age limits kept by us, at the socket, instead
 * of by grpc core (issue 21).
 *
 * Why: grpc core 1.51 enforces GRPC_ARG_MAX_CONNECTION_IDLE_MS / _AGE_MS with a promise-based
 * filter that it adapts into every call's filter stack: about 4,100 instructions per call, 6 % of
 * a cached gRPC response (callgrind), 2.7 % of its throughput (tests/bench/cache/ab_grpc.py).
 * The read guard (read_guard.h) already sees every byte grpc core reads and writes on a plaintext
 * connection, which is all it takes to keep the same limits per connection instead of per call.
 * Over TLS grpc core keeps them (its socket is a socketpair behind the relay).
 *
 * What it keeps, as grpc core did:
 * - idle: no stream open and no stream frame (HEADERS, DATA, RST_STREAM) either way for idle_ms:
 *   the connection is asked to go away;
 * - age: age_ms after it was served (each connection's age drawn within ±10 %, so connections
 *   made together do not all go at once), it is asked to go away.
 * "Asked to go away" is a GOAWAY frame with the last stream id 2^31-1 and NO_ERROR (RFC 9113
 * §6.8: the graceful form, which refuses nothing the client already sent); the client opens no new
 * stream on the connection and makes a new one for its next calls. Once no stream is open (and at
 * least PZ_LIFE_DRAIN_MS after the GOAWAY, so streams sent before the client saw it arrive), or
 * grace_ms after the GOAWAY in any case, the socket is shut down: grpc core reads its end and
 * closes the connection.
 *
 * Open streams = streams the client opened - streams the server ended (END_STREAM on HEADERS or
 * DATA). A stream the client reset stays counted as open: an overcount only delays the shutdown
 * (to grace_ms) or keeps a connection from counting as idle, never cuts a call short.
 *
 * Pure: no I/O, the caller passes the time; the caller serializes calls on one connection.
 */
#ifndef PZ_GRPC_CONN_LIFETIME_H
#define PZ_GRPC_CONN_LIFETIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/grpc/h2_guard.h"

typedef struct pz_conn_lifetime_limits {
    int idle_ms;  /* idle this long: GOAWAY; 0 = never */
    int age_ms;   /* this long (±10 %) after being served: GOAWAY; 0 = never */
    int grace_ms; /* after a GOAWAY, open streams get this long before the shutdown; > 0 */
} pz_conn_lifetime_limits;

/* After a GOAWAY, the shortest wait before the shutdown: streams the client sent before it saw the
 * GOAWAY are on their way for about one round trip. */
#define PZ_LIFE_DRAIN_MS 1000

/* RFC 9113 §6.8: a 9-byte header and 8 bytes of payload (last stream id, error code). */
#define PZ_H2_GOAWAY_LEN 17
/* The graceful GOAWAY: last stream id 2^31-1, NO_ERROR. */
void pz_h2_goaway_graceful(uint8_t out[PZ_H2_GOAWAY_LEN]);

/* What the server wrote, frame by frame (like pz_h2_guard for what the client sent, without a
 * preface): where its frames end (our GOAWAY may only go between two), the streams it ended, its
 * stream frames. Never fails on malformed input. */
typedef struct pz_h2_out {
    pz_h2_framing framing;
    uint64_t streams_ended; /* HEADERS or DATA frames with END_STREAM */
    uint64_t stream_frames; /* HEADERS, DATA and RST_STREAM frames */
} pz_h2_out;

/* Accounts for the next `len` bytes the server wrote. Inline for the common case (grpc core writes
 * a response as a list of pieces, most of them a frame's payload or part of it): the piece is
 * payload. */
void pz_h2_out_frames(pz_h2_out *o, const uint8_t *data, size_t len);
static inline void pz_h2_out_bytes(pz_h2_out *o, const uint8_t *data, size_t len)
{
    if (len <= o->framing.payload_left)
        o->framing.payload_left -= (uint32_t)len;
    else
        pz_h2_out_frames(o, data, len);
}
/* True when the bytes written so far end a frame: a frame of ours may be written next. */
bool pz_h2_out_at_frame_boundary(const pz_h2_out *o);

typedef enum pz_life_phase {
    PZ_LIFE_SERVING = 0,
    PZ_LIFE_GOING_AWAY, /* GOAWAY asked for; waiting for the open streams */
    PZ_LIFE_SHUT,       /* shut down; grpc core closes it */
} pz_life_phase;

typedef enum pz_life_action {
    PZ_LIFE_WAIT = 0,
    PZ_LIFE_GOAWAY_IDLE, /* send the GOAWAY: idle */
    PZ_LIFE_GOAWAY_AGE,  /* send the GOAWAY: old enough */
    PZ_LIFE_SHUT_DOWN,   /* shut the socket down */
} pz_life_action;

typedef struct pz_conn_lifetime {
    pz_conn_lifetime_limits limits;
    int64_t age_due_ms; /* INT64_MAX without an age limit */
    int64_t goaway_ms;
    pz_life_phase phase;
} pz_conn_lifetime;

/* Served at now_ms; jitter in [0, 1) places its age within ±10 % of limits->age_ms. */
void pz_conn_lifetime_init(pz_conn_lifetime *l, const pz_conn_lifetime_limits *limits, int64_t now_ms, double jitter);

/* What is due at now_ms, given the streams open now and when the last stream frame went either way
 * (or the connection was served). Advances the phase: each action is returned once. */
pz_life_action pz_conn_lifetime_step(pz_conn_lifetime *l, int64_t now_ms, uint64_t open_streams,
                                     int64_t last_active_ms);

#endif
