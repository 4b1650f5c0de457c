/* One inference call (RecommendItems, RelatedItems, RerankItems) as it moves through the
 * pipeline in server/core/inference.c:
 *
 *   resolve (validate, namespace -> recommender -> variation, hints)
 *     -> response cache lookup (hit: answer now)       server/core/response_cache.h
 *     -> recommender call (may complete on any thread)  server/recommenders/recommenders.h
 *     -> build the response message
 *     -> [decoration from the catalog]                 seam: server/core/decorate (issue #3)
 *     -> response cache store (prepared bytes, ETag, If-None-Match)
 *     -> complete the request
 *
 * The three request messages share their fields; they are read into this one shape. The
 * inference lives in the request's arena and holds a reference on the configuration snapshot
 * until it completes, so stages may run after a reload swapped the snapshot.
 */
#ifndef PZ_INFERENCE_H
#define PZ_INFERENCE_H

#include <stdbool.h>
#include <stddef.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/config.h"
#include "server/core/request.h"
#include "server/recommenders/builtin.h"

/* Limits of the inference API (spec §2.6, §13), each enforced with a 400 naming the field. */
#define PZ_MAX_NUM_RESULTS 500
#define PZ_MAX_RERANK_ITEMS 500
#define PZ_MAX_ID_LEN 256
#define PZ_MAX_FILTER_VALUE_KEY_LEN 50
#define PZ_MAX_CONTEXT_KEY_LEN 150
#define PZ_MAX_MAP_VALUE_LEN 1000

/* Entries of every map<string,string> field have this layout in protobuf-c. */
typedef struct pz_string_entry {
    ProtobufCMessage base;
    char *key;
    char *value;
} pz_string_entry;

/* What a remote recommender returns per item besides id and score (Personalize's PredictedItem
 * fields), kept as given. Arena-owned; every member may be NULL/0 when absent. */
typedef struct pz_item_extra {
    const char *promotion_name;
    char **reason;
    size_t n_reason;
    Google__Protobuf__Struct *metadata; /* Personalize metadataColumns, Lambda/SageMaker/http
                                           `metadata`, or DynamoDB item metadata */
} pz_item_extra;

typedef struct pz_inference pz_inference;
struct pz_recommenders;
struct pz_decorator;
struct pz_response_cache;
struct pz_cache_call;

struct pz_inference {
    pz_request *req;
    struct pz_recommenders *recommenders;
    struct pz_decorator *decorator;    /* item metadata (server/core/decorate.h) */
    struct pz_response_cache *response_cache; /* server/core/response_cache.h, may be NULL */
    struct pz_cache_call *cache_call;  /* the response cache stage's state; NULL when uncacheable */
    pz_config *config;                 /* reference held until completion */
    const pz_namespace *ns;
    const pz_recommender *recommender;
    const pz_variation *variation;

    /* the request, normalized */
    pz_action action;
    const char *namespace_;
    const char *recommender_key;
    const char *user_id;               /* NULL on related-items without a user */
    const char *item_id;               /* related-items */
    char **item_ids;                   /* rerank-items */
    size_t n_item_ids;
    int num_results;                   /* what the client asked for (1..500); not used by rerank */
    const char *filter;
    pz_string_entry **filter_values;
    size_t n_filter_values;
    pz_string_entry **context;
    size_t n_context;
    bool decorate_items;
    bool synthetic_user;
    const char *feature;

    /* the recommender's answer (arena-owned), set before its completion callback runs */
    pz_scored_item *items;
    size_t n_items;
    const char *recommendation_id;     /* from the recommender, or NULL to mint one */
    const pz_item_extra *item_extras;  /* parallel to items, or NULL (builtin) */

    /* the response message being built (RecommendationResponse or RerankResponse) */
    ProtobufCMessage *response;
    Personalization__V1__PredictedItem **response_items; /* itemList / personalizedRanking */
    size_t n_response_items;
};

/* Starts the pipeline for req (an inference RPC). Takes over the caller's reference on cfg.
 * Completes req exactly once. */
void pz_inference_start(pz_request *req, pz_config *cfg, struct pz_recommenders *recommenders,
                        struct pz_decorator *decorator, struct pz_response_cache *response_cache);

/* Recommender completion: err NULL on success (inf->items set), else the error to answer with.
 * Any thread. */
void pz_inference_recommended(pz_inference *inf, const pz_error *err);

/* Decoration completion (server/core/decorate.h): err NULL when inf->response_items are decorated
 * (or need no decoration), else the error to answer with. Any thread. */
void pz_inference_decorated(pz_inference *inf, const pz_error *err);

#endif
