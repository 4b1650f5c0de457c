#include "server/net/listener.h"

#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Any int in decimal (at most 11 bytes) and its NUL. */
#define PORT_STRING_MAX 16

/* Binds a probe socket without SO_REUSEPORT: the kernel refuses it when any socket listens on the
 * address, whatever options that one set. Returns 0 when the port is free. */
static int port_is_free(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    int on = 1;
    /* SO_REUSEADDR lets the probe ignore connections of an earlier run in TIME_WAIT, as the real
     * socket does; it never lets it share a listening port. */
    int rc = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0 && bind(fd, ai->ai_addr, ai->ai_addrlen) == 0
                 ? 0
                 : -1;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int pz_listen_open(const char *host, int port, pz_listen_mode mode, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[PORT_STRING_MAX];
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve listen address '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    if (mode == PZ_LISTEN_FIRST && port != 0 && port_is_free(res) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port,
                 errno == EADDRINUSE ? "the port is already in use by another process" : strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, res->ai_protocol);
    int on = 1;
    bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0 &&
              (mode == PZ_LISTEN_EXCLUSIVE || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) == 0) &&
              bind(fd, res->ai_addr, res->ai_addrlen) == 0 && listen(fd, PZ_LISTEN_BACKLOG) == 0;
    if (!ok) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port,
                 errno == EADDRINUSE ? "the port is already in use by another process" : strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

int pz_listen_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}
