#include "server/catalog/catalog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/core/fs.h"
#include "server/core/mem.h"
#include "server/core/request.h"

#define META_DB "meta"
#define RECORD_VERSION 1

/* The current-generation record of a namespace (the "meta" DB value). */
typedef struct record {
    uint32_t version;
    uint32_t slot; /* 0 or 1: which items DB holds the current generation */
    uint64_t generation;
    uint64_t revision;
    uint64_t items;
    int64_t published_ms;
} record;

/* A namespace whose two slot DBs this process has opened. Entries are appended under dbi_lock and
 * never change afterwards, so readers scan them without a lock. */
typedef struct ns_entry {
    char ns[PZ_CATALOG_MAX_NS_LEN + 1];
    MDB_dbi slot[2];
} ns_entry;

struct pz_catalog {
    MDB_env *env;
    MDB_dbi meta;
    size_t map_size_mb;
    char dir[PATH_MAX];
    pthread_mutex_t dbi_lock; /* mdb_dbi_open may not run in two transactions of a process at once */
    ns_entry entries[PZ_CATALOG_MAX_NAMESPACES];
    atomic_size_t n_entries;
};

struct pz_catalog_build {
    pz_catalog *catalog;
    const ns_entry *entry;
    int lock_fd;
    unsigned target; /* the slot being built */
    MDB_txn *txn;    /* the open batch, NULL between batches */
    size_t in_batch;
    uint64_t count;
    char max_key[PZ_CATALOG_MAX_ID_LEN]; /* the largest id put so far (ids in order are appended) */
    size_t max_key_len;
};

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int fail_mdb(const pz_catalog *c, char *err, size_t errlen, const char *what, int rc)
{
    if (rc == MDB_MAP_FULL)
        return fail(err, errlen, "catalog: %s: the LMDB map is full (%zu MB); free disk space or raise the map size",
                    what, c->map_size_mb);
    return fail(err, errlen, "catalog: %s: %s", what, mdb_strerror(rc));
}

bool pz_catalog_valid_namespace(const char *ns)
{
    size_t n = ns != NULL ? strlen(ns) : 0;
    if (n == 0 || n > PZ_CATALOG_MAX_NS_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = ns[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '-'))
            return false;
    }
    return true;
}

static int check_namespace(const char *ns, char *err, size_t errlen)
{
    if (pz_catalog_valid_namespace(ns))
        return 0;
    return fail(err, errlen, "catalog: invalid namespace '%s': expected 1 to %d characters of A-Z a-z 0-9 _ -",
                ns != NULL ? ns : "", PZ_CATALOG_MAX_NS_LEN);
}

int pz_catalog_open(const char *dir, const pz_catalog_options *opts, pz_catalog **out, char *err, size_t errlen)
{
    *out = NULL;
    if (pz_make_dirs(dir) != 0)
        return fail(err, errlen, "catalog: cannot create %s: %s", dir, strerror(errno));
    pz_catalog *c = pz_calloc(1, sizeof *c);
    c->map_size_mb = opts != NULL && opts->map_size_mb > 0 ? opts->map_size_mb : PZ_CATALOG_DEFAULT_MAP_MB;
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    pthread_mutex_init(&c->dbi_lock, NULL);
    atomic_init(&c->n_entries, 0);
    int rc = mdb_env_create(&c->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(c->env, 2 * PZ_CATALOG_MAX_NAMESPACES + 1);
    if (rc == 0)
        rc = mdb_env_set_mapsize(c->env, c->map_size_mb << 20);
    /* MDB_NOTLS: a read slot belongs to the transaction, not the thread (event loops, views).
     * MDB_NORDAHEAD: lookups are random; reading ahead would only fill memory with neighbours. */
    if (rc == 0)
        rc = mdb_env_open(c->env, dir, MDB_NOTLS | MDB_NORDAHEAD, 0644);
    int dead = 0;
    if (rc == 0)
        rc = mdb_reader_check(c->env, &dead); /* slots left by crashed processes */
    MDB_txn *txn = NULL;
    if (rc == 0)
        rc = mdb_txn_begin(c->env, NULL, 0, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, META_DB, MDB_CREATE, &c->meta);
        rc = rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
    }
    if (rc != 0) {
        fail_mdb(c, err, errlen, dir, rc);
        pz_catalog_close(c);
        return -1;
    }
    *out = c;
    return 0;
}

