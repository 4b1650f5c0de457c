#include "server/grpc/read_guard.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/core/clock.h"
#include "server/core/hash.h"
#include "server/core/mem.h"

/* The descriptor table: chunks of slots, a chunk allocated when a descriptor in its range is
 * first attached and kept for the process's life, so a lookup is two loads and never locks. */
#define CHUNK_BITS 10
#define CHUNK_SLOTS (1 << CHUNK_BITS)
#define N_CHUNKS (PZ_READ_GUARD_MAX_FD / CHUNK_SLOTS)
#define US_PER_MS 1000
/* The resolution of a connection's age jitter. */
#define JITTER_STEPS 1000

typedef struct guarded {
    pz_h2_guard guard;        /* the reading thread's: grpc core reads a descriptor from one thread at a time */
    atomic_bool server_wrote; /* set by the writing thread, which may be another one */
    pz_read_guard_closed_fn on_closed;
    void *ctx;
    struct guarded *retired_next;
    /* The connection's lifetime, when kept here (`kept`): */
    bool kept;
    uint64_t client_stream_frames;  /* the reading thread's: guard.stream_frames at its last read */
    atomic_uint_least64_t opened;   /* streams the client opened (guard.streams), from the reading thread */
    atomic_uint_least64_t ended;    /* streams the server ended, from the writing thread */
    atomic_int_least64_t active_ms; /* the last stream frame either way */
    pthread_mutex_t out_mu;         /* grpc core's writes and ours (the GOAWAY): one at a time */
    pz_h2_out out;                  /* under out_mu */
    bool goaway_wanted;             /* under out_mu: at the next frame boundary */
    uint8_t ours[PZ_H2_GOAWAY_LEN]; /* under out_mu: our frame, ours_sent of ours_len written */
    size_t ours_len, ours_sent;
    pz_conn_lifetime life; /* the tending thread's (pz_read_guard_tend) */
} guarded;

typedef _Atomic(guarded *) slot;

static _Atomic(slot *) chunks[N_CHUNKS];
static pthread_mutex_t chunks_mu = PTHREAD_MUTEX_INITIALIZER; /* allocating a chunk; the retired list */
static atomic_long n_attached;
/* Guards detached while grpc core may still read with them: kept (and reachable) for the process's
 * life; one per connection still open when its owner shut down. */
static guarded *retired;

/* The definitions these interpose on: the next in the lookup order (libc's, or a sanitizer's
 * interceptor), resolved on first use (close runs before main). */
typedef ssize_t (*recvmsg_fn)(int, struct msghdr *, int);
typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);
typedef int (*close_fn)(int);
static _Atomic(recvmsg_fn) next_recvmsg;
static _Atomic(sendmsg_fn) next_sendmsg;
static _Atomic(close_fn) next_close;

static void *next_definition(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (f == NULL)
        abort(); /* libc always has these: a process without them cannot do I/O at all */
    return f;
}

#define NEXT(var, name)                                                                                                \
    ({                                                                                                                 \
        __typeof__(atomic_load(&var)) f_ = atomic_load_explicit(&var, memory_order_acquire);                           \
        if (f_ == NULL) {                                                                                              \
            f_ = (__typeof__(f_))next_definition(name);                                                                \
            atomic_store_explicit(&var, f_, memory_order_release);                                                     \
        }                                                                                                              \
        f_;                                                                                                            \
    })

static slot *slot_of(int fd, bool create)
{
    if (fd < 0 || fd >= PZ_READ_GUARD_MAX_FD)
        return NULL;
    _Atomic(slot *) *chunk = &chunks[fd >> CHUNK_BITS];
    slot *c = atomic_load_explicit(chunk, memory_order_acquire);
    if (c == NULL && create) {
        pthread_mutex_lock(&chunks_mu);
        c = atomic_load_explicit(chunk, memory_order_acquire);
        if (c == NULL) {
            c = pz_calloc(CHUNK_SLOTS, sizeof *c);
            atomic_store_explicit(chunk, c, memory_order_release);
        }
        pthread_mutex_unlock(&chunks_mu);
    }
    return c == NULL ? NULL : &c[fd & (CHUNK_SLOTS - 1)];
}

