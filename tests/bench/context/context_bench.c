/* Bench-only: what a 6-field automatic context adds to a request that the response cache answers
 * (spec §6; issue #13 goal: at most 2 us per request, since the key must be computed). Drives
 * pz_service_handle with the same RecommendItems request and the same headers over and over (a
 * hit after the first) in three set-ups, measured in the same run, rounds interleaved:
 *
 *   baseline     no autoContext at all
 *   cdn          6 fields (device, time of day, weekday type, country, city, season) read from the
 *                CloudFront headers the request carries
 *   no-cdn       the same 6 fields with no CloudFront header: device from User-Agent, place and
 *                time zone from the client address through GeoIP (the test database)
 *
 * and prints the median (and best) CPU time per call of each, the added cost, and the request-arena
 * bytes.
 * No front, no network, an inline fake recommender (a hit never reaches it).
 *
 * Usage: context_bench GEOIP_DB [ITERATIONS]   (run by tests/bench/context/run.sh) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/transcode.h"
#include "personalization/v1/personalization.pb-c.h"
#include "server/core/cache.h"
#include "server/core/service.h"
#include "server/geoip/geoip.h"
#include "tests/bench/common/core_bench.h"

#define ROUNDS 7

#define CACHE_CONTROL                                                                                                  \
    "\"cacheControl\":{\"userSpecified\":{\"maxAge\":3600,\"directives\":\"private\"},"                                \
    "\"syntheticUserSpecified\":{\"maxAge\":300,\"directives\":\"public\"},"                                           \
    "\"noUserSpecified\":{\"maxAge\":1200,\"directives\":\"public\"}},"
#define NAMESPACES                                                                                                     \
    "\"namespaces\":{\"shop\":{\"recommenders\":{"                                                                     \
    "\"recommend-items\":{\"for-you\":{\"variations\":{\"p\":{\"type\":\"builtin\"}}}}}}}}"
#define EQ(h, v, to)                                                                                                   \
    "{\"type\":\"header-value\",\"header\":\"" h "\",\"valueMappings\":[{\"operator\":\"equals\",\"value\":\"" v       \
    "\",\"mapTo\":\"" to "\"}]}"
#define LT(v, to) "{\"operator\":\"less-than\",\"value\":" v ",\"mapTo\":\"" to "\"}"
#define SEASON(v, to) "{\"operator\":\"equals\",\"value\":" v ",\"mapTo\":\"" to "\"}"
#define AUTO_CONTEXT                                                                                                                                  \
    "\"autoContext\":{"                                                                                                                               \
    "\"deviceType\":{\"type\":\"string\",\"default\":\"Desktop\",\"evaluateAll\":true,\"rules\":[" EQ(                                                \
        "cloudfront-is-mobile-viewer", "true",                                                                                                        \
        "Phone") "," EQ("cloudfront-is-tablet-viewer", "true",                                                                                        \
                        "Tablet") "," EQ("cloudfront-is-smarttv-viewer", "true",                                                                      \
                                         "TV") "]},"                                                                                                  \
                                               "\"timeOfDay\":{\"type\":\"string\",\"rules\":[{\"type\":\"hour-of-"                                   \
                                               "day\",\"valueMappings\":[" LT("5", "Night") "," LT("12", "Morning") "," LT("17", "Afternoon") "," LT( \
                                                   "22",                                                                                              \
                                                   "Evening") ","                                                                                     \
                                                              "{\"operator\":\"greater-than\","                                                       \
                                                              "\"value\":21,\"mapTo\":\"Night\"}]"                                                    \
                                                              "}]},"                                                                                  \
                                                              "\"dayType\":{\"type\":\"string\","                                                     \
                                                              "\"rules\":[{\"type\":\"day-of-"                                                        \
                                                              "week\",\"valueMappings\":[" LT(                                                        \
                                                                  "5",                                                                                \
                                                                  "Weekday") ",{\"operator\":"                                                        \
                                                                             "\"greater-than\","                                                      \
                                                                             "\"value\":4,"                                                           \
                                                                             "\"mapTo\":"                                                             \
                                                                             "\"Weekend\"}]}]},"                                                      \
                                                                             "\"country\":{"                                                          \
                                                                             "\"type\":"                                                              \
                                                                             "\"string\","                                                            \
                                                                             "\"rules\":[{"                                                           \
                                                                             "\"type\":\"header-"                                                     \
                                                                             "value\",\"header\":"                                                    \
                                                                             "\"cloudfront-"                                                          \
                                                                             "viewer-country\"}]}"                                                    \
                                                                             ","                                                                      \
                                                                             "\"city\":{\"type\":"                                                    \
                                                                             "\"string\","                                                            \
                                                                             "\"rules\":[{"                                                           \
                                                                             "\"type\":\"header-"                                                     \
                                                                             "value\",\"header\":"                                                    \
                                                                             "\"cloudfront-"                                                          \
                                                                             "viewer-city\"}]},"                                                      \
                                                                             "\"season\":{"                                                           \
                                                                             "\"type\":"                                                              \
                                                                             "\"string\","                                                            \
                                                                             "\"rules\":[{"                                                           \
                                                                             "\"type\":\"season-"                                                     \
                                                                             "of-year\","                                                             \
                                                                             "\"valueMappings\":"                                                     \
                                                                             "[" SEASON(                                                              \
                                                                                 "0",                                                                 \
                                                                                 "Spr"                                                                \
                                                                                 "in"                                                                 \
                                                                                 "g") "," SEASON("1",                                                 \
                                                                                                 "Summer") "," SEASON("2",                            \
                                                                                                                      "Fall") "," SEASON("3",         \
                                                                                                                                         "Winter") "]}]}},"

static const char PLAIN_CONFIG[] = "{" CACHE_CONTROL NAMESPACES;
static const char CONTEXT_CONFIG[] = "{" CACHE_CONTROL AUTO_CONTEXT NAMESPACES;

#define H(name, value)                                                                                                 \
    {                                                                                                                  \
        name, sizeof name - 1, value, sizeof value - 1                                                                 \
    }
/* What a browser sends anyway, in every set-up. */
#define BROWSER_HEADERS                                                                                                \
    H("host", "api.example.com"), H("accept", "application/json"), H("accept-encoding", "gzip, br"),                   \
        H("accept-language", "en-US,en;q=0.9"), H("origin", "https://shop.example.com"),                               \
        H("user-agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "    \
                        "Gecko) Version/17.0 Mobile/15E148 Safari/604.1")

