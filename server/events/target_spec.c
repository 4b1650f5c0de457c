/* Event target identity and specification (target_spec.h). */
#include "server/events/target_spec.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/mem.h"
#include "server/core/redact.h"

static const char *const TYPE_NAMES[] = {
    [PZ_TARGET_PERSONALIZE_EVENT_TRACKER] = "personalize-event-tracker",
    [PZ_TARGET_KINESIS_STREAM] = "kinesis-stream",
    [PZ_TARGET_KINESIS_FIREHOSE] = "kinesis-firehose",
    [PZ_TARGET_BUILTIN] = "builtin",
    [PZ_TARGET_HTTP] = "http",
    [PZ_TARGET_FILE] = "file",
    [PZ_TARGET_KAFKA] = "kafka",
    [PZ_TARGET_EXPERIMENTS] = "experiments",
};

const char *pz_target_type_name(pz_event_target_type t)
{
    return (size_t)t < sizeof TYPE_NAMES / sizeof TYPE_NAMES[0] ? TYPE_NAMES[t] : "unknown";
}

static const char *target_name(const pz_event_target *t)
{
    switch (t->type) {
    case PZ_TARGET_PERSONALIZE_EVENT_TRACKER: return t->tracking_id;
    case PZ_TARGET_KINESIS_STREAM:
    case PZ_TARGET_KINESIS_FIREHOSE: return t->stream_name;
    case PZ_TARGET_HTTP: return t->url;
    case PZ_TARGET_FILE: return t->path;
    case PZ_TARGET_KAFKA: /* made by target_id */
    case PZ_TARGET_BUILTIN:
    case PZ_TARGET_EXPERIMENTS: return NULL;
    }
    return NULL;
}

/* "<ns>/<type>[/<name>]"; a kafka target's name is "<topic>@<brokers>" (a topic is only unique
 * within its cluster). Malloc'ed. */
static char *target_id(const char *ns, const char *type, const pz_event_target *t)
{
    const char *name = target_name(t);
    const char *topic = t->kafka.v[PZ_KAFKA_TOPIC], *brokers = t->kafka.v[PZ_KAFKA_BROKERS];
    size_t len = strlen(ns) + strlen(type) + (name ? strlen(name) : 0) + 3;
    if (t->type == PZ_TARGET_KAFKA)
        len += (topic ? strlen(topic) : 0) + (brokers ? strlen(brokers) : 0) + 1;
    char *id = pz_malloc(len);
    if (t->type == PZ_TARGET_KAFKA)
        snprintf(id, len, "%s/%s/%s@%s", ns, type, topic ? topic : "", brokers ? brokers : "");
    else if (name != NULL)
        snprintf(id, len, "%s/%s/%s", ns, type, name);
    else
        snprintf(id, len, "%s/%s", ns, type);
    return id;
}

static void set_opt(json_t *o, const char *k, const char *v)
{
    if (v != NULL)
        json_object_set_new(o, k, json_string(v));
}

void pz_target_spec_render(const char *ns, const pz_event_target *t, char **id, char **spec_json)
{
    const char *type = pz_target_type_name(t->type);
    *id = target_id(ns, type, t);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "namespace", json_string(ns));
    set_opt(o, "trackingId", t->type == PZ_TARGET_PERSONALIZE_EVENT_TRACKER ? t->tracking_id : NULL);
    set_opt(o, "streamName", t->stream_name);
    set_opt(o, "url", t->url);
    set_opt(o, "path", t->path);
    set_opt(o, "endpointUrl", t->endpoint_url);
    set_opt(o, "region", t->region);
    for (int f = 0; t->type == PZ_TARGET_KAFKA && f < PZ_KAFKA__COUNT; f++)
        set_opt(o, pz_kafka_field_at((pz_kafka_field)f)->key, t->kafka.v[f]);
    if (t->type == PZ_TARGET_HTTP && t->n_headers > 0) {
        json_t *h = json_object();
        for (size_t i = 0; i < t->n_headers; i++)
            json_object_set_new(h, t->header_names[i], json_string(t->header_values[i]));
        json_object_set_new(o, "headers", h);
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (text == NULL)
        pz_fatal("cannot render an event target spec");
    *spec_json = pz_strdup(text);
    free(text);
}

static char *opt_dup(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v != NULL ? pz_strdup(v) : NULL;
}

