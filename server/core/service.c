#include "server/core/service.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/events.h"
#include "server/core/log.h"

/* Limits of the inference API (spec §2.6, §13), each enforced with a 400 naming the field. */
#define MAX_NUM_RESULTS 500
#define MAX_RERANK_ITEMS 500
#define MAX_ID_LEN 256
#define MAX_FILTER_VALUE_KEY_LEN 50
#define MAX_CONTEXT_KEY_LEN 150
#define MAX_MAP_VALUE_LEN 1000

struct pz_service {
    pz_config_holder *config;
    pz_builtin *builtin;
    pz_event_pipeline *events;
    atomic_bool stopping;
};

/* The three inference requests share their fields; protobuf-c generates three structs, so each is
 * read into this one shape. Map entries of map<string,string> all have this layout. */
typedef struct string_entry {
    ProtobufCMessage base;
    char *key;
    char *value;
} string_entry;

typedef struct inference_query {
    pz_action action;
    const char *namespace_;
    const char *recommender;
    const char *user_id;      /* NULL on related-items without a user */
    const char *item_id;      /* related-items */
    char **item_ids;          /* rerank-items */
    size_t n_item_ids;
    int num_results;
    const char *filter;
    string_entry **filter_values;
    size_t n_filter_values;
    string_entry **context;
    size_t n_context;
    bool decorate_items;
    bool synthetic_user;
    const char *feature;
} inference_query;

static void read_query(const pz_request *req, inference_query *q)
{
    memset(q, 0, sizeof *q);
    switch (req->rpc) {
    case PZ_RPC_RECOMMEND_ITEMS: {
        const Personalization__V1__RecommendItemsRequest *m = (const void *)req->message;
        *q = (inference_query){PZ_ACTION_RECOMMEND_ITEMS, m->namespace_, m->recommender, m->user_id, NULL, NULL, 0,
                               m->num_results, m->filter, (string_entry **)m->filter_values, m->n_filter_values,
                               (string_entry **)m->context, m->n_context, m->decorate_items, m->synthetic_user,
                               m->feature};
        break;
    }
    case PZ_RPC_RELATED_ITEMS: {
        const Personalization__V1__RelatedItemsRequest *m = (const void *)req->message;
        *q = (inference_query){PZ_ACTION_RELATED_ITEMS, m->namespace_, m->recommender, m->user_id, m->item_id, NULL, 0,
                               m->num_results, m->filter, (string_entry **)m->filter_values, m->n_filter_values,
                               (string_entry **)m->context, m->n_context, m->decorate_items, m->synthetic_user,
                               m->feature};
        break;
    }
    case PZ_RPC_RERANK_ITEMS: {
        const Personalization__V1__RerankItemsRequest *m = (const void *)req->message;
        *q = (inference_query){PZ_ACTION_RERANK_ITEMS, m->namespace_, m->recommender, m->user_id, NULL, m->item_ids,
                               m->n_item_ids, 0, m->filter, (string_entry **)m->filter_values, m->n_filter_values,
                               (string_entry **)m->context, m->n_context, m->decorate_items, m->synthetic_user,
                               m->feature};
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
    if (strlen(value) > MAX_ID_LEN) {
        FAIL_VALIDATION(req, "%s must be at most %d characters", field, MAX_ID_LEN);
        return false;
    }
    return true;
}

static bool check_map(pz_request *req, string_entry **entries, size_t n, const char *field, size_t max_key,
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
        if (strlen(v) > MAX_MAP_VALUE_LEN) {
            pz_request_fail(req, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, code,
                            "%s value for '%s' must be at most %d characters", field, k, MAX_MAP_VALUE_LEN);
            return false;
        }
    }
    return true;
}

/* Validates what does not depend on the configuration. Fails the request and returns false on the
 * first problem. */
static bool validate_query(pz_request *req, const inference_query *q)
{
    if (!check_id(req, q->namespace_, "namespace", true) || !check_id(req, q->recommender, "recommender", true))
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
        if (q->n_item_ids == 0 || q->n_item_ids > MAX_RERANK_ITEMS) {
            FAIL_VALIDATION(req, "itemIds must hold 1 to %d item ids (got %zu)", MAX_RERANK_ITEMS, q->n_item_ids);
            return false;
        }
        for (size_t i = 0; i < q->n_item_ids; i++) {
            if (q->item_ids[i] == NULL || strlen(q->item_ids[i]) > MAX_ID_LEN) {
                FAIL_VALIDATION(req, "itemIds[%zu] must be at most %d characters", i, MAX_ID_LEN);
                return false;
            }
        }
        break;
    default:
        break;
    }
    if (q->action != PZ_ACTION_RERANK_ITEMS && (q->num_results < 1 || q->num_results > MAX_NUM_RESULTS)) {
        FAIL_VALIDATION(req, "numResults must be between 1 and %d (got %d)", MAX_NUM_RESULTS, q->num_results);
        return false;
    }
    return check_map(req, q->filter_values, q->n_filter_values, "filterValues", MAX_FILTER_VALUE_KEY_LEN,
                     "InvalidFilterParameter") &&
           check_map(req, q->context, q->n_context, "context", MAX_CONTEXT_KEY_LEN, "InvalidContextParameter");
}

