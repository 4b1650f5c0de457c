/* The builtin recommender's store: opening the LMDB environment, shared encodings, and learning
 * from events (pz_builtin_ingest). Queries are in builtin.c; the layout is in builtin_internal.h. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "server/core/mem.h"
#include "server/recommenders/builtin.h"
#include "server/recommenders/builtin_internal.h"

/* Bounds on the list options: a list is one LMDB value of up to this many 24-byte entries. */
#define MAX_LIST_OPTION 1000
#define MAX_DBS 8

static const char META_NEXT_ID[] = "next_id";
static const char META_HALF_LIFE[] = "half_life_ms";

/* ---- shared encodings ---- */

int pzb_fail(const pz_builtin *b, char *err, size_t errlen, const char *what, int rc)
{
    if (err == NULL || errlen == 0)
        return -1;
    if (rc == MDB_MAP_FULL)
        snprintf(err, errlen,
                 "builtin: %s: the LMDB map is full (map_size_mb is %zu); raise the builtin recommender's "
                 "map_size_mb option",
                 what, b != NULL ? b->map_size_mb : (size_t)0);
    else
        snprintf(err, errlen, "builtin: %s: %s", what, mdb_strerror(rc));
    return -1;
}

static int fail_msg(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "builtin: %s", msg);
    return -1;
}

size_t pzb_key(char *buf, const char *ns, const char *id)
{
    size_t ns_len = strlen(ns), id_len = strlen(id);
    if (ns_len > PZ_BUILTIN_MAX_NS_LEN || id_len > PZ_BUILTIN_MAX_ID_LEN)
        return 0;
    memcpy(buf, ns, ns_len + 1);
    memcpy(buf + ns_len + 1, id, id_len);
    return ns_len + 1 + id_len;
}

void pzb_put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

uint64_t pzb_get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* IEEE-754 doubles sort as unsigned integers once negative values are inverted and positive values
 * get the sign bit set; inverting that again gives descending order. */
uint64_t pzb_desc_bits(double L)
{
    uint64_t u;
    memcpy(&u, &L, sizeof(u));
    u = (u >> 63) ? ~u : (u | (UINT64_C(1) << 63));
    return ~u;
}

double pzb_desc_value(uint64_t bits)
{
    uint64_t u = ~bits;
    u = (u >> 63) ? (u & ~(UINT64_C(1) << 63)) : ~u;
    double L;
    memcpy(&L, &u, sizeof(L));
    return L;
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

int pzb_get_item(const pz_builtin *b, MDB_txn *txn, const char *ns, const char *item, pzb_item *out)
{
    char key[PZB_KEY_MAX];
    MDB_val k = {.mv_size = pzb_key(key, ns, item), .mv_data = key}, v;
    if (k.mv_size == 0)
        return MDB_NOTFOUND;
    int rc = mdb_get(txn, b->items, &k, &v);
    if (rc != 0)
        return rc;
    if (v.mv_size != sizeof(out->id))
        return MDB_CORRUPTED;
    memcpy(&out->id, v.mv_data, sizeof(out->id));
    const char *name;
    size_t len;
    rc = pzb_get_by_id(b, txn, out->id, &out->L, &name, &len);
    return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
}

int pzb_get_by_id(const pz_builtin *b, MDB_txn *txn, uint64_t id, double *L, const char **name, size_t *len)
{
    unsigned char key[8];
    pzb_put_be64(key, id);
    MDB_val k = {.mv_size = sizeof(key), .mv_data = key}, v;
    int rc = mdb_get(txn, b->byid, &k, &v);
    if (rc != 0)
        return rc;
    if (v.mv_size < sizeof(*L))
        return MDB_CORRUPTED;
    memcpy(L, v.mv_data, sizeof(*L));
    *name = (const char *)v.mv_data + sizeof(*L);
    *len = v.mv_size - sizeof(*L);
    return 0;
}

int pzb_get_recent(MDB_txn *txn, MDB_dbi dbi, const char *ns, const char *id, pzb_recent *list, size_t cap, size_t *n)
{
    *n = 0;
    char key[PZB_KEY_MAX];
    MDB_val k = {.mv_size = pzb_key(key, ns, id), .mv_data = key}, v;
    if (k.mv_size == 0)
        return 0;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    if (v.mv_size % sizeof(pzb_recent) != 0)
        return MDB_CORRUPTED;
    size_t count = v.mv_size / sizeof(pzb_recent);
    if (count > cap)
        count = cap; /* a store written with a larger cap: keep the most recent */
    memcpy(list, v.mv_data, count * sizeof(pzb_recent));
    *n = count;
    return 0;
}

/* ---- open / close ---- */

void pz_builtin_options_default(pz_builtin_options *o)
{
    o->half_life_hours = 168;
    o->recent_items_per_user = 50;
    o->cooccurrence_window = 20;
    o->map_size_mb = 1024;
}

static int check_options(const pz_builtin_options *o, char *err, size_t errlen)
{
    /* The lower bound keeps L = t / half-life finite and precise for any int64 time. */
    if (!(o->half_life_hours >= 0.001 && o->half_life_hours <= 1e9))
        return fail_msg(err, errlen, "half_life_hours must be between 0.001 and 1e9");
    if (o->recent_items_per_user < 1 || o->recent_items_per_user > MAX_LIST_OPTION)
        return fail_msg(err, errlen, "recent_items_per_user must be between 1 and 1000");
    if (o->cooccurrence_window < 1 || o->cooccurrence_window > MAX_LIST_OPTION)
        return fail_msg(err, errlen, "cooccurrence_window must be between 1 and 1000");
    if (o->map_size_mb < 1 || o->map_size_mb > (SIZE_MAX >> 21))
        return fail_msg(err, errlen, "map_size_mb is out of range");
    return 0;
}

/* mkdir -p: creates dir and its missing parents. */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
    char *path = pz_strdup(dir);
    int rc = 0;
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            if (err != NULL && errlen > 0)
                snprintf(err, errlen, "builtin: cannot create directory %s: %s", path, strerror(errno));
            rc = -1;
            break;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    free(path);
    return rc;
}

