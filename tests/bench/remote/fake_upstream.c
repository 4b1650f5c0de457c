/* A fake upstream for the remote-recommender benchmark: answers every request at once with a
 * fixed Amazon Personalize GetRecommendations body (25 items), HTTP/1.1 keep-alive, one epoll
 * thread. `GET /stats` answers the number of requests served so far. Loopback only.
 *
 * Usage: fake_upstream [PORT]   (0 or none: a free port; prints "port N" on stdout) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define BUF_SIZE 65536

typedef struct conn {
    int fd;
    size_t have;
    char buf[BUF_SIZE];
} conn;

static char response[8192];
static size_t response_len;
static unsigned long served;

static void build_response(void)
{
    char body[6000];
    size_t n = (size_t)snprintf(body, sizeof body, "{\"itemList\":[");
    for (int i = 0; i < 25; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "%s{\"itemId\":\"item-%04d\",\"score\":%.4f}", i ? "," : "",
                              i * 37 % 1000, 1.0 / (i + 1));
    n += (size_t)snprintf(body + n, sizeof body - n, "],\"recommendationId\":\"RID-bench\"}");
    response_len =
        (size_t)snprintf(response, sizeof response,
                         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", n, body);
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Serves every complete request in the buffer. Returns -1 when the connection must close. */
static int serve(conn *c)
{
    for (;;) {
        char *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
        if (end == NULL)
            return c->have == BUF_SIZE ? -1 : 0;
        size_t head = (size_t)(end - c->buf) + 4;
        size_t body = 0;
        for (char *p = c->buf; p < end; p++) {
            if ((*p == '\n') && strncasecmp(p + 1, "content-length:", 15) == 0)
                body = (size_t)strtoul(p + 16, NULL, 10);
        }
        if (c->have < head + body)
            return 0;
        served++;
        if (strncmp(c->buf, "GET /stats", 10) == 0) {
            char out[128], num[32];
            int len = snprintf(num, sizeof num, "%lu", served);
            int k = snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len, num);
            send_all(c->fd, out, (size_t)k);
        } else {
            send_all(c->fd, response, response_len);
        }
        memmove(c->buf, c->buf + head + body, c->have - head - body);
        c->have -= head + body;
    }
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    build_response();
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 1024) != 0) {
        perror("bind/listen");
        return 1;
    }
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);
    printf("port %d\n", ntohs(addr.sin_port));
    fflush(stdout);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            conn *c = events[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn *nc = calloc(1, sizeof *nc);
                    nc->fd = fd;
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            ssize_t r = recv(c->fd, c->buf + c->have, BUF_SIZE - c->have, 0);
            if (r > 0) {
                c->have += (size_t)r;
                if (serve(c) == 0)
                    continue;
            } else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
                continue;
            }
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            free(c);
        }
    }
}
