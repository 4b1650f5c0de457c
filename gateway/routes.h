/* The REST route table and the translation of an HTTP request (method, path, query, body) into
 * a request message, via the descriptor-driven transcoder. No h2o in here, so it is unit-tested
 * with plain strings.
 *
 * Path templates bind single path segments ({name} = a field of the request message, by proto
 * name). Segments are percent-decoded. A repeated field bound to a segment is split on ','
 * (the GET rerank `{item_ids}`). Query parameters set the remaining fields by JSON name
 * (numResults, userId, filter, filterValues, context, decorateItems, syntheticUser, feature);
 * unknown parameters are ignored, as upstream does, and parameters naming a path-bound field are
 * ignored too (the path wins).
 */
#ifndef PZ_ROUTES_H
#define PZ_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "server/core/buf.h"
#include "server/core/mem.h"
#include "server/core/percent.h"
#include "server/core/request.h"
#include "server/core/rpc.h"
#include "server/core/status.h"

typedef enum pz_route_body {
    PZ_ROUTE_BODY_NONE = 0, /* no body read */
    PZ_ROUTE_BODY_MESSAGE,  /* the body is the request message as JSON (google.api.http body: "*") */
    PZ_ROUTE_BODY_FIELD,    /* the body is the JSON value of one field (body: "<field>") */
    PZ_ROUTE_BODY_RAW,      /* the body's bytes, as they are, are one bytes field (google.api.HttpBody-like:
                             * a configuration document, JSON Lines of items) */
} pz_route_body;

/* Routes the REST front answers itself, without a handler: probes, scrapes, stats and the
 * documentation. Their callbacks come from the front's options (gateway/http_server.h). */
typedef enum pz_local_route {
    PZ_LOCAL_NONE = 0,      /* an RPC row: the front's handler answers */
    PZ_LOCAL_HEALTH,        /* GET /healthz */
    PZ_LOCAL_METRICS,       /* GET /metrics (admin listener) */
    PZ_LOCAL_AUTH_STATS,    /* GET /admin/auth/stats (admin listener) */
    PZ_LOCAL_BUILTIN_STATS, /* GET /admin/builtin/stats (admin listener) */
    PZ_LOCAL_OPENAPI,       /* GET /openapi.json (gateway/docs.h) */
    PZ_LOCAL_DOCS,          /* GET /docs: Swagger UI */
    PZ_LOCAL_DOCS_ASSET,    /* GET /docs/{asset} */
    PZ_LOCAL_PROTO,         /* GET /proto/personalization/v1/personalization.proto */
    PZ_LOCAL__COUNT
} pz_local_route;

/* A row maps a method and path either to an RPC (`local` is PZ_LOCAL_NONE; the fields from `rpc`
 * on apply) or to a local handler (only api, method, path_template, local and content_type
 * apply). A local row matches its own method only: for any other method its path is as unknown as
 * any other (404, no 405 and no CORS preflight), as probes and scrapes are not part of the
 * browser-facing API. A listener sees the rows of its API only (`api`, server/core/rpc.h): the
 * admin routes do not exist on the public port, and the API's routes not on the admin port. */
typedef struct pz_route {
    pz_api api;                /* the listener that serves it */
    const char *method;        /* "GET" or "POST" */
    const char *path_template; /* e.g. "/recommend-items/{namespace}/{recommender}/{user_id}" */
    pz_local_route local;
    const char *content_type; /* local rows: of the answer; NULL = application/json */
    pz_rpc rpc;
    pz_route_body body;
    const char *body_field;      /* PZ_ROUTE_BODY_FIELD, _RAW: the field name */
    bool cacheable;              /* GET inference: Cache-Control from the policy; otherwise no-store */
    bool empty_success_body;     /* upstream compatibility: 200 with an empty text/plain body */
    const char *body_error_code; /* upstream error code for a body of the wrong shape */
    bool forwards_body;          /* the core may take the raw body as it is (POST /events to a
                                  * forward-only namespace): it gets the body, and a body error is
                                  * the core's to answer (pz_request.body_error) */
    /* The response as a page for clients that ask for text/html (gateway/experiment_page.h);
     * NULL: JSON only. Appends a document to out; 0, or -1 at out's cap. */
    int (*html)(const ProtobufCMessage *response, pz_buf *out);
    /* Local rows: answered without credentials (liveness probes). Every other local row needs the
     * `admin` scope (the front's authorize_admin option), so a new /admin row is closed by default. */
    bool open;
} pz_route;

