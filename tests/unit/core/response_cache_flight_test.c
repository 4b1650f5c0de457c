/* Tests for single-flight in the response cache (server/core/response_cache.c) and the inference
 * sequencer (server/core/inference.c), driven through the service with a fake recommender that
 * holds its calls in flight until the test finishes them (fake_ports.h): many waiting requests
 * completed on another thread, stale-if-error, fallback answers, automatic context in the key (as
 * resolved values, with Vary), explained requests, the JSON cap, no cache at all, and a flight
 * abandoned without an answer. Clock injected. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/transcode.h"
#include "personalization/v1/personalization.pb-c.h"
#include "server/core/response_cache.h"
#include "server/core/service.h"
#include "tests/unit/core/fake_ports.h"

#define T0 1700000000000LL
#define SEC 1000

/* Automatic context: the country header as is, and a device type that a real CloudFront header or
 * one derived from User-Agent can give. */
static const char CONFIG[] = "{\"autoContext\":{\"country\":{\"type\":\"string\",\"rules\":[{\"type\":\"header-value\","
                             "\"header\":\"CloudFront-Viewer-Country\"}]},"
                             "\"deviceType\":{\"type\":\"string\",\"default\":\"Desktop\",\"rules\":[{\"type\":"
                             "\"header-value\",\"header\":\"cloudfront-is-mobile-viewer\",\"valueMappings\":[{"
                             "\"operator\":\"equals\",\"value\":\"true\",\"mapTo\":\"Phone\"}]}]}},"
                             "\"cacheControl\":{\"userSpecified\":{\"maxAge\":10,\"directives\":\"private\"},"
                             "\"syntheticUserSpecified\":{\"maxAge\":10,\"directives\":\"public\"},"
                             "\"noUserSpecified\":{\"maxAge\":10,\"directives\":\"public\"}},"
                             "\"namespaces\":{\"shop\":{\"recommenders\":{"
                             "\"recommend-items\":{\"for-you\":{\"variations\":{\"p\":{\"type\":\"builtin\"},"
                             "\"fb\":{\"type\":\"builtin\"}}}}}}}}";

static int64_t test_now = T0;

static int64_t clock_now(void)
{
    return test_now;
}

typedef struct fixture {
    pz_config_holder *holder;
    pz_cache *cache;
    fake_recommender recommender;
    fake_event_sink events;
    pz_service *svc;
} fixture;

/* A service over the fixture's config, cache and held recommender, rendering with render. */
static pz_service *service(fixture *f, pz_cache *cache, pz_render_json_fn render)
{
    return pz_service_create(&(pz_service_options){.config = f->holder,
                                                   .recommender = fake_recommender_port(&f->recommender),
                                                   .events = fake_event_sink_port(&f->events),
                                                   .cache = cache,
                                                   .render_json = render,
                                                   .now_ms = clock_now});
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    pz_config *config = pz_config_parse(CONFIG, sizeof CONFIG - 1, NULL);
    assert_non_null(config);
    f->holder = pz_config_holder_create(config, NULL);
    f->cache = pz_cache_create(&(pz_cache_options){.capacity_bytes = 1 << 20, .purge_settle_ms = -1});
    f->recommender.hold = true;
    f->svc = service(f, f->cache, pz_message_to_json);
    test_now = T0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pz_service_shutdown(f->svc);
    pz_service_destroy(f->svc);
    pz_cache_destroy(f->cache);
    pz_config_holder_destroy(f->holder);
    free(f);
    return 0;
}

/* A RecommendItems request and, once it reached the recommender, its call there. */
typedef struct pending {
    pz_arena arena;
    pz_request req;
    pz_recommend_call *call;
    int done;
    pthread_t done_thread;
} pending;

static void on_done(pz_request *req)
{
    pending *p = req->front_data;
    p->done++;
    p->done_thread = pthread_self();
}

