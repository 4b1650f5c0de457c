/* The upstream engine: asynchronous HTTP(S) calls to remote recommenders and AWS services, so no
 * front thread (h2o loop, gRPC completion queue) ever waits on the network.
 *
 * One engine thread drives a libcurl multi handle:
 *   - connections are reused (keep-alive; HTTP/2 multiplexing where the server offers it over TLS);
 *   - every call has an absolute deadline; a call still queued or on the wire when it passes ends
 *     with PZ_UPSTREAM_TIMEOUT (the transfer is aborted);
 *   - at most `max_inflight` calls are on the wire and at most `max_queued` more wait for a slot;
 *     a call beyond that is rejected at once with PZ_UPSTREAM_QUEUE_FULL;
 *   - each upstream (request.breaker_key, default the URL's origin) has a circuit breaker
 *     (server/upstream/upstream_policy.h): connection failures, timeouts and 5xx answers count
 *     as failures; while it is open calls end at once with PZ_UPSTREAM_CIRCUIT_OPEN;
 *   - idempotent calls are retried after a connection failure or a 429/500/502/503/504 answer, at
 *     most `max_attempts` attempts in all, with exponential backoff and jitter, only while the
 *     deadline allows and only within the engine-wide retry budget. Other calls are never retried.
 *
 * Completion: the callback runs exactly once per submitted call, on the engine thread, or inline
 * in pz_upstream_submit on the caller's thread when the call is rejected there (queue full,
 * shutting down). It must not block; it may submit further calls.
 */
#ifndef PZ_UPSTREAM_H
#define PZ_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/metrics.h"
#include "server/upstream/aws.h"

typedef struct pz_upstream pz_upstream;

typedef struct pz_upstream_options {
    size_t max_inflight;         /* calls on the wire at once; default 256 */
    size_t max_queued;           /* calls waiting for a slot; default 1024 */
    size_t max_host_connections; /* connections per host; default 64 */
    size_t max_response_bytes;   /* default cap on a response body; default 4 MiB */
    int connect_timeout_ms;      /* default 2000 (the call's deadline still wins) */
    int max_attempts;            /* idempotent calls: attempts including the first; default 3 */
    int retry_base_ms;           /* first retry backoff; default 25, doubling, capped at 250 */
    double retry_ratio;          /* retry budget: extra calls per original call; default 0.2 */
    double retry_min_per_sec;    /* retry budget floor; default 10 */
    int breaker_threshold;       /* consecutive failures that open a breaker; default 5 */
    int breaker_open_ms;         /* how long a breaker stays open before a probe; default 5000 */
    /* Where the engine records its metrics (server/core/metrics.h), or NULL: per upstream (the
     * breaker key) pz_upstream_calls_total{upstream, outcome}, pz_upstream_call_duration_seconds
     * (the upstream's own time, pz_upstream_response.upstream_us) and pz_upstream_breaker_state
     * (0 closed, 1 open, 2 half-open, as of its last call); and, read at scrape time,
     * pz_upstream_inflight, pz_upstream_queued and pz_upstream_retries_total. The registry must
     * outlive the engine's last scrape. */
    pz_metrics *metrics;
} pz_upstream_options;

/* The defaults documented above. */
void pz_upstream_options_default(pz_upstream_options *o);

/* Initializes libcurl (once per process) and starts the engine thread. opts may be NULL for
 * defaults. Never NULL. */
pz_upstream *pz_upstream_create(const pz_upstream_options *opts);
/* Drains (pz_upstream_drain with no grace) and stops the thread. NULL is ignored. */
void pz_upstream_destroy(pz_upstream *u);

/* Stops accepting calls (later submits end inline with PZ_UPSTREAM_SHUTDOWN), waits up to
 * grace_ms for the calls in progress, then ends the rest with PZ_UPSTREAM_SHUTDOWN. Returns when
 * every callback has run. Any thread but the engine's. */
void pz_upstream_drain(pz_upstream *u, int grace_ms);

typedef struct pz_upstream_request {
    const char *method;         /* "GET" or "POST" */
    const char *url;            /* http:// or https:// */
    const char *const *headers; /* "Name: value" lines, n_headers of them */
    size_t n_headers;
    const char *body; /* POST body (may be NULL with body_len 0) */
    size_t body_len;
    /* SigV4: who signs for which scope (server/upstream/aws.h); NULL for unsigned calls. Signed
     * once, at submit (pz_aws_sign): every header given here is signed, plus Host, X-Amz-Date and
     * the credentials' session token (sent as X-Amz-Security-Token). A call that cannot be signed
     * ends with CONNECT_FAILED. */
    const pz_aws_signing *signing;
    const char *breaker_key;   /* NULL: the URL's scheme://host:port */
    int64_t deadline_ms;       /* absolute wall-clock deadline (ms since epoch); 0: 30 s from now */
    int64_t not_before_ms;     /* do not start before this time (delayed retries); 0: now */
    bool idempotent;           /* may be retried */
    size_t max_response_bytes; /* 0: the engine default */
} pz_upstream_request;

typedef enum pz_upstream_outcome {
    PZ_UPSTREAM_RESPONSE = 0,   /* an HTTP response arrived (any status) */
    PZ_UPSTREAM_QUEUE_FULL,     /* rejected: max_inflight + max_queued calls already live */
    PZ_UPSTREAM_CIRCUIT_OPEN,   /* rejected: the upstream's breaker is open */
    PZ_UPSTREAM_TIMEOUT,        /* the deadline passed, queued or on the wire */
    PZ_UPSTREAM_CONNECT_FAILED, /* no response: DNS, refused, reset, TLS, connect timeout */
    PZ_UPSTREAM_TOO_LARGE,      /* the body exceeded max_response_bytes */
    PZ_UPSTREAM_SHUTDOWN,       /* the engine is stopping */
} pz_upstream_outcome;

typedef struct pz_upstream_response {
    pz_upstream_outcome outcome;
    long status;      /* HTTP status (RESPONSE only) */
    const char *body; /* NUL-terminated, never NULL; engine-owned, valid during the callback */
    size_t body_len;
    const char *amzn_error_type; /* X-Amzn-ErrorType response header, or NULL */
    const char *function_error;  /* X-Amz-Function-Error response header (Lambda), or NULL */
    const char *detail;          /* what went wrong when outcome != RESPONSE ("" otherwise) */
    int attempts;                /* transfers made (0 when rejected before the first) */
    /* The upstream's own time in µs, summed over the attempts (retry backoff not included; 0 when
     * no transfer was made): per attempt, from libcurl's timings, connection set-up (CONNECT or
     * APPCONNECT time) plus TOTAL - PRETRANSFER (request sent -> transfer done). The request
     * building, SigV4 signing and sending in between are the server's own work and not counted. */
    int64_t upstream_us;
    int64_t end_us; /* pz_mono_us() (server/core/request.h) when the call completed */
} pz_upstream_response;

typedef void (*pz_upstream_cb)(void *ctx, const pz_upstream_response *res);

/* Submits a call. Everything in req is copied; the caller may free it on return. `cb(ctx, res)`
 * runs exactly once (see the top of this file for which thread). Any thread. */
void pz_upstream_submit(pz_upstream *u, const pz_upstream_request *req, pz_upstream_cb cb, void *ctx);

typedef struct pz_upstream_stats {
    unsigned long submitted, completed, retries, rejected_queue_full, rejected_circuit_open, timeouts, connect_failures;
    size_t live; /* calls submitted and not yet completed */
} pz_upstream_stats;

/* A snapshot of the counters. Any thread. */
void pz_upstream_get_stats(pz_upstream *u, pz_upstream_stats *out);

#endif
