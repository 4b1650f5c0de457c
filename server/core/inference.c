#include "server/core/inference.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/decorate.h"
#include "server/core/events.h"
#include "server/core/log.h"
#include "server/core/response_cache.h"
#include "server/recommenders/recommenders.h"

/* The fields every inference request has, under the same names in the three messages. */
#define READ_COMMON_FIELDS(inf, m)                                                                                     \
    do {                                                                                                               \
        (inf)->namespace_ = (m)->namespace_;                                                                           \
        (inf)->recommender_key = (m)->recommender;                                                                     \
        (inf)->user_id = (m)->user_id;                                                                                 \
        (inf)->filter = (m)->filter;                                                                                   \
        (inf)->filter_values = (pz_string_entry **)(m)->filter_values;                                                 \
        (inf)->n_filter_values = (m)->n_filter_values;                                                                 \
        (inf)->context = (pz_string_entry **)(m)->context;                                                             \
        (inf)->n_context = (m)->n_context;                                                                             \
        (inf)->decorate_items = (m)->decorate_items;                                                                   \
        (inf)->synthetic_user = (m)->synthetic_user;                                                                   \
        (inf)->feature = (m)->feature;                                                                                 \
    } while (0)

/* Reads whichever of the three request messages into the shared shape. */
static void read_request(pz_inference *inf, const pz_request *req)
{
    switch (req->rpc) {
    case PZ_RPC_RECOMMEND_ITEMS: {
        const Personalization__V1__RecommendItemsRequest *m = (const void *)req->message;
        inf->action = PZ_ACTION_RECOMMEND_ITEMS;
        READ_COMMON_FIELDS(inf, m);
        inf->num_results = m->num_results;
        break;
    }
    case PZ_RPC_RELATED_ITEMS: {
        const Personalization__V1__RelatedItemsRequest *m = (const void *)req->message;
        inf->action = PZ_ACTION_RELATED_ITEMS;
        READ_COMMON_FIELDS(inf, m);
        inf->item_id = m->item_id;
        inf->num_results = m->num_results;
        break;
    }
    case PZ_RPC_RERANK_ITEMS: {
        const Personalization__V1__RerankItemsRequest *m = (const void *)req->message;
        inf->action = PZ_ACTION_RERANK_ITEMS;
        READ_COMMON_FIELDS(inf, m);
        inf->item_ids = m->item_ids;
        inf->n_item_ids = m->n_item_ids;
        inf->num_results = (int)m->n_item_ids;
        break;
    }
    default:
        break;
    }
}

#define FAIL_VALIDATION(req, ...) pz_request_fail(req, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, "ValidationError", __VA_ARGS__)

static bool check_id(pz_request *req, const char *value, const char *field, bool required)
{
    if (value == NULL || value[0] == '\0') {
        if (!required && value == NULL)
            return true;
        FAIL_VALIDATION(req, "%s is required", field);
        return false;
    }
    if (strlen(value) > PZ_MAX_ID_LEN) {
        FAIL_VALIDATION(req, "%s must be at most %d characters", field, PZ_MAX_ID_LEN);
        return false;
    }
    return true;
}

static bool check_map(pz_request *req, pz_string_entry **entries, size_t n, const char *field, size_t max_key,
                      const char *code)
{
    for (size_t i = 0; i < n; i++) {
        const char *k = entries[i]->key ? entries[i]->key : "";
        const char *v = entries[i]->value ? entries[i]->value : "";
        if (k[0] == '\0' || strlen(k) > max_key) {
            pz_request_fail(req, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, code,
                            "%s keys must be 1 to %zu characters", field, max_key);
            return false;
        }
        if (strlen(v) > PZ_MAX_MAP_VALUE_LEN) {
            pz_request_fail(req, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, code,
                            "%s value for '%s' must be at most %d characters", field, k, PZ_MAX_MAP_VALUE_LEN);
            return false;
        }
    }
    return true;
}

/* Validates what does not depend on the configuration. Fails the request and returns false on the
 * first problem. */
