/* pz_relay over real sockets (a socketpair stands for the client, another for grpc core): bytes
 * go both ways unchanged, a full destination holds the rest and stops the source being read,
 * ends and hang-ups close the relay after forwarding what was left, a client crossing the guard
 * is refused before grpc core sees the offending bytes, and an abort resets a TCP client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/grpc/relay.h"

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define SCRATCH 4096

/* The sockets of one test: the client's side and the relay's client end; the relay's core end
 * and grpc core's side. */
typedef struct rig {
    int client, relay_client, relay_core, core;
    pz_relay *r;
    uint8_t scratch[SCRATCH];
} rig;

static void pair(int *a, int *b)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    *a = sv[0];
    *b = sv[1];
}

static void rig_up(rig *t, int max_resets_per_sec)
{
    pair(&t->client, &t->relay_client);
    pair(&t->relay_core, &t->core);
    pz_h2_guard_limits l = {.max_resets_per_sec = max_resets_per_sec};
    t->r = pz_relay_create(t->relay_client, t->relay_core, &l, 0);
}

static void rig_down(rig *t)
{
    pz_relay_destroy(t->r, false);
    close(t->client);
    close(t->core);
}

static pz_relay_status on(rig *t, pz_relay_end end, uint32_t events)
{
    return pz_relay_on_events(t->r, end, events, t->scratch, sizeof t->scratch, 0);
}

static void send_all(int fd, const void *data, size_t len)
{
    assert_int_equal(send(fd, data, len, 0), (ssize_t)len);
}

/* Reads what is there (non-blocking) into buf; returns the count. */
static size_t drain(int fd, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
        if (n <= 0)
            return got;
        got += (size_t)n;
    }
}

static void bytes_go_both_ways(void **state)
{
    (void)state;
    rig t;
    rig_up(&t, 0);
    uint8_t buf[256];
    send_all(t.client, PREFACE, sizeof PREFACE - 1);
    assert_int_equal(on(&t, PZ_RELAY_CLIENT, EPOLLIN), PZ_RELAY_OPEN);
    assert_int_equal(drain(t.core, buf, sizeof buf), sizeof PREFACE - 1);
    assert_memory_equal(buf, PREFACE, sizeof PREFACE - 1);
    send_all(t.core, "server says hi", 14);
    assert_int_equal(on(&t, PZ_RELAY_CORE, EPOLLIN), PZ_RELAY_OPEN);
    assert_int_equal(drain(t.client, buf, sizeof buf), 14);
    assert_memory_equal(buf, "server says hi", 14);
    assert_true(pz_relay_guard(t.r)->server_settings_sent);
    /* nothing to read: still open, nothing moved */
    assert_int_equal(on(&t, PZ_RELAY_CLIENT, EPOLLIN), PZ_RELAY_OPEN);
    assert_int_equal(pz_relay_events(t.r, PZ_RELAY_CLIENT), EPOLLIN);
    assert_int_equal(pz_relay_events(t.r, PZ_RELAY_CORE), EPOLLIN);
    rig_down(&t);
}

/* Moves `total` bytes from `src` through the relay to `dst` while `dst`'s reader reads only now and
 * then: the relay must hold the rest, stop reading the source, and deliver everything in order. */
static void slow_reader(rig *t, pz_relay_end from, int src, int dst)
{
    pz_relay_end to = from == PZ_RELAY_CLIENT ? PZ_RELAY_CORE : PZ_RELAY_CLIENT;
    static uint8_t out[256 * 1024], in[256 * 1024];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (uint8_t)(i * 7 + i / 251);
    memcpy(out, PREFACE, sizeof PREFACE - 1);
    size_t sent = 0, got = 0;
    int rounds = 0;
    bool held = false;
    while (got < sizeof out) {
        assert_true(++rounds < 100000);
        ssize_t n = sent < sizeof out ? send(src, out + sent, sizeof out - sent, MSG_DONTWAIT) : 0;
        if (n > 0)
            sent += (size_t)n;
        if (pz_relay_events(t->r, from) & EPOLLIN) {
            assert_int_equal(on(t, from, EPOLLIN), PZ_RELAY_OPEN);
        } else { /* held: the source is not read until the destination took the rest */
            held = true;
            assert_true(pz_relay_events(t->r, to) & EPOLLOUT);
        }
        if (rounds % 3 == 0) { /* the reader reads now and then */
            got += drain(dst, in + got, sizeof in - got);
            if (pz_relay_events(t->r, to) & EPOLLOUT)
                assert_int_equal(on(t, to, EPOLLOUT), PZ_RELAY_OPEN);
        }
    }
    assert_true(held);
    assert_memory_equal(in, out, sizeof out);
}

