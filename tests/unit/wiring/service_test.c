/* The service wired to the real ports, as main.c wires them: the recommenders (builtin store in
 * $TEST_TMPDIR, remote types without credentials) and the durable event pipeline feeding the
 * builtin recommender through the learner port. Resolution, builtin dispatch, hints, events;
 * driven with no front at all (DESIGN property 1). What the core decides alone (validation limits,
 * PutEvents rules, shutdown, deadlines) is tested with fake ports in tests/unit/core/service_test.c. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/event_validation.h"
#include "server/core/service.h"
#include "server/events/pipeline.h"
#include "server/recommenders/builtin.h"
#include "server/recommenders/recommenders.h"

static const char CONFIG[] =
    "{\"version\":\"t-1\",\"cacheControl\":{\"userSpecified\":{\"maxAge\":10,\"directives\":\"private\"},"
    "\"syntheticUserSpecified\":{\"maxAge\":300,\"directives\":\"public\"},"
    "\"noUserSpecified\":{\"maxAge\":0,\"directives\":\"public,max-age=60\"}},"
    "\"namespaces\":{\"shop\":{\"recommenders\":{"
    "\"recommend-items\":{\"for-you\":{\"variations\":{\"p\":{\"type\":\"builtin\"}}},"
    "\"top\":{\"variations\":{\"pop\":{\"type\":\"builtin\",\"strategy\":\"popular\"}}},"
    "\"remote\":{\"variations\":{\"c\":{\"type\":\"personalize-campaign\","
    "\"arn\":\"arn:aws:personalize:us-east-1:111122223333:campaign/x\"}}},"
    "\"ab\":{\"experiments\":{\"f1\":{\"method\":\"local\",\"weights\":{\"a\":1,\"b\":1}}},"
    "\"variations\":{\"a\":{\"type\":\"builtin\"},\"b\":{\"type\":\"builtin\",\"strategy\":\"popular\"}}}},"
    "\"related-items\":{\"similar\":{\"variations\":{\"co\":{\"type\":\"builtin\"}}}},"
    "\"rerank-items\":{\"rank\":{\"variations\":{\"aff\":{\"type\":\"builtin\"}}}}},"
    "\"eventTargets\":[{\"type\":\"builtin\"}]},"
    "\"tracked\":{\"eventTargets\":[{\"type\":\"personalize-event-tracker\",\"trackingId\":\"abc-1\"}]},"
    "\"silent\":{\"recommenders\":{\"recommend-items\":{\"r\":{\"variations\":{\"v\":{\"type\":\"builtin\"}}}}}}}}";

typedef struct fixture {
    pz_builtin *builtin;
    pz_recommenders *recommenders;
    pz_config_holder *holder;
    pz_event_pipeline *events;
    pz_service *svc;
    char dir[512];
} fixture;

/* Completion capture: the core may complete on another thread (events). */
typedef struct result {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int calls;
} result;

