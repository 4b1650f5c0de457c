/* The namespace event log consumer (event_log.h). */
#include "server/events/event_log.h"

#include <errno.h>
#include <stdarg.h>
#include <jansson.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/core/clock.h"
#include "server/core/fs.h"
#include "server/core/hash.h"
#include "server/core/ids.h"
#include "server/core/log.h"
#include "server/core/mem.h"
#include "server/events/delivery.h"
#include "server/events/kafka_client.h"
#include "server/events/record.h"
#include "server/events/target_spec.h"

#define STORE_MAP_BYTES (64u << 20)
#define ORIGIN_KEY "origin"
#define POLL_MS 100
#define RETRY_BASE_MS 200
#define RETRY_CAP_MS 30000
#define METADATA_TIMEOUT_MS 5000

typedef struct consumer {
    pz_event_log *log;
    char *key; /* the log's target id: "<ns>/kafka/<topic>@<brokers>" */
    char *ns;
    /* Where its offsets are stored: "<ns>/<topic>@<cluster id>", so a new bootstrap list for the
     * same cluster resumes, and another cluster with a topic of the same name starts afresh. */
    char *offsets_key;
    uint64_t offsets_key_hash; /* names the partitions' streams (partition_stream) */
    char *settings[PZ_KAFKA__COUNT];
    /* Per assigned partition (consumer thread only): the offset after the last message applied,
     * and the offset stored as where to resume (never past the learner's first unflushed event). */
    int64_t *consumed_next, *stored_next;
    pthread_t thread;
    atomic_bool stop;
    bool seen; /* still configured (resync) */
    /* stats, under log->lock */
    int partitions;
    uint64_t consumed, applied, experiment_records, skipped_own, batches;
    char last_error[PZ_DELIVERY_MAX_REASON];
    struct consumer *next;
} consumer;

struct pz_event_log {
    pz_event_log_options o;
    MDB_env *env;
    MDB_dbi dbi;
    char origin[PZ_UUID_SIZE];
    pthread_mutex_t lock; /* consumers and their stats */
    consumer *consumers;
    pthread_cond_t wake; /* the resync thread's sleep, ended by close */
    bool stopping;
    bool started;
    pthread_t resync;
};

/* ---- the store: the origin id and each partition's next offset ---- */

static int store_get(pz_event_log *l, const char *key, void *val, size_t len)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return rc;
    MDB_val k = {strlen(key), (void *)key}, v;
    rc = mdb_get(txn, l->dbi, &k, &v);
    if (rc == 0 && v.mv_size == len)
        memcpy(val, v.mv_data, len);
    else if (rc == 0)
        rc = MDB_CORRUPTED;
    mdb_txn_abort(txn);
    return rc;
}

static void offset_key(char *buf, size_t cap, const char *log_key, int32_t partition)
{
    snprintf(buf, cap, "offset %s#%d", log_key, (int)partition);
}

int pz_event_log_open(const pz_event_log_options *opts, pz_event_log **out, char *err, size_t errlen)
{
    if (pz_make_dirs(opts->dir) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", opts->dir, strerror(errno));
        return -1;
    }
    pz_event_log *l = pz_calloc(1, sizeof *l);
    l->o = *opts;
    if (l->o.resync_ms <= 0)
        l->o.resync_ms = PZ_EVENT_LOG_RESYNC_MS;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->wake, NULL);
    int rc = mdb_env_create(&l->env);
    if (rc == 0)
        rc = mdb_env_set_mapsize(l->env, STORE_MAP_BYTES);
    if (rc == 0)
        rc = mdb_env_open(l->env, opts->dir, MDB_NOTLS, 0644);
    MDB_txn *txn = NULL;
    if (rc == 0)
        rc = mdb_txn_begin(l->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, NULL, 0, &l->dbi);
    if (rc == 0) {
        /* The origin id is minted once per data directory: a restarted instance still knows
         * which messages of the log it accepted itself. */
        MDB_val k = {strlen(ORIGIN_KEY), ORIGIN_KEY}, v;
        rc = mdb_get(txn, l->dbi, &k, &v);
        if (rc == 0 && v.mv_size == PZ_UUID_SIZE) {
            memcpy(l->origin, v.mv_data, PZ_UUID_SIZE);
        } else if (rc == MDB_NOTFOUND) {
            pz_uuid4(l->origin);
            v = (MDB_val){PZ_UUID_SIZE, l->origin};
            rc = mdb_put(txn, l->dbi, &k, &v, 0);
        }
    }
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else if (txn != NULL)
        mdb_txn_abort(txn);
    if (rc != 0) {
        snprintf(err, errlen, "cannot open the event log store in %s: %s", opts->dir, mdb_strerror(rc));
        mdb_env_close(l->env);
        pthread_mutex_destroy(&l->lock);
        pthread_cond_destroy(&l->wake);
        free(l);
        return -1;
    }
    pz_kafka_set_origin(l->origin);
    *out = l;
    return 0;
}

