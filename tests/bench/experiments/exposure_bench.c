/* Bench-only: what an experiment adds to a cache hit (issue #14's goal: at most 1 us, and no write
 * on the request path beyond the outbox append). Drives pz_service_handle with cache hits for 100
 * users on two recommenders of the same shape, one without experiments (the baseline) and one whose
 * experiment decides every request (assignment: the bucket hash; exposure: queued for the event
 * writer, the real pipeline and the real LMDB experiment store behind it). Rounds alternate between
 * the two; between rounds (untimed) the writer stores and the experiments target counts what was
 * queued, so every round measures the request path with an empty queue, nothing is dropped, and
 * the writer's own work (on its thread) does not compete with the timed calls.
 * Prints the median time per hit of each, the difference, and the writer side's sustained rate (a
 * burst of 50,000 exposures until each is in the outbox and counted in the store).
 *
 * Usage: exposure_bench DATA_DIR [ROUNDS] [CALLS_PER_ROUND]
 *   bazel build -c opt //tests/bench/experiments:exposure_bench &&
 *   bazel-bin/tests/bench/experiments/exposure_bench /tmp/pz-exp-bench */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/transcode.h"
#include "personalization/v1/personalization.pb-c.h"
#include "server/core/cache.h"
#include "server/core/service.h"
#include "server/events/pipeline.h"
#include "server/experiments/store.h"
#include "server/recommenders/recommenders.h"
#include "tests/bench/common/core_bench.h"

static const char CONFIG[] =
    "{\"version\":\"bench-1\",\"cacheControl\":{\"userSpecified\":{\"maxAge\":3600,\"directives\":\"private\"},"
    "\"syntheticUserSpecified\":{\"maxAge\":300,\"directives\":\"public\"},"
    "\"noUserSpecified\":{\"maxAge\":1200,\"directives\":\"public\"}},"
    "\"namespaces\":{\"shop\":{\"recommenders\":{\"recommend-items\":{"
    "\"plain\":{\"variations\":{\"a\":{\"type\":\"builtin\",\"strategy\":\"popular\"},"
    "  \"b\":{\"type\":\"builtin\",\"strategy\":\"popular\"}}},"
    "\"ab\":{\"experiments\":{\"layout\":{\"method\":\"local\",\"metrics\":{"
    "  \"clicks\":{\"entityIdKey\":\"userDetails.userId\",\"valueKey\":\"details.clicked\"}}}},"
    "  \"variations\":{\"a\":{\"type\":\"builtin\",\"strategy\":\"popular\"},"
    "  \"b\":{\"type\":\"builtin\",\"strategy\":\"popular\"}}}}},"
    "\"eventTargets\":[{\"type\":\"builtin\"}]}}}";

#define USERS 100
/* "user-" and up to 10 digits. */
#define USER_ID_MAX 24

static char user_ids[USERS][USER_ID_MAX];

