/* The builtin recommender's store: opening and closing the LMDB environment, the value encodings,
 * reads through the pending tables, and statistics. Learning and flushing are in
 * builtin_flush.c and builtin_ingest.c, queries in builtin.c; the design is in builtin_internal.h. */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/core/clock.h"
#include "server/core/fs.h"
#include "server/core/json_text.h"
#include "server/core/machine.h"
#include "server/recommenders/builtin_internal.h"
#include "server/recommenders/builtin_names.h"

#define MAX_DBS 8

static const char META_FORMAT[] = "format";
static const char META_NEXT_ID[] = "next_id";
static const char META_NEXT_NS[] = "next_ns";
static const char META_HALF_LIFE[] = "half_life_ms";
static const char META_NS_PREFIX[] = "ns:";

/* Started by builtin_flush.c. */
int pzb_flusher_start(pz_builtin *b, char *err, size_t errlen);
void pzb_flusher_stop(pz_builtin *b);

/* ---- errors and encodings ---- */

int pzb_fail(char *err, size_t errlen, const char *what, int rc)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "builtin: %s: %s", what, mdb_strerror(rc));
    return -1;
}

int pzb_fail_msg(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return -1;
    int n = snprintf(err, errlen, "builtin: ");
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < errlen)
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

void pzb_put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

uint32_t pzb_get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t pzb_ns_key(unsigned char *buf, uint32_t ns, const char *id)
{
    size_t len = strlen(id);
    if (len > PZ_BUILTIN_MAX_ID_LEN)
        return 0;
    pzb_put_be32(buf, ns);
    memcpy(buf + 4, id, len);
    return 4 + len;
}

double pzb_log_add(double a, double b)
{
    if (a < b) {
        double t = a;
        a = b;
        b = t;
    }
    if (b == -INFINITY)
        return a;
    return a + log1p(exp2(b - a)) / M_LN2;
}

double pzb_log_time(const pz_builtin *b, int64_t t_ms)
{
    return ((double)t_ms - PZB_EPOCH_MS) / b->half_life_ms;
}

double pzb_decayed(const pz_builtin *b, double L, int64_t now_ms)
{
    double v = exp2(L - pzb_log_time(b, now_ms));
    return v > DBL_MAX ? DBL_MAX : v;
}

size_t pzb_neighbors_decode(const unsigned char *v, size_t len, pzb_neighbor *out, size_t cap)
{
    size_t n = len / PZB_NEIGHBOR_BYTES;
    if (n > cap)
        n = cap;
    for (size_t i = 0; i < n; i++) {
        memcpy(&out[i].id, v + i * PZB_NEIGHBOR_BYTES, 4);
        memcpy(&out[i].d, v + i * PZB_NEIGHBOR_BYTES + 4, 4);
        memcpy(&out[i].L, v + i * PZB_NEIGHBOR_BYTES + 8, 8);
    }
    return n;
}

double pzb_neighbor_decayed(const pz_builtin *b, const pzb_neighbor *n, int64_t now_ms)
{
    double v = pzb_decayed(b, n->L, now_ms);
    return n->d == INFINITY ? v : v * -expm1(-(double)n->d * M_LN2); /* 2^L (1 - 2^-d) */
}

size_t pzb_neighbors_encode(const pzb_neighbor *in, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        memcpy(out + i * PZB_NEIGHBOR_BYTES, &in[i].id, 4);
        memcpy(out + i * PZB_NEIGHBOR_BYTES + 4, &in[i].d, 4);
        memcpy(out + i * PZB_NEIGHBOR_BYTES + 8, &in[i].L, 8);
    }
    return n * PZB_NEIGHBOR_BYTES;
}

size_t pzb_recent_decode(const unsigned char *v, size_t len, pzb_recent *out, size_t cap)
{
    size_t n = len / PZB_RECENT_BYTES;
    if (n > cap)
        n = cap; /* a store written with a larger cap: keep the most recent */
    for (size_t i = 0; i < n; i++) {
        memcpy(&out[i].id, v + i * PZB_RECENT_BYTES, 4);
        memcpy(&out[i].weight, v + i * PZB_RECENT_BYTES + 4, 4);
        memcpy(&out[i].t_ms, v + i * PZB_RECENT_BYTES + 8, 8);
    }
    return n;
}

