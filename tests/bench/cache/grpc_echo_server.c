/* Bench-only baseline: a bare grpc-core (1.51) unary server with completion-queue threads like the
 * personalization server's (THREADS of them, one by default; the cache benchmark runs it with one
 * and with two, since which serves more calls on 2 cores shared with the load generator depends on
 * the machine, and compares with the faster) and nothing else: no metadata parsing, no service, no logging. Each call
 * to METHOD is answered with the bytes of RESPONSE_FILE (the cache benchmark gives it a cached response's exact
 * protobuf bytes), or echoes the request when no file is given; any other method gets UNIMPLEMENTED. KEY=VALUE
 * arguments are sent as initial metadata with every answer (to separate the cost of response metadata from the rest).
 *
 * --guard: connections are accepted by the personalization server's own acceptor
 * (server/grpc/accept.h: admission, the preface wait, and the HTTP/2 frame guard against rapid
 * reset in grpc core's reads, with the server's default limits) and handed to grpc core, as its
 * plaintext gRPC front does, instead of grpc core listening itself: the bare server with the same
 * defence, to tell the defence's cost from the rest of ours.
 *
 * Usage: grpc_echo_server [--guard] PORT METHOD [RESPONSE_FILE [THREADS [KEY=VALUE...]]]
 * (loopback only; runs until killed) */
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/grpc/accept.h"
#include "server/grpc/grpc_server.h"

#define PREPOSTED 128
#define MAX_METADATA 8

typedef struct call_ctx {
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_byte_buffer *reply;
    int cancelled;
    int finishing;
} call_ctx;

static grpc_server *server;
static grpc_completion_queue *cq;
static void *method;
static grpc_slice response; /* empty: echo */
static int echo;
static grpc_metadata metadata[MAX_METADATA];
static size_t n_metadata;
static grpc_server_credentials *insecure;

static void post(void)
{
    call_ctx *c = calloc(1, sizeof *c);
    grpc_metadata_array_init(&c->md);
    if (grpc_server_request_registered_call(server, method, &c->call, &c->deadline, &c->md, &c->payload, cq, cq, c) !=
        GRPC_CALL_OK) {
        fprintf(stderr, "request_registered_call failed\n");
        exit(1);
    }
}

static void release(call_ctx *c)
{
    grpc_call_unref(c->call);
    grpc_metadata_array_destroy(&c->md);
    if (c->payload != NULL)
        grpc_byte_buffer_destroy(c->payload);
    if (c->reply != NULL)
        grpc_byte_buffer_destroy(c->reply);
    free(c);
}

static void answer(call_ctx *c)
{
    if (echo && c->payload != NULL) {
        c->reply = grpc_byte_buffer_copy(c->payload);
    } else {
        grpc_slice s = grpc_slice_ref(response);
        c->reply = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
    }
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = n_metadata;
    ops[0].data.send_initial_metadata.metadata = n_metadata ? metadata : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = c->reply;
    ops[2].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[2].data.send_status_from_server.status = GRPC_STATUS_OK;
    ops[3].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[3].data.recv_close_on_server.cancelled = &c->cancelled;
    c->finishing = 1;
    if (grpc_call_start_batch(c->call, ops, 4, c, NULL) != GRPC_CALL_OK) {
        fprintf(stderr, "start_batch failed\n");
        exit(1);
    }
}

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        call_ctx *c = ev.tag;
        if (c->finishing) {
            release(c);
        } else if (!ev.success) {
            grpc_metadata_array_destroy(&c->md);
            free(c);
        } else {
            post();
            answer(c);
        }
    }
    return NULL;
}

/* The acceptor's hand-over (--guard), as server/grpc/grpc_server.c does it. */
static void serve_fd(void *ctx, int fd)
{
    (void)ctx;
    grpc_server_add_channel_from_fd(server, fd, insecure);
}

/* --guard: the personalization server's acceptor on PORT, with its default limits. */
static void start_guarded(const char *port)
{
    pz_grpc_accept_options o = {
        .host = "127.0.0.1",
        .port = atoi(port),
        .limits = pz_conn_limits_create(PZ_GRPC_DEFAULT_MAX_CONNECTIONS, PZ_GRPC_DEFAULT_MAX_CONNECTIONS_PER_CLIENT),
        .handshake_timeout_ms = PZ_GRPC_DEFAULT_HANDSHAKE_TIMEOUT_MS,
        .guard = {.max_resets_per_sec = PZ_GRPC_DEFAULT_MAX_CANCELS_PER_SEC,
                  .max_streams_unacked = PZ_GRPC_DEFAULT_MAX_CONCURRENT_STREAMS},
        .penalty_ms = PZ_GRPC_ABUSE_PENALTY_MS, /* no client here is cut off */
        .serve = serve_fd,
        .threads = 1,
    };
    pz_grpc_acceptor *a;
    int bound;
    char err[256];
    if (pz_grpc_acceptor_start(&o, &a, &bound, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
}

static grpc_slice read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    grpc_slice s = grpc_slice_malloc((size_t)n);
    if (fread(GRPC_SLICE_START_PTR(s), 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "short read of %s\n", path);
        exit(1);
    }
    fclose(f);
    return s;
}

int main(int argc, char **argv)
{
    int guarded = argc > 1 && strcmp(argv[1], "--guard") == 0;
    if (guarded) {
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    if (argc < 3 || argc > 5 + MAX_METADATA) {
        fprintf(stderr, "usage: %s [--guard] PORT METHOD [RESPONSE_FILE [THREADS [KEY=VALUE...]]]\n", argv[0]);
        return 2;
    }
    int threads = argc >= 5 ? atoi(argv[4]) : 1;
    if (threads < 1 || threads > 64)
        threads = 1;
    grpc_init();
    echo = argc < 4;
    for (int i = 5; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (eq == NULL) {
            fprintf(stderr, "metadata must be KEY=VALUE: %s\n", argv[i]);
            return 2;
        }
        metadata[n_metadata].key = grpc_slice_from_copied_buffer(argv[i], (size_t)(eq - argv[i]));
        metadata[n_metadata].value = grpc_slice_from_copied_string(eq + 1);
        n_metadata++;
    }
    response = echo ? grpc_empty_slice() : read_file(argv[3]);
    server = grpc_server_create(NULL, NULL);
    method = grpc_server_register_method(server, argv[2], NULL, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(server, cq, NULL);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%s", argv[1]);
    insecure = grpc_insecure_server_credentials_create();
    if (!guarded && grpc_server_add_http2_port(server, addr, insecure) == 0) {
        fprintf(stderr, "cannot listen on %s\n", addr);
        return 1;
    }
    grpc_server_start(server); /* before the acceptor hands over a descriptor */
    if (guarded)
        start_guarded(argv[1]);
    for (int i = 0; i < PREPOSTED; i++)
        post();
    fprintf(stderr, "grpc_echo_server: %s on %s, %d thread(s)%s\n", argv[2], addr, threads, guarded ? ", guarded" : "");
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    pthread_join(t[0], NULL);
    return 0;
}
