/* Tests for server/core/response_cache.c and the cache stage of the inference sequencer, driven
 * through the service (real config parser and transcoder, fake recommender and event sink that
 * answer inline: fake_ports.h) with an injected clock. Single-flight, stale-if-error and abandoned
 * calls are in response_cache_flight_test.c. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "gateway/transcode.h"
#include "personalization/v1/personalization.pb-c.h"
#include "server/core/response_cache.h"
#include "server/core/service.h"
#include "tests/unit/core/fake_ports.h"

#define T0 1700000000000LL
#define SEC 1000

static const char CONFIG_FMT[] =
    "{\"version\":\"%s\",\"cacheControl\":{\"userSpecified\":{\"maxAge\":10,\"directives\":\"private\"},"
    "\"syntheticUserSpecified\":{\"maxAge\":300,\"directives\":\"public\",\"staleWhileRevalidate\":30,"
    "\"staleIfError\":600},"
    "\"noUserSpecified\":{\"maxAge\":0,\"directives\":\"public\"}},"
    "\"namespaces\":{\"shop\":{\"recommenders\":{"
    "\"recommend-items\":{\"for-you\":{\"variations\":{\"p\":{\"type\":\"builtin\"}}}},"
    "\"related-items\":{\"similar\":{\"variations\":{\"co\":{\"type\":\"builtin\"}}}},"
    "\"rerank-items\":{\"rank\":{\"variations\":{\"aff\":{\"type\":\"builtin\"}}}}},"
    "\"eventTargets\":[{\"type\":\"builtin\"}]}}}";

static int64_t test_now = T0;

static int64_t clock_now(void)
{
    return test_now;
}

typedef struct fixture {
    fake_recommender recommender;
    fake_event_sink events;
    pz_config_holder *holder;
    pz_cache *cache;
    pz_service *svc;
    char dir[512];
    char config_path[600];
} fixture;

static void write_config(const char *path, const char *version)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, CONFIG_FMT, version);
    fclose(f);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
    static int n;
    snprintf(f->dir, sizeof f->dir, "%s/response_cache_test_%d_%d", tmp, (int)getpid(), n++);
    assert_int_equal(mkdir(f->dir, 0755), 0);
    snprintf(f->config_path, sizeof f->config_path, "%s/config.json", f->dir);
    write_config(f->config_path, "rc-1");
    pz_config *cfg = pz_config_load_file(f->config_path, NULL);
    assert_non_null(cfg);
    f->holder = pz_config_holder_create(cfg, f->config_path);
    f->cache = pz_cache_create(&(pz_cache_options){.capacity_bytes = 8 << 20, .purge_settle_ms = 1000});
    f->svc = pz_service_create(&(pz_service_options){.config = f->holder,
                                                     .recommender = fake_recommender_port(&f->recommender),
                                                     .events = fake_event_sink_port(&f->events),
                                                     .cache = f->cache,
                                                     .render_json = pz_message_to_json,
                                                     .now_ms = clock_now});
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

/* ---- driving the service ---- */

typedef struct done_state {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int calls;
    pthread_t thread;
} done_state;

