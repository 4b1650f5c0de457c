/* Tests for server/core/service.c, inference.c, query.c and event_validation.c with in-memory fake
 * ports (fake_ports.h): resolution, validation, the hints, what the recommender port and the
 * decorators are asked, PutEvents reaching the event sink, shutdown and deadlines. No LMDB, no
 * threads, no front (DESIGN property 1). The same service wired to the real ports is tested in
 * tests/unit/wiring/service_test.c. */
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
#include "server/core/cache.h"
#include "server/core/event_validation.h"
#include "server/core/experiment.h"
#include "server/core/service.h"
#include "tests/unit/core/fake_ports.h"

static const char CONFIG[] =
    "{\"version\":\"t-1\",\"cacheControl\":{\"userSpecified\":{\"maxAge\":10,\"directives\":\"private\"},"
    "\"syntheticUserSpecified\":{\"maxAge\":300,\"directives\":\"public\"},"
    "\"noUserSpecified\":{\"maxAge\":0,\"directives\":\"public,max-age=60\"}},"
    "\"namespaces\":{\"shop\":{\"inferenceItemMetadata\":{\"type\":\"localdb\"},\"recommenders\":{"
    "\"recommend-items\":{\"for-you\":{\"variations\":{\"p\":{\"type\":\"builtin\"},\"q\":{\"type\":\"builtin\"}}},"
    "\"ab\":{\"experiments\":{\"f1\":{\"method\":\"local\",\"weights\":{\"a\":1,\"b\":1}}},"
    "\"variations\":{\"a\":{\"type\":\"builtin\"},\"b\":{\"type\":\"builtin\",\"strategy\":\"popular\"}}}},"
    "\"related-items\":{\"similar\":{\"variations\":{\"co\":{\"type\":\"builtin\"}}}},"
    "\"rerank-items\":{\"rank\":{\"variations\":{\"aff\":{\"type\":\"builtin\"}}}}},"
    "\"eventTargets\":[{\"type\":\"builtin\"}]},"
    "\"tracked\":{\"eventTargets\":[{\"type\":\"personalize-event-tracker\",\"trackingId\":\"abc-1\"}]},"
    "\"streams\":{\"eventTargets\":[{\"type\":\"kinesis-stream\",\"streamName\":\"s\"},{\"type\":\"file\","
    "\"path\":\"/tmp/pz-never-written\"}]},"
    "\"silent\":{\"recommenders\":{\"recommend-items\":{\"r\":{\"variations\":{\"v\":{\"type\":\"builtin\"}}}}}}}}";

typedef struct fixture {
    pz_config_holder *holder;
    fake_recommender recommender;
    fake_event_sink events;
    fake_decorator localdb;
    pz_service *svc;
} fixture;

static void on_done(pz_request *req)
{
    (*(int *)req->front_data)++;
}

/* Handles one request; the fakes complete inline, so it is done on return. */
static void run(fixture *f, pz_request *req, pz_arena *arena, pz_rpc rpc, ProtobufCMessage *msg)
{
    static int calls;
    pz_request_init(req, arena);
    req->rpc = rpc;
    req->message = msg;
    req->on_done = on_done;
    req->front_data = &calls;
    calls = 0;
    pz_service_handle(f->svc, req);
    assert_int_equal(calls, 1);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *cfg = pz_config_parse(CONFIG, sizeof CONFIG - 1, &p);
    for (size_t i = 0; i < p.n; i++)
        fprintf(stderr, "%s: %s\n", p.items[i].path, p.items[i].message);
    assert_non_null(cfg);
    pz_config_problems_free(&p);
    f->holder = pz_config_holder_create(cfg, NULL);
    f->localdb.name = "localdb";
    pz_service_options o = {.config = f->holder,
                            .recommender = fake_recommender_port(&f->recommender),
                            .events = fake_event_sink_port(&f->events),
                            .render_json = pz_message_to_json};
    o.item_metadata[PZ_ITEM_METADATA_LOCALDB] = fake_decorator_backend(&f->localdb);
    f->svc = pz_service_create(&o);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pz_service_shutdown(f->svc);
    pz_service_destroy(f->svc);
    pz_config_holder_destroy(f->holder);
    free(f);
    return 0;
}

static Personalization__V1__RecommendItemsRequest *recommend_req(pz_arena *a, const char *rec, const char *user, int n)
{
    Personalization__V1__RecommendItemsRequest *m = (Personalization__V1__RecommendItemsRequest *)pz_arena_new_message(
        a, &personalization__v1__recommend_items_request__descriptor);
    m->namespace_ = "shop";
    m->recommender = (char *)rec;
    m->user_id = (char *)user;
    m->num_results = n;
    m->decorate_items = true;
    return m;
}

