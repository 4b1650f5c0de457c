#include "server/core/inference.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/access.h"
#include "server/core/context_stage.h"
#include "server/core/experiment.h"
#include "server/core/hash.h"
#include "server/core/ids.h"
#include "server/core/log.h"
#include "server/core/page_store.h"
#include "server/core/query.h"
#include "server/core/rules.h"

struct pz_inference_pipeline {
    pz_recommender_port recommender;
    pz_authenticator authenticator;
    pz_event_sink events;
    pz_decorator *decorator;
    pz_response_cache *rc;
    pz_rules_ports rules; /* the history and field ports of the rules stage */
    pz_page_store *pages; /* ranked lists kept for pagination; NULL: none kept */
    const pz_viewer_env *viewer;
    pthread_mutex_t lock;
    pthread_cond_t idle; /* signalled when `refreshing` drops to 0 */
    size_t refreshing;   /* background refreshes in progress */
};

/* A background refresh: a copy of a request whose stale entry was served. It outlives that
 * request, so it owns its arena and the copies. */
typedef struct refresh {
    pz_arena arena;
    pz_request req;
    pz_inference_pipeline *p;
    pz_cache_flight *flight; /* until the refresh's cache stage takes it over */
} refresh;

typedef struct pz_inference pz_inference;

struct pz_inference {
    pz_cache_waiter waiter; /* first member: a queued cache lookup completes through it */
    pz_inference_pipeline *p;
    pz_request *req;
    pz_config *config; /* reference held until completion */
    unsigned stage;    /* index into STAGES */
    bool cacheable;    /* validated and (when a cache exists) cached; beside `stage`: no padding */
    pz_error error;    /* why a stage failed */
    refresh *refresh;  /* set when this inference is a background refresh */

    pz_query query;
    const pz_auth_policy *auth_policy; /* the namespace's, chosen by the authenticate stage */
    pz_access_check access;            /* its outcome: access.call.principal (zeroed: anonymous) */
    pz_assignment assignment;          /* decided by the assign stage */
    const pz_variation *variation;     /* chosen by the assign stage */
    /* the context stage's (arena); NULL when no rule ran, so a request without automatic context
     * pays one pointer */
    pz_context_stage *context;
    const pz_cache_policy *cache_class; /* NULL when the configuration sets none */
    pz_cache_flight *flight;            /* the flight this call leads, until it is finished */

    pz_recommend_call *call;   /* the recommend stage's (arena), so a cache hit never pays for it */
    pz_decoration *decoration; /* the decorate stage's (arena) */
    /* what the rules stage read of the items (aligned with call->items after it), so decoration
     * reads each item once */
    pz_item_records records;
    /* A pageToken's page: the list stored for the first page, and where this page starts. */
    Personalization__V1__RecommendationResponse *page;
    size_t page_offset;

    ProtobufCMessage *response; /* RecommendationResponse or RerankResponse */
    Personalization__V1__PredictedItem **response_items;
    size_t n_response_items;
};

typedef enum stage_result {
    STAGE_NEXT,     /* done: run the next stage */
    STAGE_PENDING,  /* started asynchronous work that calls resume() exactly once */
    STAGE_FAILED,   /* inf->error says why: the failure path completes the request */
    STAGE_FINISHED, /* the request is completed (or waits on another call): touch nothing */
} stage_result;

static void resume(pz_inference *inf, const pz_error *err);
static void run_refresh(pz_inference_pipeline *p, refresh *r, pz_config *cfg);

/* ---- completing ---- */

/* The response message of an action: RerankResponse for rerank-items, RecommendationResponse for
 * the others. */
static ProtobufCMessage *new_response(pz_action action, pz_arena *arena, Personalization__V1__PredictedItem **items,
                                      size_t n_items, char *recommendation_id,
                                      Personalization__V1__MatchedExperiment *matched, bool not_modified)
{
    if (action == PZ_ACTION_RERANK_ITEMS) {
        Personalization__V1__RerankResponse *r = (Personalization__V1__RerankResponse *)pz_arena_new_message(
            arena, &personalization__v1__rerank_response__descriptor);
        r->personalized_ranking = items;
        r->n_personalized_ranking = n_items;
        r->recommendation_id = recommendation_id;
        r->matched_experiment = matched;
        r->has_not_modified = not_modified;
        r->not_modified = not_modified;
        return &r->base;
    }
    Personalization__V1__RecommendationResponse *r =
        (Personalization__V1__RecommendationResponse *)pz_arena_new_message(
            arena, &personalization__v1__recommendation_response__descriptor);
    r->item_list = items;
    r->n_item_list = n_items;
    r->recommendation_id = recommendation_id;
    r->matched_experiment = matched;
    r->has_not_modified = not_modified;
    r->not_modified = not_modified;
    return &r->base;
}