const char *pz_event_log_origin(const pz_event_log *l)
{
    return l->origin;
}

/* ---- one consumer ---- */

static void set_error(consumer *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(consumer *c, const char *fmt, ...)
{
    char msg[PZ_DELIVERY_MAX_REASON];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&c->log->lock);
    bool changed = strcmp(c->last_error, msg) != 0;
    snprintf(c->last_error, sizeof c->last_error, "%s", msg);
    pthread_mutex_unlock(&c->log->lock);
    if (changed) /* once per distinct error, not once per retry */
        pz_warn("event log %s: %s", c->key, msg);
}

/* Sleeps ms in small steps; false when the consumer was asked to stop. */
static bool nap(consumer *c, int64_t ms)
{
    for (int64_t slept = 0; slept < ms && !atomic_load(&c->stop); slept += 50) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return !atomic_load(&c->stop);
}

static rd_kafka_t *open_consumer(consumer *c)
{
    char err[256] = "";
    rd_kafka_conf_t *conf = pz_kafka_conf_new((const char *const *)c->settings, err, sizeof err);
    char group[PZ_UUID_SIZE + 16];
    snprintf(group, sizeof group, "pz-eventlog-%s", c->log->origin);
    /* Manual assignment and offsets kept in our store: the group id only names the client. */
    const char *props[][2] = {{"group.id", group},
                              {"enable.auto.commit", "false"},
                              {"enable.auto.offset.store", "false"},
                              {"auto.offset.reset", "earliest"},
                              /* A broker answers a fetch as soon as data arrives, but some (and the
                               * mock cluster) hold an empty one this long: it bounds the lag. */
                              {"fetch.wait.max.ms", PZ_EVENT_LOG_FETCH_WAIT_MS},
                              {"client.id", "pz-eventlog"}};
    for (size_t i = 0; conf != NULL && i < sizeof props / sizeof props[0]; i++) {
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof err) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            conf = NULL;
        }
    }
    rd_kafka_t *rk = NULL;
    if (conf != NULL) {
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
        if (rk == NULL)
            rd_kafka_conf_destroy(conf);
    }
    if (rk == NULL) {
        set_error(c, "cannot create a consumer: %s", err);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* The topic's partition count, or 0 when it cannot be known now (no metadata, no topic yet). */
static int partition_count(consumer *c, rd_kafka_t *rk)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, c->settings[PZ_KAFKA_TOPIC], NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, t, &md, METADATA_TIMEOUT_MS);
    int n = 0;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        set_error(c, "metadata: %s", rd_kafka_err2str(err));
    else if (md->topic_cnt == 1 && md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
        set_error(c, "topic: %s", rd_kafka_err2str(md->topics[0].err));
    else if (md->topic_cnt == 1)
        n = md->topics[0].partition_cnt;
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return n;
}

/* Adds partitions [from, to) to the assignment, each from its stored offset or the beginning. */
static bool assign(consumer *c, rd_kafka_t *rk, int from, int to)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(to - from);
    c->consumed_next = pz_realloc(c->consumed_next, (size_t)to * sizeof *c->consumed_next);
    c->stored_next = pz_realloc(c->stored_next, (size_t)to * sizeof *c->stored_next);
    for (int p = from; p < to; p++) {
        char key[1024];
        offset_key(key, sizeof key, c->offsets_key, p);
        int64_t next;
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(list, c->settings[PZ_KAFKA_TOPIC], p);
        bool stored = store_get(c->log, key, &next, sizeof next) == 0;
        tp->offset = stored ? next : RD_KAFKA_OFFSET_BEGINNING;
        c->consumed_next[p] = c->stored_next[p] = stored ? next : 0;
    }
    rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (e != NULL) {
        set_error(c, "assign: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return false;
    }
    pthread_mutex_lock(&c->log->lock);
    c->partitions = to;
    pthread_mutex_unlock(&c->log->lock);
    pz_info("event log %s: consuming partitions %d..%d", c->key, from, to - 1);
    return true;
}