/* Opens the named databases and settles the half-life: the stored one wins, because the
 * statistics are encoded with it. */
static int open_dbs(pz_builtin *b, double half_life_ms, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(b->env, NULL, 0, &txn);
    if (rc != 0)
        return pzb_fail(b, err, errlen, "begin", rc);
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {{"items", &b->items}, {"byid", &b->byid},         {"popidx", &b->popidx}, {"cooc", &b->cooc},
               {"users", &b->users}, {"sessions", &b->sessions}, {"meta", &b->meta}};
    for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
        rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi);
        if (rc != 0) {
            mdb_txn_abort(txn);
            return pzb_fail(b, err, errlen, "open database", rc);
        }
    }
    MDB_val k = {.mv_size = sizeof(META_HALF_LIFE) - 1, .mv_data = (void *)META_HALF_LIFE}, v;
    rc = mdb_get(txn, b->meta, &k, &v);
    if (rc == 0 && v.mv_size == sizeof(double)) {
        memcpy(&b->half_life_ms, v.mv_data, sizeof(double));
    } else if (rc == MDB_NOTFOUND) {
        b->half_life_ms = half_life_ms;
        v.mv_size = sizeof(double);
        v.mv_data = &b->half_life_ms;
        rc = mdb_put(txn, b->meta, &k, &v, 0);
    } else if (rc == 0) {
        rc = MDB_CORRUPTED;
    }
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    return rc != 0 ? pzb_fail(b, err, errlen, "open", rc) : 0;
}

