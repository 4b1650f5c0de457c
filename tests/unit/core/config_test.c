/* Tests for server/core/config.c: the samples of spec §3.14/§3.15, inheritance (§3.12), validation
 * with JSON paths (§3.13), lookups, reference counting and the reloading holder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/core/clock.h"
#include "server/core/config.h"
#include "server/core/json_text.h"

/* ---- helpers ---- */

/* Test documents are written with single quotes for readability; none needs a literal one. */
static pz_config *parse_q(const char *q, pz_config_problems *p)
{
    char *s = strdup(q);
    for (char *c = s; *c != '\0'; c++)
        if (*c == '\'')
            *c = '"';
    pz_config *cfg = pz_config_parse(s, strlen(s), p);
    free(s);
    return cfg;
}

static void dump_problems(const pz_config_problems *p)
{
    for (size_t i = 0; i < p->n; i++)
        fprintf(stderr, "  %s %s: %s\n", p->items[i].is_warning ? "warning" : "error", p->items[i].path,
                p->items[i].message);
}

static const pz_config_problem *find_problem(const pz_config_problems *p, const char *path, bool warning)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->items[i].path, path) == 0 && p->items[i].is_warning == warning)
            return &p->items[i];
    return NULL;
}

static void expect_problem(const pz_config_problems *p, const char *path, bool warning, const char *needle)
{
    const pz_config_problem *found = find_problem(p, path, warning);
    if (found == NULL || (needle != NULL && strstr(found->message, needle) == NULL)) {
        fprintf(stderr, "expected %s at %s containing \"%s\"; got:\n", warning ? "warning" : "error", path,
                needle ? needle : "");
        dump_problems(p);
        fail();
    }
}

static pz_config *load_fixture(const char *name, pz_config_problems *p)
{
    char path[256];
    snprintf(path, sizeof path, "tests/data/configs/%s", name);
    return pz_config_load_file(path, p);
}

static const char *tmp_dir(void)
{
    const char *d = getenv("TEST_TMPDIR");
    return d != NULL ? d : "/tmp";
}

static void write_file(const char *path, const char *content)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0); /* atomic replace, as deploy tools do */
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

#define PCAMPAIGN(name)                                                                                                \
    "{'type':'personalize-campaign','arn':'arn:aws:personalize:us-east-1:111122223333:campaign/" name "'}"
/* A document with one namespace `ns` and one recommend-items recommender `r`. */
#define DOC_WITH_REC(rec) "{'namespaces':{'ns':{'recommenders':{'recommend-items':{'r':" rec "}}}}}"
#define DOC_WITH_VAR(var) DOC_WITH_REC("{'variations':{'v':" var "}}")
#define DOC_WITH_NS(ns) "{'namespaces':{'ns':" ns "}}"
#define REC_PATH "$.namespaces.ns.recommenders.recommend-items.r"
#define VAR_PATH REC_PATH ".variations.v"
/* One character over Personalize's context key limit (150). */
#define LONG_FIELD_NAME                                                                                                \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* ---- sample A (§3.14) ---- */

static void test_sample_a_parses_cleanly(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c = load_fixture("sample-a.json", &p);
    if (p.n > 1)
        dump_problems(&p);
    assert_non_null(c);
    /* issue #14: the one notice is that its Evidently experiment is now evaluated locally */
    assert_int_equal(p.n, 1);
    expect_problem(&p, "$.namespaces.retail.recommenders.recommend-items.for-you.experiments.home-rfy-widget", true,
                   "evaluated locally");
    assert_string_equal(pz_config_version(c), "42");
    assert_non_null(strstr(pz_config_description(c), "Kitchen-sink"));
    assert_null(pz_config_title(c));
    assert_int_equal(pz_config_namespace_count(c), 3);
    assert_string_equal(pz_config_namespace_at(c, 0)->key, "retail");
    assert_string_equal(pz_config_namespace_at(c, 1)->key, "media");
    assert_string_equal(pz_config_namespace_at(c, 2)->key, "events-only");
    assert_null(pz_config_namespace_at(c, 3));
    pz_config_unref(c);
    pz_config_problems_free(&p);
}

static void test_sample_a_for_you_resolves(void **state)
{
    (void)state;
    pz_config *c = load_fixture("sample-a.json", NULL);
    assert_non_null(c);
    const pz_namespace *retail = pz_config_namespace(c, "retail");
    assert_non_null(retail);
    assert_string_equal(retail->name, "Retail Store");
    const pz_recommender *r = pz_config_recommender(retail, PZ_ACTION_RECOMMEND_ITEMS, "for-you");
    assert_non_null(r);
    assert_int_equal(r->action, PZ_ACTION_RECOMMEND_ITEMS);
    assert_string_equal(r->description, "Home page carousel");

    /* Variations in document order: the first is the default. */
    assert_int_equal(r->n_variations, 2);
    const pz_variation *up = &r->variations[0];
    const pz_variation *rfy = &r->variations[1];
    assert_string_equal(up->key, "user-personalization");
    assert_string_equal(rfy->key, "ecomm-rfy");
    assert_int_equal(up->type, PZ_VARIATION_PERSONALIZE_CAMPAIGN);
    assert_int_equal(rfy->type, PZ_VARIATION_PERSONALIZE_RECOMMENDER);
    assert_string_equal(rfy->arn, "arn:aws:personalize:us-east-1:111122223333:recommender/retail-rfy");
    assert_int_equal(up->timeout_ms, 5000);
    assert_ptr_equal(pz_config_variation(r, "ecomm-rfy"), rfy);
    assert_null(pz_config_variation(r, "nope"));

    /* Cache: the recommender's own block (15 s private), seen by both variations. */
    const pz_cache_control *cc = rfy->cache_control_view;
    assert_non_null(cc);
    assert_ptr_equal(cc, r->cache_control_view);
    assert_ptr_equal(up->cache_control_view, cc);
    assert_true(cc->user_specified.present);
    assert_true(cc->user_specified.has_max_age);
    assert_int_equal(cc->user_specified.max_age, 15);
    assert_string_equal(cc->user_specified.directives, "private");
    assert_int_equal(cc->no_user_specified.max_age, 1200);
    assert_true(cc->auto_provision);
    /* the header each class sends is rendered once, at load */
    assert_string_equal(cc->user_specified.header, "private,max-age=15");
    assert_non_null(cc->no_user_specified.header);
    assert_non_null(strstr(cc->no_user_specified.header, "max-age=1200"));

    /* Context: the namespace's four fields replaced the root's deviceType rules entirely. */
    const pz_auto_context *ac = up->auto_context_view;
    assert_non_null(ac);
    assert_ptr_equal(ac, retail->auto_context_view);
    assert_int_equal(ac->n_fields, 4);
    assert_string_equal(ac->fields[0].name, "deviceType");
    assert_string_equal(ac->fields[1].name, "timeOfDay");
    assert_string_equal(ac->fields[2].name, "dayType");
    assert_string_equal(ac->fields[3].name, "country");
    assert_false(ac->fields[0].evaluate_all);
    assert_int_equal(ac->fields[0].n_rules, 1);
    assert_true(ac->fields[0].has_default);
    assert_string_equal(ac->fields[0].default_value.string, "Desktop");
    const pz_context_rule *hour = &ac->fields[1].rules[0];
    assert_int_equal(hour->type, PZ_RULE_HOUR_OF_DAY);
    assert_null(hour->header);
    assert_int_equal(hour->n_value_mappings, 5);
    assert_int_equal(hour->value_mappings[0].op, PZ_OP_LESS_THAN);
    assert_true(hour->value_mappings[0].value.is_number);
    assert_true(hour->value_mappings[0].value.number == 5);
    assert_string_equal(hour->value_mappings[0].map_to.string, "Night");
    assert_int_equal(hour->value_mappings[4].op, PZ_OP_GREATER_THAN);
    const pz_context_rule *country = &ac->fields[3].rules[0];
    assert_int_equal(country->type, PZ_RULE_HEADER_VALUE);
    assert_string_equal(country->header, "cloudfront-viewer-country");
    assert_false(country->has_value_mappings);

    /* Filters: user-personalization has two, the first user-required; ecomm-rfy has none. */
    const pz_filters *f = up->filters_view;
    assert_non_null(f);
    assert_int_equal(f->n, 2);
    assert_true(f->items[0].user_required);
    assert_non_null(strstr(f->items[0].arn, "filter/exclude-purchased"));
    assert_null(f->items[0].auto_dynamic_filter_values);
    assert_false(f->items[1].user_required);
    const pz_auto_context *adf = f->items[1].auto_dynamic_filter_values;
    assert_non_null(adf);
    assert_int_equal(adf->n_fields, 1);
    assert_string_equal(adf->fields[0].name, "SEASON");
    assert_int_equal(adf->fields[0].rules[0].type, PZ_RULE_SEASON_OF_YEAR);
    assert_int_equal(adf->fields[0].rules[0].n_value_mappings, 4);
    assert_string_equal(adf->fields[0].rules[0].value_mappings[3].map_to.string, "Winter");
    assert_null(rfy->filters_view);

    /* Decoration: the namespace's DynamoDB table. */
    const pz_item_metadata *im = rfy->item_metadata_view;
    assert_non_null(im);
    assert_ptr_equal(im, retail->item_metadata_view);
    assert_int_equal(im->type, PZ_ITEM_METADATA_DYNAMODB);
    assert_string_equal(im->billing_mode, "PROVISIONED");
    assert_int_equal(im->read_capacity_units, 20);
    assert_int_equal(im->write_capacity_units, 5);

    /* Experiment and post processor. */
    assert_int_equal(r->n_experiments, 1);
    const pz_experiment *e = &r->experiments[0];
    assert_string_equal(e->feature, "home-rfy-widget");
    assert_string_equal(e->method, "evidently");
    assert_string_equal(e->project, "retail");
    assert_null(e->weights);
    assert_int_equal(e->n_metrics, 1);
    assert_string_equal(e->metrics[0].name, "homeRfyClicked");
    assert_true(e->metrics[0].track_exposures);
    assert_string_equal(e->metrics[0].entity_id_key, "userDetails.userId");
    assert_string_equal(e->metrics[0].value_key, "details.clicked");
    assert_non_null(r->post_processor);
    assert_string_equal(r->post_processor->type, "lambda");
    assert_true(r->post_processor->look_ahead_multiplier == 2);
    assert_true(r->post_processor->look_ahead_maximum_value == 100);
    pz_config_unref(c);
}

static void test_sample_a_other_namespaces(void **state)
{
    (void)state;
    pz_config *c = load_fixture("sample-a.json", NULL);
    assert_non_null(c);
    const pz_namespace *retail = pz_config_namespace(c, "retail");

    /* related-items/similar: no own cacheControl, so the namespace's (noUser 3600 s public). */
    const pz_recommender *similar = pz_config_recommender(retail, PZ_ACTION_RELATED_ITEMS, "similar");
    assert_non_null(similar);
    const pz_cache_control *cc = similar->variations[0].cache_control_view;
    assert_ptr_equal(cc, retail->cache_control_view);
    assert_int_equal(cc->no_user_specified.max_age, 3600);
    assert_string_equal(cc->no_user_specified.directives, "public");
    assert_int_equal(similar->variations[0].filters_view->n, 1);
    assert_true(similar->variations[0].filters_view->items[0].user_required);

    assert_int_equal(retail->n_event_targets, 3);
    assert_int_equal(retail->event_targets[0].type, PZ_TARGET_PERSONALIZE_EVENT_TRACKER);
    assert_string_equal(retail->event_targets[0].tracking_id, "0a1b2c3d-1111-2222-3333-444455556666");
    assert_int_equal(retail->event_targets[1].type, PZ_TARGET_KINESIS_STREAM);
    assert_string_equal(retail->event_targets[2].stream_name, "retail-clickstream-to-s3");
    assert_int_equal(retail->event_targets[2].type, PZ_TARGET_KINESIS_FIREHOSE);

    /* media: Personalize metadata columns; root cache policy and root autoContext. */
    const pz_namespace *media = pz_config_namespace(c, "media");
    assert_non_null(media);
    assert_false(media->has_event_targets);
    const pz_recommender *top = pz_config_recommender(media, PZ_ACTION_RECOMMEND_ITEMS, "top-picks");
    const pz_variation *v = &top->variations[0];
    assert_int_equal(v->item_metadata_view->type, PZ_ITEM_METADATA_PERSONALIZE);
    assert_int_equal(v->item_metadata_view->n_item_columns, 3);
    assert_string_equal(v->item_metadata_view->item_columns[2], "IMAGE_URL");
    assert_int_equal(v->cache_control_view->user_specified.max_age, 10);
    assert_int_equal(v->auto_context_view->n_fields, 1);
    assert_true(v->auto_context_view->fields[0].evaluate_all);
    assert_int_equal(v->auto_context_view->fields[0].n_rules, 3);
    assert_string_equal(v->auto_context_view->fields[0].rules[2].header, "cloudfront-is-smarttv-viewer");

    /* events-only: event targets, no recommenders. */
    const pz_namespace *eo = pz_config_namespace(c, "events-only");
    assert_non_null(eo);
    assert_true(eo->has_event_targets);
    assert_int_equal(eo->n_event_targets, 1);
    for (int a = 0; a < PZ_ACTION__COUNT; a++)
        assert_int_equal(eo->n_recommenders[a], 0);
    assert_null(pz_config_recommender(eo, PZ_ACTION_RECOMMEND_ITEMS, "for-you"));
    assert_null(pz_config_recommender_any_action(eo, "for-you"));
    assert_null(pz_config_namespace(c, "nope"));
    pz_config_unref(c);
}