/* Cache-Control for the selected policy (spec §4.1, with defect #13 fixed: directives that already
 * hold max-age are emitted as given). NULL means no header. */
static const char *cache_control_header(const pz_cache_control *cc, const inference_query *q, pz_arena *arena)
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

static Personalization__V1__PredictedItem **to_predicted_items(const pz_scored_item *items, size_t n, pz_arena *arena)
{
    Personalization__V1__PredictedItem **out = pz_arena_calloc(arena, n ? n : 1, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        Personalization__V1__PredictedItem *it = (Personalization__V1__PredictedItem *)pz_arena_new_message(
            arena, &personalization__v1__predicted_item__descriptor);
        it->item_id = (char *)items[i].item_id;
        it->has_score = items[i].has_score;
        it->score = items[i].score;
        out[i] = it;
    }
    return out;
}

/* Runs the builtin recommender for the query. Returns the item count or -1 (request failed). */
static int run_builtin(pz_service *svc, pz_request *req, const inference_query *q, const pz_variation *v,
                       pz_scored_item **items)
{
    char err[256] = "";
    int n = -1;
    int64_t now = req->received_ms;
    pz_builtin_strategy s = v->strategy;
    switch (q->action) {
    case PZ_ACTION_RECOMMEND_ITEMS:
        if (s == PZ_STRATEGY_POPULAR)
            n = pz_builtin_popular(svc->builtin, q->namespace_, (size_t)q->num_results, now, req->arena, items, err,
                                   sizeof err);
        else
            n = pz_builtin_recommend(svc->builtin, q->namespace_, q->user_id, (size_t)q->num_results, v->exclude_seen,
                                     now, req->arena, items, err, sizeof err);
        break;
    case PZ_ACTION_RELATED_ITEMS:
        if (s == PZ_STRATEGY_POPULAR)
            n = pz_builtin_popular(svc->builtin, q->namespace_, (size_t)q->num_results, now, req->arena, items, err,
                                   sizeof err);
        else
            n = pz_builtin_related(svc->builtin, q->namespace_, q->item_id, q->user_id, (size_t)q->num_results, now,
                                   req->arena, items, err, sizeof err);
        break;
    case PZ_ACTION_RERANK_ITEMS:
        n = pz_builtin_rerank(svc->builtin, q->namespace_, q->user_id, (const char *const *)q->item_ids, q->n_item_ids,
                              now, req->arena, items, err, sizeof err);
        break;
    default:
        break;
    }
    if (n < 0) {
        pz_error_log("builtin recommender failed for %s/%s: %s", q->namespace_, q->recommender, err);
        pz_request_fail(req, PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "RecommenderFailed",
                        "the builtin recommender failed: %s", err);
    }
    return n;
}

