/* pz_read_guard over real sockets: this test binary's recvmsg, sendmsg and close are the module's
 * (as grpc core's are in the server), so reading an attached socket with recvmsg(2) is what grpc
 * core does. Bytes within the limits come through unchanged; a flood fails the read with
 * ECONNRESET (and every later read), arms a reset on close, and is reported once when the socket is
 * closed; peeks are not counted; detaching reports without closing; a reused descriptor number
 * starts unguarded. With a lifetime: the GOAWAY goes between two frames of what the server wrote
 * with sendmsg(2), before its next write when the socket was full, and the shutdown waits for the
 * open streams. End to end (grpc core reading and writing through it) in
 * tests/integration/hardening/fronts_test.py (rapid reset, stream floods, idle and age). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "server/grpc/read_guard.h"
#include "tests/unit/grpc/relay_helpers.h"

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN (sizeof PREFACE - 1)
#define BUF 8192

/* What on_closed was told. */
typedef struct closed_log {
    int calls;
    pz_h2_verdict verdict;
    uint64_t resets, streams;
} closed_log;

static void on_closed(void *ctx, const pz_h2_guard *g)
{
    closed_log *log = ctx;
    log->calls++;
    log->verdict = g->verdict;
    log->resets = g->resets;
    log->streams = g->streams;
}

static void send_all(int fd, const void *data, size_t len)
{
    assert_int_equal(send(fd, data, len, 0), (ssize_t)len);
}

