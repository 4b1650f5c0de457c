#include "server/grpc/relay.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "server/core/mem.h"

/* One direction: read from `from`, written to `to`. Either end may be the client's TLS connection
 * (ssl_from / ssl_to), which may need the socket's other event to go on. */
typedef struct direction {
    int from, to;
    SSL *ssl_from, *ssl_to; /* NULL: the plain socket */
    uint32_t read_on;       /* the event on `from` the next read waits for: EPOLLIN, or EPOLLOUT (SSL_read) */
    uint32_t write_on;      /* the event on `to` the held bytes wait for: EPOLLOUT, or EPOLLIN (SSL_write) */
    uint8_t *held;          /* read but not yet taken by `to` (at most one piece), or NULL */
    size_t held_off, held_len;
} direction;

struct pz_relay {
    int fd[2];
    SSL *ssl;         /* the client's TLS connection, or NULL */
    direction dir[2]; /* indexed by the end it reads from: dir[PZ_RELAY_CLIENT] is client -> core */
    pz_h2_guard guard;
};

typedef enum step {
    STEP_MOVED,   /* a piece went through; there may be more */
    STEP_WAIT,    /* nothing to read now, or the destination is full */
    STEP_END,     /* end of stream or an error on either side */
    STEP_ABUSIVE, /* the guard refused the client's bytes; they were not forwarded */
} step;

typedef enum io { IO_OK, IO_WAIT, IO_END } io;

static pz_relay_end other(pz_relay_end end)
{
    return end == PZ_RELAY_CLIENT ? PZ_RELAY_CORE : PZ_RELAY_CLIENT;
}

static pz_relay *create(int client_fd, SSL *ssl, int core_fd, const pz_h2_guard_limits *limits, int64_t now_ms)
{
    pz_relay *r = pz_calloc(1, sizeof *r);
    r->fd[PZ_RELAY_CLIENT] = client_fd;
    r->fd[PZ_RELAY_CORE] = core_fd;
    r->ssl = ssl;
    r->dir[PZ_RELAY_CLIENT] =
        (direction){.from = client_fd, .to = core_fd, .ssl_from = ssl, .read_on = EPOLLIN, .write_on = EPOLLOUT};
    r->dir[PZ_RELAY_CORE] =
        (direction){.from = core_fd, .to = client_fd, .ssl_to = ssl, .read_on = EPOLLIN, .write_on = EPOLLOUT};
    pz_h2_guard_init(&r->guard, limits, now_ms);
    return r;
}

pz_relay *pz_relay_create(int client_fd, int core_fd, const pz_h2_guard_limits *limits, int64_t now_ms)
{
    return create(client_fd, NULL, core_fd, limits, now_ms);
}

pz_relay *pz_relay_create_tls(int client_fd, SSL *ssl, int core_fd, const uint8_t *first, size_t first_len,
                              const pz_h2_guard_limits *limits, int64_t now_ms)
{
    pz_relay *r = create(client_fd, ssl, core_fd, limits, now_ms);
    /* a piece that came through may be partial (SSL_write with a smaller remainder): never stuck on
     * retrying the exact buffer, and the held copy may move */
    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    if (first_len > 0) {
        /* sticky: a refusal surfaces at the next read of the client */
        pz_h2_guard_client_bytes(&r->guard, first, first_len, now_ms);
        direction *d = &r->dir[PZ_RELAY_CLIENT];
        d->held = pz_malloc(first_len);
        memcpy(d->held, first, first_len);
        d->held_len = first_len;
    }
    return r;
}

int pz_relay_fd(const pz_relay *r, pz_relay_end end)
{
    return r->fd[end];
}

const pz_h2_guard *pz_relay_guard(const pz_relay *r)
{
    return &r->guard;
}

uint32_t pz_relay_events(const pz_relay *r, pz_relay_end end)
{
    uint32_t events = 0;
    if (r->dir[end].held == NULL)
        events |= r->dir[end].read_on;
    if (r->dir[other(end)].held != NULL)
        events |= r->dir[other(end)].write_on;
    return events;
}

/* What an SSL call that returned `n` <= 0 waits for: the event to set in *on, or IO_END. */
static io tls_wait(SSL *ssl, int n, uint32_t *on)
{
    switch (SSL_get_error(ssl, n)) {
    case SSL_ERROR_WANT_READ: *on = EPOLLIN; return IO_WAIT;
    case SSL_ERROR_WANT_WRITE: *on = EPOLLOUT; return IO_WAIT;
    default: return IO_END; /* close_notify, a protocol error, the socket failed */
    }
}

static int ssl_len(size_t len)
{
    return len > INT_MAX ? INT_MAX : (int)len;
}

/* Reads what `d`'s source has, up to len bytes, into *got. */
static io read_from(direction *d, uint8_t *buf, size_t len, size_t *got)
{
    if (d->ssl_from != NULL) {
        ERR_clear_error(); /* SSL_get_error reads this thread's queue */
        int n = SSL_read(d->ssl_from, buf, ssl_len(len));
        if (n <= 0)
            return tls_wait(d->ssl_from, n, &d->read_on);
        d->read_on = EPOLLIN;
        *got = (size_t)n;
        return IO_OK;
    }
    ssize_t n = recv(d->from, buf, len, 0);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? IO_WAIT : IO_END;
    if (n == 0)
        return IO_END;
    *got = (size_t)n;
    return IO_OK;
}

