/* Variation type sagemaker (spec §3.4.3): SageMaker runtime InvokeEndpoint,
 * POST {endpoint}/endpoints/{endpointName}/invocations with Content-Type and Accept
 * application/json. The body is the Lambda payload (spec §3.4.2, pz_remote_payload); the model
 * answers in the Personalize shape ({"itemList": [...]} or {"personalizedRanking": [...]}).
 * Not retried: an inference endpoint is not known to be idempotent. Region: the variation's
 * `region`, else the environment. */
#include "server/recommenders/remote.h"

static bool parse_answer(pz_remote_call *call, const pz_upstream_response *res, pz_error *err)
{
    return pz_remote_parse_items(res->body, res->body_len, call->what, PZ_REMOTE_SAGEMAKER.error_type, true, call->rec,
                                 err);
}

void pz_sagemaker_invoke(pz_remote_call *call)
{
    const pz_variation *v = call->variation;
    pz_arena *arena = call->arena;
    pz_aws_target t;
    pz_error err;
    if (pz_remote_aws_target(call->env, PZ_AWS_SAGEMAKER_RUNTIME, v->region, NULL, v->endpoint_url, call->what,
                             PZ_REMOTE_SAGEMAKER.error_type, arena, &t, &err) != 0) {
        call->done(call, &err);
        return;
    }
    size_t len = 0;
    const char *body = pz_remote_dump(pz_remote_payload(call->q, v, call->count), arena, &len);
    const char *headers[2] = {"Content-Type: application/json", "Accept: application/json"};
    /* endpointName is [A-Za-z0-9_-] (checked by the config): safe in the path as is */
    pz_upstream_request req = {
        .method = "POST",
        .url = pz_arena_printf(arena, "%s/endpoints/%s/invocations", t.base_url, v->endpoint_name),
        .headers = headers,
        .n_headers = 2,
        .body = body,
        .body_len = len,
        .signing = &t.signing,
        .breaker_key = pz_arena_printf(arena, "sagemaker %s %s", t.signing.region, v->endpoint_name),
        .deadline_ms = call->deadline_ms,
        .idempotent = false,
    };
    pz_remote_send(call, &PZ_REMOTE_SAGEMAKER, &req, parse_answer);
}