/* One recvmsg over two buffers (grpc core reads into several slices at once). */
static ssize_t read_two(int fd, uint8_t *buf, size_t len, int flags)
{
    struct iovec iov[2] = {{buf, len / 2}, {buf + len / 2, len - len / 2}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    return recvmsg(fd, &msg, flags);
}

/* A socketpair whose server end is attached with limits `l`, reporting into *log. */
static void attached_pair(int *client, int *server, closed_log *log, const pz_h2_guard_limits *l)
{
    relay_pair(client, server);
    *log = (closed_log){0};
    assert_int_equal(pz_read_guard_attach(*server, l, NULL, 0, on_closed, log), 0);
}

/* The connection preface into out; returns its length. */
static size_t preface(uint8_t *out)
{
    memcpy(out, PREFACE, PREFACE_LEN);
    return PREFACE_LEN;
}

static void bytes_within_limits_come_through_unchanged(void **state)
{
    (void)state;
    int client, server;
    pz_h2_guard_limits l = {.max_resets_per_sec = 5, .max_streams_unacked = 10};
    closed_log log;
    attached_pair(&client, &server, &log, &l);
    assert_int_equal(pz_read_guard_attached(), 1);
    uint8_t out[BUF], in[BUF];
    size_t n = preface(out);
    n += relay_frame(out + n, 0x4, 0, 0, 6);    /* SETTINGS */
    n += relay_frame(out + n, 0x1, 0x4, 1, 40); /* HEADERS, stream 1 */
    n += relay_frame(out + n, 0x0, 0x1, 1, 100);
    n += relay_rst_frames(out + n, 5); /* the whole reset budget */
    send_all(client, out, n);
    assert_int_equal(read_two(server, in, sizeof in, 0), (ssize_t)n);
    assert_memory_equal(in, out, n);
    close(server);
    assert_int_equal(log.calls, 1);
    assert_int_equal(log.verdict, PZ_H2_OK);
    assert_int_equal(log.resets, 5);
    assert_int_equal(log.streams, 1);
    assert_int_equal(pz_read_guard_attached(), 0);
    close(client);
}

static void a_reset_flood_fails_every_read_and_is_reported_on_close(void **state)
{
    (void)state;
    int client, server;
    pz_h2_guard_limits l = {.max_resets_per_sec = 5};
    closed_log log;
    attached_pair(&client, &server, &log, &l);
    uint8_t out[BUF], in[BUF];
    size_t n = preface(out);
    n += relay_rst_frames(out + n, 6);
    send_all(client, out, n);
    errno = 0;
    assert_int_equal(read_two(server, in, sizeof in, 0), -1);
    assert_int_equal(errno, ECONNRESET);
    /* sticky: harmless bytes after it fail too */
    uint8_t ping[32];
    send_all(client, ping, relay_frame(ping, 0x6, 0, 0, 8));
    errno = 0;
    assert_int_equal(read_two(server, in, sizeof in, 0), -1);
    assert_int_equal(errno, ECONNRESET);
    /* the close that follows is a reset */
    struct linger lg;
    socklen_t sl = sizeof lg;
    assert_int_equal(getsockopt(server, SOL_SOCKET, SO_LINGER, &lg, &sl), 0);
    assert_int_equal(lg.l_onoff, 1);
    assert_int_equal(lg.l_linger, 0);
    assert_int_equal(log.calls, 0);
    close(server);
    assert_int_equal(log.calls, 1);
    assert_int_equal(log.verdict, PZ_H2_RESET_FLOOD);
    assert_int_equal(log.resets, 6);
    close(client);
}

static void streams_before_the_settings_ack_are_bounded_until_the_server_wrote_and_the_client_acked(void **state)
{
    (void)state;
    int client, server;
    pz_h2_guard_limits l = {.max_streams_unacked = 2};
    closed_log log;
    attached_pair(&client, &server, &log, &l);
    uint8_t out[BUF], in[BUF];
    size_t n = preface(out);
    /* an acknowledgement before the server wrote anything acknowledges nothing */
    n += relay_frame(out + n, 0x4, 0x1, 0, 0);
    n += relay_frame(out + n, 0x1, 0x4, 1, 0);
    n += relay_frame(out + n, 0x1, 0x4, 3, 0);
    send_all(client, out, n);
    assert_int_equal(read_two(server, in, sizeof in, 0), (ssize_t)n);
    /* the server's SETTINGS go out through sendmsg, then the client acknowledges them */
    uint8_t settings[16];
    struct iovec iov = {settings, relay_frame(settings, 0x4, 0, 0, 0)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    assert_int_equal(sendmsg(server, &msg, 0), (ssize_t)iov.iov_len);
    n = relay_frame(out, 0x4, 0x1, 0, 0);
    for (uint32_t id = 5; id < 5 + 2 * 10; id += 2)
        n += relay_frame(out + n, 0x1, 0x4, id, 0);
    send_all(client, out, n);
    assert_int_equal(read_two(server, in, sizeof in, 0), (ssize_t)n);
    close(server);
    assert_int_equal(log.verdict, PZ_H2_OK);
    assert_int_equal(log.streams, 12);
    close(client);

    /* without the server's SETTINGS written, the third stream crosses the limit */
    attached_pair(&client, &server, &log, &l);
    n = preface(out);
    n += relay_frame(out + n, 0x4, 0x1, 0, 0);
    for (uint32_t id = 1; id <= 5; id += 2)
        n += relay_frame(out + n, 0x1, 0x4, id, 0);
    send_all(client, out, n);
    assert_int_equal(read_two(server, in, sizeof in, 0), -1);
    close(server);
    assert_int_equal(log.verdict, PZ_H2_STREAMS_BEFORE_ACK);
    close(client);
}

static void peeked_bytes_are_counted_once_when_read(void **state)
{
    (void)state;
    int client, server;
    pz_h2_guard_limits l = {.max_resets_per_sec = 3};
    closed_log log;
    attached_pair(&client, &server, &log, &l);
    uint8_t out[BUF], in[BUF];
    size_t n = preface(out);
    n += relay_rst_frames(out + n, 3);
    send_all(client, out, n);
    for (int i = 0; i < 3; i++)
        assert_int_equal(read_two(server, in, sizeof in, MSG_PEEK), (ssize_t)n);
    assert_int_equal(read_two(server, in, sizeof in, 0), (ssize_t)n);
    close(server);
    assert_int_equal(log.verdict, PZ_H2_OK);
    assert_int_equal(log.resets, 3);
    close(client);
}

static void detach_reports_without_closing_and_a_reused_number_starts_unguarded(void **state)
{
    (void)state;
    int client, server;
    pz_h2_guard_limits l = {.max_resets_per_sec = 1};
    closed_log log;
    attached_pair(&client, &server, &log, &l);
    assert_int_equal(pz_read_guard_attach(server, &l, NULL, 0, on_closed, &log), -1); /* once */
    pz_read_guard_detach(server);
    assert_int_equal(log.calls, 1);
    pz_read_guard_detach(server); /* nothing left to detach */
    assert_int_equal(log.calls, 1);
    /* still open, and no longer checked */
    uint8_t out[BUF], in[BUF];
    size_t n = preface(out);
    n += relay_rst_frames(out + n, 10);
    send_all(client, out, n);
    assert_int_equal(read_two(server, in, sizeof in, 0), (ssize_t)n);
    close(server);
    assert_int_equal(log.calls, 1);
    close(client);

    /* a guard closed with its descriptor leaves nothing behind for the next socket on that number */
    relay_pair(&client, &server);
    int number = server;
    assert_int_equal(pz_read_guard_attach(server, &l, NULL, 0, on_closed, &log), 0);
    close(server);
    close(client);
    assert_int_equal(log.calls, 2);
    relay_pair(&client, &server);
    assert_int_equal(server == number || client == number, 1); /* the lowest free number is reused */
    int reused = server == number ? server : client, peer = server == number ? client : server;
    send_all(peer, out, n);
    assert_int_equal(read_two(reused, in, sizeof in, 0), (ssize_t)n);
    assert_int_equal(log.calls, 2);
    close(server);
    close(client);
}

static void descriptors_beyond_the_table_are_refused(void **state)
{
    (void)state;
    closed_log log = {0};
    pz_h2_guard_limits l = {.max_resets_per_sec = 1};
    assert_int_equal(pz_read_guard_attach(PZ_READ_GUARD_MAX_FD, &l, NULL, 0, on_closed, &log), -1);
    assert_int_equal(pz_read_guard_attach(-1, &l, NULL, 0, on_closed, &log), -1);
    assert_int_equal(pz_read_guard_attached(), 0);
}

/* ---- the connection's lifetime (conn_lifetime.h), kept by the guard ---- */

static const uint8_t GOAWAY[PZ_H2_GOAWAY_LEN] = {0, 0, 8, 0x7, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};

/* What grpc core does to write: sendmsg over two buffers. */
static ssize_t write_two(int fd, const uint8_t *data, size_t len)
{
    struct iovec iov[2] = {{(void *)data, len / 2}, {(void *)(data + len / 2), len - len / 2}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A socketpair whose server end was attached at t0 with an age of 1000 ms (due within 900 to 1100
 * ms) and a grace period of 5000 ms. */
typedef struct aging {
    int client, server;
    closed_log log;
    int64_t t0;
} aging;

static void aging_pair(aging *a)
{
    relay_pair(&a->client, &a->server);
    a->log = (closed_log){0};
    a->t0 = now_ms();
    pz_h2_guard_limits l = {0};
    pz_conn_lifetime_limits life = {.age_ms = 1000, .grace_ms = 5000};
    assert_int_equal(pz_read_guard_attach(a->server, &l, &life, a->t0, on_closed, &a->log), 0);
}

static void an_old_connection_gets_a_goaway_between_frames_then_is_shut_down(void **state)
{
    (void)state;
    aging a;
    aging_pair(&a);
    uint8_t out[BUF], in[BUF];
    size_t settings = relay_frame(out, 0x4, 0, 0, 6);
    assert_int_equal(write_two(a.server, out, settings), (ssize_t)settings);
    assert_int_equal(pz_read_guard_tend(a.server, a.t0 + 800), PZ_LIFE_WAIT);
    /* grpc core is in the middle of a frame when the age comes: the GOAWAY waits for its end */
    size_t data = relay_frame(out + settings, 0x0, 0, 1, 200);
    assert_int_equal(write_two(a.server, out + settings, 100), 100);
    assert_int_equal(pz_read_guard_tend(a.server, a.t0 + 1100), PZ_LIFE_GOAWAY_AGE);
    assert_int_equal(relay_drain(a.client, in, sizeof in), settings + 100);
    assert_int_equal(write_two(a.server, out + settings + 100, data - 100), (ssize_t)(data - 100));
    assert_int_equal(pz_read_guard_tend(a.server, a.t0 + 1200), PZ_LIFE_WAIT); /* written now */
    assert_int_equal(relay_drain(a.client, in, sizeof in), data - 100 + PZ_H2_GOAWAY_LEN);
    assert_memory_equal(in, out + settings + 100, data - 100);
    assert_memory_equal(in + data - 100, GOAWAY, PZ_H2_GOAWAY_LEN);
    /* no stream open: shut down after the drain */
    assert_int_equal(pz_read_guard_tend(a.server, a.t0 + 1100 + PZ_LIFE_DRAIN_MS - 1), PZ_LIFE_WAIT);
    assert_int_equal(pz_read_guard_tend(a.server, a.t0 + 1100 + PZ_LIFE_DRAIN_MS), PZ_LIFE_SHUT_DOWN);
    assert_int_equal(read_two(a.server, in, sizeof in, 0), 0); /* grpc core reads the end, and closes */
    assert_int_equal(recv(a.client, in, sizeof in, 0), 0);
    close(a.server);
    assert_int_equal(a.log.calls, 1);
    close(a.client);
}

static void an_open_stream_holds_the_shutdown_until_the_server_ends_it(void **state)
{
    (void)state;
    aging a;
    aging_pair(&a);
    uint8_t out[BUF], in[BUF];
    size_t n = preface(out);
    n += relay_frame(out + n, 0x1, 0x4 | 0x1, 1, 20); /* a request on stream 1 */
    send_all(a.client, out, n);
    assert_int_equal(read_two(a.server, in, sizeof in, 0), (ssize_t)n);
    assert_int_equal(pz_read_guard_tend(a.server, a.t0 + 1100), PZ_LIFE_GOAWAY_AGE);
    assert_int_equal(relay_drain(a.client, in, sizeof in), PZ_H2_GOAWAY_LEN); /* nothing was written: at once */
    assert_memory_equal(in, GOAWAY, PZ_H2_GOAWAY_LEN);
    assert_int_equal(pz_read_guard_tend(a.server, a.t0 + 1100 + PZ_LIFE_DRAIN_MS + 100), PZ_LIFE_WAIT); /* open */
    size_t response = relay_frame(out, 0x1, 0x4, 1, 10);
    response += relay_frame(out + response, 0x0, 0, 1, 30);
    assert_int_equal(write_two(a.server, out, response), (ssize_t)response);
    assert_int_equal(pz_read_guard_tend(a.server, a.t0 + 1100 + PZ_LIFE_DRAIN_MS + 200), PZ_LIFE_WAIT); /* still */
    size_t trailers = relay_frame(out, 0x1, 0x4 | 0x1, 1, 10);
    assert_int_equal(write_two(a.server, out, trailers), (ssize_t)trailers);
    assert_int_equal(pz_read_guard_tend(a.server, a.t0 + 1100 + PZ_LIFE_DRAIN_MS + 300), PZ_LIFE_SHUT_DOWN);
    assert_int_equal(relay_drain(a.client, in, sizeof in), response + trailers); /* all of it arrived */
    close(a.server);
    close(a.client);
}

static void a_goaway_the_socket_cannot_take_goes_before_the_next_write(void **state)
{
    (void)state;
    aging a;
    aging_pair(&a);
    relay_small_buffers(a.client, a.server);
    /* fill the socket (send(2) is not sendmsg: as if grpc core had written whole frames) */
    static uint8_t fill[1 << 20], in[1 << 20];
    size_t filled = 0;
    for (ssize_t k; (k = send(a.server, fill, 512, MSG_DONTWAIT)) > 0;)
        filled += (size_t)k;
    assert_true(filled > 0);
    assert_int_equal(pz_read_guard_tend(a.server, a.t0 + 1100), PZ_LIFE_GOAWAY_AGE); /* wanted, not written */
    uint8_t out[64];
    size_t ping = relay_frame(out, 0x6, 0, 0, 8);
    errno = 0;
    assert_int_equal(write_two(a.server, out, ping), -1); /* grpc core waits for the socket */
    assert_int_equal(errno, EAGAIN);
    size_t got = 0;
    while (got < filled)
        got += relay_drain(a.client, in + got, sizeof in - got);
    assert_int_equal(got, filled);
    assert_int_equal(write_two(a.server, out, ping), (ssize_t)ping);
    assert_int_equal(relay_drain(a.client, in, sizeof in), PZ_H2_GOAWAY_LEN + ping);
    assert_memory_equal(in, GOAWAY, PZ_H2_GOAWAY_LEN);
    assert_memory_equal(in + PZ_H2_GOAWAY_LEN, out, ping);
    close(a.server);
    close(a.client);
}

static void an_idle_connection_gets_its_goaway_and_activity_keeps_it(void **state)
{
    (void)state;
    int client, server;
    closed_log log = {0};
    relay_pair(&client, &server);
    pz_h2_guard_limits l = {0};
    pz_conn_lifetime_limits life = {.idle_ms = 300, .grace_ms = 5000};
    int64_t t0 = now_ms();
    assert_int_equal(pz_read_guard_attach(server, &l, &life, t0, on_closed, &log), 0);
    uint8_t out[BUF], in[BUF];
    size_t n = preface(out);
    n += relay_frame(out + n, 0x1, 0x4 | 0x1, 1, 20);
    send_all(client, out, n);
    assert_int_equal(read_two(server, in, sizeof in, 0), (ssize_t)n);
    int64_t t1 = now_ms();                                                /* the request's time, as the read saw it */
    assert_int_equal(pz_read_guard_tend(server, t1 + 400), PZ_LIFE_WAIT); /* its stream is open */
    size_t trailers = relay_frame(out, 0x1, 0x4 | 0x1, 1, 10);
    assert_int_equal(write_two(server, out, trailers), (ssize_t)trailers);
    int64_t t2 = now_ms();
    assert_int_equal(pz_read_guard_tend(server, t2 + 200), PZ_LIFE_WAIT); /* done 200 ms ago */
    assert_int_equal(pz_read_guard_tend(server, t2 + 1000), PZ_LIFE_GOAWAY_IDLE);
    relay_drain(client, in, sizeof in);
    close(server);
    close(client);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bytes_within_limits_come_through_unchanged),
        cmocka_unit_test(a_reset_flood_fails_every_read_and_is_reported_on_close),
        cmocka_unit_test(streams_before_the_settings_ack_are_bounded_until_the_server_wrote_and_the_client_acked),
        cmocka_unit_test(peeked_bytes_are_counted_once_when_read),
        cmocka_unit_test(detach_reports_without_closing_and_a_reused_number_starts_unguarded),
        cmocka_unit_test(descriptors_beyond_the_table_are_refused),
        cmocka_unit_test(an_old_connection_gets_a_goaway_between_frames_then_is_shut_down),
        cmocka_unit_test(an_open_stream_holds_the_shutdown_until_the_server_ends_it),
        cmocka_unit_test(a_goaway_the_socket_cannot_take_goes_before_the_next_write),
        cmocka_unit_test(an_idle_connection_gets_its_goaway_and_activity_keeps_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