static void pending_init(fixture *f, pending *p, const char *user)
{
    (void)f;
    memset(p, 0, sizeof *p);
    pz_arena_init(&p->arena);
    pz_request_init(&p->req, &p->arena);
    p->req.rpc = PZ_RPC_RECOMMEND_ITEMS;
    p->req.on_done = on_done;
    p->req.front_data = p;
    Personalization__V1__RecommendItemsRequest *m = (Personalization__V1__RecommendItemsRequest *)pz_arena_new_message(
        &p->arena, &personalization__v1__recommend_items_request__descriptor);
    m->namespace_ = "shop";
    m->recommender = "for-you";
    m->user_id = (char *)user;
    m->num_results = 3;
    m->decorate_items = true;
    p->req.message = &m->base;
}

/* Hands the request to svc. Returns true when the service took it over without the recommender
 * (answered from the cache, or queued behind an identical call); false when it went to the
 * recommender, whose call the test then finishes with finish_leader / fail_leader. */
static bool lookup_in(fixture *f, pz_service *svc, pending *p)
{
    int before = f->recommender.calls;
    pz_service_handle(svc, &p->req);
    if (f->recommender.calls == before)
        return true;
    p->call = f->recommender.last;
    return false;
}

static bool lookup(fixture *f, pending *p)
{
    return lookup_in(f, f->svc, p);
}

/* The recommender answers the leader's call with one item. */
static void finish_leader(pending *p, const char *item)
{
    fake_recommender_answer(p->call, &item, 1);
}

static void fail_leader(pending *p, const pz_error *err)
{
    fake_recommender_fail(p->call, err);
}

static void *finish_leader_thread(void *arg)
{
    finish_leader(arg, "from-another-thread");
    return NULL;
}

static void test_waiting_requests_share_one_call_completed_elsewhere(void **state)
{
    fixture *f = *state;
    enum { N = 64 };
    pending leader;
    pending_init(f, &leader, "alice");
    assert_false(lookup(f, &leader)); /* the leader calls the recommender */
    assert_string_equal(leader.req.hints.cache, "miss");
    pending *waiters = calloc(N, sizeof *waiters);
    for (int i = 0; i < N; i++) {
        pending_init(f, &waiters[i], "alice");
        waiters[i].req.if_none_match = i == 0 ? "*" : NULL;
        assert_true(lookup(f, &waiters[i]));
        assert_int_equal(waiters[i].done, 0);
    }
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, finish_leader_thread, &leader), 0);
    pthread_join(t, NULL);
    assert_int_equal(leader.done, 1);
    assert_non_null(leader.req.prepared);
    for (int i = 0; i < N; i++) {
        pz_request *req = &waiters[i].req;
        assert_int_equal(waiters[i].done, 1);
        assert_true(pthread_equal(waiters[i].done_thread, leader.done_thread));
        assert_int_equal(req->status, PZ_OK);
        assert_string_equal(req->hints.cache, "coalesced");
        assert_string_equal(req->hints.etag, leader.req.hints.etag);
        /* each waiter dropped its snapshot reference: LeakSanitizer checks it at exit */
        if (i == 0) { /* If-None-Match is applied per waiting request */
            assert_true(req->hints.not_modified);
            assert_ptr_equal(req->prepared, leader.req.prepared); /* only its ETags are used */
        } else {
            assert_non_null(req->prepared);
            assert_ptr_equal(req->prepared, leader.req.prepared); /* one prepared response for all */
            assert_non_null(strstr(req->prepared->json, "from-another-thread"));
        }
    }
    /* freeing the leader first: the waiters hold their own references */
    pz_arena_destroy(&leader.arena);
    for (int i = 0; i < N; i++)
        pz_arena_destroy(&waiters[i].arena);
    free(waiters);
    pending later;
    pending_init(f, &later, "alice");
    assert_true(lookup(f, &later));
    assert_string_equal(later.req.hints.cache, "hit");
    pz_arena_destroy(&later.arena);
    pz_cache_stats s;
    pz_cache_get_stats(f->cache, &s);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.coalesced, N);
    assert_int_equal(s.hits, 1);
}

