/* Bench-only: what authentication adds to a cache hit inside the core (no front, no network), and
 * what verifying a token seen for the first time costs. One service with the real authenticator
 * (server/auth) answers the same RecommendItems call from its response cache under three policies,
 * alternating in rounds: no auth (the namespace's `auth: {}`), an API key, and a JWT it has seen
 * before (remembered by hash); every rate limiter is on (with limits high enough not to refuse), so
 * their cost is counted. Then distinct RS256 and ES256 tokens, each new to the server, measure the
 * first-seen verification (decode, signature, claims, remembering).
 *
 * Usage: auth_hit_bench [ITERATIONS]   (run by tests/bench/auth/run.sh) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway/transcode.h"
#include "personalization/v1/personalization.pb-c.h"
#include "server/auth/auth.h"
#include "server/auth/digest.h"
#include "server/core/cache.h"
#include "server/core/recommender.h"
#include "server/core/service.h"
#include "tests/unit/auth/test_keys.h"
#include "tests/bench/common/core_bench.h"

#define API_KEY "pzk_bench_0123456789abcdefghijklmnopqrstuvwxyz"
#define ISS "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Bench"
#define ROUNDS 7
#define FIRST_SEEN 2000
#define HIGH "{\"requestsPerSecond\":1e9}"

/* 25 items, answered inline: only the first call of each namespace reaches it. */
static void invoke(void *self, pz_recommend_call *call)
{
    (void)self;
    static pz_scored_item items[25];
    static char ids[25][16];
    for (int i = 0; i < 25; i++) {
        snprintf(ids[i], sizeof ids[i], "sku-%05d", i);
        items[i] = (pz_scored_item){.item_id = ids[i], .has_score = true, .score = 25 - i};
    }
    call->items = items;
    call->n_items = 25;
    call->done(call, NULL);
}

static void submit(void *self, pz_event_submission *s)
{
    (void)self;
    (void)s;
}

/* n calls for ns/user with one header (or none); tokens[i % n_tokens] when tokens are given.
 * Returns seconds per call. */
static double run(pz_service *svc, long n, const char *ns, const char *user, const char *header, const char *value,
                  char **tokens, long n_tokens, const char *want_cache)
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
        m->namespace_ = (char *)ns;
        m->recommender = "for-you";
        m->user_id = (char *)user;
        char bearer[4096];
        pz_header h;
        if (header != NULL) {
            const char *v = value;
            if (tokens != NULL) {
                snprintf(bearer, sizeof bearer, "Bearer %s", tokens[i % n_tokens]);
                v = bearer;
            }
            h = (pz_header){header, strlen(header), v, strlen(v)};
            req.headers = &h;
            req.n_headers = 1;
        }
        req.client_addr = "127.0.0.1:40000";
        req.rpc = PZ_RPC_RECOMMEND_ITEMS;
        req.message = &m->base;
        req.on_done = pz_bench_count_done;
        pz_service_handle(svc, &req);
        if (req.status != PZ_OK || (want_cache != NULL && strcmp(req.hints.cache, want_cache) != 0)) {
            fprintf(stderr, "call failed: %s (%s)\n", req.error.message ? req.error.message : "-",
                    req.hints.cache ? req.hints.cache : "-");
            exit(1);
        }
        pz_arena_destroy(&arena);
    }
    return (pz_bench_thread_cpu_s() - t0) / (double)n;
}

