/* The embedded recommender (variation type `builtin`): learns from events and serves
 * recommendations with no cloud account.
 *
 * The model, per namespace (bounded: memory and disk grow with users and items, not events):
 *   - popularity of each item, with exponential time decay (half-life `half_life_hours`);
 *   - item-to-item co-occurrence: an event on item i by a user pairs i with that user's most
 *     recent `cooccurrence_window` items (weighted by event type, decayed like popularity). Each
 *     item keeps only its `neighbors_per_item` strongest neighbours (a bounded top-K, see
 *     builtin_internal.h: Space-Saving on decayed weights);
 *   - each user's most recent `recent_items_per_user` items (a session's `cooccurrence_window`
 *     items for events without a user).
 * On disk: per item 16 bytes per neighbour (one 4 KiB page at K = 255) plus its name and
 * popularity; per user 16 bytes per recent item (512 bytes at 32) plus the id; B-tree overhead on
 * top. In memory:
 * 8 bytes of popularity per item, the 1024 most popular items of each namespace, and the pending
 * writes (at most `pending_mb`).
 *
 * Queries (best first, scores non-increasing, ties broken by item id so results are deterministic
 * for the same state and `now_ms`):
 *   - recommend: items co-occurring with the user's recent items, the user's own items excluded
 *     when `exclude_seen`; remaining slots filled with popular items. Unknown user: popular.
 *   - related: items co-occurring with the item (the item itself excluded, and the user's seen
 *     items when a user is given); remaining slots filled with popular items.
 *   - rerank: every given id exactly once per position given (duplicates kept), ordered by the
 *     user's affinity (co-occurrence with the user's recent items, then popularity); ids with no
 *     statistics at all come last in input order with no score.
 *   - popular: by decayed popularity.
 *
 * Scoring (h = half-life, pop(x) and cooc(a,b) are decayed sums of weights: an event of weight w
 * at time t counts w * 2^-((now - t)/h)):
 *   - an event of type weight w on item x adds w to pop(x); with a user (else a session) it also
 *     adds sqrt(w * w_j) to cooc(x, j) and cooc(j, x) for each of the owner's `cooccurrence_window`
 *     most recent other items j (w_j = the strongest weight the owner gave j), at the later of the
 *     two times;
 *   - recommend: score(x) = sum over the user's recent items j at rank r = 0, 1, ... (most recent
 *     first) of cooc(j, x) / (1 + r), divided by 1 + sqrt(pop(x)) to damp items that co-occur with
 *     everything; related: cooc(i, x) / (1 + sqrt(pop(x)));
 *   - popular: pop(x). A popular item filling a personalized list scores
 *     lowest/2 * pop(x) / pop(first filler), so the list stays sorted;
 *   - rerank: the recommend score of each id; ids without one (no co-occurrence with the user's
 *     items, or no user) follow, scored like popular fillers; then ids with no statistics.
 *
 * Ids: namespaces up to PZ_BUILTIN_MAX_NS_LEN bytes (at most PZ_BUILTIN_MAX_NAMESPACES of them),
 * user/session/item ids up to PZ_BUILTIN_MAX_ID_LEN bytes (learning rejects longer ones; queries
 * treat them as unknown). An empty user or session id counts as none; an empty item id is ignored
 * like NULL.
 *
 * Writes and durability: learning applies events in memory (queries see them at once) and a
 * flusher thread writes them to LMDB in large batches, each key once per batch
 * (builtin_internal.h). Events applied but not flushed are lost by a crash: a source that must not
 * lose any passes a `stream` and keeps its events from pz_builtin_unflushed_from on (the event
 * pipeline keeps them in its outbox), and re-sending them after a restart applies each exactly
 * once. The store grows by doubling its LMDB map up to `max_size_mb`; when a flush cannot be
 * written (the limit, a full disk), the store is degraded (pz_builtin_stats.full, one log line a
 * minute), keeps learning in memory up to `pending_mb`, then refuses events until a retry
 * succeeds.
 *
 * Storage: one LMDB environment in the data directory, used by one process at a time (a lock file;
 * a second open fails). The half-life is recorded when the store is created and reopening with a
 * different one keeps the recorded value (the statistics are encoded with it).
 *
 * Threads: reads run on the caller's thread and never wait for disk (safe on event-loop threads).
 * Learning waits for disk only when the pending budget is full (back-pressure). All functions may
 * be called concurrently.
 */
#ifndef PZ_BUILTIN_H
#define PZ_BUILTIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/buf.h"
#include "server/core/user_history.h"
#include "server/core/learner.h"
#include "server/core/mem.h"
#include "server/core/recommender.h"