static void test_sample_a_json_members(void **state)
{
    (void)state;
    pz_config *c = load_fixture("sample-a.json", NULL);
    assert_non_null(c);
    const pz_namespace *retail = pz_config_namespace(c, "retail");
    const pz_recommender *popular = pz_config_recommender(retail, PZ_ACTION_RECOMMEND_ITEMS, "popular");
    json_error_t err;
    json_t *rj = json_loads(popular->json, 0, &err);
    assert_non_null(rj);
    /* Own keys first, inherited ones filled in from the namespace. */
    assert_non_null(json_object_get(rj, "variations"));
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(rj, "cacheControl"), "noUserSpecified"), "maxAge")),
                     3600);
    assert_non_null(json_object_get(json_object_get(rj, "autoContext"), "timeOfDay"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(rj, "inferenceItemMetadata"), "type")),
                        "dynamodb");
    assert_null(json_object_get(rj, "filters"));
    json_decref(rj);

    const pz_recommender *for_you = pz_config_recommender(retail, PZ_ACTION_RECOMMEND_ITEMS, "for-you");
    json_t *vj = json_loads(for_you->variations[1].json, 0, &err);
    assert_non_null(vj);
    assert_string_equal(json_string_value(json_object_get(vj, "type")), "personalize-recommender");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(vj, "cacheControl"), "userSpecified"), "maxAge")),
                     15);
    json_decref(vj);
    /* Compact: no spaces after separators. */
    assert_null(strstr(for_you->json, ": "));
    assert_non_null(strstr(for_you->json, "\"variations\":{\"user-personalization\":"));
    pz_config_unref(c);
}

/* ---- sample B (§3.15) ---- */

static void test_sample_b(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c = load_fixture("sample-b.json", &p);
    if (p.n > 0)
        dump_problems(&p);
    assert_non_null(c);
    assert_int_equal(p.n, 0);
    assert_string_equal(pz_config_version(c), "7");
    assert_null(pz_config_description(c));
    const pz_namespace *ns = pz_config_namespace(c, "custom");
    assert_non_null(ns);
    assert_null(ns->cache_control_view);
    assert_null(ns->auto_context_view);
    assert_int_equal(ns->item_metadata_view->type, PZ_ITEM_METADATA_LOCALDB);
    assert_int_equal(ns->item_metadata_view->sync_interval, 120);

    const pz_recommender *rb = pz_config_recommender(ns, PZ_ACTION_RECOMMEND_ITEMS, "rules-based");
    const pz_variation *lv = &rb->variations[0];
    assert_int_equal(lv->type, PZ_VARIATION_LAMBDA); /* "function" is the schema's spelling */
    assert_string_equal(lv->type_name, "function");
    assert_string_equal(lv->arn, "arn:aws:lambda:us-east-1:111122223333:function:my-custom-recommender");
    assert_null(lv->cache_control_view);
    assert_ptr_equal(lv->item_metadata_view, ns->item_metadata_view);

    const pz_variation *sm = &pz_config_recommender(ns, PZ_ACTION_RECOMMEND_ITEMS, "sm-model")->variations[0];
    assert_int_equal(sm->type, PZ_VARIATION_SAGEMAKER);
    assert_string_equal(sm->endpoint_name, "two-tower-endpoint");
    const pz_variation *hv = &pz_config_recommender(ns, PZ_ACTION_RELATED_ITEMS, "external")->variations[0];
    assert_int_equal(hv->type, PZ_VARIATION_HTTP);
    assert_string_equal(hv->url, "https://recs.example.com/related?item={itemId}&n={numResults}");
    assert_int_equal(ns->n_event_targets, 1);
    assert_int_equal(ns->event_targets[0].type, PZ_TARGET_KINESIS_FIREHOSE);
    pz_config_unref(c);
    pz_config_problems_free(&p);
}

/* ---- inheritance (§3.12) ---- */

static void test_inheritance_null_takes_parent_and_child_replaces(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c =
        parse_q("{'cacheControl':{'userSpecified':{'maxAge':1,'directives':'a'},"
                "                 'syntheticUserSpecified':{'maxAge':2,'directives':'b'},"
                "                 'noUserSpecified':{'maxAge':3,'directives':'c'}},"
                " 'autoContext':{'rootField':{'type':'string','rules':[]}},"
                " 'namespaces':{'ns':{'autoContext':null,'recommenders':{'recommend-items':{"
                "   'r':{'cacheControl':{'userSpecified':{'maxAge':9}},"
                "        'filters':[{'arn':'arn:aws:personalize:us-east-1:111122223333:filter/f'}],"
                "        'variations':{"
                "          'a':{'type':'builtin','cacheControl':null,'filters':null},"
                "          'b':{'type':'builtin','filters':[],'autoContext':{'own':{'type':'long','rules':[]}}}}}}}}}}",
                &p);
    if (c == NULL)
        dump_problems(&p);
    assert_non_null(c);
    const pz_namespace *ns = pz_config_namespace(c, "ns");
    /* Namespace autoContext null: takes the root's. */
    assert_int_equal(ns->auto_context_view->n_fields, 1);
    assert_string_equal(ns->auto_context_view->fields[0].name, "rootField");
    assert_int_equal(ns->cache_control_view->no_user_specified.max_age, 3);

    const pz_recommender *r = pz_config_recommender(ns, PZ_ACTION_RECOMMEND_ITEMS, "r");
    /* The recommender's partial cacheControl replaces the whole parent object: no merge. */
    const pz_cache_control *rcc = r->cache_control_view;
    assert_int_equal(rcc->user_specified.max_age, 9);
    assert_null(rcc->user_specified.directives);
    assert_false(rcc->no_user_specified.present);
    assert_false(rcc->synthetic_user_specified.present);

    const pz_variation *a = pz_config_variation(r, "a");
    const pz_variation *b = pz_config_variation(r, "b");
    /* a: null cacheControl and filters take the recommender's. */
    assert_ptr_equal(a->cache_control_view, rcc);
    assert_ptr_equal(a->filters_view, r->filters_view);
    assert_int_equal(a->filters_view->n, 1);
    assert_ptr_equal(a->auto_context_view, ns->auto_context_view);
    /* b: an empty filters array is a value (not null): no filters. Own autoContext replaces. */
    assert_non_null(b->filters_view);
    assert_int_equal(b->filters_view->n, 0);
    assert_int_equal(b->auto_context_view->n_fields, 1);
    assert_string_equal(b->auto_context_view->fields[0].name, "own");
    assert_int_equal(b->auto_context_view->fields[0].type, PZ_FIELD_LONG);

    /* The variation JSON carries the inherited values in place of null. */
    json_t *aj = json_loads(a->json, 0, NULL);
    assert_non_null(aj);
    assert_true(json_is_array(json_object_get(aj, "filters")));
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(aj, "cacheControl"), "userSpecified"), "maxAge")),
                     9);
    assert_non_null(json_object_get(json_object_get(aj, "autoContext"), "rootField"));
    json_decref(aj);
    pz_config_unref(c);
    pz_config_problems_free(&p);
}

/* ---- validation errors ---- */

typedef struct error_case {
    const char *doc;    /* single-quoted JSON */
    const char *path;   /* where the error must be reported */
    const char *needle; /* a substring of its message */
    size_t n_errors;    /* exactly this many errors (no cascades) */
} error_case;

