/* The outbox's LMDB storage (outbox.h). */
#include "server/events/outbox.h"

#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/core/fs.h"
#include "server/core/ids.h"
#include "server/core/mem.h"

#define META_NEXT_SEQ "next_seq"
#define META_NEXT_TARGET "next_target"
#define META_INSTANCE "instance"
#define DEAD_KEY_LEN 12

struct pz_outbox {
    MDB_env *env;
    MDB_dbi log, targets, dead, replay, meta;
    size_t map_mb;
    char instance[PZ_UUID_SIZE];
};

struct pz_outbox_txn {
    pz_outbox *ob;
    MDB_txn *txn;
    uint64_t next_seq;
    uint64_t stored_next_seq;
};

static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t from_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint32_t from_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int fail(int rc, char *err, size_t errlen, const char *what, const pz_outbox *ob)
{
    if (rc == MDB_MAP_FULL)
        snprintf(err, errlen,
                 "%s: the outbox is full (map size %zu MiB; raise --outbox-map-mb or let targets catch up)", what,
                 ob->map_mb);
    else if (rc == ENOSPC || rc == EDQUOT || rc == EIO) /* LMDB reports a full disk as EIO at the commit */
        snprintf(err, errlen, "%s: the event store is full or the disk is (%s)", what, mdb_strerror(rc));
    else
        snprintf(err, errlen, "%s: %s", what, mdb_strerror(rc));
    return -1;
}

static uint64_t meta_u64(MDB_txn *txn, MDB_dbi dbi, const char *name)
{
    MDB_val k = {.mv_size = strlen(name), .mv_data = (void *)name}, v;
    if (mdb_get(txn, dbi, &k, &v) != 0 || v.mv_size != 8)
        return 0;
    return from_be64(v.mv_data);
}

static int put_meta_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t value)
{
    uint8_t buf[8];
    be64(buf, value);
    MDB_val k = {.mv_size = strlen(name), .mv_data = (void *)name}, v = {.mv_size = 8, .mv_data = buf};
    return mdb_put(txn, dbi, &k, &v, 0);
}

/* The seq after the newest record ever appended (records may all have been reclaimed). */
static uint64_t next_seq_in(const pz_outbox *ob, MDB_txn *txn)
{
    uint64_t next = meta_u64(txn, ob->meta, META_NEXT_SEQ);
    MDB_cursor *c;
    MDB_val k, v;
    if (mdb_cursor_open(txn, ob->log, &c) == 0) {
        if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == 8 && from_be64(k.mv_data) + 1 > next)
            next = from_be64(k.mv_data) + 1;
        mdb_cursor_close(c);
    }
    return next == 0 ? 1 : next;
}

