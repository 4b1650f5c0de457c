/* Remote calls: sending over the engine, AWS targets, and the mapping of upstream failures to API
 * errors (the table in remote.h). */
#include "server/recommenders/remote.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "server/core/log.h"
#include "server/upstream/aws_errors.h"

const pz_remote_kind PZ_REMOTE_PERSONALIZE = {"Personalize", true};
const pz_remote_kind PZ_REMOTE_SAGEMAKER = {"SageMaker", true};
const pz_remote_kind PZ_REMOTE_LAMBDA = {"Function", false};
const pz_remote_kind PZ_REMOTE_DYNAMODB = {"DynamoDB", false};
const pz_remote_kind PZ_REMOTE_HTTP = {"Http", true};

void pz_remote_fail(pz_remote_call *call, pz_status status, const char *type, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pz_error e = {status, type, code, pz_arena_strdup(call->arena, msg)};
    call->done(call, &e);
}

static void on_upstream(void *ctx, const pz_upstream_response *res)
{
    pz_remote_call *call = ctx;
    pz_error err;
    pz_upstream_timing_add(call->timing, res->upstream_us, res->end_us); /* before done: the request is alive */
    if (pz_remote_map_error(call->kind, res, call->what, call->arena, &err)) {
        call->done(call, &err);
        return;
    }
    if (!call->parse(call, res, &err)) {
        call->done(call, &err);
        return;
    }
    call->done(call, NULL);
}

void pz_remote_send(pz_remote_call *call, const pz_remote_kind *kind, const pz_upstream_request *req,
                    pz_remote_parse_fn parse)
{
    call->kind = kind;
    call->parse = parse;
    pz_upstream_submit(call->env->upstream, req, on_upstream, call);
}

/* ---- AWS ---- */

int pz_remote_aws_target(const pz_remote_env *env, pz_aws_service service, const char *region, const char *region_hint,
                         const char *endpoint_url, const char *what, const char *error_type, pz_arena *arena,
                         pz_aws_target *t, pz_error *err)
{
    char resolved[sizeof t->signing.region];
    pz_aws_region(env->aws, region != NULL ? region : region_hint, resolved, sizeof resolved);
    if (resolved[0] == '\0') {
        *err = (pz_error){PZ_INTERNAL, error_type, "RegionNotConfigured",
                          pz_arena_printf(arena,
                                          "%s: no AWS region: set the variation's \"region\", AWS_REGION or "
                                          "AWS_DEFAULT_REGION",
                                          what)};
        return -1;
    }
    char why[512];
    if (pz_aws_signing_for(env->aws, service, resolved, &t->signing, why, sizeof why) != 0) {
        *err = (pz_error){PZ_INTERNAL, error_type, "CredentialsNotFound", pz_arena_printf(arena, "%s: %s", what, why)};
        return -1;
    }
    pz_aws_endpoint(service, resolved, endpoint_url, t->base_url, sizeof t->base_url);
    return 0;
}

/* ---- error mapping ---- */

static bool fail_with(pz_error *err, pz_status status, const char *type, const char *code, pz_arena *arena,
                      const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static bool fail_with(pz_error *err, pz_status status, const char *type, const char *code, pz_arena *arena,
                      const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    *err = (pz_error){status, type, pz_arena_strdup(arena, code), pz_arena_strdup(arena, msg)};
    return true;
}

bool pz_remote_map_error(const pz_remote_kind *kind, const pz_upstream_response *res, const char *what, pz_arena *arena,
                         pz_error *err)
{
    const char *type = kind->error_type;
    switch (res->outcome) {
    case PZ_UPSTREAM_RESPONSE: break;
    case PZ_UPSTREAM_QUEUE_FULL:
        return fail_with(err, PZ_RESOURCE_EXHAUSTED, type, "UpstreamQueueFull", arena, "%s was not called: %s", what,
                         res->detail);
    case PZ_UPSTREAM_CIRCUIT_OPEN:
        return fail_with(err, PZ_UNAVAILABLE, type, "CircuitOpen", arena,
                         "%s was not called: its upstream failed repeatedly and the circuit breaker is open; retry "
                         "shortly",
                         what);
    case PZ_UPSTREAM_TIMEOUT:
        return fail_with(err, PZ_DEADLINE_EXCEEDED, type, "UpstreamTimeout", arena,
                         "%s did not answer before the deadline (the variation's timeoutMs or the client's "
                         "deadline): %s",
                         what, res->detail);
    case PZ_UPSTREAM_CONNECT_FAILED:
        return fail_with(err, PZ_UPSTREAM_FAILED, type, "UpstreamUnavailable", arena, "%s could not be reached: %s",
                         what, res->detail);
    case PZ_UPSTREAM_TOO_LARGE:
        return fail_with(err, PZ_UPSTREAM_FAILED, type, "UpstreamResponseTooLarge", arena, "%s: %s", what, res->detail);
    case PZ_UPSTREAM_SHUTDOWN:
        return fail_with(err, PZ_UNAVAILABLE, type, "ShuttingDown", arena, "%s was not called: %s", what, res->detail);
    }
    long status = res->status;
    if (status >= 200 && status < 300 && res->function_error == NULL)
        return false; /* a usable answer: only the parser reads its body (no JSON parse twice) */
    pz_aws_error e;
    pz_aws_error_classify(status, res->amzn_error_type, res->body, res->body_len, &e);
    const char *code = e.type, *msg = e.message, *sep = msg[0] ? ": " : "";
    switch (e.cls) {
    case PZ_AWS_ERROR_NONE:
        return fail_with(err, PZ_UPSTREAM_FAILED, type, "FunctionInvokeError", arena,
                         "%s: the function failed (%s)%s%s%s%s", what, res->function_error, code[0] ? ": " : "", code,
                         sep, msg);
    case PZ_AWS_ERROR_THROTTLING:
        return fail_with(err, PZ_RESOURCE_EXHAUSTED, type, code[0] ? code : "ThrottlingException", arena,
                         "%s was throttled by the upstream (HTTP %ld)%s%s", what, status, sep, msg);
    case PZ_AWS_ERROR_PERMANENT:
    case PZ_AWS_ERROR_CALLER:
        if (kind->client_input)
            return fail_with(err, PZ_INVALID_ARGUMENT, type, code[0] ? code : "InvalidRequest", arena,
                             "%s rejected the request (HTTP %ld)%s%s", what, status, sep, msg);
        break;
    case PZ_AWS_ERROR_RETRYABLE:
    case PZ_AWS_ERROR_CLASS__COUNT: break;
    }
    return fail_with(err, PZ_UPSTREAM_FAILED, type, code[0] ? code : "UpstreamError", arena,
                     "%s failed (HTTP %ld%s%s)%s%s", what, status, code[0] ? " " : "", code, sep, msg);
}