/* One exposure per answer served to a user an experiment decided for (not to background
 * refreshes, which answer nobody). The sink copies what it keeps; it never waits. */
static void expose(pz_inference *inf)
{
    if (inf->assignment.experiment == NULL || inf->refresh != NULL || inf->p->events.expose == NULL)
        return;
    const pz_exposure e = {.config = inf->config,
                           .ns = inf->query.ns,
                           .recommender = inf->query.recommender,
                           .experiment = inf->assignment.experiment,
                           .variation = inf->assignment.variation,
                           .user_id = inf->query.user_id,
                           .at_ms = inf->req->received_ms};
    inf->p->events.expose(inf->p->events.self, &e);
}

/* The snapshot reference is dropped before the request is answered: nothing the front reads
 * points into it (hints are arena copies). */
static void release_config(pz_inference *inf)
{
    pz_config_unref(inf->config);
    inf->config = NULL;
}

static void finish_ok(pz_inference *inf)
{
    expose(inf);
    if (inf->query.explain)
        pz_context_stage_explain(inf->context, &inf->query, inf->variation, inf->req, inf->response);
    release_config(inf);
    pz_request_succeed(inf->req, inf->response);
}

static void finish_error(pz_inference *inf, const pz_error *err)
{
    release_config(inf);
    pz_request_fail(inf->req, err->status, err->type, err->code, "%s", err->message);
}

/* Sets the ETag and req->prepared = res, and applies If-None-Match. Returns the not_modified
 * message when it matched (the front then sends no body, but may read res's representations for
 * their ETags), else NULL. res must outlive the request (attached to its arena). */
static ProtobufCMessage *apply_validators(pz_inference *inf, const pz_prepared_response *res)
{
    pz_request *req = inf->req;
    req->hints.etag = pz_arena_strdup(req->arena, res->etag);
    req->prepared = res;
    if (pz_response_cache_not_modified(inf->p->rc, req->if_none_match, res->etag)) {
        req->hints.not_modified = true;
        return new_response(inf->query.action, req->arena, NULL, 0, NULL, NULL, true);
    }
    return NULL;
}

/* Completes the request with a prepared response from the cache (a reference, handed to the
 * request's arena). */
static void answer(pz_inference *inf, const pz_prepared_response *res, const char *outcome)
{
    pz_request *req = inf->req;
    pz_prepared_attach(res, req->arena);
    req->hints.cache = outcome;
    if (inf->query.explain) {
        ProtobufCMessage *explained = pz_context_stage_unpack(&inf->query, res, req->arena);
        pz_context_stage_explain(inf->context, &inf->query, inf->variation, req, explained);
        expose(inf);
        release_config(inf);
        pz_request_succeed(req, explained);
        return;
    }
    ProtobufCMessage *not_modified = apply_validators(inf, res);
    expose(inf);
    release_config(inf);
    pz_request_succeed(req, not_modified);
}

/* The one failure path: a stale entry within stale-if-error answers when the call led a flight
 * and one is there; otherwise the error. Waiting calls get the same answer. */
static void fail(pz_inference *inf, const pz_error *err)
{
    if (inf->flight != NULL) {
        pz_cache_flight *flight = inf->flight;
        inf->flight = NULL;
        const pz_prepared_response *stale = pz_response_cache_fail(inf->p->rc, flight, err);
        if (stale != NULL) {
            answer(inf, stale, "stale-if-error");
            return;
        }
    }
    finish_error(inf, err);
}

/* A queued lookup: the call it waited on finished. Runs on that call's thread. */
static void on_flight_done(pz_cache_waiter *w, const pz_prepared_response *res, bool stale, const pz_error *err)
{
    pz_inference *inf = (pz_inference *)w;
    if (res != NULL) {
        answer(inf, pz_prepared_ref(res), stale ? "stale-if-error" : "coalesced");
        return;
    }
    pz_request *req = inf->req;
    req->hints.cache = "coalesced";
    release_config(inf);
    /* err belongs to the other request: copy what the front reads later. */
    pz_request_fail(req, err->status, pz_arena_strdup(req->arena, err->type ? err->type : PZ_ERRTYPE_UNHANDLED),
                    pz_arena_strdup(req->arena, err->code ? err->code : "Unhandled"), "%s",
                    err->message ? err->message : pz_status_str(err->status));
}

