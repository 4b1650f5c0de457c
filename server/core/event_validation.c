#include "server/core/event_validation.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "server/core/ids.h"
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

static bool is_json_object_text(const char *text)
{
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    bool ok = v != NULL && json_is_object(v);
    json_decref(v);
    return ok;
}

static pz_status validate_event(const Personalization__V1__Event *ev, size_t i, pz_arena *arena, pz_error *err)
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
    }
    if (ev->has_sent_at && !(ev->sent_at >= 0 && isfinite(ev->sent_at)))
        return invalid(err, arena, code, "eventList[%zu].sentAt must be epoch seconds (>= 0)", i);
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

pz_status pz_events_validate(Personalization__V1__PutEventsRequest *in, const pz_namespace *ns, int64_t now_ms,
                             pz_arena *arena, pz_conversion **conversions, pz_error *err)
{
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
        pz_status s = validate_event(in->event_list[i], i, arena, err);
        if (s != PZ_OK)
            return s;
    }
    pz_status s = validate_conversions(in, ns, arena, conversions, err);
    if (s != PZ_OK)
        return s;
    /* Everything is valid: only now fill the defaults, so a rejected request is left untouched. */
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
    return PZ_OK;
}
