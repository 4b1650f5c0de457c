#include "tests/unit/upstream/test_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FLAKY 64
#define MAX_CONN_THREADS 256

struct test_http_server {
    int fd;
    int port;
    pthread_t acceptor;
    pthread_mutex_t mu;
    int requests;
    int connections;
    volatile int stopping;
    char flaky_seen[MAX_FLAKY][64];
    int n_flaky;
    pthread_t conns[MAX_CONN_THREADS];
    int conn_fds[MAX_CONN_THREADS];
    int n_conns;
};

typedef struct conn_arg {
    test_http_server *s;
    int fd;
} conn_arg;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* extra: more header lines ("Name: value\r\n"...), or "" */
static void respond_with(int fd, int status, const char *extra, const char *body, size_t len)
{
    char head[512];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nContent-Type: text/plain\r\n%s\r\n",
                     status, len, extra);
    char *all = malloc((size_t)n + len);
    memcpy(all, head, (size_t)n);
    memcpy(all + n, body, len);
    size_t off = 0, total = (size_t)n + len;
    while (off < total) {
        ssize_t w = send(fd, all + off, total - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    free(all);
}

static void respond(int fd, int status, const char *body, size_t len)
{
    respond_with(fd, status, "", body, len);
}

static bool flaky_first(test_http_server *s, const char *key)
{
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n_flaky; i++) {
        if (strcmp(s->flaky_seen[i], key) == 0) {
            pthread_mutex_unlock(&s->mu);
            return false;
        }
    }
    if (s->n_flaky < MAX_FLAKY)
        snprintf(s->flaky_seen[s->n_flaky++], 64, "%.63s", key);
    pthread_mutex_unlock(&s->mu);
    return true;
}

/* The parts of a request serve() looks at. */
typedef struct request_view {
    const char *method;
    const char *path;
    const char *auth;          /* Authorization, "" when absent */
    const char *if_none_match; /* "" when absent */
    const char *body;
    size_t body_len;
} request_view;

static void serve_etag(int fd, const request_view *r)
{
    char tag[200], extra[300], body[64];
    snprintf(tag, sizeof tag, "\"%.100s\"", r->path + 6);
    snprintf(extra, sizeof extra, "ETag: %s\r\n", tag);
    if (strcmp(r->if_none_match, tag) == 0) {
        respond_with(fd, 304, extra, "", 0);
        return;
    }
    int n = snprintf(body, sizeof body, "tagged %s", r->method);
    respond_with(fd, 200, extra, body, (size_t)n);
}

static void serve(test_http_server *s, int fd, const request_view *r)
{
    const char *path = r->path, *auth = r->auth, *body = r->body;
    size_t body_len = r->body_len;
    if (strcmp(path, "/ok") == 0) {
        respond(fd, 200, "ok", 2);
    } else if (strncmp(path, "/slow/", 6) == 0) {
        sleep_ms(atoi(path + 6));
        respond(fd, 200, "slow", 4);
    } else if (strncmp(path, "/status/", 8) == 0) {
        respond(fd, atoi(path + 8), "status", 6);
    } else if (strncmp(path, "/flaky/", 7) == 0) {
        if (flaky_first(s, path + 7))
            respond(fd, 503, "down", 4);
        else
            respond(fd, 200, "recovered", 9);
    } else if (strncmp(path, "/big/", 5) == 0) {
        size_t n = (size_t)atol(path + 5);
        char *big = malloc(n + 1);
        memset(big, 'x', n);
        respond(fd, 200, big, n);
        free(big);
    } else if (strcmp(path, "/auth") == 0) {
        respond(fd, 200, auth, strlen(auth));
    } else if (strcmp(path, "/echo") == 0) {
        respond(fd, 200, body, body_len);
    } else if (strncmp(path, "/etag/", 6) == 0) {
        serve_etag(fd, r);
    } else if (strncmp(path, "/amzn-error/", 12) == 0) {
        char extra[200];
        snprintf(extra, sizeof extra, "X-Amzn-ErrorType: %.100s:http://internal.amazon.com/\r\n", path + 12);
        respond_with(fd, 400, extra, "{\"message\":\"refused\"}", 21);
    } else {
        respond(fd, 404, "no", 2);
    }
}