static const error_case ERROR_CASES[] = {
/* rules (ours, issue #20): our own block, every limit named in config.h crossed */
#define RULES_DOC(r) DOC_WITH_REC("{'rules':" r ",'variations':{'v':{'type':'builtin'}}}")
#define RULES_PATH REC_PATH ".rules"
    {"{'namespaces':{},'rules':{}}", "$.rules", "unknown key", 1},
    {RULES_DOC("{'bogus':1}"), RULES_PATH ".bogus", "unknown key", 1},
    {RULES_DOC("[]"), RULES_PATH, "expected a rules block", 1},
    {RULES_DOC("{'excludeSeen':{'windowSeconds':0}}"), RULES_PATH ".excludeSeen.windowSeconds", "out of range", 1},
    {RULES_DOC("{'excludeSeen':{'windowSeconds':315360001}}"), RULES_PATH ".excludeSeen.windowSeconds", "out of range",
     1},
    {RULES_DOC("{'excludeSeen':{'eventTypes':[]}}"), RULES_PATH ".excludeSeen.eventTypes", "1 to 20 strings", 1},
    {RULES_DOC("{'excludeSeen':{'eventTypes':['a','b','c','d','e','f','g','h','i','j','k','l','m','n','o','p','q','r',"
               "'s','t','u']}}"),
     RULES_PATH ".excludeSeen.eventTypes", "1 to 20 strings", 1},
    {RULES_DOC("{'diversity':{'field':'category'}}"), RULES_PATH ".diversity.maxPerValue", "required with method cap",
     1},
    {RULES_DOC("{'diversity':{'field':'category','maxPerValue':501}}"), RULES_PATH ".diversity.maxPerValue",
     "out of range", 1},
    {RULES_DOC("{'diversity':{'maxPerValue':2}}"), RULES_PATH ".diversity.field", "required", 1},
    {RULES_DOC("{'diversity':{'field':'c','method':'mmr','lambda':1.5}}"), RULES_PATH ".diversity.lambda",
     "from 0 to 1", 1},
    {RULES_DOC("{'diversity':{'field':'c','method':'random'}}"), RULES_PATH ".diversity.method", "cap, mmr", 1},
    {RULES_DOC("{'pin':[{'itemId':'a','position':0}]}"), RULES_PATH ".pin[0].position", "out of range", 1},
    {RULES_DOC("{'pin':[{'itemId':'a','position':501}]}"), RULES_PATH ".pin[0].position", "out of range", 1},
    {RULES_DOC("{'pin':[{'itemId':'a'}]}"), RULES_PATH ".pin[0].position", "required", 1},
    {RULES_DOC("{'pin':[{'itemId':'a','field':'c','values':['x'],'position':1}]}"), RULES_PATH ".pin[0]",
     "either \"itemId\"", 1},
    {RULES_DOC("{'boost':[{'itemIds':['a'],'weight':0}]}"), RULES_PATH ".boost[0].weight", "above 0", 1},
    {RULES_DOC("{'boost':[{'field':'c','weight':2}]}"), RULES_PATH ".boost[0].values", "1 to 100", 1},
    {RULES_DOC("{'bury':[{'field':'c','values':[true]}]}"), RULES_PATH ".bury[0].values", "a string or a number", 1},
    {RULES_DOC("{'bury':[{}]}"), RULES_PATH ".bury[0]", "either \"itemIds\"", 1},
    {RULES_DOC("{'filterValuesFromItem':{'bad key':'c'}}"), RULES_PATH ".filterValuesFromItem", "filter parameter", 1},
    {RULES_DOC("{'filterValuesFromItem':{}}"), RULES_PATH ".filterValuesFromItem", "1 to 10", 1},
    {RULES_DOC("{'pagination':{'maxItems':0}}"), RULES_PATH ".pagination.maxItems", "out of range", 1},
    {RULES_DOC("{'pagination':{'maxItems':501}}"), RULES_PATH ".pagination.maxItems", "out of range", 1},
    {RULES_DOC("{'pagination':{'ttlSeconds':86401}}"), RULES_PATH ".pagination.ttlSeconds", "out of range", 1},
    {RULES_DOC("{'pagination':{'pages':2}}"), RULES_PATH ".pagination.pages", "unknown key", 1},
    {RULES_DOC("{'lookAheadMultiplier':0.5}"), RULES_PATH ".lookAheadMultiplier", "out of range", 1},
    {RULES_DOC("{'lookAheadMaximumValue':501}"), RULES_PATH ".lookAheadMaximumValue", "out of range", 1},
    /* root */
    {"{'version':42,'namespaces':{}}", "$.version", "expected a string", 1},
    {"{'namespaces':{},'bogus':1}", "$.bogus", "unknown key", 1},
    {"{'description':'x'}", "$.namespaces", "required", 1},
    {"[1,2]", "$", "expected the configuration object", 1},
    {"{'namespaces':{", "$", "invalid JSON at line 1", 1},
    {"{'namespaces':[]}", "$.namespaces", "expected namespaces", 1},
    /* namespaces */
    {"{'namespaces':{'bad key':{'eventTargets':[]}}}", "$.namespaces[\"bad key\"]", "invalid namespace key", 1},
    {DOC_WITH_NS("{'eventTargets':[],'filters':[]}"), "$.namespaces.ns.filters", "unknown key", 1},
    {DOC_WITH_NS("{'name':'n'}"), "$.namespaces.ns", "needs \"recommenders\", \"eventTargets\"", 1},
    /* cacheControl, strict at root and namespace */
    {"{'cacheControl':{'userSpecified':{'maxAge':1,'directives':'a'},'syntheticUserSpecified':{'maxAge':1,"
     "'directives':'a'}},'namespaces':{}}",
     "$.cacheControl.noUserSpecified", "required", 1},
    {"{'cacheControl':{'userSpecified':{'maxAge':-1,'directives':'a'},'syntheticUserSpecified':{'maxAge':1,"
     "'directives':'a'},'noUserSpecified':{'maxAge':1,'directives':'a'}},'namespaces':{}}",
     "$.cacheControl.userSpecified.maxAge", "out of range", 1},
    {DOC_WITH_NS("{'eventTargets':[],'cacheControl':{'userSpecified':{'maxAge':1.5,'directives':'a'},"
                 "'syntheticUserSpecified':{'maxAge':1,'directives':'a'},'noUserSpecified':{'maxAge':1}}}"),
     "$.namespaces.ns.cacheControl.userSpecified.maxAge", "expected an integer", 2},
    {DOC_WITH_REC("{'cacheControl':{'userSpecified':{'maxAge':'10'}},'variations':{'v':" PCAMPAIGN("c") "}}"),
     REC_PATH ".cacheControl.userSpecified.maxAge", "expected an integer", 1},
    {DOC_WITH_REC("{'cacheControl':{'userSpecified':{'maxAge':10,'staleWhileRevalidate':-1}},"
                  "'variations':{'v':" PCAMPAIGN("c") "}}"),
     REC_PATH ".cacheControl.userSpecified.staleWhileRevalidate", "out of range", 1},
    {DOC_WITH_REC("{'cacheControl':{'noUserSpecified':{'maxAge':10,'staleIfError':'1h'}},"
                  "'variations':{'v':" PCAMPAIGN("c") "}}"),
     REC_PATH ".cacheControl.noUserSpecified.staleIfError", "expected an integer", 1},
    /* autoContext and trustedProxies (ours) */
    {"{'trustedProxies':'10.0.0.0/8','namespaces':{}}", "$.trustedProxies", "expected an array", 1},
    {"{'trustedProxies':['10.0.0.0/8','10.0.0.1/8',5,'fd00::/129'],'namespaces':{}}", "$.trustedProxies[1]",
     "expected a CIDR block", 3},
    {"{'autoContext':{'" LONG_FIELD_NAME "':{'type':'string','rules':[]}},'namespaces':{}}",
     "$.autoContext." LONG_FIELD_NAME, "longer than 150 characters", 1},
    {"{'autoContext':{'device_type':{'type':'string','rules':[]}},'namespaces':{}}", "$.autoContext.device_type",
     "invalid context field name", 1},
    {"{'autoContext':{'f':{'type':'text','rules':[]}},'namespaces':{}}", "$.autoContext.f.type", "unknown value", 1},
    {"{'autoContext':{'f':{'type':'string'}},'namespaces':{}}", "$.autoContext.f.rules", "required", 1},
    {"{'autoContext':{'f':{'type':'string','rules':[{'type':'minute'}]}},'namespaces':{}}",
     "$.autoContext.f.rules[0].type", "header-value, hour-of-day", 1},
    {"{'autoContext':{'f':{'type':'string','rules':[{'type':'header-value'}]}},'namespaces':{}}",
     "$.autoContext.f.rules[0].header", "required", 1},
    {"{'autoContext':{'f':{'type':'string','rules':[{'type':'hour-of-day','header':'x'}]}},'namespaces':{}}",
     "$.autoContext.f.rules[0].header", "unknown key", 1},
    {"{'autoContext':{'f':{'type':'string','rules':[{'type':'hour-of-day','valueMappings':[{'operator':'like',"
     "'value':1,'mapTo':'x'}]}]}},'namespaces':{}}",
     "$.autoContext.f.rules[0].valueMappings[0].operator", "unknown value \"like\"", 1},
    {"{'autoContext':{'f':{'type':'string','rules':[{'type':'hour-of-day','valueMappings':[{'operator':'equals',"
     "'value':[true],'mapTo':'x'}]}]}},'namespaces':{}}",
     "$.autoContext.f.rules[0].valueMappings[0].value", "a string, a number or a boolean", 1},
    {"{'autoContext':{'f':{'type':'string','default':[],'rules':[]}},'namespaces':{}}", "$.autoContext.f.default",
     "a string, a number or a boolean", 1},
    /* recommenders and variations */
    {DOC_WITH_REC("{'variations':[]}"), REC_PATH ".variations", "expected an object", 1},
    {DOC_WITH_VAR("{'type':'personalize'}"), VAR_PATH ".type", "unknown value", 1},
    {DOC_WITH_VAR("{'arn':'x'}"), VAR_PATH ".type", "required", 1},
    {DOC_WITH_VAR("{'type':'personalize-campaign'}"), VAR_PATH ".arn", "required", 1},
    {DOC_WITH_VAR("{'type':'personalize-campaign','arn':'arn:aws:personalize:us-east-1:11112222333:campaign/c'}"),
     VAR_PATH ".arn", "12-digit account", 1},
    {DOC_WITH_VAR("{'type':'personalize-campaign','arn':'arn:aws:personalize:useast1:111122223333:campaign/c'}"),
     VAR_PATH ".arn", "not a Personalize campaign or recommender ARN", 1},
    {DOC_WITH_VAR("{'type':'personalize-campaign','arn':'arn:aws:personalize:us-east-1:111122223333:filter/c'}"),
     VAR_PATH ".arn", "not a Personalize campaign", 1},
    {DOC_WITH_VAR("{'type':'personalize-campaign','arn':'arn:aws:personalize:us-east-1:111122223333:campaign/'}"),
     VAR_PATH ".arn", "not a Personalize campaign", 1},
    {DOC_WITH_VAR("{'type':'lambda','arn':'arn:aws:personalize:us-east-1:111122223333:campaign/c'}"), VAR_PATH ".arn",
     "not a Lambda function ARN", 1},
    {DOC_WITH_VAR("{'type':'function','arn':'my-function'}"), VAR_PATH ".arn", "not a Lambda function ARN", 1},
    {DOC_WITH_VAR("{'type':'sagemaker'}"), VAR_PATH ".endpointName", "required", 1},
    {DOC_WITH_VAR("{'type':'sagemaker','endpointName':''}"), VAR_PATH ".endpointName", "must not be empty", 1},
    {DOC_WITH_VAR("{'type':'http','url':'ftp://x/y'}"), VAR_PATH ".url", "http:// or https://", 1},
    {DOC_WITH_VAR("{'type':'http','url':7}"), VAR_PATH ".url", "got number", 1},
    /* remote variations: our location keys, promotions, URL template placeholders */
    {DOC_WITH_VAR("{'type':'http','url':'http://x/{userId'}"), VAR_PATH ".url", "not closed", 1},
    {DOC_WITH_VAR("{'type':'sagemaker','endpointName':'a/b'}"), VAR_PATH ".endpointName", "invalid endpoint name", 1},
    {DOC_WITH_VAR("{'type':'sagemaker','endpointName':'e','endpointUrl':'runtime.local'}"), VAR_PATH ".endpointUrl",
     "http:// or https://", 1},
    {DOC_WITH_VAR("{'type':'lambda','arn':'arn:aws:lambda:us-east-1:111122223333:function:f','region':'Mars'}"),
     VAR_PATH ".region", "invalid region", 1},
    {DOC_WITH_VAR("{'type':'personalize-campaign','arn':'arn:aws:personalize:us-east-1:111122223333:campaign/c',"
                  "'promotions':{}}"),
     VAR_PATH ".promotions", "1 to 10 promotions", 1},
    {DOC_WITH_VAR("{'type':'personalize-campaign','arn':'arn:aws:personalize:us-east-1:111122223333:campaign/c',"
                  "'promotions':[{},{},{},{},{},{},{},{},{},{},{}]}"),
     VAR_PATH ".promotions", "1 to 10 promotions", 1},
    {DOC_WITH_VAR("{'type':'personalize-campaign','arn':'arn:aws:personalize:us-east-1:111122223333:campaign/c',"
                  "'promotions':[{'name':'p','percentPromotedItems':101,"
                  "'filterArn':'arn:aws:personalize:us-east-1:111122223333:filter/f'}]}"),
     VAR_PATH ".promotions[0].percentPromotedItems", "out of range", 1},
    {DOC_WITH_VAR("{'type':'personalize-campaign','arn':'arn:aws:personalize:us-east-1:111122223333:campaign/c',"
                  "'promotions':[{'name':'p','percentPromotedItems':10,'filterArn':'nope'}]}"),
     VAR_PATH ".promotions[0].filterArn", "not a Personalize filter ARN", 1},
    {DOC_WITH_VAR("{'type':'personalize-campaign','arn':'arn:aws:personalize:us-east-1:111122223333:campaign/c',"
                  "'promotions':[{'percentPromotedItems':10,"
                  "'filterArn':'arn:aws:personalize:us-east-1:111122223333:filter/f','filterValues':{'A':1}}]}"),
     VAR_PATH ".promotions[0].name", "required", 2},
    {DOC_WITH_VAR("{'type':'builtin','strategy':'co-occurrence'}"), VAR_PATH ".strategy",
     "personalized, popular (for recommend-items)", 1},
    {DOC_WITH_VAR("{'type':'builtin','excludeSeen':'yes'}"), VAR_PATH ".excludeSeen", "boolean", 1},
    {DOC_WITH_VAR("{'type':'builtin','timeoutMs':0}"), VAR_PATH ".timeoutMs", "out of range", 1},
    {DOC_WITH_VAR("{'type':'builtin','fallback':'other'}"), VAR_PATH ".fallback", "no variation \"other\"", 1},
    {DOC_WITH_VAR("{'type':'builtin','fallback':'v'}"), VAR_PATH ".fallback", "itself", 1},
    {DOC_WITH_REC("{'variations':{'v':{'type':'builtin','fallback':'w'},'w':{'type':'builtin','fallback':'v'}}}"),
     VAR_PATH ".fallback", "loops", 2},
    /* filters */
    {DOC_WITH_VAR("{'type':'builtin','filters':{}}"), VAR_PATH ".filters", "expected an array of filters", 1},
    {DOC_WITH_VAR("{'type':'builtin','filters':[{'arn':'arn:aws:personalize:us-east-1:111122223333:campaign/c'}]}"),
     VAR_PATH ".filters[0].arn", "not a Personalize filter ARN", 1},
    {DOC_WITH_VAR("{'type':'builtin','filters':[{'arn':'arn:aws:personalize:us-east-1:111122223333:filter/f',"
                  "'condition':'user-present'}]}"),
     VAR_PATH ".filters[0].condition", "user-required", 1},
    {DOC_WITH_VAR("{'type':'builtin','filters':[{'condition':'user-required'}]}"), VAR_PATH ".filters[0].arn",
     "required", 1},
    {DOC_WITH_VAR("{'type':'builtin','filters':[{'arn':'arn:aws:personalize:us-east-1:111122223333:filter/f',"
                  "'autoDynamicFilterValues':{'a.b':{'type':'string','rules':[]}}}]}"),
     VAR_PATH ".filters[0].autoDynamicFilterValues[\"a.b\"]", "invalid filter parameter name", 1},
    /* experiments */
    {DOC_WITH_REC("{'variations':{'v':" PCAMPAIGN("c") "},'experiments':{'f':{'method':'evidently','metrics':{}}}}"),
     REC_PATH ".experiments.f.project", "required", 1},
    {DOC_WITH_REC("{'variations':{'v':" PCAMPAIGN("c") "},'experiments':{'f':{'method':'evidently','project':'p'}}}"),
     REC_PATH ".experiments.f.metrics", "required", 1},
    {DOC_WITH_REC("{'variations':{'v':" PCAMPAIGN("c") "},'experiments':{'f':{'method':'optimizely'}}}"),
     REC_PATH ".experiments.f.method", "evidently, local", 1},
    {DOC_WITH_REC("{'variations':{'v':" PCAMPAIGN("c") "},'experiments':{'f':{'method':'evidently','project':'p',"
                                                       "'metrics':{'m':{'valueKey':'a.b'}}}}}"),
     REC_PATH ".experiments.f.metrics.m.entityIdKey", "required", 1},
    /* issue #14: weights are optional (an equal split); a salt must be a string */
    {DOC_WITH_REC("{'variations':{'v':" PCAMPAIGN("c") "},'experiments':{'f':{'method':'local','salt':5}}}"),
     REC_PATH ".experiments.f.salt", "string", 1},
    {DOC_WITH_REC("{'variations':{'v':" PCAMPAIGN("c") "},'experiments':{'f':{'method':'local','weights':{'x':1}}}}"),
     REC_PATH ".experiments.f.weights.x", "no variation \"x\"", 1},
    {DOC_WITH_REC("{'variations':{'v':" PCAMPAIGN("c") "},'experiments':{'f':{'method':'local','weights':{'v':-1}}}}"),
     REC_PATH ".experiments.f.weights.v", "weight >= 0", 1},
    {DOC_WITH_REC("{'variations':{'v':" PCAMPAIGN("c") "},'experiments':{'f':{'method':'local','weights':{'v':0}}}}"),
     REC_PATH ".experiments.f.weights", "all weights are zero", 1},
    /* responsePostProcessor */
    {DOC_WITH_REC(
         "{'variations':{'v':" PCAMPAIGN("c") "},'responsePostProcessor':{'type':'lambda',"
                                              "'arn':'arn:aws:personalize:us-east-1:111122223333:campaign/c'}}"),
     REC_PATH ".responsePostProcessor.arn", "not a Lambda function ARN", 1},
    {DOC_WITH_REC("{'variations':{'v':" PCAMPAIGN(
         "c") "},'responsePostProcessor':{'type':'lambda',"
              "'arn':'arn:aws:lambda:us-east-1:111122223333:function:f','lookAheadMultiplier':0.5}}"),
     REC_PATH ".responsePostProcessor.lookAheadMultiplier", ">= 1", 1},
    {DOC_WITH_REC("{'variations':{'v':" PCAMPAIGN("c") "},'responsePostProcessor':{'type':'sagemaker',"
                                                       "'arn':'arn:aws:lambda:us-east-1:111122223333:function:f'}}"),
     REC_PATH ".responsePostProcessor.type", "lambda", 1},
    /* inferenceItemMetadata */
    {DOC_WITH_NS("{'eventTargets':[],'inferenceItemMetadata':{'type':'localdb','syncInterval':4}}"),
     "$.namespaces.ns.inferenceItemMetadata.syncInterval", "5 to 3600", 1},
    {DOC_WITH_NS("{'eventTargets':[],'inferenceItemMetadata':{'type':'dynamodb','billingMode':'ON_DEMAND'}}"),
     "$.namespaces.ns.inferenceItemMetadata.billingMode", "PAY_PER_REQUEST, PROVISIONED", 1},
    {DOC_WITH_NS("{'eventTargets':[],'inferenceItemMetadata':{'type':'redis'}}"),
     "$.namespaces.ns.inferenceItemMetadata.type", "personalize, localdb, dynamodb", 1},
    {DOC_WITH_NS("{'eventTargets':[],'inferenceItemMetadata':{'type':'localdb','billingMode':'PROVISIONED'}}"),
     "$.namespaces.ns.inferenceItemMetadata.billingMode", "unknown key", 1},
    {DOC_WITH_NS("{'eventTargets':[],'inferenceItemMetadata':{'type':'personalize'}}"),
     "$.namespaces.ns.inferenceItemMetadata.itemColumns", "required", 1},
    {DOC_WITH_NS("{'eventTargets':[],'inferenceItemMetadata':{'type':'personalize','itemColumns':"
                 "['A','B','C','D','E','F','G','H','I','J','K']}}"),
     "$.namespaces.ns.inferenceItemMetadata.itemColumns", "at most 10", 1},
    /* eventTargets */
    {DOC_WITH_NS("{'eventTargets':{}}"), "$.namespaces.ns.eventTargets", "expected an array", 1},
    {DOC_WITH_NS("{'eventTargets':[{'type':'kinesis-firehose'}]}"), "$.namespaces.ns.eventTargets[0].streamName",
     "required", 1},
    {DOC_WITH_NS("{'eventTargets':[{'type':'kinesis-stream','streamName':'s','shardCount':2}]}"),
     "$.namespaces.ns.eventTargets[0].shardCount", "unknown key", 1},
    {DOC_WITH_NS("{'eventTargets':[{'type':'kinesis-stream','streamName':'s','region':'US East'}]}"),
     "$.namespaces.ns.eventTargets[0].region", "invalid region", 1},
    {DOC_WITH_NS("{'eventTargets':[{'type':'kinesis-firehose','streamName':'s','endpointUrl':'vpce.local'}]}"),
     "$.namespaces.ns.eventTargets[0].endpointUrl", "http:// or https://", 1},
    {DOC_WITH_NS("{'eventTargets':[{'type':'personalize-event-tracker','trackingId':'t','endpointUrl':7}]}"),
     "$.namespaces.ns.eventTargets[0].endpointUrl", "expected a string", 1},
    {DOC_WITH_NS("{'eventTargets':[{'type':'http','url':'http://x','region':'us-east-1'}]}"),
     "$.namespaces.ns.eventTargets[0].region", "unknown key", 1},
    {DOC_WITH_NS("{'eventTargets':[{'type':'sqs'}]}"), "$.namespaces.ns.eventTargets[0].type", "unknown value", 1},
    {DOC_WITH_NS("{'eventTargets':[{'type':'http','url':'localhost:8080'}]}"), "$.namespaces.ns.eventTargets[0].url",
     "http:// or https://", 1},
    {DOC_WITH_NS("{'eventTargets':[{'type':'http','url':'http://x','headers':{'X-Key':1}}]}"),
     "$.namespaces.ns.eventTargets[0].headers.X-Key", "string header value", 1},
    {DOC_WITH_NS("{'eventTargets':[{'type':'file'}]}"), "$.namespaces.ns.eventTargets[0].path", "required", 1},
    /* what upstream's schema refuses stays refused: a trackingId or streamName without one
     * character of its pattern (the patterns are unanchored) */
    {DOC_WITH_NS("{'eventTargets':[{'type':'personalize-event-tracker','trackingId':'!!!'}]}"),
     "$.namespaces.ns.eventTargets[0].trackingId", "has none of letters, digits and '-'", 1},
    {DOC_WITH_NS("{'eventTargets':[{'type':'kinesis-stream','streamName':'//'}]}"),
     "$.namespaces.ns.eventTargets[0].streamName", "has none of", 1},
    /* control characters in values that reach a header, a URL or a log line (issue 12) */
    {"{'cacheControl':{'userSpecified':{'maxAge':10,'directives':'private\\r\\nSet-Cookie: a=b'},"
     "'syntheticUserSpecified':{'maxAge':1,'directives':'public'},'noUserSpecified':{'maxAge':1,'directives':'x'}},"
     "'namespaces':{}}",
     "$.cacheControl.userSpecified.directives", "control character U+000D (CR) at byte 7", 1},
    {"{'version':'1\\n','namespaces':{}}", "$.version", "U+000A (LF) at byte 1", 1},
    {"{'version':'a\\tb','namespaces':{}}", "$.version", "U+0009 (TAB)", 1},
    {"{'version':'a\\u007fb','namespaces':{}}", "$.version", "U+007F", 1},
    {"{'version':'a\\u0000b','namespaces':{}}", "$.version", "U+0000 (NUL) at byte 1", 1},
    {DOC_WITH_VAR("{'type':'http','url':'http://x/a\\u0001b'}"), VAR_PATH ".url", "U+0001", 1},
    {DOC_WITH_VAR("{'type':'lambda','arn':'arn:aws:lambda:us-east-1:111122223333:function:f\\r'}"), VAR_PATH ".arn",
     "U+000D", 1},
    {DOC_WITH_VAR("{'type':'builtin','fallback':'w\\n'}"), VAR_PATH ".fallback", "U+000A", 1},
    {DOC_WITH_NS("{'eventTargets':[{'type':'file','path':'/tmp/x\\ny'}]}"), "$.namespaces.ns.eventTargets[0].path",
     "U+000A", 1},
    {DOC_WITH_NS("{'eventTargets':[{'type':'kinesis-stream','streamName':'s\\r\\n'}]}"),
     "$.namespaces.ns.eventTargets[0].streamName", "U+000D", 1},
    {DOC_WITH_NS("{'eventTargets':[{'type':'http','url':'http://x','headers':{'X-Key':'a\\r\\nX-Evil: 1'}}]}"),
     "$.namespaces.ns.eventTargets[0].headers.X-Key", "U+000D (CR) at byte 1", 1},
    /* keys name objects in every message and log line; NUL ends C strings, even in free text */
    {"{'namespaces':{'ns':{'eventTargets':[{'type':'http','url':'http://x','headers':{'X\\nY':'1'}}]}}}",
     "$.namespaces.ns.eventTargets[0].headers[\"X\\u000aY\"]", "U+000A (LF) at byte 1", 2},
    {"{'description':'two\\u0000parts','namespaces':{}}", "$.description", "U+0000 (NUL) at byte 3", 1},
    /* a message quoting a value keeps it on one line */
    {DOC_WITH_VAR("{'type':'lam\\nbda'}"), VAR_PATH ".type", "unknown value \"lam\\u000abda\"", 1},
};