static const pz_header NO_CDN_HEADERS[] = {BROWSER_HEADERS};
static const pz_header CDN_HEADERS[] = {
    BROWSER_HEADERS,
    H("cloudfront-is-mobile-viewer", "true"),
    H("cloudfront-is-tablet-viewer", "false"),
    H("cloudfront-is-smarttv-viewer", "false"),
    H("cloudfront-is-desktop-viewer", "false"),
    H("cloudfront-viewer-country", "DE"),
    H("cloudfront-viewer-city", "Berlin"),
    H("cloudfront-viewer-time-zone", "Europe/Berlin"),
    H("cloudfront-viewer-latitude", "52.52000"),
};

/* ---- an inline recommender (only the first call of each set-up reaches it) and an idle sink ---- */

static void recommend(void *self, pz_recommend_call *call)
{
    (void)self;
    enum { N = 10 };
    pz_scored_item *items = pz_arena_calloc(call->arena, N, sizeof *items);
    for (int i = 0; i < N; i++)
        items[i] = (pz_scored_item){pz_arena_printf(call->arena, "item-%d", i), true, N - i};
    call->items = items;
    call->n_items = N;
    call->done(call, NULL);
}

static void submit(void *self, pz_event_submission *s)
{
    (void)self;
    pz_error e = {PZ_UNAVAILABLE, PZ_ERRTYPE_UNHANDLED, "NoEvents", "the benchmark takes no events"};
    s->done(s, &e);
}

/* ---- measuring ---- */

typedef struct setup {
    const char *name;
    pz_service *svc;
    const pz_header *headers;
    size_t n_headers;
    const char *client_addr;
    double rounds[ROUNDS];
    size_t arena_bytes;
    const char *outcome;
} setup;

static void on_done(pz_request *req)
{
    (void)req;
}

/* Runs n identical calls; returns seconds per call. */
static double run(setup *s, long n)
{
    double t0 = pz_bench_thread_cpu_s();
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
        req.headers = s->headers;
        req.n_headers = s->n_headers;
        req.client_addr = s->client_addr;
        req.on_done = on_done;
        pz_service_handle(s->svc, &req);
        if (req.status != PZ_OK) {
            fprintf(stderr, "%s: call failed: %s\n", s->name, req.error.message);
            exit(1);
        }
        s->arena_bytes = arena.total;
        s->outcome = req.hints.cache != NULL ? req.hints.cache : "-";
        pz_arena_destroy(&arena);
    }
    return (pz_bench_thread_cpu_s() - t0) / (double)n;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The k-th smallest of the rounds, in microseconds. */
