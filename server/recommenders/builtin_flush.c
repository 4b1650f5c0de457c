/* The builtin recommender's write path (builtin_internal.h, "Write-back"): learning into the
 * active pending table, freezing it, the flusher thread that writes frozen tables to LMDB (growing
 * the map as needed), stream marks for exactly-once learning, and the learner port. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/core/clock.h"
#include "server/core/log.h"
#include "server/recommenders/builtin_internal.h"

/* While degraded, one log line per this interval. */
#define FULL_LOG_EVERY_MS 60000
/* The flusher found the learner busy: it looks again this soon. */
#define BUSY_RETRY_MS 20
static const char META_MARK_PREFIX[] = "mark:";

int pzb_flusher_start(pz_builtin *b, char *err, size_t errlen);
void pzb_flusher_stop(pz_builtin *b);

static struct timespec abs_time(int64_t ms)
{
    return (struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
}

static void wait_changed(pz_builtin *b, int64_t until_ms)
{
    struct timespec ts = abs_time(until_ms);
    pthread_cond_timedwait(&b->changed, &b->pending_lock, &ts);
}

/* ---- streams (learn_lock) ---- */

static size_t mark_key(char *buf, const char *stream)
{
    size_t plen = sizeof META_MARK_PREFIX - 1, len = strlen(stream);
    memcpy(buf, META_MARK_PREFIX, plen);
    memcpy(buf + plen, stream, len);
    return plen + len;
}

/* The stream's progress, loaded from the store the first time it is seen. NULL with *rc on a read
 * error or a full table. */
static pzb_stream *find_stream(pz_builtin *b, const char *name, int *rc)
{
    *rc = 0;
    for (size_t i = 0; i < b->n_streams; i++) {
        if (strcmp(b->streams[i].name, name) == 0)
            return &b->streams[i];
    }
    if (b->n_streams == PZB_MAX_STREAMS) {
        *rc = MDB_DBS_FULL;
        return NULL;
    }
    pzb_view v;
    *rc = pzb_view_begin(b, &v, true);
    if (*rc != 0)
        return NULL;
    char key[PZB_META_KEY_MAX];
    uint64_t mark = 0;
    size_t len = 0;
    *rc = pzb_view_get(&v, PZB_META, key, mark_key(key, name), &mark, sizeof mark, &len);
    pzb_view_end(&v);
    if (*rc == MDB_NOTFOUND)
        *rc = 0;
    else if (*rc == 0 && len != sizeof mark)
        *rc = MDB_CORRUPTED;
    if (*rc != 0)
        return NULL;
    pthread_mutex_lock(&b->pending_lock); /* pz_builtin_unflushed_from scans under it */
    pzb_stream *s = &b->streams[b->n_streams];
    *s = (pzb_stream){.name = pz_strdup(name),
                      .applied = mark,
                      .durable = mark,
                      .first_active = UINT64_MAX,
                      .first_frozen = UINT64_MAX};
    b->n_streams++;
    pthread_mutex_unlock(&b->pending_lock);
    return s;
}

/* ---- freezing (learn_lock and pending_lock held) ---- */

static bool active_empty(const pz_builtin *b)
{
    return pzb_pending_count(b->active) == 0;
}

static void freeze(pz_builtin *b)
{
    b->freezes++;
    b->frozen_gen = b->freezes;
    b->frozen = b->active;
    b->active = pzb_pending_new();
    b->active_since_ms = 0;
    for (size_t i = 0; i < b->n_streams; i++) {
        pzb_stream *s = &b->streams[i];
        s->first_frozen = s->first_active;
        s->first_active = UINT64_MAX;
        s->frozen_mark = s->applied;
    }
    pthread_cond_broadcast(&b->changed);
}

/* The active table has waited flush_interval_ms since its first put. */
static bool active_old(const pz_builtin *b, int64_t now)
{
    return b->active_since_ms != 0 && now - b->active_since_ms >= b->opts.flush_interval_ms;
}

static bool over_half_budget(pz_builtin *b)
{
    return pzb_pending_bytes(b->active) >= pz_builtin_pending_budget(b) / 2;
}

static bool is_full(pz_builtin *b)
{
    pthread_mutex_lock(&b->stats_lock);
    bool full = b->stats.full;
    pthread_mutex_unlock(&b->stats_lock);
    return full;
}

/* Makes room before a learn batch (learn_lock held, no view open): the active table may hold half
 * the budget; past that it is frozen, waiting first for the previous frozen table to be flushed.
 * Returns 0, or -1 with err when that flush keeps failing. */
static int make_room(pz_builtin *b, char *err, size_t errlen)
{
    pthread_mutex_lock(&b->pending_lock);
    while (over_half_budget(b)) {
        if (b->frozen == NULL) {
            freeze(b);
            break;
        }
        if (is_full(b)) {
            pthread_mutex_unlock(&b->pending_lock);
            pz_builtin_stats st;
            pz_builtin_stats_get(b, &st);
            const char *why = st.last_error;
            if (strncmp(why, "builtin: ", 9) == 0)
                why += 9;
            return pzb_fail_msg(err, errlen,
                                "cannot learn: the memory for events not written yet (%zu MiB) is used: %s",
                                pz_builtin_pending_budget(b) / PZB_MIB, why);
        }
        wait_changed(b, pz_now_ms() + 1000);
    }
    pthread_mutex_unlock(&b->pending_lock);
    return 0;
}

/* ---- learning ---- */

static int check_events(const char *ns, const char *stream, const pz_interaction *events, size_t n, char *err,
                        size_t errlen)
{
    if (ns == NULL || strlen(ns) > PZ_BUILTIN_MAX_NS_LEN)
        return pzb_fail_msg(err, errlen, "namespace is missing or longer than %d bytes", PZ_BUILTIN_MAX_NS_LEN);
    if (stream != NULL && strlen(stream) > PZ_BUILTIN_MAX_STREAM_LEN)
        return pzb_fail_msg(err, errlen, "stream name longer than %d bytes", PZ_BUILTIN_MAX_STREAM_LEN);
    static const char *const what[] = {"item id", "user id", "session id"};
    for (size_t i = 0; i < n; i++) {
        const pz_interaction *e = &events[i];
        const char *ids[] = {e->item_id, e->user_id, e->session_id};
        for (size_t j = 0; j < 3; j++) {
            if (ids[j] != NULL && strlen(ids[j]) > PZ_BUILTIN_MAX_ID_LEN)
                return pzb_fail_msg(err, errlen, "event %zu: %s longer than %d bytes", i, what[j],
                                    PZ_BUILTIN_MAX_ID_LEN);
        }
        if (stream != NULL && i > 0 && e->seq < events[i - 1].seq)
            return pzb_fail_msg(err, errlen, "event %zu: seq %llu after %llu: seqs must not decrease", i,
                                (unsigned long long)e->seq, (unsigned long long)events[i - 1].seq);
    }
    return 0;
}

/* The namespace, registered (in memory and in the active table) when new. */
static pzb_ns *ensure_ns(pz_builtin *b, const char *name, char *err, size_t errlen)
{
    pzb_ns *ns = pzb_ns_find(b, name);
    if (ns != NULL)
        return ns;
    ns = pzb_ns_add(b, name, b->next_ns);
    if (ns == NULL) {
        pzb_fail_msg(err, errlen, "too many namespaces (the most is %d)", PZ_BUILTIN_MAX_NAMESPACES);
        return NULL;
    }
    char key[4 + PZ_BUILTIN_MAX_NS_LEN];
    size_t len = strlen(name);
    memcpy(key, "ns:", 3);
    memcpy(key + 3, name, len);
    pzb_put(b, PZB_META, key, 3 + len, &ns->no, sizeof ns->no);
    b->next_ns++;
    pzb_put(b, PZB_META, "next_ns", 7, &b->next_ns, sizeof b->next_ns);
    return ns;
}

static size_t skip_applied(const pzb_stream *s, const pz_interaction *events, size_t n)
{
    size_t first = 0;
    while (s != NULL && first < n && events[first].seq <= s->applied)
        first++;
    return first;
}

long pz_builtin_learn(pz_builtin *b, const char *ns_name, const char *stream, const pz_interaction *events, size_t n,
                      char *err, size_t errlen)
{
    if (check_events(ns_name, stream, events, n, err, errlen) != 0)
        return -1;
    pthread_mutex_lock(&b->learn_lock);
    int rc = 0;
    pzb_stream *s = stream != NULL ? find_stream(b, stream, &rc) : NULL;
    if (rc != 0) {
        pthread_mutex_unlock(&b->learn_lock);
        return pzb_fail(err, errlen, "read stream mark", rc);
    }
    size_t first = skip_applied(s, events, n);
    if (first == n) {
        pthread_mutex_unlock(&b->learn_lock);
        pthread_mutex_lock(&b->stats_lock);
        b->stats.events_skipped += n;
        pthread_mutex_unlock(&b->stats_lock);
        return 0;
    }
    if (make_room(b, err, errlen) != 0) {
        pthread_mutex_unlock(&b->learn_lock);
        return -1;
    }
    pzb_ns *ns = ensure_ns(b, ns_name, err, errlen);
    if (ns == NULL) {
        pthread_mutex_unlock(&b->learn_lock);
        return -1;
    }
    pzb_view v;
    const char *what = "begin read";
    rc = pzb_view_begin(b, &v, true);
    if (rc == 0) {
        rc = pzb_apply_events(b, &v, ns, events + first, n - first, &what);
        pzb_view_end(&v);
    }
    /* A failed read leaves part of the batch applied in memory: the model stays usable, and the
     * source retries the whole batch (its mark did not move), so that part counts twice. A read
     * fails only on a corrupt store. */
    if (rc == 0 && s != NULL) {
        uint64_t mark = events[n - 1].seq;
        char key[PZB_META_KEY_MAX];
        pzb_put(b, PZB_META, key, mark_key(key, s->name), &mark, sizeof mark);
    }
    pthread_mutex_lock(&b->pending_lock);
    if (rc == 0 && s != NULL) {
        if (s->first_active == UINT64_MAX)
            s->first_active = events[first].seq;
        s->applied = events[n - 1].seq;
    }
    if (b->frozen == NULL && (over_half_budget(b) || active_old(b, pz_now_ms())))
        freeze(b);
    pthread_mutex_unlock(&b->pending_lock);
    pthread_mutex_unlock(&b->learn_lock);
    if (rc != 0)
        return pzb_fail(err, errlen, what, rc);
    pthread_mutex_lock(&b->stats_lock);
    b->stats.events_learned += n - first;
    b->stats.events_skipped += first;
    pthread_mutex_unlock(&b->stats_lock);
    return (long)(n - first);
}

int pz_builtin_flush(pz_builtin *b, char *err, size_t errlen)
{
    pthread_mutex_lock(&b->pending_lock);
    /* What is learned now is in the active table, which becomes frozen table number freezes + 1. */
    uint64_t target = active_empty(b) ? b->freezes : b->freezes + 1;
    pthread_mutex_lock(&b->stats_lock);
    uint64_t failures = b->stats.flush_failures;
    pthread_mutex_unlock(&b->stats_lock);
    int rc = 0;
    while (b->flushed < target) {
        if (b->frozen == NULL && b->freezes < target) {
            /* lock order: learn_lock first; freezing waits for the batch being learned */
            pthread_mutex_unlock(&b->pending_lock);
            pthread_mutex_lock(&b->learn_lock);
            pthread_mutex_lock(&b->pending_lock);
            if (b->frozen == NULL && b->freezes < target && !active_empty(b))
                freeze(b);
            pthread_mutex_unlock(&b->learn_lock);
            continue;
        }
        /* a degraded store fails at once rather than at its next retry */
        pthread_mutex_lock(&b->stats_lock);
        bool failed = b->stats.flush_failures != failures || b->stats.full;
        pthread_mutex_unlock(&b->stats_lock);
        if (failed) {
            rc = -1;
            break;
        }
        b->flush_requested = true;
        pthread_cond_broadcast(&b->changed);
        wait_changed(b, pz_now_ms() + 1000);
    }
    pthread_mutex_unlock(&b->pending_lock);
    if (rc != 0) {
        pz_builtin_stats st;
        pz_builtin_stats_get(b, &st);
        const char *msg = st.last_error;
        if (strncmp(msg, "builtin: ", 9) == 0)
            msg += 9;
        return pzb_fail_msg(err, errlen, "%s", msg);
    }
    return 0;
}

int pz_builtin_ingest(pz_builtin *b, const char *ns, const pz_interaction *events, size_t n, char *err, size_t errlen)
{
    if (pz_builtin_learn(b, ns, NULL, events, n, err, errlen) < 0)
        return -1;
    return pz_builtin_flush(b, err, errlen);
}

uint64_t pz_builtin_unflushed_from(pz_builtin *b, const char *stream)
{
    /* A stream this process has not learned from has nothing waiting. */
    uint64_t from = UINT64_MAX;
    pthread_mutex_lock(&b->pending_lock);
    for (size_t i = 0; i < b->n_streams; i++) {
        const pzb_stream *s = &b->streams[i];
        if (strcmp(s->name, stream) == 0) {
            from = s->first_frozen < s->first_active ? s->first_frozen : s->first_active;
            break;
        }
    }
    pthread_mutex_unlock(&b->pending_lock);
    return from;
}

uint64_t pz_builtin_stream_mark(pz_builtin *b, const char *stream)
{
    pthread_mutex_lock(&b->learn_lock);
    int rc;
    pzb_stream *s = find_stream(b, stream, &rc);
    uint64_t mark = s != NULL ? s->applied : 0;
    pthread_mutex_unlock(&b->learn_lock);
    return mark;
}

/* ---- the flusher ---- */

/* Doubles the map, up to the limit. Returns false at the limit. No transaction of the flusher may
 * be open; readers are waited for. */
static bool grow_map(pz_builtin *b)
{
    size_t now = atomic_load(&b->map_bytes), max = b->opts.max_size_mb * PZB_MIB;
    if (now >= max)
        return false;
    size_t next = now * 2 < max ? now * 2 : max;
    pthread_rwlock_wrlock(&b->map_lock);
    int rc = mdb_env_set_mapsize(b->env, next);
    pthread_rwlock_unlock(&b->map_lock);
    if (rc != 0) {
        pz_error_log("builtin: cannot grow the store's map to %zu MiB: %s", next / PZB_MIB, mdb_strerror(rc));
        return false;
    }
    atomic_store(&b->map_bytes, next);
    pthread_mutex_lock(&b->stats_lock);
    b->stats.map_growths++;
    pthread_mutex_unlock(&b->stats_lock);
    pz_info("builtin: the store's map grew to %zu MiB (limit %zu MiB)", next / PZB_MIB, max / PZB_MIB);
    return true;
}

/* Writes a frozen table in one transaction. Returns 0 or an LMDB error (MDB_MAP_FULL at the limit,
 * or errno values from the disk). */
static int write_table(pz_builtin *b, pzb_pending *t)
{
    const pzb_pending_entry *const *sorted = pzb_pending_sorted(t);
    size_t n = pzb_pending_count(t);
    for (;;) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(b->env, NULL, 0, &txn);
        for (size_t i = 0; i < n && rc == 0; i++) {
            const pzb_pending_entry *e = sorted[i];
            MDB_val k = {.mv_size = e->klen, .mv_data = e->key}, v = {.mv_size = e->len, .mv_data = e->data};
            rc = mdb_put(txn, b->dbi[e->db], &k, &v, 0);
        }
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else if (txn != NULL)
            mdb_txn_abort(txn);
        if (rc != MDB_MAP_FULL || !grow_map(b))
            return rc;
    }
}

