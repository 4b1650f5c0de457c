/* Listening sockets for the fronts.
 *
 * A port belongs to one server process: pz_listen_open refuses a port another process listens on,
 * even one that set SO_REUSEPORT, so a second instance started by mistake fails at start-up instead
 * of silently taking half the traffic. Our own REST loops still share one port: the first socket
 * is opened with `shared` false (the check, then SO_REUSEPORT), the others with `shared` true.
 */
#ifndef PZ_NET_LISTENER_H
#define PZ_NET_LISTENER_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

/* Connections the kernel queues before they are accepted: room for a load balancer opening its
 * pool at once; the kernel caps it at net.core.somaxconn anyway. */
#define PZ_LISTEN_BACKLOG 1024

/* How long a front stops accepting after accept() failed for want of descriptors (EMFILE, ENFILE)
 * or memory: the listener stays readable, so accepting again at once would spin. Long enough that
 * a full table costs ten wake-ups a second, short enough that a freed descriptor is used soon. */
#define PZ_ACCEPT_PAUSE_MS 100

/* True for the accept() errors that PZ_ACCEPT_PAUSE_MS answers. */
#define PZ_ACCEPT_ERROR_IS_EXHAUSTION(e) ((e) == EMFILE || (e) == ENFILE || (e) == ENOBUFS || (e) == ENOMEM)

typedef enum pz_listen_mode {
    PZ_LISTEN_EXCLUSIVE, /* one socket; no other socket may join the port */
    PZ_LISTEN_FIRST,     /* the first of a group of ours: checks the port is free, then SO_REUSEPORT */
    PZ_LISTEN_JOIN,      /* joins the group PZ_LISTEN_FIRST opened (same host and port) */
} pz_listen_mode;

/* Opens a non-blocking, close-on-exec listening TCP socket on host:port (port 0: a free port).
 * Returns the fd, or -1 with a message in err naming the address and the reason; a port in use
 * says so ("... is already in use by another process"). */
int pz_listen_open(const char *host, int port, pz_listen_mode mode, char *err, size_t errlen);

/* The port a listening socket is bound to, or -1. */
int pz_listen_port(int fd);

#endif