static void respond_items(pz_request *req, const inference_query *q, pz_scored_item *items, int n)
{
    size_t count = (size_t)n;
    if (q->action != PZ_ACTION_RERANK_ITEMS && count > (size_t)q->num_results)
        count = (size_t)q->num_results; /* spec §2.1 step 11: truncate; rerank is never truncated */
    Personalization__V1__PredictedItem **list = to_predicted_items(items, count, req->arena);
    if (q->action == PZ_ACTION_RERANK_ITEMS) {
        Personalization__V1__RerankResponse *r = (Personalization__V1__RerankResponse *)pz_arena_new_message(
            req->arena, &personalization__v1__rerank_response__descriptor);
        r->n_personalized_ranking = count;
        r->personalized_ranking = list;
        r->recommendation_id = new_recommendation_id(req->arena);
        pz_request_succeed(req, &r->base);
    } else {
        Personalization__V1__RecommendationResponse *r =
            (Personalization__V1__RecommendationResponse *)pz_arena_new_message(
                req->arena, &personalization__v1__recommendation_response__descriptor);
        r->n_item_list = count;
        r->item_list = list;
        r->recommendation_id = new_recommendation_id(req->arena);
        pz_request_succeed(req, &r->base);
    }
}

/* Picks the variation: the first, unless experiments apply (spec §7.1). Fails the request and
 * returns NULL on a bad `feature`. */
static const pz_variation *choose_variation(pz_request *req, const pz_recommender *r, const inference_query *q)
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

static void handle_inference(pz_service *svc, pz_request *req, pz_config *cfg)
{
    inference_query q;
    read_query(req, &q);
    if (!validate_query(req, &q))
        return;
    const pz_namespace *ns = pz_config_namespace(cfg, q.namespace_);
    const pz_recommender *r = ns != NULL ? pz_config_recommender(ns, q.action, q.recommender) : NULL;
    if (ns == NULL || r == NULL) {
        pz_request_fail(req, PZ_NOT_FOUND, PZ_ERRTYPE_CONFIGURATION, "RecommenderNotConfigured",
                        ns == NULL ? "namespace '%s' is not configured"
                                   : "recommender '%s' is not configured under %s in namespace '%s'",
                        ns == NULL ? q.namespace_ : q.recommender, pz_action_name(q.action), q.namespace_);
        return;
    }
    const pz_variation *v = choose_variation(req, r, &q);
    if (v == NULL)
        return;
    /* Hints must outlive the snapshot (a reload may free it before the front writes them). */
    req->hints.variation = pz_arena_strdup(req->arena, v->key);
    const char *cache_control = cache_control_header(v->cache_control_view, &q, req->arena);
    req->hints.cache_control = cache_control != NULL ? pz_arena_strdup(req->arena, cache_control) : NULL;
    if (v->type != PZ_VARIATION_BUILTIN) {
        pz_request_fail(req, PZ_UNIMPLEMENTED, PZ_ERRTYPE_CONFIGURATION, "VariationTypeNotAvailable",
                        "variation '%s' of recommender '%s' has type '%s', which this server does not call yet; "
                        "use type 'builtin'",
                        v->key, r->key, v->type_name);
        return;
    }
    pz_scored_item *items = NULL;
    int n = run_builtin(svc, req, &q, v, &items);
    if (n >= 0)
        respond_items(req, &q, items, n);
}

static bool target_served(pz_event_target_type t)
{
    return t == PZ_TARGET_BUILTIN;
}

