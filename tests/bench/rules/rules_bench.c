/* Bench-only: what the post-ranking rules (issue #20) add to a request, inside the core (no front,
 * no network). Drives pz_service_handle with RecommendItems (numResults 25) for 50 users over the
 * real builtin recommender (a seeded history), the real LMDB catalog (decoration and the rules'
 * fields) and the builtin history port (excludeSeen), against two recommenders of one namespace
 * that differ only by their rules:
 *   plain   no rules
 *   rules   excludeSeen, diversity (maxPerValue 3), two pins, a boost and a bury by metadata, and
 *           a bury by ids (the look-ahead asks the recommender for 50)
 * and prints microseconds per cache miss for each (cache off), and per cache hit (cache on), in
 * interleaved rounds of the same run (the fastest round counts). Then the rules stage alone
 * (pz_rules_apply on the 50 items the recommender gave) per request, and its two ports alone.
 * Times are the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID): everything runs inline on it,
 * and on a shared machine wall time mostly measures the other processes.
 *
 * Usage: rules_bench DATA_DIR [ROUNDS]   (run by tests/bench/rules/run.sh) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/transcode.h"
#include "personalization/v1/personalization.pb-c.h"
#include "server/catalog/catalog.h"
#include "server/catalog/catalog_load.h"
#include "server/catalog/localdb.h"
#include "server/core/cache.h"
#include "server/core/rules.h"
#include "server/core/service.h"
#include "server/events/pipeline.h"
#include "server/recommenders/recommenders.h"
#include "tests/bench/common/core_bench.h"

#define N_USERS 50
#define N_ITEMS 1000
#define NUM_RESULTS 25

static const char CONFIG[] =
    "{\"version\":\"bench-1\",\"cacheControl\":{\"userSpecified\":{\"maxAge\":3600,\"directives\":\"private\"},"
    "\"syntheticUserSpecified\":{\"maxAge\":300,\"directives\":\"public\"},"
    "\"noUserSpecified\":{\"maxAge\":1200,\"directives\":\"public\"}},"
    "\"namespaces\":{\"shop\":{\"inferenceItemMetadata\":{\"type\":\"localdb\"},\"recommenders\":{"
    "\"recommend-items\":{"
    "\"plain\":{\"variations\":{\"p\":{\"type\":\"builtin\"}}},"
    "\"rules\":{\"rules\":{\"excludeSeen\":{\"eventTypes\":[\"purchase\",\"click\"]},"
    "\"diversity\":{\"field\":\"category\",\"maxPerValue\":3},"
    "\"pin\":[{\"itemId\":\"item-7\",\"position\":1},{\"field\":\"brand\",\"values\":[\"b3\"],\"position\":5}],"
    "\"boost\":[{\"field\":\"brand\",\"values\":[\"b1\"],\"weight\":1.5}],"
    "\"bury\":[{\"field\":\"category\",\"values\":[\"c0\"]},{\"itemIds\":[\"item-1\",\"item-2\"]}]},"
    "\"variations\":{\"p\":{\"type\":\"builtin\"}}}}},"
    "\"eventTargets\":[{\"type\":\"builtin\"}]}}}";

/* One call per user; returns seconds per call. */
static double run(pz_service *svc, const char *recommender, int calls)
{
    static char users[N_USERS][16];
    double t0 = pz_bench_thread_cpu_s();
    for (int i = 0; i < calls; i++) {
        pz_arena arena;
        pz_arena_init(&arena);
        pz_request req;
        pz_request_init(&req, &arena);
        Personalization__V1__RecommendItemsRequest *m =
            (Personalization__V1__RecommendItemsRequest *)pz_arena_new_message(
                &arena, &personalization__v1__recommend_items_request__descriptor);
        snprintf(users[i % N_USERS], sizeof users[0], "user-%d", i % N_USERS);
        m->namespace_ = "shop";
        m->recommender = (char *)recommender;
        m->user_id = users[i % N_USERS];
        m->num_results = NUM_RESULTS;
        req.rpc = PZ_RPC_RECOMMEND_ITEMS;
        req.message = &m->base;
        req.on_done = pz_bench_count_done;
        pz_service_handle(svc, &req);
        if (req.status != PZ_OK) {
            fprintf(stderr, "call failed: %s\n", req.error.message);
            exit(1);
        }
        pz_arena_destroy(&arena);
    }
    return (pz_bench_thread_cpu_s() - t0) / (double)calls;
}

static double min_d(double a, double b)
{
    return a < b ? a : b;
}

typedef struct parts {
    double stage, history, fields; /* seconds per call */
    size_t seen, candidates, kept; /* per call */
} parts;

/* The rules stage alone (pz_rules_apply on what the recommender gives for the look-ahead count),
 * and each of its two ports alone. */