/* True when the namespace applies its own events locally (a builtin target): then this instance's
 * messages in the log are already in its model. */
static bool applies_locally(consumer *c)
{
    pz_config *cfg = pz_config_holder_acquire(c->log->o.config);
    const pz_namespace *ns = pz_config_namespace(cfg, c->ns);
    bool local = false;
    for (size_t i = 0; ns != NULL && i < ns->n_event_targets && !local; i++)
        local = ns->event_targets[i].type == PZ_TARGET_BUILTIN;
    pz_config_unref(cfg);
    return local;
}

static bool own_message(consumer *c, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val = NULL;
    size_t size = 0;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(hdrs, PZ_KAFKA_ORIGIN_HEADER, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    return size == strlen(c->log->origin) && memcmp(val, c->log->origin, size) == 0;
}

/* One thing read from the log for this namespace, with where it was read: an interaction for the
 * learner, or an experiment record for the experiment store. A partition is one stream of each,
 * and its items must reach them in log order. */
typedef struct log_item {
    int32_t partition;
    size_t order; /* position in the batch */
    bool is_experiment;
    pz_interaction ev;       /* !is_experiment */
    pz_experiment_event exp; /* is_experiment */
} log_item;

typedef struct batch_items {
    log_item *items;
    size_t n, cap;
    pz_interaction *one; /* one message's interactions */
    size_t one_cap;
    size_t skipped_own, experiments;
} batch_items;

/* The learner stream of one partition of this log: the same name after a restart, and short (the
 * learner bounds stream names): "kafka:<hash of the offsets key>#<partition>". The experiment
 * store keeps its marks under the same name. */
static void partition_stream(const consumer *c, int32_t partition, char *buf, size_t cap)
{
    snprintf(buf, cap, "kafka:%016llx#%d", (unsigned long long)c->offsets_key_hash, (int)partition);
}

static log_item *add_item(batch_items *b, int32_t partition)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->items = pz_realloc(b->items, b->cap * sizeof *b->items);
    }
    log_item *it = &b->items[b->n];
    *it = (log_item){.partition = partition, .order = b->n};
    b->n++;
    return it;
}

/* What message m (parsed: root) holds for this namespace, appended to b. seq = offset + 1 (a
 * stream's seq 0 is none). An own message is skipped where this instance already applied it: its
 * experiment record always (every instance counts its own from its outbox), its events when the
 * namespace has a builtin target (`local`). */
static void message_items(consumer *c, const rd_kafka_message_t *m, json_t *root, bool local, batch_items *b,
                          int64_t now_ms)
{
    const char *ns = json_string_value(json_object_get(root, "namespace"));
    if (ns == NULL || strcmp(ns, c->ns) != 0) /* a topic shared with another namespace */
        return;
    uint64_t seq = (uint64_t)m->offset + 1;
    pz_experiment_event x;
    if (pz_evrec_experiment_event(root, seq, &x)) {
        if (own_message(c, m)) {
            b->skipped_own++;
        } else {
            log_item *it = add_item(b, m->partition);
            it->is_experiment = true;
            it->exp = x;
            b->experiments++;
        }
        return;
    }
    size_t got = 0;
    pz_evrec_interactions(root, seq, now_ms, &b->one, &got, &b->one_cap);
    if (local && own_message(c, m)) { /* applied before its 200, by the builtin target */
        b->skipped_own += got;
        return;
    }
    for (size_t j = 0; j < got; j++)
        add_item(b, m->partition)->ev = b->one[j];
}

/* Stores where each partition resumes after a restart, in one transaction when one moved: after
 * the last message applied, but never past the first event the learner applied and has not made
 * durable yet (those must be read again if the process dies before the learner writes them;
 * events read again that it did keep are skipped by their stream's mark). */