/* Arena clean-up: a flight still open when its request is freed was never finished (a stage
 * completed the request some other way); its waiters must not wait forever. */
static void abandon_flight(void *arg)
{
    pz_inference *inf = arg;
    if (inf->flight == NULL)
        return;
    pz_response_cache_abandon(inf->p->rc, inf->flight);
    inf->flight = NULL;
}

static void lead_flight(pz_inference *inf, pz_cache_flight *flight)
{
    inf->flight = flight;
    if (flight != NULL) /* whatever happens to this request, its waiters get an answer */
        pz_arena_defer(inf->req->arena, abandon_flight, inf);
}

/* ---- stages ---- */

static void authenticated(pz_access_check *check, const pz_error *err)
{
    resume(check->done_ctx, err);
}

/* Reads the query and authenticates the caller under its namespace's policy (the root's for a
 * namespace that does not exist: whether it does is not said before). A background refresh repeats
 * a request that was admitted and is not charged again. */
static stage_result stage_authenticate(pz_inference *inf)
{
    pz_request *req = inf->req;
    pz_query *q = &inf->query;
    pz_query_read(q, req->rpc, req->message);
    const pz_namespace *ns = q->namespace_ != NULL ? pz_config_namespace(inf->config, q->namespace_) : NULL;
    inf->auth_policy = ns != NULL ? ns->auth_view : pz_config_auth(inf->config);
    if (inf->refresh != NULL || !pz_access_needed(inf->auth_policy))
        return STAGE_NEXT;
    pz_access_authenticate(&inf->p->authenticator, &inf->access, req, inf->auth_policy, authenticated, inf);
    return STAGE_PENDING;
}

/* Validates and resolves the query. */
static stage_result stage_resolve(pz_inference *inf)
{
    pz_request *req = inf->req;
    pz_query *q = &inf->query;
    q->query_params = req->query_params;
    q->n_query_params = req->n_query_params;
    q->received_ms = req->received_ms;
    q->deadline_ms = req->deadline_ms;
    if (inf->refresh != NULL) /* a refresh answers nobody: nothing to explain */
        q->explain = false;
    if (pz_query_validate(q, req->arena, &inf->error) != PZ_OK ||
        pz_query_resolve(q, inf->config, req->arena, &inf->error) != PZ_OK)
        return STAGE_FAILED;
    return STAGE_NEXT;
}

/* Whether the caller may have what it asked for: before the cache, so a cached response never
 * reaches a caller who may not have it. */
static stage_result stage_authorize(pz_inference *inf)
{
    const pz_query *q = &inf->query;
    return pz_access_authorize(&inf->access.call.principal, inf->auth_policy, PZ_ACCESS_INFERENCE, q->namespace_,
                               q->user_id, inf->req->arena, &inf->error) == PZ_OK
               ? STAGE_NEXT
               : STAGE_FAILED;
}

/* Picks the variation: an experiment's when one decides (server/core/experiment.h), else the
 * first (spec §7.1). Then the cache class and the hints that follow from the variation. Hints must
 * outlive the snapshot (a reload may free it before the front writes them): arena copies. The
 * variation is part of the cache key, so a hit never serves one arm's response to another's. */
static stage_result stage_assign(pz_inference *inf)
{
    pz_request *req = inf->req;
    const pz_query *q = &inf->query;
    const pz_recommender *r = q->recommender;
    req->hints.namespace_key = pz_arena_strdup(req->arena, q->ns->key);
    req->hints.recommender_key = pz_arena_strdup(req->arena, r->key);
    if (r->n_variations == 0) {
        pz_error_setf(&inf->error, req->arena, PZ_NOT_FOUND, PZ_ERRTYPE_CONFIGURATION, "NoVariationsConfigured",
                      "recommender '%s' has no variations", r->key);
        return STAGE_FAILED;
    }
    if (pz_experiment_assign(r, q->user_id, q->feature, &inf->assignment, req->arena, &inf->error) != PZ_OK)
        return STAGE_FAILED;
    inf->variation = inf->assignment.variation;
    req->hints.variation = pz_arena_strdup(req->arena, inf->variation->key);
    if (inf->assignment.experiment != NULL)
        req->hints.experiment = pz_experiment_header(&inf->assignment, req->arena);
    inf->cache_class = pz_cache_class(q, inf->variation);
    inf->cacheable = !req->uncacheable && pz_cache_class_cacheable(inf->cache_class);
    const char *cache_control = pz_cache_control_value(inf->cache_class);
    req->hints.cache_control = cache_control != NULL ? pz_arena_strdup(req->arena, cache_control) : NULL;
    return STAGE_NEXT;
}

