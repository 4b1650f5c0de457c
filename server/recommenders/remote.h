/* What the remote variation types (personalize.c, sagemaker.c, lambda.c, http.c), the DynamoDB
 * item metadata (dynamodb.c) and the response post-processor (postprocess.c) share: one call to an
 * upstream over the engine (upstream.h), AWS signing targets (aws.h), the mapping of upstream
 * failures to API errors, and the parsing of Personalize-shaped responses. Private to
 * server/recommenders; the public entry point is recommenders.h.
 *
 * Threads: a call is prepared on the thread that invokes it (a front thread) and completes on the
 * engine thread (or inline when rejected at once). The request's arena is used by one of them at
 * a time: nothing touches it after pz_remote_send until the completion runs.
 *
 * Error mapping (every message names the variation, e.g. "personalize-campaign variation 'up' of
 * recommender 'for-you'"), with `type` the upstream's ("Personalize", "SageMaker", "Function",
 * "DynamoDB", "Http") and `code` the upstream's error code when it gave one:
 *   throttled (HTTP 429, or an AWS throttling code)        429 RESOURCE_EXHAUSTED
 *   engine queue full                                       429 RESOURCE_EXHAUSTED  UpstreamQueueFull
 *   4xx that is the caller's fault (Personalize, SageMaker,
 *     http: 400 404 409 413 422)                            400 INVALID_ARGUMENT (upstream message)
 *   any other 4xx (credentials, Lambda/DynamoDB request),
 *     5xx, 3xx, connection failure, oversized response      502 UPSTREAM_FAILED
 *   Lambda function error (X-Amz-Function-Error)           502 UPSTREAM_FAILED     FunctionInvokeError
 *   malformed body (not JSON, wrong shape)                  502 UPSTREAM_FAILED     InvalidUpstreamResponse
 *   deadline passed                                          504 DEADLINE_EXCEEDED   UpstreamTimeout
 *   circuit breaker open                                     503 UNAVAILABLE         CircuitOpen
 *   no credentials or region                                 500 INTERNAL            CredentialsNotFound...
 *   server shutting down                                     503 UNAVAILABLE         ShuttingDown
 */
#ifndef PZ_REMOTE_H
#define PZ_REMOTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/core/decorate.h"
#include "server/core/recommender.h"
#include "server/upstream/aws.h"
#include "server/upstream/json_read.h"
#include "server/upstream/upstream.h"

typedef struct pz_remote_env {
    pz_upstream *upstream;
    pz_aws *aws;
} pz_remote_env;

/* The kind of upstream: how its errors are labelled and mapped. */
typedef struct pz_remote_kind {
    const char *error_type; /* upstream error category */
    /* Its requests carry the end client's input, so an answer that refuses the request's content
     * (PZ_AWS_ERROR_PERMANENT or _CALLER: 400/404/409/413/422) is the client's fault: 400. */
    bool client_input;
} pz_remote_kind;

extern const pz_remote_kind PZ_REMOTE_PERSONALIZE;
extern const pz_remote_kind PZ_REMOTE_SAGEMAKER;
extern const pz_remote_kind PZ_REMOTE_LAMBDA;
extern const pz_remote_kind PZ_REMOTE_DYNAMODB;
extern const pz_remote_kind PZ_REMOTE_HTTP;

typedef struct pz_remote_call pz_remote_call;
/* Completion: err NULL on success. Runs exactly once per invoke, on any thread. */
typedef void (*pz_remote_done_fn)(pz_remote_call *call, const pz_error *err);
/* Reads a 2xx answer into the call. Returns true, or false with *err filled. */
typedef bool (*pz_remote_parse_fn)(pz_remote_call *call, const pz_upstream_response *res, pz_error *err);

struct pz_remote_call {
    const pz_remote_env *env;
    const pz_query *q;             /* the request */
    pz_arena *arena;               /* the request's, used by one thread at a time */
    pz_upstream_timing *timing;    /* where the upstream time is accounted */
    pz_recommend_call *rec;        /* recommend and post-process: the items (read and written) */
    pz_decoration *decoration;     /* DynamoDB: the items to decorate */
    const pz_variation *variation; /* the variation being run: names it in messages */
    const char *what;              /* e.g. "personalize-campaign variation 'up' of recommender 'r'" */
    int count;                     /* how many items to ask for (look-ahead applied) */
    int64_t deadline_ms;           /* min(client deadline, now + the variation's timeoutMs) */
    pz_remote_done_fn done;
    void *user; /* the caller's state */
    /* set by pz_remote_send */
    const pz_remote_kind *kind;
    pz_remote_parse_fn parse;
};

