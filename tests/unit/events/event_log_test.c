/* The namespace event log consumer (server/events/event_log.h) against librdkafka's in-process
 * mock cluster, with a fake learner: another instance's events are applied and their users'
 * caches purged; this instance's own are skipped when the namespace has a builtin target; other
 * namespaces' envelopes are ignored; a failing learner gets the same batch again (nothing lost);
 * a reopened store keeps its origin and resumes after the stored offsets (nothing applied twice);
 * each partition is a learner stream: what the learner had not written when the process stopped is
 * read again, and what it had written is skipped by the stream's mark (exactly once). */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "server/core/clock.h"
#include "server/events/event_log.h"
#include "server/events/kafka_client.h"

#define TOPIC "shop-log"

/* A learner stream as the builtin keeps one: the last seq applied, the last written, and the first
 * applied but not written (0: none). */
typedef struct fake_stream {
    char name[64];
    uint64_t mark, written_mark, first_unwritten;
} fake_stream;

typedef struct fake {
    pthread_mutex_t lock;
    char exposed[16][32]; /* experiment exposures counted: "<user>:<variation>" */
    size_t n_exposed;
    char exposure_stream[64];
    bool buffered;  /* learn applies in memory until fake_settle (the builtin's batched writes) */
    size_t written; /* items[0..written) are written */
    fake_stream streams[8];
    size_t n_streams;
    size_t skipped;     /* events at or below their stream's mark */
    char items[64][32]; /* item ids applied, in order */
    size_t n;
    int fail_next; /* calls to fail before succeeding */
    int calls;
    char purged[64][32];
    size_t n_purged;
} fake;

static int fake_learn(void *self, const char *ns, const char *stream, const pz_interaction *evs, size_t n, char *err,
                      size_t errlen)
{
    fake *f = self;
    assert_non_null(stream); /* one stream per partition: exactly once (README: Kafka) */
    assert_true(strncmp(stream, "kafka:", 6) == 0 && strlen(stream) < sizeof f->streams[0].name);
    assert_string_equal(ns, "shop");
    pthread_mutex_lock(&f->lock);
    f->calls++;
    if (f->fail_next > 0) {
        f->fail_next--;
        pthread_mutex_unlock(&f->lock);
        snprintf(err, errlen, "disk full (test)");
        return -1;
    }
    fake_stream *st = NULL;
    for (size_t i = 0; i < f->n_streams && st == NULL; i++)
        st = strcmp(f->streams[i].name, stream) == 0 ? &f->streams[i] : NULL;
    if (st == NULL) {
        assert_true(f->n_streams < 8);
        st = &f->streams[f->n_streams++];
        snprintf(st->name, sizeof st->name, "%s", stream);
    }
    for (size_t i = 0; i < n; i++) {
        assert_true(evs[i].seq > 0);
        assert_true(i == 0 || evs[i].seq >= evs[i - 1].seq); /* log order within a partition */
        if (evs[i].seq <= st->mark) {
            f->skipped++;
            continue;
        }
        if (f->buffered && st->first_unwritten == 0)
            st->first_unwritten = evs[i].seq;
        st->mark = evs[i].seq;
        if (f->n < 64)
            snprintf(f->items[f->n++], 32, "%s", evs[i].item_id);
    }
    if (!f->buffered) {
        st->written_mark = st->mark;
        f->written = f->n;
    }
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static uint64_t fake_unflushed_from(void *self, const char *stream)
{
    fake *f = self;
    uint64_t first = UINT64_MAX;
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->n_streams; i++) {
        if (strcmp(f->streams[i].name, stream) == 0 && f->streams[i].first_unwritten != 0)
            first = f->streams[i].first_unwritten;
    }
    pthread_mutex_unlock(&f->lock);
    return first;
}

/* What the learner applied becomes written (with the streams' marks), or, when the process dies
 * first (written = false), is gone. */
static void fake_settle(fake *f, bool written)
{
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->n_streams; i++) {
        fake_stream *st = &f->streams[i];
        if (written)
            st->written_mark = st->mark;
        else
            st->mark = st->written_mark;
        st->first_unwritten = 0;
    }
    if (written)
        f->written = f->n;
    else
        f->n = f->written;
    pthread_mutex_unlock(&f->lock);
}