/* Automatic context and dynamic filter values: server/core/context_stage.h. */
static stage_result stage_context(pz_inference *inf)
{
    inf->context = pz_context_stage_run(inf->p->viewer, inf->config, inf->variation, &inf->query, inf->req);
    return STAGE_NEXT;
}

/* Copies what a refresh needs from inf's request: it outlives that request. */
static refresh *prepare_refresh(pz_inference *inf, pz_cache_flight *flight)
{
    const pz_request *src = inf->req;
    refresh *r = pz_calloc(1, sizeof *r);
    pz_arena_init(&r->arena);
    pz_request_init(&r->req, &r->arena);
    r->req.rpc = src->rpc;
    size_t len = protobuf_c_message_get_packed_size(src->message);
    uint8_t *packed = pz_arena_alloc(&r->arena, len ? len : 1);
    protobuf_c_message_pack(src->message, packed);
    r->req.message = protobuf_c_message_unpack(src->message->descriptor, &r->arena.pb, len, packed);
    if (r->req.message == NULL)
        pz_fatal("inference: a request message did not survive pack/unpack");
    pz_header *headers = pz_arena_calloc(&r->arena, src->n_headers ? src->n_headers : 1, sizeof *headers);
    for (size_t i = 0; i < src->n_headers; i++) {
        const pz_header *h = &src->headers[i];
        headers[i] = (pz_header){pz_arena_strndup(&r->arena, h->name, h->name_len), h->name_len,
                                 pz_arena_strndup(&r->arena, h->value, h->value_len), h->value_len};
    }
    r->req.headers = headers;
    r->req.n_headers = src->n_headers;
    pz_header *params = pz_arena_calloc(&r->arena, src->n_query_params ? src->n_query_params : 1, sizeof *params);
    for (size_t i = 0; i < src->n_query_params; i++) {
        const pz_header *h = &src->query_params[i];
        params[i] = (pz_header){pz_arena_strndup(&r->arena, h->name, h->name_len), h->name_len,
                                pz_arena_strndup(&r->arena, h->value, h->value_len), h->value_len};
    }
    r->req.query_params = params;
    r->req.n_query_params = src->n_query_params;
    /* The refresh resolves automatic context as the request did (same headers, peer and "now"),
     * so its answer belongs to the entry it replaces. */
    const char *client = pz_request_client_addr(src);
    r->req.client_addr = client != NULL ? pz_arena_strdup(&r->arena, client) : NULL;
    r->req.received_ms = src->received_ms;
    r->req.protocol = "refresh";
    r->p = inf->p;
    r->flight = flight;
    return r;
}

/* The response cache: answers hits and stale entries, queues behind an identical call, or lets a
 * miss go on (leading the flight that stores its answer). */
static stage_result stage_cache(pz_inference *inf)
{
    if (!inf->cacheable)
        return STAGE_NEXT;
    pz_request *req = inf->req;
    if (inf->refresh != NULL) { /* a refresh leads the flight its stale lookup was handed */
        lead_flight(inf, inf->refresh->flight);
        inf->refresh->flight = NULL;
        req->hints.cache = "refresh";
        return STAGE_NEXT;
    }
    pz_response_key key = {.query = &inf->query,
                           .variation_key = inf->variation->key,
                           .params = inf->variation->query_params,
                           .n_params = inf->variation->n_query_params,
                           .generation = pz_config_generation(inf->config)};
    const pz_prepared_response *found;
    pz_cache_flight *flight;
    const char *outcome;
    inf->waiter.ready = on_flight_done;
    switch (pz_response_cache_lookup(inf->p->rc, &key, req->arena, &inf->waiter, &found, &flight, &outcome)) {
    case PZ_CACHE_HIT: answer(inf, found, outcome); return STAGE_FINISHED;
    case PZ_CACHE_STALE: {
        pz_inference_pipeline *p = inf->p;
        refresh *r = flight != NULL ? prepare_refresh(inf, flight) : NULL;
        pz_config *cfg = r != NULL ? pz_config_ref(inf->config) : NULL;
        answer(inf, found, outcome); /* inf is gone after this */
        if (r != NULL)
            run_refresh(p, r, cfg);
        return STAGE_FINISHED;
    }
    case PZ_CACHE_MISS:
        lead_flight(inf, flight);
        req->hints.cache = outcome;
        return STAGE_NEXT;
    case PZ_CACHE_WAIT: return STAGE_FINISHED; /* the request may already be completed */
    }
    return STAGE_NEXT;
}

