/* The experiment store on LMDB (store.h). */
#include "server/experiments/store.h"

#include <errno.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/fs.h"
#include "server/core/mem.h"

#define ID_LEN 16
#define KEY_LEN (2 * ID_LEN)

struct pz_experiments {
    MDB_env *env;
    MDB_dbi experiments, cells, seen, last, applied;
    size_t map_mb;
};

/* The counts of a cell as stored (host byte order: an LMDB file never leaves its machine's
 * architecture), followed by "variation\0metric\0". */
typedef struct stored_counts {
    uint64_t users, exposures, conversions, converted_users, unattributed;
    double value;
} stored_counts;

/* An experiment's header as stored, followed by "ns\0recommender\0feature\0control\0". */
typedef struct stored_experiment {
    int64_t first_ms, last_ms;
} stored_experiment;

static int fail(int rc, char *err, size_t errlen, const char *what, const pz_experiments *x)
{
    if (rc == MDB_MAP_FULL)
        snprintf(err, errlen, "%s: the experiment store is full (map size %zu MiB; delete finished experiments)", what,
                 x->map_mb);
    else
        snprintf(err, errlen, "%s: %s", what, mdb_strerror(rc));
    return -1;
}

/* The first ID_LEN bytes of SHA-256 over the parts, each followed by a NUL. */
static void digest(uint8_t out[ID_LEN], const char *const *parts, size_t n)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        pz_fatal("experiments: SHA-256 is not available");
    for (size_t i = 0; i < n; i++)
        EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1);
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    memcpy(out, md, ID_LEN);
}

static void experiment_id(uint8_t id[ID_LEN], const char *ns, const char *rec, const char *feature)
{
    const char *parts[] = {ns, rec, feature};
    digest(id, parts, 3);
}

/* id followed by the digest of parts. */
static void sub_key(uint8_t key[KEY_LEN], const uint8_t id[ID_LEN], const char *const *parts, size_t n)
{
    memcpy(key, id, ID_LEN);
    digest(key + ID_LEN, parts, n);
}

int pz_experiments_open(const char *dir, size_t map_mb, pz_experiments **out, char *err, size_t errlen)
{
    if (pz_make_dirs(dir) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    pz_experiments *x = pz_calloc(1, sizeof *x);
    x->map_mb = map_mb ? map_mb : PZ_EXPERIMENTS_DEFAULT_MAP_MB;
    int rc = mdb_env_create(&x->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(x->env, 8);
    if (rc == 0)
        rc = mdb_env_set_mapsize(x->env, x->map_mb << 20);
    /* MDB_NOTLS: a read slot belongs to its transaction, so any thread may read. */
    if (rc == 0)
        rc = mdb_env_open(x->env, dir, MDB_NOTLS, 0644);
    MDB_txn *txn = NULL;
    if (rc == 0)
        rc = mdb_txn_begin(x->env, NULL, 0, &txn);
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {{"experiments", &x->experiments},
               {"cells", &x->cells},
               {"seen", &x->seen},
               {"last", &x->last},
               {"applied", &x->applied}};
    for (size_t i = 0; rc == 0 && i < sizeof dbs / sizeof dbs[0]; i++)
        rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi);
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc != 0) {
        if (txn != NULL)
            mdb_txn_abort(txn);
        snprintf(err, errlen, "cannot open the experiment store in %s: %s", dir, mdb_strerror(rc));
        mdb_env_close(x->env);
        free(x);
        return -1;
    }
    *out = x;
    return 0;
}

void pz_experiments_close(pz_experiments *x)
{
    if (x == NULL)
        return;
    mdb_env_close(x->env);
    free(x);
}

/* ---- applying ---- */

/* LMDB's default key size limit. */
#define APPLIED_KEY_MAX 511

/* The key of a source's last applied seq: the namespace for the outbox (as before streams
 * existed), "<ns>\x1f<stream>" for another source (the separator cannot occur in either). */
static size_t applied_key(char *buf, size_t cap, const char *ns, const char *stream)
{
    return (size_t)(stream == NULL ? snprintf(buf, cap, "%s", ns) : snprintf(buf, cap, "%s\x1f%s", ns, stream));
}

