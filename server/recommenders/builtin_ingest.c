/* Learning from events (builtin_internal.h): each event updates its item's popularity, pairs the
 * item with its owner's recent items in both items' bounded neighbour lists, and moves the item to
 * the front of the owner's recent list. Everything goes to the active pending table. */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "server/recommenders/builtin_internal.h"

/* Matched case-insensitively, ignoring '-', '_' and spaces ("Add-To-Cart" == "addtocart"). */
static double event_weight(const char *type)
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
    pzb_view *v;
    pzb_ns *ns;
    const char *what; /* what failed, for the message */
} ingest;

static int failed(ingest *in, const char *what, int rc)
{
    in->what = what;
    return rc;
}

/* Finds the item, registering it (no popularity yet) when new. */
static int ensure_item(ingest *in, const char *item, uint32_t *id)
{
    pz_builtin *b = in->b;
    unsigned char key[PZB_KEY_MAX];
    size_t klen = pzb_ns_key(key, in->ns->no, item), len;
    int rc = pzb_view_get(in->v, PZB_ITEMS, key, klen, id, sizeof *id, &len);
    if (rc == 0 && len != sizeof *id)
        rc = MDB_CORRUPTED;
    if (rc != MDB_NOTFOUND)
        return rc != 0 ? failed(in, "read item", rc) : 0;
    if (b->next_id == UINT32_MAX)
        return failed(in, "assign an item id", MDB_MAP_FULL);
    *id = b->next_id++;
    pzb_put(b, PZB_ITEMS, key, klen, id, sizeof *id);
    pzb_put(b, PZB_META, "next_id", 7, &b->next_id, sizeof b->next_id);
    atomic_fetch_add(&in->ns->items, 1);
    return 0;
}

/* Adds 2^lw to the item's popularity: memory, top list and its byid record. */
static void add_popularity(ingest *in, uint32_t id, const char *item, double lw)
{
    double L = pzb_log_add(pzb_pop_get(in->b, id), lw);
    pzb_pop_set(in->b, id, L);
    size_t len = strlen(item);
    pzb_top_update(in->ns, id, L, item, len);
    unsigned char key[4], val[PZB_BYID_MAX];
    pzb_put_be32(key, id);
    memcpy(val, &L, sizeof L);
    memcpy(val + 8, &in->ns->no, sizeof in->ns->no);
    memcpy(val + PZB_BYID_HEAD, item, len);
    pzb_put(in->b, PZB_BYID, key, sizeof key, val, PZB_BYID_HEAD + len);
}

/* One neighbour to add to a list: cooc(list's item, id) += 2^lw. */
typedef struct pair {
    uint32_t id;
    double lw;
} pair;

/* The active table's entry for a's list, copied in from the frozen table or LMDB when the active
 * table does not hold it yet. Valid until the next put. */
static int list_entry(ingest *in, uint32_t a, pzb_pending_entry **out)
{
    pz_builtin *b = in->b;
    unsigned char key[4];
    pzb_put_be32(key, a);
    uint64_t h = pzb_pending_hash(PZB_COOC, key, sizeof key);
    *out = pzb_pending_find(b->active, PZB_COOC, key, sizeof key, h);
    if (*out != NULL)
        return 0;
    unsigned char val[PZ_BUILTIN_MAX_NEIGHBORS * PZB_NEIGHBOR_BYTES];
    size_t len;
    int rc = pzb_view_get(in->v, PZB_COOC, key, sizeof key, val, sizeof val, &len);
    if (rc == MDB_NOTFOUND)
        len = 0;
    else if (rc != 0)
        return failed(in, "read co-occurrence", rc);
    size_t n = pzb_neighbors_decode(val, len, b->scratch_neighbors, b->opts.neighbors_per_item);
    pzb_put(b, PZB_COOC, key, sizeof key, b->scratch_neighbors, n * sizeof(pzb_neighbor));
    *out = pzb_pending_find(b->active, PZB_COOC, key, sizeof key, h);
    return 0;
}

/* Adds the pairs to the list in e: a new neighbour of a full list replaces the weakest entry and
 * inherits its weight as a known overestimate (Space-Saving, builtin_internal.h). pending_lock held:
 * queries copy lists out concurrently. In the table, entries have the in-memory layout of
 * pzb_neighbor, which is also their encoding. */