static void recommended(pz_recommend_call *call, const pz_error *err)
{
    pz_inference *inf = call->done_ctx;
    pz_request *req = inf->req;
    if (call->fallback_from != NULL && req->hints.fallback_from == NULL) {
        req->hints.fallback_from = pz_arena_strdup(req->arena, call->fallback_from);
        req->hints.variation = pz_arena_strdup(req->arena, call->served->key);
    }
    resume(inf, err);
}

static stage_result stage_recommend(pz_inference *inf)
{
    pz_request *req = inf->req;
    inf->call = pz_arena_alloc(req->arena, sizeof *inf->call);
    *inf->call =
        (pz_recommend_call){.query = &inf->query,
                            .num_results = pz_rules_look_ahead(inf->variation->rules_view, inf->query.num_results),
                            .variation = inf->variation,
                            .deadline_ms = req->deadline_ms,
                            .arena = req->arena,
                            .timing = &req->hints.upstream,
                            .served = inf->variation,
                            .done = recommended,
                            .done_ctx = inf};
    /* numResults=0 asks for nothing: the answer is an empty list, without asking anyone; a page
     * comes from its stored list. */
    if ((inf->query.action != PZ_ACTION_RERANK_ITEMS && inf->query.num_results == 0) || inf->page != NULL)
        return STAGE_NEXT;
    inf->p->recommender.invoke(inf->p->recommender.self, inf->call);
    return STAGE_PENDING;
}

/* Whose list a page token may read: the call's namespace, recommender and subject. */
static const char *page_owner(const pz_inference *inf)
{
    const pz_query *q = &inf->query;
    return pz_arena_printf(inf->req->arena, "%d\x1f%s\x1f%s\x1f%s\x1f%s", (int)q->action, q->namespace_,
                           q->recommender_key, q->user_id != NULL ? q->user_id : "",
                           q->item_id != NULL ? q->item_id : "");
}

static uint64_t page_key(const char *recommendation_id)
{
    return pz_hash64(recommendation_id, strlen(recommendation_id), 0x70616765u);
}

#define PAGE_INVALID(inf, code, ...)                                                                                   \
    (pz_error_setf(&(inf)->error, (inf)->req->arena, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, code, __VA_ARGS__),   \
     STAGE_FAILED)

/* A pageToken: the list its first page stored (rules.pagination). The later stages then cut the
 * page from it and ask no recommender. */
static stage_result stage_page(pz_inference *inf)
{
    const pz_query *q = &inf->query;
    if (q->page_token == NULL)
        return STAGE_NEXT;
    const pz_rules *rules = inf->variation->rules_view;
    if (rules == NULL || !rules->paginate)
        return PAGE_INVALID(inf, "ValidationError",
                            "pageToken was given, but recommender '%s' does not paginate (its rules set no pagination)",
                            q->recommender_key);
    uint64_t key;
    if (!pz_page_token_parse(q->page_token, &key, &inf->page_offset))
        return PAGE_INVALID(inf, "InvalidPageToken", "pageToken is not a token this server issued");
    const void *data;
    size_t len;
    if (inf->p->pages == NULL || !pz_page_store_get(inf->p->pages, key, page_owner(inf), inf->req->arena, &data, &len))
        return PAGE_INVALID(inf, "PageTokenExpired",
                            "pageToken has expired (lists are kept %d s), or was issued for another request or by "
                            "another server; ask for the first page again without pageToken",
                            rules->page_ttl_seconds);
    inf->page = (Personalization__V1__RecommendationResponse *)protobuf_c_message_unpack(
        &personalization__v1__recommendation_response__descriptor, &inf->req->arena->pb, len, data);
    if (inf->page == NULL)
        pz_fatal("inference: a stored page list did not unpack");
    return STAGE_NEXT;
}