static uint64_t applied_seq(MDB_txn *txn, MDB_dbi dbi, const char *key)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    uint64_t seq = 0;
    if (mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == sizeof seq)
        memcpy(&seq, v.mv_data, sizeof seq);
    return seq;
}

/* Marks a key seen; *was_new says whether it was not before. */
static int mark_seen(MDB_txn *txn, MDB_dbi dbi, const uint8_t key[KEY_LEN], bool *was_new)
{
    MDB_val k = {KEY_LEN, (void *)key}, v = {1, (void *)""};
    int rc = mdb_put(txn, dbi, &k, &v, MDB_NOOVERWRITE);
    *was_new = rc == 0;
    return rc == MDB_KEYEXIST ? 0 : rc;
}

/* Reads a cell's counts (zeros when new), lets fn change them, writes them back with the names. */
static int update_cell(MDB_txn *txn, MDB_dbi dbi, const uint8_t id[ID_LEN], const char *variation, const char *metric,
                       void (*fn)(stored_counts *c, const pz_experiment_event *ev, bool flag),
                       const pz_experiment_event *ev, bool flag)
{
    const char *parts[] = {variation, metric};
    uint8_t key[KEY_LEN];
    sub_key(key, id, parts, 2);
    MDB_val k = {KEY_LEN, key}, v;
    stored_counts c = {0};
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == 0 && v.mv_size >= sizeof c)
        memcpy(&c, v.mv_data, sizeof c);
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    fn(&c, ev, flag);
    size_t lv = strlen(variation) + 1, lm = strlen(metric) + 1;
    MDB_val nv = {sizeof c + lv + lm, NULL};
    rc = mdb_put(txn, dbi, &k, &nv, MDB_RESERVE);
    if (rc != 0)
        return rc;
    memcpy(nv.mv_data, &c, sizeof c);
    memcpy((char *)nv.mv_data + sizeof c, variation, lv);
    memcpy((char *)nv.mv_data + sizeof c + lv, metric, lm);
    return 0;
}

static void add_user(stored_counts *c, const pz_experiment_event *ev, bool flag)
{
    (void)ev;
    (void)flag;
    c->users++;
}

static void add_exposure(stored_counts *c, const pz_experiment_event *ev, bool flag)
{
    (void)ev;
    (void)flag;
    c->exposures++;
}

static void add_conversion(stored_counts *c, const pz_experiment_event *ev, bool new_converter)
{
    c->conversions++;
    c->value += ev->value;
    if (new_converter)
        c->converted_users++;
}

static void add_unattributed(stored_counts *c, const pz_experiment_event *ev, bool flag)
{
    (void)ev;
    (void)flag;
    c->unattributed++;
}

/* Creates or updates the experiment's header (times, names, control). */
static int touch_experiment(MDB_txn *txn, MDB_dbi dbi, const uint8_t id[ID_LEN], const char *ns,
                            const pz_experiment_event *ev)
{
    MDB_val k = {ID_LEN, (void *)id}, v;
    stored_experiment h = {ev->at_ms, ev->at_ms};
    const char *control = ev->control;
    char *old_control = NULL;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == 0 && v.mv_size > sizeof h) {
        memcpy(&h, v.mv_data, sizeof h);
        if (ev->at_ms < h.first_ms)
            h.first_ms = ev->at_ms;
        if (ev->at_ms > h.last_ms)
            h.last_ms = ev->at_ms;
        if (control == NULL) { /* keep the stored one: strings after ns, recommender, feature */
            const char *p = (const char *)v.mv_data + sizeof h, *end = (const char *)v.mv_data + v.mv_size;
            for (int i = 0; i < 3 && p < end; i++)
                p += strnlen(p, (size_t)(end - p)) + 1;
            if (p < end)
                control = old_control = pz_strndup(p, strnlen(p, (size_t)(end - p)));
        }
    } else if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
    }
    const char *strs[] = {ns, ev->recommender, ev->feature, control != NULL ? control : ""};
    size_t len = sizeof h;
    for (size_t i = 0; i < 4; i++)
        len += strlen(strs[i]) + 1;
    MDB_val nv = {len, NULL};
    rc = mdb_put(txn, dbi, &k, &nv, MDB_RESERVE);
    if (rc == 0) {
        char *p = nv.mv_data;
        memcpy(p, &h, sizeof h);
        p += sizeof h;
        for (size_t i = 0; i < 4; i++) {
            size_t l = strlen(strs[i]) + 1;
            memcpy(p, strs[i], l);
            p += l;
        }
    }
    free(old_control);
    return rc;
}