static void on_done(pz_request *req)
{
    done_state *d = req->front_data;
    pthread_mutex_lock(&d->lock);
    d->calls++;
    d->thread = pthread_self();
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

/* One call through the service; waits for its completion. The caller destroys `call->arena`. */
typedef struct call {
    pz_arena arena;
    pz_request req;
    done_state done;
} call;

static void call_init(call *c, pz_rpc rpc)
{
    memset(c, 0, sizeof *c);
    pz_arena_init(&c->arena);
    pz_request_init(&c->req, &c->arena);
    c->req.rpc = rpc;
    c->req.on_done = on_done;
    c->req.front_data = &c->done;
    pthread_mutex_init(&c->done.lock, NULL);
    pthread_cond_init(&c->done.cond, NULL);
}

static void call_wait(call *c)
{
    pthread_mutex_lock(&c->done.lock);
    while (c->done.calls == 0)
        pthread_cond_wait(&c->done.cond, &c->done.lock);
    assert_int_equal(c->done.calls, 1);
    pthread_mutex_unlock(&c->done.lock);
}

static void call_free(call *c)
{
    pz_arena_destroy(&c->arena);
    pthread_mutex_destroy(&c->done.lock);
    pthread_cond_destroy(&c->done.cond);
}

static Personalization__V1__RecommendItemsRequest *recommend_msg(call *c, const char *user, int n)
{
    Personalization__V1__RecommendItemsRequest *m = (Personalization__V1__RecommendItemsRequest *)pz_arena_new_message(
        &c->arena, &personalization__v1__recommend_items_request__descriptor);
    m->namespace_ = "shop";
    m->recommender = "for-you";
    m->user_id = (char *)user;
    m->num_results = n;
    return m;
}

static void add_map_entry(call *c, Personalization__V1__RecommendItemsRequest *m, bool context, const char *k,
                          const char *v)
{
    /* Both entry types have the pz_string_entry layout; each gets its own descriptor. */
    pz_string_entry *e = pz_arena_calloc(&c->arena, 1, sizeof *e);
    if (context)
        personalization__v1__recommend_items_request__context_entry__init(
            (Personalization__V1__RecommendItemsRequest__ContextEntry *)e);
    else
        personalization__v1__recommend_items_request__filter_values_entry__init(
            (Personalization__V1__RecommendItemsRequest__FilterValuesEntry *)e);
    e->key = (char *)k;
    e->value = (char *)v;
    size_t *n = context ? &m->n_context : &m->n_filter_values;
    void ***list = context ? (void ***)&m->context : (void ***)&m->filter_values;
    void **grown = pz_arena_calloc(&c->arena, *n + 1, sizeof *grown);
    if (*n > 0)
        memcpy(grown, *list, *n * sizeof *grown);
    grown[(*n)++] = e;
    *list = grown;
}

static void recommend(fixture *f, call *c, Personalization__V1__RecommendItemsRequest *m, const char *inm)
{
    c->req.message = &m->base;
    c->req.if_none_match = inm;
    pz_service_handle(f->svc, &c->req);
    call_wait(c);
    assert_int_equal(c->req.status, PZ_OK);
}

/* Calls RecommendItems for user (numResults n) and returns the ETag (static buffer). */
static const char *recommend_etag(fixture *f, const char *user, int n, const char *want_outcome)
{
    static char etag[PZ_ETAG_SIZE];
    call c;
    call_init(&c, PZ_RPC_RECOMMEND_ITEMS);
    recommend(f, &c, recommend_msg(&c, user, n), NULL);
    assert_non_null(c.req.hints.cache);
    assert_string_equal(c.req.hints.cache, want_outcome);
    assert_non_null(c.req.hints.etag);
    snprintf(etag, sizeof etag, "%s", c.req.hints.etag);
    call_free(&c);
    return etag;
}

static void put_event(fixture *f, const char *user, const char *item)
{
    call c;
    call_init(&c, PZ_RPC_PUT_EVENTS);
    Personalization__V1__PutEventsRequest *m = (Personalization__V1__PutEventsRequest *)pz_arena_new_message(
        &c.arena, &personalization__v1__put_events_request__descriptor);
    m->namespace_ = "shop";
    m->user_id = (char *)user;
    m->session_id = "s";
    Personalization__V1__Event *e =
        (Personalization__V1__Event *)pz_arena_new_message(&c.arena, &personalization__v1__event__descriptor);
    e->event_type = "click";
    e->item_id = (char *)item;
    m->n_event_list = 1;
    m->event_list = pz_arena_calloc(&c.arena, 1, sizeof *m->event_list);
    m->event_list[0] = e;
    c.req.message = &m->base;
    pz_service_handle(f->svc, &c.req);
    call_wait(&c);
    assert_int_equal(c.req.status, PZ_OK);
    call_free(&c);
}

static pz_cache_stats stats(fixture *f)
{
    pz_cache_stats s;
    pz_cache_get_stats(f->cache, &s);
    return s;
}

/* ---- through the service ---- */

static void test_miss_then_hit_serves_the_same_prepared_bytes(void **state)
{
    fixture *f = *state;
    put_event(f, "u1", "pan");
    test_now += 2 * SEC; /* past the purge settle window of that event */
    call a, b;
    call_init(&a, PZ_RPC_RECOMMEND_ITEMS);
    recommend(f, &a, recommend_msg(&a, "u1", 5), NULL);
    assert_string_equal(a.req.hints.cache, "miss");
    assert_non_null(a.req.response);
    const pz_prepared_response *pa = a.req.prepared;
    assert_non_null(pa);
    assert_non_null(pa->json);
    assert_string_equal(a.req.hints.etag, pa->etag);
    /* the prepared forms are the response, encoded once */
    assert_int_equal(pa->protobuf_len, protobuf_c_message_get_packed_size(a.req.response));
    pz_buf json;
    pz_buf_init(&json, 1 << 20);
    assert_int_equal(pz_message_to_json(a.req.response, &json), 0);
    assert_int_equal(json.len, pa->json_len);
    assert_memory_equal(json.data, pa->json, json.len);
    pz_buf_free(&json);

    test_now += 9 * SEC;
    call_init(&b, PZ_RPC_RECOMMEND_ITEMS);
    recommend(f, &b, recommend_msg(&b, "u1", 5), NULL);
    assert_string_equal(b.req.hints.cache, "hit");
    assert_null(b.req.response);
    assert_non_null(b.req.prepared);
    assert_string_equal(b.req.hints.etag, a.req.hints.etag);
    assert_int_equal(b.req.prepared->protobuf_len, pa->protobuf_len);
    assert_memory_equal(b.req.prepared->protobuf, pa->protobuf, pa->protobuf_len);
    assert_string_equal(b.req.hints.cache_control, "private,max-age=10");
    assert_string_equal(b.req.hints.config_version, "rc-1");
    assert_string_equal(b.req.hints.variation, "p");
    call_free(&a);
    call_free(&b); /* the arenas' references go with them: ASan checks nothing leaks */

    test_now += SEC; /* max-age 10 s, stale-while-revalidate defaults to max-age: now stale */
    recommend_etag(f, "u1", 5, "stale");
    pz_cache_stats s = stats(f);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.stale_hits, 1);
    assert_int_equal(s.refreshes, 1);
}

