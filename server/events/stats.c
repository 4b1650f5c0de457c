/* Delivery statistics and metrics of the event pipeline (pipeline.h). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/core/mem.h"
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

/* ---- metrics ---- */

/* One target's figures, copied under its lock. */
typedef struct slot_figures {
    char id[256], type[32], ns[80];
    uint64_t delivered, delivered_events, retried, dead_lettered, pending, cursor;
    bool retrying;
} slot_figures;

static const char *const TARGET_LABELS[] = {"target", "type", "namespace"};

static void target_counter(pz_metrics_writer *w, const char *name, pz_metric_type type, const char *help,
                           const slot_figures *f, size_t n, size_t offset)
{
    pz_metrics_write_family(w, name, type, help);
    for (size_t i = 0; i < n; i++) {
        const char *values[] = {f[i].id, f[i].type, f[i].ns};
        pz_metrics_write_sample(w, name, 3, TARGET_LABELS, values,
                                (double)*(const uint64_t *)((const char *)&f[i] + offset));
    }
}

void pz_event_pipeline_collect_metrics(pz_event_pipeline *p, pz_metrics_writer *w, int64_t now_ms)
{
    pz_outbox_info info;
    char err[256];
    if (pz_outbox_info_get(p->ob, &info, err, sizeof err) != 0)
        memset(&info, 0, sizeof info);
    pthread_mutex_lock(&p->lock);
    size_t queued = p->queued;
    pthread_mutex_unlock(&p->lock);
    pz_metrics_write_single(w, "pz_events_accepted_calls_total", PZ_METRIC_COUNTER,
                            "PutEvents calls made durable and acknowledged.", (double)atomic_load(&p->calls_accepted));
    pz_metrics_write_single(w, "pz_events_accepted_total", PZ_METRIC_COUNTER, "Events made durable and acknowledged.",
                            (double)atomic_load(&p->events_accepted));
    pz_metrics_write_single(w, "pz_events_commits_total", PZ_METRIC_COUNTER,
                            "Outbox commits that stored calls (calls per commit is the group-commit factor).",
                            (double)atomic_load(&p->commits));
    pz_metrics_write_single(w, "pz_events_queued_calls", PZ_METRIC_GAUGE, "Calls waiting for the outbox writer.",
                            (double)queued);
    pz_metrics_write_single(w, "pz_event_outbox_records", PZ_METRIC_GAUGE,
                            "Records in the outbox (not yet delivered to every target).", (double)info.records);
    pz_metrics_write_single(w, "pz_event_outbox_dead_letters", PZ_METRIC_GAUGE,
                            "Records a target rejected, kept until replayed.", (double)info.dead_letters);
    pz_metrics_write_single(w, "pz_event_outbox_used_bytes", PZ_METRIC_GAUGE, "Outbox pages in use.",
                            (double)info.used_bytes);
    pz_metrics_write_single(w, "pz_event_outbox_map_bytes", PZ_METRIC_GAUGE,
                            "The most the outbox may hold (--outbox-map-mb); a full outbox refuses events.",
                            (double)info.map_bytes);

    pthread_mutex_lock(&p->reg_lock);
    size_t n = p->n_slots;
    slot_figures *f = pz_calloc(n ? n : 1, sizeof *f);
    for (size_t i = 0; i < n; i++) {
        pz_target_slot *s = p->slots[i];
        pthread_mutex_lock(&s->lock);
        pz_copy_cut(f[i].id, sizeof f[i].id, s->shown); /* the display form: no secret in a label */
        pz_copy_cut(f[i].type, sizeof f[i].type, pz_target_type_name(s->type));
        pz_copy_cut(f[i].ns, sizeof f[i].ns, s->ns);
        f[i].delivered = s->delivered;
        f[i].delivered_events = s->delivered_events;
        f[i].retried = s->retried;
        f[i].dead_lettered = s->dead_lettered;
        f[i].pending = s->pending;
        f[i].cursor = s->cursor;
        f[i].retrying = s->retrying && s->pending > 0;
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&p->reg_lock);

    target_counter(w, "pz_event_target_delivered_records_total", PZ_METRIC_COUNTER,
                   "Records delivered to an event target.", f, n, offsetof(slot_figures, delivered));
    target_counter(w, "pz_event_target_delivered_events_total", PZ_METRIC_COUNTER,
                   "Events delivered to an event target.", f, n, offsetof(slot_figures, delivered_events));
    target_counter(w, "pz_event_target_retries_total", PZ_METRIC_COUNTER,
                   "Deliveries to an event target that failed and are retried.", f, n, offsetof(slot_figures, retried));
    target_counter(w, "pz_event_target_dead_lettered_total", PZ_METRIC_COUNTER,
                   "Records an event target rejected for good (kept as dead letters).", f, n,
                   offsetof(slot_figures, dead_lettered));
    target_counter(w, "pz_event_target_lag_records", PZ_METRIC_GAUGE,
                   "Records accepted for an event target and not yet delivered or dead-lettered.", f, n,
                   offsetof(slot_figures, pending));
    pz_metrics_write_family(w, "pz_event_target_lag_seconds", PZ_METRIC_GAUGE,
                            "Age of the oldest record an event target has not finished (0 when caught up).");
    for (size_t i = 0; i < n; i++) {
        const char *values[] = {f[i].id, f[i].type, f[i].ns};
        double lag = 0;
        if (f[i].pending > 0) {
            int64_t at = pz_commit_clock_time_of(&p->commit_clock, f[i].cursor);
            lag = now_ms > at ? (double)(now_ms - at) / 1000.0 : 0;
        }
        pz_metrics_write_sample(w, "pz_event_target_lag_seconds", 3, TARGET_LABELS, values, lag);
    }
    pz_metrics_write_family(w, "pz_event_target_retrying", PZ_METRIC_GAUGE,
                            "1 while an event target's last call failed and it backs off, else 0.");
    for (size_t i = 0; i < n; i++) {
        const char *values[] = {f[i].id, f[i].type, f[i].ns};
        pz_metrics_write_sample(w, "pz_event_target_retrying", 3, TARGET_LABELS, values, f[i].retrying ? 1 : 0);
    }
    free(f);
}