static void note_failure(pz_builtin *b, int rc, size_t keys)
{
    char msg[sizeof b->stats.last_error];
    size_t max_mb = b->opts.max_size_mb;
    if (rc == MDB_MAP_FULL)
        snprintf(msg, sizeof msg,
                 "builtin: the store is full: it reached its limit of %zu MiB; raise %s (learning continues in "
                 "memory until the pending budget is used, events wait in the event outbox)",
                 max_mb, b->opts.max_size_name);
    else
        snprintf(msg, sizeof msg, "builtin: cannot write %zu learned keys to %s: %s", keys, b->dir, mdb_strerror(rc));
    int64_t now = pz_now_ms();
    pthread_mutex_lock(&b->stats_lock);
    bool log = !b->stats.full || now - b->last_full_log_ms >= FULL_LOG_EVERY_MS;
    b->stats.full = true;
    b->stats.flush_failures++;
    memcpy(b->stats.last_error, msg, sizeof msg);
    b->stats.last_error_at_ms = now;
    if (log)
        b->last_full_log_ms = now;
    uint64_t failures = b->stats.flush_failures;
    pthread_mutex_unlock(&b->stats_lock);
    if (log)
        pz_error_log("%s; %llu failed flush(es), retrying every %lld ms", msg, (unsigned long long)failures,
                     (long long)b->opts.retry_ms);
}