size_t pzb_recent_encode(const pzb_recent *in, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        memcpy(out + i * PZB_RECENT_BYTES, &in[i].id, 4);
        memcpy(out + i * PZB_RECENT_BYTES + 4, &in[i].weight, 4);
        memcpy(out + i * PZB_RECENT_BYTES + 8, &in[i].t_ms, 8);
    }
    return n * PZB_RECENT_BYTES;
}

/* ---- reads ---- */

int pzb_view_begin(pz_builtin *b, pzb_view *v, bool learner)
{
    *v = (pzb_view){.b = b, .learner = learner};
    /* References first, then the transaction: a table dropped after we took it was flushed before
     * it was dropped, and a table we did not see was flushed before our transaction began. */
    pthread_mutex_lock(&b->pending_lock);
    v->active = pzb_pending_ref(b->active);
    v->frozen = b->frozen != NULL ? pzb_pending_ref(b->frozen) : NULL;
    pthread_mutex_unlock(&b->pending_lock);
    pthread_rwlock_rdlock(&b->map_lock);
    int rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &v->txn);
    if (rc != 0) {
        v->txn = NULL;
        pzb_view_end(v);
    }
    return rc;
}

void pzb_view_end(pzb_view *v)
{
    if (v->b == NULL)
        return;
    if (v->txn != NULL)
        mdb_txn_abort(v->txn);
    pthread_rwlock_unlock(&v->b->map_lock);
    pzb_pending_unref(v->active);
    pzb_pending_unref(v->frozen);
    v->b = NULL;
}

static int copy_out(const void *data, size_t n, void *buf, size_t cap, size_t *len)
{
    if (n > cap)
        return MDB_BAD_VALSIZE;
    if (n > 0) /* an empty value may have no data pointer (memcpy must not get NULL, even for 0) */
        memcpy(buf, data, n);
    *len = n;
    return 0;
}

int pzb_view_get(pzb_view *v, int db, const void *key, size_t klen, void *buf, size_t cap, size_t *len)
{
    uint64_t h = pzb_pending_hash((uint8_t)db, key, klen);
    const pzb_pending_entry *e;
    if (v->learner) { /* the only writer of its active table: it cannot change under us */
        e = pzb_pending_get(v->active, (uint8_t)db, key, klen, h);
        if (e != NULL)
            return copy_out(e->data, e->len, buf, cap, len);
    } else {
        pthread_mutex_lock(&v->b->pending_lock);
        e = pzb_pending_get(v->active, (uint8_t)db, key, klen, h);
        int rc = e != NULL ? copy_out(e->data, e->len, buf, cap, len) : MDB_NOTFOUND;
        pthread_mutex_unlock(&v->b->pending_lock);
        if (e != NULL)
            return rc;
    }
    if (v->frozen != NULL && (e = pzb_pending_get(v->frozen, (uint8_t)db, key, klen, h)) != NULL)
        return copy_out(e->data, e->len, buf, cap, len);
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key}, val;
    int rc = mdb_get(v->txn, v->b->dbi[db], &k, &val);
    return rc != 0 ? rc : copy_out(val.mv_data, val.mv_size, buf, cap, len);
}

void pzb_put(pz_builtin *b, int db, const void *key, size_t klen, const void *value, size_t len)
{
    uint64_t h = pzb_pending_hash((uint8_t)db, key, klen);
    pthread_mutex_lock(&b->pending_lock);
    pzb_pending_put(b->active, (uint8_t)db, key, klen, h, value, len);
    if (b->active_since_ms == 0)
        b->active_since_ms = pz_now_ms();
    pthread_mutex_unlock(&b->pending_lock);
}

/* ---- open / close ---- */

static size_t items_known(pz_builtin *b)
{
    size_t n = atomic_load(&b->n_ns), items = 0;
    for (size_t i = 0; i < n; i++)
        items += atomic_load(&b->ns[i]->items);
    return items;
}

void pz_builtin_options_default(pz_builtin_options *o)
{
    *o = (pz_builtin_options){.half_life_hours = 168,
                              .recent_items_per_user = 32,
                              .cooccurrence_window = 20,
                              .neighbors_per_item = 255,
                              .map_size_mb = 1024,
                              .max_size_mb = 65536,
                              .pending_mb = PZ_BUILTIN_PENDING_AUTO,
                              .flush_interval_ms = 30000,
                              .retry_ms = 10000,
                              .max_size_name = "max_size_mb"};
}

