/* One round of the event pipeline's writer (pipeline_internal.h): a single outbox transaction
 * holding the queued calls, the workers' progress, replays, retirements and reclamation; after
 * the commit, the builtin targets and the answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/log.h"
#include "server/core/num.h"
#include "server/core/status.h"
#include "server/events/pipeline_internal.h"
#include "server/events/record.h"

#define REPLAYS_PER_ROUND 1000
#define RECLAIM_PER_ROUND 20000

/* What one round changes in memory once its transaction commits. */
typedef struct slot_change {
    pz_target_slot *s;
    bool is_new;
    uint64_t appended; /* records of this round naming the pz_target_slot */
    bool replayed;     /* a replayed record names it (builtin: let the worker apply) */
    char *new_spec;    /* the configuration changed the spec */
    uint64_t cursor_to_save;
    bool save_cursor;
    pz_dead_item *dead; /* taken from the slot, stored in this round */
    bool retire;
    pz_worker *worker; /* is_new: its parked delivery thread (NULL with no_dispatch) */
} slot_change;

typedef struct round_changes {
    slot_change *changes;
    size_t n, cap;
} round_changes;

static slot_change *change_for(round_changes *r, pz_target_slot *s)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->changes[i].s == s)
            return &r->changes[i];
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->changes = pz_realloc(r->changes, r->cap * sizeof *r->changes);
    }
    slot_change *c = &r->changes[r->n++];
    memset(c, 0, sizeof *c);
    c->s = s;
    return c;
}

/* A registered target, or one this round registers. */
static pz_target_slot *find_slot(pz_event_pipeline *p, const round_changes *r, const char *id)
{
    pz_target_slot *s = pz_registry_find_id(p, id);
    for (size_t i = 0; s == NULL && i < r->n; i++) {
        if (r->changes[i].is_new && strcmp(r->changes[i].s->id, id) == 0)
            s = r->changes[i].s;
    }
    return s;
}

/* ---- completing calls ---- */

static void complete_ok(pz_event_job *job)
{
    if (job->submission != NULL)
        job->submission->done(job->submission, NULL);
}

static void complete_failed(pz_event_job *job, const char *why)
{
    pz_event_submission *s = job->submission;
    if (s == NULL) {
        pz_warn("events: %zu exposure record(s) lost: %s", job->n_records, why);
        return;
    }
    pz_error e;
    pz_error_setf(&e, s->arena, PZ_UNAVAILABLE, PZ_ERRTYPE_UNHANDLED, "EventStoreUnavailable",
                  "the events could not be stored and were not accepted: %s", why);
    s->done(s, &e);
}

/* A call that cannot get delivery threads for its new targets is refused before it writes
 * anything; the log says so at most every few seconds, so a flood of such calls cannot flood it. */
#define REFUSAL_LOG_INTERVAL_MS 5000

static void refuse_job(pz_event_pipeline *p, pz_event_job *job, const char *why)
{
    pz_event_submission *sub = job->submission;
    int64_t now = pz_now_ms();
    if (now - p->worker_error_logged_ms >= REFUSAL_LOG_INTERVAL_MS) {
        p->worker_error_logged_ms = now;
        pz_error_log("events: %s for namespace '%s' refused: %s (logged at most every %d s)",
                     sub != NULL ? "calls" : "exposure records", job->ns, why, REFUSAL_LOG_INTERVAL_MS / 1000);
    }
    job->refused = true;
    if (sub == NULL) /* an exposure: nobody waits for it */
        return;
    pz_error e;
    pz_error_setf(&e, sub->arena, PZ_UNAVAILABLE, PZ_ERRTYPE_UNHANDLED, "DeliveryCapacityExhausted",
                  "the events were not accepted: %s", why);
    sub->done(sub, &e);
}

/* Admits a job whose targets are not all registered yet: within max_targets, and with a delivery
 * thread started (parked) for each new one, before anything of the job is written. Returns false
 * when the job was refused. */