static int store_progress(consumer *c)
{
    MDB_txn *txn = NULL;
    int rc = 0;
    for (int p = 0; rc == 0 && p < c->partitions; p++) {
        int64_t resume = c->consumed_next[p];
        if (c->log->o.learner.unflushed_from != NULL) {
            char stream[64];
            partition_stream(c, p, stream, sizeof stream);
            uint64_t first = c->log->o.learner.unflushed_from(c->log->o.learner.self, stream);
            if (first != UINT64_MAX && (int64_t)first - 1 < resume)
                resume = (int64_t)first - 1; /* seq = offset + 1 */
        }
        if (resume <= c->stored_next[p])
            continue;
        if (txn == NULL && (rc = mdb_txn_begin(c->log->env, NULL, 0, &txn)) != 0)
            break;
        char key[1024];
        offset_key(key, sizeof key, c->offsets_key, p);
        MDB_val k = {strlen(key), key}, v = {sizeof resume, &resume};
        rc = mdb_put(txn, c->log->dbi, &k, &v, 0);
        if (rc == 0)
            c->stored_next[p] = resume;
    }
    if (txn == NULL)
        return rc;
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    if (rc != 0) /* read again after a restart at worst, and skipped by the marks: never lost */
        for (int p = 0; p < c->partitions; p++) {
            char key[1024];
            int64_t next;
            offset_key(key, sizeof key, c->offsets_key, p);
            c->stored_next[p] = store_get(c->log, key, &next, sizeof next) == 0 ? next : 0;
        }
    return rc;
}

static int by_partition_then_order(const void *a, const void *b)
{
    const log_item *x = a, *y = b;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Applies items[0..n) (sorted by partition) one partition at a time, each partition its own stream
 * of the learner and of the experiment store. 0, or -1 with err: what was applied before a failure
 * is skipped by its stream's mark on the retry. */
static int apply_by_partition(consumer *c, const log_item *items, size_t n, pz_interaction *evs,
                              pz_experiment_event *xs, char *err, size_t errlen)
{
    const pz_learner *learner = &c->log->o.learner;
    const pz_experiment_store *store = &c->log->o.experiments;
    for (size_t from = 0; from < n;) {
        size_t to = from, n_evs = 0, n_xs = 0;
        for (; to < n && items[to].partition == items[from].partition; to++) {
            if (items[to].is_experiment)
                xs[n_xs++] = items[to].exp;
            else
                evs[n_evs++] = items[to].ev;
        }
        char stream[64];
        partition_stream(c, items[from].partition, stream, sizeof stream);
        if (n_evs > 0 && learner->learn(learner->self, c->ns, stream, evs, n_evs, err, errlen) != 0)
            return -1;
        if (n_xs > 0 && store->apply != NULL && store->apply(store->self, c->ns, stream, xs, n_xs, err, errlen) != 0)
            return -1;
        from = to;
    }
    return 0;
}

/* Applies a batch, retrying with backoff until it is applied and its offsets stored. False when
 * the consumer stopped first (the batch is read again at the next start). */
static bool apply_batch(consumer *c, rd_kafka_message_t *const *msgs, size_t n)
{
    json_t **roots = pz_calloc(n, sizeof *roots);
    batch_items b = {0};
    bool local = applies_locally(c);
    int64_t now_ms = pz_now_ms();
    for (size_t i = 0; i < n; i++) {
        roots[i] = json_loadb(msgs[i]->payload, msgs[i]->len, 0, NULL);
        message_items(c, msgs[i], roots[i], local, &b, now_ms);
    }
    if (b.n > 0)
        qsort(b.items, b.n, sizeof *b.items, by_partition_then_order);
    pz_interaction *evs = pz_calloc(b.n ? b.n : 1, sizeof *evs);
    pz_experiment_event *xs = pz_calloc(b.n ? b.n : 1, sizeof *xs);
    bool done = false;
    for (unsigned attempt = 1; !done; attempt++) {
        char err[PZ_DELIVERY_MAX_REASON] = "";
        if (apply_by_partition(c, b.items, b.n, evs, xs, err, sizeof err) == 0) {
            /* After the model changed: nothing computed from the old model stays cached. */
            const char *last_user = NULL;
            for (size_t i = 0; i < b.n && c->log->o.purge != NULL; i++) {
                const char *user = b.items[i].is_experiment ? NULL : b.items[i].ev.user_id;
                if (user != NULL && user != last_user)
                    c->log->o.purge(c->log->o.purge_ctx, c->ns, user);
                last_user = user != NULL ? user : last_user;
            }
            for (size_t i = 0; i < n; i++) {
                int32_t p = msgs[i]->partition;
                if (p >= 0 && p < c->partitions && msgs[i]->offset + 1 > c->consumed_next[p])
                    c->consumed_next[p] = msgs[i]->offset + 1;
            }
            int src = store_progress(c);
            if (src != 0)
                set_error(c, "storing offsets: %s", mdb_strerror(src));
            done = true;
            break;
        }
        set_error(c, "applying %zu events and experiment records: %s", b.n, err);
        pz_backoff_policy policy = {RETRY_BASE_MS, RETRY_CAP_MS};
        if (!nap(c, pz_backoff_delay_ms(&policy, attempt, 0.5)))
            break;
    }
    if (done) {
        pthread_mutex_lock(&c->log->lock);
        c->consumed += n;
        c->applied += b.n - b.experiments;
        c->experiment_records += b.experiments;
        c->skipped_own += b.skipped_own;
        c->batches++;
        pthread_mutex_unlock(&c->log->lock);
    }
    for (size_t i = 0; i < n; i++)
        json_decref(roots[i]);
    free(roots);
    free(evs);
    free(xs);
    free(b.one);
    free(b.items);
    return done;
}

static void *consume_main(void *arg)
{
    consumer *c = arg;
    rd_kafka_t *rk = NULL;
    int partitions = 0;
    int64_t next_check = 0;
    rd_kafka_message_t **msgs = pz_calloc(PZ_EVENT_LOG_BATCH, sizeof *msgs);
    while (!atomic_load(&c->stop)) {
        if (rk == NULL && (rk = open_consumer(c)) == NULL) {
            nap(c, 1000);
            continue;
        }
        if (c->offsets_key == NULL) {
            char *cluster = rd_kafka_clusterid(rk, METADATA_TIMEOUT_MS);
            if (cluster == NULL) {
                set_error(c, "the cluster id is unknown (brokers unreachable?)");
                nap(c, 1000);
                continue;
            }
            size_t len = strlen(c->ns) + strlen(c->settings[PZ_KAFKA_TOPIC]) + strlen(cluster) + 3;
            c->offsets_key = pz_malloc(len);
            snprintf(c->offsets_key, len, "%s/%s@%s", c->ns, c->settings[PZ_KAFKA_TOPIC], cluster);
            c->offsets_key_hash = pz_hash64(c->offsets_key, strlen(c->offsets_key), 0);
            rd_kafka_mem_free(rk, cluster);
        }
        if (pz_now_ms() >= next_check) {
            int n = partition_count(c, rk);
            if (n > partitions && assign(c, rk, partitions, n))
                partitions = n;
            next_check = pz_now_ms() + (partitions > 0 ? PZ_EVENT_LOG_PARTITIONS_CHECK_MS : 1000);
        }
        if (partitions == 0) {
            nap(c, 200);
            continue;
        }
        size_t n = 0;
        int64_t until = 0;
        while (n < PZ_EVENT_LOG_BATCH && !atomic_load(&c->stop)) {
            int64_t left = n == 0 ? POLL_MS : until - pz_now_ms();
            if (left < 0)
                break;
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, (int)left);
            if (m == NULL) {
                if (n == 0) { /* nothing for POLL_MS: what the learner wrote since moves the resume points */
                    int src = store_progress(c);
                    if (src != 0)
                        set_error(c, "storing offsets: %s", mdb_strerror(src));
                    break; /* and look at stop and the partitions again */
                }
                continue;
            }
            if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    set_error(c, "consume: %s", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                continue;
            }
            if (n == 0)
                until = pz_now_ms() + PZ_EVENT_LOG_BATCH_WAIT_MS;
            msgs[n++] = m;
        }
        if (n > 0 && !apply_batch(c, msgs, n)) {
            for (size_t i = 0; i < n; i++)
                rd_kafka_message_destroy(msgs[i]);
            break; /* stopping: the batch is read again from the stored offsets */
        }
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(msgs[i]);
    }
    free(msgs);
    if (rk != NULL) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    return NULL;
}

