/* The query: one inference request (RecommendItems, RelatedItems, RerankItems) read into one
 * shape, validated by one set of rules whichever front it came from, then resolved against the
 * configuration snapshot. It is what every later stage reads: the response cache builds its key
 * from it, the recommender port (server/core/recommender.h) and the decorators
 * (server/core/decorate.h) get it read-only.
 *
 * Strings and arrays point into the request message (or the request arena); the config pointers
 * point into the snapshot the inference holds a reference on.
 */
#ifndef PZ_QUERY_H
#define PZ_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "server/core/config.h"
#include "server/core/mem.h"
#include "server/core/request.h"
#include "server/core/rpc.h"
#include "server/core/status.h"

/* Limits of the inference API (spec §2.6, §13), each enforced with a 400 naming the field, except
 * PZ_MAX_NUM_RESULTS: a larger numResults is clamped to it, as upstream does. The context and
 * filterValues limits (PZ_MAX_CONTEXT_KEY_LEN, PZ_MAX_FILTER_VALUE_KEY_LEN, PZ_MAX_MAP_VALUE_LEN)
 * are in server/core/config.h: automatic values respect them too. */
#define PZ_MAX_NUM_RESULTS 500
#define PZ_MAX_RERANK_ITEMS 500
#define PZ_MAX_ID_LEN 256

/* Entries of every map<string,string> field have this layout in protobuf-c. */
typedef struct pz_string_entry {
    ProtobufCMessage base;
    char *key;
    char *value;
} pz_string_entry;

typedef struct pz_query {
    /* the request, as sent */
    pz_rpc rpc;
    pz_action action;
    const char *namespace_;
    const char *recommender_key;
    const char *user_id; /* NULL on related-items without a user */
    const char *item_id; /* related-items */
    char **item_ids;     /* rerank-items */
    size_t n_item_ids;
    int num_results; /* recommend/related: what the client asked for, clamped to 500 (0 asks for
                      * an empty list); rerank: the number of ids, since a rerank answers every
                      * id it was given */
    const char *filter;
    /* filterValues and context: as sent until the context stage of the sequencer
     * (server/core/inference.h) merges the automatic values in (server/core/context_apply.h);
     * from then on what the recommender receives and the response cache keys on. */
    pz_string_entry **filter_values;
    size_t n_filter_values;
    pz_string_entry **context;
    size_t n_context;
    bool decorate_items;
    bool synthetic_user;
    bool explain; /* add an `explain` object to the response (never cached) */
    const char *feature;
    const pz_header *query_params; /* the request's (pz_request.query_params), for `http` URLs */
    size_t n_query_params;

    /* resolved in the configuration snapshot (NULL until the resolve stage ran) */
    const pz_namespace *ns;
    const pz_recommender *recommender;

    int64_t received_ms; /* wall clock at receipt: the "now" of the recommenders */
    int64_t deadline_ms; /* the client's absolute deadline, 0 = none */
} pz_query;

/* Reads an inference request message of type pz_rpc_get(rpc)->request into q (zeroing the rest).
 * rpc must be RECOMMEND_ITEMS, RELATED_ITEMS or RERANK_ITEMS. Reading normalizes what upstream
 * treats as equivalent: an empty `filter`, `feature` or related-items `userId` is absent, and
 * numResults above PZ_MAX_NUM_RESULTS is clamped to it (upstream clamps; a negative value stays
 * for pz_query_validate to refuse). */
void pz_query_read(pz_query *q, pz_rpc rpc, const ProtobufCMessage *msg);

/* Checks what does not depend on the configuration: required ids, id lengths, numResults, rerank
 * ids, map keys and values. Returns PZ_OK, or PZ_INVALID_ARGUMENT with *err (message in the arena)
 * for the first problem. */
pz_status pz_query_validate(const pz_query *q, pz_arena *arena, pz_error *err);

/* The configured filter of variation v that applies to q (spec §3.5): none when the request
 * names its own `filter`; else the first of v's filters without a condition, or with
 * `user-required` when q has a user. NULL when none applies. */
const pz_filter *pz_query_configured_filter(const pz_query *q, const pz_variation *v);

/* Resolves namespace and recommender in cfg into q->ns / q->recommender. Returns PZ_OK, or
 * PZ_NOT_FOUND with *err (RecommenderNotConfigured) naming what is missing. */
pz_status pz_query_resolve(pz_query *q, const pz_config *cfg, pz_arena *arena, pz_error *err);

#endif
