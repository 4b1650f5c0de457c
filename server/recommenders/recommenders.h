/* The recommenders: the recommender port (server/core/recommender.h) that runs the variation an
 * inference chose, whatever its type.
 *
 * Variation types:
 *   builtin                                    the embedded recommender, inline (builtin.h)
 *   personalize-campaign/personalize-recommender  Amazon Personalize runtime (personalize.c)
 *   sagemaker                                  SageMaker runtime InvokeEndpoint (sagemaker.c)
 *   lambda / function                          Lambda Invoke (lambda.c)
 *   http                                       GET of a URL template (http.c)
 * The remote types run on the upstream engine (upstream.h): the calling thread only prepares and
 * submits; the completion runs on the engine thread. No type blocks the caller on the network.
 *
 * Per call:
 *   1. count = numResults (or the call's num_results: more when post-ranking rules apply), times
 *      the recommender's responsePostProcessor.lookAheadMultiplier when it has one (capped by
 *      lookAheadMaximumValue and 500; postprocess.h);
 *   2. the variation runs with deadline min(the client's deadline, now + its timeoutMs);
 *   3. when it fails with 429/500/502/503/504 and names a `fallback`, the fallback variation runs
 *      (chains followed; a 400 is never masked). call->served is the variation that answered,
 *      call->fallback_from the first that failed (the fronts send X-Personalization-Fallback);
 *   4. the responsePostProcessor (a Lambda) replaces the items when configured;
 *   5. call->done(call, err) exactly once, from any thread.
 * The decoration back-ends of the `dynamodb` and `personalize` item metadata types are here too.
 */
#ifndef PZ_RECOMMENDERS_H
#define PZ_RECOMMENDERS_H

#include "server/core/decorate.h"
#include "server/core/recommender.h"
#include "server/upstream/aws.h"
#include "server/recommenders/builtin.h"
#include "server/upstream/upstream.h"

typedef struct pz_recommenders pz_recommenders;

typedef struct pz_recommenders_options {
    pz_builtin *builtin; /* required; not owned */
    /* AWS credentials/region/endpoints: the process's one provider, created by main.c; not owned.
     * NULL: none (AWS variations then fail with 500 CredentialsNotFound). Recommenders never create
     * a provider of their own. */
    pz_aws *aws;
    const pz_upstream_options *upstream; /* the engine's limits; NULL: pz_upstream_options_default */
} pz_recommenders_options;

/* Creates the recommenders and starts the upstream engine thread. Never NULL. */
pz_recommenders *pz_recommenders_create(const pz_recommenders_options *opts);
/* Drains (no grace), stops the engine and frees. NULL is ignored. */
void pz_recommenders_destroy(pz_recommenders *r);

/* The port the service calls (invoke + drain). */
pz_recommender_port pz_recommenders_port(pz_recommenders *r);

/* Shutdown: no new upstream calls; waits up to grace_ms for those in flight, then ends the rest
 * with 503 ShuttingDown. Returns when every one completed. Logs the engine's counters. */
void pz_recommenders_drain(pz_recommenders *r, int grace_ms);

/* Decoration back-ends (server/core/decorate.h):
 *   dynamodb:    BatchGetItem from PersonalizationApiItemMetadata_{namespace} (dynamodb.h);
 *   personalize: nothing left to do: Personalize returned the metadata with the items (the
 *                variation asked for metadataColumns), and other types have none to give (501). */
pz_decorator_backend pz_recommenders_dynamodb_backend(pz_recommenders *r);
pz_decorator_backend pz_recommenders_personalize_backend(pz_recommenders *r);

#endif
