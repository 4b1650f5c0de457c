/* The request context: everything a front (REST or gRPC) hands to the core for one call, and
 * everything the core hands back. The core knows nothing of HTTP or gRPC; a front only translates.
 *
 * Life cycle:
 *   1. The front owns the pz_request and its arena. It fills the inputs (pz_request_init, then the
 *      fields marked "in") and calls pz_service_handle().
 *   2. The core completes the request exactly once by setting the outputs and calling
 *      `on_done(req)`. That may happen inside pz_service_handle() (fast paths such as the builtin
 *      recommender and validation errors) or later on another thread (event writes, remote
 *      recommenders). The front must be ready for both.
 *   3. After on_done the core never touches the request again; the front frees it whenever it
 *      likes (usually after writing the response).
 */
#ifndef PZ_REQUEST_H
#define PZ_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "server/core/clock.h"
#include "server/core/mem.h"
#include "server/core/prepared.h"
#include "server/core/rpc.h"
#include "server/core/status.h"

/* A request header (REST) or metadata entry (gRPC). Names are lower-case. Not NUL-terminated. */
typedef struct pz_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} pz_header;

/* The time upstream calls of one request spent on the wire, in microseconds (0 = no upstream
 * call): for each completed call its pz_upstream_response.upstream_us (libcurl's timings:
 * connection set-up plus request sent -> transfer done, summed over its attempts; signing and
 * retry backoff excluded); over the calls of one request (DynamoDB chunks, the post-processor) the
 * wall-clock span in which at least one call was on the wire, so parallel calls are not counted
 * twice. */
typedef struct pz_upstream_timing {
    int64_t us;
    int64_t until_us; /* private to pz_upstream_timing_add: end of the last span */
} pz_upstream_timing;

/* Accounts one completed upstream call: it was on the wire for `us` microseconds (summed over its
 * attempts) and completed at monotonic time end_us (pz_mono_us). The call's span is taken as
 * [end_us - us, end_us]; spans overlapping earlier ones count only once (calls must be reported in
 * completion order, which the single engine thread guarantees). us <= 0 is ignored. */
void pz_upstream_timing_add(pz_upstream_timing *t, int64_t us, int64_t end_us);

/* What the core says about a successful response besides its body. Strings live in the request
 * arena. NULL means "send no such header". */
typedef struct pz_response_hints {
    const char *config_version; /* X-Personalization-Config-Version */
    const char *cache_control;  /* Cache-Control */
    const char *etag;           /* ETag, quoted */
    const char *vary;           /* Vary: the request headers automatic context consulted (the
                                 * context stage); the cache keys on what they resolved to */
    const char *variation;      /* X-Personalization-Variation: the variation key that served */
    const char *experiment;     /* X-Personalization-Experiment: "feature=<f>; variation=<v>" when
                                 * an experiment decided (the assign stage, issue #14) */
    const char *fallback_from;  /* X-Personalization-Fallback: the variation that failed when its
                                   `fallback` variation served (then `variation` names the latter) */
    /* On errors only (server/core/access.h; pz_error_hint_headers in server/core/hints.h): the
     * challenges of a 401 (REST WWW-Authenticate) and the seconds after which a throttled call
     * would be admitted (REST Retry-After, gRPC retry-after trailer). */
    const char *www_authenticate;
    const char *retry_after;
    bool not_modified; /* if-none-match matched: REST 304 / gRPC not_modified flag */
    const char *cache; /* response cache outcome for the access log ("hit", "miss",
                        * "stale", "stale-if-error", "coalesced", "bypass"); NULL = "-" */
    /* The upstreams' own time for this request (pz_upstream_timing above); the access log prints
     * it as upstream_ms when non-zero, so dur_ms - upstream_ms is the server's own added time. */
    pz_upstream_timing upstream;
    /* X-Request-Id: the caller's (when it sent a valid one) or one minted here
     * (pz_request_assign_id); sent with errors too */
    const char *request_id;
    /* The configured namespace / recommender the request resolved to (arena copies), for the
     * access log and the metrics' labels; NULL when it did not resolve (unknown names stay out of
     * the labels, so their sets stay bounded). */
    const char *namespace_key;
    const char *recommender_key;
} pz_response_hints;

typedef struct pz_request pz_request;
typedef void (*pz_request_done_cb)(pz_request *req);

