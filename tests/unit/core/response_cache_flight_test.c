/* Tests for server/core/response_cache.c stage by stage, with inferences built by hand so that a
 * recommender call can stay in flight: single-flight (many waiting requests, completed on another
 * thread), stale-if-error and a call that ends without finishing its flight. Clock injected. */
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

#define T0 1700000000000LL
#define SEC 1000

static const char CONFIG[] = "{\"cacheControl\":{\"userSpecified\":{\"maxAge\":10,\"directives\":\"private\"},"
                             "\"syntheticUserSpecified\":{\"maxAge\":10,\"directives\":\"public\"},"
                             "\"noUserSpecified\":{\"maxAge\":10,\"directives\":\"public\"}},"
                             "\"namespaces\":{\"shop\":{\"recommenders\":{"
                             "\"recommend-items\":{\"for-you\":{\"variations\":{\"p\":{\"type\":\"builtin\"}}}}}}}}";

static int64_t test_now = T0;

static int64_t clock_now(void)
{
    return test_now;
}

typedef struct fixture {
    pz_config *config;
    pz_cache *cache;
    pz_response_cache *rc;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->config = pz_config_parse(CONFIG, sizeof CONFIG - 1, NULL);
    assert_non_null(f->config);
    f->cache = pz_cache_create(&(pz_cache_options){.capacity_bytes = 1 << 20, .purge_settle_ms = -1});
    f->rc = pz_response_cache_create(
        &(pz_response_cache_options){.cache = f->cache, .render_json = pz_message_to_json, .now_ms = clock_now});
    test_now = T0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pz_response_cache_destroy(f->rc);
    pz_cache_destroy(f->cache);
    pz_config_unref(f->config);
    free(f);
    return 0;
}

/* A request at the cache stage: what resolve would have produced. */
typedef struct pending {
    pz_arena arena;
    pz_request req;
    pz_inference *inf;
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
    memset(p, 0, sizeof *p);
    pz_arena_init(&p->arena);
    pz_request_init(&p->req, &p->arena);
    p->req.rpc = PZ_RPC_RECOMMEND_ITEMS;
    p->req.on_done = on_done;
    p->req.front_data = p;
    pz_inference *inf = pz_arena_calloc(&p->arena, 1, sizeof *inf);
    inf->req = &p->req;
    inf->config = pz_config_ref(f->config);
    inf->ns = pz_config_namespace(f->config, "shop");
    inf->recommender = pz_config_recommender(inf->ns, PZ_ACTION_RECOMMEND_ITEMS, "for-you");
    inf->variation = &inf->recommender->variations[0];
    inf->action = PZ_ACTION_RECOMMEND_ITEMS;
    inf->namespace_ = "shop";
    inf->recommender_key = "for-you";
    inf->user_id = user;
    inf->num_results = 3;
    inf->decorate_items = true;
    p->req.hints.cache_control = "private,max-age=10";
    p->inf = inf;
}

/* What the pipeline does after a successful recommender call: build, store, complete. */
static void finish_leader(pending *p, const char *item)
{
    pz_inference *inf = p->inf;
    Personalization__V1__RecommendationResponse *r =
        (Personalization__V1__RecommendationResponse *)pz_arena_new_message(
            &p->arena, &personalization__v1__recommendation_response__descriptor);
    Personalization__V1__PredictedItem *it = (Personalization__V1__PredictedItem *)pz_arena_new_message(
        &p->arena, &personalization__v1__predicted_item__descriptor);
    it->item_id = (char *)item;
    r->n_item_list = 1;
    r->item_list = pz_arena_calloc(&p->arena, 1, sizeof *r->item_list);
    r->item_list[0] = it;
    r->recommendation_id = "RID-test";
    inf->response = &r->base;
    pz_response_cache_store(inf);
    pz_config_unref(inf->config);
    inf->config = NULL;
    pz_request_succeed(&p->req, inf->response);
}