static double rank_us(setup *s, int k)
{
    double sorted[ROUNDS];
    memcpy(sorted, s->rounds, sizeof sorted);
    qsort(sorted, ROUNDS, sizeof sorted[0], compare_doubles);
    return sorted[k] * 1e6;
}

static pz_service *service(const char *config, pz_config_holder **holder, pz_cache **cache, pz_viewer_env viewer)
{
    pz_config *cfg = pz_config_parse(config, strlen(config), NULL);
    if (cfg == NULL) {
        fprintf(stderr, "the benchmark's configuration does not parse\n");
        exit(1);
    }
    *holder = pz_config_holder_create(cfg, NULL);
    *cache = pz_cache_create(&(pz_cache_options){.capacity_bytes = 64 << 20, .purge_settle_ms = -1});
    return pz_service_create(&(pz_service_options){.config = *holder,
                                                   .recommender = {NULL, recommend, NULL},
                                                   .events = {.submit = submit},
                                                   .cache = *cache,
                                                   .render_json = pz_message_to_json,
                                                   .viewer = viewer});
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s GEOIP_DB [ITERATIONS]\n", argv[0]);
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 200000;
    char err[256];
    pz_geoip *geoip;
    if (pz_geoip_open(argv[1], &geoip, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    pz_tz_db *tz = pz_tz_db_create(NULL);
    pz_viewer_env env = {.geo = pz_geoip_port(geoip), .tz = tz};
    pz_config_holder *holders[3];
    pz_cache *caches[3];
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
    setup setups[3] = {
        {.name = "baseline: no autoContext",
         .svc = service(PLAIN_CONFIG, &holders[0], &caches[0], env),
         .headers = NO_CDN_HEADERS,
         .n_headers = N_OF(NO_CDN_HEADERS)},
        {.name = "6 fields from CloudFront headers",
         .svc = service(CONTEXT_CONFIG, &holders[1], &caches[1], env),
         .headers = CDN_HEADERS,
         .n_headers = N_OF(CDN_HEADERS)},
        {.name = "6 fields, no CDN: User-Agent + GeoIP",
         .svc = service(CONTEXT_CONFIG, &holders[2], &caches[2], env),
         .headers = NO_CDN_HEADERS,
         .n_headers = N_OF(NO_CDN_HEADERS)},
    };
    for (int s = 0; s < 3; s++)
        setups[s].client_addr = "203.0.113.5:40000";
    for (int s = 0; s < 3; s++)
        run(&setups[s], 1000); /* warm: the first call stores the entry, the zone file is read */
    for (int r = 0; r < ROUNDS; r++) {
        for (int s = 0; s < 3; s++)
            setups[s].rounds[r] = run(&setups[s], n);
    }
    double base = rank_us(&setups[0], ROUNDS / 2), base_best = rank_us(&setups[0], 0);
    printf("automatic context on a cache hit (core, no front; CPU time per call, median [best] of %d rounds of %ld "
           "calls; outcome %s)\n",
           ROUNDS, n, setups[0].outcome);
    for (int s = 0; s < 3; s++) {
        double us = rank_us(&setups[s], ROUNDS / 2), best = rank_us(&setups[s], 0);
        if (s == 0)
            printf("  %-40s %6.3f [%6.3f] us  %5zu arena bytes\n", setups[s].name, us, best, setups[s].arena_bytes);
        else
            printf("  %-40s %6.3f [%6.3f] us  %5zu arena bytes  added %+.3f [%+.3f] us (goal <= 2 us)\n",
                   setups[s].name, us, best, setups[s].arena_bytes, us - base, best - base_best);
        if (strcmp(setups[s].outcome, "hit") != 0) {
            fprintf(stderr, "%s: expected cache hits, got '%s'\n", setups[s].name, setups[s].outcome);
            return 1;
        }
    }
    for (int s = 0; s < 3; s++) {
        pz_service_shutdown(setups[s].svc);
        pz_service_destroy(setups[s].svc);
        pz_cache_destroy(caches[s]);
        pz_config_holder_destroy(holders[s]);
    }
    pz_tz_db_destroy(tz);
    pz_geoip_close(geoip);
    return 0;
}
