/* The kafka event target (server/events/target_kafka.h) against librdkafka's mock cluster: a
 * real Kafka protocol peer on loopback ports, in this process. Records arrive with the partition
 * key as key, the envelope as value and the origin header; outcomes follow the delivery reports:
 * delivered, permanently refused (INVALID_RECORD: a dead letter to be), or retried as a whole call
 * when every broker is down. Also the spec of a kafka target (id, round trip, secrets hidden) and
 * the error table (kafka_client.h). */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "server/core/clock.h"
#include "server/events/kafka_client.h"
#include "server/events/targets.h"

#define TOPIC "clicks"
#define PARTITIONS 4
#define BROKERS 3
#define API_KEY_PRODUCE 0 /* the Kafka protocol's ApiKey of Produce */

typedef struct fixture {
    rd_kafka_t *host; /* holds the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    pz_target *target;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    f->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(f->host);
    f->mc = rd_kafka_mock_cluster_new(f->host, BROKERS);
    assert_non_null(f->mc);
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, TOPIC, PARTITIONS, BROKERS), RD_KAFKA_RESP_ERR_NO_ERROR);
    char json[512];
    snprintf(json, sizeof json, "{\"type\":\"kafka\",\"namespace\":\"shop\",\"brokers\":\"%s\",\"topic\":\"%s\"}",
             rd_kafka_mock_cluster_bootstraps(f->mc), TOPIC);
    pz_target_spec spec;
    assert_int_equal(pz_target_spec_parse(json, &spec, err, sizeof err), 0);
    pz_kafka_set_origin("origin-test");
    f->target = pz_target_create(&spec, &(pz_target_env){.timeout_ms = 1500});
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pz_target_destroy(f->target);
    rd_kafka_mock_cluster_destroy(f->mc);
    rd_kafka_destroy(f->host);
    free(f);
    return 0;
}

/* Entries as the worker hands them: only the view's partition key and envelope are read. */
typedef struct batch {
    pz_delivery_entry entries[8];
    pz_delivery_entry *ptrs[8];
    char keys[8][32];
    char json[8][128];
    pz_outcome out[8];
} batch;

static void make_batch(batch *b, size_t n, const char *tag)
{
    memset(b, 0, sizeof *b);
    for (size_t i = 0; i < n; i++) {
        snprintf(b->keys[i], sizeof b->keys[i], "s-%s-%zu", tag, i);
        snprintf(b->json[i], sizeof b->json[i],
                 "{\"namespace\":\"shop\",\"body\":{\"eventList\":[{\"eventId\":\"%s-%zu\"}]}}", tag, i);
        b->entries[i].seq = i + 1;
        b->entries[i].view.partition_key = b->keys[i];
        b->entries[i].view.partition_key_len = strlen(b->keys[i]);
        b->entries[i].view.json = b->json[i];
        b->entries[i].view.json_len = strlen(b->json[i]);
        b->ptrs[i] = &b->entries[i];
    }
}

/* Every message of the topic, read from the beginning by an independent consumer. */
static size_t read_topic(fixture *f, char keys[][32], char values[][128], char origins[][32], size_t cap)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(f->mc), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "reader", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int p = 0; p < PARTITIONS; p++)
        rd_kafka_topic_partition_list_add(list, TOPIC, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, list), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(list);
    size_t n = 0;
    int eofs = 0;
    int64_t deadline = pz_now_ms() + 10000;
    while (eofs < PARTITIONS && pz_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eofs++;
        } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && n < cap) {
            snprintf(keys[n], 32, "%.*s", (int)m->key_len, (const char *)m->key);
            snprintf(values[n], 128, "%.*s", (int)m->len, (const char *)m->payload);
            rd_kafka_headers_t *h = NULL;
            const void *v = NULL;
            size_t vlen = 0;
            origins[n][0] = '\0';
            if (rd_kafka_message_headers(m, &h) == 0 &&
                rd_kafka_header_get_last(h, PZ_KAFKA_ORIGIN_HEADER, &v, &vlen) == 0)
                snprintf(origins[n], 32, "%.*s", (int)vlen, (const char *)v);
            n++;
        }
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(eofs, PARTITIONS);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

