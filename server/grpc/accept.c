#include "server/grpc/accept.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "server/core/clock.h"
#include "server/core/hash.h"
#include "server/core/log.h"
#include "server/core/mem.h"
#include "server/grpc/read_guard.h"
#include "server/grpc/relay.h"

/* What every HTTP/2 client sends first (RFC 9113 §3.4). */
static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN (sizeof PREFACE - 1)
/* "[v6 address]:port" and its NUL. */
#define PEER_ADDR_MAX (INET6_ADDRSTRLEN + 16)
/* "fd:" and a descriptor number: grpc core names a connection handed to it by its descriptor
 * (grpc_call_get_peer returns that), so calls are matched to connections by it. */
#define PEER_KEY_MAX 24
/* Buckets of the peer -> connection map; a power of two. */
#define N_BUCKETS 4096
/* Events taken from epoll per wake-up. */
#define MAX_EVENTS 64
/* The relay's read size: one piece of a connection per event, so a busy connection cannot starve
 * the others; 64 KiB is what a TCP read returns at most on loopback anyway. */
#define SCRATCH_BYTES (64 * 1024)
/* The send buffer asked for on both ends of a relay's socketpair. An AF_UNIX socket's default
 * (net.core.wmem_default, 208 KiB) filled up under 16 connections x 32 streams of 10 KB cache hits:
 * grpc core's sendmsg failed with EAGAIN on about one write in ten, and each time grpc 1.51 started
 * its backup poller on an executor thread; a bare grpc-core server behind the relay then used 36.5
 * instead of 20.5 us of CPU per call (README "Performance"). The kernel doubles the request (and
 * caps it at twice net.core.wmem_max: 416 KiB on stock Debian, which measured as well as 4 MiB).
 * Not more: it is kernel memory a client that stops reading can pin per connection, outside grpc's
 * memory quota. */
#define RELAY_SOCKET_BUFFER_BYTES (256 << 10)
/* Refused connections and accept pauses are logged at most this often (each kind), so an attack
 * costs one log line per interval, not one per connection. */
#define REFUSAL_LOG_INTERVAL_MS 10000
#define US_PER_MS 1000
/* How often worker 0 tends the lifetime of plaintext connections (idle, age): the precision of
 * those limits. */
#define LIFETIME_TICK_MS 250

typedef enum conn_state { CONN_PENDING, CONN_SERVING, CONN_CLOSED } conn_state;

/* Tags of the epoll entries that are not connections (pointers are never this small). */
enum { TAG_LISTENER = 1, TAG_WAKE = 2 };

typedef struct conn conn;
typedef struct worker worker;

/* The epoll entry of one of a connection's descriptors. */
typedef struct conn_end {
    conn *c;
    pz_relay_end end;
} conn_end;

/* An accepted connection: pending (in its TLS handshake, or waiting for the preface; fd is the
 * client's socket), serving (plaintext: grpc core owns the socket, whose reads pass the guard, and
 * the connection ends when grpc core closes it; TLS: relayed to grpc core) or closed (freed after
 * the current batch of events). */
struct conn {
    worker *w; /* the relay thread that took it: its handshake, and over TLS its relay */
    conn_state state;
    int fd;   /* pending: the client's socket (the relay owns it once serving) */
    SSL *ssl; /* pending over TLS: the client's TLS connection (the relay owns it once serving) */
    bool handshaken;
    uint8_t preface[PREFACE_LEN]; /* over TLS: the preface bytes read so far (SSL_read consumes them) */
    size_t preface_have;
    pz_relay *relay; /* serving over TLS; NULL when serving plaintext (grpc core reads the socket itself) */
    conn_end ends[2];
    uint32_t watched[2]; /* epoll events registered per end */
    struct sockaddr_storage peer;
    char addr[PEER_ADDR_MAX]; /* the client's address, for logs */
    char key[PEER_KEY_MAX];   /* serving: "fd:N", grpc's name of the connection */
    int64_t deadline_ms;      /* pending: the handshake deadline */
    conn *prev, *next;        /* pending list (deadline order), serving list or dead list */
    conn *bucket_next;        /* peer map (serving only) */
};

typedef struct conn_list {
    conn *head, *tail;
    size_t n;
} conn_list;

/* One relay thread: its own epoll loop over the connections it was given (their handshakes, then
 * over TLS their relays). Worker 0 also owns the listener: it accepts, admits and hands each
 * connection to the next worker in turn (round robin), itself included. */
