/* The REST front: h2o (2.2.5, evloop flavour) listeners and event loops serving the upstream REST
 * API over HTTP/1.1, h2c (prior knowledge and Upgrade) and, when a certificate is configured, TLS
 * with h2 via ALPN.
 *
 * Each of `threads` loops has its own listening socket on the same port (SO_REUSEPORT) and its own
 * h2o context. A request is matched against the route table (gateway/routes.h), transcoded into a
 * request message and handed to the core; the core may complete it inline or on another thread,
 * in which case the completion is posted back to the request's loop through an h2o multithread
 * queue. A client that disconnects before completion is handled: its response is dropped.
 *
 * A server serves one API's rows of the route table (`api`): the public one (the upstream REST
 * API) on --http-port, the admin one (/admin/..., /metrics) on --admin-port; each is its own
 * server with its own loops, handler and limits.
 *
 * Every response, errors included, carries the CORS headers (spec §1.5 and defect #15), except
 * on a listener that refuses browsers (refuse_browsers: the admin one).
 * The route table's local rows (pz_local_route) are answered with a callback of the options:
 * GET /healthz with `health`'s JSON, GET /metrics with `metrics`' text, GET /admin/auth/stats with
 * `auth_stats`', GET /admin/builtin/stats with `builtin_stats`' (those three on the admin
 * listener); the documentation rows (/openapi.json, /docs, /proto/...) with `docs`, public like
 * /healthz. Every other local row but /healthz first goes through `authorize_admin` (the core's
 * pz_service_admit_admin: the `admin` scope), like an RPC through `handle`. A response the core
 * prepared (pz_request.prepared) is sent as is, without copying.
 *
 * Errors carry the core's error hints (server/core/hints.h): the request id, WWW-Authenticate on a
 * 401, Retry-After on a throttled 429.
 *
 * TLS: with tls_cert_file and tls_key_file (TLS >= 1.2, h2 via ALPN); with tls_client_ca_file
 * too, clients must present a certificate that CA chain verifies (mTLS). pz_http_server_reload_tls
 * loads the files again for new connections; connections already open keep theirs.
 * If-None-Match reaches the core on GET inference routes only; a match is a 304 with ETag,
 * Cache-Control, the version header and CORS, and no body (and no Content-Length). HEAD is served
 * on every GET route: the same status and headers, no body.
 * Successful JSON bodies of at least compress_min_bytes are sent in the content coding the client
 * prefers (gateway/compress.h), with `Vary: Accept-Encoding` and, for a prepared response, the
 * coded representation's own ETag (server/core/etag.h); a prepared response's coded body is made
 * once and kept with it.
 *
 * Hardening (gateway/http_guard.h, server/net/): the port is refused when another process listens
 * on it; connections are capped in total and per client address; at the descriptor limit accepting
 * pauses instead of spinning; HTTP/1.1 without Host, and requests framed by both Content-Length and
 * Transfer-Encoding or by conflicting Content-Lengths, get 400 and the connection is closed; a POST
 * from a browser (Origin) must not have a CORS-safelisted type (415 otherwise); a request whose path
 * and headers exceed max_header_bytes gets 431. Stop closes idle connections and lets open ones
 * finish within shutdown_grace_ms. The admin listener is such a server too: it gets the same guard
 * and caps, with its own limits.
 */
#ifndef PZ_HTTP_SERVER_H
#define PZ_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "gateway/docs.h"
#include "server/core/buf.h"
#include "server/core/request.h"

/* Answers a local route (/healthz, /metrics): writes its body to out (an empty JSON body becomes
 * {"status":"SERVING"}) and returns the HTTP status (200, or 5xx when it cannot answer). Any loop
 * thread. */
typedef int (*pz_health_fn)(void *ctx, pz_buf *out);

