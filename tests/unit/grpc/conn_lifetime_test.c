/* pz_conn_lifetime and pz_h2_out (server/grpc/conn_lifetime.h): the server's frames are followed
 * across writes of any size (frame boundaries, ended streams, stream frames); the GOAWAY is the
 * graceful one; a connection is asked to go away when old enough (within ±10 % of its age) or idle
 * (no open stream, no stream frame), once; it is shut down once its streams are done but not
 * before PZ_LIFE_DRAIN_MS, and at the end of the grace period whatever is open. Over real sockets
 * in read_guard_test.c; end to end in tests/integration/hardening/fronts_test.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "server/grpc/conn_lifetime.h"
#include "tests/unit/grpc/relay_helpers.h"

enum { DATA = 0x0, HEADERS = 0x1, RST_STREAM = 0x3, SETTINGS = 0x4, PING = 0x6, END_STREAM = 0x1, END_HEADERS = 0x4 };

static void frames_are_followed_across_writes_of_any_size(void **state)
{
    (void)state;
    uint8_t out[1024];
    size_t n = relay_frame(out, SETTINGS, 0, 0, 12);
    n += relay_frame(out + n, HEADERS, END_HEADERS, 1, 30);
    n += relay_frame(out + n, DATA, 0, 1, 100);
    n += relay_frame(out + n, HEADERS, END_HEADERS | END_STREAM, 1, 20); /* trailers: the stream ends */
    n += relay_frame(out + n, PING, 0, 0, 8);
    n += relay_frame(out + n, RST_STREAM, 0, 3, 4);
    n += relay_frame(out + n, DATA, END_STREAM, 5, 0); /* ends a stream too, with an empty payload */
    for (size_t piece = 1; piece <= n; piece++) {
        pz_h2_out o = {0};
        assert_true(pz_h2_out_at_frame_boundary(&o));
        size_t boundaries = 0;
        for (size_t at = 0; at < n; at += piece) {
            pz_h2_out_bytes(&o, out + at, at + piece <= n ? piece : n - at);
            boundaries += pz_h2_out_at_frame_boundary(&o);
        }
        assert_true(pz_h2_out_at_frame_boundary(&o));
        assert_int_equal(o.streams_ended, 2);
        assert_int_equal(o.stream_frames, 5);
        if (piece == 1)
            assert_int_equal(boundaries, 7); /* after each frame's last byte, and only then */
    }
    pz_h2_out o = {0};
    pz_h2_out_bytes(&o, out, 5); /* half a header */
    assert_false(pz_h2_out_at_frame_boundary(&o));
    pz_h2_out_bytes(&o, out + 5, 4 + 6); /* the header and half the payload */
    assert_false(pz_h2_out_at_frame_boundary(&o));
    pz_h2_out_bytes(&o, out + 15, 6);
    assert_true(pz_h2_out_at_frame_boundary(&o));
}

static void the_goaway_is_the_graceful_one(void **state)
{
    (void)state;
    uint8_t g[PZ_H2_GOAWAY_LEN];
    pz_h2_goaway_graceful(g);
    const uint8_t want[PZ_H2_GOAWAY_LEN] = {0, 0, 8, 0x7, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    assert_memory_equal(g, want, sizeof want);
}

static const pz_conn_lifetime_limits LIMITS = {.idle_ms = 0, .age_ms = 10000, .grace_ms = 5000};

static void the_age_is_drawn_within_ten_percent(void **state)
{
    (void)state;
    const double jitters[] = {0.0, 0.5, 0.999};
    const int64_t due[] = {9000, 10000, 10998};
    for (size_t i = 0; i < 3; i++) {
        pz_conn_lifetime l;
        pz_conn_lifetime_init(&l, &LIMITS, 1000, jitters[i]);
        assert_int_equal(pz_conn_lifetime_step(&l, 1000 + due[i] - 1, 0, 1000), PZ_LIFE_WAIT);
        assert_int_equal(pz_conn_lifetime_step(&l, 1000 + due[i], 0, 1000), PZ_LIFE_GOAWAY_AGE);
        assert_int_equal(l.phase, PZ_LIFE_GOING_AWAY);
    }
}

static void an_old_connection_goes_away_once_its_streams_are_done(void **state)
{
    (void)state;
    pz_conn_lifetime l;
    pz_conn_lifetime_init(&l, &LIMITS, 0, 0.5);
    assert_int_equal(pz_conn_lifetime_step(&l, 10000, 2, 9990), PZ_LIFE_GOAWAY_AGE); /* busy or not */
    assert_int_equal(pz_conn_lifetime_step(&l, 10500, 2, 10400), PZ_LIFE_WAIT);      /* asked once */
    assert_int_equal(pz_conn_lifetime_step(&l, 10900, 0, 10800), PZ_LIFE_WAIT);      /* done, but within the drain */
    assert_int_equal(pz_conn_lifetime_step(&l, 10000 + PZ_LIFE_DRAIN_MS, 0, 10800), PZ_LIFE_SHUT_DOWN);
    assert_int_equal(l.phase, PZ_LIFE_SHUT);
    assert_int_equal(pz_conn_lifetime_step(&l, 20000, 0, 10800), PZ_LIFE_WAIT); /* shut once */
}

static void open_streams_get_the_grace_period_and_no_more(void **state)
{
    (void)state;
    pz_conn_lifetime l;
    pz_conn_lifetime_init(&l, &LIMITS, 0, 0.5);
    assert_int_equal(pz_conn_lifetime_step(&l, 10000, 1, 10000), PZ_LIFE_GOAWAY_AGE);
    assert_int_equal(pz_conn_lifetime_step(&l, 14999, 1, 14999), PZ_LIFE_WAIT);
    assert_int_equal(pz_conn_lifetime_step(&l, 15000, 1, 15000), PZ_LIFE_SHUT_DOWN);
}

static void an_idle_connection_is_one_without_streams_or_stream_frames(void **state)
{
    (void)state;
    pz_conn_lifetime_limits idle = {.idle_ms = 300, .age_ms = 0, .grace_ms = 5000};
    pz_conn_lifetime l;
    pz_conn_lifetime_init(&l, &idle, 0, 0.5);
    assert_int_equal(pz_conn_lifetime_step(&l, 299, 0, 0), PZ_LIFE_WAIT);
    assert_int_equal(pz_conn_lifetime_step(&l, 1000, 1, 0), PZ_LIFE_WAIT);   /* a stream open: not idle */
    assert_int_equal(pz_conn_lifetime_step(&l, 1000, 0, 800), PZ_LIFE_WAIT); /* a frame 200 ms ago */
    assert_int_equal(pz_conn_lifetime_step(&l, 1100, 0, 800), PZ_LIFE_GOAWAY_IDLE);
    assert_int_equal(pz_conn_lifetime_step(&l, 1100 + PZ_LIFE_DRAIN_MS, 0, 800), PZ_LIFE_SHUT_DOWN);
    /* without an age limit, a busy connection lives on */
    pz_conn_lifetime_init(&l, &idle, 0, 0.5);
    for (int64_t t = 0; t < 100000000; t += 100000)
        assert_int_equal(pz_conn_lifetime_step(&l, t, 1, t), PZ_LIFE_WAIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frames_are_followed_across_writes_of_any_size),
        cmocka_unit_test(the_goaway_is_the_graceful_one),
        cmocka_unit_test(the_age_is_drawn_within_ten_percent),
        cmocka_unit_test(an_old_connection_goes_away_once_its_streams_are_done),
        cmocka_unit_test(open_streams_get_the_grace_period_and_no_more),
        cmocka_unit_test(an_idle_connection_is_one_without_streams_or_stream_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