static bool validate_query(pz_request *req, const pz_inference *q)
{
    if (!check_id(req, q->namespace_, "namespace", true) || !check_id(req, q->recommender_key, "recommender", true))
        return false;
    switch (q->action) {
    case PZ_ACTION_RECOMMEND_ITEMS:
        if (!check_id(req, q->user_id, "userId", true))
            return false;
        break;
    case PZ_ACTION_RELATED_ITEMS:
        if (!check_id(req, q->item_id, "itemId", true) || !check_id(req, q->user_id, "userId", false))
            return false;
        break;
    case PZ_ACTION_RERANK_ITEMS:
        if (!check_id(req, q->user_id, "userId", true))
            return false;
        if (q->n_item_ids == 0 || q->n_item_ids > PZ_MAX_RERANK_ITEMS) {
            FAIL_VALIDATION(req, "itemIds must hold 1 to %d item ids (got %zu)", PZ_MAX_RERANK_ITEMS, q->n_item_ids);
            return false;
        }
        for (size_t i = 0; i < q->n_item_ids; i++) {
            if (q->item_ids[i] == NULL || strlen(q->item_ids[i]) > PZ_MAX_ID_LEN) {
                FAIL_VALIDATION(req, "itemIds[%zu] must be at most %d characters", i, PZ_MAX_ID_LEN);
                return false;
            }
        }
        break;
    default:
        break;
    }
    if (q->action != PZ_ACTION_RERANK_ITEMS && (q->num_results < 1 || q->num_results > PZ_MAX_NUM_RESULTS)) {
        FAIL_VALIDATION(req, "numResults must be between 1 and %d (got %d)", PZ_MAX_NUM_RESULTS, q->num_results);
        return false;
    }
    return check_map(req, q->filter_values, q->n_filter_values, "filterValues", PZ_MAX_FILTER_VALUE_KEY_LEN,
                     "InvalidFilterParameter") &&
           check_map(req, q->context, q->n_context, "context", PZ_MAX_CONTEXT_KEY_LEN, "InvalidContextParameter");
}

/* Cache-Control for the selected policy (spec §4.1, with defect #13 fixed: directives that already
 * hold max-age are emitted as given). NULL means no header. */
static const char *cache_control_header(const pz_cache_control *cc, const pz_inference *q, pz_arena *arena)
{
    if (cc == NULL)
        return NULL;
    const pz_cache_policy *p = q->user_id == NULL ? &cc->no_user_specified
                               : q->synthetic_user ? &cc->synthetic_user_specified
                                                   : &cc->user_specified;
    if (!p->present)
        return NULL;
    const char *d = p->directives != NULL && p->directives[0] != '\0' ? p->directives : NULL;
    if (p->has_max_age && p->max_age > 0) {
        if (d == NULL)
            return pz_arena_printf(arena, "max-age=%d", p->max_age);
        if (strstr(d, "max-age=") != NULL)
            return d;
        return pz_arena_printf(arena, "%s,max-age=%d", d, p->max_age);
    }
    return d;
}

static char *new_recommendation_id(pz_arena *arena)
{
    char uuid[37];
    pz_uuid4(uuid);
    return pz_arena_printf(arena, "RID-%s", uuid);
}

/* Picks the variation: the first, unless experiments apply (spec §7.1). Fails the request and
 * returns NULL on a bad `feature`. */
static const pz_variation *choose_variation(pz_request *req, const pz_recommender *r, const pz_inference *q)
{
    if (r->n_variations == 0) {
        pz_request_fail(req, PZ_NOT_FOUND, PZ_ERRTYPE_CONFIGURATION, "NoVariationsConfigured",
                        "recommender '%s' has no variations", r->key);
        return NULL;
    }
    if (q->feature != NULL && r->n_experiments > 0) {
        bool known = false;
        for (size_t i = 0; i < r->n_experiments; i++)
            known = known || strcmp(r->experiments[i].feature, q->feature) == 0;
        if (!known) {
            pz_request_fail(req, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, "InvalidExperimentFeature",
                            "feature '%s' is not an experiment of recommender '%s'", q->feature, r->key);
            return NULL;
        }
    }
    return &r->variations[0];
}

/* Completes the inference: the snapshot reference is dropped first (nothing the front reads
 * points into it), then the request is answered. */
static void finish_error(pz_inference *inf, pz_status status, const char *type, const char *code, const char *message)
{
    pz_config_unref(inf->config);
    inf->config = NULL;
    pz_request_fail(inf->req, status, type, code, "%s", message);
}

static void finish_ok(pz_inference *inf)
{
    pz_config_unref(inf->config);
    inf->config = NULL;
    pz_request_succeed(inf->req, inf->response);
}