static int fake_count(void *self, const char *ns, const char *stream, const pz_experiment_event *evs, size_t n,
                      char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    fake *f = self;
    assert_string_equal(ns, "shop");
    assert_non_null(stream);
    pthread_mutex_lock(&f->lock);
    snprintf(f->exposure_stream, sizeof f->exposure_stream, "%s", stream);
    for (size_t i = 0; i < n && f->n_exposed < 16; i++) {
        assert_int_equal(evs[i].kind, PZ_EXPERIMENT_EXPOSURE);
        assert_true(evs[i].seq > 0);
        snprintf(f->exposed[f->n_exposed++], 32, "%s:%s", evs[i].user_id, evs[i].variation);
    }
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static void fake_purge(void *ctx, const char *ns, const char *user)
{
    fake *f = ctx;
    assert_string_equal(ns, "shop");
    pthread_mutex_lock(&f->lock);
    if (f->n_purged < 64)
        snprintf(f->purged[f->n_purged++], 32, "%s", user);
    pthread_mutex_unlock(&f->lock);
}

static size_t applied(fake *f)
{
    pthread_mutex_lock(&f->lock);
    size_t n = f->n;
    pthread_mutex_unlock(&f->lock);
    return n;
}

typedef struct fixture {
    rd_kafka_t *host;
    rd_kafka_mock_cluster_t *mc;
    rd_kafka_t *producer;
    pz_config_holder *holder;
    char dir[512];
    fake fake;
} fixture;

static int setup(void **state)
{
    fixture *x = calloc(1, sizeof *x);
    pthread_mutex_init(&x->fake.lock, NULL);
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    x->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    x->mc = rd_kafka_mock_cluster_new(x->host, 3);
    assert_int_equal(rd_kafka_mock_topic_create(x->mc, TOPIC, 3, 3), 0);
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(x->mc), err, sizeof err);
    x->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(x->producer);
    char doc[1024];
    snprintf(doc, sizeof doc,
             "{\"namespaces\": {\"shop\": {\"eventTargets\": [{\"type\": \"builtin\"}], "
             "\"eventLog\": {\"brokers\": \"%s\", \"topic\": \"%s\"}}}}",
             rd_kafka_mock_cluster_bootstraps(x->mc), TOPIC);
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *cfg = pz_config_parse(doc, strlen(doc), &p);
    assert_non_null(cfg);
    pz_config_problems_free(&p);
    x->holder = pz_config_holder_create(cfg, NULL);
    const char *tmp = getenv("TEST_TMPDIR");
    snprintf(x->dir, sizeof x->dir, "%s/eventlog-%ld-%d", tmp ? tmp : "/tmp", (long)time(NULL), rand());
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    fixture *x = *state;
    rd_kafka_destroy(x->producer);
    rd_kafka_mock_cluster_destroy(x->mc);
    rd_kafka_destroy(x->host);
    pz_config_holder_destroy(x->holder);
    pthread_mutex_destroy(&x->fake.lock);
    free(x);
    return 0;
}

static pz_event_log *open_log(fixture *x)
{
    pz_event_log_options o = {.dir = x->dir,
                              .config = x->holder,
                              .learner = {.self = &x->fake, .learn = fake_learn, .unflushed_from = fake_unflushed_from},
                              .experiments = {.self = &x->fake, .apply = fake_count},
                              .purge = fake_purge,
                              .purge_ctx = &x->fake,
                              .resync_ms = 50};
    pz_event_log *l = NULL;
    char err[256];
    assert_int_equal(pz_event_log_open(&o, &l, err, sizeof err), 0);
    pz_event_log_start(l);
    return l;
}

/* Writes one message keyed by user (one user, one partition) with the origin header, and waits
 * until the cluster has it. */
static void send_message(fixture *x, const char *user, const char *value, const char *origin)
{
    assert_int_equal(
        rd_kafka_producev(x->producer, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_KEY(user, strlen(user)),
                          RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_HEADER(PZ_KAFKA_ORIGIN_HEADER, origin, (ssize_t)strlen(origin)), RD_KAFKA_V_END),
        0);
    assert_int_equal(rd_kafka_flush(x->producer, 10000), 0);
}