int pz_target_spec_parse(const char *spec_json, pz_target_spec *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    json_t *o = json_loads(spec_json, 0, NULL);
    const char *type = json_string_value(json_object_get(o, "type"));
    const char *ns = json_string_value(json_object_get(o, "namespace"));
    int t = -1;
    for (size_t i = 0; type != NULL && i < sizeof TYPE_NAMES / sizeof TYPE_NAMES[0]; i++) {
        if (strcmp(type, TYPE_NAMES[i]) == 0)
            t = (int)i;
    }
    if (t < 0 || ns == NULL) {
        snprintf(err, errlen, "not an event target spec (type '%.40s')", type != NULL ? type : "");
        json_decref(o);
        return -1;
    }
    out->type = (pz_event_target_type)t;
    out->ns = pz_strdup(ns);
    out->tracking_id = opt_dup(o, "trackingId");
    out->stream_name = opt_dup(o, "streamName");
    out->url = opt_dup(o, "url");
    out->path = opt_dup(o, "path");
    out->endpoint_url = opt_dup(o, "endpointUrl");
    out->region = opt_dup(o, "region");
    for (int f = 0; out->type == PZ_TARGET_KAFKA && f < PZ_KAFKA__COUNT; f++)
        out->kafka[f] = opt_dup(o, pz_kafka_field_at((pz_kafka_field)f)->key);
    json_t *h = json_object_get(o, "headers");
    if (json_is_object(h) && json_object_size(h) > 0) {
        out->n_headers = json_object_size(h);
        out->header_names = pz_calloc(out->n_headers, sizeof(char *));
        out->header_values = pz_calloc(out->n_headers, sizeof(char *));
        size_t i = 0;
        const char *k;
        json_t *v;
        json_object_foreach (h, k, v) {
            out->header_names[i] = pz_strdup(k);
            out->header_values[i] = pz_strdup(json_string_value(v) ? json_string_value(v) : "");
            i++;
        }
    }
    pz_event_target cfg = {.type = out->type,
                           .tracking_id = out->tracking_id,
                           .stream_name = out->stream_name,
                           .url = out->url,
                           .path = out->path};
    for (int f = 0; f < PZ_KAFKA__COUNT; f++)
        cfg.kafka.v[f] = out->kafka[f];
    out->id = target_id(ns, type, &cfg);
    json_decref(o);
    return 0;
}

void pz_target_spec_free(pz_target_spec *s)
{
    free(s->ns);
    free(s->id);
    free(s->tracking_id);
    free(s->stream_name);
    free(s->url);
    free(s->path);
    free(s->endpoint_url);
    free(s->region);
    for (int f = 0; f < PZ_KAFKA__COUNT; f++)
        free(s->kafka[f]);
    for (size_t i = 0; i < s->n_headers; i++) {
        free(s->header_names[i]);
        free(s->header_values[i]);
    }
    free(s->header_names);
    free(s->header_values);
    memset(s, 0, sizeof *s);
}

char *pz_target_display_id(const char *id)
{
    /* "<namespace>/<type>/<name>": neither a namespace nor a type name holds a '/'. */
    const char *type = strchr(id, '/');
    const char *name = type != NULL ? strchr(type + 1, '/') : NULL;
    if (name == NULL)
        return pz_strdup(id);
    size_t head = (size_t)(name + 1 - id);
    char *shown;
    if (strncmp(type + 1, "personalize-event-tracker/", strlen("personalize-event-tracker/")) == 0)
        shown = pz_redact_token(name + 1);
    else if (strncmp(type + 1, "http/", strlen("http/")) == 0)
        shown = pz_redact_urls_dup(name + 1);
    else
        return pz_strdup(id);
    char *out = pz_malloc(head + strlen(shown) + 1);
    memcpy(out, id, head);
    strcpy(out + head, shown);
    free(shown);
    return out;
}

bool pz_target_id_matches(const char *id, const char *given)
{
    if (strcmp(id, given) == 0)
        return true;
    char *shown = pz_target_display_id(id);
    bool same = strcmp(shown, given) == 0;
    free(shown);
    return same;
}

static void replace_string(json_t *o, const char *key, char *shown)
{
    if (json_is_string(json_object_get(o, key)))
        json_object_set_new(o, key, json_string(shown));
    free(shown);
}

char *pz_target_spec_display_json(const char *spec_json)
{
    json_t *o = json_loads(spec_json, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return pz_strdup("null");
    }
    const char *v;
    if ((v = json_string_value(json_object_get(o, "trackingId"))) != NULL)
        replace_string(o, "trackingId", pz_redact_token(v));
    if ((v = json_string_value(json_object_get(o, "url"))) != NULL)
        replace_string(o, "url", pz_redact_urls_dup(v));
    if ((v = json_string_value(json_object_get(o, "endpointUrl"))) != NULL)
        replace_string(o, "endpointUrl", pz_redact_urls_dup(v));
    for (int f = 0; f < PZ_KAFKA__COUNT; f++) {
        const pz_kafka_field_info *info = pz_kafka_field_at((pz_kafka_field)f);
        if (info->secret && json_is_string(json_object_get(o, info->key)))
            json_object_set_new(o, info->key, json_string(PZ_REDACTED));
    }
    json_t *h = json_object_get(o, "headers");
    const char *k;
    json_t *hv;
    json_object_foreach (h, k, hv)
        json_object_set_new(h, k, json_string(PZ_REDACTED));
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    char *out = pz_strdup(text != NULL ? text : "null");
    free(text);
    return out;
}
