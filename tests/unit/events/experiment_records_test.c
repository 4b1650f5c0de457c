/* Tests for the event pipeline's experiment records (server/events/experiment_records.c, record.c,
 * the experiments target in targets.c) with real LMDB and an in-memory experiment store: the record
 * shape (the envelope's, with the metric's dotted data paths), exposures queued without waiting and
 * stored by the writer (one record per metric with trackExposures, one user-only record without
 * any), the exposure queue's bound crossed (dropped and counted), conversions stored with their
 * call, records reaching the store in seq order with their seqs. */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/events/pipeline.h"
#include "server/events/record.h"

/* ---- an in-memory experiment store that records what it is given ---- */

#define MAX_SEEN 64

typedef struct seen_event {
    pz_experiment_event_kind kind;
    uint64_t seq;
    char metric[32];
    char user[32];
    char variation[16];
    double value;
} seen_event;

typedef struct fake_store {
    pthread_mutex_t lock;
    seen_event events[MAX_SEEN];
    int n;
} fake_store;

static int fake_apply(void *self, const char *ns, const char *stream, const pz_experiment_event *ev, size_t n,
                      char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    fake_store *f = self;
    assert_string_equal(ns, "shop");
    assert_null(stream); /* the outbox */
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < n && f->n < MAX_SEEN; i++) {
        seen_event *s = &f->events[f->n++];
        *s = (seen_event){.kind = ev[i].kind, .seq = ev[i].seq, .value = ev[i].value};
        snprintf(s->metric, sizeof s->metric, "%s", ev[i].metric ? ev[i].metric : "(none)");
        snprintf(s->user, sizeof s->user, "%s", ev[i].user_id);
        snprintf(s->variation, sizeof s->variation, "%s", ev[i].variation ? ev[i].variation : "");
    }
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static int seen_count(fake_store *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->n;
    pthread_mutex_unlock(&f->lock);
    return n;
}

static void wait_seen(fake_store *f, int n)
{
    for (int i = 0; i < 2000 && seen_count(f) < n; i++) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(seen_count(f), n);
}

static const char CONFIG[] = "{\"namespaces\":{\"shop\":{\"recommenders\":{\"recommend-items\":{\"home\":{"
                             "\"experiments\":{"
                             " \"layout\":{\"method\":\"local\",\"metrics\":{"
                             "   \"clicks\":{\"entityIdKey\":\"userDetails.userId\",\"valueKey\":\"details.clicked\"},"
                             "   \"buys\":{\"entityIdKey\":\"u\",\"valueKey\":\"v\",\"trackExposures\":false},"
                             "   \"views\":{\"entityIdKey\":\"u\",\"valueKey\":\"v\"}}},"
                             " \"bare\":{\"method\":\"local\"}},"
                             "\"variations\":{\"a\":{\"type\":\"builtin\"},\"b\":{\"type\":\"builtin\"}}}}},"
                             "\"eventTargets\":[{\"type\":\"builtin\"}]}}}";

typedef struct fixture {
    char outbox[600];
    pz_config *cfg;
    fake_store store;
    pz_event_pipeline *p;
} fixture;

static void open_pipeline(fixture *f, size_t max_exposures)
{
    pz_event_pipeline_options o = {.outbox_dir = f->outbox,
                                   .experiments = {.self = &f->store, .apply = fake_apply},
                                   .max_queued_exposures = max_exposures};
    char err[256];
    assert_int_equal(pz_event_pipeline_open(&o, &f->p, err, sizeof err), 0);
}

