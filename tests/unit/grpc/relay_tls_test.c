/* pz_relay over TLS (pz_relay_create_tls) with a real OpenSSL client on a socketpair: the preface
 * the acceptor read goes first and the rest of its record (decrypted, held by OpenSSL, which no
 * socket event announces) follows at once; grpc core's bytes reach the client encrypted; a slow
 * client or a slow grpc core holds one piece and stops the other side; the guard sees the
 * plaintext frames and refuses a reset flood before grpc core gets it. Certificates are made by
 * tests/unit/net/tls_certs.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/grpc/relay.h"
#include "tests/unit/grpc/relay_helpers.h"
#include "server/net/tls_context.h"
#include "tests/unit/net/tls_certs.h"

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN (sizeof PREFACE - 1)
static const uint8_t SETTINGS[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
static const unsigned char ALPN_H2[] = "\x02h2";

static tls_certs certs;

typedef struct rig {
    int client_fd, relay_client, relay_core, core;
    SSL_CTX *client_ctx;
    SSL *client;
    pz_tls_context *tls;
    pz_relay *r;
    uint8_t scratch[PZ_RELAY_MIN_SCRATCH];
} rig;

/* Handshake, then the client sends `first` in one record; the server reads the preface from it
 * as the acceptor does (the rest stays in OpenSSL) and the relay starts. */
static void rig_up(rig *t, int max_resets_per_sec, const uint8_t *first, size_t first_len)
{
    relay_pair(&t->client_fd, &t->relay_client);
    relay_pair(&t->relay_core, &t->core);
    pz_tls_options o = {.cert_file = "", .key_file = "", .alpn = &PZ_TLS_ALPN_H2_ONLY};
    char cert[192], key[192], err[256];
    snprintf(cert, sizeof cert, "%s", tls_certs_path(&certs, "server.pem"));
    snprintf(key, sizeof key, "%s", tls_certs_path(&certs, "server.key"));
    o.cert_file = cert;
    o.key_file = key;
    t->tls = pz_tls_context_create(&o, err, sizeof err);
    assert_non_null(t->tls);
    SSL_CTX *ctx = pz_tls_context_acquire(t->tls);
    SSL *server = SSL_new(ctx);
    SSL_CTX_free(ctx);
    SSL_set_fd(server, t->relay_client);
    SSL_set_accept_state(server);
    t->client_ctx = tls_certs_client_ctx(&certs, ALPN_H2, sizeof ALPN_H2 - 1, NULL);
    t->client = SSL_new(t->client_ctx);
    SSL_set_fd(t->client, t->client_fd);
    SSL_set_connect_state(t->client);
    assert_true(tls_certs_handshake(t->client, server));
    assert_int_equal(SSL_write(t->client, first, (int)first_len), (int)first_len);
    uint8_t preface[PREFACE_LEN];
    size_t have = 0;
    for (int i = 0; i < 100 && have < PREFACE_LEN; i++) {
        int n = SSL_read(server, preface + have, (int)(PREFACE_LEN - have));
        if (n > 0)
            have += (size_t)n;
    }
    assert_int_equal(have, PREFACE_LEN);
    assert_memory_equal(preface, PREFACE, PREFACE_LEN);
    pz_h2_guard_limits l = {.max_resets_per_sec = max_resets_per_sec};
    t->r = pz_relay_create_tls(t->relay_client, server, t->relay_core, preface, PREFACE_LEN, &l, 0);
}

static void rig_down(rig *t)
{
    pz_relay_destroy(t->r, false);
    SSL_free(t->client);
    SSL_CTX_free(t->client_ctx);
    pz_tls_context_destroy(t->tls);
    close(t->client_fd);
    close(t->core);
}

static pz_relay_status on(rig *t, pz_relay_end end, uint32_t events)
{
    return pz_relay_on_events(t->r, end, events, t->scratch, sizeof t->scratch, 0);
}