static guarded *lookup(int fd)
{
    slot *s = slot_of(fd, false);
    return s == NULL ? NULL : atomic_load_explicit(s, memory_order_acquire);
}

static void free_guarded(guarded *g)
{
    if (g->kept)
        pthread_mutex_destroy(&g->out_mu);
    free(g);
}

int pz_read_guard_attach(int fd, const pz_h2_guard_limits *limits, const pz_conn_lifetime_limits *lifetime,
                         int64_t now_ms, pz_read_guard_closed_fn on_closed, void *ctx)
{
    slot *s = slot_of(fd, true);
    if (s == NULL)
        return -1;
    guarded *g = pz_calloc(1, sizeof *g);
    pz_h2_guard_init(&g->guard, limits, now_ms);
    g->on_closed = on_closed;
    g->ctx = ctx;
    if (lifetime != NULL) {
        g->kept = true;
        pthread_mutex_init(&g->out_mu, NULL);
        atomic_init(&g->active_ms, now_ms);
        /* the jitter of this connection's age: any spread will do, not a secret */
        int64_t seed[2] = {pz_mono_us(), fd};
        uint64_t spread = pz_hash64(seed, sizeof seed, 0);
        pz_conn_lifetime_init(&g->life, lifetime, now_ms, (double)(spread % JITTER_STEPS) / JITTER_STEPS);
    }
    guarded *none = NULL;
    if (!atomic_compare_exchange_strong_explicit(s, &none, g, memory_order_acq_rel, memory_order_acquire)) {
        free_guarded(g);
        return -1;
    }
    atomic_fetch_add_explicit(&n_attached, 1, memory_order_relaxed);
    return 0;
}

/* Takes fd's guard out of the table (at most one caller gets it) and tells its owner. */
static guarded *take(int fd)
{
    slot *s = slot_of(fd, false);
    guarded *g = s == NULL ? NULL : atomic_exchange_explicit(s, NULL, memory_order_acq_rel);
    if (g != NULL) {
        atomic_fetch_sub_explicit(&n_attached, 1, memory_order_relaxed);
        g->on_closed(g->ctx, &g->guard);
    }
    return g;
}

void pz_read_guard_detach(int fd)
{
    guarded *g = take(fd);
    if (g == NULL)
        return;
    pthread_mutex_lock(&chunks_mu);
    g->retired_next = retired;
    retired = g;
    pthread_mutex_unlock(&chunks_mu);
}

long pz_read_guard_attached(void)
{
    return atomic_load_explicit(&n_attached, memory_order_relaxed);
}

/* The n bytes a read put into msg's buffers pass g. False: the client crossed a limit. */
static bool passes(guarded *g, int fd, const struct msghdr *msg, size_t n)
{
    if (g->guard.verdict != PZ_H2_OK)
        return false;
    if (!g->guard.server_settings_sent && atomic_load_explicit(&g->server_wrote, memory_order_acquire))
        pz_h2_guard_server_wrote(&g->guard);
    int64_t now_ms = pz_mono_us() / US_PER_MS;
    for (size_t i = 0; i < (size_t)msg->msg_iovlen && n > 0; i++) {
        size_t len = msg->msg_iov[i].iov_len < n ? msg->msg_iov[i].iov_len : n;
        if (pz_h2_guard_client_bytes(&g->guard, msg->msg_iov[i].iov_base, len, now_ms) != PZ_H2_OK) {
            /* grpc core closes the connection on the failed read: as a reset, dropping what is queued */
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            return false;
        }
        n -= len;
    }
    if (g->kept && g->guard.stream_frames != g->client_stream_frames) {
        g->client_stream_frames = g->guard.stream_frames;
        atomic_store_explicit(&g->opened, g->guard.streams, memory_order_relaxed);
        atomic_store_explicit(&g->active_ms, now_ms, memory_order_relaxed);
    }
    return true;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    ssize_t n = NEXT(next_recvmsg, "recvmsg")(fd, msg, flags);
    if (n <= 0 || (flags & (MSG_PEEK | MSG_ERRQUEUE)) != 0)
        return n;
    guarded *g = lookup(fd);
    if (g != NULL && !passes(g, fd, msg, (size_t)n)) {
        errno = ECONNRESET;
        return -1;
    }
    return n;
}