static int apply_exposure(pz_experiments *x, MDB_txn *txn, const uint8_t id[ID_LEN], const pz_experiment_event *ev)
{
    const char *user_parts[] = {ev->user_id};
    uint8_t key[KEY_LEN];
    /* each user once per variation */
    const char *seen_parts[] = {"E", ev->variation, "", ev->user_id};
    sub_key(key, id, seen_parts, 4);
    bool was_new;
    int rc = mark_seen(txn, x->seen, key, &was_new);
    if (rc == 0 && was_new)
        rc = update_cell(txn, x->cells, id, ev->variation, "", add_user, ev, false);
    /* where the user's conversions count */
    sub_key(key, id, user_parts, 1);
    MDB_val k = {KEY_LEN, key}, v = {strlen(ev->variation), (void *)ev->variation};
    if (rc == 0)
        rc = mdb_put(txn, x->last, &k, &v, 0);
    if (rc == 0 && ev->metric != NULL)
        rc = update_cell(txn, x->cells, id, ev->variation, ev->metric, add_exposure, ev, false);
    return rc;
}

static int apply_conversion(pz_experiments *x, MDB_txn *txn, const uint8_t id[ID_LEN], const pz_experiment_event *ev)
{
    const char *user_parts[] = {ev->user_id};
    uint8_t key[KEY_LEN];
    sub_key(key, id, user_parts, 1);
    MDB_val k = {KEY_LEN, key}, v;
    int rc = mdb_get(txn, x->last, &k, &v);
    if (rc == MDB_NOTFOUND) /* never exposed: not in the figures, but not lost either */
        return update_cell(txn, x->cells, id, ev->variation != NULL ? ev->variation : "", ev->metric, add_unattributed,
                           ev, false);
    if (rc != 0)
        return rc;
    char *variation = pz_strndup(v.mv_data, v.mv_size);
    const char *seen_parts[] = {"C", variation, ev->metric, ev->user_id};
    sub_key(key, id, seen_parts, 4);
    bool was_new;
    rc = mark_seen(txn, x->seen, key, &was_new);
    if (rc == 0)
        rc = update_cell(txn, x->cells, id, variation, ev->metric, add_conversion, ev, was_new);
    free(variation);
    return rc;
}

int pz_experiments_apply(pz_experiments *x, const char *ns, const char *stream, const pz_experiment_event *events,
                         size_t n, char *err, size_t errlen)
{
    char key[APPLIED_KEY_MAX + 1];
    if ((stream != NULL && strlen(stream) > PZ_EXPERIMENT_MAX_STREAM_LEN) ||
        applied_key(key, sizeof key, ns, stream) > APPLIED_KEY_MAX) {
        snprintf(err, errlen,
                 "the namespace and stream names are longer than the store keeps (stream at most %d bytes)",
                 PZ_EXPERIMENT_MAX_STREAM_LEN);
        return -1;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin(x->env, NULL, 0, &txn);
    if (rc != 0)
        return fail(rc, err, errlen, "cannot begin a write", x);
    uint64_t applied = applied_seq(txn, x->applied, key), last = applied;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const pz_experiment_event *ev = &events[i];
        if (ev->seq <= applied) /* delivered again after a crash: already counted */
            continue;
        if (ev->seq > last)
            last = ev->seq;
        if (ev->recommender == NULL || ev->feature == NULL || ev->user_id == NULL ||
            (ev->kind == PZ_EXPERIMENT_EXPOSURE && ev->variation == NULL) ||
            (ev->kind == PZ_EXPERIMENT_CONVERSION && ev->metric == NULL))
            continue; /* not countable; the record still counts as applied */
        uint8_t id[ID_LEN];
        experiment_id(id, ns, ev->recommender, ev->feature);
        rc = touch_experiment(txn, x->experiments, id, ns, ev);
        if (rc == 0)
            rc = ev->kind == PZ_EXPERIMENT_EXPOSURE ? apply_exposure(x, txn, id, ev) : apply_conversion(x, txn, id, ev);
    }
    if (rc == 0 && last != applied) {
        MDB_val k = {strlen(key), key}, v = {sizeof last, &last};
        rc = mdb_put(txn, x->applied, &k, &v, 0);
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return fail(rc, err, errlen, "cannot count the experiment events", x);
    }
    rc = mdb_txn_commit(txn);
    return rc == 0 ? 0 : fail(rc, err, errlen, "cannot commit the experiment counts", x);
}