static bool admit_job(pz_event_pipeline *p, const round_changes *r, pz_event_job *job)
{
    size_t needed = 0, new_in_round = 0;
    for (size_t i = 0; i < r->n; i++)
        new_in_round += r->changes[i].is_new;
    for (size_t k = 0; k < job->n_targets; k++) {
        bool seen = find_slot(p, r, job->targets[k].id) != NULL;
        for (size_t j = 0; j < k && !seen; j++)
            seen = strcmp(job->targets[j].id, job->targets[k].id) == 0;
        needed += !seen;
    }
    if (needed == 0)
        return true;
    if (p->n_slots + new_in_round + needed > p->opts.max_targets) {
        char why[160];
        snprintf(why, sizeof why, "the server delivers to at most %zu event targets (one thread each)",
                 p->opts.max_targets);
        refuse_job(p, job, why);
        return false;
    }
    /* Once the pipeline stops, its workers are joined: a target first seen in the last rounds
     * (an exposure queued just before SIGTERM) gets no thread that would outlive them and the
     * stores they write to; its records wait in the outbox for the next start. */
    if (p->opts.no_dispatch || atomic_load(&p->workers_stopping))
        return true;
    job->parked = pz_arena_calloc(job->arena, needed, sizeof *job->parked);
    char why[160];
    while (job->n_parked < needed) {
        pz_worker *w = pz_worker_park(p, why, sizeof why);
        if (w == NULL) {
            while (job->n_parked > 0)
                pz_worker_abandon(job->parked[--job->n_parked]);
            refuse_job(p, job, why);
            return false;
        }
        job->parked[job->n_parked++] = w;
    }
    return true;
}

/* Ends the parked threads a job did not use (its round failed before registering its targets). */
static void abandon_unused(pz_event_job *job)
{
    while (job->n_parked > job->used_parked)
        pz_worker_abandon(job->parked[--job->n_parked]);
}

void pz_pipeline_start_missing_workers(pz_event_pipeline *p)
{
    if (p->opts.no_dispatch)
        return;
    for (size_t i = 0; i < p->n_slots; i++) {
        pz_target_slot *s = p->slots[i];
        if (s->worker != NULL)
            continue;
        char err[160];
        s->worker = pz_worker_start(p, s, err, sizeof err);
        int64_t now = pz_now_ms();
        if (s->worker == NULL && now - p->worker_error_logged_ms >= REFUSAL_LOG_INTERVAL_MS) {
            p->worker_error_logged_ms = now;
            pz_error_log("events: target %s: %s; its records wait in the outbox, retried every housekeeping round",
                         s->shown, err);
        }
    }
}

typedef struct replay_ctx {
    pz_event_pipeline *p;
    pz_outbox_txn *t;
    round_changes *r;
    char *err;
    size_t errlen;
} replay_ctx;

static int on_replay(void *ctx, const pz_outbox_dead *d)
{
    replay_ctx *rc = ctx;
    pz_target_slot *s = pz_registry_find_number(rc->p, d->number);
    if (s == NULL) {
        /* The target is gone: keep the record as a dead letter, never drop it. */
        pz_warn("events: cannot replay record %llu to %s: the target is no longer registered; kept as a dead "
                "letter",
                (unsigned long long)d->seq, d->target_id);
        return pz_outbox_put_dead(rc->t, d, rc->err, rc->errlen);
    }
    size_t len;
    uint8_t *rec = pz_evrec_retarget(d->record, d->record_len, s->number, &len);
    if (rec == NULL)
        return pz_outbox_put_dead(rc->t, d, rc->err, rc->errlen);
    uint64_t seq;
    int ret = pz_outbox_append(rc->t, rec, len, &seq, rc->err, rc->errlen);
    free(rec);
    if (ret == 0) {
        slot_change *c = change_for(rc->r, s);
        c->appended++;
        c->replayed = true;
        pz_info("events: record %llu queued again for %s as %llu", (unsigned long long)d->seq, d->target_id,
                (unsigned long long)seq);
    }
    return ret;
}

