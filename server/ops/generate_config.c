/* A starting configuration from Amazon Personalize resources (generate_config.h). */
#include "server/ops/generate_config.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/core/mem.h"
#include "server/ops/files.h"
#include "server/ops/personalize_client.h"
#include "server/upstream/aws.h"

#define DEFAULT_VERSION "2"
#define DESCRIPTION                                                                                                    \
    "This configuration was automatically generated based on the active recommenders/campaigns for a supplied list "   \
    "of dataset groups"

/* Recipe name -> action (spec §12). Recipes not listed are skipped. */
static const struct recipe_row {
    const char *recipe;
    pz_action action;
} RECIPES[] = {
    {"aws-ecomm-customers-who-viewed-x-also-viewed", PZ_ACTION_RELATED_ITEMS},
    {"aws-ecomm-frequently-bought-together", PZ_ACTION_RELATED_ITEMS},
    {"aws-vod-because-you-watched-x", PZ_ACTION_RELATED_ITEMS},
    {"aws-vod-more-like-x", PZ_ACTION_RELATED_ITEMS},
    {"aws-similar-items", PZ_ACTION_RELATED_ITEMS},
    {"aws-sims", PZ_ACTION_RELATED_ITEMS},
    {"aws-ecomm-popular-items-by-purchases", PZ_ACTION_RECOMMEND_ITEMS},
    {"aws-ecomm-popular-items-by-views", PZ_ACTION_RECOMMEND_ITEMS},
    {"aws-ecomm-recommended-for-you", PZ_ACTION_RECOMMEND_ITEMS},
    {"aws-vod-most-popular", PZ_ACTION_RECOMMEND_ITEMS},
    {"aws-vod-top-picks", PZ_ACTION_RECOMMEND_ITEMS},
    {"aws-hrnn", PZ_ACTION_RECOMMEND_ITEMS},
    {"aws-hrnn-coldstart", PZ_ACTION_RECOMMEND_ITEMS},
    {"aws-hrnn-metadata", PZ_ACTION_RECOMMEND_ITEMS},
    {"aws-popularity-count", PZ_ACTION_RECOMMEND_ITEMS},
    {"aws-user-personalization", PZ_ACTION_RECOMMEND_ITEMS},
    {"aws-personalized-ranking", PZ_ACTION_RERANK_ITEMS},
    /* [ours] the newer recipes */
    {"aws-user-personalization-v2", PZ_ACTION_RECOMMEND_ITEMS},
    {"aws-trending-now", PZ_ACTION_RECOMMEND_ITEMS},
    {"aws-personalized-ranking-v2", PZ_ACTION_RERANK_ITEMS},
};

/* The recipe's name: what follows the last '/' of its ARN (the whole string without one). */
static const char *recipe_name(const char *recipe_arn)
{
    const char *slash = strrchr(recipe_arn, '/');
    return slash != NULL ? slash + 1 : recipe_arn;
}

bool pz_recipe_action(const char *recipe_arn, pz_action *action)
{
    const char *name = recipe_name(recipe_arn);
    for (size_t i = 0; i < sizeof RECIPES / sizeof RECIPES[0]; i++) {
        if (strcmp(RECIPES[i].recipe, name) == 0) {
            *action = RECIPES[i].action;
            return true;
        }
    }
    return false;
}

void pz_recipe_variation_key(const char *recipe_arn, char *out, size_t len)
{
    static const char FROM[] = "aws-", TO[] = "personalize-";
    size_t o = 0;
    for (const char *p = recipe_name(recipe_arn); *p != '\0' && o + 1 < len;) {
        const char *piece = p;
        size_t n = 1;
        if (strncmp(p, FROM, sizeof FROM - 1) == 0) {
            piece = TO;
            n = sizeof TO - 1;
            p += sizeof FROM - 1;
        } else {
            p++;
        }
        for (size_t i = 0; i < n && o + 1 < len; i++)
            out[o++] = piece[i];
    }
    if (len > 0)
        out[o] = '\0';
}

/* ---- collecting ---- */

typedef struct generator {
    pz_personalize_client *client;
    FILE *log;
    json_t *doc;
    json_t *namespaces;
    json_t *selected; /* dataset group ARN -> its summary */
    unsigned recommenders, campaigns, trackers, skipped;
    char err[1024];
} generator;

static const char *str(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v != NULL ? v : "";
}