struct pz_request {
    /* in */
    pz_rpc rpc;
    const ProtobufCMessage *message; /* the decoded request message (type pz_rpc_get(rpc)->request) */
    /* The protobuf bytes `message` was decoded from, when the front decoded it from protobuf (gRPC),
     * else NULL: the core checks the strings there, where an embedded NUL is still visible
     * (server/core/message_check.h). Must stay valid until on_done. */
    const uint8_t *wire;
    size_t wire_len;
    const pz_header *headers;
    size_t n_headers;
    const char *protocol; /* "rest" or "grpc", for logs */
    /* The client's "ip:port" (NULL when unknown), formatted only when asked for
     * (pz_request_client_addr): set client_addr, or client_addr_fn to format it into the arena. */
    const char *client_addr;
    const char *(*client_addr_fn)(const pz_request *req);
    const char *principal;     /* out: who the core authenticated ("key:NAME", "token:SUBJECT"), for the
                                * access log; NULL when nobody was */
    const char *if_none_match; /* raw If-None-Match value or NULL */
    /* REST: the query string's parameters, percent-decoded, in order, names as sent (compare them
     * exactly); gRPC: none. Only `http` variations read parameters the messages do not name. */
    const pz_header *query_params;
    size_t n_query_params;
    /* REST routes whose body a namespace may forward as it is (POST /events): the raw body, and
     * the error turning it into `message` gave, if any (`message` then holds the path's fields
     * only). The core answers that error unless the namespace forwards bodies as they are
     * (server/core/event_validation.h). NULL otherwise. */
    const char *body;
    size_t body_len;
    const pz_error *body_error;
    bool uncacheable;         /* the front's route is never cached (POST rerank, spec §2.5): the response
                               * cache is neither read nor written, and no ETag is made */
    int64_t deadline_ms;      /* absolute wall-clock deadline (ms since epoch), 0 = none */
    int64_t received_ms;      /* wall-clock time of receipt (ms since epoch) */
    int64_t received_mono_us; /* monotonic time of receipt (µs, pz_mono_us): access-log duration */
    pz_arena *arena;          /* all core allocations for this request come from here */
    pz_request_done_cb on_done;
    void *front_data; /* the front's own pointer, untouched by the core */

    /* out: valid when on_done runs */
    pz_status status;           /* PZ_OK or the error's status */
    pz_error error;             /* when status != PZ_OK */
    ProtobufCMessage *response; /* when status == PZ_OK: type pz_rpc_get(rpc)->response, arena-owned;
                                 * NULL when the answer came prepared from the response cache */
    /* When status == PZ_OK and non-NULL: the response already packed (and rendered as JSON), see
     * server/core/prepared.h. A front sends these bytes as they are instead of encoding
     * `response`, except when hints.not_modified: then `response` is the not_modified answer and
     * `prepared` only names the representations (their ETags). The arena holds a reference
     * (dropped when the arena is destroyed); a front that sends without copying takes its own
     * with pz_prepared_ref and drops it once sent. */
    const pz_prepared_response *prepared;
    pz_response_hints hints;
};

/* How a front hands one decoded request to the core (pz_service_handle fits); the callee must
 * complete it exactly once. Keeps the fronts free of any dependency on the service itself. */
typedef void (*pz_handle_fn)(void *ctx, pz_request *req);

/* The first of headers[0..n) named `lname` (lower case; compared case-insensitively), or NULL. */
const pz_header *pz_headers_find(const pz_header *headers, size_t n, const char *lname);

/* The first of params[0..n) named exactly `name` (query parameters are case-sensitive), or NULL. */
const pz_header *pz_query_param_find(const pz_header *params, size_t n, const char *name);

/* Zeroes the request and sets the arena and the receipt time (now). */
void pz_request_init(pz_request *req, pz_arena *arena);
/* Value of the first header named `lname` (compared case-insensitively), NUL-terminated in the
 * arena, or NULL when absent. */
const char *pz_request_header(pz_request *req, const char *lname);

/* Core side: complete with an error (message is printf-formatted into the arena) / with success.
 * Each calls on_done; call exactly one of them exactly once. */
void pz_request_fail(pz_request *req, pz_status status, const char *type, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void pz_request_succeed(pz_request *req, ProtobufCMessage *response);

/* Sets req->hints.request_id: the request's `x-request-id` header when it is 1 to
 * PZ_REQUEST_ID_MAX characters of [A-Za-z0-9._:-], else a new id (16 hex characters, unique in the
 * process). Fronts call it once the headers are in. */
#define PZ_REQUEST_ID_MAX 128
void pz_request_assign_id(pz_request *req);

/* The trace id of a W3C Trace Context `traceparent` value ("00-<32 hex trace id>-<16 hex parent
 * id>-<2 hex flags>"; later versions may append fields): true with the 32 lower-case hex
 * characters and a NUL in out, false when the value is malformed (an all-zero id, version ff,
 * upper-case hex, wrong lengths). */
bool pz_traceparent_trace_id(const char *value, size_t len, char out[33]);

/* The client's "ip:port", or NULL: client_addr, or client_addr_fn's answer. */
const char *pz_request_client_addr(const pz_request *req);

/* What a finished request reports besides its access line: the metrics recorder (see
 * server/core/request_metrics.h). Set once, before the fronts start; NULL: nothing. */
typedef void (*pz_request_finished_fn)(void *ctx, const pz_request *req, const char *what, int code);
void pz_request_set_finished_hook(pz_request_finished_fn fn, void *ctx);

/* Called by the fronts once per finished request: one access-log line (info level; JSON Lines
 * with --log-format json) with protocol, what (route or RPC), status code as sent (HTTP status or
 * gRPC code), duration since receipt, client, principal, variation, cache outcome, request id and
 * the traceparent's trace id; then the finished hook. Formats nothing when info lines are not
 * written. */
void pz_request_log_access(const pz_request *req, const char *what, int code);

#endif
