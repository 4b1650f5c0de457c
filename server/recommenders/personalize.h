/* Request building for the Amazon Personalize variation types (personalize.c), exposed for unit
 * tests. Private to server/recommenders. */
#ifndef PZ_PERSONALIZE_H
#define PZ_PERSONALIZE_H

#include <jansson.h>
#include <stdbool.h>

#include "server/core/recommender.h"

/* Personalize returns at most this many items when it also returns item metadata (§2.6). */
#define PZ_PERSONALIZE_MAX_RESULTS_WITH_METADATA 50

/* The filter ARN for a `filter` request value: ARNs as given, names built from the variation's
 * ARN (partition, region, account). Arena-owned (or `filter` itself); NULL when the variation ARN
 * is malformed. */
const char *pz_personalize_filter_arn(const char *variation_arn, const char *filter, pz_arena *arena);

/* The filter that applies (spec §3.5): the request's, else the first configured filter without a
 * condition or with `user-required` and a user. NULL when none. */
const char *pz_personalize_choose_filter(const pz_query *q, const pz_variation *v, pz_arena *arena);

/* True when Personalize should return item metadata (inferenceItemMetadata.type personalize and
 * decorateItems). */
bool pz_personalize_wants_metadata(const pz_query *q, const pz_variation *v);

/* The GetRecommendations / GetPersonalizedRanking body for inf (count = items wanted, look-ahead
 * applied). New reference; NULL with *problem (a 400 message) when the request cannot be served. */
json_t *pz_personalize_request(const pz_query *q, const pz_variation *v, int count, pz_arena *arena,
                               const char **problem);

#endif
