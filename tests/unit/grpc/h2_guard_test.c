/* pz_h2_guard: frame headers found across any split of the byte stream (preface and payloads
 * skipped), the RST_STREAM budget and its refill, the stream allowance before the SETTINGS
 * acknowledgement, what does not count (trailers, even stream ids, an early acknowledgement), a
 * sticky verdict, and 0 meaning no check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "server/grpc/h2_guard.h"

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum { DATA = 0x0, HEADERS = 0x1, RST_STREAM = 0x3, SETTINGS = 0x4, PING = 0x6 };
#define ACK 0x1
#define END_HEADERS 0x4

/* A byte stream under construction. */
typedef struct stream {
    uint8_t bytes[1 << 16];
    size_t len;
} stream;

static void put(stream *s, const void *data, size_t len)
{
    assert_true(s->len + len <= sizeof s->bytes);
    memcpy(s->bytes + s->len, data, len);
    s->len += len;
}

/* A frame with `payload_len` bytes of payload, all `fill`. */
static void put_frame(stream *s, uint8_t type, uint8_t flags, uint32_t stream_id, size_t payload_len, uint8_t fill)
{
    uint8_t h[PZ_H2_FRAME_HEADER_LEN] = {(uint8_t)(payload_len >> 16),
                                         (uint8_t)(payload_len >> 8),
                                         (uint8_t)payload_len,
                                         type,
                                         flags,
                                         (uint8_t)(stream_id >> 24),
                                         (uint8_t)(stream_id >> 16),
                                         (uint8_t)(stream_id >> 8),
                                         (uint8_t)stream_id};
    put(s, h, sizeof h);
    for (size_t i = 0; i < payload_len; i++)
        put(s, &fill, 1);
}

static void put_preface(stream *s)
{
    put(s, PREFACE, PZ_H2_PREFACE_LEN);
}

static pz_h2_guard guard(int resets_per_sec, int streams_unacked)
{
    pz_h2_guard g;
    pz_h2_guard_limits l = {.max_resets_per_sec = resets_per_sec, .max_streams_unacked = streams_unacked};
    pz_h2_guard_init(&g, &l, 0);
    return g;
}

static void frames_found_across_any_split(void **state)
{
    (void)state;
    stream s = {0};
    put_preface(&s);
    put_frame(&s, SETTINGS, 0, 0, 6, 0);
    put_frame(&s, HEADERS, END_HEADERS, 1, 40, 0x55);
    /* a payload that looks like RST_STREAM frame headers must not be read as frames */
    put_frame(&s, DATA, 0, 1, 300, RST_STREAM);
    put_frame(&s, RST_STREAM, 0, 1, 4, 0);
    put_frame(&s, PING, 0, 0, 8, 0);
    for (size_t piece = 1; piece <= 64; piece++) {
        pz_h2_guard g = guard(0, 0);
        for (size_t off = 0; off < s.len; off += piece) {
            size_t n = s.len - off < piece ? s.len - off : piece;
            assert_int_equal(pz_h2_guard_client_bytes(&g, s.bytes + off, n, 0), PZ_H2_OK);
        }
        assert_int_equal(g.frames, 5);
        assert_int_equal(g.streams, 1);
        assert_int_equal(g.resets, 1);
    }
}

/* `n` streams opened and reset at once (the rapid-reset pattern), ids from *next_id on. */
static void put_resets(stream *s, int n, uint32_t *next_id)
{
    for (int i = 0; i < n; i++) {
        put_frame(s, HEADERS, END_HEADERS, *next_id, 20, 0);
        put_frame(s, RST_STREAM, 0, *next_id, 4, 0);
        *next_id += 2;
    }
}

static void reset_budget_refills_at_its_rate(void **state)
{
    (void)state;
    pz_h2_guard g = guard(100, 0);
    uint32_t id = 1;
    stream s = {0};
    put_preface(&s);
    put_resets(&s, 100, &id); /* the burst */
    assert_int_equal(pz_h2_guard_client_bytes(&g, s.bytes, s.len, 0), PZ_H2_OK);
    s.len = 0;
    put_resets(&s, 50, &id); /* 500 ms later: 50 more earned */
    assert_int_equal(pz_h2_guard_client_bytes(&g, s.bytes, s.len, 500), PZ_H2_OK);
    s.len = 0;
    put_resets(&s, 1, &id);
    assert_int_equal(pz_h2_guard_client_bytes(&g, s.bytes, s.len, 500), PZ_H2_RESET_FLOOD);
    assert_int_equal(g.resets, 151);
    /* sticky: nothing the client sends later makes it OK again */
    assert_int_equal(pz_h2_guard_client_bytes(&g, (const uint8_t *)"", 0, 100000), PZ_H2_RESET_FLOOD);
    s.len = 0;
    put_frame(&s, PING, 0, 0, 8, 0);
    assert_int_equal(pz_h2_guard_client_bytes(&g, s.bytes, s.len, 100000), PZ_H2_RESET_FLOOD);
}

