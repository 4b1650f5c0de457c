/* Internals of the builtin recommender, shared by its source files: builtin_store.c (open, close,
 * reads, the flusher, map growth), builtin_ingest.c (learning), builtin_pop.c (popularity in
 * memory) and builtin.c (queries). Not a public header.
 *
 * Storage layout (format 2): one LMDB environment, named databases shared by every namespace.
 * `ns` below is the namespace's number (be32, assigned from 1 by the learner and recorded in meta),
 * ids are item numbers (u32, from 1, unique across namespaces):
 *
 *   items    ns item      -> u32 id
 *   byid     be32(id)     -> double L, u32 ns, the item bytes: its popularity and name
 *   cooc     be32(id)     -> up to `neighbors` entries {u32 id, double L, float d} (16 bytes each,
 *                            no order): the item's strongest co-occurring items
 *   users    ns user      -> up to `recent_cap` entries {u32 id, float weight, i64 t_ms} (16 bytes
 *                            each), most recent first
 *   sessions ns session   -> the same, up to `window` entries, for events without a user
 *   meta     "format" -> u32 2; "next_id" -> u32; "next_ns" -> u32; "half_life_ms" -> double;
 *            "ns:" name -> u32; "mark:" stream -> u64 (the last seq of the stream applied)
 *
 * Decay without rewriting: a weight w at time t is stored as L = log2(w) + (t - EPOCH) / h with
 * h the half-life in ms, and sums are log-adds. The decayed value at `now` is 2^(L - (now-EPOCH)/h)
 * = sum of w * 2^-((now - t)/h). Ordering by L is the same at every `now`.
 *
 * Bounded co-occurrence (Space-Saving, Metwally et al. 2005, on decayed weights): an item keeps at
 * most `neighbors` entries; a new neighbour arriving at a full list replaces the weakest entry and
 * inherits its weight (the entry's possible overestimate, kept as d = L - log2(error)) plus its
 * own. Every neighbour whose decayed weight is above 1/K of the list's total is guaranteed to be
 * kept. Entries are ranked for eviction by their estimate 2^L and scored by their guaranteed part
 * 2^L - 2^(L-d) = 2^L * (1 - 2^-d), so a newcomer counts only what it earned itself.
 *
 * Write-back: learning never writes LMDB. The learner applies events to the `active` pending table
 * (builtin_pending.h), which queries read before LMDB, so a learned event is visible at once. When
 * the table holds half the memory budget, or after `flush_interval_ms`, it is frozen (a new active
 * table starts) and the flusher thread writes it in ONE transaction, sorted by key, together with
 * the stream marks of the events it holds; then it is dropped. Each key is written once per flush
 * however many events touched it, so bytes written per event fall as events per flush rise.
 * Events applied but not flushed are not durable here: learners report them through
 * pz_builtin_unflushed_from, and the event pipeline keeps them in its outbox until they are.
 *
 * Reads: active table (under pending_lock, copied), then the frozen one (immutable, no lock),
 * then LMDB. A reader takes references on both tables before it begins its LMDB transaction, so a
 * table flushed and dropped meanwhile is still there for it. Every value is copied into the
 * caller's buffer: nothing points into a table or the map after a read.
 *
 * Map growth: the map starts at map_size_mb (or the file's size) and doubles, up to max_size_mb,
 * when a flush finds it full. Resizing needs no transaction open in the process: every reader holds
 * map_lock for reading during its transaction; the flusher takes it for writing to resize.
 *
 * Lock order: learn_lock, then map_lock (read), then pending_lock; a namespace's top lock last.
 * A learner may hold learn_lock while it waits for the flusher (its memory budget is used), so the
 * flusher never waits for learn_lock: it only tries it, to freeze an idle learner's old table.
 */
#ifndef PZ_BUILTIN_INTERNAL_H
#define PZ_BUILTIN_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/mem.h"
#include "server/recommenders/builtin.h"
#include "server/recommenders/builtin_pending.h"

/* 2020-01-01T00:00:00Z: keeps L small (precision) for present-day timestamps. */
#define PZB_EPOCH_MS 1577836800000.0
#define PZB_FORMAT 2
/* Sizes are given in MiB (flags, config) and computed in bytes. */
#define PZB_MIB (UINT64_C(1) << 20)

/* Databases, as indexes into pz_builtin.dbi and pending-table tags. */
enum { PZB_META, PZB_ITEMS, PZB_BYID, PZB_COOC, PZB_USERS, PZB_SESSIONS, PZB_N_DBS };

