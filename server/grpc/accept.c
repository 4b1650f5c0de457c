#include "server/grpc/accept.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/core/clock.h"
#include "server/core/hash.h"
#include "server/core/log.h"
#include "server/core/mem.h"

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
/* Refused connections and accept pauses are logged at most this often (each kind), so an attack
 * costs one log line per interval, not one per connection. */
#define REFUSAL_LOG_INTERVAL_MS 10000
#define US_PER_MS 1000

typedef enum conn_state { CONN_PENDING, CONN_SERVING } conn_state;

/* Tags of the epoll entries that are not connections. */
enum { TAG_LISTENER = 1, TAG_WAKE = 2 };

/* An accepted socket: pending (waiting for the preface; fd is the socket) or serving (grpc owns
 * the socket; fd is our duplicate). */
typedef struct conn {
    int fd;
    conn_state state;
    struct sockaddr_storage peer;
    char addr[PEER_ADDR_MAX]; /* the client's address, for logs */
    char key[PEER_KEY_MAX];   /* serving: "fd:N", grpc's name of the connection */
    int64_t deadline_ms;      /* pending: the handshake deadline */
    /* cancellation budget (token bucket, in thousandths of a cancel so refills are exact) */
    int64_t tokens_milli;
    int64_t refilled_ms;
    bool aborted;
    struct conn *prev, *next; /* pending list (deadline order) or serving list */
    struct conn *bucket_next; /* peer map (serving only) */
} conn;

typedef struct conn_list {
    conn *head, *tail;
    size_t n;
} conn_list;

struct pz_grpc_acceptor {
    pz_grpc_accept_options o;
    int listen_fd, epoll_fd, wake_fd;
    pthread_t thread;
    bool stopping; /* written before the wake-up, read by the thread after it */
    bool paused;
    int64_t resume_ms;
    int64_t last_refusal_log_ms, last_pause_log_ms;
    unsigned long refused_since_log;
    conn_list pending; /* acceptor thread only */