static int setup(void **state)
{
    static int n;
    fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
    snprintf(f->outbox, sizeof f->outbox, "%s/exp_records_test_%d_%d", tmp, (int)getpid(), n++);
    f->cfg = pz_config_parse(CONFIG, strlen(CONFIG), NULL);
    assert_non_null(f->cfg);
    pthread_mutex_init(&f->store.lock, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pz_event_pipeline_destroy(f->p);
    pz_config_unref(f->cfg);
    pthread_mutex_destroy(&f->store.lock);
    free(f);
    return 0;
}

static pz_exposure exposure(fixture *f, const char *feature, const char *user)
{
    const pz_namespace *ns = pz_config_namespace(f->cfg, "shop");
    const pz_recommender *r = pz_config_recommender(ns, PZ_ACTION_RECOMMEND_ITEMS, "home");
    return (pz_exposure){.config = f->cfg,
                         .ns = ns,
                         .recommender = r,
                         .experiment = pz_experiment_find(r, feature),
                         .variation = &r->variations[1],
                         .user_id = user,
                         .at_ms = 1700000000123};
}

static void test_record_shape(void **state)
{
    (void)state;
    pz_experiment_record x = {.conversion = true,
                              .ns = "shop",
                              .recommender = "home",
                              .action = "recommend-items",
                              .feature = "layout",
                              .method = "local",
                              .variation = "b",
                              .control = "a",
                              .user_id = "u\"1",
                              .metric = "clicks",
                              .entity_id_key = "userDetails.userId",
                              .value_key = "userDetails.clicked",
                              .value = 2.5,
                              .at_ms = 1700000000123};
    pz_arena a;
    pz_arena_init(&a);
    uint8_t *rec;
    size_t len;
    char err[128];
    assert_int_equal(pz_evrec_render_experiment(&x, 2, &a, &rec, &len, err, sizeof err), 0);
    pz_evrec_view v;
    assert_int_equal(pz_evrec_decode(rec, len, &v), 0);
    assert_true(v.experiment);
    assert_int_equal(v.n_targets, 2);
    assert_int_equal(v.n_events, 0);
    assert_int_equal(v.partition_key_len, 3);
    char *json = strndup(v.json, v.json_len);
    assert_string_equal(json, "{\"namespace\":\"shop\",\"path\":\"/experiments/shop/home/layout\",\"headers\":{},"
                              "\"queryStringParameters\":null,\"body\":{\"userId\":\"u\\\"1\",\"experimentEvent\":{"
                              "\"type\":\"conversion\",\"recommender\":\"home\",\"action\":\"recommend-items\","
                              "\"feature\":\"layout\",\"method\":\"local\",\"variation\":\"b\",\"control\":\"a\","
                              "\"userId\":\"u\\\"1\",\"metric\":\"clicks\",\"value\":2.5,\"timestamp\":1700000000.123,"
                              "\"data\":{\"userDetails\":{\"userId\":\"u\\\"1\",\"clicked\":2.5}}}}}");
    free(json);
    /* a user-only exposure: metric null, no data */
    x.conversion = false;
    x.metric = x.entity_id_key = x.value_key = NULL;
    assert_int_equal(pz_evrec_render_experiment(&x, 1, &a, &rec, &len, err, sizeof err), 0);
    assert_int_equal(pz_evrec_decode(rec, len, &v), 0);
    assert_non_null(memmem(v.json, v.json_len, "\"metric\":null,\"timestamp\"", 25));
    assert_null(memmem(v.json, v.json_len, "\"data\"", 6));
    pz_arena_destroy(&a);
}

static void test_exposures_reach_the_store_per_tracked_metric(void **state)
{
    fixture *f = *state;
    open_pipeline(f, 0);
    pz_exposure e = exposure(f, "layout", "u1");
    pz_event_pipeline_expose(f->p, &e);
    e = exposure(f, "bare", "u2"); /* no metric: one record that only counts the user */
    pz_event_pipeline_expose(f->p, &e);
    wait_seen(&f->store, 3);
    seen_event *s = f->store.events;
    assert_int_equal(s[0].kind, PZ_EXPERIMENT_EXPOSURE);
    assert_string_equal(s[0].metric, "clicks"); /* buys does not track exposures */
    assert_string_equal(s[1].metric, "views");
    assert_string_equal(s[0].user, "u1");
    assert_string_equal(s[0].variation, "b");
    assert_string_equal(s[2].metric, "(none)");
    assert_string_equal(s[2].user, "u2");
    assert_true(s[0].seq < s[1].seq && s[1].seq < s[2].seq);
    /* the writer counts the records after its commit, which the worker may see first: poll */
    pz_buf stats;
    pz_buf_init(&stats, 1 << 16);
    for (int i = 0; i < 400; i++) {
        pz_buf_clear(&stats);
        pz_event_pipeline_stats_json(f->p, &stats);
        if (strstr(stats.data, "\"experimentRecords\":3") != NULL)
            break;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_non_null(strstr(stats.data, "\"exposures\":{\"accepted\":2,\"dropped\":0,\"queued\":0},"
                                       "\"experimentRecords\":3"));
    assert_non_null(strstr(stats.data, "\"id\":\"shop/experiments\""));
    pz_buf_free(&stats);
}

/* PZ_EVENTS_MAX_QUEUED_EXPOSURES, crossed with a bound of 2: the writer stores queued exposures
 * at most PZ_EVENTS_EXPOSURE_FLUSH_MS after the first, so of 6 queued at once 4 are dropped. */
static void test_exposure_queue_bound_drops_and_counts(void **state)
{
    fixture *f = *state;
    open_pipeline(f, 2);
    for (int i = 0; i < 6; i++) {
        pz_exposure e = exposure(f, "bare", "u");
        pz_event_pipeline_expose(f->p, &e);
    }
    wait_seen(&f->store, 2);
    pz_buf stats;
    pz_buf_init(&stats, 1 << 16);
    pz_event_pipeline_stats_json(f->p, &stats);
    assert_non_null(strstr(stats.data, "\"exposures\":{\"accepted\":2,\"dropped\":4,"));
    pz_buf_free(&stats);
}

/* The call's answer (from the writer thread); -1 until then. */
static atomic_int answered = -1;
static void on_done(pz_event_submission *s, const pz_error *err)
{
    (void)s;
    atomic_store(&answered, err == NULL ? PZ_OK : (int)err->status);
}

static void test_conversions_are_stored_with_their_call(void **state)
{
    fixture *f = *state;
    open_pipeline(f, 0);
    pz_arena a;
    pz_arena_init(&a);
    Personalization__V1__PutEventsRequest *m = (Personalization__V1__PutEventsRequest *)pz_arena_new_message(
        &a, &personalization__v1__put_events_request__descriptor);
    m->namespace_ = "shop";
    m->user_id = "u7";
    Personalization__V1__ExperimentConversion c = PERSONALIZATION__V1__EXPERIMENT_CONVERSION__INIT;
    c.recommender = "home";
    c.feature = "layout";
    c.metric = "buys";
    Personalization__V1__ExperimentConversion *cs[] = {&c};
    m->experiment_conversions = cs;
    m->n_experiment_conversions = 1;
    const pz_namespace *ns = pz_config_namespace(f->cfg, "shop");
    pz_conversion conv;
    pz_error err;
    assert_int_equal(pz_conversion_resolve(ns, "u7", &c, 0, &conv, &a, &err), PZ_OK);
    pz_event_submission sub = {.ns = ns,
                               .events = m,
                               .conversions = &conv,
                               .n_conversions = 1,
                               .received_ms = 1700000000000,
                               .arena = &a,
                               .done = on_done};
    atomic_store(&answered, -1);
    pz_event_pipeline_submit(f->p, &sub);
    wait_seen(&f->store, 1); /* the worker may count it before the writer has answered: wait for both */
    for (int i = 0; i < 2000 && atomic_load(&answered) < 0; i++) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(atomic_load(&answered), PZ_OK);
    assert_int_equal(f->store.events[0].kind, PZ_EXPERIMENT_CONVERSION);
    assert_string_equal(f->store.events[0].metric, "buys");
    assert_true(f->store.events[0].value == 1.0);
    assert_string_equal(f->store.events[0].variation, conv.variation->key);
    pz_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_shape),
        cmocka_unit_test_setup_teardown(test_exposures_reach_the_store_per_tracked_metric, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exposure_queue_bound_drops_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conversions_are_stored_with_their_call, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