static Personalization__V1__PutEventsRequest *events_req(pz_arena *a, const char *ns, const char *user, size_t n)
{
    Personalization__V1__PutEventsRequest *m = (Personalization__V1__PutEventsRequest *)pz_arena_new_message(
        a, &personalization__v1__put_events_request__descriptor);
    m->namespace_ = (char *)ns;
    m->user_id = (char *)user;
    m->session_id = "s1";
    m->n_event_list = n;
    m->event_list = pz_arena_calloc(a, n ? n : 1, sizeof *m->event_list);
    for (size_t i = 0; i < n; i++) {
        Personalization__V1__Event *e =
            (Personalization__V1__Event *)pz_arena_new_message(a, &personalization__v1__event__descriptor);
        e->event_type = "click";
        e->item_id = "pan";
        m->event_list[i] = e;
    }
    return m;
}

static void expect_error(fixture *f, pz_rpc rpc, ProtobufCMessage *msg, pz_arena *a, pz_status status, const char *code,
                         const char *in_message)
{
    pz_request req;
    run(f, &req, a, rpc, msg);
    assert_int_equal(req.status, status);
    assert_string_equal(req.error.code, code);
    assert_non_null(strstr(req.error.message, in_message));
    assert_null(req.response);
}

static void test_inference_asks_the_recommender_port_and_builds_the_response(void **state)
{
    fixture *f = *state;
    pz_arena a;
    pz_arena_init(&a);
    pz_request req;
    run(f, &req, &a, PZ_RPC_RECOMMEND_ITEMS, &recommend_req(&a, "for-you", "u1", 5)->base);
    assert_int_equal(req.status, PZ_OK);
    /* the port got the query, resolved, and the first variation */
    assert_int_equal(f->recommender.calls, 1);
    const pz_recommend_call *c = f->recommender.last;
    assert_string_equal(c->query->user_id, "u1");
    assert_int_equal(c->query->num_results, 5);
    assert_string_equal(c->query->recommender->key, "for-you");
    assert_string_equal(c->variation->key, "p");
    assert_ptr_equal(c->timing, &req.hints.upstream);
    Personalization__V1__RecommendationResponse *r = (Personalization__V1__RecommendationResponse *)req.response;
    assert_int_equal(r->n_item_list, 5);
    assert_string_equal(r->item_list[0]->item_id, "item-0");
    assert_true(r->item_list[0]->has_score);
    assert_int_equal(strncmp(r->recommendation_id, "RID-", 4), 0); /* minted: the fake gave none */
    /* the namespace's localdb back-end decorated every item */
    assert_int_equal(f->localdb.calls, 1);
    assert_non_null(r->item_list[4]->metadata);
    assert_string_equal(req.hints.config_version, "t-1");
    assert_string_equal(req.hints.variation, "p");
    assert_string_equal(req.hints.cache_control, "private,max-age=10");
    assert_null(req.hints.fallback_from);
    pz_arena_destroy(&a);
}

static void test_items_are_truncated_to_num_results_and_not_decorated_on_request(void **state)
{
    fixture *f = *state;
    f->recommender.extra_items = 7; /* a recommender that answers more than asked (look-ahead) */
    pz_arena a;
    pz_arena_init(&a);
    Personalization__V1__RecommendItemsRequest *m = recommend_req(&a, "for-you", "anyone", 1);
    m->decorate_items = false;
    pz_request req;
    run(f, &req, &a, PZ_RPC_RECOMMEND_ITEMS, &m->base);
    assert_int_equal(req.status, PZ_OK);
    Personalization__V1__RecommendationResponse *r = (Personalization__V1__RecommendationResponse *)req.response;
    assert_int_equal(r->n_item_list, 1);
    assert_string_equal(r->item_list[0]->item_id, "item-0");
    assert_null(r->item_list[0]->metadata);
    assert_int_equal(f->localdb.calls, 0);
    pz_arena_destroy(&a);
}

static void test_a_fallback_that_served_is_in_the_hints(void **state)
{
    fixture *f = *state;
    pz_config *cfg = pz_service_config(f->svc);
    const pz_recommender *rec =
        pz_config_recommender(pz_config_namespace(cfg, "shop"), PZ_ACTION_RECOMMEND_ITEMS, "for-you");
    f->recommender.served = pz_config_variation(rec, "q");
    pz_arena a;
    pz_arena_init(&a);
    pz_request req;
    run(f, &req, &a, PZ_RPC_RECOMMEND_ITEMS, &recommend_req(&a, "for-you", "u1", 2)->base);
    assert_int_equal(req.status, PZ_OK);
    assert_string_equal(req.hints.variation, "q");
    assert_string_equal(req.hints.fallback_from, "p");
    pz_arena_destroy(&a);
    pz_config_unref(cfg);
}