/* The namespace object of a selected dataset group, created on first use. */
static json_t *namespace_of(generator *g, const json_t *dg)
{
    const char *name = str(dg, "name");
    json_t *ns = json_object_get(g->namespaces, name);
    if (ns == NULL) {
        ns = json_object();
        json_object_set_new(ns, "description", json_string(""));
        json_object_set_new(g->namespaces, name, ns);
    }
    return ns;
}

/* Adds a recommender or campaign (its name, ARN and recipe) to its dataset group's namespace.
 * Returns false when its recipe maps to no action (skipped). */
static bool add_variation(generator *g, const json_t *dg, const char *kind, const char *name, const char *arn,
                          const char *recipe_arn)
{
    pz_action action;
    if (!pz_recipe_action(recipe_arn, &action)) {
        fprintf(g->log, "warning: %s %s: recipe %s maps to no action; skipped\n", kind, arn, recipe_arn);
        g->skipped++;
        return false;
    }
    char key[256];
    pz_recipe_variation_key(recipe_arn, key, sizeof key);
    json_t *ns = namespace_of(g, dg);
    json_t *recs = json_object_get(ns, "recommenders");
    if (recs == NULL) {
        recs = json_object();
        json_object_set_new(ns, "recommenders", recs);
    }
    json_t *by_action = json_object_get(recs, pz_action_name(action));
    if (by_action == NULL) {
        by_action = json_object();
        json_object_set_new(recs, pz_action_name(action), by_action);
    }
    json_t *rec = json_object_get(by_action, name);
    if (rec == NULL) {
        rec = json_pack("{s:{}}", "variations");
        json_object_set_new(by_action, name, rec);
    }
    json_t *variations = json_object_get(rec, "variations");
    if (json_object_get(variations, key) != NULL)
        fprintf(g->log, "warning: %s %s replaces variation '%s' of recommender '%s' in namespace '%s'\n", kind, arn,
                key, name, str(dg, "name"));
    json_object_set_new(variations, key,
                        json_pack("{s:s, s:s}", "type",
                                  strcmp(kind, "campaign") == 0 ? "personalize-campaign" : "personalize-recommender",
                                  "arn", arn));
    return true;
}

/* A one-member request object. */
static json_t *request1(const char *key, const char *value)
{
    return json_pack("{s:s}", key, value);
}

static int list(generator *g, const char *operation, json_t *request, const char *items_key, json_t *out)
{
    int rc = pz_personalize_list(g->client, operation, request, items_key, out, g->err, sizeof g->err);
    json_decref(request);
    return rc;
}

static json_t *describe(generator *g, const char *operation, const char *key, const char *arn, const char *member)
{
    json_t *req = request1(key, arn);
    json_t *answer = pz_personalize_call(g->client, operation, req, g->err, sizeof g->err);
    json_decref(req);
    if (answer == NULL)
        return NULL;
    json_t *inner = json_incref(json_object_get(answer, member));
    json_decref(answer);
    if (!json_is_object(inner)) {
        snprintf(g->err, sizeof g->err, "%s %s: the answer has no `%s` object", operation, arn, member);
        json_decref(inner);
        return NULL;
    }
    return inner;
}

/* Picks the dataset groups: every one for "all", else each named one (all must exist). */
static int select_dataset_groups(generator *g, const char *names)
{
    json_t *all = json_array();
    if (list(g, "ListDatasetGroups", json_object(), "datasetGroups", all) != 0) {
        json_decref(all);
        return -1;
    }
    bool every = strcasecmp(names, "all") == 0;
    size_t i;
    json_t *dg;
    int rc = 0;
    if (every) {
        json_array_foreach (all, i, dg) {
            json_object_set(g->selected, str(dg, "datasetGroupArn"), dg);
        }
    } else {
        char *copy = pz_strdup(names), *save = NULL;
        for (char *name = strtok_r(copy, ",", &save); name != NULL && rc == 0; name = strtok_r(NULL, ",", &save)) {
            while (*name == ' ')
                name++;
            size_t n = strlen(name);
            while (n > 0 && name[n - 1] == ' ')
                name[--n] = '\0';
            bool found = false;
            json_array_foreach (all, i, dg) {
                if (strcmp(str(dg, "name"), name) == 0) {
                    json_object_set(g->selected, str(dg, "datasetGroupArn"), dg);
                    found = true;
                }
            }
            if (!found) {
                snprintf(g->err, sizeof g->err, "there is no dataset group named '%s' in this account and region",
                         name);
                rc = -1;
            }
        }
        free(copy);
    }
    json_decref(all);
    return rc;
}

