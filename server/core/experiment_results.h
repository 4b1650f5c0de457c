/* A/B results (issue #14): ListExperiments and GetExperimentResults answered from the
 * configuration snapshot (what the experiments are) and the experiment store port (what was
 * counted, server/core/experiment_store.h), with the statistics of server/core/experiment_stats.h
 * and a verdict in plain words. Any thread; reads only (the store never waits for its writer).
 *
 * An experiment is identified by (namespace, recommender key, feature). One the configuration no
 * longer has stays listed as "removed" while the store has counts for it (variations and metrics
 * the configuration dropped are shown the same way, flagged `removed`).
 *
 * Verdict of a metric (the control is the first variation):
 *   - "not enough data yet ..." while a variation has fewer than PZ_STATS_MIN_USERS users exposed
 *     or the metric fewer than PZ_STATS_MIN_CONVERTED converted users in all;
 *   - "<B> beats <A> with 97% probability" when the variation most likely to beat the control
 *     does so with at least PZ_STATS_DECISIVE;
 *   - "<A> beats <B> with 97% probability" (or "... every other variation ...") when the control
 *     beats the best of the others with at least that probability;
 *   - "no clear winner yet: <B> beats <A> with 62% probability" otherwise.
 */
#ifndef PZ_EXPERIMENT_RESULTS_H
#define PZ_EXPERIMENT_RESULTS_H

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/config.h"
#include "server/core/experiment_store.h"
#include "server/core/mem.h"
#include "server/core/status.h"

/* ListExperiments: 400 without a namespace, 404 NamespaceNotFound when neither the configuration
 * nor the store knows it, 500 when the store cannot be read. store may be NULL (nothing counted). */
pz_status pz_experiment_list(const pz_config *cfg, const pz_experiment_store *store,
                             const Personalization__V1__ListExperimentsRequest *in, pz_arena *arena,
                             Personalization__V1__ListExperimentsResponse **out, pz_error *err);

/* GetExperimentResults: 400 for a missing field, 404 ExperimentNotFound when neither the
 * configuration nor the store knows the experiment, 500 when the store cannot be read. */
pz_status pz_experiment_results(const pz_config *cfg, const pz_experiment_store *store,
                                const Personalization__V1__GetExperimentResultsRequest *in, pz_arena *arena,
                                Personalization__V1__ExperimentResults **out, pz_error *err);

#endif