static void test_resolution_errors(void **state)
{
    fixture *f = *state;
    pz_arena a;
    pz_arena_init(&a);
    Personalization__V1__RecommendItemsRequest *m = recommend_req(&a, "for-you", "u1", 5);
    m->namespace_ = "nope";
    expect_error(f, PZ_RPC_RECOMMEND_ITEMS, &m->base, &a, PZ_NOT_FOUND, "RecommenderNotConfigured", "nope");
    m = recommend_req(&a, "missing", "u1", 5);
    expect_error(f, PZ_RPC_RECOMMEND_ITEMS, &m->base, &a, PZ_NOT_FOUND, "RecommenderNotConfigured", "missing");
    m = recommend_req(&a, "ab", "u1", 5);
    m->feature = "unknown-feature";
    expect_error(f, PZ_RPC_RECOMMEND_ITEMS, &m->base, &a, PZ_INVALID_ARGUMENT, "InvalidExperimentFeature",
                 "unknown-feature");
    assert_int_equal(f->recommender.calls, 0); /* none of them reached the recommender */
    /* a recommender's failure is the answer, as it gave it */
    pz_error down = {PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "CredentialsNotFound", "variation 'p' has no credentials"};
    f->recommender.fail_with = &down;
    m = recommend_req(&a, "for-you", "u1", 5);
    expect_error(f, PZ_RPC_RECOMMEND_ITEMS, &m->base, &a, PZ_INTERNAL, "CredentialsNotFound", "variation 'p'");
    pz_arena_destroy(&a);
}

static void test_validation_limits(void **state)
{
    fixture *f = *state;
    pz_arena a;
    pz_arena_init(&a);
    expect_error(f, PZ_RPC_RECOMMEND_ITEMS, &recommend_req(&a, "for-you", "u1", -1)->base, &a, PZ_INVALID_ARGUMENT,
                 "ValidationError", "numResults");
    expect_error(f, PZ_RPC_RECOMMEND_ITEMS, &recommend_req(&a, "for-you", NULL, 5)->base, &a, PZ_INVALID_ARGUMENT,
                 "ValidationError", "userId");
    char long_id[300];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    expect_error(f, PZ_RPC_RECOMMEND_ITEMS, &recommend_req(&a, "for-you", long_id, 5)->base, &a, PZ_INVALID_ARGUMENT,
                 "ValidationError", "256");
    Personalization__V1__RecommendItemsRequest *m = recommend_req(&a, "for-you", "u1", 5);
    Personalization__V1__RecommendItemsRequest__ContextEntry e =
        PERSONALIZATION__V1__RECOMMEND_ITEMS_REQUEST__CONTEXT_ENTRY__INIT;
    char long_key[160];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    e.key = long_key;
    e.value = "v";
    Personalization__V1__RecommendItemsRequest__ContextEntry *ep = &e;
    m->n_context = 1;
    m->context = &ep;
    expect_error(f, PZ_RPC_RECOMMEND_ITEMS, &m->base, &a, PZ_INVALID_ARGUMENT, "InvalidContextParameter", "150");
    Personalization__V1__RerankItemsRequest *rr = (Personalization__V1__RerankItemsRequest *)pz_arena_new_message(
        &a, &personalization__v1__rerank_items_request__descriptor);
    rr->namespace_ = "shop";
    rr->recommender = "rank";
    rr->user_id = "u1";
    expect_error(f, PZ_RPC_RERANK_ITEMS, &rr->base, &a, PZ_INVALID_ARGUMENT, "ValidationError", "itemIds");
    /* Issue 19: an empty id (",," over REST, [""] or "" over gRPC) is refused, not ranked. */
    char *ids[] = {"a", "", "b"};
    rr->item_ids = ids;
    rr->n_item_ids = 3;
    expect_error(f, PZ_RPC_RERANK_ITEMS, &rr->base, &a, PZ_INVALID_ARGUMENT, "ValidationError",
                 "itemIds[1] must be 1 to 256 characters");
    assert_int_equal(f->recommender.calls, 0);
    pz_arena_destroy(&a);
}

/* What upstream treats as absent is absent, numResults above 500 is clamped and 0 answers an empty
 * list without asking the recommender (issue 12; before, all were 400s). */