/* n calls cycling through the users; seconds per call. */
static double run(pz_service *svc, const char *rec, long n, const char *want_outcome)
{
    double t0 = pz_bench_now_s(CLOCK_MONOTONIC);
    for (long i = 0; i < n; i++) {
        pz_arena arena;
        pz_arena_init(&arena);
        pz_request req;
        pz_request_init(&req, &arena);
        Personalization__V1__RecommendItemsRequest *m =
            (Personalization__V1__RecommendItemsRequest *)pz_arena_new_message(
                &arena, &personalization__v1__recommend_items_request__descriptor);
        m->namespace_ = "shop";
        m->recommender = (char *)rec;
        m->user_id = user_ids[i % USERS];
        req.rpc = PZ_RPC_RECOMMEND_ITEMS;
        req.message = &m->base;
        req.on_done = pz_bench_count_done;
        pz_service_handle(svc, &req);
        if (req.status != PZ_OK || (want_outcome != NULL && strcmp(req.hints.cache, want_outcome) != 0)) {
            fprintf(stderr, "call failed or not a hit: %s %s\n", req.error.message ? req.error.message : "",
                    req.hints.cache ? req.hints.cache : "-");
            exit(1);
        }
        pz_arena_destroy(&arena);
    }
    return (pz_bench_now_s(CLOCK_MONOTONIC) - t0) / (double)n;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static unsigned long long stat_of(pz_event_pipeline *p, const char *key)
{
    pz_buf b;
    pz_buf_init(&b, 1 << 20);
    pz_event_pipeline_stats_json(p, &b);
    const char *at = strstr(b.data, key);
    unsigned long long v = at != NULL ? strtoull(at + strlen(key), NULL, 10) : 0;
    pz_buf_free(&b);
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR [ROUNDS] [CALLS_PER_ROUND]\n", argv[0]);
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 301;
    /* Below PZ_EVENTS_EXPOSURE_BATCH and well within PZ_EVENTS_EXPOSURE_FLUSH_MS: the writer does not
     * wake during a timed round, so a round times the request path alone. */
    long calls = argc > 3 ? atol(argv[3]) : 1000;
    char err[256], path[1024];
    for (int i = 0; i < USERS; i++)
        snprintf(user_ids[i], sizeof user_ids[i], "user-%d", i);
    pz_builtin *builtin;
    snprintf(path, sizeof path, "%s/builtin", argv[1]);
    pz_experiments *store;
    char store_dir[1100];
    snprintf(store_dir, sizeof store_dir, "%s/experiments", argv[1]);
    if (pz_builtin_open(path, NULL, &builtin, err, sizeof err) != 0 ||
        pz_experiments_open(store_dir, 0, &store, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    pz_config_problems problems;
    pz_config_problems_init(&problems);
    pz_config *cfg = pz_config_parse(CONFIG, sizeof CONFIG - 1, &problems);
    for (size_t i = 0; cfg == NULL && i < problems.n; i++)
        fprintf(stderr, "config: %s: %s\n", problems.items[i].path, problems.items[i].message);
    pz_config_problems_free(&problems);
    if (cfg == NULL)
        return 1;
    pz_config_holder *holder = pz_config_holder_create(cfg, NULL);
    pz_event_pipeline *events;
    snprintf(path, sizeof path, "%s/outbox", argv[1]);
    pz_event_pipeline_options eo = {
        .outbox_dir = path, .learner = pz_builtin_learner(builtin), .experiments = pz_experiments_port(store)};
    if (pz_event_pipeline_open(&eo, &events, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    pz_cache *cache = pz_cache_create(&(pz_cache_options){.capacity_bytes = 64 << 20, .purge_settle_ms = -1});
    pz_recommenders *recommenders = pz_recommenders_create(&(pz_recommenders_options){.builtin = builtin});
    pz_service *svc = pz_service_create(&(pz_service_options){.config = holder,
                                                              .recommender = pz_recommenders_port(recommenders),
                                                              .events = pz_event_pipeline_sink(events),
                                                              .experiments = pz_experiments_port(store),
                                                              .cache = cache,
                                                              .render_json = pz_message_to_json});
    run(svc, "plain", USERS, NULL); /* warm: store every user's entry */
    run(svc, "ab", USERS, NULL);
    pz_event_pipeline_wait_delivered(events, 60000);

    double *plain = calloc((size_t)rounds, sizeof *plain), *ab = calloc((size_t)rounds, sizeof *ab);
    for (int r = 0; r < rounds; r++) {
        plain[r] = run(svc, "plain", calls, "hit");
        ab[r] = run(svc, "ab", calls, "hit");
        pz_event_pipeline_wait_delivered(events, 60000); /* untimed: the writer and the store catch up */
    }
    /* The writer side's sustained rate: a burst of exposures (within the queue's bound), timed until
     * every one is stored in the outbox and counted in the experiment store. */
    const long burst = 50000;
    double t0 = pz_bench_now_s(CLOCK_MONOTONIC);
    run(svc, "ab", burst, "hit");
    pz_event_pipeline_wait_delivered(events, 600000);
    double writer_s = pz_bench_now_s(CLOCK_MONOTONIC) - t0;
    qsort(plain, (size_t)rounds, sizeof *plain, cmp);
    qsort(ab, (size_t)rounds, sizeof *ab, cmp);
    double p = plain[rounds / 2] * 1e6, e = ab[rounds / 2] * 1e6;
    unsigned long long accepted = stat_of(events, "\"exposures\":{\"accepted\":");
    unsigned long long dropped = stat_of(events, "\"dropped\":");
    printf("cache hit, no experiment (baseline)   %6.3f us/call  (median of %d rounds of %ld)\n", p, rounds, calls);
    printf("cache hit, experiment + exposure      %6.3f us/call\n", e);
    printf("added by assignment + exposure        %6.3f us/call  (goal <= 1 us)\n", e - p);
    printf("exposures queued %llu, dropped %llu; a burst of %ld: stored and counted at %.0f exposures/s\n", accepted,
           dropped, burst, (double)burst / writer_s);

    pz_service_shutdown(svc);
    pz_service_destroy(svc);
    pz_recommenders_destroy(recommenders);
    pz_event_pipeline_destroy(events);
    pz_experiments_close(store);
    pz_cache_destroy(cache);
    pz_config_holder_destroy(holder);
    pz_builtin_close(builtin);
    free(plain);
    free(ab);
    return pz_bench_done() > 0 && dropped == 0 ? 0 : 1;
}