static int check_options(const pz_builtin_options *o, char *err, size_t errlen)
{
    /* The lower bound keeps L = t / half-life finite and precise for any int64 time. */
    if (!(o->half_life_hours >= 0.001 && o->half_life_hours <= 1e9))
        return pzb_fail_msg(err, errlen, "half_life_hours must be between 0.001 and 1e9");
    if (o->recent_items_per_user < 1 || o->recent_items_per_user > PZ_BUILTIN_MAX_RECENT)
        return pzb_fail_msg(err, errlen, "recent_items_per_user must be between 1 and %d", PZ_BUILTIN_MAX_RECENT);
    if (o->cooccurrence_window < 1 || o->cooccurrence_window > PZ_BUILTIN_MAX_RECENT)
        return pzb_fail_msg(err, errlen, "cooccurrence_window must be between 1 and %d", PZ_BUILTIN_MAX_RECENT);
    if (o->neighbors_per_item < PZ_BUILTIN_MIN_NEIGHBORS || o->neighbors_per_item > PZ_BUILTIN_MAX_NEIGHBORS)
        return pzb_fail_msg(err, errlen, "neighbors_per_item must be between %d and %d", PZ_BUILTIN_MIN_NEIGHBORS,
                            PZ_BUILTIN_MAX_NEIGHBORS);
    /* Sizes in MiB up to 16 TiB: more is a unit mistake on any machine. */
    size_t max_mb = (size_t)1 << 24;
    if (o->map_size_mb < 1 || o->map_size_mb > max_mb || o->max_size_mb < 1 || o->max_size_mb > max_mb ||
        o->pending_mb > max_mb)
        return pzb_fail_msg(err, errlen,
                            "map_size_mb and max_size_mb must be between 1 and %zu, pending_mb between 0 "
                            "(automatic) and %zu",
                            max_mb, max_mb);
    if (o->flush_interval_ms < 1 || o->retry_ms < 1)
        return pzb_fail_msg(err, errlen, "flush_interval_ms and retry_ms must be positive");
    return 0;
}

static int meta_get(MDB_txn *txn, MDB_dbi dbi, const char *name, void *out, size_t len)
{
    MDB_val k = {.mv_size = strlen(name), .mv_data = (void *)name}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == 0 && v.mv_size != len)
        rc = MDB_CORRUPTED;
    if (rc == 0)
        memcpy(out, v.mv_data, len);
    return rc;
}

static int meta_put(MDB_txn *txn, MDB_dbi dbi, const char *name, const void *value, size_t len)
{
    MDB_val k = {.mv_size = strlen(name), .mv_data = (void *)name}, v = {.mv_size = len, .mv_data = (void *)value};
    return mdb_put(txn, dbi, &k, &v, 0);
}

/* Creates the databases of a new store, or checks the format of an existing one; settles the
 * half-life (the stored one wins, because the statistics are encoded with it). */
static int open_dbs(pz_builtin *b, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(b->env, NULL, 0, &txn);
    if (rc != 0)
        return pzb_fail(err, errlen, "begin", rc);
    static const char *const names[PZB_N_DBS] = {
        [PZB_META] = "meta", [PZB_ITEMS] = "items", [PZB_BYID] = "byid",
        [PZB_COOC] = "cooc", [PZB_USERS] = "users", [PZB_SESSIONS] = "sessions"};
    for (int i = 0; i < PZB_N_DBS && rc == 0; i++)
        rc = mdb_dbi_open(txn, names[i], MDB_CREATE, &b->dbi[i]);
    uint32_t format = 0;
    int frc = rc == 0 ? meta_get(txn, b->dbi[PZB_META], META_FORMAT, &format, sizeof format) : rc;
    uint64_t old_next_id;
    if (frc == MDB_NOTFOUND && meta_get(txn, b->dbi[PZB_META], META_NEXT_ID, &old_next_id, sizeof old_next_id) == 0) {
        mdb_txn_abort(txn);
        return pzb_fail_msg(err, errlen,
                            "the store was written by an earlier version (format 1) and cannot be read: move it "
                            "aside and rebuild it with `personalization-server import-events` (the demo reseeds "
                            "itself): %s",
                            b->dir);
    }
    if (frc == 0 && format != PZB_FORMAT) {
        mdb_txn_abort(txn);
        return pzb_fail_msg(err, errlen, "the store in %s has format %u; this version reads format %d", b->dir, format,
                            PZB_FORMAT);
    }
    if (frc == MDB_NOTFOUND) {
        format = PZB_FORMAT;
        b->half_life_ms = b->opts.half_life_hours * 3600.0 * 1000.0;
        b->next_id = b->next_ns = 1;
        rc = meta_put(txn, b->dbi[PZB_META], META_FORMAT, &format, sizeof format);
        if (rc == 0)
            rc = meta_put(txn, b->dbi[PZB_META], META_HALF_LIFE, &b->half_life_ms, sizeof b->half_life_ms);
        if (rc == 0)
            rc = meta_put(txn, b->dbi[PZB_META], META_NEXT_ID, &b->next_id, sizeof b->next_id);
        if (rc == 0)
            rc = meta_put(txn, b->dbi[PZB_META], META_NEXT_NS, &b->next_ns, sizeof b->next_ns);
    } else if (frc == 0) {
        rc = meta_get(txn, b->dbi[PZB_META], META_HALF_LIFE, &b->half_life_ms, sizeof b->half_life_ms);
        if (rc == 0)
            rc = meta_get(txn, b->dbi[PZB_META], META_NEXT_ID, &b->next_id, sizeof b->next_id);
        if (rc == 0)
            rc = meta_get(txn, b->dbi[PZB_META], META_NEXT_NS, &b->next_ns, sizeof b->next_ns);
    } else {
        rc = frc;
    }
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    return rc != 0 ? pzb_fail(err, errlen, "open", rc) : 0;
}

