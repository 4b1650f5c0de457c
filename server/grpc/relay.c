#include "server/grpc/relay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/core/mem.h"

/* One direction: read from `from`, written to `to`. */
typedef struct direction {
    int from, to;
    uint8_t *held; /* read but not yet taken by `to` (at most one piece), or NULL */
    size_t held_off, held_len;
} direction;

struct pz_relay {
    int fd[2];
    direction dir[2]; /* indexed by the end it reads from: dir[PZ_RELAY_CLIENT] is client -> core */
    pz_h2_guard guard;
};

typedef enum step {
    STEP_MOVED,   /* a piece went through; there may be more */
    STEP_WAIT,    /* nothing to read now, or the destination is full */
    STEP_END,     /* end of stream or an error on either side */
    STEP_ABUSIVE, /* the guard refused the client's bytes; they were not forwarded */
} step;

static pz_relay_end other(pz_relay_end end)
{
    return end == PZ_RELAY_CLIENT ? PZ_RELAY_CORE : PZ_RELAY_CLIENT;
}

pz_relay *pz_relay_create(int client_fd, int core_fd, const pz_h2_guard_limits *limits, int64_t now_ms)
{
    pz_relay *r = pz_calloc(1, sizeof *r);
    r->fd[PZ_RELAY_CLIENT] = client_fd;
    r->fd[PZ_RELAY_CORE] = core_fd;
    r->dir[PZ_RELAY_CLIENT] = (direction){.from = client_fd, .to = core_fd};
    r->dir[PZ_RELAY_CORE] = (direction){.from = core_fd, .to = client_fd};
    pz_h2_guard_init(&r->guard, limits, now_ms);
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
        events |= EPOLLIN;
    if (r->dir[other(end)].held != NULL)
        events |= EPOLLOUT;
    return events;
}

/* Writes what `d` holds. */
static step flush(direction *d)
{
    while (d->held != NULL) {
        ssize_t n = send(d->to, d->held + d->held_off, d->held_len - d->held_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? STEP_WAIT : STEP_END;
        }
        d->held_off += (size_t)n;
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
    ssize_t n = recv(d->from, scratch, scratch_len, 0);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? STEP_WAIT : STEP_END;
    if (n == 0)
        return STEP_END;
    if (end == PZ_RELAY_CLIENT) {
        if (pz_h2_guard_client_bytes(&r->guard, scratch, (size_t)n, now_ms) != PZ_H2_OK)
            return STEP_ABUSIVE;
    } else {
        pz_h2_guard_server_wrote(&r->guard);
    }
    ssize_t w = send(d->to, scratch, (size_t)n, MSG_NOSIGNAL);
    if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return STEP_END;
        w = 0;
    }
    if (w == n)
        return STEP_MOVED;
    d->held_len = (size_t)(n - w);
    d->held_off = 0;
    d->held = pz_malloc(d->held_len);
    memcpy(d->held, scratch + w, d->held_len);
    return STEP_WAIT;
}

pz_relay_status pz_relay_on_events(pz_relay *r, pz_relay_end end, uint32_t events, uint8_t *scratch, size_t scratch_len,
                                   int64_t now_ms)
{
    /* writable: what the other direction holds for this end */
    if ((events & EPOLLOUT) != 0 && flush(&r->dir[other(end)]) == STEP_END)
        return PZ_RELAY_CLOSED;
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) == 0)
        return PZ_RELAY_OPEN;
    step s = pump(r, end, scratch, scratch_len, now_ms); /* one piece per event: fair to other connections */
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
    }
    close(r->fd[PZ_RELAY_CLIENT]);
    close(r->fd[PZ_RELAY_CORE]);
    free(r->dir[PZ_RELAY_CLIENT].held);
    free(r->dir[PZ_RELAY_CORE].held);
    free(r);
}
