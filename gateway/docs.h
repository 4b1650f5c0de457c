/* The documentation routes of the REST front (issue #16): the OpenAPI document of the live
 * configuration, Swagger UI, and the .proto download.
 *
 *   GET /openapi.json   gateway/openapi.h's document for the current snapshot. It is generated
 *                       again only when the snapshot changes (pz_config_generation) and kept
 *                       meanwhile; `servers` is the configured server URL or else the origin the
 *                       request came to (scheme and Host). Strong ETag of the bytes sent, 304 on
 *                       If-None-Match, Cache-Control: no-cache (a reload changes it).
 *   GET /docs           Swagger UI's page for /openapi.json, and its assets at /docs/<name>: our
 *                       page and initializer, and swagger-ui.css / swagger-ui-bundle.js read once at
 *                       create from an installed swagger-ui-dist directory (npm; bazel/setup.sh
 *                       installs it). Nothing comes from another host. Without the directory these
 *                       routes answer 503 DocsUnavailable saying what to install.
 *   GET /proto/personalization/v1/personalization.proto
 *                       the service's .proto, embedded at build time.
 * Any thread; create and destroy from one.
 */
#ifndef PZ_DOCS_H
#define PZ_DOCS_H

#include <stdbool.h>
#include <stddef.h>

#include "gateway/routes.h"
#include "server/core/buf.h"
#include "server/core/config.h"
#include "server/core/etag.h"

/* The largest Swagger UI asset read (swagger-ui-bundle.js is about 1.5 MB). */
#define PZ_DOCS_MAX_ASSET_BYTES (16u << 20)
/* The largest OpenAPI document (about 3 KB per recommender: thousands of recommenders fit). */
#define PZ_DOCS_MAX_DOCUMENT_BYTES (64u << 20)
/* Where bazel/setup.sh installs swagger-ui-dist: the default of --swagger-ui-dir. */
#define PZ_DOCS_DEFAULT_SWAGGER_UI_DIR "/opt/pz-swagger-ui/node_modules/swagger-ui-dist"

typedef struct pz_docs_options {
    pz_config_holder *holder;   /* the live configuration */
    const char *server_url;     /* the document's servers[0].url; NULL: the request's origin */
    const char *admin_url;      /* the admin listener's base URL (pz_openapi_write); NULL: the default */
    const char *swagger_ui_dir; /* swagger-ui-dist's directory; NULL: the default */
} pz_docs_options;

typedef struct pz_docs pz_docs;

/* Reads the Swagger UI assets (a missing directory is logged as a warning: only /docs is then
 * unavailable). Never NULL. */
pz_docs *pz_docs_create(const pz_docs_options *opts);
void pz_docs_destroy(pz_docs *d);
/* Whether the Swagger UI assets were found. */
bool pz_docs_has_ui(const pz_docs *d);

typedef struct pz_docs_response {
    int status; /* 200, 304, 404 (unknown asset), 500, 503 (no Swagger UI) */
    const char *content_type;
    const char *cache_control;
    const char *content_security_policy; /* the page's policy; NULL for anything else */
    char etag[PZ_ETAG_SIZE];             /* "" when none */
    const char *body;                    /* valid until pz_docs_response_free and while d lives */
    size_t len;
    pz_buf owned; /* the body when it was built for this request */
} pz_docs_response;

/* Answers route (PZ_LOCAL_OPENAPI, PZ_LOCAL_DOCS, PZ_LOCAL_DOCS_ASSET with `asset` its name,
 * PZ_LOCAL_PROTO). origin: "scheme://host[:port]" of the request, or NULL; if_none_match: the
 * header's value or NULL. Error bodies are in the upstream {type, code, message} shape. */
void pz_docs_answer(pz_docs *d, pz_local_route route, const char *asset, const char *origin, const char *if_none_match,
                    pz_docs_response *out);
void pz_docs_response_free(pz_docs_response *r);

/* True when s may be used as a server URL origin: a scheme, "://" and a host[:port] made of
 * letters, digits and . - _ : [ ] only (a Host header is the client's to choose: anything else is
 * not reflected into the document). */
bool pz_docs_origin_valid(const char *s);

#endif