static int load_namespaces(pz_builtin *b, MDB_txn *txn)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, b->dbi[PZB_META], &cur);
    if (rc != 0)
        return rc;
    size_t plen = sizeof META_NS_PREFIX - 1;
    MDB_val k = {.mv_size = plen, .mv_data = (void *)META_NS_PREFIX}, v;
    int r;
    for (r = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); r == 0; r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, META_NS_PREFIX, plen) != 0)
            break;
        uint32_t no;
        char name[PZ_BUILTIN_MAX_NS_LEN + 1];
        if (v.mv_size != sizeof no || k.mv_size - plen > PZ_BUILTIN_MAX_NS_LEN) {
            r = MDB_CORRUPTED;
            break;
        }
        memcpy(&no, v.mv_data, sizeof no);
        memcpy(name, (const char *)k.mv_data + plen, k.mv_size - plen);
        name[k.mv_size - plen] = '\0';
        if (pzb_ns_add(b, name, no) == NULL) {
            r = MDB_CORRUPTED;
            break;
        }
    }
    mdb_cursor_close(cur);
    return r == MDB_NOTFOUND ? 0 : r;
}

static int load_items(pz_builtin *b, MDB_txn *txn)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, b->dbi[PZB_BYID], &cur);
    if (rc != 0)
        return rc;
    MDB_val k, v;
    int r;
    for (r = mdb_cursor_get(cur, &k, &v, MDB_FIRST); r == 0; r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 4 || v.mv_size < PZB_BYID_HEAD) {
            r = MDB_CORRUPTED;
            break;
        }
        uint32_t id = pzb_get_be32(k.mv_data), ns_no;
        double L;
        memcpy(&L, v.mv_data, sizeof L);
        memcpy(&ns_no, (const char *)v.mv_data + 8, sizeof ns_no);
        pzb_ns *ns = pzb_ns_by_no(b, ns_no);
        if (ns == NULL) {
            r = MDB_CORRUPTED;
            break;
        }
        pzb_pop_set(b, id, L);
        atomic_fetch_add(&ns->items, 1);
        if (L != -INFINITY)
            pzb_top_update(ns, id, L, (const char *)v.mv_data + PZB_BYID_HEAD, v.mv_size - PZB_BYID_HEAD);
    }
    mdb_cursor_close(cur);
    return r == MDB_NOTFOUND ? 0 : r;
}

/* Rebuilds the namespaces, popularity and top lists from meta and byid. */
static int load_memory(pz_builtin *b, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return pzb_fail(err, errlen, "begin read", rc);
    rc = load_namespaces(b, txn);
    if (rc == 0)
        rc = load_items(b, txn);
    mdb_txn_abort(txn);
    return rc != 0 ? pzb_fail(err, errlen, "load", rc) : 0;
}

