/* Response hints on the wire: one table names, for each pz_response_hints field that leaves the
 * server, the header (REST) or initial-metadata key (gRPC) it is sent under and when it applies.
 * Both fronts walk the same rows in the same order, so their names and order cannot drift apart,
 * and a new hint is one row here plus its field in server/core/request.h.
 *
 * pz_hint_headers go out with successful responses (REST 200 and 304, gRPC OK); an error carries
 * only their rows marked `on_errors` (the request id, which the caller needs most when something
 * failed) plus pz_error_hint_headers (REST headers, gRPC trailing metadata). Read-only tables and
 * pure functions: any thread.
 */
#ifndef PZ_HINTS_H
#define PZ_HINTS_H

#include <stdbool.h>
#include <stddef.h>

#include "server/core/request.h"

/* The fronts, as bits of pz_hint_header.fronts. */
typedef enum pz_front {
    PZ_FRONT_REST = 1u << 0,
    PZ_FRONT_GRPC = 1u << 1,
} pz_front;

/* What a hint becomes on a response that must not be stored (the REST routes that are not
 * cacheable: POST rerank and POST events). gRPC calls have no such form. */
typedef enum pz_hint_uncacheable {
    PZ_HINT_KEEP = 0, /* sent as the core set it */
    PZ_HINT_OMIT,     /* not sent */
    PZ_HINT_NO_STORE, /* "no-store", whatever the core set */
} pz_hint_uncacheable;

typedef struct pz_hint_header {
    const char *name;                /* header / metadata key, lower-case */
    size_t offset;                   /* offsetof(pz_response_hints, field); the field is a const char * */
    unsigned fronts;                 /* the PZ_FRONT_* bits that send it */
    pz_hint_uncacheable uncacheable; /* on a response that must not be stored */
    bool on_errors; /* sent with errors (REST error bodies, gRPC error statuses); true in pz_error_hint_headers */
} pz_hint_header;

#define PZ_HINT_HEADERS_COUNT 8

/* The rows, in the order both fronts send them. */
extern const pz_hint_header pz_hint_headers[PZ_HINT_HEADERS_COUNT];

#define PZ_ERROR_HINT_HEADERS_COUNT 2

/* The rows of an error response (401 challenges, 429 Retry-After), in the order both fronts send
 * them; their `uncacheable` is PZ_HINT_KEEP. */
extern const pz_hint_header pz_error_hint_headers[PZ_ERROR_HINT_HEADERS_COUNT];

/* The field of `hints` that `row` names: what pz_hint_value makes the row's value of, and nothing
 * else, so equal fields make equal values (a front may keep a response's values and compare the
 * fields of the next request instead of making them again). */
const char *pz_hint_field(const pz_hint_header *row, const pz_response_hints *hints);
/* The value `front` sends for `row` (NULL: send nothing). `cacheable` says whether the response
 * may be stored: the REST route's flag; gRPC passes true (the core's hints decide alone). A value
 * that is not a valid header value (pz_header_value_valid) is never sent: NULL, and a warning
 * naming the header is logged. */
const char *pz_hint_value(const pz_hint_header *row, const pz_response_hints *hints, pz_front front, bool cacheable);

/* True when v can be sent as one header field value: no control character (U+0000-U+001F, U+007F;
 * CR and LF would split the header, RFC 9110 §5.5). Configuration values that reach headers are
 * checked at load; this is the last check for values computed at run time. */
bool pz_header_value_valid(const char *v);

#endif