int pz_builtin_open(const char *dir, const pz_builtin_options *opts, pz_builtin **out, char *err, size_t errlen)
{
    *out = NULL;
    pz_builtin_options o;
    if (opts != NULL)
        o = *opts;
    else
        pz_builtin_options_default(&o);
    if (dir == NULL || dir[0] == '\0')
        return fail_msg(err, errlen, "no data directory");
    if (check_options(&o, err, errlen) != 0 || make_dirs(dir, err, errlen) != 0)
        return -1;

    pz_builtin *b = pz_calloc(1, sizeof(*b));
    b->recent_cap = o.recent_items_per_user;
    b->window = o.cooccurrence_window;
    b->map_size_mb = o.map_size_mb;
    int rc = mdb_env_create(&b->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(b->env, MAX_DBS);
    if (rc == 0)
        rc = mdb_env_set_mapsize(b->env, o.map_size_mb << 20);
    /* MDB_NOTLS: a read slot belongs to the transaction, not the thread, so event-loop threads may
     * interleave reads freely. */
    if (rc == 0)
        rc = mdb_env_open(b->env, dir, MDB_NOTLS, 0644);
    if (rc == 0 && mdb_env_get_maxkeysize(b->env) < PZB_KEY_MAX)
        rc = MDB_BAD_VALSIZE;
    if (rc != 0) {
        pzb_fail(b, err, errlen, dir, rc);
        if (b->env != NULL)
            mdb_env_close(b->env);
        free(b);
        return -1;
    }
    int dead;
    mdb_reader_check(b->env, &dead); /* frees slots left by a crashed process */
    if (open_dbs(b, o.half_life_hours * 3600.0 * 1000.0, err, errlen) != 0) {
        mdb_env_close(b->env);
        free(b);
        return -1;
    }
    *out = b;
    return 0;
}

void pz_builtin_close(pz_builtin *b)
{
    if (b == NULL)
        return;
    mdb_env_close(b->env);
    free(b);
}

bool pz_builtin_has_data(pz_builtin *b, const char *ns)
{
    char key[PZB_KEY_MAX];
    size_t prefix = pzb_key(key, ns, "");
    if (prefix == 0)
        return false;
    MDB_txn *txn;
    if (mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn) != 0)
        return false;
    MDB_cursor *cur;
    bool found = false;
    if (mdb_cursor_open(txn, b->items, &cur) == 0) {
        MDB_val k = {.mv_size = prefix, .mv_data = key}, v;
        found = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) == 0 && k.mv_size >= prefix &&
                memcmp(k.mv_data, key, prefix) == 0;
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return found;
}

/* ---- ingest ---- */

/* Matched case-insensitively, ignoring '-', '_' and spaces ("Add-To-Cart" == "addtocart"). */
double pzb_event_weight(const char *type)
{
    static const struct {
        const char *name;
        double weight;
    } weights[] = {{"purchase", 4}, {"addtocart", 3}, {"cart", 3},   {"like", 2},
                   {"rating", 2},   {"click", 1},     {"view", 0.5}, {"impression", 0.5}};
    if (type == NULL)
        return 1;
    char norm[16];
    size_t n = 0;
    for (const char *p = type; *p != '\0'; p++) {
        if (*p == '-' || *p == '_' || *p == ' ')
            continue;
        if (n + 1 >= sizeof(norm))
            return 1;
        norm[n++] = *p;
    }
    norm[n] = '\0';
    for (size_t i = 0; i < sizeof(weights) / sizeof(weights[0]); i++)
        if (strcasecmp(norm, weights[i].name) == 0)
            return weights[i].weight;
    return 1;
}

static bool present(const char *s)
{
    return s != NULL && s[0] != '\0';
}

typedef struct ingest {
    pz_builtin *b;
    MDB_txn *txn;
    const char *ns;
    uint64_t next_id;
    pzb_recent *list;   /* scratch for one recent list: room for max(recent_cap, window) + 1 */
    const char *failed; /* what failed, for the message */
} ingest;

static int put(ingest *in, MDB_dbi dbi, const void *key, size_t klen, const void *val, size_t vlen, const char *what)
{
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key}, v = {.mv_size = vlen, .mv_data = (void *)val};
    int rc = mdb_put(in->txn, dbi, &k, &v, 0);
    if (rc != 0)
        in->failed = what;
    return rc;
}

/* Finds the item, assigning it an id (L = -inf, no popularity yet) when new. */
static int ensure_item(ingest *in, const char *item, pzb_item *rec)
{
    int rc = pzb_get_item(in->b, in->txn, in->ns, item, rec);
    if (rc != MDB_NOTFOUND) {
        if (rc != 0)
            in->failed = "read item";
        return rc;
    }
    rec->L = -INFINITY;
    rec->id = in->next_id++;
    char key[PZB_KEY_MAX];
    size_t klen = pzb_key(key, in->ns, item);
    return put(in, in->b->items, key, klen, &rec->id, sizeof(rec->id), "write item");
}

static size_t popidx_key(char *buf, const char *ns, double L, const char *item)
{
    size_t ns_len = strlen(ns), item_len = strlen(item);
    memcpy(buf, ns, ns_len + 1);
    pzb_put_be64((unsigned char *)buf + ns_len + 1, pzb_desc_bits(L));
    memcpy(buf + ns_len + 9, item, item_len);
    return ns_len + 9 + item_len;
}

