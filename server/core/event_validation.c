#include "server/core/event_validation.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "server/core/buf.h"
#include "server/core/ids.h"
#include "server/core/json_text.h"
#include "server/core/log.h"

/* ---- validation ---- */

/* Fills *err with a 400 Validation error and returns PZ_INVALID_ARGUMENT. */
__attribute__((format(printf, 4, 5))) static pz_status invalid(pz_error *err, pz_arena *arena, const char *code,
                                                               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err->status = PZ_INVALID_ARGUMENT;
    err->type = PZ_ERRTYPE_VALIDATION;
    err->code = code;
    err->message = pz_arena_strdup(arena, msg);
    return PZ_INVALID_ARGUMENT;
}

/* An optional string: absent (NULL) is fine; present must be 1..max characters. */
static bool length_ok(const char *s, size_t max)
{
    if (s == NULL)
        return true;
    size_t n = strlen(s);
    return n >= 1 && n <= max;
}

static bool has_target(const pz_namespace *ns, pz_event_target_type type)
{
    for (size_t i = 0; i < ns->n_event_targets; i++) {
        if (ns->event_targets[i].type == type)
            return true;
    }
    return false;
}

/* The deepest nesting of objects and arrays in valid JSON text (a scalar is 0, {} is 1). */
static int json_text_depth(const char *text)
{
    int depth = 0, deepest = 0;
    bool in_string = false;
    for (const char *p = text; *p != '\0'; p++) {
        if (in_string) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            else if (*p == '"')
                in_string = false;
        } else if (*p == '"') {
            in_string = true;
        } else if (*p == '{' || *p == '[') {
            if (++depth > deepest)
                deepest = depth;
        } else if (*p == '}' || *p == ']') {
            depth--;
        }
    }
    return deepest;
}

static bool is_json_object_text(const char *text)
{
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    bool ok = v != NULL && json_is_object(v);
    json_decref(v);
    return ok;
}

static pz_status validate_event(const Personalization__V1__Event *ev, size_t i, int64_t now_ms, pz_arena *arena,
                                pz_error *err)
{
    const char *code = "ValidationError";
    const size_t max = PZ_EVENTS_MAX_ID_LEN;
    if (ev->event_type == NULL || !length_ok(ev->event_type, max))
        return invalid(err, arena, code, "eventList[%zu].eventType is required (1 to %zu characters)", i, max);
    if (!length_ok(ev->event_id, max))
        return invalid(err, arena, code, "eventList[%zu].eventId must be 1 to %zu characters", i, max);
    if (!length_ok(ev->item_id, max))
        return invalid(err, arena, code, "eventList[%zu].itemId must be 1 to %zu characters", i, max);
    if (!length_ok(ev->recommendation_id, max))
        return invalid(err, arena, code, "eventList[%zu].recommendationId must be 1 to %zu characters", i, max);
    if (ev->n_impression > PZ_EVENTS_MAX_IMPRESSIONS)
        return invalid(err, arena, code, "eventList[%zu].impression holds at most %d item ids (got %zu)", i,
                       PZ_EVENTS_MAX_IMPRESSIONS, ev->n_impression);
    for (size_t k = 0; k < ev->n_impression; k++) {
        if (ev->impression[k] == NULL || !length_ok(ev->impression[k], max))
            return invalid(err, arena, code, "eventList[%zu].impression[%zu] must be 1 to %zu characters", i, k, max);
    }
    if (ev->properties != NULL) {
        if (strlen(ev->properties) > PZ_EVENTS_MAX_PROPERTIES_LEN)
            return invalid(err, arena, code, "eventList[%zu].properties must be at most %d characters", i,
                           PZ_EVENTS_MAX_PROPERTIES_LEN);
        if (!is_json_object_text(ev->properties))
            return invalid(err, arena, code, "eventList[%zu].properties must be a JSON object encoded as a string", i);
        if (json_text_depth(ev->properties) > PZ_EVENTS_MAX_PROPERTIES_DEPTH)
            return invalid(err, arena, code, "eventList[%zu].properties must be nested at most %d levels", i,
                           PZ_EVENTS_MAX_PROPERTIES_DEPTH);
    }
    if (ev->has_sent_at && !(ev->sent_at >= 0 && isfinite(ev->sent_at)))
        return invalid(err, arena, code, "eventList[%zu].sentAt must be epoch seconds (>= 0)", i);
    /* Compared in seconds, as doubles: no conversion of the client's value can overflow. */
    double now_s = (double)now_ms / 1000.0;
    if (ev->has_sent_at && ev->sent_at > now_s + PZ_EVENTS_MAX_CLOCK_SKEW_S)
        return invalid(err, arena, code,
                       "eventList[%zu].sentAt is %.0f seconds after the server's clock; at most %d seconds of clock "
                       "skew are accepted",
                       i, ev->sent_at - now_s, PZ_EVENTS_MAX_CLOCK_SKEW_S);
    if (ev->has_sent_at && ev->sent_at < now_s - PZ_EVENTS_MAX_AGE_S)
        return invalid(err, arena, code, "eventList[%zu].sentAt is more than %d days in the past", i,
                       PZ_EVENTS_MAX_AGE_S / 86400);
    if (ev->metric_attribution != NULL &&
        !length_ok(ev->metric_attribution->event_attribution_source, PZ_EVENTS_MAX_ATTRIBUTION_LEN))
        return invalid(err, arena, code,
                       "eventList[%zu].metricAttribution.eventAttributionSource must be 1 to %d characters", i,
                       PZ_EVENTS_MAX_ATTRIBUTION_LEN);
    if (ev->has_event_value && !isfinite(ev->event_value))
        return invalid(err, arena, code, "eventList[%zu].eventValue must be a finite number", i);
    return PZ_OK;
}

