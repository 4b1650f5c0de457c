#include "server/grpc/h2_guard.h"

#include <string.h>

/* RFC 9113 §6: the frame types the guard counts. */
enum { FRAME_DATA = 0x0, FRAME_HEADERS = 0x1, FRAME_RST_STREAM = 0x3, FRAME_SETTINGS = 0x4, FRAME_TYPES = 0x5 };
#define FLAG_SETTINGS_ACK 0x1
/* The stream identifier is 31 bits; the top bit is reserved. */
#define STREAM_ID_MASK 0x7fffffffu
/* Token bucket units: a reset costs this many (so refills of rate/1000 per ms stay exact). */
#define MILLI 1000

void pz_h2_guard_init(pz_h2_guard *g, const pz_h2_guard_limits *limits, int64_t now_ms)
{
    memset(g, 0, sizeof *g);
    g->limits = *limits;
    g->preface_left = PZ_H2_PREFACE_LEN;
    g->tokens_milli = (int64_t)limits->max_resets_per_sec * MILLI;
    g->refilled_ms = now_ms;
}

void pz_h2_guard_server_wrote(pz_h2_guard *g)
{
    g->server_settings_sent = true;
}

/* A HEADERS frame on a client stream id above every earlier one opens a stream (RFC 9113
 * §5.1.1); others are trailers or continue a stream. */
static void on_headers(pz_h2_guard *g, uint8_t flags, uint32_t stream_id, int64_t now_ms)
{
    (void)flags;
    (void)now_ms;
    if ((stream_id & 1) == 0 || stream_id <= g->last_stream_id)
        return;
    g->last_stream_id = stream_id;
    g->streams++;
    if (g->acked || g->limits.max_streams_unacked <= 0)
        return;
    if (++g->streams_unacked > (uint32_t)g->limits.max_streams_unacked)
        g->verdict = PZ_H2_STREAMS_BEFORE_ACK;
}

static void on_reset(pz_h2_guard *g, uint8_t flags, uint32_t stream_id, int64_t now_ms)
{
    (void)flags;
    (void)stream_id;
    g->resets++;
    int64_t rate = g->limits.max_resets_per_sec;
    if (rate <= 0)
        return;
    if (now_ms > g->refilled_ms) {
        g->tokens_milli += (now_ms - g->refilled_ms) * rate; /* rate per second = rate/1000 per ms */
        if (g->tokens_milli > rate * MILLI)
            g->tokens_milli = rate * MILLI;
        g->refilled_ms = now_ms;
    }
    g->tokens_milli -= MILLI;
    if (g->tokens_milli < 0)
        g->verdict = PZ_H2_RESET_FLOOD;
}

static void on_settings(pz_h2_guard *g, uint8_t flags, uint32_t stream_id, int64_t now_ms)
{
    (void)stream_id;
    (void)now_ms;
    if ((flags & FLAG_SETTINGS_ACK) != 0 && g->server_settings_sent)
        g->acked = true;
}

typedef void (*frame_fn)(pz_h2_guard *g, uint8_t flags, uint32_t stream_id, int64_t now_ms);

/* Frame type -> what it means for the limits; types not listed (DATA, PING, ...) only count. */
static const frame_fn ON_FRAME[FRAME_TYPES] = {
    [FRAME_HEADERS] = on_headers,
    [FRAME_RST_STREAM] = on_reset,
    [FRAME_SETTINGS] = on_settings,
};

static void on_header(pz_h2_guard *g, const uint8_t *h, int64_t now_ms)
{
    uint8_t type = h[3];
    uint32_t stream_id = ((uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8]) & STREAM_ID_MASK;
    g->frames++;
    g->stream_frames += type == FRAME_DATA || type == FRAME_HEADERS || type == FRAME_RST_STREAM;
    if (type < FRAME_TYPES && ON_FRAME[type] != NULL)
        ON_FRAME[type](g, h[4], stream_id, now_ms);
}

size_t pz_h2_framing_take(pz_h2_framing *f, const uint8_t *data, size_t len, const uint8_t **header)
{
    *header = NULL;
    if (f->payload_left > 0) {
        size_t n = len < f->payload_left ? len : f->payload_left;
        f->payload_left -= (uint32_t)n;
        return n;
    }
    const uint8_t *h;
    size_t n;
    if (f->header_have == 0 && len >= PZ_H2_FRAME_HEADER_LEN) {
        h = data; /* the common case: a whole header in this piece */
        n = PZ_H2_FRAME_HEADER_LEN;
    } else {
        n = PZ_H2_FRAME_HEADER_LEN - f->header_have;
        if (n > len)
            n = len;
        memcpy(f->header + f->header_have, data, n);
        f->header_have += n;
        if (f->header_have < PZ_H2_FRAME_HEADER_LEN)
            return n;
        f->header_have = 0;
        h = f->header;
    }
    f->payload_left = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
    *header = h;
    return n;
}

pz_h2_verdict pz_h2_guard_client_bytes(pz_h2_guard *g, const uint8_t *data, size_t len, int64_t now_ms)
{
    while (len > 0 && g->verdict == PZ_H2_OK) {
        size_t n;
        if (g->preface_left > 0) {
            n = len < g->preface_left ? len : g->preface_left;
            g->preface_left -= n;
        } else {
            const uint8_t *header;
            n = pz_h2_framing_take(&g->framing, data, len, &header);
            if (header != NULL)
                on_header(g, header, now_ms);
        }
        data += n;
        len -= n;
    }
    return g->verdict;
}

const char *pz_h2_verdict_str(pz_h2_verdict v)
{
    static const char *const names[] = {
        [PZ_H2_OK] = "ok",
        [PZ_H2_RESET_FLOOD] = "more stream resets than allowed (HTTP/2 rapid reset)",
        [PZ_H2_STREAMS_BEFORE_ACK] = "more streams than allowed before acknowledging the server's SETTINGS",
    };
    return (size_t)v < sizeof names / sizeof names[0] ? names[v] : "?";
}