static void test_parameters_upstream_treats_as_absent(void **state)
{
    fixture *f = *state;
    pz_arena a;
    pz_arena_init(&a);
    pz_request req;
    run(f, &req, &a, PZ_RPC_RECOMMEND_ITEMS, &recommend_req(&a, "for-you", "u1", 0)->base);
    assert_int_equal(req.status, PZ_OK);
    Personalization__V1__RecommendationResponse *r = (Personalization__V1__RecommendationResponse *)req.response;
    assert_int_equal(r->n_item_list, 0);
    assert_int_equal(strncmp(r->recommendation_id, "RID-", 4), 0);
    assert_int_equal(f->recommender.calls, 0);

    run(f, &req, &a, PZ_RPC_RECOMMEND_ITEMS, &recommend_req(&a, "for-you", "u1", 501)->base);
    assert_int_equal(req.status, PZ_OK);
    assert_int_equal(f->recommender.last->query->num_results, PZ_MAX_NUM_RESULTS);
    r = (Personalization__V1__RecommendationResponse *)req.response;
    assert_int_equal(r->n_item_list, PZ_MAX_NUM_RESULTS);

    /* empty filter and feature are absent; a feature no experiment decides on is ignored */
    Personalization__V1__RecommendItemsRequest *m = recommend_req(&a, "for-you", "u1", 2);
    m->filter = "";
    m->feature = "";
    run(f, &req, &a, PZ_RPC_RECOMMEND_ITEMS, &m->base);
    assert_int_equal(req.status, PZ_OK);
    assert_null(f->recommender.last->query->filter);
    assert_null(f->recommender.last->query->feature);
    m = recommend_req(&a, "for-you", "u1", 2); /* no experiments */
    m->feature = "no-such-feature";
    run(f, &req, &a, PZ_RPC_RECOMMEND_ITEMS, &m->base);
    assert_int_equal(req.status, PZ_OK);

    /* related-items: an empty userId is no user (noUserSpecified policy) */
    Personalization__V1__RelatedItemsRequest *rel = (Personalization__V1__RelatedItemsRequest *)pz_arena_new_message(
        &a, &personalization__v1__related_items_request__descriptor);
    rel->namespace_ = "shop";
    rel->recommender = "similar";
    rel->item_id = "pan";
    rel->user_id = "";
    rel->num_results = 2;
    run(f, &req, &a, PZ_RPC_RELATED_ITEMS, &rel->base);
    assert_int_equal(req.status, PZ_OK);
    assert_null(f->recommender.last->query->user_id);
    assert_string_equal(req.hints.cache_control, "public,max-age=60");
    /* recommend-items requires its user: an empty one stays a 400 */
    expect_error(f, PZ_RPC_RECOMMEND_ITEMS, &recommend_req(&a, "for-you", "", 5)->base, &a, PZ_INVALID_ARGUMENT,
                 "ValidationError", "userId");
    pz_arena_destroy(&a);
}

/* A front's uncacheable route (POST rerank) gets no validator and never meets the cache. */
static void test_uncacheable_requests_get_no_etag(void **state)
{
    fixture *f = *state;
    pz_arena a;
    pz_arena_init(&a);
    pz_request req;
    run(f, &req, &a, PZ_RPC_RECOMMEND_ITEMS, &recommend_req(&a, "for-you", "u1", 3)->base);
    assert_non_null(req.hints.etag); /* the class is cacheable */
    pz_request_init(&req, &a);
    static int calls;
    req.rpc = PZ_RPC_RECOMMEND_ITEMS;
    req.message = &recommend_req(&a, "for-you", "u1", 3)->base;
    req.uncacheable = true;
    req.if_none_match = "*";
    req.on_done = on_done;
    req.front_data = &calls;
    pz_service_handle(f->svc, &req);
    assert_int_equal(calls, 1);
    assert_int_equal(req.status, PZ_OK);
    assert_null(req.hints.etag);
    assert_false(req.hints.not_modified); /* "*" would match any response with a validator */
    assert_null(req.prepared);
    assert_null(req.hints.cache);
    assert_int_equal(((Personalization__V1__RecommendationResponse *)req.response)->n_item_list, 3);
    pz_arena_destroy(&a);
}

/* `version: ""` is no version: no empty X-Personalization-Config-Version. */
static void test_empty_version_sends_no_header(void **state)
{
    (void)state;
    static const char DOC[] = "{\"version\":\"\",\"namespaces\":{\"n\":{\"recommenders\":{\"recommend-items\":{"
                              "\"r\":{\"variations\":{\"v\":{\"type\":\"builtin\"}}}}}}}}";
    pz_config *cfg = pz_config_parse(DOC, sizeof DOC - 1, NULL);
    assert_non_null(cfg);
    pz_config_holder *holder = pz_config_holder_create(cfg, NULL);
    fake_recommender rec = {0};
    fake_event_sink events = {0};
    pz_service_options o = {.config = holder,
                            .recommender = fake_recommender_port(&rec),
                            .events = fake_event_sink_port(&events),
                            .render_json = pz_message_to_json};
    pz_service *svc = pz_service_create(&o);
    pz_arena a;
    pz_arena_init(&a);
    Personalization__V1__RecommendItemsRequest *m = recommend_req(&a, "r", "u1", 1);
    m->namespace_ = "n";
    static int calls;
    pz_request req;
    pz_request_init(&req, &a);
    req.rpc = PZ_RPC_RECOMMEND_ITEMS;
    req.message = &m->base;
    req.on_done = on_done;
    req.front_data = &calls;
    pz_service_handle(svc, &req);
    assert_int_equal(req.status, PZ_OK);
    assert_null(req.hints.config_version);
    pz_arena_destroy(&a);
    pz_service_shutdown(svc);
    pz_service_destroy(svc);
    pz_config_holder_destroy(holder);
}