/* One message as another instance's (or this one's) kafka target writes it. */
static void produce(fixture *x, const char *ns, const char *user, const char *item, const char *origin)
{
    char value[512];
    snprintf(value, sizeof value,
             "{\"namespace\":\"%s\",\"path\":\"/events/%s\",\"headers\":{},\"queryStringParameters\":null,"
             "\"body\":{\"userId\":\"%s\",\"eventList\":[{\"eventType\":\"click\",\"itemId\":\"%s\"}]}}",
             ns, ns, user, item);
    send_message(x, user, value, origin);
}

/* One experiment exposure record as an instance's outbox renders it (server/events/record.h). */
static void produce_exposure(fixture *x, const char *user, const char *variation, const char *origin)
{
    char value[768];
    snprintf(value, sizeof value,
             "{\"namespace\":\"shop\",\"path\":\"/experiments/shop/for-you/layout\",\"headers\":{},"
             "\"queryStringParameters\":null,\"body\":{\"userId\":\"%s\",\"experimentEvent\":{\"type\":\"exposure\","
             "\"recommender\":\"for-you\",\"feature\":\"layout\",\"variation\":\"%s\",\"control\":\"a\","
             "\"userId\":\"%s\",\"metric\":\"clicks\",\"timestamp\":1700000000}}}",
             user, variation, user);
    send_message(x, user, value, origin);
}

static void wait_applied(fake *f, size_t n)
{
    int64_t deadline = pz_now_ms() + 20000;
    while (applied(f) < n && pz_now_ms() < deadline) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(applied(f), n);
}

static bool has(char list[][32], size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i], s) == 0)
            return true;
    }
    return false;
}

static void test_applies_others_skips_own_and_other_namespaces(void **state)
{
    fixture *x = *state;
    pz_event_log *l = open_log(x);
    const char *me = pz_event_log_origin(l);
    assert_string_equal(pz_kafka_origin(), me); /* what this process's producers write */
    produce(x, "shop", "u-1", "from-b", "instance-b");
    produce(x, "shop", "u-2", "mine", me);
    produce(x, "other", "u-3", "other-ns", "instance-b");
    produce(x, "shop", "u-4", "from-c", "instance-c");
    wait_applied(&x->fake, 2);
    /* Every message read (the own one may sit alone in a partition read later), then nothing more
     * arrives. */
    static const char consumed[] = "\"consumed\":4,";
    pz_buf stats;
    pz_buf_init(&stats, 4096);
    for (int64_t deadline = pz_now_ms() + 20000; pz_now_ms() < deadline;) {
        pz_buf_clear(&stats);
        pz_event_log_stats_json(l, &stats);
        if (strstr(stats.data, consumed) != NULL)
            break;
        struct timespec nap = {0, 20 * 1000000L};
        nanosleep(&nap, NULL);
    }
    assert_non_null(strstr(stats.data, consumed));
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(applied(&x->fake), 2);
    assert_true(has(x->fake.items, 2, "from-b"));
    assert_true(has(x->fake.items, 2, "from-c"));
    assert_true(has(x->fake.purged, x->fake.n_purged, "u-1"));
    assert_true(has(x->fake.purged, x->fake.n_purged, "u-4"));
    assert_false(has(x->fake.purged, x->fake.n_purged, "u-2"));
    pz_buf_clear(&stats);
    pz_event_log_stats_json(l, &stats);
    assert_non_null(strstr(stats.data, "\"partitions\":3"));
    assert_non_null(strstr(stats.data, "\"applied\":2"));
    assert_non_null(strstr(stats.data, "\"skippedOwn\":1"));
    pz_buf_free(&stats);
    pz_event_log_close(l);
}

static void test_a_failing_learner_gets_the_batch_again(void **state)
{
    fixture *x = *state;
    x->fake.fail_next = 2;
    pz_event_log *l = open_log(x);
    produce(x, "shop", "u-1", "retried", "instance-b");
    wait_applied(&x->fake, 1);
    assert_string_equal(x->fake.items[0], "retried");
    assert_true(x->fake.calls >= 3);
    pz_buf stats;
    pz_buf_init(&stats, 4096);
    pz_event_log_stats_json(l, &stats);
    assert_non_null(strstr(stats.data, "disk full (test)")); /* the last error stays visible */
    pz_buf_free(&stats);
    pz_event_log_close(l);
}