void pz_catalog_close(pz_catalog *c)
{
    if (c == NULL)
        return;
    if (c->env != NULL)
        mdb_env_close(c->env);
    pthread_mutex_destroy(&c->dbi_lock);
    free(c);
}

/* ---- namespace slots ---- */

static const ns_entry *find_entry(pz_catalog *c, const char *ns)
{
    size_t n = atomic_load_explicit(&c->n_entries, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (strcmp(c->entries[i].ns, ns) == 0)
            return &c->entries[i];
    return NULL;
}

/* Opens the two slot DBs of ns (creating them when `create`) and records them. Returns the entry,
 * or NULL with err. */
static const ns_entry *open_entry(pz_catalog *c, const char *ns, bool create, char *err, size_t errlen)
{
    pthread_mutex_lock(&c->dbi_lock);
    const ns_entry *found = find_entry(c, ns);
    size_t n = atomic_load_explicit(&c->n_entries, memory_order_relaxed);
    if (found != NULL || n == PZ_CATALOG_MAX_NAMESPACES) {
        pthread_mutex_unlock(&c->dbi_lock);
        if (found == NULL)
            fail(err, errlen, "catalog: more than %d namespaces", PZ_CATALOG_MAX_NAMESPACES);
        return found;
    }
    ns_entry *e = &c->entries[n];
    snprintf(e->ns, sizeof e->ns, "%s", ns);
    MDB_txn *txn;
    int rc = mdb_txn_begin(c->env, NULL, create ? 0 : MDB_RDONLY, &txn);
    for (unsigned s = 0; rc == 0 && s < 2; s++) {
        char name[PZ_CATALOG_MAX_NS_LEN + 16];
        snprintf(name, sizeof name, "items/%s/%u", ns, s);
        rc = mdb_dbi_open(txn, name, create ? MDB_CREATE : 0, &e->slot[s]);
        if (rc != 0)
            mdb_txn_abort(txn);
    }
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    if (rc == 0)
        atomic_store_explicit(&c->n_entries, n + 1, memory_order_release);
    pthread_mutex_unlock(&c->dbi_lock);
    if (rc != 0) {
        fail_mdb(c, err, errlen, ns, rc);
        return NULL;
    }
    return e;
}

/* 0 with *r, MDB_NOTFOUND, or another LMDB error (a record of the wrong shape is corrupt). */
static int read_record(const pz_catalog *c, MDB_txn *txn, const char *ns, record *r)
{
    MDB_val k = {.mv_size = strlen(ns), .mv_data = (void *)ns}, v;
    int rc = mdb_get(txn, c->meta, &k, &v);
    if (rc != 0)
        return rc;
    if (v.mv_size != sizeof *r)
        return MDB_CORRUPTED;
    memcpy(r, v.mv_data, sizeof *r);
    return r->version == RECORD_VERSION && r->slot < 2 ? 0 : MDB_CORRUPTED;
}

static int write_record(const pz_catalog *c, MDB_txn *txn, const char *ns, const record *r)
{
    MDB_val k = {.mv_size = strlen(ns), .mv_data = (void *)ns}, v = {.mv_size = sizeof *r, .mv_data = (void *)r};
    return mdb_put(txn, c->meta, &k, &v, 0);
}

static void info_from_record(const record *r, pz_catalog_info *info)
{
    *info = (pz_catalog_info){.present = true,
                              .generation = r->generation,
                              .revision = r->revision,
                              .items = r->items,
                              .published_ms = r->published_ms};
}

static uint64_t slot_entries(MDB_txn *txn, MDB_dbi dbi, int *rc)
{
    MDB_stat st;
    *rc = mdb_stat(txn, dbi, &st);
    return *rc == 0 ? st.ms_entries : 0;
}

/* ---- namespace lock (across processes) ---- */

static int lock_namespace(pz_catalog *c, const char *ns, bool wait, char *err, size_t errlen)
{
    char path[PATH_MAX + PZ_CATALOG_MAX_NS_LEN + 8];
    snprintf(path, sizeof path, "%s/%s.lock", c->dir, ns);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(err, errlen, "catalog: cannot open %s: %s", path, strerror(errno));
    while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
        if (errno == EINTR)
            continue;
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK) {
            fail(err, errlen, "catalog: another load or edit of namespace '%s' is in progress", ns);
            return PZ_CATALOG_BUSY;
        }
        return fail(err, errlen, "catalog: cannot lock %s: %s", path, strerror(e));
    }
    return fd;
}