static void test_related_and_rerank(void **state)
{
    fixture *f = *state;
    pz_arena a;
    pz_arena_init(&a);
    Personalization__V1__RelatedItemsRequest *rel = (Personalization__V1__RelatedItemsRequest *)pz_arena_new_message(
        &a, &personalization__v1__related_items_request__descriptor);
    rel->namespace_ = "shop";
    rel->recommender = "similar";
    rel->item_id = "pan";
    rel->num_results = 2;
    pz_request req;
    run(f, &req, &a, PZ_RPC_RELATED_ITEMS, &rel->base);
    assert_int_equal(req.status, PZ_OK);
    assert_string_equal(f->recommender.last->query->item_id, "pan");
    assert_null(f->recommender.last->query->user_id);
    Personalization__V1__RecommendationResponse *r = (Personalization__V1__RecommendationResponse *)req.response;
    assert_int_equal(r->n_item_list, 2);
    /* no user: the noUserSpecified policy, whose directives already hold max-age (defect #13 fix) */
    assert_string_equal(req.hints.cache_control, "public,max-age=60");

    Personalization__V1__RerankItemsRequest *rr = (Personalization__V1__RerankItemsRequest *)pz_arena_new_message(
        &a, &personalization__v1__rerank_items_request__descriptor);
    char *ids[] = {"never-seen", "lid", "knife", "lid"};
    rr->namespace_ = "shop";
    rr->recommender = "rank";
    rr->user_id = "u1";
    rr->item_ids = ids;
    rr->n_item_ids = 4;
    run(f, &req, &a, PZ_RPC_RERANK_ITEMS, &rr->base);
    assert_int_equal(req.status, PZ_OK);
    assert_int_equal(f->recommender.last->query->num_results, 4); /* a rerank answers every id */
    Personalization__V1__RerankResponse *rk = (Personalization__V1__RerankResponse *)req.response;
    assert_int_equal(rk->n_personalized_ranking, 4); /* never truncated, duplicates kept */
    assert_string_equal(rk->personalized_ranking[3]->item_id, "never-seen");
    assert_false(rk->personalized_ranking[3]->has_score);
    pz_arena_destroy(&a);
}

static void test_put_events_reach_the_sink_with_minted_ids(void **state)
{
    fixture *f = *state;
    pz_arena a;
    pz_arena_init(&a);
    pz_request req;
    Personalization__V1__PutEventsRequest *m = events_req(&a, "tracked", "u9", 2);
    m->event_list[1]->event_id = "kept";
    run(f, &req, &a, PZ_RPC_PUT_EVENTS, &m->base);
    assert_int_equal(req.status, PZ_OK);
    assert_int_equal(f->events.submissions, 1);
    assert_int_equal(f->events.events, 2);
    assert_string_equal(f->events.last_ns, "tracked");
    Personalization__V1__PutEventsResponse *r = (Personalization__V1__PutEventsResponse *)req.response;
    assert_int_equal(r->n_event_ids, 2);
    assert_int_equal(strlen(r->event_ids[0]), 36); /* minted */
    assert_string_equal(r->event_ids[1], "kept");
    assert_string_equal(req.hints.cache_control, "no-store");
    /* the sink's refusal is the answer */
    pz_error full = {PZ_UNAVAILABLE, PZ_ERRTYPE_UNHANDLED, "EventStoreUnavailable", "the outbox is full"};
    f->events.fail_with = &full;
    expect_error(f, PZ_RPC_PUT_EVENTS, &events_req(&a, "shop", "u9", 1)->base, &a, PZ_UNAVAILABLE,
                 "EventStoreUnavailable", "full");
    pz_arena_destroy(&a);
}

static void test_put_events_errors_store_nothing(void **state)
{
    fixture *f = *state;
    pz_arena a;
    pz_arena_init(&a);
    Personalization__V1__PutEventsRequest *m = events_req(&a, "shop", "u9", 11);
    expect_error(f, PZ_RPC_PUT_EVENTS, &m->base, &a, PZ_INVALID_ARGUMENT, "ValidationError", "at most 10");
    m = events_req(&a, "shop", "u9", 2);
    m->event_list[1]->event_type = NULL;
    expect_error(f, PZ_RPC_PUT_EVENTS, &m->base, &a, PZ_INVALID_ARGUMENT, "ValidationError", "eventList[1].eventType");
    assert_null(m->event_list[0]->event_id); /* rejected whole: no defaults were filled */
    m = events_req(&a, "shop", "u9", 1);
    m->event_list[0]->properties = "[1,2]";
    expect_error(f, PZ_RPC_PUT_EVENTS, &m->base, &a, PZ_INVALID_ARGUMENT, "ValidationError", "properties");
    m = events_req(&a, "nope", "u9", 1);
    expect_error(f, PZ_RPC_PUT_EVENTS, &m->base, &a, PZ_NOT_FOUND, "NamespaceNotFound", "nope");
    m = events_req(&a, "silent", "u9", 1);
    expect_error(f, PZ_RPC_PUT_EVENTS, &m->base, &a, PZ_NOT_FOUND, "NamespaceEventTargetsNotFound", "silent");
    assert_int_equal(f->events.submissions, 0);
    pz_arena_destroy(&a);
}

