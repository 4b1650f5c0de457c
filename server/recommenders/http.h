/* URL building for the http variation type (http.c), exposed for unit tests. Private to
 * server/recommenders. */
#ifndef PZ_HTTP_RECOMMENDER_H
#define PZ_HTTP_RECOMMENDER_H

#include "server/core/recommender.h"

/* Longest URL an http variation sends (CloudFront's and API Gateway's limit). */
#define PZ_HTTP_MAX_URL_BYTES 8192

/* Expands the variation's URL template for q ({numResults} = count). Returns 0 and *url
 * (arena-owned), or -1 when the URL would exceed PZ_HTTP_MAX_URL_BYTES. */
int pz_http_build_url(const pz_query *q, const pz_variation *v, int count, pz_arena *arena, const char **url);

#endif
