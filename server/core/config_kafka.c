/* Kafka settings in the configuration (issue 18): a `kafka` event target and a namespace's
 * `eventLog` take the same keys (kafka_settings.h), read here from that one table. */
#include <string.h>

#include "server/core/config_internal.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const cfg_name_value PROTOCOLS[] = {{"plaintext", 0}, {"ssl", 1}, {"sasl_plaintext", 2}, {"sasl_ssl", 3}};
static const bool PROTOCOL_SASL[] = {false, false, true, true};
static const bool PROTOCOL_SSL[] = {false, true, false, true};
static const cfg_name_value MECHANISMS[] = {{"PLAIN", 0}, {"SCRAM-SHA-256", 1}, {"SCRAM-SHA-512", 2}};

/* The member rows of the settings, made from the table (required: brokers and topic; the SASL
 * credentials are required with a sasl_* protocol, which the reader checks). */
static void kafka_rows(cfg_member rows[PZ_KAFKA__COUNT])
{
    for (int f = 0; f < PZ_KAFKA__COUNT; f++) {
        const pz_kafka_field_info *info = pz_kafka_field_at((pz_kafka_field)f);
        bool required = f == PZ_KAFKA_BROKERS || f == PZ_KAFKA_TOPIC;
        rows[f] = (cfg_member){.key = info->key,
                               .kind = CFG_STRING,
                               .presence = required     ? CFG_REQUIRED
                                           : info->sasl ? CFG_REQUIRED_IF
                                                        : CFG_OPTIONAL,
                               .max = 4096};
    }
}

static void read_settings(cfg_ctx *c, json_t *v, const cfg_member rows[PZ_KAFKA__COUNT], pz_kafka_settings *out)
{
    out->v[PZ_KAFKA_BROKERS] = cfg_string(c, v, &rows[PZ_KAFKA_BROKERS], "Kafka brokers \"host:port,host:port\"");
    if (out->v[PZ_KAFKA_BROKERS] != NULL && !pz_kafka_brokers_valid(out->v[PZ_KAFKA_BROKERS]))
        cfg_error_at(c, rows[PZ_KAFKA_BROKERS].key, "\"%.120s\" is not a broker list; expected \"host:port,host:port\"",
                     out->v[PZ_KAFKA_BROKERS]);
    out->v[PZ_KAFKA_TOPIC] = cfg_string(c, v, &rows[PZ_KAFKA_TOPIC], "a Kafka topic name");
    if (out->v[PZ_KAFKA_TOPIC] != NULL && !pz_kafka_topic_valid(out->v[PZ_KAFKA_TOPIC]))
        cfg_error_at(c, rows[PZ_KAFKA_TOPIC].key,
                     "\"%.120s\" is not a Kafka topic name; expected 1-249 of letters, digits, '.', '_' and '-'",
                     out->v[PZ_KAFKA_TOPIC]);
    int protocol = cfg_enum(c, v, &rows[PZ_KAFKA_SECURITY_PROTOCOL], PROTOCOLS, COUNT(PROTOCOLS),
                            "plaintext, ssl, sasl_plaintext, sasl_ssl");
    if (protocol >= 0)
        out->v[PZ_KAFKA_SECURITY_PROTOCOL] = PROTOCOLS[protocol].name;
    bool sasl = protocol >= 0 && PROTOCOL_SASL[protocol];
    bool ssl = protocol >= 0 && PROTOCOL_SSL[protocol];
    if (cfg_get(v, &rows[PZ_KAFKA_SASL_MECHANISM]) != NULL) {
        int m = cfg_enum(c, v, &rows[PZ_KAFKA_SASL_MECHANISM], MECHANISMS, COUNT(MECHANISMS),
                         "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512");
        if (m >= 0)
            out->v[PZ_KAFKA_SASL_MECHANISM] = MECHANISMS[m].name;
    }
    for (int f = PZ_KAFKA_SASL_USERNAME; f < PZ_KAFKA__COUNT; f++)
        out->v[f] = cfg_string(c, v, &rows[f], NULL);
    for (int f = 0; f < PZ_KAFKA__COUNT; f++) {
        const pz_kafka_field_info *info = pz_kafka_field_at((pz_kafka_field)f);
        bool given = cfg_get(v, &rows[f]) != NULL;
        if (info->sasl && given && !sasl)
            cfg_error_at(c, info->key, "only applies with securityProtocol sasl_plaintext or sasl_ssl");
        else if (info->ssl && given && !ssl)
            cfg_error_at(c, info->key, "only applies with securityProtocol ssl or sasl_ssl");
        else if (info->sasl && sasl && !given)
            cfg_error(c, "securityProtocol %s needs \"%s\"", out->v[PZ_KAFKA_SECURITY_PROTOCOL], info->key);
    }
    if (protocol == 2 && out->v[PZ_KAFKA_SASL_MECHANISM] != NULL &&
        strcmp(out->v[PZ_KAFKA_SASL_MECHANISM], "PLAIN") == 0)
        cfg_warn_at(c, rows[PZ_KAFKA_SASL_MECHANISM].key,
                    "PLAIN over sasl_plaintext sends the password unencrypted; use sasl_ssl outside a trusted network");
}

static const cfg_member TYPE_ROW = {.key = "type", .kind = CFG_STRING, .presence = CFG_REQUIRED};

void cfg_parse_kafka_target(cfg_ctx *c, json_t *v, pz_event_target *t)
{
    cfg_member rows[PZ_KAFKA__COUNT];
    kafka_rows(rows);
    const cfg_member *members[PZ_KAFKA__COUNT + 1] = {&TYPE_ROW};
    for (int f = 0; f < PZ_KAFKA__COUNT; f++)
        members[f + 1] = &rows[f];
    cfg_check_members(c, v, members, COUNT(members), 0, true, "a kafka target");
    read_settings(c, v, rows, &t->kafka);
}

void cfg_parse_event_log(cfg_ctx *c, json_t *v, pz_namespace *ns)
{
    if (v == NULL)
        return;
    size_t mark = cfg_push_key(c, "eventLog");
    if (cfg_expect_object(c, v, "an event log {\"brokers\": \"host:port,...\", \"topic\": ...}")) {
        cfg_member rows[PZ_KAFKA__COUNT];
        kafka_rows(rows);
        const cfg_member *members[PZ_KAFKA__COUNT];
        for (int f = 0; f < PZ_KAFKA__COUNT; f++)
            members[f] = &rows[f];
        cfg_check_members(c, v, members, COUNT(members), 0, true, "an event log");
        /* The log is produced to like an event target (through the outbox), so it is one. */
        pz_event_target *targets = pz_arena_calloc(c->arena, ns->n_event_targets + 1, sizeof *targets);
        if (ns->n_event_targets > 0)
            memcpy(targets, ns->event_targets, ns->n_event_targets * sizeof *targets);
        pz_event_target *log = &targets[ns->n_event_targets];
        log->type = PZ_TARGET_KAFKA;
        log->event_log = true;
        read_settings(c, v, rows, &log->kafka);
        ns->event_targets = targets;
        ns->n_event_targets++;
        ns->has_event_targets = true;
        ns->event_log = &log->kafka;
    }
    cfg_pop(c, mark);
}