static void rules_alone(pz_builtin *builtin, pz_catalog *catalog, pz_config *cfg, int calls, parts *out)
{
    *out = (parts){0};
    const pz_namespace *ns = pz_config_namespace(cfg, "shop");
    const pz_recommender *rec = pz_config_recommender(ns, PZ_ACTION_RECOMMEND_ITEMS, "rules");
    const pz_rules *rules = rec->variations[0].rules_view;
    pz_decorator *d = pz_decorator_create();
    pz_decorator_backend localdb = pz_localdb_backend(catalog);
    pz_decorator_set_backend(d, PZ_ITEM_METADATA_LOCALDB, &localdb);
    pz_rules_ports ports = {.history = pz_builtin_history(builtin), .decorator = d};
    int want = pz_rules_look_ahead(rules, NUM_RESULTS);
    char user[16], err[256];
    for (int i = 0; i < calls; i++) {
        pz_arena arena;
        pz_arena_init(&arena);
        snprintf(user, sizeof user, "user-%d", i % N_USERS);
        pz_scored_item *items;
        int n = pz_builtin_recommend(builtin, "shop", user, (size_t)want, true, pz_now_ms(), &arena, &items, err,
                                     sizeof err);
        pz_query q = {.action = PZ_ACTION_RECOMMEND_ITEMS,
                      .namespace_ = "shop",
                      .recommender_key = "rules",
                      .user_id = user,
                      .num_results = NUM_RESULTS,
                      .decorate_items = true, /* as served: the stage keeps its reads for decoration */
                      .ns = ns,
                      .recommender = rec,
                      .received_ms = pz_now_ms()};
        pz_recommend_call call = {.query = &q, .items = items, .n_items = n > 0 ? (size_t)n : 0};
        pz_error e;
        /* the two ports alone, as the stage calls them */
        pz_history_query hq = {.ns = "shop",
                               .user_id = user,
                               .event_types = rules->seen_event_types,
                               .n_event_types = rules->n_seen_event_types};
        const char **seen;
        size_t n_seen;
        double a = pz_bench_thread_cpu_s();
        ports.history.seen(ports.history.self, &hq, &arena, &seen, &n_seen, &e);
        double b = pz_bench_thread_cpu_s();
        const char **ids = pz_arena_alloc(&arena, (size_t)(n > 0 ? n : 1) * sizeof *ids);
        for (int j = 0; j < n; j++)
            ids[j] = items[j].item_id;
        pz_field_value *vals = pz_arena_calloc(&arena, (size_t)(n > 0 ? n : 1) * rules->n_fields, sizeof *vals);
        pz_field_lookup job = {.ns = "shop",
                               .ids = ids,
                               .n_ids = (size_t)(n > 0 ? n : 0),
                               .fields = rules->fields,
                               .n_fields = rules->n_fields,
                               .values = vals,
                               .arena = &arena};
        pz_decorator_fields(d, &q, &job, &e);
        out->history += b - a;
        out->fields += pz_bench_thread_cpu_s() - b;
        out->seen += n_seen;
        out->candidates += (size_t)(n > 0 ? n : 0);
        double t0 = pz_bench_thread_cpu_s();
        pz_item_records records;
        if (pz_rules_apply(&ports, rules, &q, &call, &records, &arena, &e) != PZ_OK) {
            fprintf(stderr, "rules failed: %s\n", e.message);
            exit(1);
        }
        out->stage += pz_bench_thread_cpu_s() - t0;
        out->kept += call.n_items;
        pz_arena_destroy(&arena);
    }
    pz_decorator_destroy(d);
    out->stage /= calls;
    out->history /= calls;
    out->fields /= calls;
    out->seen /= (size_t)calls;
    out->candidates /= (size_t)calls;
    out->kept /= (size_t)calls;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR [ROUNDS]\n", argv[0]);
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 7;
    char err[256], path[1024];
    pz_builtin *builtin;
    snprintf(path, sizeof path, "%s/builtin", argv[1]);
    if (pz_builtin_open(path, NULL, &builtin, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* 50 users, 1,000 items: each user 40 events (clicks, some purchases) on items that overlap. */
    enum { N_EVENTS = N_USERS * 40 };
    static pz_interaction evs[N_EVENTS];
    static char users[N_EVENTS][16], items[N_EVENTS][16];
    for (int i = 0; i < N_EVENTS; i++) {
        snprintf(users[i], sizeof users[i], "user-%d", i % N_USERS);
        snprintf(items[i], sizeof items[i], "item-%d", (i * 7 + i / N_USERS) % 200);
        evs[i] = (pz_interaction){.user_id = users[i],
                                  .item_id = items[i],
                                  .event_type = i % 5 == 0   ? "purchase"
                                                : i % 3 == 0 ? "view"
                                                             : "click",
                                  .sent_at_ms = pz_now_ms() - (N_EVENTS - i) * 1000};
    }
    if (pz_builtin_ingest(builtin, "shop", evs, N_EVENTS, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    pz_catalog *catalog;
    snprintf(path, sizeof path, "%s/catalog", argv[1]);
    if (pz_catalog_open(path, NULL, &catalog, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    size_t cap = N_ITEMS * 128, len = 0;
    char *lines = malloc(cap);
    for (int i = 0; i < N_ITEMS; i++)
        len += (size_t)snprintf(lines + len, cap - len,
                                "{\"id\":\"item-%d\",\"name\":\"Item %d\",\"category\":\"c%d\",\"brand\":\"b%d\","
                                "\"price\":%d.5}\n",
                                i, i, i % 12, i % 5, i % 90);
    pz_catalog_load_result lr;
    if (pz_catalog_load_buffer(catalog, "shop", lines, len, NULL, &lr, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    free(lines);

    pz_config *cfg = pz_config_parse(CONFIG, sizeof CONFIG - 1, NULL);
    if (cfg == NULL) {
        fprintf(stderr, "bad bench config\n");
        return 1;
    }
    pz_config_holder *holder = pz_config_holder_create(pz_config_ref(cfg), NULL);
    pz_event_pipeline *events;
    snprintf(path, sizeof path, "%s/outbox", argv[1]);
    pz_event_pipeline_options eo = {.outbox_dir = path, .learner = pz_builtin_learner(builtin), .no_dispatch = true};
    if (pz_event_pipeline_open(&eo, &events, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    pz_cache *cache = pz_cache_create(&(pz_cache_options){.capacity_bytes = 64 << 20, .purge_settle_ms = -1});
    pz_recommenders *recommenders = pz_recommenders_create(&(pz_recommenders_options){.builtin = builtin});
    pz_service_options so = {.config = holder,
                             .recommender = pz_recommenders_port(recommenders),
                             .events = pz_event_pipeline_sink(events),
                             .history = pz_builtin_history(builtin),
                             .render_json = pz_message_to_json};
    so.item_metadata[PZ_ITEM_METADATA_LOCALDB] = pz_localdb_backend(catalog);
    pz_service *uncached = pz_service_create(&so);
    so.cache = cache;
    pz_service *cached = pz_service_create(&so);

    const int calls = 2000;
    double miss_plain = 1e9, miss_rules = 1e9, hit_plain = 1e9, hit_rules = 1e9;
    parts best = {.stage = 1e9}, p;
    run(cached, "plain", N_USERS); /* fill the cache: later calls hit */
    run(cached, "rules", N_USERS);
    for (int r = 0; r < rounds; r++) {
        miss_plain = min_d(miss_plain, run(uncached, "plain", calls));
        miss_rules = min_d(miss_rules, run(uncached, "rules", calls));
        hit_plain = min_d(hit_plain, run(cached, "plain", calls * 10));
        hit_rules = min_d(hit_rules, run(cached, "rules", calls * 10));
        rules_alone(builtin, catalog, cfg, calls, &p);
        if (p.stage < best.stage)
            best = p;
    }
    int asked = pz_rules_look_ahead(
        pz_config_recommender(pz_config_namespace(cfg, "shop"), PZ_ACTION_RECOMMEND_ITEMS, "rules")->rules_view,
        NUM_RESULTS);
    printf("rules bench: RecommendItems numResults=%d, %d users, %d catalog items, in process, CPU time of the "
           "calling thread (fastest of %d rounds)\n",
           NUM_RESULTS, N_USERS, N_ITEMS, rounds);
    printf("  miss, no rules        %7.2f us/call\n", miss_plain * 1e6);
    printf("  miss, all rules on    %7.2f us/call (the recommender asked for %d)\n", miss_rules * 1e6, asked);
    printf("  added on a miss       %7.2f us/call (goal <= 20; includes the recommender ranking %d more)\n",
           (miss_rules - miss_plain) * 1e6, asked - NUM_RESULTS);
    printf("  rules stage alone     %7.2f us/call (%zu candidates, %zu kept)\n", best.stage * 1e6, best.candidates,
           best.kept);
    printf("    of which history    %7.2f us/call (%zu items the user interacted with)\n", best.history * 1e6,
           best.seen);
    printf("    of which fields     %7.2f us/call (%zu fields of %zu items from the catalog)\n", best.fields * 1e6,
           (size_t)pz_config_recommender(pz_config_namespace(cfg, "shop"), PZ_ACTION_RECOMMEND_ITEMS, "rules")
               ->rules_view->n_fields,
           best.candidates);
    printf("  hit, no rules         %7.2f us/call\n", hit_plain * 1e6);
    printf("  hit, all rules on     %7.2f us/call (rules never run on a hit)\n", hit_rules * 1e6);

    pz_service_shutdown(cached);
    pz_service_shutdown(uncached);
    pz_service_destroy(cached);
    pz_service_destroy(uncached);
    pz_recommenders_destroy(recommenders);
    pz_event_pipeline_destroy(events);
    pz_cache_destroy(cache);
    pz_config_holder_destroy(holder);
    pz_config_unref(cfg);
    pz_catalog_close(catalog);
    pz_builtin_close(builtin);
    return pz_bench_done() > 0 ? 0 : 1;
}
