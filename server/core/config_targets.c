/* A namespace's `eventTargets` (spec §3.11): members by target type, header and location checks
 * (config_internal.h); a kafka target's settings are read by config_kafka.c. */
#include <string.h>

#include "server/core/config_internal.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const cfg_name_value TARGET_TYPES[] = {{"personalize-event-tracker", PZ_TARGET_PERSONALIZE_EVENT_TRACKER},
                                              {"kinesis-stream", PZ_TARGET_KINESIS_STREAM},
                                              {"kinesis-firehose", PZ_TARGET_KINESIS_FIREHOSE},
                                              {"builtin", PZ_TARGET_BUILTIN},
                                              {"http", PZ_TARGET_HTTP},
                                              {"file", PZ_TARGET_FILE},
                                              {"kafka", PZ_TARGET_KAFKA}};
/* An event target's members depend on its type; unknown keys are errors at any type (they sit in
 * a namespace, where upstream's schema applies). */
#define T_TRACKER CFG_VARIANT(PZ_TARGET_PERSONALIZE_EVENT_TRACKER)
#define T_KINESIS (CFG_VARIANT(PZ_TARGET_KINESIS_STREAM) | CFG_VARIANT(PZ_TARGET_KINESIS_FIREHOSE))
#define T_HTTP CFG_VARIANT(PZ_TARGET_HTTP)
#define T_FILE CFG_VARIANT(PZ_TARGET_FILE)
static const cfg_member TARGET_TYPE = {.key = "type", .kind = CFG_STRING, .presence = CFG_REQUIRED};
static const cfg_member TARGET_TRACKING_ID = {
    .key = "trackingId", .kind = CFG_STRING, .presence = CFG_REQUIRED, .only = T_TRACKER};
static const cfg_member TARGET_STREAM_NAME = {
    .key = "streamName", .kind = CFG_STRING, .presence = CFG_REQUIRED, .only = T_KINESIS};
/* Ours: where the AWS targets are called (VPC endpoints, tests) and in which region. */
static const cfg_member TARGET_ENDPOINT_URL = {.key = "endpointUrl", .kind = CFG_STRING, .only = T_TRACKER | T_KINESIS};
static const cfg_member TARGET_REGION = {.key = "region", .kind = CFG_STRING, .only = T_TRACKER | T_KINESIS};
static const cfg_member TARGET_URL = {.key = "url", .kind = CFG_STRING, .presence = CFG_REQUIRED, .only = T_HTTP};
static const cfg_member TARGET_HEADERS = {.key = "headers", .kind = CFG_OBJECT, .only = T_HTTP};
static const cfg_member TARGET_PATH = {.key = "path", .kind = CFG_STRING, .presence = CFG_REQUIRED, .only = T_FILE};
static const cfg_member *const TARGET[] = {&TARGET_TYPE,         &TARGET_TRACKING_ID, &TARGET_STREAM_NAME,
                                           &TARGET_ENDPOINT_URL, &TARGET_REGION,      &TARGET_URL,
                                           &TARGET_HEADERS,      &TARGET_PATH};
/* How the unknown-key messages name each type. */
static const char *const TARGET_WHAT[] = {
    [PZ_TARGET_PERSONALIZE_EVENT_TRACKER] = "a personalize-event-tracker target",
    [PZ_TARGET_KINESIS_STREAM] = "a kinesis target",
    [PZ_TARGET_KINESIS_FIREHOSE] = "a kinesis target",
    [PZ_TARGET_BUILTIN] = "a builtin target",
    [PZ_TARGET_HTTP] = "an http target",
    [PZ_TARGET_FILE] = "a file target",
};

static void parse_target_headers(cfg_ctx *c, json_t *v, pz_event_target *t)
{
    if (v == NULL)
        return;
    size_t mark = cfg_push_key(c, TARGET_HEADERS.key);
    if (cfg_expect_object(c, v, "headers mapping header names to string values")) {
        size_t n = json_object_size(v);
        const char **names = pz_arena_calloc(c->arena, n, sizeof *names);
        const char **values = pz_arena_calloc(c->arena, n, sizeof *values);
        size_t i = 0;
        const char *name;
        json_t *value;
        json_object_foreach (v, name, value) {
            if (!cfg_is_http_token(name))
                cfg_error_at(c, name, "invalid header name; expected letters, digits and !#$%%&'*+-.^_`|~ only");
            else if (!json_is_string(value))
                cfg_error_at(c, name, "expected a string header value, got %s", cfg_type_name(value));
            else if (cfg_control_char_at(json_string_value(value), strlen(json_string_value(value))) >= 0)
                cfg_error_control_char(c, name, json_string_value(value),
                                       cfg_control_char_at(json_string_value(value), strlen(json_string_value(value))));
            names[i] = pz_arena_strdup(c->arena, name);
            values[i] = json_is_string(value) ? pz_arena_strdup(c->arena, json_string_value(value)) : "";
            i++;
        }
        t->header_names = names;
        t->header_values = values;
        t->n_headers = n;
    }
    cfg_pop(c, mark);
}

