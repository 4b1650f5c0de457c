/* Post-ranking rules (issue #20): the `rules` block of the configuration (pz_rules, config.h)
 * applied to a recommender's answer, whatever the recommender (builtin, Personalize, Lambda,
 * SageMaker, http), in the sequencer's `rules` stage (server/core/inference.h) after the
 * recommender and before the response is built and decorated. recommend-items and related-items
 * only: a rerank answers every id it was given, in the recommender's order.
 *
 * Input: the recommender's items (ids, scores, extras), read through two ports:
 *   - user history (server/core/user_history.h) for excludeSeen;
 *   - item metadata fields (pz_decorator_fields, server/core/decorate.h: the namespace's localdb
 *     catalog), for diversity and field conditions; a field the recommender returned in an item's
 *     own `metadata` (Personalize metadataColumns, Lambda, SageMaker, http) wins over the catalog.
 * Output: the new list in the call (call->items, n_items, extras), longer than numResults when
 * the recommender was asked for more (look-ahead); the build stage cuts it to numResults.
 *
 * Order of application:
 *   1. excludeSeen: items the user interacted with (event types and window as configured) go;
 *   2. bury: matching items move to the end, keeping their order;
 *   3. boost: each item's ranking value (its score when every item has a score >= 0, else
 *      n - rank) is multiplied by the weights of the boosts it matches, and the unburied items are
 *      sorted by it (stable: ties keep the recommender's order);
 *   4. diversity: `cap` keeps at most maxPerValue items per value of the field (items without the
 *      field are never capped; the others go); `mmr` reorders greedily by
 *      lambda * relevance - (1 - lambda) * [the value was already shown], relevance = 1 - rank/n;
 *   5. pin: each pinned item (by id: added when the recommender did not return it, unless excluded
 *      as seen; by field: the best-ranked matching item) is placed at its 1-based position, in
 *      ascending position order (past the end: appended).
 * Scores are never changed: every item keeps the score its recommender gave (an added pin has
 * none), so the order may differ from score order but no score is false.
 *
 * Field values compare as: a string equals a string, a number a number; other JSON values (true,
 * arrays, ...) compare by their compact JSON text.
 */
#ifndef PZ_RULES_H
#define PZ_RULES_H

#include "server/core/config.h"
#include "server/core/decorate.h"
#include "server/core/user_history.h"
#include "server/core/query.h"
#include "server/core/recommender.h"

typedef struct pz_rules_ports {
    pz_history_port history; /* zeroed: no history (excludeSeen leaves nothing out) */
    pz_decorator *decorator; /* field values; NULL: only the items' own metadata */
} pz_rules_ports;

/* How many items to ask the recommender for: numResults (with pagination, at least its
 * maxItems) times the rules' look-ahead multiplier, capped by lookAheadMaximumValue (but never
 * below that base) and PZ_MAX_NUM_RESULTS. rules NULL or numResults 0: numResults. */
int pz_rules_look_ahead(const pz_rules *rules, int num_results);

/* Applies rules to call's answer (see the top of this file), allocating from arena. records, when
 * not NULL, receives what the field reader read of the items, aligned with call->items after the
 * rules (an added pin: not known; records->items NULL when nothing was read), for decoration to
 * reuse (pz_decoration.records). Returns PZ_OK, or an error status with *err (a port failed; the
 * call is left as it was). Any thread; inline. */
pz_status pz_rules_apply(const pz_rules_ports *ports, const pz_rules *rules, const pz_query *q, pz_recommend_call *call,
                         pz_item_records *records, pz_arena *arena, pz_error *err);

/* filterValuesFromItem (related-items): the current item's catalog fields as Personalize filter
 * values (a string value quoted, "\"shoes\"", a number as written), added to q->filter_values for
 * every parameter the request did not set. A field the item lacks adds nothing. Returns PZ_OK or
 * the field lookup's error. */
pz_status pz_rules_filter_values_from_item(const pz_rules_ports *ports, const pz_rules *rules, pz_query *q,
                                           pz_arena *arena, pz_error *err);

#endif
