/* The response post-processor (postprocess.c). Private to server/recommenders. */
#ifndef PZ_POSTPROCESS_H
#define PZ_POSTPROCESS_H

#include <jansson.h>

#include "server/recommenders/remote.h"

/* Invokes pp's function with the current items; on success they are replaced. Completes with
 * call->done. call->variation is the variation that served. */
void pz_postprocess_invoke(pz_remote_call *call, const pz_post_processor *pp);

/* The invocation payload. New reference. */
json_t *pz_postprocess_payload(const pz_recommend_call *rec, const pz_variation *v);

/* How many items to ask the variation for (spec §2.1 step 6, §3.6): numResults x
 * lookAheadMultiplier, capped by lookAheadMaximumValue, rounded, never below numResults and
 * never above PZ_MAX_NUM_RESULTS. numResults when there is no post-processor or multiplier. */
int pz_postprocess_count(const pz_post_processor *pp, int num_results);

#endif