/* Variation types. Each builds its request from call->q and call->variation and completes with
 * call->done (setting call->rec's items, extras, n_items, recommendation_id on success). */
void pz_personalize_invoke(pz_remote_call *call);
void pz_sagemaker_invoke(pz_remote_call *call);
void pz_lambda_invoke(pz_remote_call *call);
void pz_http_invoke(pz_remote_call *call);

/* Submits req (copied) for call; on completion maps failures (above) or runs parse, then
 * call->done. */
void pz_remote_send(pz_remote_call *call, const pz_remote_kind *kind, const pz_upstream_request *req,
                    pz_remote_parse_fn parse);

/* Completes call with an error built here (status, type, code, printf message in the arena). */
void pz_remote_fail(pz_remote_call *call, pz_status status, const char *type, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ---- AWS ---- */

typedef struct pz_aws_target {
    char base_url[512];     /* endpoint, no trailing slash */
    pz_aws_signing signing; /* region, signing name and credentials: the request's .signing */
} pz_aws_target;

/* Resolves region (`region` config key, else `region_hint` e.g. the ARN's, else the environment),
 * endpoint (`endpoint_url` config key, else AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the
 * public one) and credentials (env->aws; NULL has none). Returns 0, or -1 with *err (500
 * CredentialsNotFound / RegionNotConfigured) built in the arena. */
int pz_remote_aws_target(const pz_remote_env *env, pz_aws_service service, const char *region, const char *region_hint,
                         const char *endpoint_url, const char *what, const char *error_type, pz_arena *arena,
                         pz_aws_target *t, pz_error *err);

/* ---- pure helpers (unit-tested) ---- */

/* Maps an engine outcome or HTTP answer to the API error (table above; an answer is classified
 * by server/upstream/aws_errors.h). Returns true and fills *err (strings in the arena) for a
 * failure; false for a usable 2xx answer. */
bool pz_remote_map_error(const pz_remote_kind *kind, const pz_upstream_response *res, const char *what, pz_arena *arena,
                         pz_error *err);

/* At most this many custom fields per item and per response (keep_custom below); an answer with
 * more is refused (502 InvalidUpstreamResponse). */
#define PZ_REMOTE_MAX_CUSTOM_FIELDS 64

/* Parses a Personalize-shaped body, {"itemList" or "personalizedRanking": [{"itemId", "score"?,
 * "promotionName"?, "reason"?: [..], "metadata"?: {..}}], "recommendationId"?}, into rec->items,
 * extras, n_items, recommendation_id and custom_fields (in rec->arena). With keep_custom (Lambda,
 * SageMaker, http, the post-processor: upstream passes their answers through) every other field
 * of an item or of the response is kept as custom fields (server/core/recommender.h), at most
 * PZ_REMOTE_MAX_CUSTOM_FIELDS per object; without it (Personalize) they are ignored. At most
 * PZ_MAX_NUM_RESULTS items; item ids 1..PZ_MAX_ID_LEN characters. Returns true, or false with *err
 * (502 InvalidUpstreamResponse, naming what was wrong). */
bool pz_remote_parse_items(const char *body, size_t len, const char *what, const char *error_type, bool keep_custom,
                           pz_recommend_call *rec, pz_error *err);

/* The current items as a Personalize-shaped response object (itemList, or personalizedRanking for
 * rerank, plus recommendationId when known). New reference. */
json_t *pz_remote_items_to_json(const pz_recommend_call *rec);

/* The Lambda/SageMaker invocation payload (spec §3.4.2): version, action, recommender {path,
 * config}, variation, then userId/itemId/numResults/itemList per action and context when given.
 * New reference. */
/* The keys every Lambda/SageMaker/post-processor payload starts with (spec §3.4.2, §3.6):
 * version, action, recommender {path, config}, variation. New reference, caller decrefs. */
json_t *pz_remote_payload_base(const pz_query *q, const pz_variation *v);
json_t *pz_remote_payload(const pz_query *q, const pz_variation *v, int count);

/* The first request field that is not valid UTF-8 (JSON requests to upstreams need it), e.g.
 * "userId" or "context", or NULL when all are. */
const char *pz_remote_invalid_utf8(const pz_query *q);

/* A JSON value from compact config JSON kept in the snapshot (NULL -> JSON null). New reference. */
json_t *pz_remote_config_json(const char *text);

/* Serializes and frees `doc` into an arena string; *len gets its length. */
const char *pz_remote_dump(json_t *doc, pz_arena *arena, size_t *len);

#endif
