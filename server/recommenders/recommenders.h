/* The recommenders: one entry point that runs the variation an inference resolved to.
 *
 * Every variation type answers through pz_inference_recommended(inf, err) exactly once, inline
 * (builtin) or later from another thread (remote types, issue #6: Personalize, SageMaker, Lambda,
 * HTTP over the upstream engine). No type blocks the calling thread on the network.
 */
#ifndef PZ_RECOMMENDERS_H
#define PZ_RECOMMENDERS_H

#include "server/core/inference.h"
#include "server/recommenders/builtin.h"

typedef struct pz_recommenders pz_recommenders;

typedef struct pz_recommenders_options {
    pz_builtin *builtin;       /* required; not owned */
} pz_recommenders_options;

pz_recommenders *pz_recommenders_create(const pz_recommenders_options *opts);
void pz_recommenders_destroy(pz_recommenders *r);

/* Runs inf->variation for inf; completes with pz_inference_recommended. Any thread. */
void pz_recommenders_invoke(pz_recommenders *r, pz_inference *inf);

#endif