/* Documents upstream's schema accepts load, each with a warning naming the path where the operator
 * probably erred (issue 12; before, all were errors). */
typedef struct warning_case {
    const char *doc;
    const char *path;
    const char *needle;
} warning_case;

static const warning_case WARNING_CASES[] = {
    {"{'namespaces':{'':{'eventTargets':[]}}}", "$.namespaces[\"\"]", "empty namespace key"},
    {DOC_WITH_REC("{'name':'x'}"), REC_PATH ".variations", "no variations"},
    {DOC_WITH_REC("{'variations':{}}"), REC_PATH ".variations", "404 NoVariationsConfigured"},
    {"{'namespaces':{'ns':{'recommenders':{'recommend-items':{'r/x':{'variations':{'v':" PCAMPAIGN("c") "}}}}}}}",
     "$.namespaces.ns.recommenders.recommend-items[\"r/x\"]", "percent-encode"},
    {DOC_WITH_REC("{'variations':{'':" PCAMPAIGN("c") "}}"), REC_PATH ".variations[\"\"]", "empty variation key"},
    {"{'namespaces':{'ns':{'recommenders':{'recommend-item':{'r':{'variations':{}}}}}}}",
     "$.namespaces.ns.recommenders.recommend-item", "unknown action is ignored"},
    {DOC_WITH_VAR("{'type':'http','url':'http://x/{userid}?p={page}'}"), VAR_PATH ".url",
     "{userid} is not one of the server's: it is filled from the request's query parameter"},
    {DOC_WITH_REC("{'variations':{'v':" PCAMPAIGN("c") "},'experiments':{'a b':{'method':'local','weights':{'v':1}}}}"),
     REC_PATH ".experiments[\"a b\"]", "feature name"},
    {DOC_WITH_REC("{'variations':{'v':" PCAMPAIGN("c") "},'experiments':{'f':{'method':'evidently','project':'p',"
                                                       "'metrics':{'a b':{'entityIdKey':'u','valueKey':'v'}}}}}"),
     REC_PATH ".experiments.f.metrics[\"a b\"]", "metric name"},
    {DOC_WITH_VAR("{'type':'builtin','autoContext':{'device_type':{'type':'string','rules':[]}}}"),
     VAR_PATH ".autoContext.device_type", "context field name"},
    {DOC_WITH_NS("{'eventTargets':[],'inferenceItemMetadata':{'type':'dynamodb','billingMode':'PROVISIONED'}}"),
     "$.namespaces.ns.inferenceItemMetadata.provisionedThroughput", "missing with billingMode PROVISIONED"},
    {DOC_WITH_NS("{'eventTargets':[],'inferenceItemMetadata':{'type':'dynamodb','billingMode':'PROVISIONED',"
                 "'provisionedThroughput':{'readCapacityUnits':5,'iops':3}}}"),
     "$.namespaces.ns.inferenceItemMetadata.provisionedThroughput.iops", "ignored"},
    {DOC_WITH_NS("{'eventTargets':[],'inferenceItemMetadata':{'type':'dynamodb','billingMode':'PROVISIONED',"
                 "'provisionedThroughput':{'readCapacityUnits':5}}}"),
     "$.namespaces.ns.inferenceItemMetadata.provisionedThroughput.writeCapacityUnits", "missing"},
    {DOC_WITH_NS("{'eventTargets':[{'type':'personalize-event-tracker','trackingId':'abc def'}]}"),
     "$.namespaces.ns.eventTargets[0].trackingId", "AWS will refuse it"},
    {DOC_WITH_NS("{'eventTargets':[{'type':'kinesis-stream','streamName':'a/b'}]}"),
     "$.namespaces.ns.eventTargets[0].streamName", "AWS will refuse it"},
    /* value mappings: upstream's schema misplaces additionalProperties, so even at root level */
    {"{'autoContext':{'f':{'type':'string','rules':[{'type':'hour-of-day','valueMappings':[{'operator':'equals',"
     "'value':1,'mapTo':'x','note':'n'}]}]}},'namespaces':{}}",
     "$.autoContext.f.rules[0].valueMappings[0].note", "ignored"},
    /* free text may hold line breaks: it reaches no header, URL or log line */
    {"{'description':'line 1\\nline 2','version':'v','namespaces':{'ns':{'name':'a\\tb','eventTargets':[]},"
     "'x':{'eventTargets':[],'eventTargets':[]}}}",
     "$.namespaces.x.eventTargets", "given more than once"},
};