/* related-items: filterValues from the current item's catalog fields (rules.filterValuesFromItem).
 * After the cache stage: the values follow from the item id, which is in the key, and the
 * catalog, whose changes make the namespace's entries stale. */
static stage_result stage_item_filter_values(pz_inference *inf)
{
    if (inf->page != NULL)
        return STAGE_NEXT;
    return pz_rules_filter_values_from_item(&inf->p->rules, inf->variation->rules_view, &inf->query, inf->req->arena,
                                            &inf->error) == PZ_OK
               ? STAGE_NEXT
               : STAGE_FAILED;
}

/* The post-ranking rules of the variation that served (server/core/rules.h). */
static stage_result stage_rules(pz_inference *inf)
{
    if (inf->page != NULL)
        return STAGE_NEXT;
    return pz_rules_apply(&inf->p->rules, inf->call->served->rules_view, &inf->query, inf->call, &inf->records,
                          inf->req->arena, &inf->error) == PZ_OK
               ? STAGE_NEXT
               : STAGE_FAILED;
}

/* The recommender's first n items as PredictedItems, in the arena. */
static Personalization__V1__PredictedItem **predicted_items(const pz_recommend_call *c, size_t n, pz_arena *arena)
{
    Personalization__V1__PredictedItem **list = pz_arena_calloc(arena, n ? n : 1, sizeof *list);
    for (size_t i = 0; i < n; i++) {
        Personalization__V1__PredictedItem *it = (Personalization__V1__PredictedItem *)pz_arena_new_message(
            arena, &personalization__v1__predicted_item__descriptor);
        it->item_id = (char *)c->items[i].item_id;
        it->has_score = c->items[i].has_score;
        it->score = c->items[i].score;
        if (c->extras != NULL) { /* remote recommenders: Personalize's PredictedItem fields */
            const pz_item_extra *x = &c->extras[i];
            it->promotion_name = (char *)x->promotion_name;
            it->reason = x->reason;
            it->n_reason = x->n_reason;
            it->has_empty_reason = it->empty_reason = x->reason != NULL && x->n_reason == 0;
            it->metadata = x->metadata;
            it->custom_fields = x->custom_fields;
        }
        list[i] = it;
    }
    return list;
}

/* A first page of a paginated recommender: keeps the whole list (up to its maxItems) for the
 * later pages and returns the token of the next one, or NULL when this page holds it all. */
static char *keep_pages(pz_inference *inf, Personalization__V1__PredictedItem **list, size_t n, size_t count, char *rid,
                        Google__Protobuf__Struct *custom_fields)
{
    const pz_rules *rules = inf->variation->rules_view;
    if (n <= count || inf->p->pages == NULL)
        return NULL;
    pz_arena *arena = inf->req->arena;
    Personalization__V1__RecommendationResponse all = PERSONALIZATION__V1__RECOMMENDATION_RESPONSE__INIT;
    all.item_list = list;
    all.n_item_list = n;
    all.recommendation_id = rid;
    all.custom_fields = custom_fields;
    size_t len = personalization__v1__recommendation_response__get_packed_size(&all);
    uint8_t *packed = pz_arena_alloc(arena, len ? len : 1);
    personalization__v1__recommendation_response__pack(&all, packed);
    uint64_t key = page_key(rid);
    pz_page_store_put(inf->p->pages, key, page_owner(inf), packed, len, (int64_t)rules->page_ttl_seconds * 1000);
    char *token = pz_arena_alloc(arena, PZ_PAGE_TOKEN_MAX + 1);
    pz_page_token_format(key, count, token);
    return token;
}

/* The response message from the recommender's items: truncated to numResults (spec §2.1 step 11;
 * a rerank answers every id it was given), with the recommender's recommendation id or a new one.
 * With pagination the first page keeps the whole ranked list, and a pageToken's page is cut from
 * the list kept (same recommendation id). */
