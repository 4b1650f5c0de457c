#include "server/grpc/conn_lifetime.h"

#include <string.h>

/* RFC 9113 §6. */
enum { FRAME_DATA = 0x0, FRAME_HEADERS = 0x1, FRAME_RST_STREAM = 0x3, FRAME_GOAWAY = 0x7 };
#define FLAG_END_STREAM 0x1
#define LAST_STREAM_ID_ANY 0x7fffffffu
#define GOAWAY_PAYLOAD_LEN 8
/* grpc core's jitter of the connection age: ±10 % (a tenth). */
#define AGE_JITTER_PARTS 10

void pz_h2_goaway_graceful(uint8_t out[PZ_H2_GOAWAY_LEN])
{
    memset(out, 0, PZ_H2_GOAWAY_LEN); /* no flags, stream 0; error code NO_ERROR */
    out[2] = GOAWAY_PAYLOAD_LEN;
    out[3] = FRAME_GOAWAY;
    for (int i = 0; i < 4; i++) /* the last stream id, big-endian */
        out[PZ_H2_FRAME_HEADER_LEN + i] = (uint8_t)(LAST_STREAM_ID_ANY >> (24 - 8 * i));
}

static void on_frame_header(pz_h2_out *o, const uint8_t *h)
{
    uint8_t type = h[3];
    if (type == FRAME_DATA || type == FRAME_HEADERS || type == FRAME_RST_STREAM)
        o->stream_frames++;
    if ((type == FRAME_DATA || type == FRAME_HEADERS) && (h[4] & FLAG_END_STREAM) != 0)
        o->streams_ended++;
}

void pz_h2_out_frames(pz_h2_out *o, const uint8_t *data, size_t len)
{
    while (len > 0) {
        const uint8_t *header;
        size_t n = pz_h2_framing_take(&o->framing, data, len, &header);
        if (header != NULL)
            on_frame_header(o, header);
        data += n;
        len -= n;
    }
}

bool pz_h2_out_at_frame_boundary(const pz_h2_out *o)
{
    return pz_h2_framing_at_boundary(&o->framing);
}

void pz_conn_lifetime_init(pz_conn_lifetime *l, const pz_conn_lifetime_limits *limits, int64_t now_ms, double jitter)
{
    memset(l, 0, sizeof *l);
    l->limits = *limits;
    l->age_due_ms = INT64_MAX;
    if (limits->age_ms > 0) {
        int64_t spread = limits->age_ms / AGE_JITTER_PARTS;
        l->age_due_ms = now_ms + limits->age_ms - spread + (int64_t)(2.0 * (double)spread * jitter);
    }
}

pz_life_action pz_conn_lifetime_step(pz_conn_lifetime *l, int64_t now_ms, uint64_t open_streams, int64_t last_active_ms)
{
    switch (l->phase) {
    case PZ_LIFE_SERVING:
        if (now_ms >= l->age_due_ms) {
            l->phase = PZ_LIFE_GOING_AWAY;
            l->goaway_ms = now_ms;
            return PZ_LIFE_GOAWAY_AGE;
        }
        if (l->limits.idle_ms > 0 && open_streams == 0 && now_ms - last_active_ms >= l->limits.idle_ms) {
            l->phase = PZ_LIFE_GOING_AWAY;
            l->goaway_ms = now_ms;
            return PZ_LIFE_GOAWAY_IDLE;
        }
        return PZ_LIFE_WAIT;
    case PZ_LIFE_GOING_AWAY: {
        int64_t since = now_ms - l->goaway_ms;
        if ((open_streams == 0 && since >= PZ_LIFE_DRAIN_MS) || since >= l->limits.grace_ms) {
            l->phase = PZ_LIFE_SHUT;
            return PZ_LIFE_SHUT_DOWN;
        }
        return PZ_LIFE_WAIT;
    }
    case PZ_LIFE_SHUT: return PZ_LIFE_WAIT;
    }
    return PZ_LIFE_WAIT;
}