static void test_documents_upstream_accepts_load_with_warnings(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof WARNING_CASES / sizeof WARNING_CASES[0]; i++) {
        const warning_case *tc = &WARNING_CASES[i];
        pz_config_problems p;
        pz_config_problems_init(&p);
        pz_config *c = parse_q(tc->doc, &p);
        if (c == NULL || find_problem(&p, tc->path, true) == NULL) {
            fprintf(stderr, "case %zu (%s):\n", i, tc->path);
            dump_problems(&p);
        }
        assert_non_null(c);
        assert_int_equal(p.n_errors, 0);
        expect_problem(&p, tc->path, true, tc->needle);
        pz_config_unref(c);
        pz_config_problems_free(&p);
    }
}

/* A key given twice: the last value wins, as in upstream's Python loader, with a warning naming
 * the path of each repetition; escapes are decoded before keys are compared. */
static void test_duplicate_keys_last_wins(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c = parse_q("{'version':'a','namespaces':{'ns':{'eventTargets':[{'type':'builtin'}],"
                           "'eventTargets':[{'type':'http','url':'http://x','headers':{'X-A':'1','X-\\u0041':'2'}}]}},"
                           "'version':'b','version':'c'}",
                           &p);
    if (c == NULL)
        dump_problems(&p);
    assert_non_null(c);
    assert_string_equal(pz_config_version(c), "c");
    const pz_namespace *ns = pz_config_namespace(c, "ns");
    assert_int_equal(ns->n_event_targets, 1);
    assert_int_equal(ns->event_targets[0].type, PZ_TARGET_HTTP);
    assert_int_equal(ns->event_targets[0].n_headers, 1);
    assert_string_equal(ns->event_targets[0].header_values[0], "2");
    expect_problem(&p, "$.version", true, "given more than once in this object; the last value is used");
    expect_problem(&p, "$.namespaces.ns.eventTargets", true, "given more than once");
    expect_problem(&p, "$.namespaces.ns.eventTargets[0].headers.X-A", true, "given more than once");
    assert_int_equal(p.n, 4); /* version twice, eventTargets, X-A */
    pz_config_unref(c);
    pz_config_problems_free(&p);
}

static void test_error_paths(void **state)
{
    (void)state;
    /* Every failing case is listed first; then the assertions. */
    for (size_t i = 0; i < sizeof ERROR_CASES / sizeof ERROR_CASES[0]; i++) {
        const error_case *tc = &ERROR_CASES[i];
        pz_config_problems p;
        pz_config_problems_init(&p);
        pz_config *c = parse_q(tc->doc, &p);
        if (c != NULL || p.n_errors != tc->n_errors || find_problem(&p, tc->path, false) == NULL) {
            fprintf(stderr, "case %zu (%s): expected %zu error(s), got %zu:\n", i, tc->path, tc->n_errors, p.n_errors);
            dump_problems(&p);
        }
        pz_config_unref(c);
        pz_config_problems_free(&p);
    }
    for (size_t i = 0; i < sizeof ERROR_CASES / sizeof ERROR_CASES[0]; i++) {
        const error_case *tc = &ERROR_CASES[i];
        pz_config_problems p;
        pz_config_problems_init(&p);
        pz_config *c = parse_q(tc->doc, &p);
        assert_null(c);
        assert_int_equal(p.n_errors, tc->n_errors);
        expect_problem(&p, tc->path, false, tc->needle);
        pz_config_problems_free(&p);
    }
}

/* The rules block: inherited namespace -> recommender -> variation, a level's own block replacing
 * its parent's whole; 50 entries per list load, 51 do not. */
static void test_rules_inheritance_and_entry_limit(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c = parse_q("{'namespaces':{'ns':{'rules':{'diversity':{'field':'category','maxPerValue':2}},"
                           "'recommenders':{'recommend-items':{"
                           "'plain':{'variations':{'a':{'type':'builtin'}}},"
                           "'own':{'rules':{'pin':[{'itemId':'x','position':3},{'itemId':'y','position':1}]},"
                           "'variations':{'a':{'type':'builtin'},'b':{'type':'builtin','rules':{'excludeSeen':{}}},"
                           "'c':{'type':'builtin','rules':null}}}}}}}}",
                           &p);
    if (c == NULL)
        dump_problems(&p);
    assert_non_null(c);
    const pz_namespace *ns = pz_config_namespace(c, "ns");
    const pz_rules *top = ns->rules_view;
    assert_non_null(top);
    assert_int_equal(top->diversity, PZ_DIVERSITY_CAP);
    assert_int_equal(top->max_per_value, 2);
    assert_int_equal(top->n_fields, 1);
    assert_true(top->look_ahead_multiplier == 2);
    const pz_recommender *plain = pz_config_recommender(ns, PZ_ACTION_RECOMMEND_ITEMS, "plain");
    assert_ptr_equal(plain->variations[0].rules_view, top);
    const pz_recommender *own = pz_config_recommender(ns, PZ_ACTION_RECOMMEND_ITEMS, "own");
    const pz_rules *pins = own->rules_view;
    assert_int_equal(pins->diversity, PZ_DIVERSITY_NONE); /* replaced, not merged */
    assert_int_equal(pins->n_pins, 2);
    assert_int_equal(pins->pins[0].position, 1); /* sorted by position */
    assert_string_equal(pins->pins[0].match.item_ids[0], "y");
    assert_true(pins->look_ahead_multiplier == 1); /* pins alone need none */
    assert_ptr_equal(pz_config_variation(own, "a")->rules_view, pins);
    assert_true(pz_config_variation(own, "b")->rules_view->exclude_seen);
    assert_ptr_equal(pz_config_variation(own, "c")->rules_view, pins); /* null takes the parent's */
    assert_non_null(strstr(pz_config_variation(own, "a")->json, "\"rules\""));
    assert_false(top->paginate);
    pz_config_unref(c);
    pz_config_problems_free(&p);

    /* Accepted but not applied: said at load. */
    pz_config_problems_init(&p);
    c = parse_q("{'namespaces':{'ns':{'rules':{'filterValuesFromItem':{'C':'category'}},'recommenders':{"
                "'rerank-items':{'rr':{'rules':{'bury':[{'itemIds':['a']}]},'variations':{'v':{'type':'builtin'}}}},"
                "'recommend-items':{'r':{'variations':{'v':{'type':'builtin',"
                "'rules':{'filterValuesFromItem':{'C':'category'}}}}}}}}}}",
                &p);
    assert_non_null(c);
    expect_problem(&p, "$.namespaces.ns.recommenders.rerank-items.rr.rules", true, "ignored: rules apply to");
    expect_problem(&p, "$.namespaces.ns.recommenders.recommend-items.r.variations.v.rules.filterValuesFromItem", true,
                   "applies to related-items");
    assert_int_equal(p.n, 2); /* the namespace's block applies where it can: no warning */
    pz_config_unref(c);
    pz_config_problems_free(&p);

    /* A list kept for less time than a cached first page is served: a warning names the variation. */
    pz_config_problems_init(&p);
    c = parse_q(DOC_WITH_REC("{'rules':{'pagination':{'ttlSeconds':100}},'cacheControl':{'userSpecified':"
                             "{'maxAge':60,'directives':'private'}},'variations':{'v':{'type':'builtin'}}}"),
                &p);
    assert_non_null(c);
    expect_problem(&p, VAR_PATH, true, "shorter than how long a cached first page may be served");
    assert_int_equal(pz_config_namespace(c, "ns")->recommenders[0][0].rules_view->page_max_items, 100);
    pz_config_unref(c);
    pz_config_problems_free(&p);

    for (int n = 50; n <= 51; n++) {
        char doc[8192] = "{'namespaces':{'ns':{'rules':{'bury':[";
        for (int i = 0; i < n; i++)
            snprintf(doc + strlen(doc), sizeof doc - strlen(doc), "%s{'itemIds':['i%d']}", i ? "," : "", i);
        strcat(doc, "]},'recommenders':{'recommend-items':{'r':{'variations':{'v':{'type':'builtin'}}}}}}}}");
        pz_config_problems_init(&p);
        c = parse_q(doc, &p);
        if (n == 50) {
            assert_non_null(c);
            assert_int_equal(pz_config_namespace(c, "ns")->rules_view->n_buries, 50);
        } else {
            assert_null(c);
            expect_problem(&p, "$.namespaces.ns.rules.bury", false, "at most 50");
        }
        pz_config_unref(c);
        pz_config_problems_free(&p);
    }
}

/* Documents with bytes the quoted test documents cannot hold, each found by
 * tests/fuzz/config_fuzz.c:
 * - jansson's error text quotes the bytes near the error as they are: a problem's message is valid
 *   UTF-8 whatever the document held;
 * - a NUL byte right after a number: jansson reads the document, and the duplicate-key scan must
 *   not stall on it (it looped forever). */