/* Spec §7.3: userId is required with conversions; each one resolves to an experiment, a metric
 * and the user's variation (server/core/experiment.h), or the call is rejected. */
static pz_status validate_conversions(const Personalization__V1__PutEventsRequest *in, const pz_namespace *ns,
                                      pz_arena *arena, pz_conversion **out, pz_error *err)
{
    *out = NULL;
    if (in->n_experiment_conversions == 0)
        return PZ_OK;
    if (in->user_id == NULL)
        return invalid(err, arena, "UserIdRequired", "userId is required with experimentConversions");
    pz_conversion *list = pz_arena_calloc(arena, in->n_experiment_conversions, sizeof *list);
    for (size_t i = 0; i < in->n_experiment_conversions; i++) {
        pz_status s = pz_conversion_resolve(ns, in->user_id, in->experiment_conversions[i], i, &list[i], arena, err);
        if (s != PZ_OK)
            return s;
    }
    *out = list;
    return PZ_OK;
}

bool pz_events_forward_only(const pz_namespace *ns)
{
    for (size_t i = 0; i < ns->n_event_targets; i++) {
        switch (ns->event_targets[i].type) {
        case PZ_TARGET_KINESIS_STREAM:
        case PZ_TARGET_KINESIS_FIREHOSE:
        case PZ_TARGET_HTTP:
        case PZ_TARGET_FILE:
        case PZ_TARGET_EXPERIMENTS: continue; /* the last is never configured: it takes experiment records */
        case PZ_TARGET_KAFKA:
            /* A namespace's event log feeds every instance's builtin recommender: PutEvents shape. */
            if (ns->event_targets[i].event_log)
                return false;
            continue;
        case PZ_TARGET_PERSONALIZE_EVENT_TRACKER:
        case PZ_TARGET_BUILTIN: return false;
        }
        return false;
    }
    return ns->n_event_targets > 0;
}

/* The server's defaults in each event: a minted eventId (consumers deduplicate by it) and sentAt. */
static void fill_defaults(Personalization__V1__PutEventsRequest *in, int64_t now_ms, pz_arena *arena)
{
    for (size_t i = 0; i < in->n_event_list; i++) {
        Personalization__V1__Event *ev = in->event_list[i];
        if (ev->event_id == NULL) {
            char *id = pz_arena_alloc(arena, PZ_UUID_SIZE);
            pz_uuid4(id);
            ev->event_id = id;
        }
        if (!ev->has_sent_at) {
            ev->has_sent_at = 1;
            ev->sent_at = (double)(now_ms / 1000);
        }
    }
}