static void test_stale_if_error(void **state)
{
    fixture *f = *state;
    pending a;
    pending_init(f, &a, "bob");
    assert_false(lookup(f, &a));
    finish_leader(&a, "good");
    char etag[PZ_ETAG_SIZE];
    snprintf(etag, sizeof etag, "%s", a.req.hints.etag);
    pz_arena_destroy(&a.arena);

    /* past max-age and stale-while-revalidate (10 + 10 s), within stale-if-error (300 s) */
    test_now += 25 * SEC;
    pending b, w;
    pending_init(f, &b, "bob");
    pending_init(f, &w, "bob");
    assert_false(lookup(f, &b));
    assert_true(lookup(f, &w));
    pz_error upstream = {PZ_UPSTREAM_FAILED, PZ_ERRTYPE_SERVICE, "UpstreamFailed", "the recommender is down"};
    fail_leader(&b, &upstream);
    assert_int_equal(b.done, 1);
    assert_int_equal(b.req.status, PZ_OK);
    assert_string_equal(b.req.hints.cache, "stale-if-error");
    assert_string_equal(b.req.hints.etag, etag);
    assert_int_equal(w.done, 1);
    assert_int_equal(w.req.status, PZ_OK);
    assert_string_equal(w.req.hints.cache, "stale-if-error");
    assert_non_null(strstr(w.req.prepared->json, "good"));
    pz_arena_destroy(&b.arena);
    pz_arena_destroy(&w.arena);

    /* a client-side error is not covered: the waiters get the error itself, copied */
    pending c, w2;
    pending_init(f, &c, "bob");
    pending_init(f, &w2, "bob");
    assert_false(lookup(f, &c));
    assert_true(lookup(f, &w2));
    char *code = strdup("RecommenderSaysNo");
    pz_error not_found = {PZ_NOT_FOUND, PZ_ERRTYPE_CONFIGURATION, code, "no such thing"};
    fail_leader(&c, &not_found);
    memset(code, 'x', strlen(code)); /* the waiter must not point into the leader's memory */
    free(code);
    assert_int_equal(c.req.status, PZ_NOT_FOUND);
    assert_int_equal(w2.done, 1);
    assert_int_equal(w2.req.status, PZ_NOT_FOUND);
    assert_string_equal(w2.req.error.code, "RecommenderSaysNo");
    assert_string_equal(w2.req.error.message, "no such thing");
    assert_string_equal(w2.req.hints.cache, "coalesced");
    pz_arena_destroy(&c.arena);
    pz_arena_destroy(&w2.arena);

    /* past stale-if-error: the error reaches everyone */
    test_now += 400 * SEC;
    pending d;
    pending_init(f, &d, "bob");
    assert_false(lookup(f, &d));
    fail_leader(&d, &upstream);
    assert_int_equal(d.req.status, PZ_UPSTREAM_FAILED);
    pz_arena_destroy(&d.arena);
}

/* A queued lookup at the response cache level (the sequencer's own waiter is its inference). */
typedef struct waiter {
    pz_cache_waiter w;
    int calls;
    pz_status status;
    char code[64];
} waiter;

static void waiter_ready(pz_cache_waiter *w, const pz_prepared_response *res, bool stale, const pz_error *err)
{
    (void)stale;
    waiter *x = (waiter *)w;
    x->calls++;
    x->status = res != NULL ? PZ_OK : err->status;
    snprintf(x->code, sizeof x->code, "%s", res != NULL ? "" : err->code);
}

static pz_cache_result raw_lookup(pz_response_cache *rc, const pz_query *q, pz_arena *arena, pz_cache_waiter *w,
                                  pz_cache_flight **flight)
{
    pz_response_key key = {.query = q, .variation_key = "p", .generation = 1};
    const pz_prepared_response *found;
    const char *outcome;
    return pz_response_cache_lookup(rc, &key, arena, w, &found, flight, &outcome);
}

/* The sequencer finishes its flight on every path; when a request is freed with its flight still
 * open (a bug), the flight is abandoned: its waiters must not wait forever. */