struct worker {
    pz_grpc_acceptor *a;
    int index;
    int epoll_fd, wake_fd;
    pthread_t thread;
    bool started;
    uint8_t *scratch;
    conn_list pending;      /* this thread only: in their handshake, deadline order */
    conn_list dead;         /* this thread only: closed during the current batch of events; freed after it */
    conn_list inbox;        /* under a->mu: accepted by worker 0 for this worker, not taken yet */
    bool stopped_accepting; /* under a->mu: its handshakes are closed (pz_grpc_acceptor_stop) */
};

struct pz_grpc_acceptor {
    pz_grpc_accept_options o;
    worker *workers;
    int n_workers;
    /* worker 0's thread only: the listener and its pauses */
    int listen_fd;
    bool paused;
    int64_t resume_ms;
    int64_t last_refusal_log_ms, last_pause_log_ms;
    unsigned long refused_since_log;
    unsigned next_worker; /* the worker the next accepted connection goes to */
    int64_t next_tend_ms; /* tend_lifetimes */

    pthread_mutex_t mu; /* requests to the threads, the inboxes, the serving list and the peer map */
    pthread_cond_t cond;
    bool stop_accepting, stopping;
    int n_stopped_accepting; /* workers that closed their handshakes since stop_accepting */
    int pause_err;           /* another worker ran out of descriptors: worker 0 pauses accepting */
    conn_list serving;
    conn *buckets[N_BUCKETS];
};

static int64_t mono_ms(void)
{
    return pz_mono_us() / US_PER_MS;
}

static void list_push(conn_list *l, conn *c)
{
    c->prev = l->tail;
    c->next = NULL;
    if (l->tail != NULL)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    l->n++;
}

static void list_remove(conn_list *l, conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    l->n--;
}

/* "1.2.3.4:5678" / "[::1]:5678"; an IPv4-mapped address prints as IPv4, as grpc prints it. */
static void peer_address(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(out, len, "%s:%d", host, ntohs(in->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            inet_ntop(AF_INET, in6->sin6_addr.s6_addr + 12, host, sizeof host);
            snprintf(out, len, "%s:%d", host, ntohs(in6->sin6_port));
        } else {
            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
            snprintf(out, len, "[%s]:%d", host, ntohs(in6->sin6_port));
        }
    } else {
        snprintf(out, len, "-");
    }
}

static conn **bucket_of(pz_grpc_acceptor *a, const char *key)
{
    return &a->buckets[pz_hash64(key, strlen(key), 0) & (N_BUCKETS - 1)];
}

static void map_remove(pz_grpc_acceptor *a, conn *c)
{
    for (conn **p = bucket_of(a, c->key); *p != NULL; p = &(*p)->bucket_next) {
        if (*p == c) {
            *p = c->bucket_next;
            return;
        }
    }
}

static void count_serving(const conn *c, long delta)
{
    pz_grpc_accept_stats *st = c->w->a->o.stats;
    if (st != NULL)
        atomic_fetch_add_explicit(&st->connections[c->w->index], delta, memory_order_relaxed);
}

/* Closes a pending or relayed connection and gives its slot back (one served inline is grpc core's:
 * see on_inline_closed); the struct is freed after the current batch of events, which may still
 * name it. abort: see pz_relay_destroy. On its worker's thread (or once the threads are joined). */
static void close_conn(conn *c, bool abort)
{
    worker *w = c->w;
    pz_grpc_acceptor *a = w->a;
    if (c->state == CONN_SERVING) {
        pthread_mutex_lock(&a->mu);
        list_remove(&a->serving, c);
        map_remove(a, c);
        pthread_mutex_unlock(&a->mu);
        count_serving(c, -1);
        pz_relay_destroy(c->relay, abort); /* closing the descriptors takes them out of epoll */
    } else {
        list_remove(&w->pending, c);
        SSL_free(c->ssl);
        close(c->fd);
    }
    pz_conn_limits_release(a->o.limits, (const struct sockaddr *)&c->peer);
    c->state = CONN_CLOSED;
    list_push(&w->dead, c);
}

/* Closes a connection accepted for a worker that never took it (the acceptor is stopping). */
static void close_untaken(pz_grpc_acceptor *a, conn *c)
{
    close(c->fd);
    pz_conn_limits_release(a->o.limits, (const struct sockaddr *)&c->peer);
    free(c);
}

static void free_dead(worker *w)
{
    while (w->dead.head != NULL) {
        conn *c = w->dead.head;
        list_remove(&w->dead, c);
        free(c);
    }
}

static void wake(worker *w)
{
    uint64_t one = 1;
    ssize_t r = write(w->wake_fd, &one, sizeof one);
    (void)r;
}