pz_status pz_events_validate(Personalization__V1__PutEventsRequest *in, const pz_namespace *ns, int64_t now_ms,
                             pz_arena *arena, pz_conversion **conversions, pz_error *err)
{
    if (pz_events_forward_only(ns)) { /* the targets forward anything: no PutEvents limits */
        pz_status s = validate_conversions(in, ns, arena, conversions, err);
        if (s == PZ_OK)
            fill_defaults(in, now_ms, arena);
        return s;
    }
    const char *code = "ValidationError";
    const size_t max = PZ_EVENTS_MAX_ID_LEN;
    if (in->n_event_list == 0 && in->n_experiment_conversions == 0)
        return invalid(err, arena, code, "the body needs eventList (1 to %d events) or experimentConversions",
                       PZ_EVENTS_MAX_PER_CALL);
    if (in->n_event_list > PZ_EVENTS_MAX_PER_CALL)
        return invalid(err, arena, code, "eventList holds at most %d events per call (got %zu)", PZ_EVENTS_MAX_PER_CALL,
                       in->n_event_list);
    if (in->n_event_list > 0 && in->session_id == NULL && has_target(ns, PZ_TARGET_PERSONALIZE_EVENT_TRACKER))
        return invalid(err, arena, code,
                       "sessionId is required: namespace '%s' sends events to a Personalize event tracker", ns->key);
    if (!length_ok(in->session_id, max))
        return invalid(err, arena, code, "sessionId must be 1 to %zu characters", max);
    if (!length_ok(in->user_id, max))
        return invalid(err, arena, code, "userId must be 1 to %zu characters", max);
    for (size_t i = 0; i < in->n_event_list; i++) {
        pz_status s = validate_event(in->event_list[i], i, now_ms, arena, err);
        if (s != PZ_OK)
            return s;
    }
    pz_status s = validate_conversions(in, ns, arena, conversions, err);
    if (s != PZ_OK)
        return s;
    /* Everything is valid: only now fill the defaults, so a rejected request is left untouched. */
    fill_defaults(in, now_ms, arena);
    return PZ_OK;
}

/* ---- forwarded bodies ---- */

/* Compact JSON of a jansson value: keys in their order, strings escaped as everywhere else
 * (json_text.h), integers as read, reals in their shortest round-trip form (jansson's own writer
 * would print 0.1 as 0.10000000000000001). */
static int write_json(pz_buf *b, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        int rc = pz_buf_append_char(b, '{');
        bool first = true;
        const char *key;
        json_t *member;
        json_object_foreach ((json_t *)v, key, member) {
            if (!first)
                rc |= pz_buf_append_char(b, ',');
            first = false;
            rc |= pz_json_write_string(b, key, strlen(key));
            rc |= pz_buf_append_char(b, ':');
            rc |= write_json(b, member);
        }
        return rc | pz_buf_append_char(b, '}');
    }
    case JSON_ARRAY: {
        int rc = pz_buf_append_char(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0)
                rc |= pz_buf_append_char(b, ',');
            rc |= write_json(b, json_array_get(v, i));
        }
        return rc | pz_buf_append_char(b, ']');
    }
    case JSON_STRING: return pz_json_write_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER: return pz_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL: {
        char tmp[40];
        size_t n = pz_format_double_roundtrip(json_real_value(v), tmp);
        /* keep it a real for readers that tell 1.0 from 1 (as the client wrote it) */
        bool integral = strspn(tmp, "-0123456789") == n;
        return pz_buf_append(b, tmp, n) | (integral ? pz_buf_append_str(b, ".0") : 0);
    }
    case JSON_TRUE: return pz_buf_append_str(b, "true");
    case JSON_FALSE: return pz_buf_append_str(b, "false");
    case JSON_NULL: return pz_buf_append_str(b, "null");
    }
    return -1;
}

/* The nesting of text, brackets inside strings aside (the text is JSON: jansson read it). */
static int json_depth(const char *s, size_t len)
{
    int depth = 0, deepest = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > deepest)
                deepest = depth;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return deepest;
}

static char *string_member(json_t *obj, const char *key, pz_arena *arena)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? pz_arena_strdup(arena, json_string_value(v)) : NULL;
}