static void test_raw_byte_documents(void **state)
{
    (void)state;
    static const char BAD_UTF8[] = "{\"namespaces\":{\"n\":{\"eventTargets\":[{\"type\\u0\xc9\xbdI\x04p\"}]}}}";
    static const char NUL_AFTER_NUMBER[] = "{\"namespaces\":{},\"a\":[5\0],\"a\":1}";
    static const struct {
        const char *doc;
        size_t len;
        const char *path, *needle;
    } CASES[] = {
        {BAD_UTF8, sizeof BAD_UTF8 - 1, "$", "invalid JSON at line 1"},
        {NUL_AFTER_NUMBER, sizeof NUL_AFTER_NUMBER - 1, "$.a", "unknown key"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        pz_config_problems p;
        pz_config_problems_init(&p);
        assert_null(pz_config_parse(CASES[i].doc, CASES[i].len, &p));
        assert_int_equal(p.n_errors, 1);
        expect_problem(&p, CASES[i].path, false, CASES[i].needle);
        for (size_t k = 0; k < p.n; k++)
            assert_true(pz_utf8_valid(p.items[k].message, strlen(p.items[k].message)));
        pz_config_problems_free(&p);
    }
}

static void test_multiple_errors_all_reported(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c = load_fixture("bad-multiple.json", &p);
    assert_null(c);
    /* no variations and a trackingId upstream's unanchored pattern accepts are warnings (issue 12) */
    assert_int_equal(p.n_errors, 3);
    expect_problem(&p, "$.version", false, "expected a string");
    expect_problem(&p, "$.namespaces.shop.recommenders.recommend-items.top.variations", true, "no variations");
    expect_problem(&p, "$.namespaces.shop.recommenders.related-items.similar.variations.sims.arn", false,
                   "12-digit account");
    expect_problem(&p, "$.namespaces.shop.eventTargets[0].trackingId", true, "AWS will refuse it");
    expect_problem(&p, "$.namespaces.shop.inferenceItemMetadata.syncInterval", false, "5 to 3600");
    pz_config_problems_free(&p);
}

static void test_bad_fixtures(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    assert_null(load_fixture("bad-syntax.json", &p));
    assert_int_equal(p.n, 1);
    expect_problem(&p, "$", false, "line 4");
    pz_config_problems_free(&p);

    assert_null(load_fixture("bad-unknown-root-key.json", &p));
    assert_int_equal(p.n_errors, 1);
    expect_problem(&p, "$.settings", false, "unknown key");
    pz_config_problems_free(&p);

    assert_null(load_fixture("bad-lambda-arn.json", &p));
    assert_int_equal(p.n_errors, 1);
    expect_problem(&p, "$.namespaces.custom.recommenders.recommend-items.rules-based.variations.lambda-recs.arn", false,
                   "not a Lambda function ARN");
    pz_config_problems_free(&p);

    assert_null(load_fixture("bad-local-experiment.json", &p));
    assert_int_equal(p.n_errors, 2);
    expect_problem(&p, "$.namespaces.shop.recommenders.recommend-items.home.experiments.layout.weights.gamma", false,
                   "no variation \"gamma\"");
    expect_problem(&p, "$.namespaces.shop.recommenders.recommend-items.home.variations.beta.fallback", false,
                   "no variation \"delta\"");
    pz_config_problems_free(&p);

    assert_null(load_fixture("does-not-exist.json", &p));
    expect_problem(&p, "$", false, "cannot open");
    pz_config_problems_free(&p);
}

static void test_warnings_do_not_reject(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c =
        parse_q(DOC_WITH_REC("{'owner':'team-a','variations':{'v':{'type':'personalize-campaign',"
                             "'arn':'arn:aws:personalize:us-east-1:111122223333:recommender/r','comment':'x',"
                             "'filters':[{'arn':'arn:aws:personalize:us-east-1:111122223333:filter/f','note':1}]},"
                             "'s':{'type':'sagemaker','endpointName':'e','url':'http://unused'}},"
                             "'experiments':{'f':{'method':'evidently','project':'p','metrics':{},'tags':[]}},"
                             "'inferenceItemMetadata':{'type':'localdb'}}"),
                &p);
    if (c == NULL)
        dump_problems(&p);
    assert_non_null(c);
    assert_int_equal(p.n_errors, 0);
    expect_problem(&p, REC_PATH ".owner", true, "ignored");
    expect_problem(&p, VAR_PATH ".comment", true, "ignored");
    expect_problem(&p, VAR_PATH ".filters[0].note", true, "ignored");
    expect_problem(&p, REC_PATH ".variations.s.url", true, "sagemaker variation");
    expect_problem(&p, REC_PATH ".experiments.f.tags", true, "ignored");
    expect_problem(&p, VAR_PATH ".arn", true, "the ARN decides the backend");
    expect_problem(&p, REC_PATH ".inferenceItemMetadata", true, "namespace level");
    expect_problem(&p, REC_PATH ".experiments.f", true, "evaluated locally"); /* issue #14 */
    assert_int_equal(p.n, 8);
    /* The ARN decides the backend (upstream §3.4.1); the written type is kept. */
    const pz_recommender *r = pz_config_recommender(pz_config_namespace(c, "ns"), PZ_ACTION_RECOMMEND_ITEMS, "r");
    assert_int_equal(r->variations[0].type, PZ_VARIATION_PERSONALIZE_RECOMMENDER);
    assert_string_equal(r->variations[0].type_name, "personalize-campaign");
    pz_config_unref(c);
    pz_config_problems_free(&p);
}

static void test_trusted_proxies(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c = parse_q("{'trustedProxies':['10.0.0.0/8','192.0.2.7','2001:db8::/32'],'namespaces':{}}", &p);
    assert_non_null(c);
    size_t n;
    const pz_cidr *blocks = pz_config_trusted_proxies(c, &n);
    assert_int_equal(n, 3);
    assert_int_equal(blocks[0].prefix, 8);
    assert_int_equal(blocks[1].prefix, 32);
    assert_true(blocks[2].net.v6);
    pz_config_unref(c);
    c = parse_q("{'namespaces':{}}", &p);
    pz_config_trusted_proxies(c, &n);
    assert_int_equal(n, 0);
    pz_config_unref(c);
    pz_config_problems_free(&p);
}

/* The README's worked example of automatic context must stay a valid document. */
static void test_context_example_parses_cleanly(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c = load_fixture("context-example.json", &p);
    if (p.n > 0)
        dump_problems(&p);
    assert_non_null(c);
    assert_int_equal(p.n, 0);
    const pz_namespace *ns = pz_config_namespace(c, "demo");
    assert_int_equal(ns->auto_context_view->n_fields, 5);
    assert_string_equal(ns->auto_context_view->fields[0].name, "deviceType");
    size_t n;
    pz_config_trusted_proxies(c, &n);
    assert_int_equal(n, 2);
    pz_config_unref(c);
    pz_config_problems_free(&p);
}

static void test_root_title_and_version(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c = parse_q("{'title':'Shop APIs','version':'3.1','namespaces':{}}", &p);
    assert_non_null(c);
    assert_int_equal(p.n, 0);
    assert_string_equal(pz_config_title(c), "Shop APIs");
    assert_string_equal(pz_config_version(c), "3.1");
    assert_int_equal(pz_config_namespace_count(c), 0);
    assert_null(pz_config_namespace(c, "x"));
    pz_config_unref(c);

    /* The upstream seed document; no version. */
    c = parse_q("{'description':'Empty configuration.','namespaces':{}}", &p);
    assert_non_null(c);
    assert_null(pz_config_version(c));
    pz_config_unref(c);

    assert_null(parse_q("{'title':5,'namespaces':{}}", &p));
    expect_problem(&p, "$.title", false, "expected a string");
    pz_config_problems_free(&p);

    /* Problems may be NULL; the result is the same. */
    assert_null(parse_q("{'version':1,'namespaces':{}}", NULL));
    assert_null(pz_config_parse(NULL, 0, NULL));
}

/* ---- our additions and synonyms ---- */

static void test_synonyms_and_header_case(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c =
        parse_q("{'autoContext':{'f':{'type':'string','default':0,'rules':["
                "   {'type':'season','valueMappings':[{'operator':'start-with','value':'a','mapTo':0}]},"
                "   {'type':'header-value','header':'CloudFront-Is-Mobile-Viewer','valueMappings':["
                "      {'operator':'starts-with','value':'t','mapTo':'Phone'},{'operator':'ends-with','value':'e',"
                "       'mapTo':'x'},{'operator':'contains','value':'r','mapTo':'y'}]}]}},"
                " 'namespaces':{'ns':{'eventTargets':[]}}}",
                &p);
    if (c == NULL)
        dump_problems(&p);
    assert_non_null(c);
    const pz_context_field *f = &pz_config_namespace(c, "ns")->auto_context_view->fields[0];
    assert_true(f->has_default);
    assert_true(f->default_value.is_number);
    assert_true(f->default_value.number == 0); /* a falsy default is kept (§14 #9) */
    assert_int_equal(f->rules[0].type, PZ_RULE_SEASON_OF_YEAR);
    assert_int_equal(f->rules[0].value_mappings[0].op, PZ_OP_STARTS_WITH);
    assert_true(f->rules[0].value_mappings[0].map_to.is_number);
    assert_string_equal(f->rules[1].header, "cloudfront-is-mobile-viewer");
    assert_int_equal(f->rules[1].value_mappings[0].op, PZ_OP_STARTS_WITH);
    assert_int_equal(f->rules[1].value_mappings[1].op, PZ_OP_ENDS_WITH);
    assert_int_equal(f->rules[1].value_mappings[2].op, PZ_OP_CONTAINS);
    assert_true(pz_config_namespace(c, "ns")->has_event_targets);
    assert_int_equal(pz_config_namespace(c, "ns")->n_event_targets, 0);
    pz_config_unref(c);
    pz_config_problems_free(&p);
}

static void test_remote_variation_keys(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c = parse_q(
        "{'namespaces':{'ns':{'recommenders':{'recommend-items':{'r':{'variations':{"
        "  'p':{'type':'personalize-campaign','arn':'arn:aws:personalize:eu-west-1:111122223333:campaign/c',"
        "       'endpointUrl':'https://vpce-1.personalize-runtime.eu-west-1.vpce.amazonaws.com/','region':'eu-west-1',"
        "       'promotions':[{'name':'deals','percentPromotedItems':20,"
        "                      'filterArn':'arn:aws:personalize:eu-west-1:111122223333:filter/deals',"
        "                      'filterValues':{'CATEGORY':'shoes'}}]},"
        "  'f':{'type':'function','arn':'arn:aws:lambda:eu-west-1:111122223333:function:f:live','region':'eu-west-1'},"
        "  's':{'type':'sagemaker','endpointName':'two-tower','endpointUrl':'http://127.0.0.1:9000'},"
        "  'h':{'type':'http','url':'https://r.example/{namespace}/{userId}?n={numResults}&ctx={context}'}}}}}}}}",
        &p);
    if (c == NULL)
        dump_problems(&p);
    assert_non_null(c);
    assert_int_equal(p.n, 0);
    const pz_recommender *r = pz_config_recommender(pz_config_namespace(c, "ns"), PZ_ACTION_RECOMMEND_ITEMS, "r");
    assert_string_equal(r->variations[0].endpoint_url,
                        "https://vpce-1.personalize-runtime.eu-west-1.vpce.amazonaws.com/");
    assert_string_equal(r->variations[0].region, "eu-west-1");
    assert_non_null(strstr(r->variations[0].promotions_json, "\"name\":\"deals\""));
    assert_non_null(strstr(r->variations[0].promotions_json, "\"percentPromotedItems\":20"));
    assert_string_equal(r->variations[1].region, "eu-west-1");
    assert_null(r->variations[1].endpoint_url);
    assert_null(r->variations[1].promotions_json);
    assert_string_equal(r->variations[2].endpoint_url, "http://127.0.0.1:9000");
    assert_null(r->variations[2].region);
    assert_null(r->variations[3].endpoint_url);
    pz_config_unref(c);
    pz_config_problems_free(&p);
}

static void test_builtin_variations_and_local_experiment(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c = parse_q("{'namespaces':{'ns':{'recommenders':{"
                           "  'recommend-items':{'r':{'variations':{"
                           "     'a':{'type':'builtin'},"
                           "     'b':{'type':'builtin','strategy':'popular','timeoutMs':250,'fallback':'a'},"
                           "     'c':{'type':'builtin','excludeSeen':false}},"
                           "   'experiments':{'ab':{'method':'local','weights':{'c':1,'a':3.5}}}}},"
                           "  'related-items':{'r':{'variations':{'a':{'type':'builtin'}}}},"
                           "  'rerank-items':{'x':{'variations':{'a':{'type':'builtin','strategy':'affinity'}}}}}}}}",
                           &p);
    if (c == NULL)
        dump_problems(&p);
    assert_non_null(c);
    assert_int_equal(p.n, 0);
    const pz_namespace *ns = pz_config_namespace(c, "ns");
    const pz_recommender *r = pz_config_recommender(ns, PZ_ACTION_RECOMMEND_ITEMS, "r");
    assert_int_equal(r->variations[0].type, PZ_VARIATION_BUILTIN);
    assert_int_equal(r->variations[0].strategy, PZ_STRATEGY_PERSONALIZED);
    assert_true(r->variations[0].exclude_seen);
    assert_int_equal(r->variations[1].strategy, PZ_STRATEGY_POPULAR);
    assert_false(r->variations[1].exclude_seen);
    assert_int_equal(r->variations[1].timeout_ms, 250);
    assert_string_equal(r->variations[1].fallback, "a");
    assert_false(r->variations[2].exclude_seen);
    /* Weights in variation order; b is not named and weighs 0. */
    const pz_experiment *e = &r->experiments[0];
    assert_string_equal(e->method, "local");
    assert_null(e->project);
    assert_true(e->weights[0] == 3.5);
    assert_true(e->weights[1] == 0);
    assert_true(e->weights[2] == 1);

    const pz_recommender *rel = pz_config_recommender(ns, PZ_ACTION_RELATED_ITEMS, "r");
    assert_int_equal(rel->variations[0].strategy, PZ_STRATEGY_CO_OCCURRENCE);
    assert_false(rel->variations[0].exclude_seen);
    assert_int_equal(pz_config_recommender(ns, PZ_ACTION_RERANK_ITEMS, "x")->variations[0].strategy,
                     PZ_STRATEGY_AFFINITY);
    pz_config_unref(c);
    pz_config_problems_free(&p);
}

static void test_event_targets_ours(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c = parse_q(DOC_WITH_NS("{'eventTargets':[{'type':'builtin'},"
                                       "{'type':'http','url':'https://collector.example.com/e',"
                                       " 'headers':{'Authorization':'Bearer t','X-Source':'pz'}},"
                                       "{'type':'file','path':'/var/log/pz/events.jsonl'}]}"),
                           &p);
    if (c == NULL)
        dump_problems(&p);
    assert_non_null(c);
    const pz_namespace *ns = pz_config_namespace(c, "ns");
    assert_int_equal(ns->n_event_targets, 3);
    assert_int_equal(ns->event_targets[0].type, PZ_TARGET_BUILTIN);
    const pz_event_target *h = &ns->event_targets[1];
    assert_int_equal(h->type, PZ_TARGET_HTTP);
    assert_string_equal(h->url, "https://collector.example.com/e");
    assert_int_equal(h->n_headers, 2);
    assert_string_equal(h->header_names[0], "Authorization");
    assert_string_equal(h->header_values[0], "Bearer t");
    assert_string_equal(h->header_names[1], "X-Source");
    assert_int_equal(ns->event_targets[2].type, PZ_TARGET_FILE);
    assert_string_equal(ns->event_targets[2].path, "/var/log/pz/events.jsonl");
    pz_config_unref(c);
    pz_config_problems_free(&p);
}

static void test_aws_event_target_endpoint_and_region(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c = parse_q(DOC_WITH_NS("{'eventTargets':["
                                       "{'type':'kinesis-stream','streamName':'s','region':'eu-west-1',"
                                       " 'endpointUrl':'https://vpce-1.kinesis.eu-west-1.vpce.amazonaws.com'},"
                                       "{'type':'personalize-event-tracker','trackingId':'t-1'}]}"),
                           &p);
    if (c == NULL)
        dump_problems(&p);
    assert_non_null(c);
    const pz_namespace *ns = pz_config_namespace(c, "ns");
    assert_string_equal(ns->event_targets[0].region, "eu-west-1");
    assert_string_equal(ns->event_targets[0].endpoint_url, "https://vpce-1.kinesis.eu-west-1.vpce.amazonaws.com");
    assert_null(ns->event_targets[1].region);
    assert_null(ns->event_targets[1].endpoint_url);
    pz_config_unref(c);
    pz_config_problems_free(&p);
}

static void test_arns_of_other_partitions_and_regions(void **state)
{
    (void)state;
    static const char *const good[] = {
        PCAMPAIGN("c"),
        "{'type':'personalize-recommender','arn':'arn:aws-cn:personalize:cn-north-1:123456789012:recommender/r'}",
        "{'type':'personalize-campaign','arn':'arn:aws-us-gov:personalize:us-gov-west-1:123456789012:campaign/c'}",
        "{'type':'personalize-campaign','arn':'arn:aws-iso-e:personalize:eu-isoe-west-1:123456789012:campaign/c'}",
        "{'type':'personalize-campaign','arn':'arn:aws:personalize:ap-southeast-4:000000000000:campaign/c.v2'}",
        "{'type':'lambda','arn':'arn:aws:lambda:eu-central-2:123456789012:function:f:live'}",
        "{'type':'lambda','arn':'arn:aws:lambda:il-central-1:123456789012:function/f'}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char doc[512];
        snprintf(doc, sizeof doc, DOC_WITH_VAR("%s"), good[i]);
        pz_config_problems p;
        pz_config_problems_init(&p);
        pz_config *c = parse_q(doc, &p);
        if (c == NULL || p.n != 0) {
            fprintf(stderr, "case %zu: %s\n", i, good[i]);
            dump_problems(&p);
        }
        assert_non_null(c);
        assert_int_equal(p.n, 0);
        pz_config_unref(c);
        pz_config_problems_free(&p);
    }
}

static void test_integral_real_is_an_integer(void **state)
{
    (void)state;
    pz_config *c = parse_q(DOC_WITH_NS("{'eventTargets':[],'inferenceItemMetadata':{'type':'localdb',"
                                       "'syncInterval':60.0}}"),
                           NULL);
    assert_non_null(c);
    assert_int_equal(pz_config_namespace(c, "ns")->item_metadata_view->sync_interval, 60);
    pz_config_unref(c);
}

/* ---- lookups ---- */

static void test_lookups_many_and_any_action(void **state)
{
    (void)state;
    /* Recommenders written in a scrambled order: lookups must not depend on it. */
    char doc[16384];
    size_t n = 0;
    n += (size_t)snprintf(doc + n, sizeof doc - n, "{'namespaces':{");
    for (int ns = 0; ns < 20; ns++) {
        int k = (ns * 7) % 20;
        n += (size_t)snprintf(doc + n, sizeof doc - n, "%s'ns%02d':{'recommenders':{'related-items':{", ns ? "," : "",
                              k);
        for (int r = 0; r < 10; r++)
            n += (size_t)snprintf(doc + n, sizeof doc - n, "%s'rec%d':{'variations':{'v':{'type':'builtin'}}}",
                                  r ? "," : "", (r * 3) % 10);
        n += (size_t)snprintf(doc + n, sizeof doc - n,
                              "},'recommend-items':{'rec1':{'variations':{'v':{'type':'builtin'}}}}}}");
    }
    snprintf(doc + n, sizeof doc - n, "}}");
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c = parse_q(doc, &p);
    if (c == NULL)
        dump_problems(&p);
    assert_non_null(c);
    assert_int_equal(pz_config_namespace_count(c), 20);
    assert_string_equal(pz_config_namespace_at(c, 1)->key, "ns07");
    for (int ns = 0; ns < 20; ns++) {
        char key[16];
        snprintf(key, sizeof key, "ns%02d", ns);
        const pz_namespace *nsp = pz_config_namespace(c, key);
        assert_non_null(nsp);
        assert_string_equal(nsp->key, key);
        for (int r = 0; r < 10; r++) {
            char rk[16];
            snprintf(rk, sizeof rk, "rec%d", r);
            const pz_recommender *rec = pz_config_recommender(nsp, PZ_ACTION_RELATED_ITEMS, rk);
            assert_non_null(rec);
            assert_string_equal(rec->key, rk);
            assert_int_equal(rec->action, PZ_ACTION_RELATED_ITEMS);
        }
        assert_null(pz_config_recommender(nsp, PZ_ACTION_RELATED_ITEMS, "rec10"));
        assert_null(pz_config_recommender(nsp, PZ_ACTION_RERANK_ITEMS, "rec1"));
        assert_null(pz_config_recommender(nsp, PZ_ACTION__COUNT, "rec1"));
        /* rec1 is under related-items then recommend-items: the last action in the document wins. */
        const pz_recommender *any = pz_config_recommender_any_action(nsp, "rec1");
        assert_non_null(any);
        assert_int_equal(any->action, PZ_ACTION_RECOMMEND_ITEMS);
        assert_int_equal(pz_config_recommender_any_action(nsp, "rec2")->action, PZ_ACTION_RELATED_ITEMS);
        assert_null(pz_config_recommender_any_action(nsp, "nope"));
    }
    assert_null(pz_config_namespace(c, "ns20"));
    assert_null(pz_config_namespace(c, ""));
    assert_string_equal(pz_action_name(PZ_ACTION_RERANK_ITEMS), "rerank-items");
    pz_config_unref(c);
    pz_config_problems_free(&p);
}

/* ---- reference counting and the holder ---- */

static void test_refcount(void **state)
{
    (void)state;
    pz_config *c = load_fixture("sample-b.json", NULL);
    assert_non_null(c);
    assert_ptr_equal(pz_config_ref(c), c);
    assert_ptr_equal(pz_config_ref(c), c);
    pz_config_unref(c);
    pz_config_unref(c);
    /* Still alive with the last reference (ASan would flag a use after free). */
    assert_string_equal(pz_config_version(c), "7");
    pz_config_unref(c);
    assert_null(pz_config_ref(NULL));
    pz_config_unref(NULL);
}

static const char GOOD_V1[] = "{\"version\":\"1\",\"namespaces\":{\"a\":{\"eventTargets\":[]}}}";
static const char GOOD_V2[] = "{\"version\":\"2\",\"namespaces\":{\"b\":{\"eventTargets\":[{\"type\":\"builtin\"}]}}}";
static const char BAD_DOC[] = "{\"version\":3,\"namespaces\":{}}";

static void test_holder_reload_good_and_bad(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/config-reload.json", tmp_dir());
    write_file(path, GOOD_V1);
    pz_config *initial = pz_config_load_file(path, NULL);
    assert_non_null(initial);
    pz_config_holder *h = pz_config_holder_create(initial, path);

    pz_config *before = pz_config_holder_acquire(h);
    assert_string_equal(pz_config_version(before), "1");

    write_file(path, GOOD_V2);
    assert_int_equal(pz_config_holder_reload(h), 0);
    pz_config *after = pz_config_holder_acquire(h);
    assert_string_equal(pz_config_version(after), "2");
    assert_non_null(pz_config_namespace(after, "b"));
    /* The in-flight snapshot is untouched by the swap. */
    assert_string_equal(pz_config_version(before), "1");
    assert_non_null(pz_config_namespace(before, "a"));
    pz_config_unref(before);

    write_file(path, BAD_DOC);
    assert_int_equal(pz_config_holder_reload(h), -1);
    pz_config *kept = pz_config_holder_acquire(h);
    assert_ptr_equal(kept, after);
    assert_string_equal(pz_config_version(kept), "2");
    pz_config_unref(kept);
    pz_config_unref(after);

    unlink(path);
    assert_int_equal(pz_config_holder_reload(h), -1);

    unsigned long reloads, rejected;
    pz_config_holder_stats(h, &reloads, &rejected);
    assert_int_equal(reloads, 1);
    assert_int_equal(rejected, 2);
    pz_config_holder_destroy(h);

    /* Embedded configuration: nothing to reload, nothing to watch. */
    h = pz_config_holder_create(parse_q("{'namespaces':{}}", NULL), NULL);
    assert_int_equal(pz_config_holder_reload(h), -1);
    pz_config_holder_watch(h, 10);
    pz_config *emb = pz_config_holder_acquire(h);
    assert_int_equal(pz_config_namespace_count(emb), 0);
    pz_config_unref(emb);
    pz_config_holder_destroy(h);
}

/* What the listener saw: one entry per load attempt. */
typedef struct seen_loads {
    int n;
    char sources[4][600];
    bool accepted[4];
    size_t errors[4];
    char text[4][128];
} seen_loads;

static void remember_load(void *ctx, const pz_config_load *load)
{
    seen_loads *s = ctx;
    if (s->n >= 4)
        return;
    snprintf(s->sources[s->n], sizeof s->sources[s->n], "%s", load->source);
    s->accepted[s->n] = load->config != NULL;
    s->errors[s->n] = load->problems->n_errors;
    if (load->text != NULL)
        snprintf(s->text[s->n], sizeof s->text[s->n], "%.*s", (int)load->len, load->text);
    else
        snprintf(s->text[s->n], sizeof s->text[s->n], "(none)");
    s->n++;
}

static void test_holder_apply_and_listener(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/config-apply.json", tmp_dir());
    write_file(path, GOOD_V1);
    pz_config_holder *h = pz_config_holder_create(pz_config_load_file(path, NULL), path);
    seen_loads seen = {0};
    pz_config_holder_set_listener(h, remember_load, &seen);
    int64_t loaded_before = pz_config_holder_loaded_ms(h);

    /* a document from elsewhere: an ordinary validated reload */
    pz_config_problems problems;
    pz_config_problems_init(&problems);
    assert_int_equal(pz_config_holder_apply(h, GOOD_V2, strlen(GOOD_V2), "admin", &problems), 0);
    assert_int_equal(problems.n, 0);
    pz_config *now = pz_config_holder_acquire(h);
    assert_string_equal(pz_config_version(now), "2");
    size_t len;
    assert_string_equal(pz_config_text(now, &len), GOOD_V2); /* the snapshot keeps its document */
    assert_int_equal(len, strlen(GOOD_V2));
    pz_config_unref(now);
    assert_true(pz_config_holder_loaded_ms(h) >= loaded_before);

    /* a bad one changes nothing, and its problems come back */
    assert_int_equal(pz_config_holder_apply(h, BAD_DOC, strlen(BAD_DOC), "rollback of @3", &problems), -1);
    assert_true(problems.n_errors >= 1);
    pz_config_problems_free(&problems);
    now = pz_config_holder_acquire(h);
    assert_string_equal(pz_config_version(now), "2");
    pz_config_unref(now);

    /* a file reload that cannot read the file is reported without a text */
    unlink(path);
    assert_int_equal(pz_config_holder_reload(h), -1);

    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.sources[0], "admin");
    assert_true(seen.accepted[0]);
    assert_string_equal(seen.text[0], GOOD_V2);
    assert_string_equal(seen.sources[1], "rollback of @3");
    assert_false(seen.accepted[1]);
    assert_true(seen.errors[1] >= 1);
    assert_string_equal(seen.text[1], BAD_DOC);
    char file_source[600];
    snprintf(file_source, sizeof file_source, "file:%s", path);
    assert_string_equal(seen.sources[2], file_source);
    assert_false(seen.accepted[2]);
    assert_string_equal(seen.text[2], "(none)");
    unsigned long reloads, rejected;
    pz_config_holder_stats(h, &reloads, &rejected);
    assert_int_equal(reloads, 1);
    assert_int_equal(rejected, 2);
    pz_config_holder_destroy(h);
}