static void log_refusal(pz_grpc_acceptor *a, pz_conn_verdict v, const char *key, int64_t now)
{
    a->refused_since_log++;
    if (now - a->last_refusal_log_ms < REFUSAL_LOG_INTERVAL_MS)
        return;
    pz_warn("grpc: refused %lu connection(s) (last from %s: %s limit)", a->refused_since_log, key,
            pz_conn_verdict_str(v));
    a->refused_since_log = 0;
    a->last_refusal_log_ms = now;
}

/* Worker 0's thread: stops watching the listener for PZ_ACCEPT_PAUSE_MS. */
static void pause_accepting(pz_grpc_acceptor *a, int err, int64_t now)
{
    if (a->listen_fd < 0)
        return;
    struct epoll_event ev = {.events = 0, .data.u64 = TAG_LISTENER};
    epoll_ctl(a->workers[0].epoll_fd, EPOLL_CTL_MOD, a->listen_fd, &ev);
    a->paused = true;
    a->resume_ms = now + PZ_ACCEPT_PAUSE_MS;
    if (now - a->last_pause_log_ms >= REFUSAL_LOG_INTERVAL_MS) {
        pz_warn("grpc: cannot accept connections (%s); pausing accepts for %d ms at a time", strerror(err),
                PZ_ACCEPT_PAUSE_MS);
        a->last_pause_log_ms = now;
    }
}

/* Any worker ran out of descriptors or memory: the listener (worker 0's) pauses. */
static void request_pause(worker *w, int err)
{
    pz_grpc_acceptor *a = w->a;
    if (w->index == 0) {
        pause_accepting(a, err, mono_ms());
        return;
    }
    pthread_mutex_lock(&a->mu);
    a->pause_err = err;
    pthread_mutex_unlock(&a->mu);
    wake(&a->workers[0]);
}

static void resume_accepting(pz_grpc_acceptor *a)
{
    a->paused = false;
    if (a->listen_fd < 0)
        return;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_LISTENER};
    epoll_ctl(a->workers[0].epoll_fd, EPOLL_CTL_MOD, a->listen_fd, &ev);
}

/* A server-side TLS connection on fd with the context of the moment (a reload may swap it; the
 * SSL keeps its own reference), or NULL. */
static SSL *new_ssl(pz_grpc_acceptor *a, int fd)
{
    SSL_CTX *ctx = pz_tls_context_acquire(a->o.tls);
    SSL *ssl = SSL_new(ctx);
    SSL_CTX_free(ctx);
    if (ssl != NULL && SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        ssl = NULL;
    }
    if (ssl != NULL)
        SSL_set_accept_state(ssl);
    ERR_clear_error();
    return ssl;
}

/* An admitted connection starts its handshake on its worker's thread. */
static void take(worker *w, conn *c)
{
    pz_grpc_acceptor *a = w->a;
    list_push(&w->pending, c);
    /* plaintext: edge-triggered, a partial preface must not wake the thread again until more
     * arrives (it is only peeked at); TLS: level-triggered, OpenSSL consumes what it reads and
     * says which event it waits for (the ClientHello first) */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = &c->ends[PZ_RELAY_CLIENT]};
    if (a->o.tls != NULL) {
        c->ssl = new_ssl(a, c->fd);
        ev.events = EPOLLIN;
    }
    if ((a->o.tls != NULL && c->ssl == NULL) || epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        close_conn(c, false);
}

/* Hands an admitted connection to its worker: at once when that is this thread, else through the
 * worker's inbox. */
static void hand_over(worker *self, conn *c)
{
    pz_grpc_acceptor *a = self->a;
    if (c->w == self) {
        take(self, c);
        return;
    }
    pthread_mutex_lock(&a->mu);
    bool refused = a->stop_accepting; /* the worker may have closed its handshakes already */
    if (!refused)
        list_push(&c->w->inbox, c);
    pthread_mutex_unlock(&a->mu);
    if (refused)
        close_untaken(a, c);
    else
        wake(c->w);
}