/* experimentConversions of a forwarded body into the message, for the same rules as a typed call. */
static pz_status read_conversions(json_t *root, Personalization__V1__PutEventsRequest *in, pz_arena *arena,
                                  pz_error *err)
{
    json_t *list = json_object_get(root, "experimentConversions");
    if (list == NULL || json_is_null(list))
        return PZ_OK;
    if (!json_is_array(list))
        return invalid(err, arena, "InvalidExperimentConversions", "experimentConversions must be an array");
    size_t n = json_array_size(list);
    in->experiment_conversions = pz_arena_calloc(arena, n ? n : 1, sizeof *in->experiment_conversions);
    size_t i;
    json_t *c;
    json_array_foreach (list, i, c) {
        json_t *value = json_object_get(c, "value");
        static const char *const STRINGS[] = {"recommender", "feature", "metric"};
        bool ok = json_is_object(c) && (value == NULL || json_is_null(value) || json_is_number(value));
        for (size_t k = 0; ok && k < sizeof STRINGS / sizeof STRINGS[0]; k++) {
            json_t *v = json_object_get(c, STRINGS[k]);
            ok = v == NULL || json_is_null(v) || json_is_string(v);
        }
        if (!ok)
            return invalid(err, arena, "InvalidExperimentConversions",
                           "experimentConversions[%zu] must be {recommender, feature?, metric?: strings, value?: "
                           "number}",
                           i);
        Personalization__V1__ExperimentConversion *m =
            (Personalization__V1__ExperimentConversion *)pz_arena_new_message(
                arena, &personalization__v1__experiment_conversion__descriptor);
        m->recommender = string_member(c, "recommender", arena);
        m->feature = string_member(c, "feature", arena);
        m->metric = string_member(c, "metric", arena);
        if (json_is_number(value)) {
            m->has_value = 1;
            m->value = json_number_value(value);
        }
        in->experiment_conversions[in->n_experiment_conversions++] = m;
    }
    return PZ_OK;
}

pz_status pz_events_read_body(const char *body, size_t len, int64_t now_ms, pz_arena *arena,
                              Personalization__V1__PutEventsRequest *in, pz_events_body *out, pz_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body != NULL ? body : "", len, 0, &jerr);
    if (root == NULL)
        return invalid(err, arena, "InvalidJSONRequestPayload", "%s: line %d column %d (char %d)", jerr.text, jerr.line,
                       jerr.column, jerr.position);
    if (!json_is_object(root) || json_depth(body, len) > PZ_EVENTS_MAX_DEPTH) {
        bool object = json_is_object(root);
        json_decref(root);
        return object
                   ? invalid(err, arena, "ValidationError", "the body nests deeper than %d levels", PZ_EVENTS_MAX_DEPTH)
                   : invalid(err, arena, "ValidationError", "the body must be a JSON object");
    }
    /* the body is what the call is: the message keeps only its path's namespace */
    in->n_event_list = 0;
    in->event_list = NULL;
    in->n_experiment_conversions = 0;
    in->experiment_conversions = NULL;
    in->session_id = string_member(root, "sessionId", arena);
    in->user_id = string_member(root, "userId", arena);
    if (read_conversions(root, in, arena, err) != PZ_OK) {
        json_decref(root);
        return PZ_INVALID_ARGUMENT;
    }
    json_t *list = json_object_get(root, "eventList");
    size_t i;
    json_t *ev;
    json_array_foreach (list, i, ev) { /* no-op unless an array */
        if (!json_is_object(ev))
            continue;
        if (json_object_get(ev, "eventId") == NULL) {
            char id[PZ_UUID_SIZE];
            pz_uuid4(id);
            json_object_set_new(ev, "eventId", json_string(id));
        }
        if (json_object_get(ev, "sentAt") == NULL)
            json_object_set_new(ev, "sentAt", json_integer((json_int_t)(now_ms / 1000)));
    }
    pz_buf b;
    pz_buf_init(&b, len * 2 + 4096); /* escapes and defaults grow it; the record limit applies later */
    int rc = write_json(&b, root);
    *out = (pz_events_body){.n_events = json_is_array(list) ? json_array_size(list) : 0};
    json_decref(root);
    if (rc != 0) {
        pz_buf_free(&b);
        return invalid(err, arena, "ValidationError", "the body is too large to store");
    }
    out->json = pz_arena_strndup(arena, b.data, b.len);
    out->len = b.len;
    pz_buf_free(&b);
    return PZ_OK;
}