static void build_response(pz_inference *inf)
{
    pz_request *req = inf->req;
    size_t count = inf->n_items;
    if (inf->action != PZ_ACTION_RERANK_ITEMS && count > (size_t)inf->num_results)
        count = (size_t)inf->num_results; /* spec §2.1 step 11: truncate; rerank is never truncated */
    Personalization__V1__PredictedItem **list = pz_arena_calloc(req->arena, count ? count : 1, sizeof *list);
    for (size_t i = 0; i < count; i++) {
        Personalization__V1__PredictedItem *it = (Personalization__V1__PredictedItem *)pz_arena_new_message(
            req->arena, &personalization__v1__predicted_item__descriptor);
        it->item_id = (char *)inf->items[i].item_id;
        it->has_score = inf->items[i].has_score;
        it->score = inf->items[i].score;
        if (inf->item_extras != NULL) { /* remote recommenders: Personalize's PredictedItem fields */
            it->promotion_name = (char *)inf->item_extras[i].promotion_name;
            it->reason = inf->item_extras[i].reason;
            it->n_reason = inf->item_extras[i].n_reason;
            it->metadata = inf->item_extras[i].metadata;
        }
        list[i] = it;
    }
    char *rid = inf->recommendation_id != NULL ? (char *)inf->recommendation_id : new_recommendation_id(req->arena);
    if (inf->action == PZ_ACTION_RERANK_ITEMS) {
        Personalization__V1__RerankResponse *r = (Personalization__V1__RerankResponse *)pz_arena_new_message(
            req->arena, &personalization__v1__rerank_response__descriptor);
        r->n_personalized_ranking = count;
        r->personalized_ranking = list;
        r->recommendation_id = rid;
        inf->response = &r->base;
    } else {
        Personalization__V1__RecommendationResponse *r =
            (Personalization__V1__RecommendationResponse *)pz_arena_new_message(
                req->arena, &personalization__v1__recommendation_response__descriptor);
        r->n_item_list = count;
        r->item_list = list;
        r->recommendation_id = rid;
        inf->response = &r->base;
    }
    inf->response_items = list;
    inf->n_response_items = count;
}

/* A stage failed: answer with a stale cache entry when stale-if-error allows, else the error. */
static void stage_failed(pz_inference *inf, const pz_error *err)
{
    if (pz_response_cache_failed(inf, err))
        return;
    finish_error(inf, err->status, err->type, err->code, err->message);
}

void pz_inference_recommended(pz_inference *inf, const pz_error *err)
{
    if (err != NULL) {
        stage_failed(inf, err);
        return;
    }
    build_response(inf);
    pz_decorate(inf->decorator, inf); /* completes through pz_inference_decorated */
}

void pz_inference_decorated(pz_inference *inf, const pz_error *err)
{
    if (err != NULL) {
        stage_failed(inf, err);
        return;
    }
    pz_response_cache_store(inf); /* prepared bytes, ETag, If-None-Match, cache store */
    finish_ok(inf);
}

/* Validates, resolves and sets the hints. Returns false when it completed the request. */
static bool resolve(pz_inference *inf)
{
    pz_request *req = inf->req;
    if (!validate_query(req, inf))
        return false;
    inf->ns = pz_config_namespace(inf->config, inf->namespace_);
    inf->recommender = inf->ns != NULL ? pz_config_recommender(inf->ns, inf->action, inf->recommender_key) : NULL;
    if (inf->recommender == NULL) {
        pz_request_fail(req, PZ_NOT_FOUND, PZ_ERRTYPE_CONFIGURATION, "RecommenderNotConfigured",
                        inf->ns == NULL ? "namespace '%s' is not configured"
                                        : "recommender '%s' is not configured under %s in namespace '%s'",
                        inf->ns == NULL ? inf->namespace_ : inf->recommender_key, pz_action_name(inf->action),
                        inf->namespace_);
        return false;
    }
    inf->variation = choose_variation(req, inf->recommender, inf);
    if (inf->variation == NULL)
        return false;
    /* Hints must outlive the snapshot (a reload may free it before the front writes them). */
    req->hints.variation = pz_arena_strdup(req->arena, inf->variation->key);
    const char *cache_control = cache_control_header(inf->variation->cache_control_view, inf, req->arena);
    req->hints.cache_control = cache_control != NULL ? pz_arena_strdup(req->arena, cache_control) : NULL;
    return true;
}

void pz_inference_start(pz_request *req, pz_config *cfg, struct pz_recommenders *recommenders,
                        struct pz_decorator *decorator, struct pz_response_cache *response_cache)
{
    pz_inference *inf = pz_arena_calloc(req->arena, 1, sizeof *inf);
    inf->req = req;
    inf->config = cfg;
    inf->recommenders = recommenders;
    inf->decorator = decorator;
    inf->response_cache = response_cache;
    read_request(inf, req);
    if (!resolve(inf)) {
        pz_config_unref(cfg);
        return;
    }
    if (pz_response_cache_lookup(response_cache, inf)) /* answered from the cache, or waiting on an identical call */
        return;
    pz_recommenders_invoke(recommenders, inf);
}