/* Worker 0's thread: accepts what the listener has, each admitted connection for the next worker. */
static void accept_all(worker *w0)
{
    pz_grpc_acceptor *a = w0->a;
    while (a->listen_fd >= 0 && !a->paused) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(a->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        int64_t now = mono_ms();
        if (fd < 0) {
            if (PZ_ACCEPT_ERROR_IS_EXHAUSTION(errno))
                pause_accepting(a, errno, now);
            return; /* EAGAIN, or a connection that went away before it was accepted */
        }
        char key[PEER_ADDR_MAX];
        peer_address(&ss, key, sizeof key);
        pz_conn_verdict v = pz_conn_limits_admit(a->o.limits, (struct sockaddr *)&ss, now);
        if (v != PZ_CONN_ADMITTED) {
            close(fd);
            log_refusal(a, v, key, now);
            continue;
        }
        conn *c = pz_calloc(1, sizeof *c);
        c->w = &a->workers[a->next_worker++ % (unsigned)a->n_workers];
        c->state = CONN_PENDING;
        c->fd = fd;
        c->peer = ss;
        snprintf(c->addr, sizeof c->addr, "%s", key);
        c->deadline_ms = now + a->o.handshake_timeout_ms;
        c->ends[PZ_RELAY_CLIENT] = (conn_end){c, PZ_RELAY_CLIENT};
        c->ends[PZ_RELAY_CORE] = (conn_end){c, PZ_RELAY_CORE};
        hand_over(w0, c);
    }
}

static void on_relay_events(conn *c, pz_relay_end end, uint32_t events);

/* Registers or updates what epoll watches on each end of a serving connection. */
static void watch(conn *c)
{
    for (int end = PZ_RELAY_CLIENT; end <= PZ_RELAY_CORE; end++) {
        uint32_t want = pz_relay_events(c->relay, (pz_relay_end)end);
        if (want == c->watched[end])
            continue;
        struct epoll_event ev = {.events = want, .data.ptr = &c->ends[end]};
        epoll_ctl(c->w->epoll_fd, EPOLL_CTL_MOD, pz_relay_fd(c->relay, (pz_relay_end)end), &ev);
        c->watched[end] = want;
    }
}

/* Adds a connection about to be served to the serving list and the peer map, as grpc core will
 * name it: by the descriptor it is handed. */
static void publish(conn *c, int core_fd)
{
    pz_grpc_acceptor *a = c->w->a;
    c->state = CONN_SERVING;
    count_serving(c, 1);
    snprintf(c->key, sizeof c->key, "fd:%d", core_fd);
    pthread_mutex_lock(&a->mu);
    list_push(&a->serving, c);
    conn **b = bucket_of(a, c->key);
    c->bucket_next = *b;
    *b = c;
    pthread_mutex_unlock(&a->mu);
}

static void on_inline_closed(void *ctx, const pz_h2_guard *guard);

/* Plaintext connections' idle and age limits are kept here (conn_lifetime.h), not by grpc core. */
static bool keeps_lifetime(const pz_grpc_acceptor *a)
{
    return a->o.tls == NULL && (a->o.lifetime.idle_ms > 0 || a->o.lifetime.age_ms > 0);
}

/* Worker 0, every LIFETIME_TICK_MS: each plaintext connection's GOAWAY and shutdown when due. Under
 * a->mu, which on_inline_closed takes: no guard is freed meanwhile. */
static void tend_lifetimes(pz_grpc_acceptor *a, int64_t now)
{
    static const char *const WHY[] = {[PZ_LIFE_GOAWAY_IDLE] = "idle", [PZ_LIFE_GOAWAY_AGE] = "old enough"};
    a->next_tend_ms = now + LIFETIME_TICK_MS;
    pthread_mutex_lock(&a->mu);
    for (conn *c = a->serving.head; c != NULL; c = c->next) {
        if (c->relay != NULL)
            continue;
        pz_life_action done = pz_read_guard_tend(c->fd, now);
        if (done == PZ_LIFE_GOAWAY_IDLE || done == PZ_LIFE_GOAWAY_AGE)
            pz_debug("grpc: connection from %s is %s: GOAWAY sent", c->addr, WHY[done]);
        else if (done == PZ_LIFE_SHUT_DOWN)
            pz_debug("grpc: connection from %s shut down after its GOAWAY", c->addr);
    }
    pthread_mutex_unlock(&a->mu);
}

/* The preface arrived on a plaintext connection: grpc core gets the client's socket itself, with
 * the guard attached to its reads (server/grpc/read_guard.h); the connection is grpc core's from
 * here on, and ends in on_inline_closed. */
static void serve_inline(conn *c)
{
    worker *w = c->w;
    pz_grpc_acceptor *a = w->a;
    if (pz_read_guard_attach(c->fd, &a->o.guard, keeps_lifetime(a) ? &a->o.lifetime : NULL, mono_ms(), on_inline_closed,
                             c) != 0) {
        close_conn(c, false); /* a descriptor number beyond PZ_READ_GUARD_MAX_FD */
        return;
    }
    /* what grpc sets on the sockets it accepts itself: small responses must not wait for ACKs */
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL); /* grpc core polls it from now on */
    list_remove(&w->pending, c);
    publish(c, c->fd);
    /* c may be gone once this returns (grpc core closed it on another thread) */
    a->o.serve(a->o.serve_ctx, c->fd);
}

