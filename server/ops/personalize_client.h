/* A small blocking client of the Amazon Personalize control plane (module prefix
 * pz_personalize_client), for `generate-config`: the AWS JSON 1.1 protocol (POST / with
 * `X-Amz-Target: AmazonPersonalize.<Operation>` and a JSON body), signed with SigV4 (signing name
 * "personalize") by the typed signer of server/upstream, with pagination and retries.
 *
 *   - Endpoint: AWS_ENDPOINT_URL_PERSONALIZE, else AWS_ENDPOINT_URL, else
 *     https://personalize.<region>.amazonaws.com (server/upstream/aws.h).
 *   - Retries: throttling (ThrottlingException, HTTP 429, ...), 5xx answers and network errors are
 *     retried up to PZ_PERSONALIZE_MAX_ATTEMPTS attempts in all, with exponential
 *     backoff from PZ_PERSONALIZE_BACKOFF_MS (doubling, capped at PZ_PERSONALIZE_BACKOFF_CAP_MS, with
 *     jitter); anything else fails at once with the service's error type and message.
 *   - Pagination: pz_personalize_list follows `nextToken` until the service stops sending one; a
 *     token that repeats, or more than PZ_PERSONALIZE_MAX_PAGES pages, is an error.
 *
 * One client per thread; calls block (never use it on an event loop).
 */
#ifndef PZ_PERSONALIZE_CLIENT_H
#define PZ_PERSONALIZE_CLIENT_H

#include <jansson.h>
#include <stddef.h>

#include "server/upstream/aws.h"

#define PZ_PERSONALIZE_MAX_ATTEMPTS 8
#define PZ_PERSONALIZE_BACKOFF_MS 100
#define PZ_PERSONALIZE_BACKOFF_CAP_MS 5000
#define PZ_PERSONALIZE_MAX_PAGES 10000
#define PZ_PERSONALIZE_PAGE_SIZE 100 /* maxResults asked for: the most the List operations allow */

typedef struct pz_personalize_client pz_personalize_client;

/* aws: the credentials provider (not owned). region: required. Never NULL. */
pz_personalize_client *pz_personalize_client_create(pz_aws *aws, const char *region);
void pz_personalize_client_destroy(pz_personalize_client *c);

/* Calls `operation` (e.g. "DescribeCampaign") with the JSON object `request` (borrowed). Returns the
 * answer (a new reference), or NULL with a message in err. */
json_t *pz_personalize_call(pz_personalize_client *c, const char *operation, const json_t *request, char *err,
                            size_t errlen);

/* Calls a List operation page by page (request borrowed; maxResults and nextToken are added) and
 * appends every element of each answer's `items_key` array to `out`. Returns 0, or -1 with err. */
int pz_personalize_list(pz_personalize_client *c, const char *operation, const json_t *request, const char *items_key,
                        json_t *out, char *err, size_t errlen);

/* Calls made so far (retries included) and retries after throttling, for the summary. */
void pz_personalize_client_counts(const pz_personalize_client *c, unsigned long *calls, unsigned long *throttled);

#endif