static void test_if_none_match(void **state)
{
    fixture *f = *state;
    char etag[PZ_ETAG_SIZE];
    snprintf(etag, sizeof etag, "%s", recommend_etag(f, "u2", 3, "miss"));
    char weak[64], list[96];
    snprintf(weak, sizeof weak, "W/%s", etag);
    snprintf(list, sizeof list, "\"nope\", %s", weak);
    char coded[PZ_ETAG_CODING_SIZE]; /* the tag of the gzip representation of the same content */
    assert_true(pz_etag_with_coding(etag, "gzip", coded));
    const char *matching[] = {etag, weak, list, "*", coded};
    for (size_t i = 0; i < 5; i++) {
        call c;
        call_init(&c, PZ_RPC_RECOMMEND_ITEMS);
        recommend(f, &c, recommend_msg(&c, "u2", 3), matching[i]);
        assert_true(c.req.hints.not_modified);
        assert_string_equal(c.req.hints.etag, etag);
        assert_string_equal(c.req.hints.cache, "hit");
        /* nothing to send but the flag; prepared names the representations (their ETags) */
        assert_non_null(c.req.prepared);
        Personalization__V1__RecommendationResponse *r = (Personalization__V1__RecommendationResponse *)c.req.response;
        assert_non_null(r);
        assert_true(r->has_not_modified && r->not_modified);
        assert_int_equal(r->n_item_list, 0);
        assert_null(r->recommendation_id);
        call_free(&c);
    }
    char other_coding[64];
    snprintf(other_coding, sizeof other_coding, "%.17s-GZ\"", etag); /* not a coding name */
    const char *not_matching[] = {"\"0000000000000000\"", "garbage\"", "1234-1700000000000-10", other_coding};
    for (size_t i = 0; i < 4; i++) {
        call c;
        call_init(&c, PZ_RPC_RECOMMEND_ITEMS);
        recommend(f, &c, recommend_msg(&c, "u2", 3), not_matching[i]);
        assert_false(c.req.hints.not_modified);
        assert_non_null(c.req.prepared);
        call_free(&c);
    }
}