/* The preface arrived: plaintext is served inline; over TLS, a socketpair: grpc core gets one end,
 * the relay the other and the client's TLS connection. */
static void serve(conn *c)
{
    if (c->ssl == NULL) {
        serve_inline(c);
        return;
    }
    worker *w = c->w;
    pz_grpc_acceptor *a = w->a;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        int err = errno;
        close_conn(c, false);
        if (PZ_ACCEPT_ERROR_IS_EXHAUSTION(err))
            request_pause(w, err);
        return;
    }
    /* what grpc sets on the sockets it accepts itself: small responses must not wait for ACKs */
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int buffer = RELAY_SOCKET_BUFFER_BYTES;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    list_remove(&w->pending, c);
    c->relay = pz_relay_create_tls(c->fd, c->ssl, sv[0], c->preface, PREFACE_LEN, &a->o.guard, mono_ms());
    c->ssl = NULL;
    publish(c, sv[1]);
    /* level-triggered from here on: the relay reads one piece per event */
    c->watched[PZ_RELAY_CLIENT] = c->watched[PZ_RELAY_CORE] = 0;
    struct epoll_event client_ev = {.events = 0, .data.ptr = &c->ends[PZ_RELAY_CLIENT]};
    struct epoll_event core_ev = {.events = 0, .data.ptr = &c->ends[PZ_RELAY_CORE]};
    epoll_ctl(w->epoll_fd, EPOLL_CTL_MOD, c->fd, &client_ev);
    epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, sv[0], &core_ev);
    watch(c);
    a->o.serve(a->o.serve_ctx, sv[1]);
    on_relay_events(c, PZ_RELAY_CLIENT, EPOLLIN); /* the preface, and what OpenSSL holds already */
}

/* The client sent something on a pending connection: the full preface serves it; a wrong byte
 * or the end of the stream closes it; a partial preface waits for more. */
static void check_preface(conn *c)
{
    char buf[PREFACE_LEN];
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0 || memcmp(buf, PREFACE, (size_t)n) != 0) {
        close_conn(c, false);
        return;
    }
    if ((size_t)n == PREFACE_LEN)
        serve(c);
}

