/* Kafka settings in the configuration (issue 18): the `kafka` event target and the namespace
 * `eventLog` (server/core/config_kafka.c), their validation with JSON paths, and the table and
 * checks of server/core/kafka_settings.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/core/config.h"
#include "server/core/event_validation.h"
#include "server/core/kafka_settings.h"

/* Documents are written with single quotes; none needs a literal one. */
static pz_config *parse_q(const char *q, pz_config_problems *p)
{
    char *s = strdup(q);
    for (char *c = s; *c != '\0'; c++)
        if (*c == '\'')
            *c = '"';
    pz_config *cfg = pz_config_parse(s, strlen(s), p);
    free(s);
    return cfg;
}

static void expect_problem(const pz_config_problems *p, const char *path, bool warning, const char *needle)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->items[i].path, path) == 0 && p->items[i].is_warning == warning &&
            strstr(p->items[i].message, needle) != NULL)
            return;
    }
    fprintf(stderr, "expected %s at %s containing \"%s\"; got:\n", warning ? "warning" : "error", path, needle);
    for (size_t i = 0; i < p->n; i++)
        fprintf(stderr, "  %s %s: %s\n", p->items[i].is_warning ? "warning" : "error", p->items[i].path,
                p->items[i].message);
    fail();
}

/* A namespace with `members` (JSON text without braces) in its first event target. */
static pz_config *target_doc(const char *members, pz_config_problems *p)
{
    char doc[2048];
    snprintf(doc, sizeof doc, "{'namespaces': {'shop': {'eventTargets': [{'type': 'kafka', %s}]}}}", members);
    return parse_q(doc, p);
}

static void test_kafka_target_parses_every_setting(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c = target_doc("'brokers': 'k1:9093,k2.example.com:9093,[::1]:9093', 'topic': 'clicks.v1', "
                              "'securityProtocol': 'sasl_ssl', 'saslMechanism': 'SCRAM-SHA-512', "
                              "'saslUsername': 'svc', 'saslPassword': 's3cret', 'sslCaLocation': '/etc/ca.pem'",
                              &p);
    assert_non_null(c);
    assert_int_equal(p.n, 0);
    const pz_namespace *ns = pz_config_namespace(c, "shop");
    assert_int_equal(ns->n_event_targets, 1);
    const pz_event_target *t = &ns->event_targets[0];
    assert_int_equal(t->type, PZ_TARGET_KAFKA);
    assert_false(t->event_log);
    assert_string_equal(t->kafka.v[PZ_KAFKA_BROKERS], "k1:9093,k2.example.com:9093,[::1]:9093");
    assert_string_equal(t->kafka.v[PZ_KAFKA_TOPIC], "clicks.v1");
    assert_string_equal(t->kafka.v[PZ_KAFKA_SECURITY_PROTOCOL], "sasl_ssl");
    assert_string_equal(t->kafka.v[PZ_KAFKA_SASL_MECHANISM], "SCRAM-SHA-512");
    assert_string_equal(t->kafka.v[PZ_KAFKA_SASL_PASSWORD], "s3cret");
    assert_string_equal(t->kafka.v[PZ_KAFKA_SSL_CA_LOCATION], "/etc/ca.pem");
    assert_null(t->kafka.v[PZ_KAFKA_SSL_KEY_LOCATION]);
    assert_null(ns->event_log);
    /* A kafka target forwards as Kinesis does: any JSON body. */
    assert_true(pz_events_forward_only(ns));
    pz_config_unref(c);
    pz_config_problems_free(&p);
}

