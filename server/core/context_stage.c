#include "server/core/context_stage.h"

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/context_apply.h"
#include "server/core/explain.h"
#include "server/core/log.h"

struct pz_context_stage {
    pz_viewer viewer;
    pz_resolved_context auto_context;
    pz_resolved_context auto_filter_values;
};

pz_context_stage *pz_context_stage_run(const pz_viewer_env *env, const pz_config *config, const pz_variation *variation,
                                       pz_query *q, pz_request *req)
{
    const pz_filter *filter = pz_query_configured_filter(q, variation);
    const pz_auto_context *ac = variation->auto_context_view;
    const pz_auto_context *afv = filter != NULL ? filter->auto_dynamic_filter_values : NULL;
    if ((ac == NULL || ac->n_fields == 0) && (afv == NULL || afv->n_fields == 0))
        return NULL;
    size_t n_trusted;
    const pz_cidr *trusted = pz_config_trusted_proxies(config, &n_trusted);
    pz_context_stage *cs = pz_arena_alloc(req->arena, sizeof *cs);
    pz_viewer_init(&cs->viewer, env, req->headers, req->n_headers, pz_request_client_addr(req), req->received_ms,
                   trusted, n_trusted, req->arena);
    pz_context_source src = pz_viewer_source(&cs->viewer);
    pz_context_resolve(ac, &src, req->arena, &cs->auto_context);
    pz_context_resolve(afv, &src, req->arena, &cs->auto_filter_values);
    pz_string_map context = pz_context_merge(q->context, q->n_context, &cs->auto_context, req->arena);
    q->context = context.entries;
    q->n_context = context.n;
    pz_string_map values =
        pz_filter_values_merge(q->filter_values, q->n_filter_values, &cs->auto_filter_values, req->arena);
    q->filter_values = values.entries;
    q->n_filter_values = values.n;
    req->hints.vary = pz_viewer_vary(&cs->viewer);
    return cs;
}

void pz_context_stage_explain(const pz_context_stage *cs, const pz_query *q, const pz_variation *variation,
                              pz_request *req, ProtobufCMessage *response)
{
    const pz_filter *configured = pz_query_configured_filter(q, variation);
    const char *filter = q->filter != NULL && q->filter[0] != '\0' ? q->filter
                         : configured != NULL                      ? configured->arn
                                                                   : NULL;
    pz_explain_input in = {.context = cs != NULL ? &cs->auto_context : NULL,
                           .filter_values = cs != NULL ? &cs->auto_filter_values : NULL,
                           .query = q,
                           .filter = filter,
                           .variation = req->hints.variation,
                           .cache = req->hints.cache,
                           .upstream_us = req->hints.upstream.us,
                           .viewer = cs != NULL ? &cs->viewer : NULL};
    pz_explain_attach(response, pz_explain_build(&in, req->arena));
    req->hints.cache_control = "no-store";
    req->hints.etag = NULL;
    req->hints.not_modified = false;
    req->prepared = NULL;
}

ProtobufCMessage *pz_context_stage_unpack(const pz_query *q, const pz_prepared_response *res, pz_arena *arena)
{
    const ProtobufCMessageDescriptor *desc = q->action == PZ_ACTION_RERANK_ITEMS
                                                 ? &personalization__v1__rerank_response__descriptor
                                                 : &personalization__v1__recommendation_response__descriptor;
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &arena->pb, res->protobuf_len, res->protobuf);
    if (m == NULL)
        pz_fatal("inference: a prepared response does not unpack");
    return m;
}