static void note_success(pz_builtin *b, size_t keys, int64_t took_ms)
{
    pthread_mutex_lock(&b->stats_lock);
    bool was_full = b->stats.full;
    b->stats.full = false;
    b->stats.flushes++;
    b->stats.keys_flushed += keys;
    b->stats.last_flush_ms = took_ms;
    b->stats.last_flush_at_ms = pz_now_ms();
    pthread_mutex_unlock(&b->stats_lock);
    if (was_full)
        pz_info("builtin: the store is writable again; learning goes on");
}

/* The flusher writes the frozen table and drops it; freezes the active one when it is old enough
 * or a flush was asked for. At stop it flushes everything once more, then exits. */
static void *flusher_main(void *arg)
{
    pz_builtin *b = arg;
    pthread_mutex_lock(&b->pending_lock);
    int64_t retry_at = 0;
    for (;;) {
        int64_t now = pz_now_ms();
        if (b->frozen != NULL && (now >= retry_at || b->stopping)) {
            pzb_pending *t = b->frozen;
            pthread_mutex_unlock(&b->pending_lock);
            int64_t t0 = pz_now_ms();
            int rc = write_table(b, t);
            size_t keys = pzb_pending_count(t);
            pthread_mutex_lock(&b->pending_lock);
            if (rc == 0) {
                b->frozen = NULL;
                b->flushed = b->frozen_gen;
                for (size_t i = 0; i < b->n_streams; i++) {
                    if (b->streams[i].first_frozen != UINT64_MAX)
                        b->streams[i].durable = b->streams[i].frozen_mark;
                    b->streams[i].first_frozen = UINT64_MAX;
                }
                pzb_pending_unref(t);
                note_success(b, keys, pz_now_ms() - t0);
            } else {
                note_failure(b, rc, keys);
                retry_at = pz_now_ms() + b->opts.retry_ms;
            }
            pthread_cond_broadcast(&b->changed);
            if (rc != 0 && b->stopping)
                break; /* give up: the sources still hold the events */
            continue;
        }
        if (b->frozen == NULL && !active_empty(b) && (active_old(b, now) || b->flush_requested || b->stopping)) {
            /* Freezing needs learn_lock (lock order: learn_lock first). The flusher must never wait
             * for it: a learner may hold it while it waits for the flusher (make_room). A busy
             * learner freezes old tables itself at the end of its batch. */
            pthread_mutex_unlock(&b->pending_lock);
            bool got = pthread_mutex_trylock(&b->learn_lock) == 0;
            pthread_mutex_lock(&b->pending_lock);
            if (got) {
                if (b->frozen == NULL && !active_empty(b))
                    freeze(b);
                pthread_mutex_unlock(&b->learn_lock);
            } else {
                wait_changed(b, now + BUSY_RETRY_MS);
            }
            continue;
        }
        b->flush_requested = false;
        if (b->stopping && b->frozen == NULL)
            break;
        int64_t until = now + b->opts.flush_interval_ms;
        if (b->active_since_ms != 0 && b->active_since_ms + b->opts.flush_interval_ms < until)
            until = b->active_since_ms + b->opts.flush_interval_ms;
        if (b->frozen != NULL)
            until = retry_at;
        if (until > now)
            wait_changed(b, until);
    }
    pthread_mutex_unlock(&b->pending_lock);
    return NULL;
}