/* Reads the outbox's instance id, minting it when the outbox is new (or older than the id). */
static int settle_instance(pz_outbox *ob, MDB_txn *txn)
{
    MDB_val k = {.mv_size = sizeof META_INSTANCE - 1, .mv_data = (void *)META_INSTANCE}, v;
    int rc = mdb_get(txn, ob->meta, &k, &v);
    if (rc == 0 && v.mv_size == PZ_UUID_SIZE - 1) {
        memcpy(ob->instance, v.mv_data, v.mv_size);
        ob->instance[v.mv_size] = '\0';
        return 0;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    pz_uuid4(ob->instance);
    v = (MDB_val){.mv_size = PZ_UUID_SIZE - 1, .mv_data = ob->instance};
    return mdb_put(txn, ob->meta, &k, &v, 0);
}

int pz_outbox_open(const char *dir, size_t map_size_mb, pz_outbox **out, char *err, size_t errlen)
{
    if (pz_make_dirs(dir) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    pz_outbox *ob = pz_calloc(1, sizeof *ob);
    ob->map_mb = map_size_mb ? map_size_mb : PZ_OUTBOX_DEFAULT_MAP_MB;
    int rc = mdb_env_create(&ob->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(ob->env, 8);
    if (rc == 0)
        rc = mdb_env_set_mapsize(ob->env, ob->map_mb << 20);
    /* MDB_NOTLS: a read slot belongs to the transaction, so dispatcher threads may read freely. */
    if (rc == 0)
        rc = mdb_env_open(ob->env, dir, MDB_NOTLS, 0644);
    MDB_txn *txn = NULL;
    if (rc == 0)
        rc = mdb_txn_begin(ob->env, NULL, 0, &txn);
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {{"log", &ob->log},
               {"targets", &ob->targets},
               {"dead", &ob->dead},
               {"replay", &ob->replay},
               {"meta", &ob->meta}};
    for (size_t i = 0; rc == 0 && i < sizeof dbs / sizeof dbs[0]; i++)
        rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi);
    if (rc == 0)
        rc = settle_instance(ob, txn);
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else if (txn != NULL)
        mdb_txn_abort(txn);
    if (rc != 0) {
        snprintf(err, errlen, "cannot open the outbox in %s: %s", dir, mdb_strerror(rc));
        mdb_env_close(ob->env);
        free(ob);
        return -1;
    }
    *out = ob;
    return 0;
}

const char *pz_outbox_instance(const pz_outbox *ob)
{
    return ob->instance;
}

void pz_outbox_close(pz_outbox *ob)
{
    if (ob == NULL)
        return;
    mdb_env_close(ob->env);
    free(ob);
}

/* ---- write transactions ---- */

int pz_outbox_begin(pz_outbox *ob, pz_outbox_txn **t, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(ob->env, NULL, 0, &txn);
    if (rc != 0)
        return fail(rc, err, errlen, "begin", ob);
    pz_outbox_txn *x = pz_calloc(1, sizeof *x);
    x->ob = ob;
    x->txn = txn;
    x->next_seq = next_seq_in(ob, txn);
    x->stored_next_seq = meta_u64(txn, ob->meta, META_NEXT_SEQ);
    *t = x;
    return 0;
}

int pz_outbox_commit(pz_outbox_txn *t, char *err, size_t errlen)
{
    int rc = 0;
    if (t->next_seq != t->stored_next_seq)
        rc = put_meta_u64(t->txn, t->ob->meta, META_NEXT_SEQ, t->next_seq);
    if (rc == 0)
        rc = mdb_txn_commit(t->txn);
    else
        mdb_txn_abort(t->txn);
    pz_outbox *ob = t->ob;
    free(t);
    return rc == 0 ? 0 : fail(rc, err, errlen, "commit", ob);
}

void pz_outbox_abort(pz_outbox_txn *t)
{
    if (t == NULL)
        return;
    mdb_txn_abort(t->txn);
    free(t);
}

uint64_t pz_outbox_txn_next_seq(pz_outbox_txn *t)
{
    return t->next_seq;
}

int pz_outbox_append(pz_outbox_txn *t, const void *record, size_t len, uint64_t *seq, char *err, size_t errlen)
{
    uint8_t key[8];
    be64(key, t->next_seq);
    MDB_val k = {.mv_size = 8, .mv_data = key}, v = {.mv_size = len, .mv_data = (void *)record};
    int rc = mdb_put(t->txn, t->ob->log, &k, &v, MDB_APPEND);
    if (rc != 0)
        return fail(rc, err, errlen, "append", t->ob);
    *seq = t->next_seq++;
    return 0;
}

int pz_outbox_put_target(pz_outbox_txn *t, const pz_outbox_target *target, char *err, size_t errlen)
{
    size_t spec_len = strlen(target->spec);
    uint8_t *buf = pz_malloc(12 + spec_len);
    be32(buf, target->number);
    be64(buf + 4, target->cursor);
    memcpy(buf + 12, target->spec, spec_len);
    MDB_val k = {.mv_size = strlen(target->id), .mv_data = (void *)target->id},
            v = {.mv_size = 12 + spec_len, .mv_data = buf};
    int rc = mdb_put(t->txn, t->ob->targets, &k, &v, 0);
    free(buf);
    return rc == 0 ? 0 : fail(rc, err, errlen, "put target", t->ob);
}

int pz_outbox_delete_target(pz_outbox_txn *t, const char *id, char *err, size_t errlen)
{
    MDB_val k = {.mv_size = strlen(id), .mv_data = (void *)id};
    int rc = mdb_del(t->txn, t->ob->targets, &k, NULL);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : fail(rc, err, errlen, "delete target", t->ob);
}

int pz_outbox_new_target_number(pz_outbox_txn *t, uint32_t *number, char *err, size_t errlen)
{
    uint64_t n = meta_u64(t->txn, t->ob->meta, META_NEXT_TARGET);
    if (n == 0)
        n = 1;
    int rc = put_meta_u64(t->txn, t->ob->meta, META_NEXT_TARGET, n + 1);
    if (rc != 0)
        return fail(rc, err, errlen, "new target number", t->ob);
    *number = (uint32_t)n;
    return 0;
}

/* Dead-letter value: u32 attempts, u64 at_ms, u16 id_len, u16 reason_len, id, reason, record. */
static int put_dead_in(pz_outbox_txn *t, MDB_dbi dbi, const pz_outbox_dead *d, char *err, size_t errlen)
{
    size_t id_len = strlen(d->target_id);
    size_t reason_len = d->reason != NULL ? strlen(d->reason) : 0;
    if (reason_len > PZ_OUTBOX_MAX_REASON)
        reason_len = PZ_OUTBOX_MAX_REASON;
    if (id_len > UINT16_MAX)
        id_len = UINT16_MAX;
    size_t len = 16 + id_len + reason_len + d->record_len;
    uint8_t *buf = pz_malloc(len);
    be32(buf, d->attempts);
    be64(buf + 4, (uint64_t)d->at_ms);
    buf[12] = (uint8_t)(id_len >> 8);
    buf[13] = (uint8_t)id_len;
    buf[14] = (uint8_t)(reason_len >> 8);
    buf[15] = (uint8_t)reason_len;
    memcpy(buf + 16, d->target_id, id_len);
    if (reason_len)
        memcpy(buf + 16 + id_len, d->reason, reason_len);
    memcpy(buf + 16 + id_len + reason_len, d->record, d->record_len);
    uint8_t key[DEAD_KEY_LEN];
    be32(key, d->number);
    be64(key + 4, d->seq);
    MDB_val k = {.mv_size = sizeof key, .mv_data = key}, v = {.mv_size = len, .mv_data = buf};
    int rc = mdb_put(t->txn, dbi, &k, &v, 0);
    free(buf);
    return rc == 0 ? 0 : fail(rc, err, errlen, "put dead letter", t->ob);
}

int pz_outbox_put_dead(pz_outbox_txn *t, const pz_outbox_dead *d, char *err, size_t errlen)
{
    return put_dead_in(t, t->ob->dead, d, err, errlen);
}

/* Decodes a dead-letter entry; reason and id are copied into the caller's buffers (NUL-terminated). */
static int decode_dead(const MDB_val *k, const MDB_val *v, pz_outbox_dead *d, char *id, size_t id_cap, char *reason,
                       size_t reason_cap)
{
    if (k->mv_size != DEAD_KEY_LEN || v->mv_size < 16)
        return -1;
    const uint8_t *p = v->mv_data;
    size_t id_len = (size_t)p[12] << 8 | p[13], reason_len = (size_t)p[14] << 8 | p[15];
    if (v->mv_size < 16 + id_len + reason_len)
        return -1;
    d->number = from_be32(k->mv_data);
    d->seq = from_be64((const uint8_t *)k->mv_data + 4);
    d->attempts = from_be32(p);
    d->at_ms = (int64_t)from_be64(p + 4);
    snprintf(id, id_cap, "%.*s", (int)id_len, (const char *)p + 16);
    snprintf(reason, reason_cap, "%.*s", (int)reason_len, (const char *)p + 16 + id_len);
    d->target_id = id;
    d->reason = reason;
    d->record = p + 16 + id_len + reason_len;
    d->record_len = v->mv_size - 16 - id_len - reason_len;
    return 0;
}

long pz_outbox_take_replays(pz_outbox_txn *t, size_t max, pz_outbox_dead_fn fn, void *ctx, char *err, size_t errlen)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(t->txn, t->ob->replay, &c);
    if (rc != 0)
        return fail(rc, err, errlen, "replay cursor", t->ob);
    long n = 0;
    MDB_val k, v;
    char id[1024], reason[PZ_OUTBOX_MAX_REASON + 1];
    while ((size_t)n < max && (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
        pz_outbox_dead d;
        if (decode_dead(&k, &v, &d, id, sizeof id, reason, sizeof reason) == 0 && fn(ctx, &d) != 0) {
            mdb_cursor_close(c);
            snprintf(err, errlen, "replay aborted");
            return -1;
        }
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
        n++;
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return fail(rc, err, errlen, "take replays", t->ob);
    return n;
}

long pz_outbox_reclaim(pz_outbox_txn *t, uint64_t below, size_t max, char *err, size_t errlen)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(t->txn, t->ob->log, &c);
    if (rc != 0)
        return fail(rc, err, errlen, "reclaim cursor", t->ob);
    long n = 0;
    MDB_val k, v;
    while ((size_t)n < max && (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0 && from_be64(k.mv_data) < below) {
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
        n++;
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return fail(rc, err, errlen, "reclaim", t->ob);
    return n;
}

/* ---- reads ---- */

long pz_outbox_read(pz_outbox *ob, uint64_t from, size_t max_records, size_t max_bytes, pz_outbox_record_fn fn,
                    void *ctx, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(ob->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return fail(rc, err, errlen, "read", ob);
    MDB_cursor *c;
    rc = mdb_cursor_open(txn, ob->log, &c);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return fail(rc, err, errlen, "read cursor", ob);
    }
    uint8_t key[8];
    be64(key, from);
    MDB_val k = {.mv_size = 8, .mv_data = key}, v;
    long n = 0;
    size_t bytes = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && (size_t)n < max_records && bytes <= max_bytes;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        n++;
        bytes += v.mv_size;
        if (fn(ctx, from_be64(k.mv_data), v.mv_data, v.mv_size) != 0)
            break;
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return n;
}

long pz_outbox_targets(pz_outbox *ob, pz_outbox_target_fn fn, void *ctx, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(ob->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return fail(rc, err, errlen, "targets", ob);
    MDB_cursor *c;
    long n = 0;
    if ((rc = mdb_cursor_open(txn, ob->targets, &c)) == 0) {
        MDB_val k, v;
        for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            if (v.mv_size < 12)
                continue;
            char *id = pz_strndup(k.mv_data, k.mv_size);
            char *spec = pz_strndup((const char *)v.mv_data + 12, v.mv_size - 12);
            pz_outbox_target t = {id, from_be32(v.mv_data), from_be64((const uint8_t *)v.mv_data + 4), spec};
            fn(ctx, &t);
            free(id);
            free(spec);
            n++;
        }
        mdb_cursor_close(c);
    }
    mdb_txn_abort(txn);
    return rc == 0 || rc == MDB_NOTFOUND ? n : fail(rc, err, errlen, "targets", ob);
}

long pz_outbox_dead_letters(pz_outbox *ob, uint32_t number, pz_outbox_dead_fn fn, void *ctx, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(ob->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return fail(rc, err, errlen, "dead letters", ob);
    MDB_cursor *c;
    long n = 0;
    if ((rc = mdb_cursor_open(txn, ob->dead, &c)) == 0) {
        uint8_t key[DEAD_KEY_LEN] = {0};
        be32(key, number);
        MDB_val k = {.mv_size = sizeof key, .mv_data = key}, v;
        char id[1024], reason[PZ_OUTBOX_MAX_REASON + 1];
        for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            pz_outbox_dead d;
            if (decode_dead(&k, &v, &d, id, sizeof id, reason, sizeof reason) != 0)
                continue;
            if (number != 0 && d.number != number)
                break;
            n++;
            if (fn(ctx, &d) != 0)
                break;
        }
        mdb_cursor_close(c);
    }
    mdb_txn_abort(txn);
    return rc == 0 || rc == MDB_NOTFOUND ? n : fail(rc, err, errlen, "dead letters", ob);
}

int pz_outbox_info_get(pz_outbox *ob, pz_outbox_info *info, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(ob->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return fail(rc, err, errlen, "info", ob);
    memset(info, 0, sizeof *info);
    MDB_stat st;
    if (mdb_stat(txn, ob->log, &st) == 0)
        info->records = st.ms_entries;
    if (mdb_stat(txn, ob->dead, &st) == 0)
        info->dead_letters = st.ms_entries;
    if (mdb_stat(txn, ob->replay, &st) == 0)
        info->replays_queued = st.ms_entries;
    if (mdb_stat(txn, ob->targets, &st) == 0)
        info->targets = st.ms_entries;
    info->next_seq = next_seq_in(ob, txn);
    info->first_seq = info->next_seq;
    MDB_cursor *c;
    MDB_val k, v;
    if (mdb_cursor_open(txn, ob->log, &c) == 0) {
        if (mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0)
            info->first_seq = from_be64(k.mv_data);
        mdb_cursor_close(c);
    }
    mdb_txn_abort(txn);
    MDB_envinfo ei;
    MDB_stat es;
    if (mdb_env_info(ob->env, &ei) == 0 && mdb_env_stat(ob->env, &es) == 0) {
        info->used_bytes = (ei.me_last_pgno + 1) * (size_t)es.ms_psize;
        info->map_bytes = ei.me_mapsize;
    }
    return 0;
}

/* ---- admin ---- */

long pz_outbox_requeue_dead(pz_outbox *ob, uint32_t number, uint64_t seq, char *err, size_t errlen)
{
    pz_outbox_txn *t;
    if (pz_outbox_begin(ob, &t, err, errlen) != 0)
        return -1;
    MDB_cursor *c;
    int rc = mdb_cursor_open(t->txn, ob->dead, &c);
    long n = 0;
    if (rc == 0) {
        uint8_t key[DEAD_KEY_LEN] = {0};
        be32(key, number);
        be64(key + 4, seq);
        for (;;) {
            /* Each moved entry is deleted, so seeking the start key again finds the next one. */
            MDB_val k = {.mv_size = sizeof key, .mv_data = key}, v;
            if ((rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)) != 0)
                break;
            if (k.mv_size != DEAD_KEY_LEN || (number != 0 && from_be32(k.mv_data) != number) ||
                (seq != 0 && from_be64((const uint8_t *)k.mv_data + 4) != seq))
                break;
            uint8_t kcopy[DEAD_KEY_LEN];
            memcpy(kcopy, k.mv_data, sizeof kcopy);
            void *vcopy = pz_malloc(v.mv_size ? v.mv_size : 1);
            memcpy(vcopy, v.mv_data, v.mv_size);
            MDB_val k2 = {.mv_size = sizeof kcopy, .mv_data = kcopy}, v2 = {.mv_size = v.mv_size, .mv_data = vcopy};
            rc = mdb_cursor_del(c, 0);
            if (rc == 0)
                rc = mdb_put(t->txn, ob->replay, &k2, &v2, 0);
            free(vcopy);
            if (rc != 0)
                break;
            n++;
        }
        mdb_cursor_close(c);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        pz_outbox_abort(t);
        return fail(rc, err, errlen, "requeue dead letters", ob);
    }
    return pz_outbox_commit(t, err, errlen) == 0 ? n : -1;
}