#define PZ_BUILTIN_MAX_NS_LEN 128
#define PZ_BUILTIN_MAX_ID_LEN 256
#define PZ_BUILTIN_MAX_STREAM_LEN 200
#define PZ_BUILTIN_MAX_NAMESPACES 4096
/* Option bounds. */
#define PZ_BUILTIN_MAX_RECENT 500
#define PZ_BUILTIN_MIN_NEIGHBORS 4
#define PZ_BUILTIN_MAX_NEIGHBORS 1024

typedef struct pz_builtin pz_builtin;

/* pending_mb that sizes the budget from the catalog (pz_builtin_pending_budget). */
#define PZ_BUILTIN_PENDING_AUTO 0
/* The automatic budget's floor, and its ceiling as a share of the memory this process may use
 * (physical memory, or a container's cgroup limit: pz_machine_memory). */
#define PZ_BUILTIN_PENDING_AUTO_MIN_MB 256
#define PZ_BUILTIN_PENDING_AUTO_RAM_SHARE 4 /* a quarter */

typedef struct pz_builtin_options {
    double half_life_hours;       /* popularity/co-occurrence decay; default 168 (a week); 0.001 to 1e9 */
    size_t recent_items_per_user; /* default 32; 1 to PZ_BUILTIN_MAX_RECENT */
    size_t cooccurrence_window;   /* default 20; 1 to PZ_BUILTIN_MAX_RECENT */
    size_t neighbors_per_item;    /* default 255; PZ_BUILTIN_MIN_NEIGHBORS to PZ_BUILTIN_MAX_NEIGHBORS */
    size_t map_size_mb;           /* LMDB map size to start with (it doubles as needed); default 1024 */
    size_t max_size_mb;           /* the most the map may grow to; default 65536; at least 1 */
    size_t pending_mb;            /* memory for writes not yet flushed; default PZ_BUILTIN_PENDING_AUTO */
    int64_t flush_interval_ms;    /* the longest a learned event waits to be flushed; default 30000 */
    int64_t retry_ms;             /* after a failed flush, the next try; default 10000 */
    /* How an operator raises max_size_mb, for the messages (e.g. "--builtin-max-mb"); default
     * "max_size_mb". Not copied: must outlive the store. */
    const char *max_size_name;
} pz_builtin_options;

/* Defaults as documented above. */
void pz_builtin_options_default(pz_builtin_options *o);

/* Opens (creating when missing) the store in directory `dir` (created if needed). opts may be
 * NULL for defaults. Fails when another process has it open, or when it was written by an
 * incompatible earlier format (the message says what to do). Returns 0 and *out, or -1 with a
 * message in err. */
int pz_builtin_open(const char *dir, const pz_builtin_options *opts, pz_builtin **out, char *err, size_t errlen);
/* Flushes what was learned (a failure is logged) and closes. NULL is fine. */
void pz_builtin_close(pz_builtin *b);

/* Events are pz_interaction (server/core/learner.h). Event type weights: purchase 4,
 * add-to-cart/cart 3, like/rating 2, click 1, view/impression 0.5, anything else (or NULL) 1;
 * matched ignoring case, '-', '_' and spaces. event_value is unused by the statistics today; decay
 * is computed from sent_at_ms, which the caller has validated. */

/* Applies the events to namespace ns in array order, visible to queries on return (not yet
 * durable). With a stream (at most PZ_BUILTIN_MAX_STREAM_LEN bytes), events whose seq is at or
 * below the last seq applied for the stream are skipped, and seqs must not decrease within a call.
 * Returns the number applied, or -1 with err (nothing applied): over-long ids, too many
 * namespaces, or the store degraded with its pending budget full. Blocks while a flush makes room.
 */
long pz_builtin_learn(pz_builtin *b, const char *ns, const char *stream, const pz_interaction *events, size_t n,
                      char *err, size_t errlen);
/* Writes everything learned so far to disk; blocking. Returns 0, or -1 with err. */
int pz_builtin_flush(pz_builtin *b, char *err, size_t errlen);
/* pz_builtin_learn without a stream, then pz_builtin_flush: durable on return. */
int pz_builtin_ingest(pz_builtin *b, const char *ns, const pz_interaction *events, size_t n, char *err, size_t errlen);
/* The first seq of stream applied but not flushed; UINT64_MAX when everything applied is. */
uint64_t pz_builtin_unflushed_from(pz_builtin *b, const char *stream);
/* The last seq of stream applied (flushed or not); 0 for a stream never seen. */
uint64_t pz_builtin_stream_mark(pz_builtin *b, const char *stream);