/* Writes what is left of our own frame, starting it first when one is wanted and grpc core's
 * bytes end a frame. False while some of it is still unwritten (the socket is full). Under
 * g->out_mu. */
static bool flush_ours(guarded *g, int fd)
{
    if (g->goaway_wanted && g->ours_len == 0 && pz_h2_out_at_frame_boundary(&g->out)) {
        pz_h2_goaway_graceful(g->ours);
        g->ours_len = PZ_H2_GOAWAY_LEN;
        g->ours_sent = 0;
        g->goaway_wanted = false;
    }
    while (g->ours_sent < g->ours_len) {
        struct iovec iov = {g->ours + g->ours_sent, g->ours_len - g->ours_sent};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n = NEXT(next_sendmsg, "sendmsg")(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
        if (n <= 0) { /* the connection failed: grpc core's own write will find out */
            g->ours_len = g->ours_sent = 0;
            return true;
        }
        g->ours_sent += (size_t)n;
    }
    g->ours_len = g->ours_sent = 0;
    return true;
}

/* grpc core wrote n bytes of msg: where its frames end, and the streams it ended. Under g->out_mu. */
static void account_written(guarded *g, const struct msghdr *msg, size_t n)
{
    uint64_t frames = g->out.stream_frames;
    for (size_t i = 0; i < (size_t)msg->msg_iovlen && n > 0; i++) {
        size_t len = msg->msg_iov[i].iov_len < n ? msg->msg_iov[i].iov_len : n;
        pz_h2_out_bytes(&g->out, msg->msg_iov[i].iov_base, len);
        n -= len;
    }
    if (g->out.stream_frames != frames) {
        atomic_store_explicit(&g->ended, g->out.streams_ended, memory_order_relaxed);
        atomic_store_explicit(&g->active_ms, pz_mono_us() / US_PER_MS, memory_order_relaxed);
    }
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    guarded *g = lookup(fd);
    if (g == NULL)
        return NEXT(next_sendmsg, "sendmsg")(fd, msg, flags);
    if (!atomic_load_explicit(&g->server_wrote, memory_order_relaxed))
        atomic_store_explicit(&g->server_wrote, true, memory_order_release);
    if (!g->kept)
        return NEXT(next_sendmsg, "sendmsg")(fd, msg, flags);
    pthread_mutex_lock(&g->out_mu);
    ssize_t n;
    if (!flush_ours(g, fd)) {
        errno = EAGAIN; /* grpc core waits until the socket is writable and tries again */
        n = -1;
    } else {
        n = NEXT(next_sendmsg, "sendmsg")(fd, msg, flags);
        int saved = errno;
        if (n > 0)
            account_written(g, msg, (size_t)n);
        errno = saved;
    }
    pthread_mutex_unlock(&g->out_mu);
    return n;
}

pz_life_action pz_read_guard_tend(int fd, int64_t now_ms)
{
    guarded *g = lookup(fd);
    if (g == NULL || !g->kept)
        return PZ_LIFE_WAIT;
    uint64_t opened = atomic_load_explicit(&g->opened, memory_order_relaxed);
    uint64_t ended = atomic_load_explicit(&g->ended, memory_order_relaxed);
    pz_life_action a = pz_conn_lifetime_step(&g->life, now_ms, opened > ended ? opened - ended : 0,
                                             atomic_load_explicit(&g->active_ms, memory_order_relaxed));
    if (a == PZ_LIFE_SHUT_DOWN) {
        shutdown(fd, SHUT_RDWR); /* grpc core reads the end of the stream and closes the connection */
        return a;
    }
    if (g->life.phase == PZ_LIFE_GOING_AWAY) { /* asked for now (a is a GOAWAY) or earlier */
        pthread_mutex_lock(&g->out_mu);
        g->goaway_wanted |= a != PZ_LIFE_WAIT;
        flush_ours(g, fd); /* now, or when grpc core's bytes end a frame: tried again on each write and tend */
        pthread_mutex_unlock(&g->out_mu);
    }
    return a;
}

int close(int fd)
{
    if (lookup(fd) != NULL)
        free_guarded(take(fd)); /* the closing thread is the last user: grpc core never reads while closing */
    return NEXT(next_close, "close")(fd);
}