static stage_result stage_build(pz_inference *inf)
{
    pz_arena *arena = inf->req->arena;
    const pz_recommend_call *c = inf->call;
    const pz_query *q = &inf->query;
    Personalization__V1__PredictedItem **list;
    size_t count;
    char *rid, *next_page = NULL;
    Google__Protobuf__Struct *custom_fields;
    if (inf->page != NULL) {
        const Personalization__V1__RecommendationResponse *all = inf->page;
        size_t from = inf->page_offset < all->n_item_list ? inf->page_offset : all->n_item_list;
        count = all->n_item_list - from < (size_t)q->num_results ? all->n_item_list - from : (size_t)q->num_results;
        list = all->item_list + from;
        rid = all->recommendation_id;
        custom_fields = all->custom_fields;
        if (from + count < all->n_item_list) {
            next_page = pz_arena_alloc(arena, PZ_PAGE_TOKEN_MAX + 1);
            pz_page_token_format(page_key(rid), from + count, next_page);
        }
    } else {
        const pz_rules *rules = inf->variation->rules_view;
        bool paginate = rules != NULL && rules->paginate && q->action != PZ_ACTION_RERANK_ITEMS;
        size_t n = c->n_items;
        count = n;
        if (q->action != PZ_ACTION_RERANK_ITEMS && count > (size_t)q->num_results)
            count = (size_t)q->num_results;
        if (paginate && n > (size_t)rules->page_max_items)
            n = (size_t)rules->page_max_items > count ? (size_t)rules->page_max_items : count;
        list = predicted_items(c, paginate ? n : count, arena);
        rid = c->recommendation_id != NULL ? (char *)c->recommendation_id : pz_recommendation_id_new(arena);
        custom_fields = c->custom_fields;
        if (paginate && count > 0)
            next_page = keep_pages(inf, list, n, count, rid, custom_fields);
    }
    Personalization__V1__MatchedExperiment *matched =
        inf->assignment.experiment != NULL ? pz_experiment_matched(&inf->assignment, arena) : NULL;
    inf->response = new_response(q->action, arena, list, count, rid, matched, false);
    if (q->action == PZ_ACTION_RERANK_ITEMS) {
        ((Personalization__V1__RerankResponse *)inf->response)->custom_fields = custom_fields;
    } else {
        Personalization__V1__RecommendationResponse *r = (Personalization__V1__RecommendationResponse *)inf->response;
        r->custom_fields = custom_fields;
        r->next_page_token = next_page;
    }
    inf->response_items = list;
    inf->n_response_items = count;
    return STAGE_NEXT;
}

static void decorated(pz_decoration *job, const pz_error *err)
{
    resume(job->done_ctx, err);
}

static stage_result stage_decorate(pz_inference *inf)
{
    pz_request *req = inf->req;
    inf->decoration = pz_arena_alloc(req->arena, sizeof *inf->decoration);
    *inf->decoration = (pz_decoration){.query = &inf->query,
                                       .variation = inf->call->served,
                                       .items = inf->response_items,
                                       .n_items = inf->n_response_items,
                                       /* the response's items are the rules' first ones, in order */
                                       .records = inf->records.items != NULL ? &inf->records : NULL,
                                       .deadline_ms = req->deadline_ms,
                                       .arena = req->arena,
                                       .timing = &req->hints.upstream,
                                       .done = decorated,
                                       .done_ctx = inf};
    pz_decorate(inf->p->decorator, inf->decoration);
    return STAGE_PENDING;
}

/* Prepares a cacheable response once (packed protobuf, JSON, ETag), stores it and answers the
 * calls waiting on it, then applies If-None-Match. A fallback variation's answer is handed to the
 * waiters but not kept: a degraded answer must not outlive the failure. */
static stage_result stage_store(pz_inference *inf)
{
    if (!inf->cacheable)
        return STAGE_NEXT;
    pz_request *req = inf->req;
    pz_prepared_response *res = pz_response_cache_prepare(inf->p->rc, inf->response);
    if (inf->flight != NULL) {
        pz_cache_flight *flight = inf->flight;
        inf->flight = NULL;
        pz_cache_ttl ttl = pz_cache_class_ttl(inf->cache_class);
        pz_response_cache_complete(inf->p->rc, flight, res, &ttl, req->hints.fallback_from == NULL);
    }
    pz_prepared_attach(res, req->arena);
    if (inf->query.explain) /* sent as its own message with the explain object (finish_ok) */
        return STAGE_NEXT;
    ProtobufCMessage *not_modified = apply_validators(inf, res);
    if (not_modified != NULL)
        inf->response = not_modified;
    return STAGE_NEXT;
}

/* The pipeline, in order. `authenticate` comes first (nothing is read or spent for an unknown
 * caller) and `authorize` after `resolve` (it needs the namespace and the user). `context` comes
 * after `assign` because autoContext and the filters are read from the variation's view (spec
 * §3.12), and before `cache` because its values are part of the key and of what the recommender
 * receives. The rules' stages (issue #20) come after `cache`, so a hit pays for none of them:
 * `page` and `item-filter-values` before `recommend` (a page is cut from a kept list and asks no
 * recommender; the current item's values follow from its id, which is in the key), `rules` between
 * `recommend` and `build` (it reorders and cuts what the recommender answered). */