/* Writes up to len bytes to `d`'s destination; *put says how many it took. */
static io write_to(direction *d, const uint8_t *buf, size_t len, size_t *put)
{
    *put = 0;
    if (d->ssl_to != NULL) {
        ERR_clear_error();
        int n = SSL_write(d->ssl_to, buf, ssl_len(len));
        if (n <= 0)
            return tls_wait(d->ssl_to, n, &d->write_on);
        d->write_on = EPOLLOUT;
        *put = (size_t)n;
        return IO_OK;
    }
    ssize_t n = send(d->to, buf, len, MSG_NOSIGNAL);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? IO_WAIT : IO_END;
    *put = (size_t)n;
    return IO_OK;
}

/* Writes what `d` holds. */
static step flush(direction *d)
{
    while (d->held != NULL) {
        size_t put;
        io res = write_to(d, d->held + d->held_off, d->held_len - d->held_off, &put);
        if (res != IO_OK)
            return res == IO_WAIT ? STEP_WAIT : STEP_END;
        d->held_off += put;
        if (d->held_off == d->held_len) {
            free(d->held);
            d->held = NULL;
        }
    }
    return STEP_MOVED;
}

/* Moves one piece in the direction reading from `end`: what it holds first, then one read. */
static step pump(pz_relay *r, pz_relay_end end, uint8_t *scratch, size_t scratch_len, int64_t now_ms)
{
    direction *d = &r->dir[end];
    step s = flush(d);
    if (s != STEP_MOVED)
        return s;
    size_t n = 0;
    io res = read_from(d, scratch, scratch_len, &n);
    if (res != IO_OK)
        return res == IO_WAIT ? STEP_WAIT : STEP_END;
    if (end == PZ_RELAY_CLIENT) {
        if (pz_h2_guard_client_bytes(&r->guard, scratch, n, now_ms) != PZ_H2_OK)
            return STEP_ABUSIVE;
    } else {
        pz_h2_guard_server_wrote(&r->guard);
    }
    size_t w = 0;
    if (write_to(d, scratch, n, &w) == IO_END)
        return STEP_END;
    if (w == n)
        return STEP_MOVED;
    d->held_len = n - w;
    d->held_off = 0;
    d->held = pz_malloc(d->held_len);
    memcpy(d->held, scratch + w, d->held_len);
    return STEP_WAIT;
}

/* Decrypted client bytes OpenSSL holds that no socket event will announce (a record read in part),
 * ready to go now. */
static bool tls_buffered(const pz_relay *r)
{
    const direction *d = &r->dir[PZ_RELAY_CLIENT];
    return r->ssl != NULL && d->held == NULL && d->read_on == EPOLLIN && SSL_pending(r->ssl) > 0;
}

/* Pumps the client's direction while OpenSSL holds decrypted bytes and grpc core takes them. */
static step drain_tls(pz_relay *r, step s, uint8_t *scratch, size_t scratch_len, int64_t now_ms)
{
    while (s == STEP_MOVED && tls_buffered(r))
        s = pump(r, PZ_RELAY_CLIENT, scratch, scratch_len, now_ms);
    return s;
}

pz_relay_status pz_relay_on_events(pz_relay *r, pz_relay_end end, uint32_t events, uint8_t *scratch, size_t scratch_len,
                                   int64_t now_ms)
{
    /* what the other direction holds for this end, when this end can take it now */
    direction *to_end = &r->dir[other(end)];
    if (to_end->held != NULL && (events & to_end->write_on) != 0) {
        step s = flush(to_end);
        if (s == STEP_END)
            return PZ_RELAY_CLOSED;
        if (end == PZ_RELAY_CORE)
            s = drain_tls(r, s, scratch, scratch_len, now_ms); /* the client's direction got going again */
        if (s == STEP_ABUSIVE || s == STEP_END)
            return s == STEP_ABUSIVE ? PZ_RELAY_ABUSIVE : PZ_RELAY_CLOSED;
    }
    if ((events & (r->dir[end].read_on | EPOLLHUP | EPOLLERR)) == 0)
        return PZ_RELAY_OPEN;
    step s = pump(r, end, scratch, scratch_len, now_ms); /* one piece per event: fair to other connections */
    if (end == PZ_RELAY_CLIENT)
        s = drain_tls(r, s, scratch, scratch_len, now_ms);
    if ((events & (EPOLLHUP | EPOLLERR)) != 0) {
        /* hung up: what is left to read is forwarded as far as it goes now; then the relay is done */
        while (s == STEP_MOVED)
            s = pump(r, end, scratch, scratch_len, now_ms);
        return s == STEP_ABUSIVE ? PZ_RELAY_ABUSIVE : PZ_RELAY_CLOSED;
    }
    return s == STEP_ABUSIVE ? PZ_RELAY_ABUSIVE : s == STEP_END ? PZ_RELAY_CLOSED : PZ_RELAY_OPEN;
}

void pz_relay_destroy(pz_relay *r, bool abort)
{
    if (r == NULL)
        return;
    if (abort) {
        /* linger 0: close() sends a reset and drops what the kernel still queues */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(r->fd[PZ_RELAY_CLIENT], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    } else if (r->ssl != NULL) {
        ERR_clear_error();
        SSL_shutdown(r->ssl); /* close_notify if the socket takes it now; never waits for the client's */
    }
    SSL_free(r->ssl);
    close(r->fd[PZ_RELAY_CLIENT]);
    close(r->fd[PZ_RELAY_CORE]);
    free(r->dir[PZ_RELAY_CLIENT].held);
    free(r->dir[PZ_RELAY_CORE].held);
    free(r);
}
