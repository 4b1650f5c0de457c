/* Serves the gRPC front with the fake core (tests/unit/grpc/fake_core.h) until SIGINT/SIGTERM,
 * for checks with real third-party clients such as `buf curl`.
 * Usage: grpc_fake_server [port [stop_grace_ms [hold_ms]]]; PutEvents to namespace "hold" is
 * completed after hold_ms (default 1000), to try stopping with a call in flight. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "server/grpc/grpc_server.h"
#include "tests/unit/grpc/fake_core.h"

int main(int argc, char **argv)
{
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%s", argc > 1 ? argv[1] : "50051");

    /* Block the stop signals before grpc starts its threads, so they inherit the mask. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    fake_core core;
    fake_core_init(&core, 50, argc > 3 ? atoi(argv[3]) : 1000);
    pz_grpc_options opts = {.address = address,
                            .threads = 2,
                            .handle = fake_core_handle,
                            .handle_ctx = &core,
                            .stop_grace_ms = argc > 2 ? atoi(argv[2]) : 0};
    pz_grpc_server *server;
    int port;
    char err[256];
    if (pz_grpc_server_start(&opts, &server, &port, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("listening on 127.0.0.1:%d\n", port);
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    pz_grpc_server_stop(server);
    fake_core_destroy(&core);
    return 0;
}