/* Longest key: a namespace-scoped id. */
#define PZB_KEY_MAX (4 + PZ_BUILTIN_MAX_ID_LEN)
#define PZB_NEIGHBOR_BYTES 16
#define PZB_RECENT_BYTES 16
/* byid value: L, namespace number, name. */
#define PZB_BYID_HEAD 12
#define PZB_BYID_MAX (PZB_BYID_HEAD + PZ_BUILTIN_MAX_ID_LEN)
/* meta keys: "mark:" stream. */
#define PZB_META_KEY_MAX (5 + PZ_BUILTIN_MAX_STREAM_LEN)

/* Popular items kept in memory per namespace, best first: enough for the longest answer (500)
 * after skipping the most a query excludes (the user's recent items, at most 500). */
#define PZB_TOP_KEEP 1024
/* Namespace and stream tables. */
#define PZB_MAX_STREAMS 1024

/* The same 16 bytes in memory as encoded (little-endian): the learner changes lists in place. */
typedef struct pzb_neighbor {
    uint32_t id;
    float d;  /* L minus log2 of the inherited overestimate; INFINITY: none */
    double L; /* log2 of the estimated weight */
} pzb_neighbor;
_Static_assert(sizeof(pzb_neighbor) == PZB_NEIGHBOR_BYTES, "pzb_neighbor is its encoding");

/* The guaranteed part of a neighbour's weight, 2^L * (1 - 2^-d), decayed to now_ms. */
double pzb_neighbor_decayed(const pz_builtin *b, const pzb_neighbor *n, int64_t now_ms);

typedef struct pzb_recent {
    uint32_t id;
    float weight; /* strongest event-type weight seen for the item */
    int64_t t_ms; /* time of the latest event on the item */
} pzb_recent;

/* One popular item of a namespace's top list. */
typedef struct pzb_top_item {
    uint32_t id;
    double L;
    char *name;
    size_t len;
} pzb_top_item;

/* A namespace: its number and its most popular items. Created by the learner (or at open), never
 * freed before the store closes. */
typedef struct pzb_ns {
    char *name;
    uint32_t no;
    pthread_mutex_t lock; /* guards top */
    pzb_top_item *top;    /* up to PZB_TOP_KEEP: L descending, then name ascending */
    size_t n_top, cap_top;
    atomic_size_t items;
} pzb_ns;

/* Per-stream progress of exactly-once learning (pz_builtin_learn). */
typedef struct pzb_stream {
    char *name;
    uint64_t applied;      /* last seq applied (in memory) */
    uint64_t durable;      /* last seq flushed to LMDB */
    uint64_t first_active; /* first seq applied into the active table; UINT64_MAX = none */
    uint64_t first_frozen; /* the same for the frozen table */
    uint64_t frozen_mark;  /* `applied` when the table was frozen: durable once it is flushed */
} pzb_stream;

/* Item popularity L by id, in chunks that never move so readers need no lock. */
#define PZB_POP_CHUNK_BITS 16
#define PZB_POP_CHUNKS (1u << 16)

struct pz_builtin {
    char *dir;
    int lock_fd; /* flock'ed: one process per store */
    MDB_env *env;
    MDB_dbi dbi[PZB_N_DBS];
    pz_builtin_options opts;
    size_t ram_share;    /* the automatic pending budget's ceiling, in bytes */
    uint64_t instance;   /* this open store's key in the item name cache (builtin_names.h) */
    double half_life_ms; /* the one the statistics were written with (stored in meta) */

    pthread_rwlock_t map_lock;
    atomic_size_t map_bytes; /* the current map size */

    /* learning (learn_lock); streams are appended under pending_lock too, and their first_* and
     * applied fields change under it */
    pthread_mutex_t learn_lock;
    uint32_t next_id, next_ns;
    pzb_stream streams[PZB_MAX_STREAMS];
    size_t n_streams;
    pzb_recent *scratch_recent; /* one owner's list: room for max(recent_cap, window) + 1 */
    pzb_neighbor *scratch_neighbors;

    /* pending tables (pending_lock) */
    pthread_mutex_t pending_lock;
    pthread_cond_t changed; /* a table was frozen or flushed, a flush failed, or stopping */
    pzb_pending *active, *frozen;
    int64_t active_since_ms; /* first put into active; 0 = empty */
    uint64_t freezes;        /* tables frozen so far; the frozen one is number frozen_gen */
    uint64_t frozen_gen;
    uint64_t flushed; /* the number of the last table written */
    bool flush_requested, stopping;
    pthread_t flusher;