/* Maximum number of variables in a template. */
#define PZ_ROUTE_MAX_PARAMS 8

typedef struct pz_route_params {
    size_t n;
    const char *names[PZ_ROUTE_MAX_PARAMS]; /* field names, static */
    char *values[PZ_ROUTE_MAX_PARAMS];      /* percent-decoded, arena-owned */
} pz_route_params;

/* Outcome of matching a request against the table. */
typedef enum pz_route_match_result {
    PZ_ROUTE_MATCHED,      /* *route and params are set */
    PZ_ROUTE_NO_PATH,      /* no template matches the path: 404 */
    PZ_ROUTE_WRONG_METHOD, /* a template matches but not with this method: 405; allow is set */
    PZ_ROUTE_BAD_ENCODING, /* a path segment has a bad %-escape: 400 */
} pz_route_match_result;

/* Matches method + path (no query string) against the rows of `api`. `allow` receives the
 * comma-separated methods accepted for the path (for 405 and CORS preflights; always includes
 * OPTIONS when the path matches). */
pz_route_match_result pz_route_match(pz_api api, const char *method, size_t method_len, const char *path,
                                     size_t path_len, pz_arena *arena, const pz_route **route, pz_route_params *params,
                                     char *allow, size_t allow_len);

/* A query string's parameters: percent-decoded ('+' is a space), in order, names as sent. */
typedef struct pz_route_query {
    pz_header *params; /* arena-owned */
    size_t n;
} pz_route_query;

/* Splits and decodes a raw query string (without '?', may be empty). Returns PZ_OK, or
 * PZ_INVALID_ARGUMENT (ValidationError) for a malformed percent-encoding. */
pz_status pz_route_parse_query(const char *query, size_t query_len, pz_arena *arena, pz_route_query *out,
                               pz_error *err);

/* Builds the request message for a matched route from its path params, query parameters and body.
 * Parameters the message does not name are ignored (the front hands them to the core as they
 * are). Returns PZ_OK and *out, or PZ_INVALID_ARGUMENT with *err in the upstream shape (codes
 * InvalidJSONRequestPayload, InvalidRequestPayload, InvalidContextParameter,
 * InvalidFilterParameter, ValidationError). */
pz_status pz_route_build_request_from(const pz_route *route, const pz_route_params *params, const pz_route_query *query,
                                      const char *body, size_t body_len, pz_arena *arena, ProtobufCMessage **out,
                                      pz_error *err);
/* The request message with only the route's path fields set (a forwards_body route whose body did
 * not transcode). Returns PZ_OK and *out, or an error as pz_route_build_request_from. */
pz_status pz_route_build_path_only(const pz_route *route, const pz_route_params *params, pz_arena *arena,
                                   ProtobufCMessage **out, pz_error *err);
/* pz_route_parse_query (not for PZ_ROUTE_BODY_MESSAGE routes, which take no query parameters),
 * then pz_route_build_request_from. */
pz_status pz_route_build_request(const pz_route *route, const pz_route_params *params, const char *query,
                                 size_t query_len, const char *body, size_t body_len, pz_arena *arena,
                                 ProtobufCMessage **out, pz_error *err);

/* Appends the upstream error body {"type":…,"code":…,"message":…} to out. Returns 0 or -1. */
int pz_route_error_json(const pz_error *err, pz_buf *out);

/* The table (the API's RPC rows, its local rows, then the admin rows), for documentation and
 * tests. */
extern const pz_route pz_routes[];
extern const size_t pz_routes_count;

#endif