/* Resolves (registering when new) the targets of a job and appends its records. */
static int append_job(pz_event_pipeline *p, pz_outbox_txn *t, round_changes *r, pz_event_job *job, uint64_t first_seq,
                      char *err, size_t errlen)
{
    job->slots = pz_arena_calloc(job->arena, job->n_targets ? job->n_targets : 1, sizeof(pz_target_slot *));
    /* A new target's cursor starts at the round's first record: none before it names the target,
     * and a caught-up builtin target can then take the whole round inline. */
    uint64_t seq_to_be = pz_outbox_txn_next_seq(t);
    for (size_t k = 0; k < job->n_targets; k++) {
        const pz_job_target *jt = &job->targets[k];
        pz_target_slot *s = find_slot(p, r, jt->id);
        if (s == NULL) {
            uint32_t number;
            if (pz_outbox_new_target_number(t, &number, err, errlen) != 0)
                return -1;
            s = pz_slot_new(number, jt->id, jt->spec, first_seq);
            if (s == NULL) {
                snprintf(err, errlen, "a configured event target has an invalid spec");
                return -1;
            }
            s->caught_up = s->type == PZ_TARGET_BUILTIN; /* nothing before its first record */
            pz_outbox_target ot = {s->id, s->number, s->cursor_saved, s->spec_json};
            if (pz_outbox_put_target(t, &ot, err, errlen) != 0) {
                pz_slot_free(s);
                return -1;
            }
            slot_change *c = change_for(r, s);
            c->is_new = true;
            if (job->used_parked < job->n_parked)
                c->worker = job->parked[job->used_parked++];
            pz_info("events: new event target %s (number %u) from record %llu", s->shown, s->number,
                    (unsigned long long)seq_to_be);
        } else {
            slot_change *c = change_for(r, s);
            if (!c->is_new && c->new_spec == NULL && strcmp(s->spec_json, jt->spec) != 0) {
                c->new_spec = pz_strdup(jt->spec);
                pz_outbox_target ot = {s->id, s->number, s->cursor_saved, jt->spec};
                if (pz_outbox_put_target(t, &ot, err, errlen) != 0)
                    return -1;
            }
        }
        job->slots[k] = s;
    }
    for (size_t i = 0; i < job->n_records; i++) {
        pz_job_record *rec = &job->records[i];
        for (size_t k = 0; k < rec->n_targets; k++) {
            pz_target_slot *s = job->slots[rec->targets[k]];
            pz_evrec_set_target(rec->bytes, k, s->number);
            change_for(r, s)->appended++;
        }
        if (pz_outbox_append(t, rec->bytes, rec->len, &rec->seq, err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* The cursor that may be stored for s, given its in-memory cursor: the learner of a builtin target
 * may hold applied events that are not durable yet (pz_learner.unflushed_from); the outbox keeps
 * them, and a restart re-sends them (the learner skips what it already has). Never backwards. */
static uint64_t storable_cursor(const pz_event_pipeline *p, const pz_target_slot *s, uint64_t cursor)
{
    const pz_learner *l = &p->opts.learner;
    if (s->type != PZ_TARGET_BUILTIN || l->unflushed_from == NULL)
        return cursor;
    uint64_t from = l->unflushed_from(l->self, s->stream);
    if (from < cursor)
        cursor = from;
    return cursor > s->cursor_saved ? cursor : s->cursor_saved;
}

/* Takes every slot's unsaved cursor and dead letters into the round and stores them. */
static int save_progress(pz_event_pipeline *p, pz_outbox_txn *t, round_changes *r, char *err, size_t errlen)
{
    for (size_t i = 0; i < p->n_slots; i++) {
        pz_target_slot *s = p->slots[i];
        pthread_mutex_lock(&s->lock);
        uint64_t cursor = s->cursor;
        pz_dead_item *dead = s->dead_head;
        s->dead_head = s->dead_tail = NULL;
        pthread_mutex_unlock(&s->lock);
        cursor = storable_cursor(p, s, cursor);
        if (cursor == s->cursor_saved && dead == NULL)
            continue;
        slot_change *c = change_for(r, s);
        c->dead = dead;
        for (pz_dead_item *d = dead; d != NULL; d = d->next) {
            pz_outbox_dead od = {s->number, d->seq, s->id, d->attempts, d->at_ms, d->reason, d->record, d->record_len};
            if (pz_outbox_put_dead(t, &od, err, errlen) != 0)
                return -1;
        }
        if (cursor != s->cursor_saved) {
            c->cursor_to_save = cursor;
            c->save_cursor = true;
            pz_outbox_target ot = {s->id, s->number, cursor, c->new_spec ? c->new_spec : s->spec_json};
            if (pz_outbox_put_target(t, &ot, err, errlen) != 0)
                return -1;
        }
    }
    return 0;
}

/* Marks for retirement the targets the configuration no longer lists that have nothing left. */
static int retire_removed(pz_event_pipeline *p, pz_outbox_txn *t, round_changes *r, char *err, size_t errlen)
{
    if (p->opts.config == NULL)
        return 0;
    pz_config *cfg = pz_config_holder_acquire(p->opts.config);
    int rc = 0;
    for (size_t i = 0; i < p->n_slots && rc == 0; i++) {
        pz_target_slot *s = p->slots[i];
        if (s->type == PZ_TARGET_EXPERIMENTS) /* the experiment store's: never configured, never retired */
            continue;
        const pz_namespace *ns = pz_config_namespace(cfg, s->ns);
        bool listed = false;
        for (size_t k = 0; ns != NULL && k < ns->n_event_targets && !listed; k++) {
            char *id, *spec;
            pz_target_spec_render(ns->key, &ns->event_targets[k], &id, &spec);
            listed = strcmp(id, s->id) == 0;
            free(id);
            free(spec);
        }
        slot_change *c = NULL;
        for (size_t k = 0; k < r->n; k++) {
            if (r->changes[k].s == s)
                c = &r->changes[k];
        }
        if (listed || (c != NULL && c->appended > 0))
            continue;
        pthread_mutex_lock(&s->lock);
        bool finished = s->pending == 0 && s->dead_head == NULL;
        pthread_mutex_unlock(&s->lock);
        if (!finished)
            continue;
        rc = pz_outbox_delete_target(t, s->id, err, errlen);
        change_for(r, s)->retire = true;
    }
    pz_config_unref(cfg);
    return rc;
}

static int reclaim(pz_event_pipeline *p, pz_outbox_txn *t, round_changes *r, char *err, size_t errlen)
{
    uint64_t below = pz_outbox_txn_next_seq(t);
    for (size_t i = 0; i < p->n_slots; i++) {
        pz_target_slot *s = p->slots[i];
        uint64_t c = s->cursor_saved;
        for (size_t k = 0; k < r->n; k++) {
            if (r->changes[k].s == s && r->changes[k].retire)
                c = UINT64_MAX;
            else if (r->changes[k].s == s && r->changes[k].save_cursor)
                c = r->changes[k].cursor_to_save;
        }
        if (c < below)
            below = c;
    }
    for (size_t k = 0; k < r->n; k++) {
        if (r->changes[k].is_new && r->changes[k].s->cursor_saved < below)
            below = r->changes[k].s->cursor_saved;
    }
    return pz_outbox_reclaim(t, below, RECLAIM_PER_ROUND, err, errlen) < 0 ? -1 : 0;
}

/* After a failed commit: what was taken from the slots goes back; new slots are dropped. */
static void round_rollback(round_changes *r)
{
    for (size_t i = 0; i < r->n; i++) {
        slot_change *c = &r->changes[i];
        free(c->new_spec);
        if (c->is_new) {
            if (c->worker != NULL)
                pz_worker_abandon(c->worker);
            pz_slot_free(c->s);
            continue;
        }
        if (c->dead != NULL) {
            pz_dead_item *tail = c->dead;
            while (tail->next != NULL)
                tail = tail->next;
            pthread_mutex_lock(&c->s->lock);
            tail->next = c->s->dead_head;
            c->s->dead_head = c->dead;
            if (c->s->dead_tail == NULL)
                c->s->dead_tail = tail;
            pthread_mutex_unlock(&c->s->lock);
        }
    }
    free(r->changes);
}

/* The seq of the job's record that names slot s (the events' envelope): the learner stream's
 * position of its events. */
static uint64_t record_seq_for(const pz_event_job *job, const pz_target_slot *s)
{
    for (size_t r = 0; r < job->n_records; r++) {
        for (size_t t = 0; t < job->records[r].n_targets; t++) {
            if (job->slots[job->records[r].targets[t]] == s)
                return job->records[r].seq;
        }
    }
    return 0;
}

/* Applies the events of this round's calls to a caught-up builtin target (pipeline.h). */
static void apply_builtin_inline(pz_event_pipeline *p, pz_target_slot *s, slot_change *c, pz_event_job *jobs,
                                 size_t n_jobs, uint64_t first_seq, uint64_t next_seq)
{
    pthread_mutex_lock(&s->lock);
    if (!s->caught_up || s->cursor != first_seq || c->replayed || p->opts.learner.learn == NULL) {
        s->caught_up = false;
        pthread_mutex_unlock(&s->lock);
        return;
    }
    size_t n = 0, records = 0;
    for (size_t j = 0; j < n_jobs; j++) {
        for (size_t k = 0; !jobs[j].refused && jobs[j].events != NULL && k < jobs[j].n_targets; k++) {
            if (jobs[j].slots[k] == s)
                n += jobs[j].events->n_event_list;
        }
    }
    pz_interaction *evs = pz_calloc(n ? n : 1, sizeof *evs);
    int64_t now_ms = pz_now_ms();
    size_t i = 0;
    for (size_t j = 0; j < n_jobs; j++) {
        bool mine = false;
        for (size_t k = 0; !jobs[j].refused && k < jobs[j].n_targets; k++)
            mine = mine || jobs[j].slots[k] == s;
        if (!mine || jobs[j].events == NULL)
            continue;
        records += jobs[j].events->n_event_list > 0;
        const Personalization__V1__PutEventsRequest *in = jobs[j].events;
        uint64_t seq = record_seq_for(&jobs[j], s);
        for (size_t e = 0; e < in->n_event_list; e++) {
            const Personalization__V1__Event *ev = in->event_list[e];
            evs[i++] = (pz_interaction){.user_id = in->user_id,
                                        .session_id = in->session_id,
                                        .item_id = ev->item_id,
                                        .event_type = ev->event_type,
                                        .has_event_value = ev->has_event_value,
                                        .event_value = ev->event_value,
                                        .sent_at_ms = pz_event_time_ms(ev->sent_at, now_ms),
                                        .seq = seq};
        }
    }
    char err[256] = "";
    if (n == 0 || p->opts.learner.learn(p->opts.learner.self, s->ns, s->stream, evs, n, err, sizeof err) == 0) {
        s->cursor = next_seq;
        s->delivered += records;
        s->delivered_events += n;
        /* records without events count as done for the builtin target too */
        s->pending -= c->appended < s->pending ? c->appended : s->pending;
        if (records > 0)
            s->last_ok_ms = pz_now_ms();
    } else {
        pz_warn("events: builtin target %s: %s; its worker will retry from the outbox", s->shown, err);
        pz_copy_cut(s->last_error, sizeof s->last_error, err);
        s->last_error_ms = pz_now_ms();
        s->caught_up = false;
    }
    pthread_mutex_unlock(&s->lock);
    free(evs);
}

static bool anything_to_store(pz_event_pipeline *p)
{
    for (size_t i = 0; i < p->n_slots; i++) {
        pz_target_slot *s = p->slots[i];
        pthread_mutex_lock(&s->lock);
        uint64_t cursor = s->cursor;
        bool dirty = s->dead_head != NULL;
        pthread_mutex_unlock(&s->lock);
        if (dirty || (cursor != s->cursor_saved && storable_cursor(p, s, cursor) != s->cursor_saved))
            return true;
    }
    return false;
}

void pz_pipeline_round(pz_event_pipeline *p, pz_exposure_item *exposures, pz_event_job *list, bool housekeeping,
                       bool may_retire)
{
    /* Exposures first: those served before a call was submitted go before its conversions. */
    pz_arena exposure_arena;
    pz_arena_init(&exposure_arena);
    pz_event_job *exposure_jobs = pz_exposure_jobs(exposures, &exposure_arena);
    size_t n_jobs = 0;
    for (pz_event_job *j = exposure_jobs; j != NULL; j = j->next)
        n_jobs++;
    for (pz_event_job *j = list; j != NULL; j = j->next)
        n_jobs++;
    if (n_jobs == 0 && !housekeeping && !anything_to_store(p)) {
        pz_arena_destroy(&exposure_arena);
        return;
    }
    /* The jobs live in their requests' arenas, which a front may free as soon as the request
     * completes: copy the list before completing anything. */
    pz_event_job *jobs = pz_calloc(n_jobs ? n_jobs : 1, sizeof *jobs);
    size_t i = 0;
    for (pz_event_job *j = exposure_jobs; j != NULL; j = j->next)
        jobs[i++] = *j;
    for (pz_event_job *j = list; j != NULL; j = j->next)
        jobs[i++] = *j;

    char err[512] = "";
    round_changes r = {0};
    pz_outbox_txn *t = NULL;
    int rc = pz_outbox_begin(p->ob, &t, err, sizeof err);
    uint64_t first_seq = rc == 0 ? pz_outbox_txn_next_seq(t) : 0;
    if (rc == 0 && housekeeping) {
        replay_ctx rctx = {p, t, &r, err, sizeof err};
        rc = pz_outbox_take_replays(t, REPLAYS_PER_ROUND, on_replay, &rctx, err, sizeof err) < 0 ? -1 : 0;
    }
    /* Not while draining: destroy stops and joins the workers once the drain returns. */
    if (rc == 0 && housekeeping && may_retire)
        pz_pipeline_start_missing_workers(p);
    for (size_t j = 0; rc == 0 && j < n_jobs; j++) {
        if (admit_job(p, &r, &jobs[j]))
            rc = append_job(p, t, &r, &jobs[j], first_seq, err, sizeof err);
    }
    if (rc == 0)
        rc = save_progress(p, t, &r, err, sizeof err);
    if (rc == 0 && housekeeping && may_retire)
        rc = retire_removed(p, t, &r, err, sizeof err);
    if (rc == 0)
        rc = reclaim(p, t, &r, err, sizeof err);
    uint64_t next_seq = rc == 0 ? pz_outbox_txn_next_seq(t) : 0;
    if (rc == 0)
        rc = pz_outbox_commit(t, err, sizeof err);
    else if (t != NULL)
        pz_outbox_abort(t);

    if (rc != 0) {
        /* Under a full disk every call fails: one line per interval, with the count, not one per call. */
        p->store_failures += n_jobs;
        int64_t now = pz_now_ms();
        if (now - p->store_error_logged_ms >= REFUSAL_LOG_INTERVAL_MS) {
            pz_error_log("events: outbox write failed: %s; %llu call(s) not accepted since the last such line "
                         "(logged at most every %d s)",
                         err, (unsigned long long)p->store_failures, REFUSAL_LOG_INTERVAL_MS / 1000);
            p->store_error_logged_ms = now;
            p->store_failures = 0;
        }
        round_rollback(&r);
        for (size_t j = 0; j < n_jobs; j++) {
            abandon_unused(&jobs[j]);
            if (!jobs[j].refused)
                complete_failed(&jobs[j], err);
        }
        free(jobs);
        pz_arena_destroy(&exposure_arena);
        return;
    }
    atomic_store(&p->next_seq, next_seq);
    if (next_seq > first_seq)
        pz_commit_clock_note(&p->commit_clock, first_seq, pz_now_ms());
    bool calls = false;
    for (size_t j = 0; j < n_jobs; j++) {
        if (jobs[j].refused)
            continue;
        calls = calls || jobs[j].submission != NULL;
        atomic_fetch_add(&p->experiment_records, jobs[j].n_records - (jobs[j].submission != NULL));
    }
    if (calls)
        atomic_fetch_add(&p->commits, 1);
    /* The commit is durable: make the round's changes visible. */
    for (size_t k = 0; k < r.n; k++) {
        slot_change *c = &r.changes[k];
        pz_target_slot *s = c->s;
        if (c->is_new) {
            s->pending = c->appended;
            pz_registry_add(p, s);
            s->worker = c->worker;
            if (c->worker != NULL)
                pz_worker_release(c->worker, s);
            continue;
        }
        pthread_mutex_lock(&s->lock);
        s->pending += c->appended;
        if (c->new_spec != NULL) {
            free(s->spec_json);
            s->spec_json = c->new_spec;
            s->spec_changed = true;
            c->new_spec = NULL;
        }
        pthread_mutex_unlock(&s->lock);
        if (c->save_cursor)
            s->cursor_saved = c->cursor_to_save;
        pz_dead_free(c->dead);
    }
    bool builtin_progress = false;
    for (size_t k = 0; k < r.n && next_seq > first_seq; k++) {
        if (r.changes[k].s->type == PZ_TARGET_BUILTIN && !r.changes[k].retire) {
            apply_builtin_inline(p, r.changes[k].s, &r.changes[k], jobs, n_jobs, first_seq, next_seq);
            builtin_progress = true;
        }
    }
    /* A caught-up builtin target not named this round still moves past the round's records. */
    for (size_t k = 0; k < p->n_slots && next_seq > first_seq; k++) {
        pz_target_slot *s = p->slots[k];
        bool named = false;
        for (size_t c = 0; c < r.n && !named; c++)
            named = r.changes[c].s == s;
        if (s->type != PZ_TARGET_BUILTIN || named)
            continue;
        pthread_mutex_lock(&s->lock);
        if (s->caught_up && s->cursor == first_seq) {
            s->cursor = next_seq;
            builtin_progress = true;
        }
        pthread_mutex_unlock(&s->lock);
    }
    for (size_t j = 0; j < n_jobs; j++) {
        abandon_unused(&jobs[j]);
        if (jobs[j].refused || jobs[j].submission == NULL)
            continue;
        atomic_fetch_add(&p->calls_accepted, 1);
        atomic_fetch_add(&p->events_accepted, jobs[j].n_events);
        complete_ok(&jobs[j]);
    }
    for (size_t k = 0; k < r.n; k++) {
        if (!r.changes[k].retire)
            continue;
        pz_target_slot *s = r.changes[k].s;
        pz_info("events: event target %s retired (removed from the configuration, everything delivered)", s->shown);
        pz_registry_remove(p, s);
        if (s->worker != NULL) {
            pz_worker_stop(s->worker);
            pz_pipeline_notify_workers(p);
            pz_worker_join(s->worker);
        }
        pz_slot_free(s);
    }
    free(r.changes);
    free(jobs);
    pz_arena_destroy(&exposure_arena);
    if (next_seq > first_seq)
        pz_pipeline_notify_workers(p);
    if (builtin_progress)
        pz_pipeline_progress(p); /* store the builtin cursor soon, so a restart does not re-apply */
}