/* Our optional endpoint override and region on the AWS targets. */
static void parse_aws_target_location(cfg_ctx *c, json_t *v, pz_event_target *t)
{
    t->endpoint_url = cfg_string(c, v, &TARGET_ENDPOINT_URL, NULL);
    if (t->endpoint_url != NULL && !cfg_is_http_url(t->endpoint_url))
        cfg_error_at(c, TARGET_ENDPOINT_URL.key, "\"%.120s\" is not an http:// or https:// URL with a host",
                     t->endpoint_url);
    t->region = cfg_string(c, v, &TARGET_REGION, NULL);
    if (t->region != NULL &&
        (t->region[0] == '\0' || strspn(t->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(t->region)))
        cfg_error_at(c, TARGET_REGION.key, "invalid region \"%.60s\"; expected e.g. \"us-east-1\"", t->region);
}

#define TRACKING_ID_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
#define STREAM_NAME_CHARS TRACKING_ID_CHARS "_."

/* trackingId and streamName: upstream's schema patterns ([a-zA-Z0-9\-]+, [a-zA-Z0-9_.-]+) are
 * unanchored, so it accepts any value holding one such character. Those load, with a warning when
 * the whole value is not made of them (AWS will refuse it); a value without any is an error, as
 * upstream. Control characters never get here (cfg_string refuses them). */
static void check_unanchored(cfg_ctx *c, const cfg_member *m, const char *value, const char *chars,
                             const char *expected)
{
    if (value == NULL)
        return;
    size_t n = strlen(value);
    if (strpbrk(value, chars) == NULL)
        cfg_error_at(c, m->key, "\"%.80s\" has none of %s; expected %s only", value, expected, expected);
    else if (strspn(value, chars) != n)
        cfg_warn_at(c, m->key,
                    "\"%.80s\" is not %s only: upstream's pattern accepts it, but AWS will refuse it and every "
                    "event will wait in the outbox",
                    value, expected);
}

static void parse_event_target(cfg_ctx *c, json_t *v, pz_event_target *t)
{
    if (!cfg_expect_object(c, v, "an event target {\"type\": ..., ...}"))
        return;
    int type = cfg_enum(c, v, &TARGET_TYPE, TARGET_TYPES, COUNT(TARGET_TYPES),
                        "personalize-event-tracker, kinesis-stream, kinesis-firehose, builtin, http, file, kafka");
    if (type < 0)
        return;
    t->type = (pz_event_target_type)type;
    if (t->type == PZ_TARGET_KAFKA) { /* its own rows, from the Kafka settings table */
        cfg_parse_kafka_target(c, v, t);
        return;
    }
    cfg_check_members(c, v, TARGET, COUNT(TARGET), CFG_VARIANT(t->type), true, TARGET_WHAT[t->type]);
    switch (t->type) {
    case PZ_TARGET_PERSONALIZE_EVENT_TRACKER:
        t->tracking_id = cfg_string(c, v, &TARGET_TRACKING_ID, "a Personalize event tracker tracking ID");
        check_unanchored(c, &TARGET_TRACKING_ID, t->tracking_id, TRACKING_ID_CHARS, "letters, digits and '-'");
        parse_aws_target_location(c, v, t);
        break;
    case PZ_TARGET_KINESIS_STREAM:
    case PZ_TARGET_KINESIS_FIREHOSE:
        t->stream_name = cfg_string(c, v, &TARGET_STREAM_NAME, "a Kinesis stream or Firehose name");
        check_unanchored(c, &TARGET_STREAM_NAME, t->stream_name, STREAM_NAME_CHARS,
                         "letters, digits, '_', '.' and '-'");
        parse_aws_target_location(c, v, t);
        break;
    case PZ_TARGET_BUILTIN: break;
    case PZ_TARGET_HTTP:
        t->url = cfg_string(c, v, &TARGET_URL, "an http:// or https:// URL");
        if (t->url != NULL && !cfg_is_http_url(t->url))
            cfg_error_at(c, TARGET_URL.key, "\"%.120s\" is not an http:// or https:// URL with a host", t->url);
        parse_target_headers(c, cfg_get(v, &TARGET_HEADERS), t);
        break;
    case PZ_TARGET_FILE: t->path = cfg_string(c, v, &TARGET_PATH, "a file path to append events to"); break;
    case PZ_TARGET_KAFKA: break;       /* read above */
    case PZ_TARGET_EXPERIMENTS: break; /* not in TARGET_TYPES: cfg_enum never returns it */
    }
}

void cfg_parse_event_targets(cfg_ctx *c, json_t *v, pz_namespace *ns)
{
    ns->has_event_targets = true;
    if (!json_is_array(v)) {
        cfg_error(c, "expected an array of event targets, got %s", cfg_type_name(v));
        return;
    }
    pz_event_target *targets = pz_arena_calloc(c->arena, json_array_size(v), sizeof *targets);
    size_t i;
    json_t *t;
    json_array_foreach (v, i, t) {
        size_t t_mark = cfg_push_index(c, i);
        parse_event_target(c, t, &targets[i]);
        cfg_pop(c, t_mark);
    }
    ns->event_targets = targets;
    ns->n_event_targets = json_array_size(v);
}