/* Defaults of the limits below (why each: http_server.c). */
#define PZ_HTTP_DEFAULT_MAX_CONNECTIONS 8192
#define PZ_HTTP_DEFAULT_MAX_CONNECTIONS_PER_CLIENT 256
#define PZ_HTTP_DEFAULT_IDLE_TIMEOUT_MS 10000
#define PZ_HTTP_DEFAULT_MAX_HEADER_BYTES 10240
#define PZ_DEFAULT_SHUTDOWN_GRACE_MS 2000

typedef struct pz_http_options {
    const char *host;          /* listen address, e.g. "127.0.0.1", "0.0.0.0", "::" */
    int port;                  /* 0 picks a free port */
    int threads;               /* event loops, >= 1 */
    size_t max_body_bytes;     /* larger request bodies get 413; 0 = 1 MiB */
    const char *tls_cert_file; /* PEM chain; with tls_key_file turns on TLS (h2 via ALPN) */
    const char *tls_key_file;
    const char *tls_client_ca_file; /* PEM CA certificates: require and verify client certificates */
    const char *cors_allow_origin;  /* Access-Control-Allow-Origin; NULL = "*" */
    size_t compress_min_bytes;      /* compress JSON bodies from this size (gzip, br); 0 = never */
    pz_handle_fn handle;
    void *handle_ctx;
    /* Completes a request for a local /admin row with PZ_OK (then the row's callback answers) or an
     * error; NULL: those rows need nothing. */
    pz_handle_fn authorize_admin;
    void *authorize_admin_ctx;
    pz_health_fn health; /* GET /healthz; NULL = 200 {"status":"SERVING"} */
    void *health_ctx;
    pz_health_fn metrics; /* GET /metrics (admin API): the text exposition; NULL = 404 */
    void *metrics_ctx;
    pz_health_fn builtin_stats; /* GET /admin/builtin/stats (the embedded recommender's store); NULL = 404 */
    void *builtin_stats_ctx;
    pz_health_fn auth_stats; /* GET /admin/auth/stats (authentication counters); NULL = 404 */
    void *auth_stats_ctx;
    pz_docs *docs;               /* GET /openapi.json, /docs, /proto/... (gateway/docs.h); NULL = 404 */
    size_t max_local_body_bytes; /* cap on a local route's answer; 0 = 64 KiB (a /metrics page needs more) */
    pz_api api;                  /* whose routes to serve (server/core/rpc.h); PZ_API_PUBLIC by default */
    /* For listeners no browser may drive (the admin API): no CORS headers, and any request that
     * carries Origin or Sec-Fetch-Site (every POST a browser sends, and every request a current
     * browser sends: a page the operator opens cannot reach it, cross-site or through DNS
     * rebinding) is refused with 403 BrowserRequestRefused. curl, the CLIs and Prometheus send
     * neither. */
    bool refuse_browsers;
    /* Limits (README "Security and limits"); 0 = the default named in http_server.c. */
    size_t max_connections;            /* open connections in total (all loops) */
    size_t max_connections_per_client; /* open connections per client address */
    int idle_timeout_ms;               /* HTTP/1.1 keep-alive and HTTP/2 idle connections are closed after it */
    size_t max_header_bytes;           /* path + header names and values of one request; more: 431 */
    int shutdown_grace_ms;             /* how long stop lets open connections finish before closing them */
} pz_http_options;

typedef struct pz_http_server pz_http_server;

/* Binds and starts the loops. Returns 0 with *out and *bound_port, or -1 with err (nothing left
 * running). */
int pz_http_server_start(const pz_http_options *opts, pz_http_server **out, int *bound_port, char *err, size_t errlen);
/* Loads the certificate, key and client CA files again; new connections use them, open ones keep
 * theirs. Returns 0, or -1 with err (the previous ones stay in use). No-op without TLS. Any thread. */
int pz_http_server_reload_tls(pz_http_server *s, char *err, size_t errlen);
/* Stops accepting, stops the loops, joins their threads and frees everything. Call after the core
 * completed every request it accepted (pz_service_shutdown). */
void pz_http_server_stop(pz_http_server *s);

#endif