static void consumer_free(consumer *c)
{
    free(c->key);
    free(c->ns);
    free(c->offsets_key);
    free(c->consumed_next);
    free(c->stored_next);
    for (int f = 0; f < PZ_KAFKA__COUNT; f++)
        free(c->settings[f]);
    free(c);
}

static void consumer_stop(consumer *c)
{
    atomic_store(&c->stop, true);
    pthread_join(c->thread, NULL);
    consumer_free(c);
}

/* ---- following the configuration ---- */

static void resync(pz_event_log *l)
{
    pz_config *cfg = pz_config_holder_acquire(l->o.config);
    pthread_mutex_lock(&l->lock);
    for (consumer *c = l->consumers; c != NULL; c = c->next)
        c->seen = false;
    for (size_t i = 0; i < pz_config_namespace_count(cfg); i++) {
        const pz_namespace *ns = pz_config_namespace_at(cfg, i);
        for (size_t t = 0; t < ns->n_event_targets; t++) {
            const pz_event_target *target = &ns->event_targets[t];
            if (!target->event_log)
                continue;
            char *id, *spec;
            pz_target_spec_render(ns->key, target, &id, &spec);
            free(spec);
            consumer *c = l->consumers;
            while (c != NULL && strcmp(c->key, id) != 0)
                c = c->next;
            if (c != NULL) {
                c->seen = true;
                free(id);
                continue;
            }
            c = pz_calloc(1, sizeof *c);
            c->log = l;
            c->key = id;
            c->ns = pz_strdup(ns->key);
            for (int f = 0; f < PZ_KAFKA__COUNT; f++)
                c->settings[f] = target->kafka.v[f] != NULL ? pz_strdup(target->kafka.v[f]) : NULL;
            c->seen = true;
            int rc = pthread_create(&c->thread, NULL, consume_main, c);
            if (rc != 0) {
                pz_warn("event log %s: cannot start its consumer thread: %s (retried)", id, strerror(rc));
                consumer_free(c);
                continue;
            }
            pz_info("event log %s: started (origin %s)", id, l->origin);
            c->next = l->consumers;
            l->consumers = c;
        }
    }
    consumer *gone = NULL;
    for (consumer **pp = &l->consumers; *pp != NULL;) {
        consumer *c = *pp;
        if (c->seen) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        c->next = gone;
        gone = c;
    }
    pthread_mutex_unlock(&l->lock);
    pz_config_unref(cfg);
    while (gone != NULL) { /* joined outside the lock: a consumer may be taking it for its stats */
        consumer *next = gone->next;
        pz_info("event log %s: no longer configured, stopped", gone->key);
        consumer_stop(gone);
        gone = next;
    }
}