    pthread_mutex_t mu; /* the serving list and the peer map: note_cancel runs on other threads */
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

/* Closes a connection's descriptor and gives its slot back. A serving one must already be out of
 * the serving list and the map. */
static void finish(pz_grpc_acceptor *a, conn *c)
{
    epoll_ctl(a->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    pz_conn_limits_release(a->o.limits, (const struct sockaddr *)&c->peer);
    free(c);
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

static void pause_accepting(pz_grpc_acceptor *a, int err, int64_t now)
{
    struct epoll_event ev = {.events = 0, .data.u64 = TAG_LISTENER};
    epoll_ctl(a->epoll_fd, EPOLL_CTL_MOD, a->listen_fd, &ev);
    a->paused = true;
    a->resume_ms = now + PZ_ACCEPT_PAUSE_MS;
    if (now - a->last_pause_log_ms >= REFUSAL_LOG_INTERVAL_MS) {
        pz_warn("grpc: cannot accept connections (%s); pausing accepts for %d ms at a time", strerror(err),
                PZ_ACCEPT_PAUSE_MS);
        a->last_pause_log_ms = now;
    }
}

static void resume_accepting(pz_grpc_acceptor *a)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_LISTENER};
    epoll_ctl(a->epoll_fd, EPOLL_CTL_MOD, a->listen_fd, &ev);
    a->paused = false;
}

static void accept_all(pz_grpc_acceptor *a)
{
    for (;;) {
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
        c->fd = fd;
        c->state = CONN_PENDING;
        c->peer = ss;
        snprintf(c->addr, sizeof c->addr, "%s", key);
        c->deadline_ms = now + a->o.handshake_timeout_ms;
        /* edge-triggered: a partial preface must not wake the thread again until more arrives */
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = c};
        if (epoll_ctl(a->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            pz_conn_limits_release(a->o.limits, (struct sockaddr *)&ss);
            free(c);
            continue;
        }
        list_push(&a->pending, c);
    }
}

/* The client sent something on a pending connection: the full preface hands it to grpc; a wrong
 * byte or the end of the stream closes it; a partial preface waits for more. */
static void check_preface(pz_grpc_acceptor *a, conn *c)
{
    char buf[PREFACE_LEN];
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0 || memcmp(buf, PREFACE, (size_t)n) != 0) {
        list_remove(&a->pending, c);
        finish(a, c);
        return;
    }
    if ((size_t)n < PREFACE_LEN)
        return;
    int watch = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
    list_remove(&a->pending, c);
    epoll_ctl(a->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    if (watch < 0) { /* out of descriptors: this one cannot be tracked, so it is not served */
        int err = errno;
        close(c->fd);
        pz_conn_limits_release(a->o.limits, (struct sockaddr *)&c->peer);
        free(c);
        pause_accepting(a, err, mono_ms());
        return;
    }
    int fd = c->fd;
    c->fd = watch;
    snprintf(c->key, sizeof c->key, "fd:%d", fd);
    c->state = CONN_SERVING;
    c->tokens_milli = (int64_t)a->o.max_cancels_per_sec * 1000;
    c->refilled_ms = mono_ms();
    /* no events asked: epoll always reports the hang-up grpc's shutdown() of the socket causes */
    struct epoll_event ev = {.events = 0, .data.ptr = c};
    epoll_ctl(a->epoll_fd, EPOLL_CTL_ADD, watch, &ev);
    pthread_mutex_lock(&a->mu);
    list_push(&a->serving, c);
    conn **b = bucket_of(a, c->key);
    c->bucket_next = *b;
    *b = c;
    pthread_mutex_unlock(&a->mu);
    a->o.serve(a->o.serve_ctx, fd);
}

static void on_hangup(pz_grpc_acceptor *a, conn *c)
{
    pthread_mutex_lock(&a->mu);
    list_remove(&a->serving, c);
    map_remove(a, c);
    pthread_mutex_unlock(&a->mu);
    finish(a, c);
}

static void expire_pending(pz_grpc_acceptor *a, int64_t now)
{
    while (a->pending.head != NULL && a->pending.head->deadline_ms <= now) {
        conn *c = a->pending.head;
        list_remove(&a->pending, c);
        finish(a, c);
    }
}

static int next_timeout_ms(pz_grpc_acceptor *a, int64_t now)
{
    int64_t next = INT64_MAX;
    if (a->pending.head != NULL)
        next = a->pending.head->deadline_ms;
    if (a->paused && a->resume_ms < next)
        next = a->resume_ms;
    if (next == INT64_MAX)
        return -1;
    return next <= now ? 0 : (int)(next - now);
}

static void *acceptor_main(void *arg)
{
    pz_grpc_acceptor *a = arg;
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(a->epoll_fd, evs, MAX_EVENTS, next_timeout_ms(a, mono_ms()));
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == TAG_WAKE) {
                uint64_t v;
                ssize_t r = read(a->wake_fd, &v, sizeof v);
                (void)r;
                if (__atomic_load_n(&a->stopping, __ATOMIC_ACQUIRE))
                    return NULL;
            } else if (evs[i].data.u64 == TAG_LISTENER) {
                accept_all(a);
            } else {
                conn *c = evs[i].data.ptr;
                if (c->state == CONN_PENDING)
                    check_preface(a, c);
                else
                    on_hangup(a, c);
            }
        }
        int64_t now = mono_ms();
        expire_pending(a, now);
        if (a->paused && now >= a->resume_ms)
            resume_accepting(a);
    }
}

int pz_grpc_acceptor_start(const pz_grpc_accept_options *opts, pz_grpc_acceptor **out, int *bound_port, char *err,
                           size_t errlen)
{
    *out = NULL;
    int fd = pz_listen_open(opts->host, opts->port, PZ_LISTEN_EXCLUSIVE, err, errlen);
    if (fd < 0)
        return -1;
    pz_grpc_acceptor *a = pz_calloc(1, sizeof *a);
    a->o = *opts;
    a->listen_fd = fd;
    a->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    a->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    a->last_refusal_log_ms = a->last_pause_log_ms = INT64_MIN / 2;
    pthread_mutex_init(&a->mu, NULL);
    struct epoll_event lev = {.events = EPOLLIN, .data.u64 = TAG_LISTENER};
    struct epoll_event wev = {.events = EPOLLIN, .data.u64 = TAG_WAKE};
    if (a->epoll_fd < 0 || a->wake_fd < 0 || epoll_ctl(a->epoll_fd, EPOLL_CTL_ADD, fd, &lev) != 0 ||
        epoll_ctl(a->epoll_fd, EPOLL_CTL_ADD, a->wake_fd, &wev) != 0 ||
        pthread_create(&a->thread, NULL, acceptor_main, a) != 0) {
        snprintf(err, errlen, "grpc: cannot start the accept thread: %s", strerror(errno));
        close(fd);
        if (a->epoll_fd >= 0)
            close(a->epoll_fd);
        if (a->wake_fd >= 0)
            close(a->wake_fd);
        pthread_mutex_destroy(&a->mu);
        free(a);
        return -1;
    }
    *bound_port = pz_listen_port(fd);
    *out = a;
    return 0;
}

