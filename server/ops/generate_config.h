/* `personalization-server generate-config`: a starting configuration from the Amazon Personalize
 * resources of an account and region, as upstream's deploy-time generator does (spec §12), through
 * the control plane (server/ops/personalize_client.h).
 *
 *   generate-config [--dataset-groups NAMES|all] [--region R] [--config-version V] [--output FILE]
 *
 * What it reads: ListDatasetGroups (the selection: `all`, the default, or a comma-separated list of
 * names, each of which must exist); per selected dataset group ListRecommenders, ListEventTrackers
 * (+ DescribeEventTracker for the tracking id) and ListFilters; and ListCampaigns, each campaign
 * with DescribeCampaign and DescribeSolutionVersion for its recipe and dataset group.
 *
 * What it writes (the upstream generator's document):
 *   - `version` ("2" unless --config-version), a generated `description`, and the root
 *     `cacheControl` (user 10 s private, synthetic user 300 s public, no user 1200 s public,
 *     autoProvision true);
 *   - a namespace per dataset group (its name) with at least one recommender or event tracker;
 *     its `description` names the dataset group, its domain and its filters (requests use them by
 *     name with `filter=`; they are not applied by default, since a configured filter applies to
 *     every request);
 *   - each recommender / campaign under the action its recipe maps to (pz_recipe_action), keyed by
 *     its name, with one variation keyed by the recipe name with "aws-" replaced by "personalize-",
 *     type personalize-recommender / personalize-campaign and its ARN;
 *   - each event tracker as a `personalize-event-tracker` target with its tracking id.
 * Resources whose recipe maps to no action are skipped with a warning, as upstream does. Warnings
 * and a summary go to stderr; the document (which passes --check-config) to stdout or FILE.
 *
 * Exit status: 0 done, 1 failed (no document written), 2 usage error.
 */
#ifndef PZ_GENERATE_CONFIG_H
#define PZ_GENERATE_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "server/core/config.h"

/* The action a Personalize recipe serves, by the recipe ARN (any partition) or name: true with
 * *action, false when the recipe is not one that maps (spec §12, plus aws-user-personalization-v2,
 * aws-personalized-ranking-v2 and aws-trending-now). */
bool pz_recipe_action(const char *recipe_arn, pz_action *action);

/* The variation key of a recipe: its name with "aws-" replaced by "personalize-". */
void pz_recipe_variation_key(const char *recipe_arn, char *out, size_t len);

/* argv[0] is "generate-config". */
int pz_generate_config_main(int argc, char **argv, FILE *out, FILE *err);

#endif