static const struct {
    const char *name;
    stage_result (*run)(pz_inference *inf);
} STAGES[] = {
    /* one stage a line, so that branches adding stages merge line by line */
    /* clang-format off */
    {"authenticate", stage_authenticate},
    {"resolve", stage_resolve},
    {"authorize", stage_authorize},
    {"assign", stage_assign},
    {"context", stage_context},
    {"cache", stage_cache},
    {"page", stage_page},
    {"item-filter-values", stage_item_filter_values},
    {"recommend", stage_recommend},
    {"rules", stage_rules},
    {"build", stage_build},
    {"decorate", stage_decorate},
    {"store", stage_store},
    /* clang-format on */
};

#define N_STAGES (sizeof STAGES / sizeof STAGES[0])

/* Runs stages from inf->stage on until one goes asynchronous or the request is completed. */
static void run(pz_inference *inf)
{
    for (; inf->stage < N_STAGES; inf->stage++) {
        switch (STAGES[inf->stage].run(inf)) {
        case STAGE_NEXT: continue;
        case STAGE_PENDING: return; /* resume() goes on from here */
        case STAGE_FINISHED: return;
        case STAGE_FAILED:
            pz_debug("inference: stage %s failed: %s", STAGES[inf->stage].name, inf->error.message);
            fail(inf, &inf->error);
            return;
        }
    }
    finish_ok(inf);
}

/* The continuation of every asynchronous stage: err NULL to go on with the next stage. Any
 * thread. */
static void resume(pz_inference *inf, const pz_error *err)
{
    if (err != NULL) {
        fail(inf, err);
        return;
    }
    inf->stage++;
    run(inf);
}

static pz_inference *new_inference(pz_inference_pipeline *p, pz_request *req, pz_config *cfg)
{
    pz_inference *inf = pz_arena_calloc(req->arena, 1, sizeof *inf);
    inf->p = p;
    inf->req = req;
    inf->config = cfg;
    return inf;
}

void pz_inference_start(pz_inference_pipeline *p, pz_request *req, pz_config *cfg)
{
    run(new_inference(p, req, cfg));
}

/* ---- background refresh ---- */

static void refresh_done(pz_request *req)
{
    refresh *r = req->front_data;
    pz_inference_pipeline *p = r->p;
    if (req->status != PZ_OK) {
        pz_response_cache_refresh_failed(p->rc);
        pz_warn("cache: background refresh failed (%s): %s", req->error.code ? req->error.code : "-",
                req->error.message ? req->error.message : "");
    }
    if (r->flight != NULL) /* failed before its cache stage took the flight over */
        pz_response_cache_abandon(p->rc, r->flight);
    pz_arena_destroy(&r->arena);
    free(r);
    pthread_mutex_lock(&p->lock);
    if (--p->refreshing == 0)
        pthread_cond_broadcast(&p->idle);
    pthread_mutex_unlock(&p->lock);
}

static void run_refresh(pz_inference_pipeline *p, refresh *r, pz_config *cfg)
{
    pthread_mutex_lock(&p->lock);
    p->refreshing++;
    pthread_mutex_unlock(&p->lock);
    r->req.on_done = refresh_done;
    r->req.front_data = r;
    pz_inference *inf = new_inference(p, &r->req, cfg);
    inf->refresh = r;
    run(inf);
}

/* ---- life cycle ---- */

pz_inference_pipeline *pz_inference_pipeline_create(const pz_inference_options *opts)
{
    pz_inference_pipeline *p = pz_calloc(1, sizeof *p);
    p->recommender = opts->recommender;
    p->authenticator = opts->authenticator;
    p->events = opts->events;
    p->decorator = opts->decorator;
    p->rc = opts->response_cache;
    p->rules = (pz_rules_ports){.history = opts->history, .decorator = opts->decorator};
    p->pages = opts->pages;
    p->viewer = opts->viewer;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->idle, NULL);
    return p;
}

void pz_inference_pipeline_destroy(pz_inference_pipeline *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    while (p->refreshing > 0)
        pthread_cond_wait(&p->idle, &p->lock);
    pthread_mutex_unlock(&p->lock);
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