/* Adds 2^lw to the item's popularity and moves its popidx entry. */
static int add_popularity(ingest *in, const char *item, pzb_item *rec, double lw)
{
    char key[PZB_KEY_MAX];
    if (rec->L != -INFINITY) {
        MDB_val k = {.mv_size = popidx_key(key, in->ns, rec->L, item), .mv_data = key};
        int rc = mdb_del(in->txn, in->b->popidx, &k, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            in->failed = "update popularity index";
            return rc;
        }
    }
    rec->L = pzb_log_add(rec->L, lw);
    size_t klen = popidx_key(key, in->ns, rec->L, item);
    int rc = put(in, in->b->popidx, key, klen, &rec->id, sizeof(rec->id), "update popularity index");
    if (rc != 0)
        return rc;
    unsigned char id_key[8], val[sizeof(double) + PZ_BUILTIN_MAX_ID_LEN];
    size_t len = strlen(item);
    pzb_put_be64(id_key, rec->id);
    memcpy(val, &rec->L, sizeof(double));
    memcpy(val + sizeof(double), item, len);
    return put(in, in->b->byid, id_key, sizeof(id_key), val, sizeof(double) + len, "write item");
}

static int add_cooc(ingest *in, uint64_t a, uint64_t b, double lw)
{
    unsigned char key[16];
    pzb_put_be64(key, a);
    pzb_put_be64(key + 8, b);
    MDB_val k = {.mv_size = sizeof(key), .mv_data = key}, v;
    double L = -INFINITY;
    int rc = mdb_get(in->txn, in->b->cooc, &k, &v);
    if (rc == 0 && v.mv_size == sizeof(L))
        memcpy(&L, v.mv_data, sizeof(L));
    else if (rc != MDB_NOTFOUND) {
        in->failed = "read co-occurrence";
        return rc != 0 ? rc : MDB_CORRUPTED;
    }
    L = pzb_log_add(L, lw);
    return put(in, in->b->cooc, key, sizeof(key), &L, sizeof(L), "write co-occurrence");
}

/* Pairs the event's item with up to `window` other items of the list, both directions, weighted
 * sqrt(w_event * w_other) at the later of the two times. */
static int pair_with_recent(ingest *in, const pzb_recent *ev, const pzb_recent *list, size_t n)
{
    size_t paired = 0;
    for (size_t i = 0; i < n && paired < in->b->window; i++) {
        if (list[i].id == ev->id)
            continue;
        int64_t t = list[i].t_ms > ev->t_ms ? list[i].t_ms : ev->t_ms;
        double lw = log2(sqrt(ev->weight * list[i].weight)) + pzb_log_time(in->b, t);
        int rc = add_cooc(in, ev->id, list[i].id, lw);
        if (rc == 0)
            rc = add_cooc(in, list[i].id, ev->id, lw);
        if (rc != 0)
            return rc;
        paired++;
    }
    return 0;
}

/* Moves/inserts ev into the list kept in time order (newest first; an equal time goes before),
 * keeping the strongest weight for a repeated item, and truncates to cap. Returns the new length. */
static size_t recent_insert(pzb_recent *list, size_t n, size_t cap, pzb_recent ev)
{
    for (size_t i = 0; i < n; i++) {
        if (list[i].id != ev.id)
            continue;
        if (list[i].weight > ev.weight)
            ev.weight = list[i].weight;
        if (list[i].t_ms > ev.t_ms)
            ev.t_ms = list[i].t_ms;
        memmove(&list[i], &list[i + 1], (n - i - 1) * sizeof(*list));
        n--;
        break;
    }
    size_t pos = 0;
    while (pos < n && list[pos].t_ms > ev.t_ms)
        pos++;
    memmove(&list[pos + 1], &list[pos], (n - pos) * sizeof(*list));
    list[pos] = ev;
    n++;
    return n > cap ? cap : n;
}

/* Pairs with and updates the recent list of (dbi, owner). */
static int update_recent(ingest *in, MDB_dbi dbi, const char *owner, size_t cap, const pzb_recent *ev)
{
    size_t n;
    int rc = pzb_get_recent(in->txn, dbi, in->ns, owner, in->list, cap, &n);
    if (rc != 0) {
        in->failed = "read recent items";
        return rc;
    }
    rc = pair_with_recent(in, ev, in->list, n);
    if (rc != 0)
        return rc;
    n = recent_insert(in->list, n, cap, *ev);
    char key[PZB_KEY_MAX];
    size_t klen = pzb_key(key, in->ns, owner);
    return put(in, dbi, key, klen, in->list, n * sizeof(pzb_recent), "write recent items");
}

