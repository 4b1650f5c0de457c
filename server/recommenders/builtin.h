/* The embedded recommender (variation type `builtin`): learns from events and serves
 * recommendations with no cloud account.
 *
 * Statistics, per namespace, stored in one LMDB environment under the data directory:
 *   - popularity of each item, with exponential time decay (half-life `half_life_hours`);
 *   - item-to-item co-occurrence: an event on item i by a user pairs i with that user's most
 *     recent `cooccurrence_window` items (weighted by event type, decayed like popularity);
 *   - each user's most recent `recent_items_per_user` items.
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
 * Ids: namespaces up to PZ_BUILTIN_MAX_NS_LEN bytes, user/session/item ids up to
 * PZ_BUILTIN_MAX_ID_LEN bytes (ingest rejects longer ones; queries treat them as unknown). An empty
 * user or session id counts as none; an empty item id is ignored like NULL.
 *
 * Storage: one LMDB environment in the data directory (see builtin_internal.h for the layout). The
 * half-life is recorded when the store is created and reopening with a different one keeps the
 * recorded value (the statistics are encoded with it). A process may open a directory only once.
 *
 * Threads: reads run on the caller's thread in an LMDB read transaction and never wait for
 * writers (safe on event-loop threads). pz_builtin_ingest does disk I/O: call it from a writer
 * thread, never from an event loop. All functions may be called concurrently.
 */
#ifndef PZ_BUILTIN_H
#define PZ_BUILTIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/history.h"
#include "server/core/learner.h"
#include "server/core/mem.h"
#include "server/core/recommender.h"

#define PZ_BUILTIN_MAX_NS_LEN 128
#define PZ_BUILTIN_MAX_ID_LEN 256

typedef struct pz_builtin pz_builtin;

typedef struct pz_builtin_options {
    double half_life_hours; /* popularity/co-occurrence decay; default 168 (a week);
                               0.001 to 1e9 */
    /* recent_items_per_user and cooccurrence_window: 1 to 1000; map_size_mb at least 1. */
    size_t recent_items_per_user; /* default 50 */
    size_t cooccurrence_window;   /* default 20 */
    size_t map_size_mb;           /* LMDB map size; default 1024 */
} pz_builtin_options;

/* Defaults as documented above. */
void pz_builtin_options_default(pz_builtin_options *o);

/* Opens (creating when missing) the store in directory `dir` (created if needed). opts may be
 * NULL for defaults. Returns 0 and *out, or -1 with a message in err. */
int pz_builtin_open(const char *dir, const pz_builtin_options *opts, pz_builtin **out, char *err, size_t errlen);
void pz_builtin_close(pz_builtin *b);

/* Events are pz_interaction (server/core/learner.h). Event type weights: purchase 4,
 * add-to-cart/cart 3, like/rating 2, click 1, view/impression 0.5, anything else (or NULL) 1;
 * matched ignoring case, '-', '_' and spaces. event_value is unused by the statistics today; decay
 * is computed from sent_at_ms. */

/* Applies the events to namespace `ns` in one durable write transaction, in array order. Blocking;
 * returns 0, or -1 with err (nothing applied): over-long ids, LMDB errors, a full map (the message
 * names map_size_mb). */
int pz_builtin_ingest(pz_builtin *b, const char *ns, const pz_interaction *events, size_t n, char *err, size_t errlen);

/* The learner port (server/core/learner.h) over pz_builtin_ingest, for `builtin` event targets. */
pz_learner pz_builtin_learner(pz_builtin *b);

/* True when the namespace has at least one recorded event. */
bool pz_builtin_has_data(pz_builtin *b, const char *ns);

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

/* The user history port (server/core/history.h) for the excludeSeen rule, over each user's recent
 * items (builtin_history.c): the user's most recent `recent_items_per_user` items in the
 * namespace, each with the time of its latest event and the weight of its strongest event type.
 * An item matches the requested event types when its strongest type's weight is one of theirs
 * (types of equal weight, view and impression, cart and add-to-cart, like and rating, are not told
 * apart), and the time window by its latest event. */
pz_history_port pz_builtin_history(pz_builtin *b);

#endif
