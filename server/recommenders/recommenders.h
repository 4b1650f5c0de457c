/* The recommenders: one entry point that runs the variation an inference resolved to.
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
 *   1. count = numResults, times the recommender's responsePostProcessor.lookAheadMultiplier when
 *      it has one (capped by lookAheadMaximumValue and 500; postprocess.h);
 *   2. the variation runs with deadline min(the client's deadline, now + its timeoutMs);
 *   3. when it fails with 429/500/502/503/504 and names a `fallback`, the fallback variation runs
 *      (chains followed; a 400 is never masked). The response then says so: hints.variation is
 *      the variation that served, hints.fallback_from the first that failed
 *      (X-Personalization-Fallback / x-personalization-fallback);
 *   4. the responsePostProcessor (a Lambda) replaces the items when configured;
 *   5. pz_inference_recommended(inf, err) exactly once, from any thread.
 * Decoration then runs in the inference pipeline (server/core/decorate.h); the backends for the
 * `dynamodb` and `personalize` item metadata types are here (pz_recommenders_decorate_*).
 */
#ifndef PZ_RECOMMENDERS_H
#define PZ_RECOMMENDERS_H

#include "server/core/inference.h"
#include "server/upstream/aws.h"
#include "server/recommenders/builtin.h"
#include "server/upstream/upstream.h"

typedef struct pz_recommenders pz_recommenders;

typedef struct pz_recommenders_options {
    pz_builtin *builtin; /* required; not owned */
    /* AWS credentials/region/endpoints: the process's one provider, created by main.c; not owned.
     * NULL: the one set with pz_recommenders_set_default_aws, else none (AWS variations then fail
     * with 500 CredentialsNotFound). Recommenders never create a provider of their own. */
    pz_aws *aws;
    const pz_upstream_options *upstream; /* the engine's limits; NULL: pz_upstream_options_default */
} pz_recommenders_options;

/* Creates the recommenders and starts the upstream engine thread. Never NULL. */
pz_recommenders *pz_recommenders_create(const pz_recommenders_options *opts);
/* Drains (no grace), stops the engine and frees. NULL is ignored. */
void pz_recommenders_destroy(pz_recommenders *r);

/* The provider recommenders created without options.aws use (not owned; it must outlive them).
 * For main.c while the service (server/core/service.c) creates the recommenders without passing
 * one through. Main thread, before pz_recommenders_create. */
void pz_recommenders_set_default_aws(pz_aws *aws);

/* Runs inf->variation for inf; completes with pz_inference_recommended. Any thread. */
void pz_recommenders_invoke(pz_recommenders *r, pz_inference *inf);

/* Shutdown: no new upstream calls; waits up to grace_ms for those in flight, then ends the rest
 * with 503 ShuttingDown. Returns when every one completed. Logs the engine's counters. */
void pz_recommenders_drain(pz_recommenders *r, int grace_ms);

/* Decoration backends (pz_decorator_backend in server/core/decorate.h; ctx is the
 * pz_recommenders). Each completes with pz_inference_decorated(inf, err) exactly once.
 *   dynamodb:    BatchGetItem from PersonalizationApiItemMetadata_{namespace} (dynamodb.h);
 *   personalize: nothing left to do: Personalize returned the metadata with the items (the
 *                variation asked for metadataColumns), and other types have none to give. */
void pz_recommenders_decorate_dynamodb(void *ctx, pz_inference *inf, const pz_item_metadata *im);
void pz_recommenders_decorate_personalize(void *ctx, pz_inference *inf, const pz_item_metadata *im);

#endif