static bool contains(char values[][128], size_t n, const char *needle)
{
    for (size_t i = 0; i < n; i++) {
        if (strstr(values[i], needle) != NULL)
            return true;
    }
    return false;
}

static void test_records_are_acknowledged_with_key_value_and_origin(void **state)
{
    fixture *f = *state;
    batch b;
    make_batch(&b, 3, "ok");
    pz_target_send(f->target, b.ptrs, 3, b.out);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(b.out[i].kind, PZ_OUTCOME_OK);
        assert_false(b.out[i].call_level);
    }
    char keys[16][32], values[16][128], origins[16][32];
    size_t n = read_topic(f, keys, values, origins, 16);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(origins[i], "origin-test");
        /* The value is the envelope of the record whose key the message carries. */
        size_t k = (size_t)(keys[i][strlen(keys[i]) - 1] - '0');
        assert_string_equal(values[i], b.json[k]);
    }
}

static void test_a_refused_record_is_rejected_alone(void **state)
{
    fixture *f = *state;
    /* Every Produce request fails for a while: the record the broker refuses as invalid is
     * rejected (then dead-lettered by the delivery policy), not retried forever. */
    rd_kafka_resp_err_t errs[8];
    for (size_t i = 0; i < 8; i++)
        errs[i] = RD_KAFKA_RESP_ERR_INVALID_RECORD;
    rd_kafka_mock_push_request_errors_array(f->mc, API_KEY_PRODUCE, 8, errs);
    batch b;
    make_batch(&b, 1, "bad");
    pz_target_send(f->target, b.ptrs, 1, b.out);
    assert_int_equal(b.out[0].kind, PZ_OUTCOME_REJECT);
    assert_false(b.out[0].call_level);
    assert_non_null(strstr(b.out[0].reason, "kafka:"));
    rd_kafka_mock_clear_request_errors(f->mc, API_KEY_PRODUCE);
    char keys[16][32], values[16][128], origins[16][32];
    size_t n = read_topic(f, keys, values, origins, 16);
    assert_false(contains(values, n, "bad-0"));
}

static void test_brokers_down_fail_the_call_then_it_catches_up(void **state)
{
    fixture *f = *state;
    for (int id = 1; id <= BROKERS; id++)
        rd_kafka_mock_broker_set_down(f->mc, id);
    batch b;
    make_batch(&b, 2, "down");
    int64_t t0 = pz_now_ms();
    pz_target_send(f->target, b.ptrs, 2, b.out);
    int64_t took = pz_now_ms() - t0;
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(b.out[i].kind, PZ_OUTCOME_RETRY);
        assert_true(b.out[i].call_level); /* the target pauses with backoff */
        assert_non_null(strstr(b.out[i].reason, "kafka:"));
    }
    /* Bounded by the call timeout (librdkafka's message.timeout.ms, 1500 here). librdkafka looks for
     * timed-out messages about once a second, and on a busy CI machine that came over 3 s late:
     * the bound allows it, and still fails a call that waits for the brokers to come back. */
    assert_true(took < 1500 + 8000);
    for (int id = 1; id <= BROKERS; id++)
        rd_kafka_mock_broker_set_up(f->mc, id);
    /* Catching up: the producer reconnects first, so a call made at once may still time out (under
     * ASan on a busy machine it did); the pipeline would call again after its backoff, as here. */
    int64_t deadline = pz_now_ms() + 20000;
    do {
        make_batch(&b, 2, "down");
        pz_target_send(f->target, b.ptrs, 2, b.out);
    } while (b.out[0].kind == PZ_OUTCOME_RETRY && b.out[0].call_level && pz_now_ms() < deadline);
    assert_int_equal(b.out[0].kind, PZ_OUTCOME_OK);
    assert_int_equal(b.out[1].kind, PZ_OUTCOME_OK);
    char keys[16][32], values[16][128], origins[16][32];
    size_t n = read_topic(f, keys, values, origins, 16);
    assert_true(contains(values, n, "down-0"));
    assert_true(contains(values, n, "down-1"));
}