static void unlock_namespace(int fd)
{
    flock(fd, LOCK_UN);
    close(fd);
}

/* ---- info and views ---- */

int pz_catalog_info_get(pz_catalog *c, const char *ns, pz_catalog_info *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (check_namespace(ns, err, errlen) != 0)
        return -1;
    MDB_txn *txn;
    int rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return fail_mdb(c, err, errlen, "read", rc);
    record r;
    rc = read_record(c, txn, ns, &r);
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return fail_mdb(c, err, errlen, ns, rc);
    info_from_record(&r, out);
    return 0;
}

int pz_catalog_view_begin(pz_catalog *c, const char *ns, pz_catalog_view *v, char *err, size_t errlen)
{
    memset(v, 0, sizeof *v);
    if (check_namespace(ns, err, errlen) != 0)
        return -1;
    const ns_entry *e = find_entry(c, ns);
    /* A handle opened after a transaction began is unknown to it: open first, then read again. */
    for (int attempt = 0; attempt < 2; attempt++) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn);
        if (rc != 0)
            return fail_mdb(c, err, errlen, "read", rc);
        record r;
        rc = read_record(c, txn, ns, &r);
        if (rc == MDB_NOTFOUND) {
            mdb_txn_abort(txn);
            return 0;
        }
        if (rc != 0) {
            mdb_txn_abort(txn);
            return fail_mdb(c, err, errlen, ns, rc);
        }
        if (e != NULL) {
            v->txn = txn;
            v->dbi = e->slot[r.slot];
            info_from_record(&r, &v->info);
            return 0;
        }
        mdb_txn_abort(txn);
        if ((e = open_entry(c, ns, false, err, errlen)) == NULL)
            return -1;
    }
    return fail(err, errlen, "catalog: cannot open namespace '%s'", ns);
}

int pz_catalog_view_get(const pz_catalog_view *v, const char *id, size_t id_len, const void **value, size_t *len)
{
    if (v->txn == NULL || id_len == 0 || id_len > PZ_CATALOG_MAX_ID_LEN)
        return 0;
    MDB_val k = {.mv_size = id_len, .mv_data = (void *)id}, d;
    int rc = mdb_get(v->txn, v->dbi, &k, &d);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return -1;
    *value = d.mv_data;
    *len = d.mv_size;
    return 1;
}

void pz_catalog_view_end(pz_catalog_view *v)
{
    if (v->txn != NULL)
        mdb_txn_abort(v->txn);
    v->txn = NULL;
}

/* ---- builds ---- */

/* Empties one slot in its own transaction. */
static int clear_slot(pz_catalog *c, MDB_dbi dbi)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(c->env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    rc = mdb_drop(txn, dbi, 0);
    return rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
}