/* What the client can decrypt now. */
static size_t client_read(rig *t, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        int n = SSL_read(t->client, buf + got, (int)(cap - got));
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

static void preface_and_buffered_rest_go_first(void **state)
{
    (void)state;
    rig t;
    uint8_t first[PREFACE_LEN + sizeof SETTINGS];
    memcpy(first, PREFACE, PREFACE_LEN);
    memcpy(first + PREFACE_LEN, SETTINGS, sizeof SETTINGS);
    rig_up(&t, 0, first, sizeof first);
    /* the one call the acceptor makes after creating the relay: no socket event is pending */
    assert_int_equal(on(&t, PZ_RELAY_CLIENT, EPOLLIN), PZ_RELAY_OPEN);
    uint8_t buf[256];
    assert_int_equal(relay_drain(t.core, buf, sizeof buf), sizeof first);
    assert_memory_equal(buf, first, sizeof first);
    assert_int_equal(pz_relay_guard(t.r)->frames, 1);

    assert_int_equal(send(t.core, "server says hi", 14, 0), 14);
    assert_int_equal(on(&t, PZ_RELAY_CORE, EPOLLIN), PZ_RELAY_OPEN);
    assert_true(pz_relay_guard(t.r)->server_settings_sent);
    uint8_t raw[256];
    ssize_t n = recv(t.client_fd, raw, sizeof raw, MSG_PEEK);
    assert_true(n > 14);
    assert_null(memmem(raw, (size_t)n, "server says hi", 14)); /* encrypted on the wire */
    assert_int_equal(client_read(&t, buf, sizeof buf), 14);
    assert_memory_equal(buf, "server says hi", 14);
    assert_int_equal(pz_relay_events(t.r, PZ_RELAY_CLIENT), EPOLLIN);
    assert_int_equal(pz_relay_events(t.r, PZ_RELAY_CORE), EPOLLIN);
    rig_down(&t);
}

static uint8_t out[256 * 1024], in[256 * 1024];

static void pattern(void)
{
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (uint8_t)(i * 7 + i / 251);
}

/* The two sides of one direction: what writes `out` into the source (the client over TLS, or grpc
 * core) and what reads the destination, returning how much it took. */
typedef size_t (*side_fn)(rig *t, uint8_t *data, size_t len);

static size_t core_send(rig *t, uint8_t *data, size_t len)
{
    ssize_t n = send(t->core, data, len, MSG_DONTWAIT);
    return n > 0 ? (size_t)n : 0;
}

static size_t client_send(rig *t, uint8_t *data, size_t len)
{
    int n = SSL_write(t->client, data, (int)(len < 8192 ? len : 8192));
    return n > 0 ? (size_t)n : 0;
}

static size_t core_recv(rig *t, uint8_t *at, size_t cap)
{
    return relay_drain(t->core, at, cap);
}

/* Moves `out` from the end `from` to the other while the reader reads only now and then: the relay
 * must hold the rest (SSL_write unable to finish, or a full socketpair), stop reading the source,
 * and deliver everything in order. */
static void slow_reader(rig *t, pz_relay_end from, side_fn write_src, side_fn read_dst)
{
    pz_relay_end to = from == PZ_RELAY_CLIENT ? PZ_RELAY_CORE : PZ_RELAY_CLIENT;
    size_t sent = 0, got = 0;
    int rounds = 0;
    bool held = false;
    while (got < sizeof out) {
        assert_true(++rounds < 100000);
        if (sent < sizeof out)
            sent += write_src(t, out + sent, sizeof out - sent);
        if (pz_relay_events(t->r, from) & EPOLLIN) {
            assert_int_equal(on(t, from, EPOLLIN), PZ_RELAY_OPEN);
        } else {
            held = true;
            assert_true(pz_relay_events(t->r, to) & EPOLLOUT);
        }
        if (rounds % 3 == 0) {
            got += read_dst(t, in + got, sizeof in - got);
            if (pz_relay_events(t->r, to) & EPOLLOUT)
                assert_int_equal(on(t, to, EPOLLOUT), PZ_RELAY_OPEN);
        }
    }
    assert_true(held);
    assert_memory_equal(in, out, sizeof out);
}

static void slow_client_holds_and_stops_the_core(void **state)
{
    (void)state;
    rig t;
    rig_up(&t, 0, (const uint8_t *)PREFACE, PREFACE_LEN);
    assert_int_equal(on(&t, PZ_RELAY_CLIENT, EPOLLIN), PZ_RELAY_OPEN);
    relay_small_buffers(t.client_fd, t.relay_client);
    pattern();
    slow_reader(&t, PZ_RELAY_CORE, core_send, client_read);
    rig_down(&t);
}

static void slow_core_holds_and_stops_the_client(void **state)
{
    (void)state;
    rig t;
    rig_up(&t, 0, (const uint8_t *)PREFACE, PREFACE_LEN);
    assert_int_equal(on(&t, PZ_RELAY_CLIENT, EPOLLIN), PZ_RELAY_OPEN);
    uint8_t pre[PREFACE_LEN];
    assert_int_equal(relay_drain(t.core, pre, sizeof pre), PREFACE_LEN);
    relay_small_buffers(t.core, t.relay_core);
    pattern();
    /* one 256 KiB frame: the guard reads frame headers only, so it stays quiet */
    const uint32_t len = sizeof out - 9;
    out[0] = (uint8_t)(len >> 16), out[1] = (uint8_t)(len >> 8), out[2] = (uint8_t)len, out[3] = 0;
    slow_reader(&t, PZ_RELAY_CLIENT, client_send, core_recv);
    rig_down(&t);
}

static void reset_flood_over_tls_never_reaches_core(void **state)
{
    (void)state;
    rig t;
    rig_up(&t, 2, (const uint8_t *)PREFACE, PREFACE_LEN);
    assert_int_equal(on(&t, PZ_RELAY_CLIENT, EPOLLIN), PZ_RELAY_OPEN);
    uint8_t buf[256];
    assert_int_equal(relay_drain(t.core, buf, sizeof buf), PREFACE_LEN);
    uint8_t msg[64];
    size_t len = relay_rst_frames(msg, 3); /* three RST_STREAM frames with a budget of two */
    assert_int_equal(SSL_write(t.client, msg, (int)len), (int)len);
    assert_int_equal(on(&t, PZ_RELAY_CLIENT, EPOLLIN), PZ_RELAY_ABUSIVE);
    assert_int_equal(pz_relay_guard(t.r)->verdict, PZ_H2_RESET_FLOOD);
    assert_int_equal(relay_drain(t.core, buf, sizeof buf), 0);
    rig_down(&t);
}

static void client_close_notify_closes(void **state)
{
    (void)state;
    rig t;
    rig_up(&t, 0, (const uint8_t *)PREFACE, PREFACE_LEN);
    assert_int_equal(on(&t, PZ_RELAY_CLIENT, EPOLLIN), PZ_RELAY_OPEN);
    SSL_shutdown(t.client);
    assert_int_equal(on(&t, PZ_RELAY_CLIENT, EPOLLIN), PZ_RELAY_CLOSED);
    rig_down(&t);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* as the server does: OpenSSL writes with write() */
    tls_certs_make(&certs);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tls_certs_remove(&certs);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(preface_and_buffered_rest_go_first),
        cmocka_unit_test(slow_client_holds_and_stops_the_core),
        cmocka_unit_test(slow_core_holds_and_stops_the_client),
        cmocka_unit_test(reset_flood_over_tls_never_reaches_core),
        cmocka_unit_test(client_close_notify_closes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