static void test_cancel_ends_a_waiting_call(void **state)
{
    fixture *f = *state;
    for (int id = 1; id <= BROKERS; id++)
        rd_kafka_mock_broker_set_down(f->mc, id);
    pz_target_cancel(f->target);
    batch b;
    make_batch(&b, 1, "cancel");
    int64_t t0 = pz_now_ms();
    pz_target_send(f->target, b.ptrs, 1, b.out);
    assert_int_equal(b.out[0].kind, PZ_OUTCOME_RETRY);
    assert_true(pz_now_ms() - t0 < 1000);
}

static void test_spec_id_round_trip_and_secrets(void **state)
{
    (void)state;
    pz_event_target t = {.type = PZ_TARGET_KAFKA};
    t.kafka.v[PZ_KAFKA_BROKERS] = "k1:9092,k2:9092";
    t.kafka.v[PZ_KAFKA_TOPIC] = "clicks";
    t.kafka.v[PZ_KAFKA_SECURITY_PROTOCOL] = "sasl_ssl";
    t.kafka.v[PZ_KAFKA_SASL_MECHANISM] = "SCRAM-SHA-256";
    t.kafka.v[PZ_KAFKA_SASL_USERNAME] = "svc";
    t.kafka.v[PZ_KAFKA_SASL_PASSWORD] = "hunter2";
    char *id, *json, err[128];
    pz_target_spec_render("shop", &t, &id, &json);
    assert_string_equal(id, "shop/kafka/clicks@k1:9092,k2:9092");
    pz_target_spec spec;
    assert_int_equal(pz_target_spec_parse(json, &spec, err, sizeof err), 0);
    assert_string_equal(spec.id, id);
    assert_int_equal(spec.type, PZ_TARGET_KAFKA);
    for (int i = 0; i < PZ_KAFKA__COUNT; i++) {
        if (t.kafka.v[i] == NULL)
            assert_null(spec.kafka[i]);
        else
            assert_string_equal(spec.kafka[i], t.kafka.v[i]);
    }
    char *shown = pz_target_spec_display_json(json);
    assert_null(strstr(shown, "hunter2"));
    assert_non_null(strstr(shown, "\"saslUsername\":\"svc\""));
    free(shown);
    pz_target_spec_free(&spec);
    free(id);
    free(json);
}

static void test_error_table(void **state)
{
    (void)state;
    assert_int_equal(pz_kafka_outcome(RD_KAFKA_RESP_ERR_NO_ERROR), PZ_OUTCOME_OK);
    assert_int_equal(pz_kafka_outcome(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE), PZ_OUTCOME_REJECT);
    assert_int_equal(pz_kafka_outcome(RD_KAFKA_RESP_ERR_INVALID_RECORD), PZ_OUTCOME_REJECT);
    assert_int_equal(pz_kafka_outcome(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT), PZ_OUTCOME_RETRY);
    assert_int_equal(pz_kafka_outcome(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION), PZ_OUTCOME_RETRY);
    /* An operator can grant the ACL or create the topic: the records wait. */
    assert_int_equal(pz_kafka_outcome(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED), PZ_OUTCOME_RETRY);
    assert_int_equal(pz_kafka_outcome(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART), PZ_OUTCOME_RETRY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_records_are_acknowledged_with_key_value_and_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_refused_record_is_rejected_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_brokers_down_fail_the_call_then_it_catches_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_ends_a_waiting_call, setup, teardown),
        cmocka_unit_test(test_spec_id_round_trip_and_secrets),
        cmocka_unit_test(test_error_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