int pz_catalog_build_begin(pz_catalog *c, const char *ns, pz_catalog_build **out, char *err, size_t errlen)
{
    *out = NULL;
    if (check_namespace(ns, err, errlen) != 0)
        return -1;
    int fd = lock_namespace(c, ns, false, err, errlen);
    if (fd < 0)
        return fd; /* -1 or PZ_CATALOG_BUSY */
    const ns_entry *e = find_entry(c, ns);
    if (e == NULL && (e = open_entry(c, ns, true, err, errlen)) == NULL) {
        unlock_namespace(fd);
        return -1;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn);
    record r;
    if (rc == 0) {
        rc = read_record(c, txn, ns, &r);
        mdb_txn_abort(txn);
    }
    unsigned target = 0;
    if (rc == 0)
        target = 1 - r.slot;
    else if (rc == MDB_NOTFOUND)
        rc = 0;
    if (rc == 0)
        rc = clear_slot(c, e->slot[target]); /* leftovers of a failed build */
    if (rc != 0) {
        unlock_namespace(fd);
        return fail_mdb(c, err, errlen, ns, rc);
    }
    pz_catalog_build *b = pz_calloc(1, sizeof *b);
    *b = (pz_catalog_build){.catalog = c, .entry = e, .lock_fd = fd, .target = target};
    *out = b;
    return 0;
}

int pz_catalog_build_put(pz_catalog_build *b, const char *id, size_t id_len, const void *value, size_t len,
                         bool *replaced, char *err, size_t errlen)
{
    pz_catalog *c = b->catalog;
    if (id_len == 0 || id_len > PZ_CATALOG_MAX_ID_LEN)
        return fail(err, errlen, "item ids must be 1 to %d bytes", PZ_CATALOG_MAX_ID_LEN);
    int rc = 0;
    if (b->txn == NULL && (rc = mdb_txn_begin(c->env, NULL, 0, &b->txn)) != 0) {
        b->txn = NULL;
        return fail_mdb(c, err, errlen, "write", rc);
    }
    MDB_dbi dbi = b->entry->slot[b->target];
    MDB_val k = {.mv_size = id_len, .mv_data = (void *)id}, v = {.mv_size = len, .mv_data = (void *)value};
    /* An id above every id so far goes at the end of the tree: no search, full pages (input sorted
     * by id loads fastest and smallest). Anything else is an ordinary insert. */
    size_t common = id_len < b->max_key_len ? id_len : b->max_key_len;
    int order = memcmp(id, b->max_key, common);
    bool ascending = b->count == 0 || order > 0 || (order == 0 && id_len > b->max_key_len);
    rc = mdb_put(b->txn, dbi, &k, &v, ascending ? MDB_APPEND : MDB_NOOVERWRITE);
    bool existed = rc == MDB_KEYEXIST;
    if (rc == 0 && ascending) {
        memcpy(b->max_key, id, id_len);
        b->max_key_len = id_len;
    }
    if (existed) {
        v = (MDB_val){.mv_size = len, .mv_data = (void *)value};
        rc = mdb_put(b->txn, dbi, &k, &v, 0); /* the last put of an id wins */
    }
    if (rc == 0 && ++b->in_batch >= PZ_CATALOG_BUILD_BATCH) {
        rc = mdb_txn_commit(b->txn);
        b->txn = NULL;
        b->in_batch = 0;
    }
    if (rc != 0)
        return fail_mdb(c, err, errlen, "write", rc);
    if (!existed)
        b->count++;
    if (replaced != NULL)
        *replaced = existed;
    return 0;
}

uint64_t pz_catalog_build_count(const pz_catalog_build *b)
{
    return b->count;
}

static void build_free(pz_catalog_build *b)
{
    if (b->txn != NULL)
        mdb_txn_abort(b->txn);
    unlock_namespace(b->lock_fd);
    free(b);
}

