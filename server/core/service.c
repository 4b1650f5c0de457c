#include "server/core/service.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/event_validation.h"
#include "server/core/experiment_results.h"
#include "server/core/inference.h"
#include "server/core/message_check.h"

struct pz_service {
    pz_config_holder *config;
    pz_recommender_port recommender;
    pz_event_sink events;
    pz_experiment_store experiments;
    pz_decorator *decorator;
    pz_response_cache *response_cache;
    pz_inference_pipeline *inference;
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

static void handle_put_events(pz_service *svc, pz_request *req, pz_config *cfg)
{
    Personalization__V1__PutEventsRequest *in = (Personalization__V1__PutEventsRequest *)req->message;
    if (in->namespace_ == NULL || in->namespace_[0] == '\0') {
        pz_request_fail(req, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, "ValidationError", "namespace is required");
        return;
    }
    const pz_namespace *ns = pz_config_namespace(cfg, in->namespace_);
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

pz_service *pz_service_create(const pz_service_options *opts)
{
    pz_service *svc = pz_calloc(1, sizeof *svc);
    svc->config = opts->config;
    svc->recommender = opts->recommender;
    svc->events = opts->events;
    svc->experiments = opts->experiments;
    svc->decorator = pz_decorator_create();
    for (int t = 0; t < PZ_ITEM_METADATA__COUNT; t++) {
        if (opts->item_metadata[t].decorate != NULL)
            pz_decorator_set_backend(svc->decorator, (pz_item_metadata_type)t, &opts->item_metadata[t]);
    }
    svc->response_cache = pz_response_cache_create(
        &(pz_response_cache_options){.cache = opts->cache, .render_json = opts->render_json, .now_ms = opts->now_ms});
    svc->inference = pz_inference_pipeline_create(&(pz_inference_options){.recommender = opts->recommender,
                                                                          .decorator = svc->decorator,
                                                                          .response_cache = svc->response_cache,
                                                                          .events = opts->events});
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
    case PZ_RPC_PUT_EVENTS: handle_put_events(svc, req, cfg); break;
    case PZ_RPC_LIST_EXPERIMENTS:
    case PZ_RPC_GET_EXPERIMENT_RESULTS: handle_experiments(svc, req, cfg); break;
    default: pz_request_fail(req, PZ_UNIMPLEMENTED, PZ_ERRTYPE_UNHANDLED, "UnknownMethod", "unknown method"); break;
    }
    /* Requests that complete later only hold arena copies of what they read from the snapshot. */
    pz_config_unref(cfg);
}

void pz_service_shutdown(pz_service *svc)
{
    atomic_store(&svc->stopping, true);
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
    pz_decorator_destroy(svc->decorator);
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