/* Issue 19: the version is echoed on every response, so it is bounded (PZ_CONFIG_MAX_VERSION_LEN). */
static void test_version_length_limit(void **state)
{
    (void)state;
    char version[PZ_CONFIG_MAX_VERSION_LEN + 2];
    memset(version, 'v', PZ_CONFIG_MAX_VERSION_LEN);
    version[PZ_CONFIG_MAX_VERSION_LEN] = '\0';
    char doc[PZ_CONFIG_MAX_VERSION_LEN + 64];
    snprintf(doc, sizeof doc, "{\"version\":\"%s\",\"namespaces\":{}}", version);
    pz_config *c = pz_config_parse(doc, strlen(doc), NULL);
    assert_non_null(c); /* exactly at the limit */
    assert_int_equal(strlen(pz_config_version(c)), PZ_CONFIG_MAX_VERSION_LEN);
    pz_config_unref(c);

    strcat(version, "v"); /* one byte over */
    snprintf(doc, sizeof doc, "{\"version\":\"%s\",\"namespaces\":{}}", version);
    pz_config_problems p;
    pz_config_problems_init(&p);
    assert_null(pz_config_parse(doc, strlen(doc), &p));
    expect_problem(&p, "$.version", false, "too long: 257 bytes; at most 256");
    pz_config_problems_free(&p);
}

