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
#include "server/core/mem.h"

/* The descriptor table: chunks of slots, a chunk allocated when a descriptor in its range is
 * first attached and kept for the process's life, so a lookup is two loads and never locks. */
#define CHUNK_BITS 10
#define CHUNK_SLOTS (1 << CHUNK_BITS)
#define N_CHUNKS (PZ_READ_GUARD_MAX_FD / CHUNK_SLOTS)
#define US_PER_MS 1000

typedef struct guarded {
    pz_h2_guard guard;        /* the reading thread's: grpc core reads a descriptor from one thread at a time */
    atomic_bool server_wrote; /* set by the writing thread, which may be another one */
    pz_read_guard_closed_fn on_closed;
    void *ctx;
    struct guarded *retired_next;
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

int pz_read_guard_attach(int fd, const pz_h2_guard_limits *limits, int64_t now_ms, pz_read_guard_closed_fn on_closed,
                         void *ctx)
{
    slot *s = slot_of(fd, true);
    if (s == NULL)
        return -1;
    guarded *g = pz_calloc(1, sizeof *g);
    pz_h2_guard_init(&g->guard, limits, now_ms);
    g->on_closed = on_closed;
    g->ctx = ctx;
    guarded *none = NULL;
    if (!atomic_compare_exchange_strong_explicit(s, &none, g, memory_order_acq_rel, memory_order_acquire)) {
        free(g);
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

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    guarded *g = lookup(fd);
    if (g != NULL && !atomic_load_explicit(&g->server_wrote, memory_order_relaxed))
        atomic_store_explicit(&g->server_wrote, true, memory_order_release);
    return NEXT(next_sendmsg, "sendmsg")(fd, msg, flags);
}

int close(int fd)
{
    if (lookup(fd) != NULL)
        free(take(fd)); /* the closing thread is the last user: grpc core never reads while closing */
    return NEXT(next_close, "close")(fd);
}