static int collect_recommenders(generator *g, const char *dg_arn, const json_t *dg)
{
    json_t *recs = json_array();
    int rc = list(g, "ListRecommenders", request1("datasetGroupArn", dg_arn), "recommenders", recs);
    size_t i;
    json_t *r;
    json_array_foreach (recs, i, r) {
        if (rc != 0)
            break;
        if (add_variation(g, dg, "recommender", str(r, "name"), str(r, "recommenderArn"), str(r, "recipeArn")))
            g->recommenders++;
    }
    json_decref(recs);
    return rc;
}

/* Campaigns are listed for the account: each one's dataset group and recipe come from its solution
 * version. */
static int collect_campaigns(generator *g)
{
    json_t *campaigns = json_array();
    int rc = list(g, "ListCampaigns", json_object(), "campaigns", campaigns);
    size_t i;
    json_t *c;
    json_array_foreach (campaigns, i, c) {
        if (rc != 0)
            break;
        json_t *campaign = describe(g, "DescribeCampaign", "campaignArn", str(c, "campaignArn"), "campaign");
        if (campaign == NULL) {
            rc = -1;
            break;
        }
        const char *sv_arn = str(campaign, "solutionVersionArn");
        json_t *sv = sv_arn[0] != '\0'
                         ? describe(g, "DescribeSolutionVersion", "solutionVersionArn", sv_arn, "solutionVersion")
                         : NULL;
        if (sv_arn[0] == '\0')
            fprintf(g->log, "warning: campaign %s has no solution version; skipped\n", str(c, "campaignArn"));
        else if (sv == NULL)
            rc = -1;
        json_t *dg = sv != NULL ? json_object_get(g->selected, str(sv, "datasetGroupArn")) : NULL;
        if (dg != NULL && add_variation(g, dg, "campaign", str(c, "name"), str(c, "campaignArn"), str(sv, "recipeArn")))
            g->campaigns++;
        json_decref(sv);
        json_decref(campaign);
    }
    json_decref(campaigns);
    return rc;
}

static int collect_event_trackers(generator *g, const char *dg_arn, const json_t *dg)
{
    json_t *trackers = json_array();
    int rc = list(g, "ListEventTrackers", request1("datasetGroupArn", dg_arn), "eventTrackers", trackers);
    size_t i;
    json_t *t;
    json_array_foreach (trackers, i, t) {
        if (rc != 0)
            break;
        json_t *tracker =
            describe(g, "DescribeEventTracker", "eventTrackerArn", str(t, "eventTrackerArn"), "eventTracker");
        if (tracker == NULL) {
            rc = -1;
            break;
        }
        json_t *ns = namespace_of(g, dg);
        json_t *targets = json_object_get(ns, "eventTargets");
        if (targets == NULL) {
            targets = json_array();
            json_object_set_new(ns, "eventTargets", targets);
        }
        json_array_append_new(targets, json_pack("{s:s, s:s}", "type", "personalize-event-tracker", "trackingId",
                                                 str(tracker, "trackingId")));
        g->trackers++;
        json_decref(tracker);
    }
    json_decref(trackers);
    return rc;
}

/* The namespace's description: the dataset group, its domain and the filters requests may name. */
static int describe_namespace(generator *g, const char *dg_arn, const json_t *dg)
{
    json_t *ns = json_object_get(g->namespaces, str(dg, "name"));
    if (ns == NULL)
        return 0;
    json_t *filters = json_array();
    int rc = list(g, "ListFilters", request1("datasetGroupArn", dg_arn), "Filters", filters);
    char text[4096];
    int n = snprintf(text, sizeof text, "Amazon Personalize dataset group %s%s%s", str(dg, "name"),
                     str(dg, "domain")[0] ? ", domain " : "", str(dg, "domain"));
    size_t i;
    json_t *f;
    json_array_foreach (filters, i, f) {
        if (n > 0 && (size_t)n < sizeof text)
            n += snprintf(text + n, sizeof text - (size_t)n, "%s%s",
                          i == 0 ? ". Filters (use with filter=NAME): " : ", ", str(f, "name"));
    }
    json_object_set_new(ns, "description", json_string(text));
    json_decref(filters);
    return rc;
}

