#include "server/core/service.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/access.h"
#include "server/core/context_apply.h"
#include "server/core/event_validation.h"
#include "server/core/experiment_results.h"
#include "server/core/inference.h"
#include "server/core/message_check.h"

struct pz_service {
    pz_config_holder *config;
    pz_recommender_port recommender;
    pz_authenticator authenticator;
    pz_event_sink events;
    pz_experiment_store experiments;
    pz_decorator *decorator;
    pz_response_cache *response_cache;
    pz_page_store *pages;
    pz_inference_pipeline *inference;
    pz_viewer_env viewer;
    pz_tz_db *own_tz; /* the time zone database when the options gave none */
    atomic_bool stopping;
};

/* The sink made the call durable (or could not): answer with the event ids, or the error. */
static void events_stored(pz_event_submission *s, const pz_error *err)
{
    pz_request *req = s->done_ctx;
    if (err != NULL) {
        pz_request_fail(req, err->status, err->type, err->code, "%s", err->message);
        return;
    }
    Personalization__V1__PutEventsResponse *resp = (Personalization__V1__PutEventsResponse *)pz_arena_new_message(
        req->arena, &personalization__v1__put_events_response__descriptor);
    resp->n_event_ids = s->events->n_event_list;
    resp->event_ids = pz_arena_calloc(req->arena, resp->n_event_ids ? resp->n_event_ids : 1, sizeof(char *));
    for (size_t i = 0; i < resp->n_event_ids; i++)
        resp->event_ids[i] = s->events->event_list[i]->event_id;
    pz_request_succeed(req, &resp->base);
}

/* Spec §6.3: the namespace's automatic context goes into every event's properties (the event's
 * own keys win), within PutEvents' size limit. */
static void add_auto_context(pz_service *svc, pz_request *req, pz_config *cfg, const pz_namespace *ns,
                             Personalization__V1__PutEventsRequest *in)
{
    const pz_auto_context *ac = ns->auto_context_view;
    if (ac == NULL || ac->n_fields == 0 || in->n_event_list == 0)
        return;
    size_t n_trusted;
    const pz_cidr *trusted = pz_config_trusted_proxies(cfg, &n_trusted);
    pz_viewer viewer;
    pz_viewer_init(&viewer, &svc->viewer, req->headers, req->n_headers, pz_request_client_addr(req), req->received_ms,
                   trusted, n_trusted, req->arena);
    pz_context_source src = pz_viewer_source(&viewer);
    pz_resolved_context resolved;
    pz_context_resolve(ac, &src, req->arena, &resolved);
    for (size_t i = 0; i < in->n_event_list; i++) {
        Personalization__V1__Event *ev = in->event_list[i];
        ev->properties =
            (char *)pz_properties_enrich(ev->properties, &resolved, PZ_EVENTS_MAX_PROPERTIES_LEN, req->arena);
    }
}

/* A call that waits for its authentication: PutEvents and the operators' endpoints. It holds the
 * snapshot its policy points into until it is answered. */
typedef struct admitted_call {
    pz_access_check access;
    pz_service *svc;
    pz_request *req;
    pz_config *cfg;
    const pz_auth_policy *policy;
    void (*then)(struct admitted_call *call);
} admitted_call;

static void fail_with(pz_request *req, const pz_error *err)
{
    pz_request_fail(req, err->status, err->type, err->code, "%s", err->message);
}

static void call_authenticated(pz_access_check *check, const pz_error *err)
{
    admitted_call *call = check->done_ctx;
    pz_config *cfg = call->cfg; /* call lives in the request's arena: gone once the request is answered */
    if (err != NULL)
        fail_with(call->req, err);
    else
        call->then(call);
    pz_config_unref(cfg);
}

/* Authenticates req under policy, then runs then(call) (which completes req); takes over cfg. */
static void admit(pz_service *svc, pz_request *req, pz_config *cfg, const pz_auth_policy *policy,
                  void (*then)(admitted_call *call))
{
    admitted_call *call = pz_arena_calloc(req->arena, 1, sizeof *call);
    *call = (admitted_call){.svc = svc, .req = req, .cfg = cfg, .policy = policy, .then = then};
    if (!pz_access_needed(policy)) {
        then(call);
        pz_config_unref(cfg);
        return;
    }
    pz_access_authenticate(&svc->authenticator, &call->access, req, policy, call_authenticated, call);
}

