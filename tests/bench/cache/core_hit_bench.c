/* Bench-only: the cost of a cache hit inside the core, with no front and no network. Drives
 * pz_service_handle with the same RecommendItems request over and over (a hit after the first)
 * and prints the time and the request-arena bytes per hit, next to the cost of the same request
 * when every call misses (cache off: builtin recommender, decoration, packing and rendering).
 *
 * Then the cost of the metrics on that hit path: each call also finishes as the fronts finish it
 * (pz_request_log_access, with the access log below the log level as in the throughput runs),
 * once with the requests' metrics recorder installed (--metrics on) and once without (off), in
 * alternating rounds; the difference of the medians is what recording costs per request.
 *
 * Usage: core_hit_bench DATA_DIR [ITERATIONS]   (run by tests/bench/cache/run.sh) */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/transcode.h"
#include "personalization/v1/personalization.pb-c.h"
#include "server/core/cache.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/request_metrics.h"
#include "server/core/service.h"
#include "server/events/pipeline.h"
#include "server/recommenders/recommenders.h"
#include "tests/bench/common/core_bench.h"

static const char CONFIG[] =
    "{\"version\":\"bench-1\",\"cacheControl\":{\"userSpecified\":{\"maxAge\":3600,\"directives\":\"private\"},"
    "\"syntheticUserSpecified\":{\"maxAge\":300,\"directives\":\"public\"},"
    "\"noUserSpecified\":{\"maxAge\":1200,\"directives\":\"public\"}},"
    "\"namespaces\":{\"shop\":{\"recommenders\":{"
    "\"recommend-items\":{\"for-you\":{\"variations\":{\"p\":{\"type\":\"builtin\"}}}}},"
    "\"eventTargets\":[{\"type\":\"builtin\"}]}}}";

/* Finish each call as a front does (access line + finished hook). */
static bool finish_like_a_front;

/* The clock run() measures with: wall time, or this thread's CPU time (immune to other processes
 * competing for the cores, which wall time on a shared 2-core machine is not). */
static clockid_t bench_clock = CLOCK_MONOTONIC;