/* The learner port (server/core/learner.h) over pz_builtin_learn, for `builtin` event targets. */
pz_learner pz_builtin_learner(pz_builtin *b);

/* The memory budget for writes not yet flushed, in bytes: pending_mb, or with
 * PZ_BUILTIN_PENDING_AUTO a size that grows with the items known. A flush writes each changed
 * key once, so the budget decides how many events share the write of an item's neighbour list:
 * when half the budget (the active table) holds every item's list (neighbors_per_item * 16
 * bytes) twice over, flushes come from flush_interval_ms and the bytes written per event stay
 * constant as the history grows; a smaller one writes the same lists again and again. Automatic:
 * PZ_BUILTIN_PENDING_AUTO_MIN_MB + 4 * items * neighbors_per_item * 16 bytes, at most
 * 1/PZ_BUILTIN_PENDING_AUTO_RAM_SHARE of pz_machine_memory() (never below the floor). */
size_t pz_builtin_pending_budget(pz_builtin *b);

/* True when the namespace has at least one item. */
bool pz_builtin_has_data(pz_builtin *b, const char *ns);

typedef struct pz_builtin_stats {
    size_t map_bytes;                        /* the LMDB map's current size */
    size_t max_bytes;                        /* the most it may grow to */
    size_t used_bytes;                       /* pages in use */
    size_t pending_bytes;                    /* memory held by writes not yet flushed */
    size_t pending_budget_bytes;             /* pz_builtin_pending_budget */
    size_t pending_entries;                  /* keys waiting to be flushed */
    uint64_t events_learned, events_skipped; /* applied; skipped as already applied (per stream) */
    uint64_t flushes, keys_flushed, map_growths;
    uint64_t flush_failures; /* flushes that could not be written since start */
    int64_t last_flush_ms;   /* duration of the last successful flush */
    int64_t last_flush_at_ms;
    bool full; /* degraded: the last flush failed; learning continues in memory up to pending_mb */
    char last_error[256];
    int64_t last_error_at_ms;
    size_t namespaces, items;
} pz_builtin_stats;

void pz_builtin_stats_get(pz_builtin *b, pz_builtin_stats *out);
/* The statistics as one JSON object (GET /admin/builtin/stats):
 *   {"state": "ok"|"degraded", "mapBytes", "maxBytes", "usedBytes", "pendingBytes",
 *    "pendingBudgetBytes", "pendingKeys", "eventsLearned", "eventsSkipped", "flushes",
 *    "keysFlushed", "mapGrowths", "flushFailures", "lastFlushMs", "lastFlushAt", "lastError",
 *    "lastErrorAt", "namespaces", "items"} */
void pz_builtin_stats_json(pz_builtin *b, pz_buf *out);

/* Each query writes at most n_results items (exactly n_ids for rerank) into a new arena array at
 * *out (item ids copied into the arena too) and returns the count, or returns -1 with err on a
 * storage failure. An unknown namespace, user or item is not an error: popular items (none for an
 * empty namespace) fill the list. Only rerank sets has_score false (ids with no statistics). */
int pz_builtin_popular(pz_builtin *b, const char *ns, size_t n_results, int64_t now_ms, pz_arena *arena,
                       pz_scored_item **out, char *err, size_t errlen);
int pz_builtin_recommend(pz_builtin *b, const char *ns, const char *user_id, size_t n_results, bool exclude_seen,
                         int64_t now_ms, pz_arena *arena, pz_scored_item **out, char *err, size_t errlen);
int pz_builtin_related(pz_builtin *b, const char *ns, const char *item_id, const char *user_id, size_t n_results,
                       int64_t now_ms, pz_arena *arena, pz_scored_item **out, char *err, size_t errlen);
int pz_builtin_rerank(pz_builtin *b, const char *ns, const char *user_id, const char *const *item_ids, size_t n_ids,
                      int64_t now_ms, pz_arena *arena, pz_scored_item **out, char *err, size_t errlen);

/* The user history port (server/core/user_history.h) for the excludeSeen rule, over each user's recent
 * items (builtin.c): the user's most recent `recent_items_per_user` items in the
 * namespace, each with the time of its latest event and the weight of its strongest event type.
 * An item matches the requested event types when its strongest type's weight is one of theirs
 * (types of equal weight, view and impression, cart and add-to-cart, like and rating, are not told
 * apart), and the time window by its latest event. */
pz_history_port pz_builtin_history(pz_builtin *b);

#endif
