/* Internals shared by builtin_store.c (open, ingest) and builtin.c (queries). Not a public header:
 * only the two builtin source files include it.
 *
 * Storage layout: one LMDB environment, named databases shared by every namespace. `ns` below is
 * the namespace bytes followed by '\0' (namespaces and ids are C strings, so the prefix is
 * unambiguous); an id numbers one (namespace, item) pair, assigned by the writer from 1 upwards,
 * unique across namespaces, so cooc needs no namespace prefix.
 *
 *   items    ns item                 -> id (uint64)
 *   byid     be64(id)                -> double L, then the item bytes: popularity and name, so a
 *                                       candidate found by id costs one lookup
 *   popidx   ns desc64(L) item       -> id: items by popularity, best first, ties by item ascending
 *   cooc     be64(id_a) be64(id_b)   -> double L: co-occurrence of a with b (both directions kept)
 *   users    ns user                 -> pzb_recent[]: the user's recent items, most recent first
 *   sessions ns session              -> pzb_recent[]: same for events without a user
 *   meta     "next_id"/"half_life_ms"
 *
 * Decay without rewriting: a weight w at time t is stored as L = log2(w) + (t - EPOCH) / h with
 * h the half-life in ms, and sums are log-adds. The decayed value at `now` is 2^(L - (now-EPOCH)/h)
 * = sum of w * 2^-((now - t)/h). Ordering by L is the same at every `now`, so popidx never needs
 * rewriting as time passes.
 */
#ifndef PZ_BUILTIN_INTERNAL_H
#define PZ_BUILTIN_INTERNAL_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/recommenders/builtin.h"

/* 2020-01-01T00:00:00Z: keeps L small (precision) for present-day timestamps. */
#define PZB_EPOCH_MS 1577836800000.0

/* Longest key of any database: ns '\0' desc64(L) item (popidx). */
#define PZB_KEY_MAX (PZ_BUILTIN_MAX_NS_LEN + 1 + 8 + PZ_BUILTIN_MAX_ID_LEN)

struct pz_builtin {
    MDB_env *env;
    MDB_dbi items, byid, popidx, cooc, users, sessions, meta;
    double half_life_ms; /* the one the statistics were written with (stored in meta) */
    size_t recent_cap;   /* recent_items_per_user */
    size_t window;       /* cooccurrence_window; also the cap of a session's list */
    size_t map_size_mb;
};

typedef struct pzb_item {
    double L; /* log2 popularity normalized to PZB_EPOCH_MS */
    uint64_t id;
} pzb_item;

typedef struct pzb_recent {
    uint64_t id;
    int64_t t_ms;  /* time of the latest event on the item */
    double weight; /* strongest event-type weight seen for the item */
} pzb_recent;

/* The weight of an event type (see builtin.h). */
double pzb_event_weight(const char *type);

/* Formats "builtin: <what>: <mdb_strerror(rc)>" into err (MDB_MAP_FULL names the option to raise)
 * and returns -1. */
int pzb_fail(const pz_builtin *b, char *err, size_t errlen, const char *what, int rc);

/* Writes ns '\0' id into buf (PZB_KEY_MAX bytes); returns the length, or 0 when ns or id is too
 * long (such a key can hold no data). */
size_t pzb_key(char *buf, const char *ns, const char *id);

void pzb_put_be64(unsigned char *p, uint64_t v);
uint64_t pzb_get_be64(const unsigned char *p);
/* Big-endian key bits that sort by descending L, and the inverse. */
uint64_t pzb_desc_bits(double L);
double pzb_desc_value(uint64_t bits);

/* log2(2^a + 2^b) without overflow; -INFINITY is the empty sum. */
double pzb_log_add(double a, double b);
/* (t - EPOCH) / half-life: the L offset of an event at t_ms. */
double pzb_log_time(const pz_builtin *b, int64_t t_ms);
/* 2^(L - log_time(now)), clamped to [0, DBL_MAX] so scores are always finite. */
double pzb_decayed(const pz_builtin *b, double L, int64_t now_ms);

/* Looks up an item of namespace ns. Returns 0, MDB_NOTFOUND (also for over-long ids) or an LMDB
 * error. */
int pzb_get_item(const pz_builtin *b, MDB_txn *txn, const char *ns, const char *item, pzb_item *out);
/* Looks up an item by id: its L and its name (in the map: valid until the transaction ends).
 * Returns 0, MDB_NOTFOUND or an LMDB error. */
int pzb_get_by_id(const pz_builtin *b, MDB_txn *txn, uint64_t id, double *L, const char **name, size_t *len);

/* Reads the list stored under (ns, id) in dbi (users or sessions) into list (room for cap
 * entries); *n is 0 when missing. Returns 0 or an LMDB error. */
int pzb_get_recent(MDB_txn *txn, MDB_dbi dbi, const char *ns, const char *id, pzb_recent *list, size_t cap, size_t *n);

#endif