/* ---- reading ---- */

/* The strings after a header of `skip` bytes, NUL-separated; copies of the first `n` into out. */
static size_t split_strings(const MDB_val *v, size_t skip, pz_arena *arena, const char **out, size_t n)
{
    const char *p = (const char *)v->mv_data + skip, *end = (const char *)v->mv_data + v->mv_size;
    size_t got = 0;
    while (p < end && got < n) {
        size_t l = strnlen(p, (size_t)(end - p));
        out[got++] = pz_arena_strndup(arena, p, l);
        p += l + 1;
    }
    return got;
}

int pz_experiments_read(pz_experiments *x, const char *ns, const char *recommender, const char *feature,
                        pz_arena *arena, pz_experiment_data *out, char *err, size_t errlen)
{
    *out = (pz_experiment_data){0};
    uint8_t id[ID_LEN];
    experiment_id(id, ns, recommender, feature);
    MDB_txn *txn;
    int rc = mdb_txn_begin(x->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return fail(rc, err, errlen, "cannot read the experiment store", x);
    MDB_val k = {ID_LEN, id}, v;
    if (mdb_get(txn, x->experiments, &k, &v) == 0 && v.mv_size > sizeof(stored_experiment)) {
        stored_experiment h;
        memcpy(&h, v.mv_data, sizeof h);
        const char *strs[4] = {0};
        split_strings(&v, sizeof h, arena, strs, 4);
        out->found = true;
        out->first_ms = h.first_ms;
        out->last_ms = h.last_ms;
        out->control = strs[3] != NULL && strs[3][0] != '\0' ? strs[3] : NULL;
    }
    MDB_cursor *c;
    size_t cap = 0;
    rc = mdb_cursor_open(txn, x->cells, &c);
    MDB_val ck = {ID_LEN, id}, cv;
    int op = MDB_SET_RANGE;
    while (rc == 0 && mdb_cursor_get(c, &ck, &cv, op) == 0) {
        op = MDB_NEXT;
        if (ck.mv_size != KEY_LEN || memcmp(ck.mv_data, id, ID_LEN) != 0)
            break;
        if (cv.mv_size <= sizeof(stored_counts))
            continue;
        if (out->n_cells == cap) {
            cap = cap ? 2 * cap : 16;
            pz_experiment_cell *cells = pz_arena_calloc(arena, cap, sizeof *cells);
            if (out->n_cells > 0)
                memcpy(cells, out->cells, out->n_cells * sizeof *cells);
            out->cells = cells;
        }
        stored_counts sc;
        memcpy(&sc, cv.mv_data, sizeof sc);
        const char *names[2] = {"", ""};
        split_strings(&cv, sizeof sc, arena, names, 2);
        out->cells[out->n_cells++] = (pz_experiment_cell){.variation = names[0],
                                                          .metric = names[1][0] != '\0' ? names[1] : NULL,
                                                          .users = sc.users,
                                                          .exposures = sc.exposures,
                                                          .conversions = sc.conversions,
                                                          .converted_users = sc.converted_users,
                                                          .value = sc.value,
                                                          .unattributed = sc.unattributed};
    }
    if (rc == 0)
        mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (rc != 0)
        return fail(rc, err, errlen, "cannot read the experiment counts", x);
    out->found = out->found || out->n_cells > 0;
    return 0;
}

int pz_experiments_list(pz_experiments *x, const char *ns, pz_arena *arena, pz_experiment_ref **out, size_t *n,
                        const char ***namespaces, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    if (namespaces != NULL)
        *namespaces = NULL;
    MDB_txn *txn;
    int rc = mdb_txn_begin(x->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return fail(rc, err, errlen, "cannot read the experiment store", x);
    MDB_stat st;
    mdb_stat(txn, x->experiments, &st);
    pz_experiment_ref *refs = pz_arena_calloc(arena, st.ms_entries ? st.ms_entries : 1, sizeof *refs);
    const char **nss = pz_arena_calloc(arena, st.ms_entries ? st.ms_entries : 1, sizeof *nss);
    MDB_cursor *c;
    rc = mdb_cursor_open(txn, x->experiments, &c);
    MDB_val k, v;
    int op = MDB_FIRST;
    while (rc == 0 && *n < st.ms_entries && mdb_cursor_get(c, &k, &v, op) == 0) {
        op = MDB_NEXT;
        stored_experiment h;
        if (v.mv_size <= sizeof h)
            continue;
        memcpy(&h, v.mv_data, sizeof h);
        const char *strs[3] = {0};
        if (split_strings(&v, sizeof h, arena, strs, 3) < 3 || (ns != NULL && strcmp(strs[0], ns) != 0))
            continue;
        nss[*n] = strs[0];
        refs[(*n)++] = (pz_experiment_ref){strs[1], strs[2], h.first_ms, h.last_ms};
    }
    if (rc == 0)
        mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (rc != 0)
        return fail(rc, err, errlen, "cannot list the experiments", x);
    *out = refs;
    if (namespaces != NULL)
        *namespaces = nss;
    return 0;
}

/* Deletes every key of dbi that starts with id. */
static int delete_prefix(MDB_txn *txn, MDB_dbi dbi, const uint8_t id[ID_LEN], size_t *deleted)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc != 0)
        return rc;
    MDB_val k = {ID_LEN, (void *)id}, v;
    int got = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && got == 0 && k.mv_size >= ID_LEN && memcmp(k.mv_data, id, ID_LEN) == 0) {
        rc = mdb_cursor_del(c, 0);
        (*deleted)++;
        if (rc == 0)
            got = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
        if (got == EINVAL || got == MDB_NOTFOUND) /* the cursor sits past the last key */
            break;
    }
    mdb_cursor_close(c);
    return rc;
}