static void on_done(pz_request *req)
{
    result *r = req->front_data;
    pthread_mutex_lock(&r->lock);
    r->calls++;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static void run(fixture *f, pz_request *req, pz_arena *arena, pz_rpc rpc, ProtobufCMessage *msg)
{
    static result r = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    pz_request_init(req, arena);
    req->rpc = rpc;
    req->message = msg;
    req->on_done = on_done;
    req->front_data = &r;
    pthread_mutex_lock(&r.lock);
    r.calls = 0;
    pthread_mutex_unlock(&r.lock);
    pz_service_handle(f->svc, req);
    pthread_mutex_lock(&r.lock);
    while (r.calls == 0)
        pthread_cond_wait(&r.cond, &r.lock);
    assert_int_equal(r.calls, 1);
    pthread_mutex_unlock(&r.lock);
}

static int setup(void **state)
{
    /* No AWS credentials from anywhere (and no instance-metadata probing) for the remote variation. */
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
    static int n;
    snprintf(f->dir, sizeof f->dir, "%s/service_test_%d_%d", tmp, (int)getpid(), n++);
    char err[256];
    assert_int_equal(pz_builtin_open(f->dir, NULL, &f->builtin, err, sizeof err), 0);
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *cfg = pz_config_parse(CONFIG, sizeof CONFIG - 1, &p);
    for (size_t i = 0; i < p.n; i++)
        fprintf(stderr, "%s: %s\n", p.items[i].path, p.items[i].message);
    assert_non_null(cfg);
    pz_config_problems_free(&p);
    f->holder = pz_config_holder_create(cfg, NULL);
    char outbox[600];
    snprintf(outbox, sizeof outbox, "%s/outbox", f->dir);
    pz_event_pipeline_options eo = {
        .outbox_dir = outbox, .learner = pz_builtin_learner(f->builtin), .no_dispatch = true};
    assert_int_equal(pz_event_pipeline_open(&eo, &f->events, err, sizeof err), 0);
    f->recommenders = pz_recommenders_create(&(pz_recommenders_options){.builtin = f->builtin});
    f->svc = pz_service_create(&(pz_service_options){.config = f->holder,
                                                     .recommender = pz_recommenders_port(f->recommenders),
                                                     .events = pz_event_pipeline_sink(f->events)});
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pz_service_shutdown(f->svc);
    pz_service_destroy(f->svc);
    pz_recommenders_destroy(f->recommenders);
    pz_event_pipeline_destroy(f->events);
    pz_builtin_close(f->builtin);
    pz_config_holder_destroy(f->holder);
    free(f);
    return 0;
}

static Personalization__V1__Event *event(pz_arena *a, const char *type, const char *item)
{
    Personalization__V1__Event *e =
        (Personalization__V1__Event *)pz_arena_new_message(a, &personalization__v1__event__descriptor);
    e->event_type = (char *)type;
    e->item_id = (char *)item;
    return e;
}

static Personalization__V1__PutEventsRequest *events_req(pz_arena *a, const char *ns, const char *user, size_t n,
                                                         const char *const *items)
{
    Personalization__V1__PutEventsRequest *m = (Personalization__V1__PutEventsRequest *)pz_arena_new_message(
        a, &personalization__v1__put_events_request__descriptor);
    m->namespace_ = (char *)ns;
    m->user_id = (char *)user;
    m->session_id = "s1";
    m->n_event_list = n;
    m->event_list = pz_arena_calloc(a, n ? n : 1, sizeof *m->event_list);
    for (size_t i = 0; i < n; i++)
        m->event_list[i] = event(a, "click", items[i % 3]);
    return m;
}

static void feed(fixture *f, const char *user, const char *a, const char *b, const char *c)
{
    pz_arena arena;
    pz_arena_init(&arena);
    const char *items[] = {a, b, c};
    pz_request req;
    run(f, &req, &arena, PZ_RPC_PUT_EVENTS, &events_req(&arena, "shop", user, 3, items)->base);
    assert_int_equal(req.status, PZ_OK);
    Personalization__V1__PutEventsResponse *resp = (Personalization__V1__PutEventsResponse *)req.response;
    assert_int_equal(resp->n_event_ids, 3);
    assert_int_equal(strlen(resp->event_ids[0]), 36); /* minted UUIDs */
    assert_string_equal(req.hints.cache_control, "no-store");
    pz_arena_destroy(&arena);
}

static Personalization__V1__RecommendItemsRequest *recommend_req(pz_arena *a, const char *rec, const char *user, int n)
{
    Personalization__V1__RecommendItemsRequest *m = (Personalization__V1__RecommendItemsRequest *)pz_arena_new_message(
        a, &personalization__v1__recommend_items_request__descriptor);
    m->namespace_ = "shop";
    m->recommender = (char *)rec;
    m->user_id = (char *)user;
    m->num_results = n;
    return m;
}

static void test_events_teach_the_builtin_recommender(void **state)
{
    fixture *f = *state;
    feed(f, "u1", "pan", "pot", "knife");
    feed(f, "u2", "pan", "pot", "lid");
    feed(f, "u3", "tent", "stove", "pan");
    pz_arena a;
    pz_arena_init(&a);
    pz_request req;
    run(f, &req, &a, PZ_RPC_RECOMMEND_ITEMS, &recommend_req(&a, "for-you", "u1", 5)->base);
    assert_int_equal(req.status, PZ_OK);
    Personalization__V1__RecommendationResponse *r = (Personalization__V1__RecommendationResponse *)req.response;
    assert_true(r->n_item_list > 0 && r->n_item_list <= 5);
    assert_string_equal(r->item_list[0]->item_id, "lid"); /* co-occurs with u1's pan and pot; u1 saw the rest */
    for (size_t i = 0; i < r->n_item_list; i++) {
        assert_true(r->item_list[i]->has_score);
        assert_string_not_equal(r->item_list[i]->item_id, "pan");
    }
    assert_non_null(r->recommendation_id);
    assert_int_equal(strncmp(r->recommendation_id, "RID-", 4), 0);
    assert_string_equal(req.hints.config_version, "t-1");
    assert_string_equal(req.hints.variation, "p");
    assert_string_equal(req.hints.cache_control, "private,max-age=10");
    pz_arena_destroy(&a);
}

static void test_popular_strategy_and_num_results(void **state)
{
    fixture *f = *state;
    feed(f, "u1", "pan", "pan", "pot");
    pz_arena a;
    pz_arena_init(&a);
    pz_request req;
    run(f, &req, &a, PZ_RPC_RECOMMEND_ITEMS, &recommend_req(&a, "top", "anyone", 1)->base);
    assert_int_equal(req.status, PZ_OK);
    Personalization__V1__RecommendationResponse *r = (Personalization__V1__RecommendationResponse *)req.response;
    assert_int_equal(r->n_item_list, 1);
    assert_string_equal(r->item_list[0]->item_id, "pan");
    assert_string_equal(req.hints.variation, "pop");
    pz_arena_destroy(&a);
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
    m = recommend_req(&a, "remote", "u1", 5);
    /* remote types are served (tests/integration/remote); with no AWS credentials at all (setup) the
     * call fails before the network, naming the variation */
    expect_error(f, PZ_RPC_RECOMMEND_ITEMS, &m->base, &a, PZ_INTERNAL, "CredentialsNotFound",
                 "personalize-campaign variation 'c' of recommender 'remote'");
    m = recommend_req(&a, "ab", "u1", 5);
    m->feature = "unknown-feature";
    expect_error(f, PZ_RPC_RECOMMEND_ITEMS, &m->base, &a, PZ_INVALID_ARGUMENT, "InvalidExperimentFeature",
                 "unknown-feature");
    pz_arena_destroy(&a);
}

static void test_related_and_rerank(void **state)
{
    fixture *f = *state;
    feed(f, "u1", "pan", "pot", "knife");
    feed(f, "u2", "pan", "pot", "lid");
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
    Personalization__V1__RecommendationResponse *r = (Personalization__V1__RecommendationResponse *)req.response;
    assert_int_equal(r->n_item_list, 2);
    assert_string_equal(r->item_list[0]->item_id, "pot");
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
    Personalization__V1__RerankResponse *rk = (Personalization__V1__RerankResponse *)req.response;
    assert_int_equal(rk->n_personalized_ranking, 4); /* never truncated, duplicates kept */
    assert_string_equal(rk->personalized_ranking[3]->item_id, "never-seen");
    assert_false(rk->personalized_ranking[3]->has_score);
    pz_arena_destroy(&a);
}

static void test_put_events_errors_store_nothing(void **state)
{
    fixture *f = *state;
    pz_arena a;
    pz_arena_init(&a);
    const char *items[] = {"pan", "pot", "lid"};
    Personalization__V1__PutEventsRequest *m = events_req(&a, "shop", "u9", 11, items);
    expect_error(f, PZ_RPC_PUT_EVENTS, &m->base, &a, PZ_INVALID_ARGUMENT, "ValidationError", "at most 10");
    m = events_req(&a, "shop", "u9", 2, items);
    m->event_list[1]->event_type = NULL;
    expect_error(f, PZ_RPC_PUT_EVENTS, &m->base, &a, PZ_INVALID_ARGUMENT, "ValidationError", "eventList[1].eventType");
    assert_null(m->event_list[0]->event_id); /* rejected whole: no defaults were filled */
    m = events_req(&a, "shop", "u9", 1, items);
    m->event_list[0]->properties = "[1,2]";
    expect_error(f, PZ_RPC_PUT_EVENTS, &m->base, &a, PZ_INVALID_ARGUMENT, "ValidationError", "properties");
    m = events_req(&a, "nope", "u9", 1, items);
    expect_error(f, PZ_RPC_PUT_EVENTS, &m->base, &a, PZ_NOT_FOUND, "NamespaceNotFound", "nope");
    m = events_req(&a, "silent", "u9", 1, items);
    expect_error(f, PZ_RPC_PUT_EVENTS, &m->base, &a, PZ_NOT_FOUND, "NamespaceEventTargetsNotFound", "silent");
    assert_false(pz_builtin_has_data(f->builtin, "shop"));
    pz_arena_destroy(&a);
}

/* Remote event targets are served through the outbox: the call is accepted once stored. */
static void test_put_events_to_remote_targets_is_accepted(void **state)
{
    fixture *f = *state;
    pz_arena a;
    pz_arena_init(&a);
    const char *items[] = {"pan", "pot"};
    Personalization__V1__PutEventsRequest *m = events_req(&a, "tracked", "u9", 2, items);
    m->session_id = "s-9";
    pz_request req;
    run(f, &req, &a, PZ_RPC_PUT_EVENTS, &m->base);
    assert_int_equal(req.status, PZ_OK);
    Personalization__V1__PutEventsResponse *r = (Personalization__V1__PutEventsResponse *)req.response;
    assert_int_equal(r->n_event_ids, 2);
    assert_int_equal(strlen(r->event_ids[0]), 36);            /* minted */
    assert_false(pz_builtin_has_data(f->builtin, "tracked")); /* not a builtin target */
    pz_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_events_teach_the_builtin_recommender, setup, teardown),
        cmocka_unit_test_setup_teardown(test_popular_strategy_and_num_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolution_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_related_and_rerank, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_events_errors_store_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_events_to_remote_targets_is_accepted, setup, teardown),
    };
    return cmocka_run_group_tests_name("core_service", tests, NULL, NULL);
}
