/* The `explain` object of an inference response (proto: personalization.v1.Explain): how the
 * request was personalized, built from what the sequencer (server/core/inference.h) resolved.
 *
 *   context           the variation's autoContext as resolved: each field {values, type}, exactly
 *                     the shape of spec §6.2 (values are strings, numbers or booleans)
 *   sentContext       the context the recommender received (explicit entries, then automatic)
 *   autoFilterValues  the chosen filter's autoDynamicFilterValues as resolved
 *   filterValues      the filter values the recommender received
 *   filter            the filter that applies (the request's `filter`, or a configured ARN)
 *   variation, cache  the variation that served; the response cache outcome ("bypass" when the
 *                     response is not cacheable or there is no cache)
 *   upstreamMs        time upstream calls spent on the wire
 *   vary              the headers the rules consulted
 *   timeZone,         the zone time rules used and the wall clock they saw (only when a time rule
 *   localTime         ran)
 * Strings that are not valid UTF-8 (header values may carry any bytes) have each invalid byte
 * replaced by '?', so the message stays valid protobuf for every client.
 *
 * Pure: everything comes in, the message is built in the arena. Any thread.
 */
#ifndef PZ_EXPLAIN_H
#define PZ_EXPLAIN_H

#include <protobuf-c/protobuf-c.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/context.h"
#include "server/core/mem.h"
#include "server/core/query.h"
#include "server/core/viewer.h"

typedef struct pz_explain_input {
    const pz_resolved_context *context;       /* may be NULL */
    const pz_resolved_context *filter_values; /* may be NULL */
    const pz_query *query;                    /* its context and filterValues as sent */
    const char *filter;                       /* NULL: no filter applies */
    const char *variation;
    const char *cache; /* NULL: "bypass" */
    int64_t upstream_us;
    const pz_viewer *viewer; /* NULL when no rule ran */
} pz_explain_input;

/* Builds the Explain message in the arena. */
Personalization__V1__Explain *pz_explain_build(const pz_explain_input *in, pz_arena *arena);

/* Sets `explain` on a RecommendationResponse or RerankResponse. */
void pz_explain_attach(ProtobufCMessage *response, Personalization__V1__Explain *explain);

#endif