static void test_events_validate_defaults_and_tracker_rules(void **state)
{
    fixture *f = *state;
    pz_config *cfg = pz_service_config(f->svc);
    const pz_namespace *tracked = pz_config_namespace(cfg, "tracked");
    pz_arena a;
    pz_arena_init(&a);
    Personalization__V1__PutEventsRequest *m = events_req(&a, "tracked", "u", 2);
    m->session_id = NULL;
    pz_error err;
    pz_conversion *conv = NULL;
    assert_int_equal(pz_events_validate(m, tracked, 1700000000123LL, &a, &conv, &err), PZ_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "sessionId"));
    m->session_id = "s";
    m->event_list[1]->event_id = "kept";
    assert_int_equal(pz_events_validate(m, tracked, 1700000000123LL, &a, &conv, &err), PZ_OK);
    assert_true(m->event_list[0]->has_sent_at);
    assert_true(m->event_list[0]->sent_at == 1700000000.0); /* whole seconds */
    assert_int_equal(strlen(m->event_list[0]->event_id), 36);
    assert_string_equal(m->event_list[1]->event_id, "kept");
    Personalization__V1__PutEventsRequest *empty = events_req(&a, "tracked", "u", 0);
    assert_int_equal(pz_events_validate(empty, tracked, 0, &a, &conv, &err), PZ_INVALID_ARGUMENT);
    pz_arena_destroy(&a);
    pz_config_unref(cfg);
}

/* Handles a REST events call: the body as the front hands it (raw, and the transcoding error when
 * it did not fit the message). */
static void run_events_body(fixture *f, pz_request *req, pz_arena *a, const char *ns, const char *body,
                            const pz_error *body_error)
{
    static int calls;
    Personalization__V1__PutEventsRequest *m = (Personalization__V1__PutEventsRequest *)pz_arena_new_message(
        a, &personalization__v1__put_events_request__descriptor);
    m->namespace_ = (char *)ns;
    pz_request_init(req, a);
    req->rpc = PZ_RPC_PUT_EVENTS;
    req->message = &m->base;
    req->body = body;
    req->body_len = strlen(body);
    req->body_error = body_error;
    req->received_ms = 1700000000123LL;
    req->on_done = on_done;
    req->front_data = &calls;
    calls = 0;
    pz_service_handle(f->svc, req);
    assert_int_equal(calls, 1);
}

/* A namespace whose targets only forward (streams, files) takes any JSON object as it was sent,
 * with the defaults filled; one with a tracker or the builtin target keeps the PutEvents rules
 * (issue 12). */
