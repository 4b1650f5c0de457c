/* Request counts and durations by protocol, route, configured names and status class
 * (request_metrics.h). */
#include "server/core/request_metrics.h"

#include <stdlib.h>
#include <string.h>

#include "server/core/clock.h"
#include "server/core/mem.h"

struct pz_request_metrics {
    pz_metric_family *requests;
};

static const char *const LABELS[] = {"protocol", "route", "namespace", "recommender", "variation", "status_class"};
#define N_LABELS (sizeof LABELS / sizeof LABELS[0])

/* gRPC status code -> the class of its usual HTTP status (google.api.http / grpc-gateway). */
static const char *const GRPC_CLASS[] = {
    "2xx", /* 0 OK */
    "4xx", /* 1 CANCELLED (499) */
    "5xx", /* 2 UNKNOWN */
    "4xx", /* 3 INVALID_ARGUMENT */
    "5xx", /* 4 DEADLINE_EXCEEDED */
    "4xx", /* 5 NOT_FOUND */
    "4xx", /* 6 ALREADY_EXISTS */
    "4xx", /* 7 PERMISSION_DENIED */
    "4xx", /* 8 RESOURCE_EXHAUSTED */
    "4xx", /* 9 FAILED_PRECONDITION */
    "4xx", /* 10 ABORTED (409) */
    "4xx", /* 11 OUT_OF_RANGE */
    "5xx", /* 12 UNIMPLEMENTED */
    "5xx", /* 13 INTERNAL */
    "5xx", /* 14 UNAVAILABLE */
    "5xx", /* 15 DATA_LOSS */
    "4xx", /* 16 UNAUTHENTICATED */
};

const char *pz_status_class(bool rest, int code)
{
    static const char *const HTTP_CLASS[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    if (rest)
        return code >= 100 && code < 600 ? HTTP_CLASS[code / 100 - 1] : "5xx";
    return code >= 0 && (size_t)code < sizeof GRPC_CLASS / sizeof GRPC_CLASS[0] ? GRPC_CLASS[code] : "5xx";
}

pz_request_metrics *pz_request_metrics_create(pz_metrics *m)
{
    pz_request_metrics *rm = pz_calloc(1, sizeof *rm);
    rm->requests = pz_metrics_family(
        m, &(pz_metric_family_options){
               .type = PZ_METRIC_HISTOGRAM,
               .name = "pz_request_duration_seconds",
               .help = "Server-side duration of requests, from receipt to completion (before the response is written).",
               .labels = LABELS,
               .n_labels = N_LABELS,
               .bounds = PZ_METRICS_DURATION_BOUNDS,
               .n_bounds = PZ_METRICS_DURATION_BOUNDS_COUNT,
               .count_name = "pz_requests_total",
               .count_help = "Requests finished, by protocol, route or RPC, configured names and status class."});
    return rm;
}

void pz_request_metrics_destroy(pz_request_metrics *rm)
{
    free(rm);
}

void pz_request_metrics_record(void *ctx, const pz_request *req, const char *what, int code)
{
    pz_request_metrics *rm = ctx;
    const char *protocol = req->protocol != NULL ? req->protocol : "";
    const char *values[N_LABELS] = {protocol,
                                    what,
                                    req->hints.namespace_key,
                                    req->hints.recommender_key,
                                    req->hints.variation,
                                    pz_status_class(strncmp(protocol, "rest", 4) == 0, code)};
    pz_metric_series *s = pz_metric_series_get(rm->requests, values);
    pz_metric_observe(s, (double)(pz_mono_us() - req->received_mono_us) / 1e6);
}