static void *conn_main(void *p)
{
    conn_arg a = *(conn_arg *)p;
    free(p);
    char buf[65536];
    size_t have = 0;
    for (;;) {
        char *end = NULL;
        while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
            struct pollfd pfd = {a.fd, POLLIN, 0};
            if (a.s->stopping || have == sizeof buf)
                goto done;
            if (poll(&pfd, 1, 100) <= 0)
                continue;
            ssize_t r = recv(a.fd, buf + have, sizeof buf - have, 0);
            if (r <= 0)
                goto done;
            have += (size_t)r;
        }
        size_t head_len = (size_t)(end - buf) + 4;
        char head[8192];
        size_t hl = head_len < sizeof head - 1 ? head_len : sizeof head - 1;
        memcpy(head, buf, hl);
        head[hl] = '\0';
        char method[16] = "", path[1024] = "";
        sscanf(head, "%15s %1023s", method, path);
        size_t content_length = 0;
        char auth[2048] = "", inm[256] = "";
        for (char *line = strstr(head, "\r\n"); line != NULL && line[2] != '\r'; line = strstr(line + 2, "\r\n")) {
            if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
                content_length = (size_t)atol(line + 17);
            if (strncasecmp(line + 2, "Authorization:", 14) == 0)
                sscanf(line + 16, "%2047[^\r]", auth);
            if (strncasecmp(line + 2, "If-None-Match:", 14) == 0)
                sscanf(line + 16, " %255[^\r]", inm);
        }
        while (have < head_len + content_length) {
            ssize_t r = recv(a.fd, buf + have, sizeof buf - have, 0);
            if (r <= 0)
                goto done;
            have += (size_t)r;
        }
        pthread_mutex_lock(&a.s->mu);
        a.s->requests++;
        pthread_mutex_unlock(&a.s->mu);
        request_view view = {method, path, auth, inm, buf + head_len, content_length};
        serve(a.s, a.fd, &view);
        size_t used = head_len + content_length;
        memmove(buf, buf + used, have - used);
        have -= used;
    }
done:
    close(a.fd);
    return NULL;
}

static void *accept_main(void *p)
{
    test_http_server *s = p;
    while (!s->stopping) {
        struct pollfd pfd = {s->fd, POLLIN, 0};
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_mutex_lock(&s->mu);
        s->connections++;
        int slot = s->n_conns < MAX_CONN_THREADS ? s->n_conns++ : -1;
        pthread_mutex_unlock(&s->mu);
        if (slot < 0) {
            close(fd);
            continue;
        }
        conn_arg *a = malloc(sizeof *a);
        *a = (conn_arg){s, fd};
        pthread_create(&s->conns[slot], NULL, conn_main, a);
    }
    return NULL;
}

test_http_server *test_http_start(void)
{
    test_http_server *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(s->fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(s->fd, 64) != 0)
        abort();
    socklen_t len = sizeof addr;
    getsockname(s->fd, (struct sockaddr *)&addr, &len);
    s->port = ntohs(addr.sin_port);
    pthread_create(&s->acceptor, NULL, accept_main, s);
    return s;
}

void test_http_stop(test_http_server *s)
{
    s->stopping = 1;
    pthread_join(s->acceptor, NULL);
    for (int i = 0; i < s->n_conns; i++)
        pthread_join(s->conns[i], NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int test_http_port(const test_http_server *s)
{
    return s->port;
}

int test_http_requests(test_http_server *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->requests;
    pthread_mutex_unlock(&s->mu);
    return n;
}

int test_http_connections(test_http_server *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->connections;
    pthread_mutex_unlock(&s->mu);
    return n;
}
