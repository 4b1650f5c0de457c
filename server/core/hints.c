#include "server/core/hints.h"

#include "server/core/log.h"

#define BOTH_FRONTS (PZ_FRONT_REST | PZ_FRONT_GRPC)

const pz_hint_header pz_hint_headers[] = {
    {"x-personalization-config-version", offsetof(pz_response_hints, config_version), BOTH_FRONTS, PZ_HINT_KEEP, false},
    /* Cacheable routes follow the recommender's policy and send nothing without one (spec §4.1);
     * the others say explicitly that nothing may store them. */
    {"cache-control", offsetof(pz_response_hints, cache_control), BOTH_FRONTS, PZ_HINT_NO_STORE, false},
    /* A validator on an answer that is never stored would invite conditional requests that can
     * never be answered with 304. */
    {"etag", offsetof(pz_response_hints, etag), BOTH_FRONTS, PZ_HINT_OMIT, false},
    /* Vary is for HTTP caches and CDNs; gRPC responses pass through none. */
    {"vary", offsetof(pz_response_hints, vary), PZ_FRONT_REST, PZ_HINT_KEEP, false},
    {"x-personalization-variation", offsetof(pz_response_hints, variation), BOTH_FRONTS, PZ_HINT_KEEP, false},
    {"x-personalization-experiment", offsetof(pz_response_hints, experiment), BOTH_FRONTS, PZ_HINT_KEEP, false},
    {"x-personalization-fallback", offsetof(pz_response_hints, fallback_from), BOTH_FRONTS, PZ_HINT_KEEP, false},
    /* What the access log names the request by: logs and a client's report meet on it. */
    {"x-request-id", offsetof(pz_response_hints, request_id), BOTH_FRONTS, PZ_HINT_KEEP, true},
};

_Static_assert(sizeof pz_hint_headers / sizeof pz_hint_headers[0] == PZ_HINT_HEADERS_COUNT,
               "PZ_HINT_HEADERS_COUNT must match the table");

const pz_hint_header pz_error_hint_headers[] = {
    /* RFC 9110 §11.6.1 challenges are an HTTP thing: a gRPC client reads UNAUTHENTICATED. */
    {"www-authenticate", offsetof(pz_response_hints, www_authenticate), PZ_FRONT_REST, PZ_HINT_KEEP, true},
    {"retry-after", offsetof(pz_response_hints, retry_after), BOTH_FRONTS, PZ_HINT_KEEP, true},
};

_Static_assert(sizeof pz_error_hint_headers / sizeof pz_error_hint_headers[0] == PZ_ERROR_HINT_HEADERS_COUNT,
               "PZ_ERROR_HINT_HEADERS_COUNT must match the table");

const char *pz_hint_field(const pz_hint_header *row, const pz_response_hints *hints)
{
    return *(const char *const *)((const char *)hints + row->offset);
}

const char *pz_hint_value(const pz_hint_header *row, const pz_response_hints *hints, pz_front front, bool cacheable)
{
    if ((row->fronts & (unsigned)front) == 0)
        return NULL;
    if (!cacheable && row->uncacheable == PZ_HINT_OMIT)
        return NULL;
    if (!cacheable && row->uncacheable == PZ_HINT_NO_STORE)
        return "no-store";
    const char *v = pz_hint_field(row, hints);
    if (v != NULL && !pz_header_value_valid(v)) {
        pz_warn("response header %s not sent: its value holds a control character", row->name);
        return NULL;
    }
    return v;
}

bool pz_header_value_valid(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}