static void handle_put_events(pz_service *svc, pz_request *req, pz_config *cfg)
{
    Personalization__V1__PutEventsRequest *in = (Personalization__V1__PutEventsRequest *)req->message;
    if (!check_id(req, in->namespace_, "namespace", true))
        return;
    const pz_namespace *ns = pz_config_namespace(cfg, in->namespace_);
    if (ns == NULL) {
        pz_request_fail(req, PZ_NOT_FOUND, PZ_ERRTYPE_CONFIGURATION, "NamespaceNotFound",
                        "namespace '%s' is not configured", in->namespace_);
        return;
    }
    if (in->n_event_list > 0 && ns->n_event_targets == 0) {
        pz_request_fail(req, PZ_NOT_FOUND, PZ_ERRTYPE_CONFIGURATION, "NamespaceEventTargetsNotFound",
                        "namespace '%s' has no eventTargets", ns->key);
        return;
    }
    bool feed_builtin = false;
    for (size_t i = 0; i < ns->n_event_targets; i++) {
        if (!target_served(ns->event_targets[i].type)) {
            pz_request_fail(req, PZ_UNIMPLEMENTED, PZ_ERRTYPE_CONFIGURATION, "EventTargetNotAvailable",
                            "namespace '%s' sends events to eventTargets[%zu], a target type this server does not "
                            "deliver to yet; events were not accepted",
                            ns->key, i);
            return;
        }
        feed_builtin = feed_builtin || ns->event_targets[i].type == PZ_TARGET_BUILTIN;
    }
    pz_status s = pz_events_validate(in, ns, req->received_ms, req->arena, &req->error);
    if (s != PZ_OK) {
        pz_request_fail(req, s, req->error.type, req->error.code, "%s", req->error.message);
        return;
    }
    req->hints.cache_control = "no-store";
    pz_event_pipeline_submit(svc->events, req, pz_arena_strdup(req->arena, ns->key), in, feed_builtin);
}

pz_service *pz_service_create(const pz_service_options *opts)
{
    pz_service *svc = pz_calloc(1, sizeof *svc);
    svc->config = opts->config;
    svc->builtin = opts->builtin;
    svc->events = pz_event_pipeline_create(opts->builtin);
    atomic_init(&svc->stopping, false);
    return svc;
}

void pz_service_handle(pz_service *svc, pz_request *req)
{
    if (atomic_load(&svc->stopping)) {
        pz_request_fail(req, PZ_UNAVAILABLE, PZ_ERRTYPE_UNHANDLED, "ShuttingDown",
                        "the server is shutting down; retry on another instance");
        return;
    }
    if (req->deadline_ms != 0 && req->deadline_ms <= pz_now_ms()) {
        pz_request_fail(req, PZ_DEADLINE_EXCEEDED, PZ_ERRTYPE_UNHANDLED, "DeadlineExceeded",
                        "the deadline passed before the request was handled");
        return;
    }
    pz_config *cfg = pz_config_holder_acquire(svc->config);
    const char *version = pz_config_version(cfg);
    req->hints.config_version = version != NULL ? pz_arena_strdup(req->arena, version) : NULL;
    switch (req->rpc) {
    case PZ_RPC_RECOMMEND_ITEMS:
    case PZ_RPC_RELATED_ITEMS:
    case PZ_RPC_RERANK_ITEMS:
        handle_inference(svc, req, cfg);
        break;
    case PZ_RPC_PUT_EVENTS:
        handle_put_events(svc, req, cfg);
        break;
    default:
        pz_request_fail(req, PZ_UNIMPLEMENTED, PZ_ERRTYPE_UNHANDLED, "UnknownMethod", "unknown method");
        break;
    }
    /* Requests that complete later only hold arena copies of what they read from the snapshot. */
    pz_config_unref(cfg);
}

void pz_service_shutdown(pz_service *svc)
{
    atomic_store(&svc->stopping, true);
    pz_event_pipeline_drain(svc->events);
}

void pz_service_destroy(pz_service *svc)
{
    if (svc == NULL)
        return;
    pz_event_pipeline_destroy(svc->events);
    free(svc);
}

pz_config *pz_service_config(pz_service *svc)
{
    return pz_config_holder_acquire(svc->config);
}