/* Watches the one event a pending TLS connection waits for. */
static void watch_pending(conn *c, uint32_t event)
{
    struct epoll_event ev = {.events = event, .data.ptr = &c->ends[PZ_RELAY_CLIENT]};
    epoll_ctl(c->w->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* An SSL call on a pending connection returned n <= 0: watch what it waits for, or close. */
static void tls_wait_or_close(conn *c, int n)
{
    int e = SSL_get_error(c->ssl, n);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        watch_pending(c, e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
    else
        close_conn(c, false); /* a failed handshake (OpenSSL sent the alert), or the client left */
}

/* A pending TLS connection can go on: the handshake (ALPN must have agreed on h2: a client that
 * offers no h2 at all is not seen by the ALPN callback), then the preface, read (and so consumed)
 * a piece at a time and compared; the whole preface serves it. */
static void tls_step(conn *c)
{
    ERR_clear_error();
    if (!c->handshaken) {
        int n = SSL_do_handshake(c->ssl);
        if (n != 1) {
            tls_wait_or_close(c, n);
            return;
        }
        if (!pz_tls_alpn_agreed(c->ssl, &PZ_TLS_ALPN_H2_ONLY)) {
            close_conn(c, false);
            return;
        }
        c->handshaken = true;
    }
    while (c->preface_have < PREFACE_LEN) {
        int n = SSL_read(c->ssl, c->preface + c->preface_have, (int)(PREFACE_LEN - c->preface_have));
        if (n <= 0) {
            tls_wait_or_close(c, n);
            return;
        }
        if (memcmp(c->preface + c->preface_have, PREFACE + c->preface_have, (size_t)n) != 0) {
            close_conn(c, false);
            return;
        }
        c->preface_have += (size_t)n;
    }
    serve(c);
}

/* A client crossed a guard limit (its connection is being cut off): log it, count it, and refuse
 * its address for a while. Any thread. */
static void report_abuse(conn *c, const pz_h2_guard *g, int64_t now)
{
    pz_grpc_acceptor *a = c->w->a;
    pz_warn("grpc: aborted the connection from %s: %s (%llu streams, %llu resets, %llu frames); its address is "
            "refused for %d ms",
            c->addr, pz_h2_verdict_str(g->verdict), (unsigned long long)g->streams, (unsigned long long)g->resets,
            (unsigned long long)g->frames, a->o.penalty_ms);
    if (a->o.stats != NULL)
        atomic_fetch_add_explicit(&a->o.stats->aborted, 1, memory_order_relaxed);
    pz_conn_limits_penalize(a->o.limits, (struct sockaddr *)&c->peer, now, a->o.penalty_ms);
}

/* grpc core closed a connection served inline (or the acceptor detached it while shutting down):
 * its slot is given back, and a client that crossed a guard limit (the read that failed made grpc
 * core close it, as a TCP reset) is reported. On the closing thread, usually one of grpc core's. */
static void on_inline_closed(void *ctx, const pz_h2_guard *guard)
{
    conn *c = ctx;
    pz_grpc_acceptor *a = c->w->a;
    count_serving(c, -1);
    if (guard->verdict != PZ_H2_OK)
        report_abuse(c, guard, mono_ms());
    pz_conn_limits_release(a->o.limits, (const struct sockaddr *)&c->peer);
    /* last: pz_grpc_acceptor_destroy waits for the serving list to empty, then frees the acceptor */
    pthread_mutex_lock(&a->mu);
    list_remove(&a->serving, c);
    map_remove(a, c);
    pthread_mutex_unlock(&a->mu);
    free(c);
}

/* A relayed client crossed a guard limit: cut it off. */
static void abort_abusive(conn *c, int64_t now)
{
    report_abuse(c, pz_relay_guard(c->relay), now);
    close_conn(c, true);
}

static void on_relay_events(conn *c, pz_relay_end end, uint32_t events)
{
    int64_t now = mono_ms();
    pz_relay_status st = pz_relay_on_events(c->relay, end, events, c->w->scratch, SCRATCH_BYTES, now);
    if (st == PZ_RELAY_ABUSIVE)
        abort_abusive(c, now);
    else if (st == PZ_RELAY_CLOSED)
        close_conn(c, false);
    else
        watch(c);
}

static void close_pending(worker *w)
{
    while (w->pending.head != NULL)
        close_conn(w->pending.head, false);
}

/* pz_grpc_acceptor_stop, on a worker's thread: no listener (worker 0), no handshakes; the relays
 * go on. */
static void stop_accepting(worker *w)
{
    pz_grpc_acceptor *a = w->a;
    if (w->index == 0 && a->listen_fd >= 0) {
        close(a->listen_fd);
        a->listen_fd = -1;
    }
    close_pending(w);
    pthread_mutex_lock(&a->mu);
    w->stopped_accepting = true;
    a->n_stopped_accepting++;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->mu);
}

static void expire_pending(worker *w, int64_t now)
{
    while (w->pending.head != NULL && w->pending.head->deadline_ms <= now)
        close_conn(w->pending.head, false);
}

static int next_timeout_ms(worker *w, int64_t now)
{
    pz_grpc_acceptor *a = w->a;
    int64_t next = INT64_MAX;
    if (w->pending.head != NULL)
        next = w->pending.head->deadline_ms;
    if (w->index == 0 && a->paused && a->resume_ms < next)
        next = a->resume_ms;
    if (w->index == 0 && keeps_lifetime(a) && a->next_tend_ms < next)
        next = a->next_tend_ms;
    if (next == INT64_MAX)
        return -1;
    return next <= now ? 0 : (int)(next - now);
}

/* The wake-up descriptor fired: connections handed over, a pause asked for by another worker, or
 * a request from pz_grpc_acceptor_stop or _destroy. Returns false when the thread must end. */
static bool on_wake(worker *w)
{
    pz_grpc_acceptor *a = w->a;
    uint64_t v;
    ssize_t r = read(w->wake_fd, &v, sizeof v);
    (void)r;
    pthread_mutex_lock(&a->mu);
    conn_list given = w->inbox;
    w->inbox = (conn_list){0};
    bool stopping = a->stopping;
    bool stop = a->stop_accepting && !w->stopped_accepting;
    int pause_err = 0;
    if (w->index == 0) {
        pause_err = a->pause_err;
        a->pause_err = 0;
    }
    pthread_mutex_unlock(&a->mu);
    while (given.head != NULL) {
        conn *c = given.head;
        list_remove(&given, c);
        take(w, c); /* closed with the other handshakes below when stopping */
    }
    if (pause_err != 0)
        pause_accepting(a, pause_err, mono_ms());
    if (stop)
        stop_accepting(w);
    return !stopping;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pz_grpc_acceptor *a = w->a;
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(w->epoll_fd, evs, MAX_EVENTS, next_timeout_ms(w, mono_ms()));
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == TAG_WAKE) {
                if (!on_wake(w)) {
                    free_dead(w);
                    return NULL;
                }
            } else if (evs[i].data.u64 == TAG_LISTENER) {
                accept_all(w);
            } else {
                conn_end *ce = evs[i].data.ptr;
                conn *c = ce->c;
                if (c->state == CONN_PENDING && c->ssl != NULL)
                    tls_step(c);
                else if (c->state == CONN_PENDING)
                    check_preface(c);
                else if (c->state == CONN_SERVING)
                    on_relay_events(c, ce->end, evs[i].events);
            }
        }
        free_dead(w);
        int64_t now = mono_ms();
        expire_pending(w, now);
        free_dead(w);
        if (w->index == 0 && a->paused && now >= a->resume_ms)
            resume_accepting(a);
        if (w->index == 0 && keeps_lifetime(a) && now >= a->next_tend_ms)
            tend_lifetimes(a, now);
    }
}

