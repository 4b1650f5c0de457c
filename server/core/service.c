#include "server/core/service.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/decorate.h"
#include "server/core/events.h"
#include "server/core/inference.h"
#include "server/core/log.h"
#include "server/core/response_cache.h"
#include "server/events/pipeline.h"
#include "server/recommenders/recommenders.h"

/* How long shutdown lets remote recommender calls in flight finish before failing them (503). */
#define UPSTREAM_DRAIN_GRACE_MS 5000

struct pz_service {
    pz_config_holder *config;
    pz_recommenders *recommenders;
    pz_decorator *decorator;
    pz_response_cache *response_cache;
    pz_event_pipeline *events;
    atomic_bool stopping;
};

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
    if (in->n_event_list > 0 && ns->n_event_targets == 0) {
        pz_request_fail(req, PZ_NOT_FOUND, PZ_ERRTYPE_CONFIGURATION, "NamespaceEventTargetsNotFound",
                        "namespace '%s' has no eventTargets", ns->key);
        return;
    }
    pz_status s = pz_events_validate(in, ns, req->received_ms, req->arena, &req->error);
    if (s != PZ_OK) {
        pz_request_fail(req, s, req->error.type, req->error.code, "%s", req->error.message);
        return;
    }
    req->hints.cache_control = "no-store";
    pz_response_cache_purge_user(svc->response_cache, ns->key, in->user_id); /* "just clicked" shows next time */
    pz_event_pipeline_submit(svc->events, req, ns, in); /* durable before the answer; delivered later */
}

pz_service *pz_service_create(const pz_service_options *opts)
{
    pz_service *svc = pz_calloc(1, sizeof *svc);
    svc->config = opts->config;
    svc->recommenders =
        pz_recommenders_create(&(pz_recommenders_options){.builtin = opts->builtin, .upstream = opts->upstream});
    svc->decorator = pz_decorator_create(opts->catalog);
    pz_decorator_set_backend(svc->decorator, PZ_ITEM_METADATA_DYNAMODB,
                             &(pz_decorator_backend){pz_recommenders_decorate_dynamodb, svc->recommenders});
    pz_decorator_set_backend(svc->decorator, PZ_ITEM_METADATA_PERSONALIZE,
                             &(pz_decorator_backend){pz_recommenders_decorate_personalize, svc->recommenders});
    svc->response_cache = pz_response_cache_create(&(pz_response_cache_options){
        .cache = opts->cache, .render_json = opts->render_json, .now_ms = opts->now_ms});
    svc->events = opts->events;
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
        /* takes over the snapshot reference */
        pz_inference_start(req, cfg, svc->recommenders, svc->decorator, svc->response_cache);
        return;
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
    pz_recommenders_drain(svc->recommenders, UPSTREAM_DRAIN_GRACE_MS); /* remote calls in flight */
    pz_event_pipeline_drain(svc->events);
}

void pz_service_destroy(pz_service *svc)
{
    if (svc == NULL)
        return;
    pz_response_cache_destroy(svc->response_cache); /* waits for background refreshes */
    pz_recommenders_destroy(svc->recommenders);
    pz_decorator_destroy(svc->decorator);
    free(svc);
}

int pz_service_cache_stats(pz_service *svc, pz_buf *out)
{
    return pz_response_cache_stats_json(svc->response_cache, out);
}

pz_config *pz_service_config(pz_service *svc)
{
    return pz_config_holder_acquire(svc->config);
}