/* What the pipeline does after a failed recommender call. */
static void fail_leader(pending *p, const pz_error *err)
{
    if (pz_response_cache_failed(p->inf, err))
        return;
    pz_config_unref(p->inf->config);
    p->inf->config = NULL;
    pz_request_fail(&p->req, err->status, err->type, err->code, "%s", err->message);
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
    assert_false(pz_response_cache_lookup(f->rc, leader.inf)); /* the leader calls the recommender */
    assert_string_equal(leader.req.hints.cache, "miss");
    pending *waiters = calloc(N, sizeof *waiters);
    for (int i = 0; i < N; i++) {
        pending_init(f, &waiters[i], "alice");
        waiters[i].req.if_none_match = i == 0 ? "*" : NULL;
        assert_true(pz_response_cache_lookup(f->rc, waiters[i].inf));
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
        assert_null(waiters[i].inf->config); /* the snapshot reference was dropped */
        if (i == 0) {                        /* If-None-Match is applied per waiting request */
            assert_true(req->hints.not_modified);
            assert_null(req->prepared);
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
    assert_true(pz_response_cache_lookup(f->rc, later.inf));
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
    assert_false(pz_response_cache_lookup(f->rc, a.inf));
    finish_leader(&a, "good");
    char etag[PZ_ETAG_SIZE];
    snprintf(etag, sizeof etag, "%s", a.req.hints.etag);
    pz_arena_destroy(&a.arena);

    /* past max-age and stale-while-revalidate (10 + 10 s), within stale-if-error (300 s) */
    test_now += 25 * SEC;
    pending b, w;
    pending_init(f, &b, "bob");
    pending_init(f, &w, "bob");
    assert_false(pz_response_cache_lookup(f->rc, b.inf));
    assert_true(pz_response_cache_lookup(f->rc, w.inf));
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
    assert_false(pz_response_cache_lookup(f->rc, c.inf));
    assert_true(pz_response_cache_lookup(f->rc, w2.inf));
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
    assert_false(pz_response_cache_lookup(f->rc, d.inf));
    fail_leader(&d, &upstream);
    assert_int_equal(d.req.status, PZ_UPSTREAM_FAILED);
    pz_arena_destroy(&d.arena);
}

static void test_a_call_that_never_finishes_its_flight_releases_its_waiters(void **state)
{
    fixture *f = *state;
    pending leader, w;
    pending_init(f, &leader, "carol");
    pending_init(f, &w, "carol");
    assert_false(pz_response_cache_lookup(f->rc, leader.inf));
    assert_true(pz_response_cache_lookup(f->rc, w.inf));
    /* a later stage answers the leader on its own (say, a bug) and the front frees it */
    pz_config_unref(leader.inf->config);
    pz_request_fail(&leader.req, PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "Oops", "a stage failed");
    assert_int_equal(w.done, 0);
    pz_arena_destroy(&leader.arena);
    assert_int_equal(w.done, 1);
    assert_int_equal(w.req.status, PZ_INTERNAL);
    assert_string_equal(w.req.error.code, "CoalescedCallFailed");
    pz_arena_destroy(&w.arena);
    /* and the key is free again */
    pending again;
    pending_init(f, &again, "carol");
    assert_false(pz_response_cache_lookup(f->rc, again.inf));
    finish_leader(&again, "ok");
    pz_arena_destroy(&again.arena);
}

static void test_a_fallback_answer_is_served_but_not_kept(void **state)
{
    fixture *f = *state;
    pending a, w;
    pending_init(f, &a, "erin");
    pending_init(f, &w, "erin");
    assert_false(pz_response_cache_lookup(f->rc, a.inf));
    assert_true(pz_response_cache_lookup(f->rc, w.inf));
    a.req.hints.fallback_from = "primary"; /* the primary variation failed, its fallback answered */
    finish_leader(&a, "degraded");
    assert_int_equal(w.done, 1);
    assert_string_equal(w.req.hints.etag, a.req.hints.etag);
    pz_arena_destroy(&a.arena);
    pz_arena_destroy(&w.arena);
    pending b;
    pending_init(f, &b, "erin");
    assert_false(pz_response_cache_lookup(f->rc, b.inf)); /* a miss: the primary is asked again */
    finish_leader(&b, "good");
    pz_arena_destroy(&b.arena);
}

/* Automatic context (spec §4.5, a later issue) lists the headers it consulted in hints.vary; their
 * values are part of the key, so responses for different header values are never mixed. */
static const char *lookup_with_header(fixture *f, const char *country, bool *hit)
{
    static char etag[PZ_ETAG_SIZE];
    pending p;
    pending_init(f, &p, "gina");
    pz_header h[2] = {{"accept", 6, "*/*", 3}, {"cloudfront-viewer-country", 25, country, strlen(country)}};
    p.req.headers = h;
    p.req.n_headers = country[0] != '\0' ? 2 : 1;
    p.req.hints.vary = "Accept-Language, CloudFront-Viewer-Country";
    *hit = pz_response_cache_lookup(f->rc, p.inf);
    if (!*hit)
        finish_leader(&p, country);
    snprintf(etag, sizeof etag, "%s", p.req.hints.etag);
    pz_arena_destroy(&p.arena);
    return etag;
}

static void test_headers_named_in_vary_are_part_of_the_key(void **state)
{
    fixture *f = *state;
    bool hit;
    char de[PZ_ETAG_SIZE];
    snprintf(de, sizeof de, "%s", lookup_with_header(f, "DE", &hit));
    assert_false(hit);
    assert_false(strcmp(lookup_with_header(f, "FR", &hit), de) == 0);
    assert_false(hit);
    lookup_with_header(f, "", &hit); /* absent is a value of its own */
    assert_false(hit);
    assert_string_equal(lookup_with_header(f, "DE", &hit), de);
    assert_true(hit);
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
    pz_response_cache *rc = pz_response_cache_create(
        &(pz_response_cache_options){.cache = f->cache, .render_json = render_too_much, .now_ms = clock_now});
    pending a, w;
    pending_init(f, &a, "frank");
    pending_init(f, &w, "frank");
    assert_false(pz_response_cache_lookup(rc, a.inf));
    assert_true(pz_response_cache_lookup(rc, w.inf));
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
    assert_false(pz_response_cache_lookup(rc, b.inf)); /* nothing was stored */
    pz_config_unref(b.inf->config);
    pz_request_fail(&b.req, PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "Stop", "end of test");
    pz_arena_destroy(&b.arena);
    pz_cache_stats s;
    pz_cache_get_stats(f->cache, &s);
    assert_int_equal(s.stores, 0);
    pz_response_cache_destroy(rc);
}

static void test_without_a_cache_responses_still_get_validators(void **state)
{
    fixture *f = *state;
    pz_response_cache *bare = pz_response_cache_create(&(pz_response_cache_options){.now_ms = clock_now});
    pending a;
    pending_init(f, &a, "dave");
    assert_false(pz_response_cache_lookup(bare, a.inf));
    assert_null(a.req.hints.cache);
    finish_leader(&a, "x");
    assert_non_null(a.req.hints.etag);
    assert_non_null(a.req.prepared);
    assert_null(a.req.prepared->json); /* no renderer: the front encodes `response` itself */
    assert_non_null(a.req.response);
    pz_arena_destroy(&a.arena);
    pz_response_cache_destroy(bare);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_waiting_requests_share_one_call_completed_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_if_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_call_that_never_finishes_its_flight_releases_its_waiters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_fallback_answer_is_served_but_not_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headers_named_in_vary_are_part_of_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_response_over_the_json_cap_is_not_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_a_cache_responses_still_get_validators, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