void pz_grpc_acceptor_stop(pz_grpc_acceptor *a)
{
    if (a == NULL || a->listen_fd < 0)
        return;
    __atomic_store_n(&a->stopping, true, __ATOMIC_RELEASE);
    uint64_t one = 1;
    ssize_t w = write(a->wake_fd, &one, sizeof one);
    (void)w;
    pthread_join(a->thread, NULL);
    close(a->listen_fd);
    a->listen_fd = -1;
    while (a->pending.head != NULL) {
        conn *c = a->pending.head;
        list_remove(&a->pending, c);
        finish(a, c);
    }
}

void pz_grpc_acceptor_destroy(pz_grpc_acceptor *a)
{
    if (a == NULL)
        return;
    pz_grpc_acceptor_stop(a);
    while (a->serving.head != NULL) {
        conn *c = a->serving.head;
        list_remove(&a->serving, c);
        finish(a, c);
    }
    close(a->epoll_fd);
    close(a->wake_fd);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* Aborts a connection through our duplicate: connect(AF_UNSPEC) disconnects a TCP socket at once
 * (reset sent, both queues purged), so grpc stops reading what the client already queued; the
 * hang-up then releases the slot as for any close. */
static void abort_connection(conn *c)
{
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    if (connect(c->fd, &unspec, sizeof unspec) != 0)
        shutdown(c->fd, SHUT_RDWR);
    c->aborted = true;
}

/* The serving connection grpc calls `peer`; the newest when a descriptor number was reused before
 * the old connection's hang-up was seen. Called with a->mu held. */
static conn *lookup(pz_grpc_acceptor *a, const char *peer)
{
    conn *c = *bucket_of(a, peer);
    while (c != NULL && strcmp(c->key, peer) != 0)
        c = c->bucket_next;
    return c;
}

pz_cancel_verdict pz_grpc_acceptor_note_cancel(pz_grpc_acceptor *a, const char *peer)
{
    if (a == NULL || peer == NULL || a->o.max_cancels_per_sec <= 0)
        return PZ_CANCEL_COUNTED;
    int64_t now = mono_ms();
    pz_cancel_verdict v = PZ_CANCEL_COUNTED;
    struct sockaddr_storage addr;
    char addr_text[PEER_ADDR_MAX];
    pthread_mutex_lock(&a->mu);
    conn *c = lookup(a, peer);
    if (c != NULL && c->aborted) {
        v = PZ_CANCEL_ALREADY_ABORTED;
    } else if (c != NULL) {
        int64_t cap = (int64_t)a->o.max_cancels_per_sec * 1000;
        c->tokens_milli += (now - c->refilled_ms) * a->o.max_cancels_per_sec; /* rate/1000 cancels per ms */
        if (c->tokens_milli > cap)
            c->tokens_milli = cap;
        c->refilled_ms = now;
        c->tokens_milli -= 1000;
        if (c->tokens_milli < 0) {
            abort_connection(c);
            addr = c->peer;
            snprintf(addr_text, sizeof addr_text, "%s", c->addr);
            v = PZ_CANCEL_ABORTED;
        }
    }
    pthread_mutex_unlock(&a->mu);
    if (v == PZ_CANCEL_ABORTED) {
        pz_conn_limits_penalize(a->o.limits, (struct sockaddr *)&addr, now, a->o.penalty_ms);
        pz_warn("grpc: aborted the connection from %s: more than %d cancelled calls a second (HTTP/2 rapid "
                "reset?); its address is refused for %d ms",
                addr_text, a->o.max_cancels_per_sec, a->o.penalty_ms);
    }
    return v;
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
