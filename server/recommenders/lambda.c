/* Variation types lambda and function (spec §3.4.2, §14 #2): Lambda Invoke (RequestResponse),
 * POST {endpoint}/2015-03-31/functions/{name}/invocations[?Qualifier=...] with the payload of
 * pz_remote_payload. The function answers in the Personalize shape. An answer with
 * X-Amz-Function-Error is a 502 FunctionInvokeError carrying the function's errorMessage.
 *
 * The function is addressed by the name (and qualifier) from its ARN, in the ARN's region (or the
 * variation's `region`), not by a full ARN (its percent-encoded colons in the path). So the
 * function must be in the credentials' account (cross-account ARNs are not supported). Not
 * retried (a function may have side effects). */
#include <stdio.h>
#include <string.h>

#include "server/recommenders/lambda.h"
#include "server/recommenders/remote.h"
#include "server/upstream/arn.h"

int pz_lambda_function_path(const char *arn, pz_arena *arena, const char **path)
{
    pz_arn parsed;
    if (pz_arn_parse(arn, &parsed) != 0)
        return -1;
    const char *res = parsed.resource; /* function:NAME[:QUALIFIER] or function/NAME */
    if (strncmp(res, "function", 8) != 0 || (res[8] != ':' && res[8] != '/'))
        return -1;
    const char *name = res + 9;
    size_t name_len = strcspn(name, ":");
    const char *qualifier = name[name_len] == ':' ? name + name_len + 1 : NULL;
    if (name_len == 0 || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != name_len)
        return -1;
    if (qualifier != NULL && (qualifier[0] == '\0' || strcmp(qualifier, "$LATEST") == 0))
        qualifier = NULL; /* $LATEST is what an unqualified call runs */
    if (qualifier != NULL &&
        strspn(qualifier, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(qualifier))
        return -1;
    *path = qualifier != NULL ? pz_arena_printf(arena, "/2015-03-31/functions/%.*s/invocations?Qualifier=%s",
                                                (int)name_len, name, qualifier)
                              : pz_arena_printf(arena, "/2015-03-31/functions/%.*s/invocations", (int)name_len, name);
    return 0;
}

static bool parse_answer(pz_remote_call *call, const pz_upstream_response *res, pz_error *err)
{
    return pz_remote_parse_items(res->body, res->body_len, call->what, PZ_REMOTE_LAMBDA.error_type, true, call->rec,
                                 err);
}

void pz_lambda_call(pz_remote_call *call, const char *arn, const char *region, const char *endpoint_url,
                    json_t *payload, pz_remote_parse_fn parse)
{
    pz_arena *arena = call->arena;
    const char *path = NULL;
    if (pz_lambda_function_path(arn, arena, &path) != 0) {
        json_decref(payload);
        pz_remote_fail(call, PZ_INTERNAL, PZ_REMOTE_LAMBDA.error_type, "FunctionArnNotConfigured",
                       "%s: \"%s\" is not a Lambda function ARN this server can call "
                       "(arn:{partition}:lambda:{region}:{account}:function:{name}[:{alias or version}])",
                       call->what, arn != NULL ? arn : "");
        return;
    }
    pz_arn parsed;
    const char *arn_region = pz_arn_parse(arn, &parsed) == 0 ? parsed.region : NULL;
    pz_aws_target t;
    pz_error err;
    if (pz_remote_aws_target(call->env, PZ_AWS_LAMBDA, region, arn_region, endpoint_url, call->what,
                             PZ_REMOTE_LAMBDA.error_type, arena, &t, &err) != 0) {
        json_decref(payload);
        call->done(call, &err);
        return;
    }
    size_t len = 0;
    const char *body = pz_remote_dump(payload, arena, &len);
    const char *headers[2] = {"Content-Type: application/json", "X-Amz-Invocation-Type: RequestResponse"};
    pz_upstream_request req = {
        .method = "POST",
        .url = pz_arena_printf(arena, "%s%s", t.base_url, path),
        .headers = headers,
        .n_headers = 2,
        .body = body,
        .body_len = len,
        .signing = &t.signing,
        .breaker_key = pz_arena_printf(arena, "lambda %s", arn),
        .deadline_ms = call->deadline_ms,
        .idempotent = false,
    };
    pz_remote_send(call, &PZ_REMOTE_LAMBDA, &req, parse);
}

void pz_lambda_invoke(pz_remote_call *call)
{
    const pz_variation *v = call->variation;
    pz_lambda_call(call, v->arn, v->region, v->endpoint_url, pz_remote_payload(call->q, v, call->count), parse_answer);
}