int pz_catalog_build_publish(pz_catalog_build *b, pz_catalog_info *info, char *err, size_t errlen)
{
    pz_catalog *c = b->catalog;
    const char *ns = b->entry->ns;
    int rc = 0;
    if (b->txn != NULL) {
        rc = mdb_txn_commit(b->txn);
        b->txn = NULL;
    }
    MDB_txn *txn = NULL;
    if (rc == 0)
        rc = mdb_txn_begin(c->env, NULL, 0, &txn);
    if (rc == 0) {
        record prev, r = {.version = RECORD_VERSION, .slot = b->target, .generation = 1, .revision = 1};
        int prc = read_record(c, txn, ns, &prev);
        rc = prc == MDB_NOTFOUND ? 0 : prc;
        if (rc == 0 && prc == 0) {
            r.generation = prev.generation + 1;
            r.revision = prev.revision + 1;
            rc = prev.slot == b->target ? MDB_CORRUPTED : 0;
        }
        if (rc == 0)
            r.items = slot_entries(txn, b->entry->slot[b->target], &rc);
        r.published_ms = pz_now_ms();
        if (rc == 0)
            rc = write_record(c, txn, ns, &r);
        /* Readers of older snapshots keep their pages until they finish (MVCC). */
        if (rc == 0 && prc == 0)
            rc = mdb_drop(txn, b->entry->slot[prev.slot], 0);
        rc = rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
        if (rc == 0 && info != NULL)
            info_from_record(&r, info);
    }
    if (rc != 0) {
        fail_mdb(c, err, errlen, ns, rc);
        clear_slot(c, b->entry->slot[b->target]);
    }
    build_free(b);
    return rc == 0 ? 0 : -1;
}

void pz_catalog_build_abort(pz_catalog_build *b)
{
    if (b == NULL)
        return;
    if (b->txn != NULL) {
        mdb_txn_abort(b->txn);
        b->txn = NULL;
    }
    clear_slot(b->catalog, b->entry->slot[b->target]); /* best effort: the next build clears it too */
    build_free(b);
}

/* ---- edits ---- */

static int apply_edits(pz_catalog *c, MDB_txn *txn, const ns_entry *e, const char *ns, const pz_catalog_edit *edits,
                       size_t n, size_t *n_missing)
{
    record r;
    int rc = read_record(c, txn, ns, &r);
    if (rc == MDB_NOTFOUND) {
        r = (record){.version = RECORD_VERSION, .slot = 0, .generation = 1, .revision = 0};
        rc = mdb_drop(txn, e->slot[0], 0); /* leftovers of a failed build */
    }
    MDB_dbi dbi = e->slot[r.slot];
    for (size_t i = 0; rc == 0 && i < n; i++) {
        MDB_val k = {.mv_size = edits[i].id_len, .mv_data = (void *)edits[i].id};
        if (edits[i].value != NULL) {
            MDB_val v = {.mv_size = edits[i].len, .mv_data = (void *)edits[i].value};
            rc = mdb_put(txn, dbi, &k, &v, 0);
        } else if ((rc = mdb_del(txn, dbi, &k, NULL)) == MDB_NOTFOUND) {
            rc = 0;
            (*n_missing)++;
        }
    }
    if (rc == 0)
        r.items = slot_entries(txn, dbi, &rc);
    r.revision++;
    r.published_ms = pz_now_ms();
    return rc == 0 ? write_record(c, txn, ns, &r) : rc;
}

int pz_catalog_apply(pz_catalog *c, const char *ns, const pz_catalog_edit *edits, size_t n, size_t *n_missing,
                     char *err, size_t errlen)
{
    size_t missing = 0;
    if (n_missing != NULL)
        *n_missing = 0;
    if (check_namespace(ns, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (edits[i].id_len == 0 || edits[i].id_len > PZ_CATALOG_MAX_ID_LEN)
            return fail(err, errlen, "item ids must be 1 to %d bytes", PZ_CATALOG_MAX_ID_LEN);
    int fd = lock_namespace(c, ns, true, err, errlen);
    if (fd < 0)
        return -1;
    const ns_entry *e = find_entry(c, ns);
    if (e == NULL && (e = open_entry(c, ns, true, err, errlen)) == NULL) {
        unlock_namespace(fd);
        return -1;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin(c->env, NULL, 0, &txn);
    if (rc == 0) {
        rc = apply_edits(c, txn, e, ns, edits, n, &missing);
        rc = rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
    }
    unlock_namespace(fd);
    if (rc != 0)
        return fail_mdb(c, err, errlen, ns, rc);
    if (n_missing != NULL)
        *n_missing = missing;
    return 0;
}