static void test_a_call_that_never_finishes_its_flight_releases_its_waiters(void **state)
{
    fixture *f = *state;
    pz_response_cache *rc = pz_response_cache_create(
        &(pz_response_cache_options){.cache = f->cache, .render_json = pz_message_to_json, .now_ms = clock_now});
    pz_arena arena;
    pz_arena_init(&arena);
    pz_query q = {.rpc = PZ_RPC_RECOMMEND_ITEMS,
                  .namespace_ = "shop",
                  .recommender_key = "for-you",
                  .user_id = "carol",
                  .num_results = 3};
    pz_cache_flight *flight = NULL, *none = NULL;
    assert_int_equal(raw_lookup(rc, &q, &arena, NULL, &flight), PZ_CACHE_MISS);
    assert_non_null(flight);
    waiter w = {.w.ready = waiter_ready};
    assert_int_equal(raw_lookup(rc, &q, &arena, &w.w, &none), PZ_CACHE_WAIT);
    assert_int_equal(w.calls, 0);
    pz_response_cache_abandon(rc, flight);
    assert_int_equal(w.calls, 1);
    assert_int_equal(w.status, PZ_INTERNAL);
    assert_string_equal(w.code, "CoalescedCallFailed");
    /* and the key is free again */
    assert_int_equal(raw_lookup(rc, &q, &arena, NULL, &flight), PZ_CACHE_MISS);
    assert_non_null(flight);
    pz_response_cache_abandon(rc, flight);
    pz_arena_destroy(&arena);
    pz_response_cache_destroy(rc);
}

static void test_a_fallback_answer_is_served_but_not_kept(void **state)
{
    fixture *f = *state;
    pending a, w;
    pending_init(f, &a, "erin");
    pending_init(f, &w, "erin");
    assert_false(lookup(f, &a));
    assert_true(lookup(f, &w));
    pz_config *cfg = pz_config_holder_acquire(f->holder); /* the primary variation failed, its fallback answered */
    a.call->fallback_from = "p";
    a.call->served = pz_config_variation(a.call->query->recommender, "fb");
    pz_config_unref(cfg);
    finish_leader(&a, "degraded");
    assert_string_equal(a.req.hints.fallback_from, "p");
    assert_int_equal(w.done, 1);
    assert_string_equal(w.req.hints.etag, a.req.hints.etag);
    pz_arena_destroy(&a.arena);
    pz_arena_destroy(&w.arena);
    pending b;
    pending_init(f, &b, "erin");
    assert_false(lookup(f, &b)); /* a miss: the primary is asked again */
    finish_leader(&b, "good");
    pz_arena_destroy(&b.arena);
}

/* Automatic context enters the key as the values it resolved to (issue #13): requests whose headers
 * resolve alike share an entry, requests that resolve differently never do. Returns whether the
 * request was a hit and what it sent the recommender (its context) when it was not. */
static bool lookup_with_headers(fixture *f, const char *const *pairs, const char **vary)
{
    pending p;
    pending_init(f, &p, "gina");
    pz_header h[4];
    size_t n = 0;
    for (size_t i = 0; pairs[i] != NULL; i += 2)
        h[n++] = (pz_header){pairs[i], strlen(pairs[i]), pairs[i + 1], strlen(pairs[i + 1])};
    p.req.headers = h;
    p.req.n_headers = n;
    bool hit = lookup(f, &p);
    if (!hit)
        finish_leader(&p, "x");
    static char vary_buf[256];
    snprintf(vary_buf, sizeof vary_buf, "%s", p.req.hints.vary ? p.req.hints.vary : "");
    *vary = vary_buf;
    pz_arena_destroy(&p.arena);
    return hit;
}

#define IPHONE_17 "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"
#define IPHONE_16 "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) Mobile/15E148 Safari/604.1"
#define FIREFOX "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"