static void test_uncacheable_class_has_no_etag_and_is_never_stored(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 2; i++) { /* related-items without a user: noUserSpecified, maxAge 0 */
        call c;
        call_init(&c, PZ_RPC_RELATED_ITEMS);
        Personalization__V1__RelatedItemsRequest *m = (Personalization__V1__RelatedItemsRequest *)pz_arena_new_message(
            &c.arena, &personalization__v1__related_items_request__descriptor);
        m->namespace_ = "shop";
        m->recommender = "similar";
        m->item_id = "pan";
        c.req.message = &m->base;
        c.req.if_none_match = "*";
        pz_service_handle(f->svc, &c.req);
        call_wait(&c);
        assert_int_equal(c.req.status, PZ_OK);
        assert_null(c.req.hints.etag);
        assert_null(c.req.hints.cache);
        assert_null(c.req.prepared);
        assert_false(c.req.hints.not_modified);
        assert_string_equal(c.req.hints.cache_control, "public");
        assert_non_null(c.req.response);
        call_free(&c);
    }
    pz_cache_stats s = stats(f);
    assert_int_equal(s.misses + s.hits, 0);
}

static void test_key_covers_what_changes_the_response(void **state)
{
    fixture *f = *state;
    recommend_etag(f, "u3", 5, "miss");
    recommend_etag(f, "u3", 5, "hit");
    recommend_etag(f, "u3", 6, "miss");    /* numResults */
    recommend_etag(f, "other", 5, "miss"); /* never another user's entry */

    call c;
    call_init(&c, PZ_RPC_RECOMMEND_ITEMS);
    Personalization__V1__RecommendItemsRequest *m = recommend_msg(&c, "u3", 5);
    add_map_entry(&c, m, false, "A", "\"1\"");
    add_map_entry(&c, m, false, "B", "\"2\"");
    recommend(f, &c, m, NULL);
    assert_string_equal(c.req.hints.cache, "miss"); /* filterValues */
    call_free(&c);
    call_init(&c, PZ_RPC_RECOMMEND_ITEMS);
    m = recommend_msg(&c, "u3", 5);
    add_map_entry(&c, m, false, "B", "\"2\"");
    add_map_entry(&c, m, false, "A", "\"1\"");
    recommend(f, &c, m, NULL);
    assert_string_equal(c.req.hints.cache, "hit"); /* the same map in another order */
    call_free(&c);
    call_init(&c, PZ_RPC_RECOMMEND_ITEMS);
    m = recommend_msg(&c, "u3", 5);
    add_map_entry(&c, m, true, "A", "\"1\"");
    add_map_entry(&c, m, true, "B", "\"2\"");
    recommend(f, &c, m, NULL);
    assert_string_equal(c.req.hints.cache, "miss"); /* the same pairs as context, not filter values */
    call_free(&c);
    call_init(&c, PZ_RPC_RECOMMEND_ITEMS);
    m = recommend_msg(&c, "u3", 5);
    m->decorate_items = false;
    recommend(f, &c, m, NULL);
    assert_string_equal(c.req.hints.cache, "miss"); /* decoration */
    call_free(&c);
    call_init(&c, PZ_RPC_RECOMMEND_ITEMS);
    m = recommend_msg(&c, "u3", 5);
    m->filter = "f";
    recommend(f, &c, m, NULL);
    assert_string_equal(c.req.hints.cache, "miss"); /* filter */
    call_free(&c);
    /* a synthetic user selects another class: public, 300 s, explicit staleness windows */
    call_init(&c, PZ_RPC_RECOMMEND_ITEMS);
    m = recommend_msg(&c, "u3", 5);
    m->synthetic_user = true;
    recommend(f, &c, m, NULL);
    assert_string_equal(c.req.hints.cache, "miss");
    assert_string_equal(c.req.hints.cache_control, "public,max-age=300,stale-while-revalidate=30,stale-if-error=600");
    call_free(&c);
}