static void test_kafka_target_errors_name_the_key(void **state)
{
    (void)state;
    static const struct {
        const char *members;
        const char *path;
        const char *needle;
    } CASES[] = {
        {"'topic': 't'", "$.namespaces.shop.eventTargets[0].brokers", "missing"},
        {"'brokers': 'k1:9092'", "$.namespaces.shop.eventTargets[0].topic", "missing"},
        {"'brokers': 'k1', 'topic': 't'", "$.namespaces.shop.eventTargets[0].brokers", "not a broker list"},
        {"'brokers': 'k1:0', 'topic': 't'", "$.namespaces.shop.eventTargets[0].brokers", "not a broker list"},
        {"'brokers': 'k1:9092,', 'topic': 't'", "$.namespaces.shop.eventTargets[0].brokers", "not a broker list"},
        {"'brokers': 'k1:9092', 'topic': 'a b'", "$.namespaces.shop.eventTargets[0].topic", "not a Kafka topic"},
        {"'brokers': 'k1:9092', 'topic': '..'", "$.namespaces.shop.eventTargets[0].topic", "not a Kafka topic"},
        {"'brokers': 'k1:9092', 'topic': 't', 'securityProtocol': 'tls'",
         "$.namespaces.shop.eventTargets[0].securityProtocol", "sasl_ssl"},
        {"'brokers': 'k1:9092', 'topic': 't', 'securityProtocol': 'sasl_ssl', 'saslMechanism': 'PLAIN', "
         "'saslUsername': 'u'",
         "$.namespaces.shop.eventTargets[0]", "needs \"saslPassword\""},
        {"'brokers': 'k1:9092', 'topic': 't', 'saslUsername': 'u'", "$.namespaces.shop.eventTargets[0].saslUsername",
         "only applies with securityProtocol sasl"},
        {"'brokers': 'k1:9092', 'topic': 't', 'securityProtocol': 'sasl_plaintext', 'saslMechanism': 'PLAIN', "
         "'saslUsername': 'u', 'saslPassword': 'p', 'sslCaLocation': '/ca'",
         "$.namespaces.shop.eventTargets[0].sslCaLocation", "only applies with securityProtocol ssl"},
        {"'brokers': 'k1:9092', 'topic': 't', 'securityProtocol': 'sasl_ssl', 'saslMechanism': 'GSSAPI', "
         "'saslUsername': 'u', 'saslPassword': 'p'",
         "$.namespaces.shop.eventTargets[0].saslMechanism", "SCRAM-SHA-256"},
        {"'brokers': 'k1:9092', 'topic': 't', 'streamName': 's'", "$.namespaces.shop.eventTargets[0].streamName",
         "unknown key in a kafka target"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        pz_config_problems p;
        pz_config_problems_init(&p);
        assert_null(target_doc(CASES[i].members, &p));
        expect_problem(&p, CASES[i].path, false, CASES[i].needle);
        pz_config_problems_free(&p);
    }
}

static void test_plain_over_plaintext_warns(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c = target_doc("'brokers': 'k1:9092', 'topic': 't', 'securityProtocol': 'sasl_plaintext', "
                              "'saslMechanism': 'PLAIN', 'saslUsername': 'u', 'saslPassword': 'p'",
                              &p);
    assert_non_null(c);
    expect_problem(&p, "$.namespaces.shop.eventTargets[0].saslMechanism", true, "unencrypted");
    pz_config_unref(c);
    pz_config_problems_free(&p);
}

/* The event log is the namespace's last event target, flagged, and makes the namespace take the
 * PutEvents shape (every instance's builtin model learns from it). */
static void test_event_log_is_a_kafka_target_of_the_namespace(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c = parse_q("{'namespaces': {'shop': {'eventTargets': [{'type': 'file', 'path': '/tmp/x'}], "
                           "'eventLog': {'brokers': 'k1:9092', 'topic': 'shop-events'}}}}",
                           &p);
    assert_non_null(c);
    assert_int_equal(p.n, 0);
    const pz_namespace *ns = pz_config_namespace(c, "shop");
    assert_int_equal(ns->n_event_targets, 2);
    assert_int_equal(ns->event_targets[0].type, PZ_TARGET_FILE);
    const pz_event_target *log = &ns->event_targets[1];
    assert_int_equal(log->type, PZ_TARGET_KAFKA);
    assert_true(log->event_log);
    assert_ptr_equal(ns->event_log, &log->kafka);
    assert_string_equal(ns->event_log->v[PZ_KAFKA_TOPIC], "shop-events");
    assert_false(pz_events_forward_only(ns));
    pz_config_unref(c);
    pz_config_problems_free(&p);

    /* Alone, it is enough for a namespace with recommenders to take events. */
    pz_config_problems_init(&p);
    c = parse_q("{'namespaces': {'shop': {'recommenders': {}, 'eventLog': {'brokers': 'k1:9092', 'topic': 'e'}}}}", &p);
    assert_non_null(c);
    assert_true(pz_config_namespace(c, "shop")->has_event_targets);
    pz_config_unref(c);
    pz_config_problems_free(&p);
}

static void test_event_log_errors(void **state)
{
    (void)state;
    static const struct {
        const char *log;
        const char *path;
        const char *needle;
    } CASES[] = {
        {"'k1:9092'", "$.namespaces.shop.eventLog", "an event log"},
        {"{'brokers': 'k1:9092'}", "$.namespaces.shop.eventLog.topic", "missing"},
        {"{'brokers': 'k1:9092', 'topic': 't', 'type': 'kafka'}", "$.namespaces.shop.eventLog.type",
         "unknown key in an event log"},
        {"{'brokers': 'k1:9092', 'topic': 't', 'sslKeyPassword': 'x'}", "$.namespaces.shop.eventLog.sslKeyPassword",
         "only applies with securityProtocol ssl"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        char doc[1024];
        snprintf(doc, sizeof doc, "{'namespaces': {'shop': {'eventTargets': [], 'eventLog': %s}}}", CASES[i].log);
        pz_config_problems p;
        pz_config_problems_init(&p);
        assert_null(parse_q(doc, &p));
        expect_problem(&p, CASES[i].path, false, CASES[i].needle);
        pz_config_problems_free(&p);
    }
}

static void test_settings_table_and_checks(void **state)
{
    (void)state;
    /* Every field has a key; only the topic is not a client property; passwords are secrets. */
    for (int f = 0; f < PZ_KAFKA__COUNT; f++) {
        const pz_kafka_field_info *info = pz_kafka_field_at((pz_kafka_field)f);
        assert_non_null(info->key);
        assert_true((info->property == NULL) == (f == PZ_KAFKA_TOPIC));
    }
    assert_true(pz_kafka_field_at(PZ_KAFKA_SASL_PASSWORD)->secret);
    assert_true(pz_kafka_field_at(PZ_KAFKA_SSL_KEY_PASSWORD)->secret);
    assert_false(pz_kafka_field_at(PZ_KAFKA_SASL_USERNAME)->secret);

    assert_true(pz_kafka_brokers_valid("localhost:9092"));
    assert_true(pz_kafka_brokers_valid("a:1,b:65535"));
    assert_false(pz_kafka_brokers_valid(""));
    assert_false(pz_kafka_brokers_valid("a:65536"));
    assert_false(pz_kafka_brokers_valid("a:9092 ,b:9092"));
    assert_false(pz_kafka_brokers_valid(":9092"));
    assert_false(pz_kafka_brokers_valid("a:"));

    char longest[251];
    memset(longest, 'a', 249);
    longest[249] = '\0';
    assert_true(pz_kafka_topic_valid(longest));
    longest[249] = 'a';
    longest[250] = '\0';
    assert_false(pz_kafka_topic_valid(longest));
    assert_false(pz_kafka_topic_valid(""));
    assert_false(pz_kafka_topic_valid("."));
    assert_false(pz_kafka_topic_valid("a/b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kafka_target_parses_every_setting),
        cmocka_unit_test(test_kafka_target_errors_name_the_key),
        cmocka_unit_test(test_plain_over_plaintext_warns),
        cmocka_unit_test(test_event_log_is_a_kafka_target_of_the_namespace),
        cmocka_unit_test(test_event_log_errors),
        cmocka_unit_test(test_settings_table_and_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