static void test_resolved_context_is_part_of_the_key(void **state)
{
    fixture *f = *state;
    const char *vary;
    assert_false(lookup_with_headers(f, (const char *[]){"cloudfront-viewer-country", "DE", NULL}, &vary));
    assert_string_equal(vary, "cloudfront-viewer-country, cloudfront-is-mobile-viewer, user-agent");
    assert_false(lookup_with_headers(f, (const char *[]){"cloudfront-viewer-country", "FR", NULL}, &vary));
    assert_false(lookup_with_headers(f, (const char *[]){NULL}, &vary)); /* absent is a value of its own */
    assert_true(lookup_with_headers(f, (const char *[]){"cloudfront-viewer-country", "DE", NULL}, &vary));
    /* headers the rules do not read change nothing */
    assert_true(
        lookup_with_headers(f, (const char *[]){"cloudfront-viewer-country", "DE", "accept", "x/y", NULL}, &vary));
    /* two iPhones: different User-Agents, one device type, one entry */
    assert_false(lookup_with_headers(f, (const char *[]){"user-agent", IPHONE_17, NULL}, &vary));
    assert_true(lookup_with_headers(f, (const char *[]){"user-agent", IPHONE_16, NULL}, &vary));
    /* so does a real CDN header that says the same */
    assert_true(lookup_with_headers(f, (const char *[]){"cloudfront-is-mobile-viewer", "true", NULL}, &vary));
    assert_string_equal(vary, "cloudfront-viewer-country, cloudfront-is-mobile-viewer");
    /* a desktop resolves to the default, the entry of the request without headers */
    assert_true(lookup_with_headers(f, (const char *[]){"user-agent", FIREFOX, NULL}, &vary));
    /* what the recommender received: the resolved context */
    pending p;
    pending_init(f, &p, "hank");
    pz_header ua = {"user-agent", 10, IPHONE_17, strlen(IPHONE_17)};
    p.req.headers = &ua;
    p.req.n_headers = 1;
    assert_false(lookup(f, &p));
    assert_int_equal(p.call->query->n_context, 1);
    assert_string_equal(p.call->query->context[0]->key, "deviceType");
    assert_string_equal(p.call->query->context[0]->value, "Phone");
    finish_leader(&p, "x");
    pz_arena_destroy(&p.arena);
}

/* A stale entry's background refresh resolves automatic context as the request that found it did
 * (its headers are copied), so the answer it stores belongs to that entry. */
static void test_refresh_resolves_the_same_context(void **state)
{
    fixture *f = *state;
    pz_header de = {"cloudfront-viewer-country", 25, "DE", 2};
    pending a;
    pending_init(f, &a, "jo");
    a.req.headers = &de;
    a.req.n_headers = 1;
    assert_false(lookup(f, &a));
    finish_leader(&a, "old");
    pz_arena_destroy(&a.arena);

    test_now += 15 * SEC; /* past maxAge (10 s), within stale-while-revalidate (10 s more) */
    pending b;
    pending_init(f, &b, "jo");
    b.req.headers = &de;
    b.req.n_headers = 1;
    lookup(f, &b); /* answered stale at once; the refresh is the recommender's new call */
    assert_int_equal(b.done, 1);
    assert_string_equal(b.req.hints.cache, "stale");
    const pz_query *rq = f->recommender.last->query;
    bool country_de = false;
    for (size_t i = 0; i < rq->n_context; i++)
        country_de =
            country_de || (strcmp(rq->context[i]->key, "country") == 0 && strcmp(rq->context[i]->value, "DE") == 0);
    assert_true(country_de);
    pz_arena_destroy(&b.arena); /* the refresh owns copies: it outlives the request */
    fake_recommender_answer(f->recommender.last, (const char *[]){"new"}, 1);

    pending c;
    pending_init(f, &c, "jo");
    c.req.headers = &de;
    c.req.n_headers = 1;
    assert_true(lookup(f, &c));
    assert_string_equal(c.req.hints.cache, "hit");
    assert_non_null(strstr(c.req.prepared->json, "new"));
    pz_arena_destroy(&c.arena);
}

/* An explained request: the cache still serves and stores the plain response; the explained one
 * is the request's own, with no ETag and no-store. */
