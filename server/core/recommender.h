/* The recommender port: how the inference sequencer (server/core/inference.h) asks "the
 * recommenders" for items without knowing which kinds exist. server/recommenders/ implements it
 * (builtin, Personalize, SageMaker, Lambda, http, with fallbacks and the response post-processor)
 * and main.c hands it to the service; core tests hand in an in-memory fake.
 *
 * One call:
 *   1. the sequencer fills a pz_recommend_call (the query, the variation to run, the arena, the
 *      deadline) and calls port.invoke(port.self, call);
 *   2. the implementation fills the answer (items, extras, recommendation id, which variation
 *      served) and calls call->done(call, err) exactly once: inline or later, on any thread;
 *      err NULL on success;
 *   3. until done runs, the implementation may allocate from call->arena and must not touch the
 *      call from two threads at once; after done it never touches the call again.
 *
 * Shutdown: port.drain(self, grace_ms) stops new calls, lets those in flight finish within the
 * grace period and fails the rest (503), returning once every done has run.
 */
#ifndef PZ_RECOMMENDER_H
#define PZ_RECOMMENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/config.h"
#include "server/core/mem.h"
#include "server/core/query.h"
#include "server/core/request.h"
#include "server/core/status.h"

/* One recommended item: id and (when the recommender gives one) score. Arena-owned. */
typedef struct pz_scored_item {
    const char *item_id;
    bool has_score;
    double score;
} pz_scored_item;

/* What a remote recommender returns per item besides id and score (Personalize's PredictedItem
 * fields), kept as given. Arena-owned; every member may be NULL/0 when absent. */
typedef struct pz_item_extra {
    const char *promotion_name;
    char **reason; /* non-NULL when the recommender gave the list, even empty (n_reason 0) */
    size_t n_reason;
    Google__Protobuf__Struct *metadata;      /* Personalize metadataColumns, Lambda/SageMaker/http
                                                `metadata`, or DynamoDB item metadata */
    Google__Protobuf__Struct *custom_fields; /* the item's other fields (Lambda, SageMaker, http) */
} pz_item_extra;

typedef struct pz_recommend_call pz_recommend_call;
typedef void (*pz_recommend_done_fn)(pz_recommend_call *call, const pz_error *err);

struct pz_recommend_call {
    /* in: read-only for the recommender */
    const pz_query *query;
    const pz_variation *variation; /* the variation the sequencer chose */
    int64_t deadline_ms;           /* the client's absolute deadline, 0 = none */
    pz_arena *arena;               /* for the answer; the call's own until done runs */
    pz_upstream_timing *timing;    /* where upstream calls account their time */

    /* out: valid when done runs with err NULL */
    pz_scored_item *items;
    size_t n_items;
    const pz_item_extra *extras;   /* parallel to items, or NULL (builtin) */
    const char *recommendation_id; /* the recommender's, or NULL: the sequencer mints one */
    /* Top-level fields of the answer the response message does not name (Lambda, SageMaker,
     * http), or NULL. */
    Google__Protobuf__Struct *custom_fields;
    const pz_variation *served; /* the variation that answered: `variation`, or the fallback that
                                 * replaced it when it failed (spec: `fallback` key) */
    const char *fallback_from;  /* key of the variation that failed first, or NULL */

    pz_recommend_done_fn done;
    void *done_ctx; /* the sequencer's */
};

typedef struct pz_recommender_port {
    void *self;
    /* Starts the call; completes through call->done (see the top of this file). Any thread; never
     * blocks on the network or on a lock held across I/O. */
    void (*invoke)(void *self, pz_recommend_call *call);
    /* Shutdown: see the top of this file. May be NULL when there is nothing to drain. */
    void (*drain)(void *self, int grace_ms);
} pz_recommender_port;

#endif