static void put_events_admitted(admitted_call *call)
{
    pz_service *svc = call->svc;
    pz_request *req = call->req;
    Personalization__V1__PutEventsRequest *in = (Personalization__V1__PutEventsRequest *)req->message;
    if (in->namespace_ == NULL || in->namespace_[0] == '\0') {
        pz_request_fail(req, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, "ValidationError", "namespace is required");
        return;
    }
    const pz_namespace *ns = pz_config_namespace(call->cfg, in->namespace_);
    if (ns == NULL) {
        pz_request_fail(req, PZ_NOT_FOUND, PZ_ERRTYPE_CONFIGURATION, "NamespaceNotFound",
                        "namespace '%s' is not configured", in->namespace_);
        return;
    }
    req->hints.namespace_key = pz_arena_strdup(req->arena, ns->key);
    /* A forward-only namespace takes the REST body as it was sent (its sessionId, userId and
     * experimentConversions read into the message); any other needs the message. */
    pz_events_body *raw = NULL;
    if (req->body != NULL && pz_events_forward_only(ns)) {
        raw = pz_arena_calloc(req->arena, 1, sizeof *raw);
        if (pz_events_read_body(req->body, req->body_len, req->received_ms, req->arena, in, raw, &req->error) !=
            PZ_OK) {
            pz_request_fail(req, req->error.status, req->error.type, req->error.code, "%s", req->error.message);
            return;
        }
    } else if (req->body_error != NULL) {
        const pz_error *e = req->body_error;
        pz_request_fail(req, e->status, e->type, e->code, "%s", e->message);
        return;
    }
    /* After the body: a forward-only namespace's userId is read from it. */
    if (pz_access_authorize(&call->access.call.principal, call->policy, PZ_ACCESS_EVENTS, ns->key, in->user_id,
                            req->arena, &req->error) != PZ_OK) {
        fail_with(req, &req->error);
        return;
    }
    if (in->n_event_list > 0 && ns->n_event_targets == 0) {
        pz_request_fail(req, PZ_NOT_FOUND, PZ_ERRTYPE_CONFIGURATION, "NamespaceEventTargetsNotFound",
                        "namespace '%s' has no eventTargets", ns->key);
        return;
    }
    pz_conversion *conversions = NULL;
    pz_status s = pz_events_validate(in, ns, req->received_ms, req->arena, &conversions, &req->error);
    if (s != PZ_OK) {
        pz_request_fail(req, s, req->error.type, req->error.code, "%s", req->error.message);
        return;
    }
    add_auto_context(svc, req, call->cfg, ns, in);
    req->hints.cache_control = "no-store";
    pz_response_cache_purge_user(svc->response_cache, ns->key, in->user_id); /* "just clicked" shows next time */
    pz_event_submission *sub = pz_arena_calloc(req->arena, 1, sizeof *sub);
    *sub = (pz_event_submission){.ns = ns,
                                 .events = in,
                                 .raw = raw,
                                 .headers = req->headers,
                                 .n_headers = req->n_headers,
                                 .conversions = conversions,
                                 .n_conversions = in->n_experiment_conversions,
                                 .received_ms = req->received_ms,
                                 .arena = req->arena,
                                 .done = events_stored,
                                 .done_ctx = req};
    svc->events.submit(svc->events.self, sub); /* durable before the answer; delivered later */
}

/* PutEvents under its namespace's policy (the root's for one that does not exist); takes over cfg. */
static void handle_put_events(pz_service *svc, pz_request *req, pz_config *cfg)
{
    const Personalization__V1__PutEventsRequest *in = (const Personalization__V1__PutEventsRequest *)req->message;
    const pz_namespace *ns = in->namespace_ != NULL ? pz_config_namespace(cfg, in->namespace_) : NULL;
    admit(svc, req, cfg, ns != NULL ? ns->auth_view : pz_config_auth(cfg), put_events_admitted);
}