static void test_forward_only_namespaces_take_any_json_object(void **state)
{
    fixture *f = *state;
    pz_arena a;
    pz_arena_init(&a);
    pz_request req;
    pz_error shape = {PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, "ValidationError", "unknown field 'page' at $"};
    const char *body = "{\"page\":\"home\",\"userId\":\"u7\",\"eventList\":[{\"eventType\":\"view\","
                       "\"properties\":{\"a\":0.1}},{\"eventId\":\"e2\",\"sentAt\":5},3,{},{},{},{},{},{},{},{}],"
                       "\"n\":1.0,\"big\":12345678901234}";
    pz_config *cfg = pz_service_config(f->svc);
    assert_true(pz_events_forward_only(pz_config_namespace(cfg, "streams")));
    assert_false(pz_events_forward_only(pz_config_namespace(cfg, "tracked")));
    assert_false(pz_events_forward_only(pz_config_namespace(cfg, "shop")));   /* builtin */
    assert_false(pz_events_forward_only(pz_config_namespace(cfg, "silent"))); /* no targets */
    pz_config_unref(cfg);
    run_events_body(f, &req, &a, "streams", body, &shape);
    assert_int_equal(req.status, PZ_OK);
    assert_true(f->events.last_raw);
    assert_int_equal(f->events.last_raw_events, 11); /* more than 10 */
    assert_string_equal(f->events.last_user, "u7");
    const char *j = f->events.last_raw_json;
    /* key order and unknown keys kept, numbers as written, defaults filled only where absent */
    assert_int_equal(strncmp(j,
                             "{\"page\":\"home\",\"userId\":\"u7\",\"eventList\":[{\"eventType\":\"view\","
                             "\"properties\":{\"a\":0.1},\"eventId\":\"",
                             strlen("{\"page\":\"home\",\"userId\":\"u7\",\"eventList\":[{\"eventType\":\"view\","
                                    "\"properties\":{\"a\":0.1},\"eventId\":\"")),
                     0);
    assert_non_null(strstr(j, "\",\"sentAt\":1700000000},{\"eventId\":\"e2\",\"sentAt\":5},3,{\"eventId\":"));
    assert_non_null(strstr(j, "],\"n\":1.0,\"big\":12345678901234}"));

    /* not an object, not JSON: 400 in upstream's shape, nothing stored */
    int before = f->events.submissions;
    run_events_body(f, &req, &a, "streams", "[1,2]", &shape);
    assert_int_equal(req.status, PZ_INVALID_ARGUMENT);
    assert_string_equal(req.error.code, "ValidationError");
    assert_non_null(strstr(req.error.message, "JSON object"));
    run_events_body(f, &req, &a, "streams", "{\"a\":", &shape);
    assert_int_equal(req.status, PZ_INVALID_ARGUMENT);
    assert_string_equal(req.error.code, "InvalidJSONRequestPayload");
    assert_non_null(strstr(req.error.message, "line 1"));
    char deep[200] = "";
    for (int i = 0; i < PZ_EVENTS_MAX_DEPTH; i++)
        strcat(deep, "[");
    char doc[300];
    snprintf(doc, sizeof doc, "{\"x\":%s%.*s}", deep, PZ_EVENTS_MAX_DEPTH,
             "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
    run_events_body(f, &req, &a, "streams", doc, &shape); /* 65 levels */
    assert_int_equal(req.status, PZ_INVALID_ARGUMENT);
    assert_non_null(strstr(req.error.message, "deeper than 64"));
    doc[strlen(doc) - 2] = '}';
    doc[strlen(doc) - 1] = '\0';
    memmove(doc + 6, doc + 7, strlen(doc + 7) + 1); /* one level less: 64 */
    run_events_body(f, &req, &a, "streams", doc, &shape);
    assert_int_equal(req.status, PZ_OK);
    assert_int_equal(f->events.submissions, before + 1);

    /* conversions in a forwarded body follow the experiments' rules, as in any other call */
    run_events_body(f, &req, &a, "streams", "{\"userId\":\"u\",\"experimentConversions\":[{\"recommender\":\"ab\"}]}",
                    NULL);
    assert_int_equal(req.status, PZ_INVALID_ARGUMENT);
    assert_string_equal(req.error.code, "InvalidRecommender"); /* 'ab' is shop's, not streams' */
    run_events_body(f, &req, &a, "streams", "{\"userId\":\"u\",\"experimentConversions\":{}}", NULL);
    assert_string_equal(req.error.code, "InvalidExperimentConversions");
    run_events_body(f, &req, &a, "streams", "{\"userId\":\"u\",\"experimentConversions\":[{\"recommender\":7}]}", NULL);
    assert_string_equal(req.error.code, "InvalidExperimentConversions");
    run_events_body(f, &req, &a, "streams", "{\"experimentConversions\":[{\"recommender\":\"x\"}]}", NULL);
    assert_string_equal(req.error.code, "UserIdRequired");
    assert_int_equal(f->events.submissions, before + 1);

    /* a tracker's namespace: the transcoding error is the answer, as before */
    run_events_body(f, &req, &a, "tracked", body, &shape);
    assert_int_equal(req.status, PZ_INVALID_ARGUMENT);
    assert_string_equal(req.error.message, "unknown field 'page' at $");
    assert_int_equal(f->events.submissions, before + 1);
    /* gRPC (no raw body) to a forward-only namespace: the message, without the PutEvents limits */
    Personalization__V1__PutEventsRequest *m = events_req(&a, "streams", "u8", 12);
    m->session_id = NULL;
    m->event_list[0]->event_type = NULL;
    m->event_list[1]->properties = "not json";
    run(f, &req, &a, PZ_RPC_PUT_EVENTS, &m->base);
    assert_int_equal(req.status, PZ_OK);
    assert_false(f->events.last_raw);
    assert_int_equal(strlen(m->event_list[0]->event_id), 36); /* defaults filled */
    pz_arena_destroy(&a);
}

static void test_shutdown_drains_the_ports_and_refuses_new_work(void **state)
{
    fixture *f = *state;
    pz_service_shutdown(f->svc);
    assert_int_equal(f->recommender.drains, 1);
    assert_int_equal(f->events.drains, 1);
    pz_arena a;
    pz_arena_init(&a);
    expect_error(f, PZ_RPC_RECOMMEND_ITEMS, &recommend_req(&a, "for-you", "u1", 5)->base, &a, PZ_UNAVAILABLE,
                 "ShuttingDown", "shutting down");
    expect_error(f, PZ_RPC_PUT_EVENTS, &events_req(&a, "shop", "u1", 1)->base, &a, PZ_UNAVAILABLE, "ShuttingDown",
                 "shutting down");
    assert_int_equal(f->recommender.calls, 0);
    pz_arena_destroy(&a);
}

static void test_expired_deadline(void **state)
{
    fixture *f = *state;
    pz_arena a;
    pz_arena_init(&a);
    pz_request req;
    int calls = 0;
    pz_request_init(&req, &a);
    req.rpc = PZ_RPC_RECOMMEND_ITEMS;
    req.message = &recommend_req(&a, "for-you", "u1", 5)->base;
    req.deadline_ms = pz_now_ms() - 1;
    req.on_done = on_done;
    req.front_data = &calls;
    pz_service_handle(f->svc, &req);
    assert_int_equal(calls, 1);
    assert_int_equal(req.status, PZ_DEADLINE_EXCEEDED);
    assert_int_equal(f->recommender.calls, 0);
    pz_arena_destroy(&a);
}

/* Issue #14 in the sequencer: the experiment decides the variation (in the hints and the body),
 * the cache keys on it, and every answer to the user (the cache hit included) is one exposure. */
static void test_experiments_decide_and_every_answer_is_an_exposure(void **state)
{
    fixture *f = *state;
    pz_cache *cache = pz_cache_create(&(pz_cache_options){.capacity_bytes = 1 << 20, .purge_settle_ms = -1});
    pz_service_options o = {.config = f->holder,
                            .recommender = fake_recommender_port(&f->recommender),
                            .events = fake_event_sink_port(&f->events),
                            .cache = cache,
                            .render_json = pz_message_to_json};
    pz_service *plain = f->svc;
    f->svc = pz_service_create(&o);
    pz_config *cfg = pz_service_config(f->svc);
    const pz_recommender *ab = pz_config_recommender(pz_config_namespace(cfg, "shop"), PZ_ACTION_RECOMMEND_ITEMS, "ab");
    pz_arena a;
    pz_arena_init(&a);
    pz_assignment as;
    pz_error err;
    assert_int_equal(pz_experiment_assign(ab, "u1", NULL, &as, &a, &err), PZ_OK);
    char header[64], exposure[64];
    snprintf(header, sizeof header, "feature=f1; variation=%s", as.variation->key);
    snprintf(exposure, sizeof exposure, "f1/%s/u1", as.variation->key);

    pz_request req;
    run(f, &req, &a, PZ_RPC_RECOMMEND_ITEMS, &recommend_req(&a, "ab", "u1", 2)->base);
    assert_int_equal(req.status, PZ_OK);
    assert_string_equal(req.hints.cache, "miss");
    assert_string_equal(req.hints.variation, as.variation->key);
    assert_string_equal(req.hints.experiment, header);
    assert_string_equal(f->recommender.last->variation->key, as.variation->key);
    assert_non_null(req.prepared);
    assert_non_null(strstr(req.prepared->json, "\"matchedExperiment\":{\"type\":\"local\",\"feature\":\"f1\""));
    assert_int_equal(f->events.exposures, 1);
    assert_string_equal(f->events.last_exposure, exposure);

    pz_request hit;
    run(f, &hit, &a, PZ_RPC_RECOMMEND_ITEMS, &recommend_req(&a, "ab", "u1", 2)->base);
    assert_string_equal(hit.hints.cache, "hit");
    assert_string_equal(hit.hints.experiment, header);
    assert_ptr_equal(hit.prepared, req.prepared); /* the same arm's entry */
    assert_int_equal(f->events.exposures, 2);

    /* no experiment: no exposure, no hint */
    pz_request none;
    run(f, &none, &a, PZ_RPC_RECOMMEND_ITEMS, &recommend_req(&a, "for-you", "u1", 2)->base);
    assert_null(none.hints.experiment);
    assert_int_equal(f->events.exposures, 2);
    /* an unknown feature when the experiment decides: 400, nothing exposed */
    Personalization__V1__RecommendItemsRequest *m = recommend_req(&a, "ab", "u1", 2);
    m->feature = "nope";
    expect_error(f, PZ_RPC_RECOMMEND_ITEMS, &m->base, &a, PZ_INVALID_ARGUMENT, "InvalidExperimentFeature", "nope");
    assert_int_equal(f->events.exposures, 2);
    /* f1 has no metric: a conversion cannot count (spec §7.3) and nothing is submitted */
    Personalization__V1__PutEventsRequest *ev = events_req(&a, "shop", "u1", 0);
    Personalization__V1__ExperimentConversion *c = (Personalization__V1__ExperimentConversion *)pz_arena_new_message(
        &a, &personalization__v1__experiment_conversion__descriptor);
    c->recommender = "ab";
    ev->experiment_conversions = pz_arena_calloc(&a, 1, sizeof *ev->experiment_conversions);
    ev->experiment_conversions[0] = c;
    ev->n_experiment_conversions = 1;
    int before = f->events.submissions;
    expect_error(f, PZ_RPC_PUT_EVENTS, &ev->base, &a, PZ_INVALID_ARGUMENT, "InvalidExperimentMetric", "metric");
    assert_int_equal(f->events.submissions, before);

    pz_arena_destroy(&a);
    pz_config_unref(cfg);
    pz_service_shutdown(f->svc);
    pz_service_destroy(f->svc);
    pz_cache_destroy(cache);
    f->svc = plain;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inference_asks_the_recommender_port_and_builds_the_response, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_items_are_truncated_to_num_results_and_not_decorated_on_request, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_fallback_that_served_is_in_the_hints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolution_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parameters_upstream_treats_as_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uncacheable_requests_get_no_etag, setup, teardown),
        cmocka_unit_test(test_empty_version_sends_no_header),
        cmocka_unit_test_setup_teardown(test_related_and_rerank, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_events_reach_the_sink_with_minted_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_events_errors_store_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_validate_defaults_and_tracker_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_only_namespaces_take_any_json_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_drains_the_ports_and_refuses_new_work, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_experiments_decide_and_every_answer_is_an_exposure, setup, teardown),
    };
    return cmocka_run_group_tests_name("core_service", tests, NULL, NULL);
}