int pz_experiments_delete(pz_experiments *x, const char *ns, const char *recommender, const char *feature, char *err,
                          size_t errlen)
{
    uint8_t id[ID_LEN];
    experiment_id(id, ns, recommender, feature);
    MDB_txn *txn;
    int rc = mdb_txn_begin(x->env, NULL, 0, &txn);
    if (rc != 0)
        return fail(rc, err, errlen, "cannot begin a write", x);
    size_t deleted = 0;
    MDB_val k = {ID_LEN, id};
    rc = mdb_del(txn, x->experiments, &k, NULL);
    if (rc == 0)
        deleted++;
    if (rc == MDB_NOTFOUND)
        rc = 0;
    MDB_dbi dbis[] = {x->cells, x->seen, x->last};
    for (size_t i = 0; rc == 0 && i < 3; i++)
        rc = delete_prefix(txn, dbis[i], id, &deleted);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return fail(rc, err, errlen, "cannot delete the experiment", x);
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0)
        return fail(rc, err, errlen, "cannot commit the deletion", x);
    return deleted > 0 ? 1 : 0;
}

/* ---- the port ---- */

static int port_apply(void *self, const char *ns, const char *stream, const pz_experiment_event *events, size_t n,
                      char *err, size_t errlen)
{
    return pz_experiments_apply(self, ns, stream, events, n, err, errlen);
}

static int port_read(void *self, const char *ns, const char *recommender, const char *feature, pz_arena *arena,
                     pz_experiment_data *out, char *err, size_t errlen)
{
    return pz_experiments_read(self, ns, recommender, feature, arena, out, err, errlen);
}

static int port_list(void *self, const char *ns, pz_arena *arena, pz_experiment_ref **out, size_t *n, char *err,
                     size_t errlen)
{
    return pz_experiments_list(self, ns, arena, out, n, NULL, err, errlen);
}

pz_experiment_store pz_experiments_port(pz_experiments *x)
{
    return (pz_experiment_store){.self = x, .apply = port_apply, .read = port_read, .list = port_list};
}