static void test_event_for_a_user_invalidates_only_that_user(void **state)
{
    fixture *f = *state;
    char before[PZ_ETAG_SIZE];
    snprintf(before, sizeof before, "%s", recommend_etag(f, "alice", 5, "miss"));
    recommend_etag(f, "bob", 5, "miss");
    recommend_etag(f, "alice", 5, "hit");
    put_event(f, "alice", "tent");
    const char *after = recommend_etag(f, "alice", 5, "miss");
    assert_string_not_equal(after, before);
    recommend_etag(f, "bob", 5, "hit");
    /* within the settle window answers are not stored (the event may still be in flight) */
    recommend_etag(f, "alice", 5, "miss");
    test_now += 1001;
    recommend_etag(f, "alice", 5, "miss");
    recommend_etag(f, "alice", 5, "hit");
}

static void test_config_reload_invalidates(void **state)
{
    fixture *f = *state;
    recommend_etag(f, "u4", 5, "miss");
    recommend_etag(f, "u4", 5, "hit");
    write_config(f->config_path, "rc-1"); /* same document, same version string: still a new snapshot */
    assert_int_equal(pz_config_holder_reload(f->holder), 0);
    recommend_etag(f, "u4", 5, "miss");
    recommend_etag(f, "u4", 5, "hit");
    assert_true(stats(f).purged >= 1);
}

static void test_stale_while_revalidate_refreshes_in_the_background(void **state)
{
    fixture *f = *state;
    char first[PZ_ETAG_SIZE];
    snprintf(first, sizeof first, "%s", recommend_etag(f, "u5", 4, "miss"));
    test_now += 15 * SEC; /* stale: within max-age + stale-while-revalidate (10 + 10 s) */
    assert_string_equal(recommend_etag(f, "u5", 4, "stale"), first);
    /* the recommender answers inline: the refresh has already replaced the entry */
    const char *second = recommend_etag(f, "u5", 4, "hit");
    assert_string_not_equal(second, first);
    test_now += 21 * SEC; /* past both windows: a plain miss */
    recommend_etag(f, "u5", 4, "miss");
    pz_cache_stats s = stats(f);
    assert_int_equal(s.refreshes, 1);
    assert_int_equal(s.stale_hits, 1);
}

static void test_oversized_key_bypasses_the_cache(void **state)
{
    fixture *f = *state;
    char *value = malloc(1001);
    memset(value, 'v', 1000);
    value[1000] = '\0';
    for (int round = 0; round < 2; round++) {
        call c;
        call_init(&c, PZ_RPC_RECOMMEND_ITEMS);
        Personalization__V1__RecommendItemsRequest *m = recommend_msg(&c, "u6", 5);
        for (int i = 0; i < 300; i++) /* 300 x 1000 bytes > PZ_RESPONSE_CACHE_MAX_KEY_BYTES */
            add_map_entry(&c, m, true, pz_arena_printf(&c.arena, "K%d", i), value);
        recommend(f, &c, m, NULL);
        assert_string_equal(c.req.hints.cache, "bypass");
        assert_non_null(c.req.hints.etag); /* still validated */
        call_free(&c);
    }
    free(value);
    pz_buf out;
    pz_buf_init(&out, 4096);
    assert_int_equal(pz_service_cache_stats(f->svc, &out), 0);
    assert_non_null(strstr(out.data, "\"bypassed\":2"));
    pz_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_miss_then_hit_serves_the_same_prepared_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_if_none_match, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uncacheable_class_has_no_etag_and_is_never_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_covers_what_changes_the_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_for_a_user_invalidates_only_that_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_reload_invalidates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_while_revalidate_refreshes_in_the_background, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_key_bypasses_the_cache, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