/* One process per store: the in-memory state (ids, popularity) would go stale under another. */
static int lock_store(pz_builtin *b, char *err, size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/lock", b->dir) >= (int)sizeof path)
        return pzb_fail_msg(err, errlen, "the directory path is too long");
    b->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (b->lock_fd < 0)
        return pzb_fail_msg(err, errlen, "cannot open %s: %s", path, strerror(errno));
    if (flock(b->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(b->lock_fd);
        b->lock_fd = -1;
        if (e == EWOULDBLOCK)
            return pzb_fail_msg(
                err, errlen, "the store in %s is in use by another process (a running server?); stop it first", b->dir);
        return pzb_fail_msg(err, errlen, "cannot lock %s: %s", path, strerror(e));
    }
    return 0;
}

static void free_store(pz_builtin *b)
{
    if (b->env != NULL)
        mdb_env_close(b->env);
    if (b->lock_fd >= 0)
        close(b->lock_fd);
    pzb_pop_free(b);
    pzb_pending_unref(b->active);
    pzb_pending_unref(b->frozen);
    for (size_t i = 0; i < b->n_streams; i++)
        free(b->streams[i].name);
    free(b->scratch_recent);
    free(b->scratch_neighbors);
    pthread_rwlock_destroy(&b->map_lock);
    pthread_mutex_destroy(&b->learn_lock);
    pthread_mutex_destroy(&b->pending_lock);
    pthread_cond_destroy(&b->changed);
    pthread_mutex_destroy(&b->stats_lock);
    free(b->dir);
    free(b);
}

int pz_builtin_open(const char *dir, const pz_builtin_options *opts, pz_builtin **out, char *err, size_t errlen)
{
    *out = NULL;
    pz_builtin_options o;
    if (opts != NULL)
        o = *opts;
    else
        pz_builtin_options_default(&o);
    if (o.max_size_name == NULL)
        o.max_size_name = "max_size_mb";
    if (dir == NULL || dir[0] == '\0')
        return pzb_fail_msg(err, errlen, "no data directory");
    if (check_options(&o, err, errlen) != 0)
        return -1;
    if (pz_make_dirs(dir) != 0)
        return pzb_fail_msg(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));

    pz_builtin *b = pz_calloc(1, sizeof *b);
    b->instance = pzb_names_instance();
    b->dir = pz_strdup(dir);
    b->opts = o;
    b->ram_share = pz_machine_memory() / PZ_BUILTIN_PENDING_AUTO_RAM_SHARE;
    b->lock_fd = -1;
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    /* Readers come and go all the time on the event loops: without writer preference a map resize
     * could wait forever. */
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&b->map_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&b->learn_lock, NULL);
    pthread_mutex_init(&b->pending_lock, NULL);
    pthread_cond_init(&b->changed, NULL);
    pthread_mutex_init(&b->stats_lock, NULL);
    atomic_init(&b->n_ns, 0);
    b->active = pzb_pending_new();
    size_t list_cap =
        (o.recent_items_per_user > o.cooccurrence_window ? o.recent_items_per_user : o.cooccurrence_window) + 1;
    b->scratch_recent = pz_malloc(list_cap * sizeof *b->scratch_recent);
    b->scratch_neighbors = pz_malloc((o.neighbors_per_item + 1) * sizeof *b->scratch_neighbors);

    size_t start_mb = o.map_size_mb < o.max_size_mb ? o.map_size_mb : o.max_size_mb;
    int rc = lock_store(b, err, errlen);
    if (rc == 0) {
        rc = mdb_env_create(&b->env);
        if (rc == 0)
            rc = mdb_env_set_maxdbs(b->env, MAX_DBS);
        if (rc == 0)
            rc = mdb_env_set_mapsize(b->env, start_mb * PZB_MIB);
        /* MDB_NOTLS: a read slot belongs to the transaction, not the thread, so event-loop threads
         * may interleave reads freely. */
        if (rc == 0)
            rc = mdb_env_open(b->env, dir, MDB_NOTLS, 0644);
        if (rc == 0 && mdb_env_get_maxkeysize(b->env) < PZB_META_KEY_MAX)
            rc = MDB_BAD_VALSIZE;
        if (rc != 0)
            pzb_fail(err, errlen, dir, rc);
    }
    if (rc == 0) {
        MDB_envinfo info;
        mdb_env_info(b->env, &info); /* a store larger than start_mb keeps its size */
        atomic_init(&b->map_bytes, info.me_mapsize);
        int dead;
        mdb_reader_check(b->env, &dead); /* frees slots left by a crashed process */
        rc = open_dbs(b, err, errlen);
    }
    if (rc == 0)
        rc = load_memory(b, err, errlen);
    if (rc != 0) {
        free_store(b);
        return -1;
    }
    b->stats.max_bytes = o.max_size_mb * PZB_MIB;
    if (pzb_flusher_start(b, err, errlen) != 0) {
        free_store(b);
        return -1;
    }
    *out = b;
    return 0;
}

