/* Experiments (spec §7, issue #14): which variation an experiment gives a user, and which
 * experiment, metric and variation a conversion counts for. Both protocols reach the same rules
 * through here: the inference sequencer's `assign` stage and PutEvents validation. Pure (the
 * buckets are server/core/bucket.h); any thread.
 *
 * Assignment (§7.1, with the built-in engine of §7.4 for both methods):
 *   1. no experiments, a single variation, or no user: the first variation, no experiment (the
 *      `feature` parameter is not looked at, as upstream);
 *   2. else the experiment named by `feature` (400 InvalidExperimentFeature when the recommender
 *      has no such experiment), or the first experiment without one;
 *   3. the variation whose bucket range holds the user's bucket.
 *
 * Conversions (§7.3): `recommender` is required and found by key across actions (the last action
 * holding the key wins, as upstream); `feature` must name one of its experiments, or be omitted
 * when it has exactly one; `metric` likewise among the experiment's metrics; `value` defaults to
 * 1 (upstream sends 1.0000001, its docs say 1.0). The conversion's variation is the user's
 * assignment; results count it against the variation the user was last exposed to.
 */
#ifndef PZ_EXPERIMENT_H
#define PZ_EXPERIMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/config.h"
#include "server/core/mem.h"
#include "server/core/status.h"

/* The default conversion value. */
#define PZ_CONVERSION_DEFAULT_VALUE 1.0

typedef struct pz_assignment {
    const pz_experiment *experiment; /* NULL: no experiment decided, the first variation serves */
    const pz_variation *variation;
    uint32_t bucket; /* the user's bucket when an experiment decided */
} pz_assignment;

/* Decides the variation of recommender r for user_id (NULL: none) and the `feature` parameter
 * (NULL: none). Returns PZ_OK, or PZ_INVALID_ARGUMENT (InvalidExperimentFeature) with *err. r has
 * at least one variation. */
pz_status pz_experiment_assign(const pz_recommender *r, const char *user_id, const char *feature, pz_assignment *out,
                               pz_arena *arena, pz_error *err);

/* The experiment of r for feature, or NULL. */
const pz_experiment *pz_experiment_find(const pz_recommender *r, const char *feature);

/* One conversion, resolved. Pointers into the configuration snapshot. */
typedef struct pz_conversion {
    const pz_recommender *recommender;
    const pz_experiment *experiment;
    const pz_metric *metric;
    const pz_variation *variation; /* the user's assignment; NULL when r has no variations */
    double value;
} pz_conversion;

/* Resolves experimentConversions[index] of a call for user_id (non-NULL) in namespace ns.
 * Returns PZ_OK, or PZ_INVALID_ARGUMENT with *err: InvalidExperimentConversions (no
 * recommender, a value that is not a finite number), InvalidRecommender, InvalidExperimentFeature,
 * InvalidExperimentMetric. */
pz_status pz_conversion_resolve(const pz_namespace *ns, const char *user_id,
                                const Personalization__V1__ExperimentConversion *c, size_t index, pz_conversion *out,
                                pz_arena *arena, pz_error *err);

/* The response's matchedExperiment for an assignment an experiment decided (arena-owned):
 * {type: method, feature, variation, details: {experiment: feature, treatment: variation,
 * bucket}}. */
Personalization__V1__MatchedExperiment *pz_experiment_matched(const pz_assignment *a, pz_arena *arena);

/* The value of the X-Personalization-Experiment header (and gRPC metadata) for an assignment:
 * "feature=<feature>; variation=<variation>", in the arena. */
const char *pz_experiment_header(const pz_assignment *a, pz_arena *arena);

#endif