static void small_buffers(int a, int b)
{
    int small = 4096;
    setsockopt(a, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    setsockopt(b, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
}

static void slow_core_holds_and_stops_the_client(void **state)
{
    (void)state;
    rig t;
    rig_up(&t, 0);
    small_buffers(t.core, t.relay_core);
    slow_reader(&t, PZ_RELAY_CLIENT, t.client, t.core);
    rig_down(&t);
}

static void slow_client_holds_and_stops_the_core(void **state)
{
    (void)state;
    rig t;
    rig_up(&t, 0);
    small_buffers(t.client, t.relay_client);
    slow_reader(&t, PZ_RELAY_CORE, t.core, t.client);
    rig_down(&t);
}

static void client_end_closes(void **state)
{
    (void)state;
    rig t;
    rig_up(&t, 0);
    close(t.client);
    assert_int_equal(on(&t, PZ_RELAY_CLIENT, EPOLLIN | EPOLLHUP), PZ_RELAY_CLOSED);
    pz_relay_destroy(t.r, false);
    uint8_t buf[16];
    assert_int_equal(recv(t.core, buf, sizeof buf, 0), 0); /* grpc core sees the end */
    close(t.core);
}

static void core_hang_up_forwards_what_is_left(void **state)
{
    (void)state;
    rig t;
    rig_up(&t, 0);
    send_all(t.core, "GOAWAY", 6);
    close(t.core);
    assert_int_equal(on(&t, PZ_RELAY_CORE, EPOLLIN | EPOLLHUP), PZ_RELAY_CLOSED);
    pz_relay_destroy(t.r, false);
    uint8_t buf[16];
    assert_int_equal(recv(t.client, buf, sizeof buf, 0), 6);
    assert_memory_equal(buf, "GOAWAY", 6);
    assert_int_equal(recv(t.client, buf, sizeof buf, 0), 0);
    close(t.client);
}

static void abusive_bytes_never_reach_core(void **state)
{
    (void)state;
    rig t;
    rig_up(&t, 2);
    uint8_t msg[256];
    size_t len = 0;
    memcpy(msg, PREFACE, sizeof PREFACE - 1);
    len += sizeof PREFACE - 1;
    send_all(t.client, msg, len);
    assert_int_equal(on(&t, PZ_RELAY_CLIENT, EPOLLIN), PZ_RELAY_OPEN);
    uint8_t buf[256];
    assert_int_equal(drain(t.core, buf, sizeof buf), len);
    /* three RST_STREAM frames with a budget of two */
    len = 0;
    for (uint8_t id = 1; id <= 5; id += 2) {
        const uint8_t rst[13] = {0, 0, 4, 3, 0, 0, 0, 0, id, 0, 0, 0, 8};
        memcpy(msg + len, rst, sizeof rst);
        len += sizeof rst;
    }
    send_all(t.client, msg, len);
    assert_int_equal(on(&t, PZ_RELAY_CLIENT, EPOLLIN), PZ_RELAY_ABUSIVE);
    assert_int_equal(pz_relay_guard(t.r)->verdict, PZ_H2_RESET_FLOOD);
    assert_int_equal(drain(t.core, buf, sizeof buf), 0);
    rig_down(&t);
}

static void abort_resets_a_tcp_client(void **state)
{
    (void)state;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof addr;
    assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(lfd, 1), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&addr, &alen), 0);
    int client = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(client, (struct sockaddr *)&addr, sizeof addr), 0);
    int accepted = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    assert_true(accepted >= 0);
    int core_ours, core_theirs;
    pair(&core_ours, &core_theirs);
    pz_h2_guard_limits l = {0};
    pz_relay *r = pz_relay_create(accepted, core_ours, &l, 0);
    pz_relay_destroy(r, true);
    uint8_t buf[16];
    errno = 0;
    assert_int_equal(recv(client, buf, sizeof buf, 0), -1);
    assert_int_equal(errno, ECONNRESET);
    assert_int_equal(recv(core_theirs, buf, sizeof buf, 0), 0);
    close(client);
    close(core_theirs);
    close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bytes_go_both_ways),
        cmocka_unit_test(slow_core_holds_and_stops_the_client),
        cmocka_unit_test(slow_client_holds_and_stops_the_core),
        cmocka_unit_test(client_end_closes),
        cmocka_unit_test(core_hang_up_forwards_what_is_left),
        cmocka_unit_test(abusive_bytes_never_reach_core),
        cmocka_unit_test(abort_resets_a_tcp_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