static void steady_rate_under_the_budget_is_fine(void **state)
{
    (void)state;
    pz_h2_guard g = guard(100, 0);
    uint32_t id = 1;
    stream s = {0};
    put_preface(&s);
    assert_int_equal(pz_h2_guard_client_bytes(&g, s.bytes, s.len, 0), PZ_H2_OK);
    for (int64_t ms = 0; ms < 60000; ms += 20) { /* 50 a second for a minute, after a full burst */
        s.len = 0;
        put_resets(&s, ms == 0 ? 100 : 1, &id);
        assert_int_equal(pz_h2_guard_client_bytes(&g, s.bytes, s.len, ms), PZ_H2_OK);
    }
}

static void streams_before_the_settings_ack_are_limited(void **state)
{
    (void)state;
    pz_h2_guard g = guard(0, 3);
    stream s = {0};
    put_preface(&s);
    for (uint32_t id = 1; id <= 5; id += 2)
        put_frame(&s, HEADERS, END_HEADERS, id, 10, 0);
    put_frame(&s, HEADERS, END_HEADERS, 5, 10, 0); /* trailers of stream 5: not a new stream */
    put_frame(&s, HEADERS, END_HEADERS, 2, 10, 0); /* an even id is not a client stream */
    assert_int_equal(pz_h2_guard_client_bytes(&g, s.bytes, s.len, 0), PZ_H2_OK);
    /* an acknowledgement before the server wrote anything acknowledges nothing */
    s.len = 0;
    put_frame(&s, SETTINGS, ACK, 0, 0, 0);
    put_frame(&s, HEADERS, END_HEADERS, 7, 10, 0);
    assert_int_equal(pz_h2_guard_client_bytes(&g, s.bytes, s.len, 0), PZ_H2_STREAMS_BEFORE_ACK);
    assert_int_equal(g.streams, 4);
}

static void acknowledged_settings_lift_the_allowance(void **state)
{
    (void)state;
    pz_h2_guard g = guard(0, 3);
    stream s = {0};
    put_preface(&s);
    put_frame(&s, HEADERS, END_HEADERS, 1, 10, 0);
    assert_int_equal(pz_h2_guard_client_bytes(&g, s.bytes, s.len, 0), PZ_H2_OK);
    pz_h2_guard_server_wrote(&g);
    s.len = 0;
    put_frame(&s, SETTINGS, 0, 0, 6, 0); /* the client's own SETTINGS are no acknowledgement */
    put_frame(&s, HEADERS, END_HEADERS, 3, 10, 0);
    put_frame(&s, SETTINGS, ACK, 0, 0, 0);
    for (uint32_t id = 5; id < 2005; id += 2) /* from here on grpc core enforces its limit */
        put_frame(&s, HEADERS, END_HEADERS, id, 10, 0);
    assert_int_equal(pz_h2_guard_client_bytes(&g, s.bytes, s.len, 0), PZ_H2_OK);
    assert_true(g.acked);
    assert_int_equal(g.streams, 1002);
}

static void zero_limits_check_nothing(void **state)
{
    (void)state;
    pz_h2_guard g = guard(0, 0);
    uint32_t id = 1;
    stream s = {0};
    put_preface(&s);
    put_resets(&s, 1000, &id);
    assert_int_equal(pz_h2_guard_client_bytes(&g, s.bytes, s.len, 0), PZ_H2_OK);
    assert_int_equal(g.resets, 1000);
    assert_int_equal(g.streams, 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frames_found_across_any_split),
        cmocka_unit_test(reset_budget_refills_at_its_rate),
        cmocka_unit_test(steady_rate_under_the_budget_is_fine),
        cmocka_unit_test(streams_before_the_settings_ack_are_limited),
        cmocka_unit_test(acknowledged_settings_lift_the_allowance),
        cmocka_unit_test(zero_limits_check_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