static void admin_admitted(admitted_call *call)
{
    pz_request *req = call->req;
    if (pz_access_authorize(&call->access.call.principal, call->policy, PZ_ACCESS_ADMIN, NULL, NULL, req->arena,
                            &req->error) != PZ_OK)
        fail_with(req, &req->error);
    else
        pz_request_succeed(req, NULL);
}

void pz_service_admit_admin(pz_service *svc, pz_request *req)
{
    pz_config *cfg = pz_config_holder_acquire(svc->config);
    admit(svc, req, cfg, pz_config_auth(cfg), admin_admitted);
}

/* ListExperiments / GetExperimentResults: read-only, answered inline (the store's reads never
 * wait for its writer). Results are live: never cached. */
static void handle_experiments(pz_service *svc, pz_request *req, pz_config *cfg)
{
    const pz_experiment_store *store = svc->experiments.read != NULL ? &svc->experiments : NULL;
    ProtobufCMessage *resp = NULL;
    pz_status s;
    if (req->rpc == PZ_RPC_LIST_EXPERIMENTS)
        s = pz_experiment_list(cfg, store, (const Personalization__V1__ListExperimentsRequest *)req->message,
                               req->arena, (Personalization__V1__ListExperimentsResponse **)&resp, &req->error);
    else
        s = pz_experiment_results(cfg, store, (const Personalization__V1__GetExperimentResultsRequest *)req->message,
                                  req->arena, (Personalization__V1__ExperimentResults **)&resp, &req->error);
    if (s != PZ_OK) {
        pz_request_fail(req, s, req->error.type, req->error.code, "%s", req->error.message);
        return;
    }
    req->hints.cache_control = "no-store";
    pz_request_succeed(req, resp);
}

/* Experiment results are the operators' business: the `admin` scope, under the namespace's policy
 * (an API key limited to namespaces sees only theirs). */
static void experiments_admitted(admitted_call *call)
{
    pz_request *req = call->req;
    const char *ns = req->rpc == PZ_RPC_LIST_EXPERIMENTS
                         ? ((const Personalization__V1__ListExperimentsRequest *)req->message)->namespace_
                         : ((const Personalization__V1__GetExperimentResultsRequest *)req->message)->namespace_;
    if (pz_access_authorize(&call->access.call.principal, call->policy, PZ_ACCESS_ADMIN, ns, NULL, req->arena,
                            &req->error) != PZ_OK)
        fail_with(req, &req->error);
    else
        handle_experiments(call->svc, req, call->cfg);
}

/* Takes over cfg. */
static void admit_experiments(pz_service *svc, pz_request *req, pz_config *cfg)
{
    const char *name = req->rpc == PZ_RPC_LIST_EXPERIMENTS
                           ? ((const Personalization__V1__ListExperimentsRequest *)req->message)->namespace_
                           : ((const Personalization__V1__GetExperimentResultsRequest *)req->message)->namespace_;
    const pz_namespace *ns = name != NULL ? pz_config_namespace(cfg, name) : NULL;
    admit(svc, req, cfg, ns != NULL ? ns->auth_view : pz_config_auth(cfg), experiments_admitted);
}