    /* namespaces (written under learn_lock, read without a lock: see pzb_ns_find) */
    pzb_ns *ns[PZ_BUILTIN_MAX_NAMESPACES];
    atomic_size_t n_ns;
    _Atomic(double *) pop[PZB_POP_CHUNKS];

    /* statistics and health (stats_lock) */
    pthread_mutex_t stats_lock;
    pz_builtin_stats stats;
    int64_t last_full_log_ms;
};

/* Formats "builtin: <what>: <mdb_strerror(rc)>" into err and returns -1. */
int pzb_fail(char *err, size_t errlen, const char *what, int rc);
int pzb_fail_msg(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ns (be32) followed by id: returns the length, or 0 when id is too long. */
size_t pzb_ns_key(unsigned char *buf, uint32_t ns, const char *id);
void pzb_put_be32(unsigned char *p, uint32_t v);
uint32_t pzb_get_be32(const unsigned char *p);

/* log2(2^a + 2^b) without overflow; -INFINITY is the empty sum. */
double pzb_log_add(double a, double b);
/* (t - EPOCH) / half-life: the L offset of an event at t_ms. */
double pzb_log_time(const pz_builtin *b, int64_t t_ms);
/* 2^(L - log_time(now)), clamped to [0, DBL_MAX] so scores are always finite. */
double pzb_decayed(const pz_builtin *b, double L, int64_t now_ms);

/* Value codecs. decode functions return the number of entries, at most cap. */
size_t pzb_neighbors_decode(const unsigned char *v, size_t len, pzb_neighbor *out, size_t cap);
size_t pzb_neighbors_encode(const pzb_neighbor *in, size_t n, unsigned char *out);
size_t pzb_recent_decode(const unsigned char *v, size_t len, pzb_recent *out, size_t cap);
size_t pzb_recent_encode(const pzb_recent *in, size_t n, unsigned char *out);

/* ---- reading (builtin_store.c) ---- */

/* A consistent way to read: references on the pending tables and an LMDB read transaction. The
 * learner's view reads the active table without copying under the lock (it is its only writer). */
typedef struct pzb_view {
    pz_builtin *b;
    pzb_pending *active, *frozen;
    MDB_txn *txn;
    bool learner;
} pzb_view;

/* Returns 0, or an LMDB error. */
int pzb_view_begin(pz_builtin *b, pzb_view *v, bool learner);
void pzb_view_end(pzb_view *v);
/* Copies the value of key in db into buf (cap bytes) and sets *len. Returns 0, MDB_NOTFOUND, or an
 * LMDB error (MDB_BAD_VALSIZE when the value exceeds cap: a corrupt store). */
int pzb_view_get(pzb_view *v, int db, const void *key, size_t klen, void *buf, size_t cap, size_t *len);

/* Puts into the active table (learner only, under learn_lock). */
void pzb_put(pz_builtin *b, int db, const void *key, size_t klen, const void *value, size_t len);

/* ---- popularity and namespaces (builtin_pop.c) ---- */

/* L of item id; -INFINITY when unknown. Any thread. */
double pzb_pop_get(const pz_builtin *b, uint32_t id);
/* Learner (or open) only. */
void pzb_pop_set(pz_builtin *b, uint32_t id, double L);
/* The namespace called name, or NULL. Any thread. */
pzb_ns *pzb_ns_find(pz_builtin *b, const char *name);
/* Registers a namespace (learner or open). NULL when the table is full. */
pzb_ns *pzb_ns_add(pz_builtin *b, const char *name, uint32_t no);
pzb_ns *pzb_ns_by_no(pz_builtin *b, uint32_t no);
/* Records that item id of ns now has popularity L (learner or open). */
void pzb_top_update(pzb_ns *ns, uint32_t id, double L, const char *name, size_t len);
/* Frees the namespaces and the popularity chunks (close). */
void pzb_pop_free(pz_builtin *b);

/* Popular items of ns best first, skipping ids for which skip(ctx, id) is true, until `want`
 * were taken: each is passed to take(ctx, item) under the namespace's lock (copy what is kept).
 * Any thread. */
void pzb_top_each(pzb_ns *ns, size_t want, bool (*skip)(void *ctx, uint32_t id),
                  void (*take)(void *ctx, const pzb_top_item *item), void *ctx);

/* ---- learning (builtin_ingest.c) ---- */

/* The weight of an event type (see builtin.h); the user history port matches types by it. */
double pzb_event_weight(const char *type);

/* Applies events to the active table (learn_lock held). Returns 0 or an LMDB error with *what. */
int pzb_apply_events(pz_builtin *b, pzb_view *v, pzb_ns *ns, const pz_interaction *events, size_t n, const char **what);

#endif
