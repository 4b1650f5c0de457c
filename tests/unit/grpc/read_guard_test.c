/* pz_read_guard over real sockets: this test binary's recvmsg, sendmsg and close are the module's
 * (as grpc core's are in the server), so reading an attached socket with recvmsg(2) is what grpc
 * core does. Bytes within the limits come through unchanged; a flood fails the read with
 * ECONNRESET (and every later read), arms a reset on close, and is reported once when the socket is
 * closed; peeks are not counted; detaching reports without closing; a reused descriptor number
 * starts unguarded. End to end (grpc core reading through it) in
 * tests/integration/hardening/fronts_test.py (rapid reset, stream floods). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
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

/* A frame header (RFC 9113 §4.1) with an empty payload of `len` zero bytes after it. */
static size_t frame(uint8_t *out, uint8_t type, uint8_t flags, uint32_t stream, uint32_t len)
{
    uint8_t h[9] = {(uint8_t)(len >> 16),    (uint8_t)(len >> 8),     (uint8_t)len,           type,           flags,
                    (uint8_t)(stream >> 24), (uint8_t)(stream >> 16), (uint8_t)(stream >> 8), (uint8_t)stream};
    memcpy(out, h, sizeof h);
    memset(out + sizeof h, 0, len);
    return sizeof h + len;
}

/* A socketpair whose server end is attached with limits `l`, reporting into *log. */
static void attached_pair(int *client, int *server, closed_log *log, const pz_h2_guard_limits *l)
{
    relay_pair(client, server);
    *log = (closed_log){0};
    assert_int_equal(pz_read_guard_attach(*server, l, 0, on_closed, log), 0);
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
    n += frame(out + n, 0x4, 0, 0, 6);    /* SETTINGS */
    n += frame(out + n, 0x1, 0x4, 1, 40); /* HEADERS, stream 1 */
    n += frame(out + n, 0x0, 0x1, 1, 100);
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
    send_all(client, ping, frame(ping, 0x6, 0, 0, 8));
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
    n += frame(out + n, 0x4, 0x1, 0, 0);
    n += frame(out + n, 0x1, 0x4, 1, 0);
    n += frame(out + n, 0x1, 0x4, 3, 0);
    send_all(client, out, n);
    assert_int_equal(read_two(server, in, sizeof in, 0), (ssize_t)n);
    /* the server's SETTINGS go out through sendmsg, then the client acknowledges them */
    uint8_t settings[16];
    struct iovec iov = {settings, frame(settings, 0x4, 0, 0, 0)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    assert_int_equal(sendmsg(server, &msg, 0), (ssize_t)iov.iov_len);
    n = frame(out, 0x4, 0x1, 0, 0);
    for (uint32_t id = 5; id < 5 + 2 * 10; id += 2)
        n += frame(out + n, 0x1, 0x4, id, 0);
    send_all(client, out, n);
    assert_int_equal(read_two(server, in, sizeof in, 0), (ssize_t)n);
    close(server);
    assert_int_equal(log.verdict, PZ_H2_OK);
    assert_int_equal(log.streams, 12);
    close(client);

    /* without the server's SETTINGS written, the third stream crosses the limit */
    attached_pair(&client, &server, &log, &l);
    n = preface(out);
    n += frame(out + n, 0x4, 0x1, 0, 0);
    for (uint32_t id = 1; id <= 5; id += 2)
        n += frame(out + n, 0x1, 0x4, id, 0);
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
    assert_int_equal(pz_read_guard_attach(server, &l, 0, on_closed, &log), -1); /* once */
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
    assert_int_equal(pz_read_guard_attach(server, &l, 0, on_closed, &log), 0);
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
    assert_int_equal(pz_read_guard_attach(PZ_READ_GUARD_MAX_FD, &l, 0, on_closed, &log), -1);
    assert_int_equal(pz_read_guard_attach(-1, &l, 0, on_closed, &log), -1);
    assert_int_equal(pz_read_guard_attached(), 0);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