pz_service *pz_service_create(const pz_service_options *opts)
{
    pz_service *svc = pz_calloc(1, sizeof *svc);
    svc->config = opts->config;
    svc->recommender = opts->recommender;
    svc->authenticator = opts->authenticator;
    svc->events = opts->events;
    svc->experiments = opts->experiments;
    svc->decorator = pz_decorator_create();
    for (int t = 0; t < PZ_ITEM_METADATA__COUNT; t++) {
        if (opts->item_metadata[t].decorate != NULL)
            pz_decorator_set_backend(svc->decorator, (pz_item_metadata_type)t, &opts->item_metadata[t]);
    }
    svc->response_cache = pz_response_cache_create(
        &(pz_response_cache_options){.cache = opts->cache, .render_json = opts->render_json, .now_ms = opts->now_ms});
    svc->pages = pz_page_store_create(opts->page_store_bytes ? opts->page_store_bytes : PZ_PAGE_STORE_DEFAULT_BYTES,
                                      opts->now_ms);
    svc->viewer = opts->viewer;
    if (svc->viewer.tz == NULL)
        svc->viewer.tz = svc->own_tz = pz_tz_db_create(NULL);
    svc->inference = pz_inference_pipeline_create(&(pz_inference_options){.recommender = opts->recommender,
                                                                          .decorator = svc->decorator,
                                                                          .response_cache = svc->response_cache,
                                                                          .authenticator = opts->authenticator,
                                                                          .events = opts->events,
                                                                          .history = opts->history,
                                                                          .pages = svc->pages,
                                                                          .viewer = &svc->viewer});
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
    /* One text rule for every string of every request, whichever front decoded it. */
    pz_error text_err;
    const pz_rpc_info *info = pz_rpc_get(req->rpc);
    pz_status text = req->wire != NULL && info != NULL
                         ? pz_message_check_wire(info->request, req->wire, req->wire_len, req->arena, &text_err)
                         : pz_message_check_strings(req->message, req->arena, &text_err);
    if (text != PZ_OK) {
        pz_request_fail(req, text_err.status, text_err.type, text_err.code, "%s", text_err.message);
        return;
    }
    pz_config *cfg = pz_config_holder_acquire(svc->config);
    const char *version = pz_config_version(cfg);
    /* An empty version is no version: upstream omits the header rather than send it empty. */
    req->hints.config_version = version != NULL && version[0] != '\0' ? pz_arena_strdup(req->arena, version) : NULL;
    switch (req->rpc) {
    case PZ_RPC_RECOMMEND_ITEMS:
    case PZ_RPC_RELATED_ITEMS:
    case PZ_RPC_RERANK_ITEMS:
        pz_inference_start(svc->inference, req, cfg); /* takes over the snapshot reference */
        return;
    case PZ_RPC_PUT_EVENTS:
        handle_put_events(svc, req, cfg); /* takes over the snapshot reference */
        return;
    case PZ_RPC_LIST_EXPERIMENTS:
    case PZ_RPC_GET_EXPERIMENT_RESULTS:
        admit_experiments(svc, req, cfg); /* takes over the snapshot reference */
        return;
    default: pz_request_fail(req, PZ_UNIMPLEMENTED, PZ_ERRTYPE_UNHANDLED, "UnknownMethod", "unknown method"); break;
    }
    /* Requests that complete later only hold arena copies of what they read from the snapshot. */
    pz_config_unref(cfg);
}

void pz_service_shutdown(pz_service *svc)
{
    atomic_store(&svc->stopping, true);
    if (svc->authenticator.drain != NULL) /* first: the calls it answers may go on to the others */
        svc->authenticator.drain(svc->authenticator.self, PZ_SERVICE_DRAIN_GRACE_MS);
    if (svc->recommender.drain != NULL)
        svc->recommender.drain(svc->recommender.self, PZ_SERVICE_DRAIN_GRACE_MS); /* calls in flight */
    if (svc->events.drain != NULL)
        svc->events.drain(svc->events.self);
}

void pz_service_destroy(pz_service *svc)
{
    if (svc == NULL)
        return;
    pz_inference_pipeline_destroy(svc->inference); /* waits for background refreshes */
    pz_response_cache_destroy(svc->response_cache);
    pz_page_store_destroy(svc->pages);
    pz_decorator_destroy(svc->decorator);
    pz_tz_db_destroy(svc->own_tz);
    free(svc);
}

int pz_service_cache_stats(pz_service *svc, pz_buf *out)
{
    return pz_response_cache_stats_json(svc->response_cache, out);
}

void pz_service_collect_metrics(void *svc, pz_metrics_writer *w)
{
    pz_response_cache_collect_metrics(((pz_service *)svc)->response_cache, w);
}

pz_config *pz_service_config(pz_service *svc)
{
    return pz_config_holder_acquire(svc->config);
}

void pz_service_purge_user(pz_service *svc, const char *ns, const char *user_id)
{
    pz_response_cache_purge_user(svc->response_cache, ns, user_id);
}