static void *resync_main(void *arg)
{
    pz_event_log *l = arg;
    pthread_mutex_lock(&l->lock);
    while (!l->stopping) {
        pthread_mutex_unlock(&l->lock);
        resync(l);
        pthread_mutex_lock(&l->lock);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (l->o.resync_ms % 1000) * 1000000L;
        ts.tv_sec += l->o.resync_ms / 1000 + ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        if (!l->stopping)
            pthread_cond_timedwait(&l->wake, &l->lock, &ts);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

void pz_event_log_start(pz_event_log *l)
{
    if (l->o.learner.learn == NULL)
        return;
    if (pthread_create(&l->resync, NULL, resync_main, l) != 0)
        pz_fatal("cannot start the event log thread");
    l->started = true;
}

void pz_event_log_stats_json(pz_event_log *l, pz_buf *out)
{
    json_t *o = json_object();
    json_object_set_new(o, "origin", json_string(l->origin));
    json_t *logs = json_array();
    pthread_mutex_lock(&l->lock);
    for (consumer *c = l->consumers; c != NULL; c = c->next) {
        json_t *s = json_object();
        json_object_set_new(s, "namespace", json_string(c->ns));
        json_object_set_new(s, "topic", json_string(c->settings[PZ_KAFKA_TOPIC]));
        json_object_set_new(s, "brokers", json_string(c->settings[PZ_KAFKA_BROKERS]));
        json_object_set_new(s, "partitions", json_integer(c->partitions));
        json_object_set_new(s, "consumed", json_integer((json_int_t)c->consumed));
        json_object_set_new(s, "applied", json_integer((json_int_t)c->applied));
        json_object_set_new(s, "experimentRecords", json_integer((json_int_t)c->experiment_records));
        json_object_set_new(s, "skippedOwn", json_integer((json_int_t)c->skipped_own));
        json_object_set_new(s, "batches", json_integer((json_int_t)c->batches));
        json_object_set_new(s, "lastError", c->last_error[0] ? json_string(c->last_error) : json_null());
        json_array_append_new(logs, s);
    }
    pthread_mutex_unlock(&l->lock);
    json_object_set_new(o, "logs", logs);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    pz_buf_append_str(out, text != NULL ? text : "{}");
    free(text);
}

void pz_event_log_close(pz_event_log *l)
{
    if (l == NULL)
        return;
    if (l->started) {
        pthread_mutex_lock(&l->lock);
        l->stopping = true;
        pthread_cond_signal(&l->wake);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->resync, NULL);
    }
    consumer *c = l->consumers;
    l->consumers = NULL;
    while (c != NULL) {
        consumer *next = c->next;
        consumer_stop(c);
        c = next;
    }
    mdb_env_close(l->env);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->wake);
    free(l);
}