/* Runs `n` identical calls; returns seconds per call and the arena bytes of the last one. */
static double run(pz_service *svc, long n, size_t *arena_bytes, const char **outcome)
{
    double t0 = pz_bench_now_s(bench_clock);
    for (long i = 0; i < n; i++) {
        pz_arena arena;
        pz_arena_init(&arena);
        pz_request req;
        pz_request_init(&req, &arena);
        Personalization__V1__RecommendItemsRequest *m =
            (Personalization__V1__RecommendItemsRequest *)pz_arena_new_message(
                &arena, &personalization__v1__recommend_items_request__descriptor);
        m->namespace_ = "shop";
        m->recommender = "for-you";
        m->user_id = "user-1";
        req.rpc = PZ_RPC_RECOMMEND_ITEMS;
        req.message = &m->base;
        req.on_done = pz_bench_count_done;
        pz_service_handle(svc, &req);
        if (req.status != PZ_OK) {
            fprintf(stderr, "call failed: %s\n", req.error.message);
            exit(1);
        }
        if (finish_like_a_front)
            pz_request_log_access(&req, "GET /recommend-items/{namespace}/{recommender}/{user_id}", 200);
        *arena_bytes = arena.total;
        *outcome = req.hints.cache != NULL ? req.hints.cache : "-";
        pz_arena_destroy(&arena);
    }
    return (pz_bench_now_s(bench_clock) - t0) / (double)n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR [ITERATIONS]\n", argv[0]);
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 300000;
    char err[256], path[1024];
    pz_builtin *builtin;
    snprintf(path, sizeof path, "%s/builtin", argv[1]);
    if (pz_builtin_open(path, NULL, &builtin, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* A small history so that the uncached call does real work: 50 users, 200 items. */
    enum { N_EVENTS = 2000 };
    static pz_interaction evs[N_EVENTS];
    static char users[N_EVENTS][16], items[N_EVENTS][16];
    for (int i = 0; i < N_EVENTS; i++) {
        snprintf(users[i], sizeof users[i], "user-%d", i % 50);
        snprintf(items[i], sizeof items[i], "item-%d", (i * 7 + i / 50) % 200);
        evs[i] = (pz_interaction){.user_id = users[i],
                                  .item_id = items[i],
                                  .event_type = "click",
                                  .sent_at_ms = pz_now_ms() - (N_EVENTS - i) * 1000};
    }
    if (pz_builtin_ingest(builtin, "shop", evs, N_EVENTS, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    pz_config *cfg = pz_config_parse(CONFIG, sizeof CONFIG - 1, NULL);
    pz_config_holder *holder = pz_config_holder_create(cfg, NULL);
    pz_event_pipeline *events;
    snprintf(path, sizeof path, "%s/outbox", argv[1]);
    pz_event_pipeline_options eo = {.outbox_dir = path, .learner = pz_builtin_learner(builtin), .no_dispatch = true};
    if (pz_event_pipeline_open(&eo, &events, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    pz_cache *cache = pz_cache_create(&(pz_cache_options){.capacity_bytes = 64 << 20, .purge_settle_ms = -1});
    pz_recommenders *recommenders = pz_recommenders_create(&(pz_recommenders_options){.builtin = builtin});
    pz_service *cached = pz_service_create(&(pz_service_options){.config = holder,
                                                                 .recommender = pz_recommenders_port(recommenders),
                                                                 .events = pz_event_pipeline_sink(events),
                                                                 .cache = cache,
                                                                 .render_json = pz_message_to_json});
    pz_service *uncached = pz_service_create(&(pz_service_options){.config = holder,
                                                                   .recommender = pz_recommenders_port(recommenders),
                                                                   .events = pz_event_pipeline_sink(events),
                                                                   .render_json = pz_message_to_json});

    size_t hit_bytes = 0, miss_bytes = 0;
    const char *hit_outcome, *miss_outcome;
    run(cached, 1000, &hit_bytes, &hit_outcome); /* warm: the first call stores the entry */
    double hit = run(cached, n, &hit_bytes, &hit_outcome);
    double miss = run(uncached, n / 20, &miss_bytes, &miss_outcome);
    printf("core  cache hit  %6.2f us/call, %zu arena bytes (outcome %s; %ld calls)\n", hit * 1e6, hit_bytes,
           hit_outcome, n);
    printf("core  no cache   %6.2f us/call, %zu arena bytes (builtin recommender, pack, render; %ld calls)\n",
           miss * 1e6, miss_bytes, n / 20);

    /* metrics on vs off, alternating rounds so drifting machine load hits both alike */
    enum { ROUNDS = 7 };
    pz_metrics *metrics = pz_metrics_create();
    pz_request_metrics *recorder = pz_request_metrics_create(metrics);
    pz_log_set_level(PZ_LOG_WARN);
    finish_like_a_front = true;
    bench_clock = CLOCK_THREAD_CPUTIME_ID;
    double on[ROUNDS], off[ROUNDS];
    size_t bytes;
    const char *outcome;
    for (int r = 0; r < ROUNDS; r++) {
        pz_request_set_finished_hook(NULL, NULL);
        off[r] = run(cached, n, &bytes, &outcome);
        pz_request_set_finished_hook(pz_request_metrics_record, recorder);
        on[r] = run(cached, n, &bytes, &outcome);
    }
    pz_request_set_finished_hook(NULL, NULL);
    double on_med = pz_bench_median(on, (size_t)ROUNDS), off_med = pz_bench_median(off, (size_t)ROUNDS);
    printf("core  cache hit, finished as a front does: metrics off %.3f us/call, on %.3f us/call (thread CPU time, "
           "medians of %d rounds of %ld)\n",
           off_med * 1e6, on_med * 1e6, ROUNDS, n);
    printf("core  metrics recording costs %.3f us/request (goal <= 0.2)\n", (on_med - off_med) * 1e6);
    pz_request_metrics_destroy(recorder);
    pz_metrics_destroy(metrics);

    pz_service_shutdown(cached);
    pz_service_shutdown(uncached);
    pz_service_destroy(cached);
    pz_service_destroy(uncached);
    pz_recommenders_destroy(recommenders);
    pz_event_pipeline_destroy(events);
    pz_cache_destroy(cache);
    pz_config_holder_destroy(holder);
    pz_builtin_close(builtin);
    return pz_bench_done() > 0 ? 0 : 1;
}