/* A thread limit (RLIMIT_NPROC) fails the open with a message instead of aborting the process. */
int pzb_flusher_start(pz_builtin *b, char *err, size_t errlen)
{
    int rc = pthread_create(&b->flusher, NULL, flusher_main, b);
    if (rc != 0)
        return pzb_fail_msg(err, errlen, "cannot start the flusher thread: %s", strerror(rc));
    pthread_setname_np(b->flusher, "pz-learn-flush"); /* top -H */
    return 0;
}

void pzb_flusher_stop(pz_builtin *b)
{
    pthread_mutex_lock(&b->pending_lock);
    b->stopping = true;
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->pending_lock);
    pthread_join(b->flusher, NULL);
    if (b->frozen != NULL || !active_empty(b)) {
        pz_builtin_stats st;
        pz_builtin_stats_get(b, &st);
        pz_warn("builtin: closing with learned events not written (%s); their sources re-send them", st.last_error);
    }
}

/* ---- the learner port ---- */

static int learn(void *self, const char *ns, const char *stream, const pz_interaction *events, size_t n, char *err,
                 size_t errlen)
{
    return pz_builtin_learn(self, ns, stream, events, n, err, errlen) < 0 ? -1 : 0;
}

static uint64_t unflushed_from(void *self, const char *stream)
{
    return pz_builtin_unflushed_from(self, stream);
}

static int flush(void *self, char *err, size_t errlen)
{
    return pz_builtin_flush(self, err, errlen);
}

pz_learner pz_builtin_learner(pz_builtin *b)
{
    return (pz_learner){.self = b, .learn = learn, .unflushed_from = unflushed_from, .flush = flush};
}