static void test_reopened_store_keeps_origin_and_resumes(void **state)
{
    fixture *x = *state;
    pz_event_log *l = open_log(x);
    char origin[64];
    snprintf(origin, sizeof origin, "%s", pz_event_log_origin(l));
    produce(x, "shop", "u-1", "first", "instance-b");
    produce(x, "shop", "u-2", "second", "instance-b");
    wait_applied(&x->fake, 2);
    pz_event_log_close(l);

    l = open_log(x);
    assert_string_equal(pz_event_log_origin(l), origin);
    produce(x, "shop", "u-3", "third", "instance-b");
    wait_applied(&x->fake, 3);
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(applied(&x->fake), 3); /* first and second were not applied again */
    assert_string_equal(x->fake.items[2], "third");
    pz_event_log_close(l);
}

static void test_what_the_learner_lost_is_read_again_and_what_it_kept_is_skipped(void **state)
{
    fixture *x = *state;
    x->fake.buffered = true;
    pz_event_log *l = open_log(x);
    produce(x, "shop", "u-1", "a", "instance-b");
    produce(x, "shop", "u-1", "b", "instance-b"); /* same key: same partition, same stream */
    wait_applied(&x->fake, 2);
    struct timespec ts = {0, 400 * 1000000L};
    nanosleep(&ts, NULL); /* idle consumer: it must not store a resume point past "a" */
    pz_event_log_close(l);
    fake_settle(&x->fake, false); /* the process dies: a and b were applied, never written */
    assert_int_equal(applied(&x->fake), 0);

    l = open_log(x);
    wait_applied(&x->fake, 2); /* read again from the stored resume point */
    assert_string_equal(x->fake.items[0], "a");
    assert_string_equal(x->fake.items[1], "b");
    pz_event_log_close(l);
    /* The learner writes after the consumer stored its last resume point (which did not pass "a"):
     * a restart reads a and b again, and their stream's mark skips them. */
    fake_settle(&x->fake, true);
    l = open_log(x);
    produce(x, "shop", "u-1", "c", "instance-b");
    wait_applied(&x->fake, 3);
    nanosleep(&ts, NULL);
    assert_int_equal(applied(&x->fake), 3);
    assert_string_equal(x->fake.items[2], "c");
    assert_int_equal(x->fake.skipped, 2);
    pz_event_log_close(l);
}

/* Other instances' experiment records are counted here too (each partition a stream of the store);
 * this instance's own are not (its outbox counted them). */
static void test_other_instances_experiment_records_are_counted(void **state)
{
    fixture *x = *state;
    pz_event_log *l = open_log(x);
    produce_exposure(x, "u-1", "b", pz_event_log_origin(l)); /* own: skipped */
    produce_exposure(x, "u-1", "a", "instance-b");
    produce(x, "shop", "u-1", "clicked", "instance-b"); /* an event after it, same partition */
    wait_applied(&x->fake, 1);
    for (int64_t deadline = pz_now_ms() + 5000; pz_now_ms() < deadline;) { /* counted after the learner */
        pthread_mutex_lock(&x->fake.lock);
        size_t counted = x->fake.n_exposed;
        pthread_mutex_unlock(&x->fake.lock);
        if (counted > 0)
            break;
        struct timespec nap = {0, 20 * 1000000L};
        nanosleep(&nap, NULL);
    }
    struct timespec settle = {0, 300 * 1000000L};
    nanosleep(&settle, NULL); /* the own record, read first, must not be counted late either */
    pthread_mutex_lock(&x->fake.lock);
    assert_int_equal(x->fake.n_exposed, 1);
    assert_string_equal(x->fake.exposed[0], "u-1:a");
    assert_true(strncmp(x->fake.exposure_stream, "kafka:", 6) == 0);
    pthread_mutex_unlock(&x->fake.lock);
    pz_buf stats;
    pz_buf_init(&stats, 4096);
    pz_event_log_stats_json(l, &stats);
    assert_non_null(strstr(stats.data, "\"experimentRecords\":1"));
    assert_non_null(strstr(stats.data, "\"skippedOwn\":1"));
    pz_buf_free(&stats);
    pz_event_log_close(l);
}

int main(void)
{
    srand((unsigned)time(NULL));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_applies_others_skips_own_and_other_namespaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_failing_learner_gets_the_batch_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopened_store_keeps_origin_and_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_instances_experiment_records_are_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_what_the_learner_lost_is_read_again_and_what_it_kept_is_skipped, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