static json_t *generate(generator *g, const char *names, const char *version)
{
    g->doc = json_pack("{s:s, s:s, s:{s:b, s:{s:i, s:s}, s:{s:i, s:s}, s:{s:i, s:s}}}", "version", version,
                       "description", DESCRIPTION, "cacheControl", "autoProvision", 1, "userSpecified", "maxAge", 10,
                       "directives", "private", "syntheticUserSpecified", "maxAge", 300, "directives", "public",
                       "noUserSpecified", "maxAge", 1200, "directives", "public");
    g->namespaces = json_object();
    json_object_set_new(g->doc, "namespaces", g->namespaces);
    g->selected = json_object();
    int rc = select_dataset_groups(g, names);
    const char *arn;
    json_t *dg;
    json_object_foreach (g->selected, arn, dg) {
        if (rc == 0)
            rc = collect_recommenders(g, arn, dg);
    }
    if (rc == 0)
        rc = collect_campaigns(g);
    json_object_foreach (g->selected, arn, dg) {
        if (rc == 0)
            rc = collect_event_trackers(g, arn, dg);
        if (rc == 0)
            rc = describe_namespace(g, arn, dg);
    }
    json_decref(g->selected);
    if (rc != 0) {
        json_decref(g->doc);
        return NULL;
    }
    return g->doc;
}

/* ---- the command ---- */

static void usage(FILE *f)
{
    fputs("Usage: personalization-server generate-config [--dataset-groups NAMES|all] [--region R]\n"
          "                                              [--config-version V] [--output FILE]\n"
          "\n"
          "Reads the recommenders, campaigns, event trackers and filters of Amazon Personalize dataset\n"
          "groups (default: all of them) and prints a configuration that serves them. AWS credentials and\n"
          "region come from the usual places (environment, shared files, container or instance role);\n"
          "AWS_ENDPOINT_URL_PERSONALIZE overrides the endpoint.\n",
          f);
}

int pz_generate_config_main(int argc, char **argv, FILE *out, FILE *err)
{
    enum { OPT_DG = 256, OPT_REGION, OPT_VERSION, OPT_OUTPUT, OPT_HELP };
    static const struct option opts[] = {
        {"dataset-groups", required_argument, NULL, OPT_DG},
        {"region", required_argument, NULL, OPT_REGION},
        {"config-version", required_argument, NULL, OPT_VERSION},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *names = "all", *region_flag = NULL, *version = DEFAULT_VERSION, *output = NULL;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_DG: names = optarg; break;
        case OPT_REGION: region_flag = optarg; break;
        case OPT_VERSION: version = optarg; break;
        case OPT_OUTPUT: output = optarg; break;
        case OPT_HELP: usage(out); return 0;
        default: usage(err); return 2;
        }
    }
    if (optind < argc) {
        fprintf(err, "error: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (names[0] == '\0') {
        fprintf(err, "error: --dataset-groups needs names (comma-separated) or all\n");
        return 2;
    }
    pz_aws *aws = pz_aws_create();
    char region[64];
    pz_aws_region(aws, region_flag, region, sizeof region);
    if (region[0] == '\0') {
        fprintf(err, "error: no AWS region: give --region, or set AWS_REGION\n");
        pz_aws_destroy(aws);
        return 1;
    }
    generator g = {.client = pz_personalize_client_create(aws, region), .log = err};
    json_t *doc = generate(&g, names, version);
    unsigned long calls, throttled;
    pz_personalize_client_counts(g.client, &calls, &throttled);
    pz_personalize_client_destroy(g.client);
    pz_aws_destroy(aws);
    if (doc == NULL) {
        fprintf(err, "error: %s\n", g.err);
        return 1;
    }
    char *text = json_dumps(doc, JSON_INDENT(2));
    size_t namespaces = json_object_size(json_object_get(doc, "namespaces"));
    json_decref(doc);
    int rc = 0;
    char msg[512];
    if (output != NULL) {
        size_t len = strlen(text);
        text[len] = '\n'; /* json_dumps leaves room for the NUL: the newline takes its place */
        rc = pz_write_file_atomic(output, text, len + 1, 0644, msg, sizeof msg) == 0 ? 0 : 1;
        if (rc != 0)
            fprintf(err, "error: %s\n", msg);
    } else {
        fprintf(out, "%s\n", text);
    }
    free(text);
    if (rc == 0)
        fprintf(err,
                "generated %zu namespace(s) in %s: %u recommender(s), %u campaign(s), %u event tracker(s); %u skipped; "
                "%lu control-plane call(s), %lu throttled and retried\n",
                namespaces, region, g.recommenders, g.campaigns, g.trackers, g.skipped, calls, throttled);
    return rc;
}
