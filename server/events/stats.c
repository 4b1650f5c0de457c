/* Delivery statistics of the event pipeline (pipeline.h). */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/core/redact.h"
#include "server/events/pipeline_internal.h"
#include "server/events/record.h"

static void json_field_str(pz_buf *out, const char *key, const char *value)
{
    pz_buf_printf(out, "\"%s\":", key);
    if (value == NULL)
        pz_buf_append_str(out, "null");
    else
        pz_json_write_string(out, value, strlen(value));
}

static const char *state_of(const pz_target_slot *s)
{
    if (s->pending == 0)
        return "idle";
    if (s->retrying)
        return "retrying";
    if (s->type == PZ_TARGET_BUILTIN && !s->caught_up)
        return "catching-up";
    return "delivering";
}

static void slot_json(pz_buf *out, pz_target_slot *s)
{
    pthread_mutex_lock(&s->lock);
    pz_buf_append_char(out, '{');
    json_field_str(out, "id", s->shown);
    pz_buf_append_char(out, ',');
    json_field_str(out, "type", pz_target_type_name(s->type));
    pz_buf_append_char(out, ',');
    json_field_str(out, "namespace", s->ns);
    pz_buf_printf(out,
                  ",\"number\":%u,\"cursor\":%llu,\"lag\":%llu,\"delivered\":%llu,\"deliveredEvents\":%llu,"
                  "\"retried\":%llu,\"deadLettered\":%llu,",
                  s->number, (unsigned long long)s->cursor, (unsigned long long)s->pending,
                  (unsigned long long)s->delivered, (unsigned long long)s->delivered_events,
                  (unsigned long long)s->retried, (unsigned long long)s->dead_lettered);
    json_field_str(out, "state", state_of(s));
    pz_buf_append_char(out, ',');
    /* An error text may quote the target's URL (a connection error, a redirect). */
    char last_error[2 * PZ_DELIVERY_MAX_REASON + 8];
    pz_redact_urls(s->last_error, strlen(s->last_error), last_error, sizeof last_error);
    json_field_str(out, "lastError", last_error[0] ? last_error : NULL);
    pz_buf_printf(out, ",\"lastErrorAt\":%lld,\"lastDeliveryAt\":%lld}", (long long)s->last_error_ms,
                  (long long)s->last_ok_ms);
    pthread_mutex_unlock(&s->lock);
}

void pz_event_pipeline_stats_json(pz_event_pipeline *p, pz_buf *out)
{
    pz_outbox_info info;
    char err[256];
    if (pz_outbox_info_get(p->ob, &info, err, sizeof err) != 0)
        memset(&info, 0, sizeof info);
    pthread_mutex_lock(&p->lock);
    size_t queued = p->queued, exp_queued = p->exp_queued;
    pthread_mutex_unlock(&p->lock);
    pz_buf_printf(
        out,
        "{\"outbox\":{\"nextSeq\":%llu,\"oldestSeq\":%llu,\"records\":%zu,\"deadLetters\":%zu,"
        "\"replaysQueued\":%zu,\"usedBytes\":%zu,\"mapBytes\":%zu},"
        "\"accepted\":{\"calls\":%llu,\"events\":%llu,\"commits\":%llu},\"queuedCalls\":%zu,",
        (unsigned long long)info.next_seq, (unsigned long long)info.first_seq, info.records, info.dead_letters,
        info.replays_queued, info.used_bytes, info.map_bytes, (unsigned long long)atomic_load(&p->calls_accepted),
        (unsigned long long)atomic_load(&p->events_accepted), (unsigned long long)atomic_load(&p->commits), queued);
    pz_buf_printf(out,
                  "\"exposures\":{\"accepted\":%llu,\"dropped\":%llu,\"queued\":%zu},\"experimentRecords\":%llu,"
                  "\"targets\":[",
                  (unsigned long long)atomic_load(&p->exposures_accepted),
                  (unsigned long long)atomic_load(&p->exposures_dropped), exp_queued,
                  (unsigned long long)atomic_load(&p->experiment_records));
    pthread_mutex_lock(&p->reg_lock);
    for (size_t i = 0; i < p->n_slots; i++) {
        if (i > 0)
            pz_buf_append_char(out, ',');
        slot_json(out, p->slots[i]);
    }
    pthread_mutex_unlock(&p->reg_lock);
    pz_buf_append_str(out, "]}");
}

bool pz_event_pipeline_wait_delivered(pz_event_pipeline *p, int64_t timeout_ms)
{
    int64_t deadline = pz_now_ms() + timeout_ms;
    for (;;) {
        bool idle = true;
        pthread_mutex_lock(&p->lock);
        idle = p->head == NULL && p->exp_head == NULL && !p->busy;
        pthread_mutex_unlock(&p->lock);
        pthread_mutex_lock(&p->reg_lock);
        for (size_t i = 0; i < p->n_slots && idle; i++) {
            pz_target_slot *s = p->slots[i];
            pthread_mutex_lock(&s->lock);
            idle = s->pending == 0 && s->dead_head == NULL;
            pthread_mutex_unlock(&s->lock);
        }
        pthread_mutex_unlock(&p->reg_lock);
        if (idle)
            return true;
        if (pz_now_ms() >= deadline)
            return false;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}
