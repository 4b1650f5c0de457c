/* Bench-only baseline: h2o's own file handler (h2o_file_register) serving a directory, with the
 * same threading as the personalization server's REST front (one loop per thread, SO_REUSEPORT
 * listeners). The cache benchmark serves a cached response's exact JSON bytes from it.
 *
 * Usage: static_server DIR PORT THREADS [gzip]   (loopback only; runs until killed)
 * With `gzip`, a client that accepts gzip gets FILE.gz when it exists (h2o's send-compressed: a
 * precompressed file, no compression per request), the baseline of compressed cache hits. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>
#include <h2o/http1.h>
#include <h2o/http2.h>

typedef struct loop {
    pthread_t tid;
    int fd;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
} loop;

static h2o_globalconf_t config;

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL)
        return;
    loop *l = listener->data;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock != NULL)
        h2o_accept(&l->accept_ctx, sock);
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(fd, 1024) != 0) {
        perror("listen");
        exit(1);
    }
    return fd;
}

static void *loop_main(void *arg)
{
    loop *l = arg;
    h2o_context_init(&l->ctx, h2o_evloop_create(), &config);
    l->accept_ctx.ctx = &l->ctx;
    l->accept_ctx.hosts = config.hosts;
    h2o_socket_t *sock = h2o_evloop_socket_create(l->ctx.loop, l->fd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = l;
    h2o_socket_read_start(sock, on_accept);
    for (;;)
        h2o_evloop_run(l->ctx.loop, INT32_MAX);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4 && !(argc == 5 && strcmp(argv[4], "gzip") == 0)) {
        fprintf(stderr, "usage: %s DIR PORT THREADS [gzip]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[2]), threads = atoi(argv[3]);
    if (port <= 0 || threads < 1 || threads > 64) {
        fprintf(stderr, "bad PORT or THREADS\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    h2o_config_init(&config);
    h2o_hostconf_t *host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_file_register(h2o_config_register_path(host, "/", 0), argv[1], NULL, NULL,
                      argc == 5 ? H2O_FILE_FLAG_SEND_COMPRESSED : 0);
    loop *loops = calloc((size_t)threads, sizeof *loops);
    for (int i = 0; i < threads; i++)
        loops[i].fd = listen_on(port);
    for (int i = 0; i < threads; i++)
        pthread_create(&loops[i].tid, NULL, loop_main, &loops[i]);
    fprintf(stderr, "static_server: serving %s on 127.0.0.1:%d with %d thread(s)\n", argv[1], port, threads);
    pthread_join(loops[0].tid, NULL);
    return 0;
}
