/* A fake core for the gRPC front tests and tests/unit/grpc:grpc_fake_server:
 *   RecommendItems -> two items and every hint except `experiment`, completed inline; for users
 *                     "prepared-a" and "prepared-b" the response comes prepared (as from the
 *                     response cache: the same pz_prepared_response each time), with variation
 *                     "a" or "b";
 *   RelatedItems   -> an empty response, inline;
 *   RerankItems    -> NOT_FOUND (type Configuration, code RecommenderNotConfigured), inline;
 *   PutEvents      -> one event id per event, completed from another thread after delay_ms
 *                     (hold_ms instead when the namespace is "hold").
 * It records what the front handed over (deadline, if-none-match, headers, client address). */
#ifndef PZ_TEST_FAKE_CORE_H
#define PZ_TEST_FAKE_CORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/core/prepared.h"
#include "server/core/request.h"

#define FAKE_MAX_THREADS 256

typedef struct fake_core {
    pthread_mutex_t mu;
    int delay_ms;
    int hold_ms;
    /* recorded from the last RecommendItems/RelatedItems call */
    int calls;
    int64_t deadline_ms;
    int64_t received_ms;
    char if_none_match[64];
    char x_test[64];
    char client_addr[64];
    char protocol[16];
    bool saw_binary_header;
    bool saw_uppercase_header;
    /* PutEvents completion threads, joined by fake_core_destroy */
    pthread_t threads[FAKE_MAX_THREADS];
    int n_threads;
    int completed_late;                   /* PutEvents completed from another thread */
    const pz_prepared_response *prepared; /* the "prepared-*" users' answer, made at the first */
} fake_core;

void fake_core_init(fake_core *f, int delay_ms, int hold_ms);
/* Joins the completion threads. */
void fake_core_destroy(fake_core *f);
/* pz_handle_fn; ctx is the fake_core. */
void fake_core_handle(void *ctx, pz_request *req);

#endif
