/* The OpenAPI 3 document of the REST API as one configuration snapshot serves it (issue #16).
 *
 * Built from three sources, so it cannot drift from what the server does:
 *   - the configuration snapshot: one path per configured recommender (namespace and recommender
 *     literal, only the user and item parts templated), `POST /events/{ns}` for namespaces with
 *     event targets or experiments, the experiment results of recommenders with experiments, tags
 *     per namespace and action carrying the recommenders' descriptions, `info` from the document's
 *     `title`, `description` and `version`;
 *   - the protobuf-c descriptors of the request and response messages: every response schema is
 *     derived from them with the REST writer's own field rules (gateway/transcode.h
 *     pz_json_field_emit), so `itemList` is required, `customFields` become additional properties
 *     and gRPC-only fields are left out;
 *   - the core's limits (server/core/query.h, event_validation.h) for the query parameters and the
 *     events body.
 * Authentication follows the configuration's `auth` (server/core/config.h pz_auth_policy):
 * components.securitySchemes `apiKey` and `bearerJwt` for the schemes some policy accepts; each
 * operation's `security` lists the schemes of the policy that governs it (its namespace's, the
 * root's for the admin routes) as alternatives, with the 401/403/429 of access control, or is []
 * when that policy requires nothing; /healthz, this document and the .proto are public
 * (`security: []`).
 * The server's own routes (/healthz, this document, the .proto download, and the admin listener's
 * /metrics and /admin/.../stats with that listener in their path items' `servers`) are under the
 * tag "Server". The rest of the admin API is described by proto/personalization/v1/admin.proto.
 *
 * OpenAPI 3.0.3. Deterministic: the same snapshot and server URLs give the same bytes. Pure (no
 * HTTP, no I/O); any thread.
 */
#ifndef PZ_OPENAPI_H
#define PZ_OPENAPI_H

#include "server/core/buf.h"
#include "server/core/config.h"

/* OpenAPI version written in the `openapi` field. */
#define PZ_OPENAPI_VERSION "3.0.3"

/* A server URL that stands for "the origin the request came to": the document is written with it
 * as servers[0].url, JSON-encoded as PZ_OPENAPI_ORIGIN_MARKER_JSON, for the caller to replace per
 * request (gateway/docs.h). */
#define PZ_OPENAPI_ORIGIN_MARKER "\x01origin\x01"
#define PZ_OPENAPI_ORIGIN_MARKER_JSON "\"\\u0001origin\\u0001\""

/* The .proto file served at /proto/... and named in the document. */
#define PZ_OPENAPI_PROTO_PATH "/proto/personalization/v1/personalization.proto"

/* Appends the document for cfg, indented, to out. server_url: servers[0].url (an absolute URL or
 * PZ_OPENAPI_ORIGIN_MARKER); NULL writes "/", which OpenAPI resolves against where the document
 * was fetched. admin_url: the admin listener's base URL, the `servers` of the admin routes' path
 * items (/metrics, /admin/.../stats); NULL: the default listener, http://127.0.0.1:9464. Returns 0,
 * or -1 when out's cap is reached or memory runs out. */
int pz_openapi_write(const pz_config *cfg, const char *server_url, const char *admin_url, pz_buf *out);

#endif