static void add_to_list(pz_builtin *b, pzb_pending_entry *e, const pair *pairs, size_t n_pairs)
{
    size_t cap = b->opts.neighbors_per_item;
    for (size_t p = 0; p < n_pairs; p++) {
        pzb_neighbor *list = (pzb_neighbor *)(void *)e->data;
        size_t n = e->len / sizeof(pzb_neighbor), at = 0;
        while (at < n && list[at].id != pairs[p].id)
            at++;
        if (at < n) {
            double L = pzb_log_add(list[at].L, pairs[p].lw);
            list[at].d += (float)(L - list[at].L); /* the overestimate stays what it was */
            list[at].L = L;
        } else if (n < cap) {
            pzb_pending_resize(b->active, e, (n + 1) * sizeof(pzb_neighbor));
            list = (pzb_neighbor *)(void *)e->data;
            list[n] = (pzb_neighbor){.id = pairs[p].id, .d = INFINITY, .L = pairs[p].lw};
        } else {
            size_t weakest = 0;
            for (size_t i = 1; i < n; i++)
                weakest = list[i].L < list[weakest].L ? i : weakest;
            double L = pzb_log_add(list[weakest].L, pairs[p].lw);
            list[weakest] = (pzb_neighbor){.id = pairs[p].id, .d = (float)(L - list[weakest].L), .L = L};
        }
    }
}

/* Adds the pairs to a's list. The hottest path of learning: lists change in place in the active
 * table. */
static int add_neighbors(ingest *in, uint32_t a, const pair *pairs, size_t n)
{
    pzb_pending_entry *e;
    int rc = list_entry(in, a, &e);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&in->b->pending_lock);
    add_to_list(in->b, e, pairs, n);
    pthread_mutex_unlock(&in->b->pending_lock);
    return 0;
}

/* Pairs the event's item with up to `window` other items of the list, both directions, weighted
 * sqrt(w_event * w_other) at the later of the two times: the event item's list takes all its new
 * neighbours at once, each of them takes the event's item. */
static int pair_with_recent(ingest *in, const pzb_recent *ev, const pzb_recent *list, size_t n)
{
    pair pairs[PZ_BUILTIN_MAX_RECENT];
    size_t count = 0;
    for (size_t i = 0; i < n && count < in->b->opts.cooccurrence_window; i++) {
        if (list[i].id == ev->id)
            continue;
        int64_t t = list[i].t_ms > ev->t_ms ? list[i].t_ms : ev->t_ms;
        pairs[count++] =
            (pair){list[i].id, log2(sqrt((double)ev->weight * (double)list[i].weight)) + pzb_log_time(in->b, t)};
    }
    if (count == 0)
        return 0;
    int rc = add_neighbors(in, ev->id, pairs, count);
    for (size_t i = 0; i < count && rc == 0; i++)
        rc = add_neighbors(in, pairs[i].id, &(pair){ev->id, pairs[i].lw}, 1);
    return rc;
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

/* Pairs with and updates the recent list of (db, owner). */
static int update_recent(ingest *in, int db, const char *owner, size_t cap, const pzb_recent *ev)
{
    unsigned char key[PZB_KEY_MAX], val[PZ_BUILTIN_MAX_RECENT * PZB_RECENT_BYTES + PZB_RECENT_BYTES];
    size_t klen = pzb_ns_key(key, in->ns->no, owner), len;
    int rc = pzb_view_get(in->v, db, key, klen, val, sizeof val, &len);
    if (rc == MDB_NOTFOUND)
        len = 0;
    else if (rc != 0)
        return failed(in, "read recent items", rc);
    pzb_recent *list = in->b->scratch_recent;
    size_t n = pzb_recent_decode(val, len, list, cap);
    rc = pair_with_recent(in, ev, list, n);
    if (rc != 0)
        return rc;
    n = recent_insert(list, n, cap, *ev);
    pzb_put(in->b, db, key, klen, val, pzb_recent_encode(list, n, val));
    return 0;
}

static int apply_event(ingest *in, const pz_interaction *e)
{
    uint32_t id;
    int rc = ensure_item(in, e->item_id, &id);
    if (rc != 0)
        return rc;
    pzb_recent ev = {.id = id, .weight = (float)event_weight(e->event_type), .t_ms = e->sent_at_ms};
    add_popularity(in, id, e->item_id, log2(ev.weight) + pzb_log_time(in->b, ev.t_ms));
    /* A user's history pairs across sessions; a session's only serves events without a user. */
    if (present(e->user_id))
        return update_recent(in, PZB_USERS, e->user_id, in->b->opts.recent_items_per_user, &ev);
    if (present(e->session_id))
        return update_recent(in, PZB_SESSIONS, e->session_id, in->b->opts.cooccurrence_window, &ev);
    return 0;
}

int pzb_apply_events(pz_builtin *b, pzb_view *v, pzb_ns *ns, const pz_interaction *events, size_t n, const char **what)
{
    ingest in = {.b = b, .v = v, .ns = ns, .what = "learn"};
    for (size_t i = 0; i < n; i++) {
        if (!present(events[i].item_id))
            continue;
        int rc = apply_event(&in, &events[i]);
        if (rc != 0) {
            *what = in.what;
            return rc;
        }
    }
    return 0;
}
