/* What a client sends on a gRPC connection, frame by frame, checked before grpc core sees it.
 *
 * grpc core 1.51 has two HTTP/2 weaknesses this guard covers (issue 19):
 * - Rapid reset (CVE-2023-44487): a client opens streams and resets them at once. Each reset
 *   stream frees its concurrency slot, so SETTINGS_MAX_CONCURRENT_STREAMS does not bound it, and
 *   each becomes a call grpc core creates, queues behind the legitimate calls of the same method
 *   and publishes one by one. The guard counts the client's RST_STREAM frames in a token bucket
 *   (max_resets_per_sec a second, bursts of as many).
 * - Streams before the SETTINGS acknowledgement: grpc 1.51 applies its advertised
 *   MAX_CONCURRENT_STREAMS only once the client acknowledged the SETTINGS frame, so a client that
 *   never acknowledges may open streams without limit (60,000 HEADERS-only streams took RSS past
 *   500 MB). The guard allows max_streams_unacked new streams until the client acknowledged the
 *   server's SETTINGS; from then on grpc core enforces the limit itself.
 *
 * The guard reads only the 9-byte frame headers (RFC 9113 §4.1) of the byte stream, after the
 * connection preface, in pieces of any size; it never buffers payloads and never fails on
 * malformed input (grpc core rejects that). Pure: no I/O, the caller passes the time.
 */
#ifndef PZ_GRPC_H2_GUARD_H
#define PZ_GRPC_H2_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pz_h2_guard_limits {
    int max_resets_per_sec;  /* client RST_STREAM frames a second, bursts of as many; 0 = no check */
    int max_streams_unacked; /* new streams before the client acknowledged our SETTINGS; 0 = no check */
} pz_h2_guard_limits;

typedef enum pz_h2_verdict {
    PZ_H2_OK = 0,
    PZ_H2_RESET_FLOOD,        /* RST_STREAM frames beyond the budget */
    PZ_H2_STREAMS_BEFORE_ACK, /* more new streams than allowed before the SETTINGS acknowledgement */
} pz_h2_verdict;

/* RFC 9113 §4.1: 24-bit length, type, flags, 32-bit stream id. */
#define PZ_H2_FRAME_HEADER_LEN 9
/* RFC 9113 §3.4: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n". */
#define PZ_H2_PREFACE_LEN 24

/* Where a stream of HTTP/2 frames is, read in pieces of any size: a frame header split across
 * pieces, or how much of the current frame's payload is still to come. What the client sends
 * (pz_h2_guard) and what the server writes (pz_h2_out, conn_lifetime.h) are both walked with it. */
typedef struct pz_h2_framing {
    uint8_t header[PZ_H2_FRAME_HEADER_LEN];
    size_t header_have;
    uint32_t payload_left;
} pz_h2_framing;

/* Takes the next bytes of data (len > 0) and returns how many it took: payload skipped, or part or
 * all of a frame header. When that completes a header, *header points to its 9 bytes (in data or
 * in f) and the frame's payload comes next; otherwise *header is NULL. */
size_t pz_h2_framing_take(pz_h2_framing *f, const uint8_t *data, size_t len, const uint8_t **header);

/* True when the bytes taken so far end a frame. */
static inline bool pz_h2_framing_at_boundary(const pz_h2_framing *f)
{
    return f->header_have == 0 && f->payload_left == 0;
}

typedef struct pz_h2_guard {
    pz_h2_guard_limits limits;
    size_t preface_left;   /* preface bytes still to skip */
    pz_h2_framing framing; /* the frames after it */
    int64_t tokens_milli;  /* reset budget, in thousandths of a reset */
    int64_t refilled_ms;
    uint32_t last_stream_id;   /* highest client stream id seen */
    uint32_t streams_unacked;  /* new streams before the acknowledgement */
    bool server_settings_sent; /* the server wrote its first bytes: its SETTINGS */
    bool acked;                /* the client acknowledged them */
    pz_h2_verdict verdict;     /* sticky once not OK */
    /* totals, for logs and tests */
    uint64_t frames, resets, streams;
    uint64_t stream_frames; /* HEADERS, DATA and RST_STREAM frames: the connection is not idle */
} pz_h2_guard;

/* The client's bytes start with the connection preface (skipped). */
void pz_h2_guard_init(pz_h2_guard *g, const pz_h2_guard_limits *limits, int64_t now_ms);

/* The server sent bytes to the client. RFC 9113 §3.4: its first frame is its SETTINGS, so any
 * acknowledgement the client sends after this point acknowledges them. */
void pz_h2_guard_server_wrote(pz_h2_guard *g);

/* Accounts for the next `len` bytes the client sent. Returns the verdict (sticky: once a limit
 * was crossed, every later call returns it too). */
pz_h2_verdict pz_h2_guard_client_bytes(pz_h2_guard *g, const uint8_t *data, size_t len, int64_t now_ms);

/* For logs: "RST_STREAM flood (HTTP/2 rapid reset)", ... */
const char *pz_h2_verdict_str(pz_h2_verdict v);

#endif