static void test_explained_requests_are_never_cached(void **state)
{
    fixture *f = *state;
    pending p;
    pending_init(f, &p, "ivy");
    ((Personalization__V1__RecommendItemsRequest *)p.req.message)->has_explain = true;
    ((Personalization__V1__RecommendItemsRequest *)p.req.message)->explain = true;
    p.req.if_none_match = "*";
    assert_false(lookup(f, &p)); /* a miss that leads the flight */
    finish_leader(&p, "first");
    assert_int_equal(p.done, 1);
    assert_null(p.req.prepared);
    assert_null(p.req.hints.etag);
    assert_false(p.req.hints.not_modified); /* If-None-Match is not applied */
    assert_string_equal(p.req.hints.cache_control, "no-store");
    Personalization__V1__RecommendationResponse *r = (Personalization__V1__RecommendationResponse *)p.req.response;
    assert_non_null(r->explain);
    assert_string_equal(r->explain->cache, "miss");
    assert_string_equal(r->explain->variation, "p");
    assert_int_equal(r->explain->n_context, 1); /* deviceType's default */
    pz_arena_destroy(&p.arena);

    pending plain; /* the plain response was stored */
    pending_init(f, &plain, "ivy");
    assert_true(lookup(f, &plain));
    assert_string_equal(plain.req.hints.cache, "hit");
    assert_non_null(plain.req.prepared);
    assert_null(strstr(plain.req.prepared->json, "explain"));
    pz_arena_destroy(&plain.arena);

    pending again; /* an explained hit: the stored response, unpacked and explained */
    pending_init(f, &again, "ivy");
    ((Personalization__V1__RecommendItemsRequest *)again.req.message)->has_explain = true;
    ((Personalization__V1__RecommendItemsRequest *)again.req.message)->explain = true;
    assert_true(lookup(f, &again));
    r = (Personalization__V1__RecommendationResponse *)again.req.response;
    assert_null(again.req.prepared);
    assert_non_null(r);
    assert_string_equal(r->explain->cache, "hit");
    assert_int_equal(r->n_item_list, 1);
    assert_string_equal(r->item_list[0]->item_id, "first");
    assert_string_equal(again.req.hints.cache_control, "no-store");
    pz_arena_destroy(&again.arena);
}

/* A renderer whose output crosses PZ_RESPONSE_CACHE_MAX_JSON_BYTES, like a huge decorated list. */
static int render_too_much(const ProtobufCMessage *msg, pz_buf *out)
{
    (void)msg;
    static char chunk[1 << 20];
    memset(chunk, ' ', sizeof chunk);
    for (size_t written = 0; written <= PZ_RESPONSE_CACHE_MAX_JSON_BYTES; written += sizeof chunk) {
        if (pz_buf_append(out, chunk, sizeof chunk) != 0)
            return -1;
    }
    return 0;
}

static void test_a_response_over_the_json_cap_is_not_kept(void **state)
{
    fixture *f = *state;
    pz_service *svc = service(f, f->cache, render_too_much);
    pending a, w;
    pending_init(f, &a, "frank");
    pending_init(f, &w, "frank");
    assert_false(lookup_in(f, svc, &a));
    assert_true(lookup_in(f, svc, &w));
    finish_leader(&a, "x");
    assert_null(a.req.prepared->json); /* a REST front answers 500 ResponseTooLarge */
    assert_non_null(a.req.response);   /* ... a gRPC front still has the message */
    assert_int_equal(w.done, 1);
    assert_non_null(w.req.prepared); /* the protobuf bytes are there for a gRPC waiter */
    assert_null(w.req.prepared->json);
    pz_arena_destroy(&a.arena);
    pz_arena_destroy(&w.arena);
    pending b;
    pending_init(f, &b, "frank");
    assert_false(lookup_in(f, svc, &b)); /* nothing was stored */
    pz_error stop = {PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "Stop", "end of test"};
    fail_leader(&b, &stop);
    pz_arena_destroy(&b.arena);
    pz_cache_stats s;
    pz_cache_get_stats(f->cache, &s);
    assert_int_equal(s.stores, 0);
    pz_service_shutdown(svc);
    pz_service_destroy(svc);
}

static void test_without_a_cache_responses_still_get_validators(void **state)
{
    fixture *f = *state;
    pz_service *bare = service(f, NULL, NULL);
    pending a;
    pending_init(f, &a, "dave");
    assert_false(lookup_in(f, bare, &a));
    assert_null(a.req.hints.cache);
    finish_leader(&a, "x");
    assert_non_null(a.req.hints.etag);
    assert_non_null(a.req.prepared);
    assert_null(a.req.prepared->json); /* no renderer: the front encodes `response` itself */
    assert_non_null(a.req.response);
    pz_arena_destroy(&a.arena);
    pz_service_shutdown(bare);
    pz_service_destroy(bare);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_waiting_requests_share_one_call_completed_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_if_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_call_that_never_finishes_its_flight_releases_its_waiters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_fallback_answer_is_served_but_not_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolved_context_is_part_of_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_explained_requests_are_never_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_resolves_the_same_context, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_response_over_the_json_cap_is_not_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_a_cache_responses_still_get_validators, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