void pz_builtin_close(pz_builtin *b)
{
    if (b == NULL)
        return;
    pzb_flusher_stop(b); /* flushes what is pending */
    free_store(b);
}

bool pz_builtin_has_data(pz_builtin *b, const char *ns)
{
    pzb_ns *n = ns != NULL ? pzb_ns_find(b, ns) : NULL;
    return n != NULL && atomic_load(&n->items) > 0;
}

/* ---- statistics ---- */

size_t pz_builtin_pending_budget(pz_builtin *b)
{
    if (b->opts.pending_mb != PZ_BUILTIN_PENDING_AUTO)
        return b->opts.pending_mb * PZB_MIB;
    /* Twice every item's list in the active half: room for the users' recent lists and the hash
     * table next to the items (measured: 2 GiB for 100k items kept flushes to the interval). */
    size_t least = PZ_BUILTIN_PENDING_AUTO_MIN_MB * PZB_MIB;
    size_t want = least + 4 * items_known(b) * b->opts.neighbors_per_item * PZB_NEIGHBOR_BYTES;
    size_t ceiling = b->ram_share;
    return want < ceiling ? want : ceiling > least ? ceiling : least;
}

void pz_builtin_stats_get(pz_builtin *b, pz_builtin_stats *out)
{
    pthread_mutex_lock(&b->stats_lock);
    *out = b->stats;
    pthread_mutex_unlock(&b->stats_lock);
    out->map_bytes = atomic_load(&b->map_bytes);
    MDB_envinfo info;
    MDB_stat st;
    if (mdb_env_info(b->env, &info) == 0 && mdb_env_stat(b->env, &st) == 0)
        out->used_bytes = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
    pthread_mutex_lock(&b->pending_lock);
    out->pending_bytes = pzb_pending_bytes(b->active) + (b->frozen ? pzb_pending_bytes(b->frozen) : 0);
    out->pending_entries = pzb_pending_count(b->active) + (b->frozen ? pzb_pending_count(b->frozen) : 0);
    pthread_mutex_unlock(&b->pending_lock);
    size_t n = atomic_load(&b->n_ns);
    out->namespaces = n;
    out->items = items_known(b);
    out->pending_budget_bytes = pz_builtin_pending_budget(b);
}

void pz_builtin_stats_json(pz_builtin *b, pz_buf *out)
{
    pz_builtin_stats s;
    pz_builtin_stats_get(b, &s);
    pz_buf_printf(
        out,
        "{\"state\":\"%s\",\"mapBytes\":%zu,\"maxBytes\":%zu,\"usedBytes\":%zu,\"pendingBytes\":%zu,"
        "\"pendingBudgetBytes\":%zu,\"pendingKeys\":%zu,\"eventsLearned\":%llu,\"eventsSkipped\":%llu,\"flushes\":%llu,"
        "\"keysFlushed\":%llu,\"mapGrowths\":%llu,\"flushFailures\":%llu,\"lastFlushMs\":%lld,"
        "\"lastFlushAt\":%lld,\"lastError\":",
        s.full ? "degraded" : "ok", s.map_bytes, s.max_bytes, s.used_bytes, s.pending_bytes, s.pending_budget_bytes,
        s.pending_entries, (unsigned long long)s.events_learned, (unsigned long long)s.events_skipped,
        (unsigned long long)s.flushes, (unsigned long long)s.keys_flushed, (unsigned long long)s.map_growths,
        (unsigned long long)s.flush_failures, (long long)s.last_flush_ms, (long long)s.last_flush_at_ms);
    if (s.last_error[0] != '\0')
        pz_json_write_string(out, s.last_error, strlen(s.last_error));
    else
        pz_buf_append_str(out, "null");
    pz_buf_printf(out, ",\"lastErrorAt\":%lld,\"namespaces\":%zu,\"items\":%zu}", (long long)s.last_error_at_ms,
                  s.namespaces, s.items);
}