static int apply_event(ingest *in, const pz_interaction *e)
{
    pzb_item rec;
    int rc = ensure_item(in, e->item_id, &rec);
    if (rc != 0)
        return rc;
    pzb_recent ev = {.id = rec.id, .t_ms = e->sent_at_ms, .weight = pzb_event_weight(e->event_type)};
    rc = add_popularity(in, e->item_id, &rec, log2(ev.weight) + pzb_log_time(in->b, ev.t_ms));
    if (rc != 0)
        return rc;
    /* A user's history pairs across sessions; a session's only serves events without a user. */
    if (present(e->user_id))
        return update_recent(in, in->b->users, e->user_id, in->b->recent_cap, &ev);
    if (present(e->session_id))
        return update_recent(in, in->b->sessions, e->session_id, in->b->window, &ev);
    return 0;
}

static int check_events(const char *ns, const pz_interaction *events, size_t n, char *err, size_t errlen)
{
    if (ns == NULL || strlen(ns) > PZ_BUILTIN_MAX_NS_LEN)
        return fail_msg(err, errlen, "namespace is missing or longer than 128 bytes");
    for (size_t i = 0; i < n; i++) {
        const pz_interaction *e = &events[i];
        const char *ids[] = {e->item_id, e->user_id, e->session_id};
        for (size_t j = 0; j < 3; j++) {
            if (ids[j] != NULL && strlen(ids[j]) > PZ_BUILTIN_MAX_ID_LEN) {
                if (err != NULL && errlen > 0)
                    snprintf(err, errlen, "builtin: event %zu: %s longer than %d bytes", i,
                             j == 0   ? "item id"
                             : j == 1 ? "user id"
                                      : "session id",
                             PZ_BUILTIN_MAX_ID_LEN);
                return -1;
            }
        }
    }
    return 0;
}

static int run_ingest(ingest *in, const pz_interaction *events, size_t n)
{
    MDB_val k = {.mv_size = sizeof(META_NEXT_ID) - 1, .mv_data = (void *)META_NEXT_ID}, v;
    int rc = mdb_get(in->txn, in->b->meta, &k, &v);
    if (rc == 0 && v.mv_size == sizeof(in->next_id))
        memcpy(&in->next_id, v.mv_data, sizeof(in->next_id));
    else if (rc == MDB_NOTFOUND)
        in->next_id = 1;
    else {
        in->failed = "read meta";
        return rc != 0 ? rc : MDB_CORRUPTED;
    }
    uint64_t first_id = in->next_id;
    for (size_t i = 0; i < n; i++) {
        if (!present(events[i].item_id))
            continue;
        rc = apply_event(in, &events[i]);
        if (rc != 0)
            return rc;
    }
    if (in->next_id == first_id)
        return 0;
    return put(in, in->b->meta, k.mv_data, k.mv_size, &in->next_id, sizeof(in->next_id), "write meta");
}

int pz_builtin_ingest(pz_builtin *b, const char *ns, const pz_interaction *events, size_t n, char *err, size_t errlen)
{
    if (check_events(ns, events, n, err, errlen) != 0)
        return -1;
    ingest in = {.b = b, .ns = ns, .failed = "ingest"};
    int rc = mdb_txn_begin(b->env, NULL, 0, &in.txn);
    if (rc != 0)
        return pzb_fail(b, err, errlen, "begin write", rc);
    size_t list_cap = (b->recent_cap > b->window ? b->recent_cap : b->window) + 1;
    in.list = pz_malloc(list_cap * sizeof(pzb_recent));
    rc = run_ingest(&in, events, n);
    free(in.list);
    if (rc != 0) {
        mdb_txn_abort(in.txn);
        return pzb_fail(b, err, errlen, in.failed, rc);
    }
    rc = mdb_txn_commit(in.txn);
    return rc != 0 ? pzb_fail(b, err, errlen, "commit", rc) : 0;
}

static int learn(void *self, const char *ns, const pz_interaction *events, size_t n, char *err, size_t errlen)
{
    return pz_builtin_ingest(self, ns, events, n, err, errlen);
}

pz_learner pz_builtin_learner(pz_builtin *b)
{
    return (pz_learner){.self = b, .learn = learn};
}