/* Issue 19: a FIFO (or any non-regular file) in the config file's place is refused at once: the
 * open does not wait for a writer, so SIGHUP and SIGTERM behind a reload are never stalled. */
static void test_reload_refuses_fifo_without_blocking(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/config-fifo.json", tmp_dir());
    write_file(path, GOOD_V1);
    pz_config_holder *h = pz_config_holder_create(pz_config_load_file(path, NULL), path);
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    int64_t t0 = pz_mono_us();
    assert_int_equal(pz_config_holder_reload(h), -1); /* would block forever on a blocking open */
    assert_true(pz_mono_us() - t0 < 2000000);
    pz_config_problems p;
    pz_config_problems_init(&p);
    assert_null(pz_config_load_file(path, &p));
    expect_problem(&p, "$", false, "is not a regular file");
    pz_config_problems_free(&p);
    pz_config *kept = pz_config_holder_acquire(h);
    assert_string_equal(pz_config_version(kept), "1");
    pz_config_unref(kept);
    pz_config_holder_destroy(h);
    unlink(path);

    /* A device is not read either (/dev/zero would never end). */
    pz_config_problems_init(&p);
    assert_null(pz_config_load_file("/dev/zero", &p));
    expect_problem(&p, "$", false, "is not a regular file");
    pz_config_problems_free(&p);
}

/* Polls for up to ~10 s; returns the version the holder ends up with (a reference is dropped). */
static bool wait_for_version(pz_config_holder *h, const char *version)
{
    for (int i = 0; i < 1000; i++) {
        pz_config *c = pz_config_holder_acquire(h);
        bool match = strcmp(pz_config_version(c), version) == 0;
        pz_config_unref(c);
        if (match)
            return true;
        sleep_ms(10);
    }
    return false;
}

static void test_holder_watch_picks_up_changes(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/config-watch.json", tmp_dir());
    write_file(path, GOOD_V1);
    pz_config_holder *h = pz_config_holder_create(pz_config_load_file(path, NULL), path);
    pz_config_holder_watch(h, 10);

    write_file(path, GOOD_V2);
    assert_true(wait_for_version(h, "2"));

    /* A bad document is rejected; the watcher keeps the good snapshot and keeps watching. */
    write_file(path, BAD_DOC);
    unsigned long reloads = 0, rejected = 0;
    for (int i = 0; i < 1000 && rejected == 0; i++) {
        sleep_ms(10);
        pz_config_holder_stats(h, &reloads, &rejected);
    }
    assert_int_equal(rejected, 1);
    pz_config *c = pz_config_holder_acquire(h);
    assert_string_equal(pz_config_version(c), "2");
    pz_config_unref(c);

    write_file(path, GOOD_V1);
    assert_true(wait_for_version(h, "1"));
    pz_config_holder_stats(h, &reloads, &rejected);
    assert_int_equal(reloads, 2);
    pz_config_holder_destroy(h);
    unlink(path);
}

static void test_holder_destroy_stops_watch_promptly(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/config-stop.json", tmp_dir());
    write_file(path, GOOD_V1);
    pz_config_holder *h = pz_config_holder_create(pz_config_load_file(path, NULL), path);
    pz_config_holder_watch(h, 60 * 60 * 1000);
    pz_config_holder_watch(h, 10); /* second call: no-op */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pz_config_holder_destroy(h);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(elapsed < 2.0);
    unlink(path);
}

/* Our staleness keys (response cache, issue #4) and the snapshot generation behind invalidation. */
static void test_cache_policy_staleness_and_generation(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c = parse_q("{'cacheControl':{'userSpecified':{'maxAge':10,'directives':'private',"
                           "'staleWhileRevalidate':30,'staleIfError':600},"
                           "'syntheticUserSpecified':{'maxAge':300,'directives':'public','staleIfError':0},"
                           "'noUserSpecified':{'maxAge':1200,'directives':'public'}},'namespaces':{}}",
                           &p);
    dump_problems(&p);
    assert_non_null(c);
    assert_int_equal(p.n, 0); /* allowed even at the strict root level */
    pz_config *d = parse_q("{'namespaces':{}}", NULL);
    assert_true(pz_config_generation(d) > pz_config_generation(c));
    assert_true(pz_config_generation(c) > 0);
    pz_config_unref(d);
    pz_config_unref(c);
    pz_config_problems_free(&p);

    c = parse_q(DOC_WITH_REC("{'cacheControl':{'userSpecified':{'maxAge':10,'staleWhileRevalidate':30,"
                             "'staleIfError':600},'syntheticUserSpecified':{'maxAge':300,'staleIfError':0}},"
                             "'variations':{'v':{'type':'builtin'}}}"),
                NULL);
    assert_non_null(c);
    const pz_cache_control *cc = pz_config_recommender(pz_config_namespace(c, "ns"), PZ_ACTION_RECOMMEND_ITEMS, "r")
                                     ->variations[0]
                                     .cache_control_view;
    assert_true(cc->user_specified.has_stale_while_revalidate);
    assert_int_equal(cc->user_specified.stale_while_revalidate, 30);
    assert_true(cc->user_specified.has_stale_if_error);
    assert_int_equal(cc->user_specified.stale_if_error, 600);
    assert_false(cc->synthetic_user_specified.has_stale_while_revalidate);
    assert_true(cc->synthetic_user_specified.has_stale_if_error);
    assert_int_equal(cc->synthetic_user_specified.stale_if_error, 0);
    assert_false(cc->no_user_specified.present);
    pz_config_unref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_a_parses_cleanly),
        cmocka_unit_test(test_version_length_limit),
        cmocka_unit_test(test_reload_refuses_fifo_without_blocking),
        cmocka_unit_test(test_sample_a_for_you_resolves),
        cmocka_unit_test(test_sample_a_other_namespaces),
        cmocka_unit_test(test_sample_a_json_members),
        cmocka_unit_test(test_sample_b),
        cmocka_unit_test(test_inheritance_null_takes_parent_and_child_replaces),
        cmocka_unit_test(test_error_paths),
        cmocka_unit_test(test_rules_inheritance_and_entry_limit),
        cmocka_unit_test(test_raw_byte_documents),
        cmocka_unit_test(test_multiple_errors_all_reported),
        cmocka_unit_test(test_bad_fixtures),
        cmocka_unit_test(test_warnings_do_not_reject),
        cmocka_unit_test(test_documents_upstream_accepts_load_with_warnings),
        cmocka_unit_test(test_duplicate_keys_last_wins),
        cmocka_unit_test(test_root_title_and_version),
        cmocka_unit_test(test_trusted_proxies),
        cmocka_unit_test(test_context_example_parses_cleanly),
        cmocka_unit_test(test_synonyms_and_header_case),
        cmocka_unit_test(test_builtin_variations_and_local_experiment),
        cmocka_unit_test(test_remote_variation_keys),
        cmocka_unit_test(test_event_targets_ours),
        cmocka_unit_test(test_aws_event_target_endpoint_and_region),
        cmocka_unit_test(test_arns_of_other_partitions_and_regions),
        cmocka_unit_test(test_integral_real_is_an_integer),
        cmocka_unit_test(test_lookups_many_and_any_action),
        cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_holder_reload_good_and_bad),
        cmocka_unit_test(test_holder_apply_and_listener),
        cmocka_unit_test(test_holder_watch_picks_up_changes),
        cmocka_unit_test(test_holder_destroy_stops_watch_promptly),
        cmocka_unit_test(test_cache_policy_staleness_and_generation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