/* Closes the relayed connections and detaches the ones served inline (grpc core closes their
 * sockets when it is done with them; a grpc thread closing one now takes it out itself). */
static void close_serving(pz_grpc_acceptor *a)
{
    for (;;) {
        pthread_mutex_lock(&a->mu);
        conn *c = a->serving.head;
        bool relayed = c != NULL && c->relay != NULL;
        int fd = c != NULL ? c->fd : -1;
        pthread_mutex_unlock(&a->mu);
        if (c == NULL)
            return;
        if (relayed) {
            close_conn(c, false);
        } else {
            pz_read_guard_detach(fd); /* on_inline_closed takes it out of the list */
            sched_yield();            /* when a grpc thread was closing it at that moment: its turn */
        }
    }
}

/* Closes what the threads left (after they were joined, or never started) and frees everything. */
static void destroy_all(pz_grpc_acceptor *a)
{
    if (a->listen_fd >= 0)
        close(a->listen_fd);
    a->listen_fd = -1;
    for (int i = 0; i < a->n_workers; i++) {
        worker *w = &a->workers[i];
        close_pending(w);
        while (w->inbox.head != NULL) {
            conn *c = w->inbox.head;
            list_remove(&w->inbox, c);
            close_untaken(a, c);
        }
    }
    close_serving(a);
    for (int i = 0; i < a->n_workers; i++) {
        worker *w = &a->workers[i];
        free_dead(w);
        if (w->epoll_fd >= 0)
            close(w->epoll_fd);
        if (w->wake_fd >= 0)
            close(w->wake_fd);
        free(w->scratch);
    }
    pthread_cond_destroy(&a->cond);
    pthread_mutex_destroy(&a->mu);
    free(a->workers);
    free(a);
}

/* Asks every started thread to end and joins it. */
static void join_all(pz_grpc_acceptor *a)
{
    pthread_mutex_lock(&a->mu);
    a->stopping = true;
    pthread_mutex_unlock(&a->mu);
    for (int i = 0; i < a->n_workers; i++) {
        if (a->workers[i].started) {
            wake(&a->workers[i]);
            pthread_join(a->workers[i].thread, NULL);
            a->workers[i].started = false;
        }
    }
}

/* A worker's epoll set (with its wake-up descriptor, and the listener for worker 0) and thread. */
static int start_worker(pz_grpc_acceptor *a, int index)
{
    worker *w = &a->workers[index];
    w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event wev = {.events = EPOLLIN, .data.u64 = TAG_WAKE};
    struct epoll_event lev = {.events = EPOLLIN, .data.u64 = TAG_LISTENER};
    if (w->epoll_fd < 0 || w->wake_fd < 0 || epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->wake_fd, &wev) != 0 ||
        (index == 0 && epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, a->listen_fd, &lev) != 0) ||
        pthread_create(&w->thread, NULL, worker_main, w) != 0)
        return -1;
    w->started = true;
    /* top -H: the first keeps the name it always had; "pz-grpc-relay63" is the longest, within the
     * kernel's 15 characters */
    char name[32];
    if (index == 0)
        snprintf(name, sizeof name, "pz-grpc-relay");
    else
        snprintf(name, sizeof name, "pz-grpc-relay%d", index);
    pthread_setname_np(w->thread, name);
    return 0;
}

