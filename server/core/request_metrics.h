/* The requests' metrics (module prefix pz_request_metrics): every finished request, whichever
 * front it came through, is one observation of
 *
 *   pz_request_duration_seconds{protocol, route, namespace, recommender, variation, status_class}
 *       server-side duration (receipt to completion, before the response is written), histogram
 *   pz_requests_total{same labels}
 *       the same observations counted (rendered from the histogram's counts: one recording)
 *
 * Labels stay bounded: protocol is the front's name ("rest", "rest-h2", "grpc"), route the route
 * template or RPC name, namespace/recommender/variation the configured keys the request resolved
 * to ("" when it did not: unknown names never become labels), status_class "2xx".."5xx" (a gRPC
 * status is classed by its usual HTTP mapping: OK 2xx, CANCELLED, INVALID_ARGUMENT, NOT_FOUND,
 * ALREADY_EXISTS, PERMISSION_DENIED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION, ABORTED,
 * OUT_OF_RANGE, UNAUTHENTICATED 4xx, the others 5xx).
 *
 * Recording is one lock-free series lookup and one histogram observation (server/core/metrics.h).
 * Installed as the request-finished hook (pz_request_set_finished_hook), it runs on whichever
 * thread completed the request. */
#ifndef PZ_REQUEST_METRICS_H
#define PZ_REQUEST_METRICS_H

#include "server/core/metrics.h"
#include "server/core/request.h"

typedef struct pz_request_metrics pz_request_metrics;

/* Registers the families in m (which must outlive the result). Never NULL. */
pz_request_metrics *pz_request_metrics_create(pz_metrics *m);
void pz_request_metrics_destroy(pz_request_metrics *rm);

/* Records one finished request: `what` is its route or RPC, `code` the HTTP status (protocol
 * "rest..."), else the gRPC status code. A pz_request_finished_fn (ctx: the pz_request_metrics). */
void pz_request_metrics_record(void *rm, const pz_request *req, const char *what, int code);

/* "2xx".."5xx" for an HTTP status (rest = true) or a gRPC status code. */
const char *pz_status_class(bool rest, int code);

#endif