/* A token for sub; `serial` (its jti) makes each one distinct. */
static char *mint(const test_key *k, const char *kid, const char *sub, long serial)
{
    char header[128], claims[512];
    snprintf(header, sizeof header, "{\"alg\":\"%s\",\"kid\":\"%s\"}", k->alg, kid);
    snprintf(claims, sizeof claims,
             "{\"sub\":\"%s\",\"iss\":\"" ISS "\",\"client_id\":\"bench\",\"token_use\":\"access\","
             "\"scope\":\"openid\",\"iat\":%ld,\"exp\":%ld,\"username\":\"%s\",\"jti\":\"%ld\"}",
             sub, (long)time(NULL), (long)time(NULL) + 3600, sub, serial);
    char *out = malloc(4096);
    test_token(k, header, claims, out, 4096);
    return out;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    test_key rsa = test_key_new(2048), ec = test_key_new(0);
    char jwk_rsa[2048], jwk_ec[1024], jwks_path[] = "/tmp/pz-bench-jwks-XXXXXX";
    test_key_jwk(&rsa, "rsa-1", 1, jwk_rsa, sizeof jwk_rsa);
    test_key_jwk(&ec, "ec-1", 1, jwk_ec, sizeof jwk_ec);
    int fd = mkstemp(jwks_path);
    dprintf(fd, "{\"keys\":[%s,%s]}", jwk_rsa, jwk_ec);
    close(fd);
    unsigned char digest[PZ_SHA256_LEN];
    pz_sha256(API_KEY, strlen(API_KEY), digest);
    char hex[2 * PZ_SHA256_LEN + 1];
    for (int i = 0; i < PZ_SHA256_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    char config[4096];
    snprintf(config, sizeof config,
             "{\"cacheControl\":{\"userSpecified\":{\"maxAge\":3600,\"directives\":\"private\"},"
             "\"syntheticUserSpecified\":{\"maxAge\":300,\"directives\":\"public\"},"
             "\"noUserSpecified\":{\"maxAge\":1200,\"directives\":\"public\"}},"
             "\"auth\":{\"jwt\":{\"jwksFile\":\"%s\",\"issuer\":\"" ISS "\",\"clientId\":\"bench\","
             "\"userIdClaim\":\"sub\"},\"apiKeys\":[{\"name\":\"bench\",\"sha256\":\"%s\",\"namespaces\":[\"*\"],"
             "\"scopes\":[\"inference\"]}],\"rateLimits\":{\"perApiKey\":" HIGH ",\"perSubject\":" HIGH
             ",\"perClientAddress\":" HIGH "}},"
             "\"namespaces\":{\"open\":{\"auth\":{},\"recommenders\":{\"recommend-items\":{\"for-you\":{"
             "\"variations\":{\"p\":{\"type\":\"builtin\"}}}}}},"
             "\"shop\":{\"recommenders\":{\"recommend-items\":{\"for-you\":{\"variations\":{\"p\":{\"type\":"
             "\"builtin\"}}}}}}}}",
             jwks_path, hex);
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *cfg = pz_config_parse(config, strlen(config), &p);
    if (cfg == NULL) {
        fprintf(stderr, "config: %s: %s\n", p.items[0].path, p.items[0].message);
        return 1;
    }
    pz_config_problems_free(&p);
    pz_config_holder *holder = pz_config_holder_create(cfg, NULL);
    pz_auth *auth = pz_auth_create(&(pz_auth_options){0});
    pz_auth_prepare(auth, cfg);
    pz_cache *cache = pz_cache_create(&(pz_cache_options){.capacity_bytes = 64 << 20, .purge_settle_ms = -1});
    pz_service *svc = pz_service_create(&(pz_service_options){.config = holder,
                                                              .recommender = {.invoke = invoke},
                                                              .events = {.submit = submit},
                                                              .authenticator = pz_auth_port(auth),
                                                              .cache = cache,
                                                              .render_json = pz_message_to_json});
    char *token = mint(&rsa, "rsa-1", "user-1", 0);
    /* warm: each namespace's entry stored, the token verified once */
    run(svc, 10, "open", "user-1", NULL, NULL, NULL, 0, NULL);
    run(svc, 10, "shop", "user-1", "x-api-key", API_KEY, NULL, 0, NULL);
    run(svc, 10, "shop", "user-1", "authorization", NULL, &token, 1, "hit");

    double none[ROUNDS], key[ROUNDS], jwt[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        none[r] = run(svc, n, "open", "user-1", NULL, NULL, NULL, 0, "hit");
        key[r] = run(svc, n, "shop", "user-1", "x-api-key", API_KEY, NULL, 0, "hit");
        jwt[r] = run(svc, n, "shop", "user-1", "authorization", NULL, &token, 1, "hit");
    }
    double m_none = pz_bench_median(none, (size_t)ROUNDS), m_key = pz_bench_median(key, (size_t)ROUNDS),
           m_jwt = pz_bench_median(jwt, (size_t)ROUNDS);
    printf("core cache hit, CPU time per call, median of %d rounds of %ld calls each, alternating:\n", ROUNDS, n);
    printf("  no auth                %6.3f us/call   (baseline)\n", m_none * 1e6);
    printf("  API key                %6.3f us/call   adds %6.3f us (goal <= 2 us)\n", m_key * 1e6,
           (m_key - m_none) * 1e6);
    printf("  remembered JWT (RS256) %6.3f us/call   adds %6.3f us (goal <= 2 us; %zu-byte token)\n", m_jwt * 1e6,
           (m_jwt - m_none) * 1e6, strlen(token));

    /* first-seen tokens: each verified once, then remembered */
    static char *rs[FIRST_SEEN], *es[FIRST_SEEN];
    for (int i = 0; i < FIRST_SEEN; i++) {
        rs[i] = mint(&rsa, "rsa-1", "user-1", i + 1);
        es[i] = mint(&ec, "ec-1", "user-1", i + 1);
    }
    double t_rs = run(svc, FIRST_SEEN, "shop", "user-1", "authorization", NULL, rs, FIRST_SEEN, "hit");
    double t_es = run(svc, FIRST_SEEN, "shop", "user-1", "authorization", NULL, es, FIRST_SEEN, "hit");
    printf("first-seen token (verified, then remembered), CPU time per call, over %d distinct tokens each:\n",
           FIRST_SEEN);
    printf("  RS256 (2048-bit)       %6.1f us/call   verification adds %6.1f us\n", t_rs * 1e6, (t_rs - m_jwt) * 1e6);
    printf("  ES256 (P-256)          %6.1f us/call   verification adds %6.1f us\n", t_es * 1e6, (t_es - m_jwt) * 1e6);

    for (int i = 0; i < FIRST_SEEN; i++) {
        free(rs[i]);
        free(es[i]);
    }
    free(token);
    pz_service_shutdown(svc);
    pz_service_destroy(svc);
    pz_auth_destroy(auth);
    pz_cache_destroy(cache);
    pz_config_holder_destroy(holder);
    unlink(jwks_path);
    test_key_free(&rsa);
    test_key_free(&ec);
    return pz_bench_done() > 0 ? 0 : 1;
}