int pz_grpc_acceptor_start(const pz_grpc_accept_options *opts, pz_grpc_acceptor **out, int *bound_port, char *err,
                           size_t errlen)
{
    *out = NULL;
    int n_workers = opts->threads > 0 ? opts->threads : 1;
    if (n_workers > PZ_GRPC_MAX_RELAY_THREADS) {
        snprintf(err, errlen, "grpc: %d relay threads asked for, at most %d", n_workers, PZ_GRPC_MAX_RELAY_THREADS);
        return -1;
    }
    int fd = pz_listen_open(opts->host, opts->port, PZ_LISTEN_EXCLUSIVE, err, errlen);
    if (fd < 0)
        return -1;
    pz_grpc_acceptor *a = pz_calloc(1, sizeof *a);
    a->o = *opts;
    a->listen_fd = fd;
    a->last_refusal_log_ms = a->last_pause_log_ms = INT64_MIN / 2;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cond, NULL);
    a->n_workers = n_workers;
    a->workers = pz_calloc((size_t)n_workers, sizeof *a->workers);
    for (int i = 0; i < n_workers; i++) {
        a->workers[i] = (worker){.a = a, .index = i, .epoll_fd = -1, .wake_fd = -1};
        a->workers[i].scratch = pz_malloc(SCRATCH_BYTES);
    }
    if (opts->stats != NULL)
        opts->stats->relay_threads = n_workers;
    for (int i = 0; i < n_workers; i++) {
        if (start_worker(a, i) != 0) {
            snprintf(err, errlen, "grpc: cannot start the relay threads: %s", strerror(errno));
            join_all(a);
            destroy_all(a);
            return -1;
        }
    }
    *bound_port = pz_listen_port(fd);
    *out = a;
    return 0;
}

void pz_grpc_acceptor_stop(pz_grpc_acceptor *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->mu);
    if (!a->stopping) {
        if (!a->stop_accepting) {
            a->stop_accepting = true;
            for (int i = 0; i < a->n_workers; i++)
                wake(&a->workers[i]);
        }
        while (a->n_stopped_accepting < a->n_workers)
            pthread_cond_wait(&a->cond, &a->mu);
    }
    pthread_mutex_unlock(&a->mu);
}

void pz_grpc_acceptor_destroy(pz_grpc_acceptor *a)
{
    if (a == NULL)
        return;
    join_all(a);
    destroy_all(a);
}

/* The serving connection grpc calls `peer`; the newest when a descriptor number was reused before
 * the old connection was closed here. Called with a->mu held. */
static conn *lookup(pz_grpc_acceptor *a, const char *peer)
{
    conn *c = *bucket_of(a, peer);
    while (c != NULL && strcmp(c->key, peer) != 0)
        c = c->bucket_next;
    return c;
}

bool pz_grpc_acceptor_peer_address(pz_grpc_acceptor *a, const char *peer, char *out, size_t len)
{
    if (a == NULL || peer == NULL)
        return false;
    pthread_mutex_lock(&a->mu);
    conn *c = lookup(a, peer);
    if (c != NULL)
        snprintf(out, len, "%s", c->addr);
    pthread_mutex_unlock(&a->mu);
    return c != NULL;
}

size_t pz_grpc_acceptor_connections(pz_grpc_acceptor *a)
{
    pthread_mutex_lock(&a->mu);
    size_t n = a->serving.n;
    pthread_mutex_unlock(&a->mu);
    return n;
}

void pz_grpc_accept_stats_collect(void *ctx, pz_metrics_writer *w)
{
    pz_grpc_accept_stats **all = ctx;
    static const char *const CONN_LABELS[] = {"api", "relay"};
    static const char *const API_LABEL[] = {"api"};
    pz_metrics_write_family(w, "pz_grpc_connections", PZ_METRIC_GAUGE,
                            "gRPC connections open (past their handshake), per relay thread that took them");
    for (pz_grpc_accept_stats **s = all; *s != NULL; s++) {
        for (int i = 0; i < (*s)->relay_threads; i++) {
            char relay[16];
            snprintf(relay, sizeof relay, "%d", i);
            const char *values[] = {(*s)->api, relay};
            pz_metrics_write_sample(w, "pz_grpc_connections", 2, CONN_LABELS, values,
                                    (double)atomic_load_explicit(&(*s)->connections[i], memory_order_relaxed));
        }
    }
    pz_metrics_write_family(w, "pz_grpc_connections_aborted_total", PZ_METRIC_COUNTER,
                            "gRPC connections cut off by the HTTP/2 frame guard (rapid reset, stream flood)");
    for (pz_grpc_accept_stats **s = all; *s != NULL; s++) {
        const char *values[] = {(*s)->api};
        pz_metrics_write_sample(w, "pz_grpc_connections_aborted_total", 1, API_LABEL, values,
                                (double)atomic_load_explicit(&(*s)->aborted, memory_order_relaxed));
    }
}
