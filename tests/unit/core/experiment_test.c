/* Tests for the pure parts of experiments: server/core/bucket.c (test vectors shared with the
 * integration tests' Python implementation, a 100,000-user split within 1 point of the weights,
 * weight changes move only the users whose bucket changed ranges), experiment_stats.c (figures
 * checked against values computed independently), experiment.c (assignment and conversion
 * rules with their 400 codes) and experiment_results.c (results, verdicts, removed experiments)
 * against an in-memory store. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/core/bucket.h"
#include "server/core/experiment.h"
#include "server/core/experiment_results.h"
#include "server/core/experiment_stats.h"

#define CLOSE(a, b, tol) assert_true(fabs((a) - (b)) <= (tol))

/* ---- buckets ---- */

static void test_bucket_vectors(void **state)
{
    (void)state;
    /* computed by tests/integration/experiments/buckets.py, an independent implementation */
    assert_int_equal(pz_bucket_of("shop/home", "layout", "user-1"), 3745);
    assert_int_equal(pz_bucket_of("", "f", ""), 1553);
    assert_int_equal(pz_bucket_of("demo/for-you", "home-rfy", "user-0001"), 5873);
    assert_int_equal(pz_bucket_of("s", "feature.with-dots_1", "a-much-longer-user-id-that-spans-words"), 1521);
}

static void test_ranges(void **state)
{
    (void)state;
    uint32_t s[4];
    pz_bucket_ranges(NULL, 3, s); /* equal thirds */
    assert_int_equal(s[0], 0);
    assert_int_equal(s[1], 3333);
    assert_int_equal(s[2], 6666);
    assert_int_equal(s[3], PZ_BUCKETS);
    const double w[] = {1, 0, 3};
    pz_bucket_ranges(w, 3, s);
    assert_int_equal(s[1], 2500);
    assert_int_equal(s[2], 2500); /* weight 0: an empty range */
    assert_int_equal(pz_bucket_variation(s, 3, 2499), 0);
    assert_int_equal(pz_bucket_variation(s, 3, 2500), 2);
    assert_int_equal(pz_bucket_variation(s, 3, PZ_BUCKETS - 1), 2);
    /* Issue 19: weights that are each finite but sum to infinity convert no NaN to an integer
     * (UBSan's float-cast-overflow in --config=asan); the ranges stay ordered and in bounds. */
    const double huge[] = {1e308, 1e308, 1};
    pz_bucket_ranges(huge, 3, s);
    for (int i = 0; i < 3; i++)
        assert_true(s[i] <= s[i + 1] && s[i + 1] <= PZ_BUCKETS);
}

static void test_split_of_100000_users_is_within_one_point(void **state)
{
    (void)state;
    const double weights[][3] = {{20, 30, 50}, {1, 1, 1}, {90, 10, 0}};
    for (size_t w = 0; w < 3; w++) {
        uint32_t s[4];
        pz_bucket_ranges(weights[w], 3, s);
        size_t count[3] = {0};
        char user[32];
        for (int i = 0; i < 100000; i++) {
            snprintf(user, sizeof user, "synthetic-user-%d", i);
            count[pz_bucket_variation(s, 3, pz_bucket_of("shop/home", "layout", user))]++;
        }
        double total = weights[w][0] + weights[w][1] + weights[w][2];
        for (size_t v = 0; v < 3; v++) {
            double measured = (double)count[v] / 100000.0, expected = weights[w][v] / total;
            assert_true(fabs(measured - expected) <= 0.01);
        }
    }
}

static void test_weight_change_moves_only_users_whose_bucket_changed_ranges(void **state)
{
    (void)state;
    const double before[] = {50, 50}, after[] = {40, 60};
    uint32_t sb[3], sa[3];
    pz_bucket_ranges(before, 2, sb);
    pz_bucket_ranges(after, 2, sa);
    size_t moved = 0;
    char user[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(user, sizeof user, "u%d", i);
        uint32_t b = pz_bucket_of("x", "f", user);
        size_t vb = pz_bucket_variation(sb, 2, b), va = pz_bucket_variation(sa, 2, b);
        if (vb != va) {
            moved++;
            assert_true(b >= 4000 && b < 5000); /* only the buckets that changed hands */
            assert_int_equal(vb, 0);
        } else {
            assert_false(b >= 4000 && b < 5000);
        }
    }
    CLOSE((double)moved / 20000.0, 0.10, 0.01);
}

/* ---- statistics (reference values from an independent computation: the textbook formulas, and
 * numerical integration of the Beta posteriors) ---- */

static void test_stats(void **state)
{
    (void)state;
    double lo, hi, v;
    pz_stats_wilson(10, 100, &lo, &hi);
    CLOSE(lo, 0.05523, 1e-4);
    CLOSE(hi, 0.17437, 1e-4);
    pz_stats_wilson(0, 0, &lo, &hi);
    assert_true(lo == 0 && hi == 0);
    assert_true(pz_stats_lift(100, 1000, 130, 1000, &v));
    CLOSE(v, 0.3, 1e-12);
    assert_false(pz_stats_lift(0, 1000, 130, 1000, &v)); /* no control conversions: undefined */
    assert_true(pz_stats_p_value(100, 1000, 130, 1000, &v));
    CLOSE(v, 0.03548, 1e-4);
    assert_false(pz_stats_p_value(0, 100, 0, 100, &v)); /* pooled rate 0 */
    assert_false(pz_stats_p_value(1, 0, 1, 10, &v));
    CLOSE(pz_stats_prob_beat(10, 100, 20, 100), 0.975173, 1e-4);
    CLOSE(pz_stats_prob_beat(100, 1000, 130, 1000), 0.982165, 1e-4);
    CLOSE(pz_stats_prob_beat(3, 50, 1, 50), 0.181219, 1e-4);
    CLOSE(pz_stats_prob_beat(20, 100, 10, 100) + pz_stats_prob_beat(10, 100, 20, 100), 1.0, 1e-9);
    /* past PZ_STATS_EXACT_MAX_TERMS on both sides: the normal approximation, close to even odds
     * for equal rates and decisive for a clear difference */
    CLOSE(pz_stats_prob_beat(200000, 2000000, 200000, 2000000), 0.5, 1e-6);
    assert_true(pz_stats_prob_beat(200000, 2000000, 202000, 2000000) > 0.99);
}

/* ---- assignment and conversions ---- */

static const char CONFIG[] =
    "{\"version\":\"t\",\"namespaces\":{\"shop\":{\"recommenders\":{"
    "\"recommend-items\":{"
    " \"home\":{\"experiments\":{"
    "   \"layout\":{\"method\":\"local\",\"weights\":{\"a\":1,\"b\":3},"
    "     \"metrics\":{\"clicks\":{\"entityIdKey\":\"u\",\"valueKey\":\"v\"}}},"
    "   \"ranking\":{\"method\":\"evidently\",\"project\":\"p\",\"metrics\":{"
    "     \"clicks\":{\"entityIdKey\":\"u\",\"valueKey\":\"v\"},"
    "     \"buys\":{\"entityIdKey\":\"u\",\"valueKey\":\"v\",\"trackExposures\":false}}}},"
    "  \"variations\":{\"a\":{\"type\":\"builtin\"},\"b\":{\"type\":\"builtin\"}}},"
    " \"single\":{\"experiments\":{\"x\":{\"method\":\"local\"}},"
    "  \"variations\":{\"only\":{\"type\":\"builtin\"}}}},"
    "\"related-items\":{\"salted\":{\"experiments\":{\"s\":{\"method\":\"local\",\"salt\":\"fixed\","
    "  \"metrics\":{}}},"
    "  \"variations\":{\"p\":{\"type\":\"builtin\"},\"q\":{\"type\":\"builtin\"}}}}"
    "}}}}";

static pz_config *load(void)
{
    pz_config_problems problems;
    pz_config_problems_init(&problems);
    pz_config *cfg = pz_config_parse(CONFIG, strlen(CONFIG), &problems);
    for (size_t i = 0; cfg == NULL && i < problems.n; i++)
        fprintf(stderr, "%s: %s\n", problems.items[i].path, problems.items[i].message);
    assert_non_null(cfg);
    bool evidently_warned = false;
    for (size_t i = 0; i < problems.n; i++)
        evidently_warned = evidently_warned || (problems.items[i].is_warning &&
                                                strstr(problems.items[i].message, "evaluated locally") != NULL);
    assert_true(evidently_warned); /* said once, at load */
    pz_config_problems_free(&problems);
    return cfg;
}

static void test_assignment_rules(void **state)
{
    (void)state;
    pz_config *cfg = load();
    const pz_namespace *ns = pz_config_namespace(cfg, "shop");
    const pz_recommender *home = pz_config_recommender(ns, PZ_ACTION_RECOMMEND_ITEMS, "home");
    const pz_recommender *single = pz_config_recommender(ns, PZ_ACTION_RECOMMEND_ITEMS, "single");
    pz_arena a;
    pz_arena_init(&a);
    pz_assignment as;
    pz_error err;
    /* the first experiment without `feature`; its weights 1:3 */
    assert_int_equal(pz_experiment_assign(home, "user-1", NULL, &as, &a, &err), PZ_OK);
    assert_string_equal(as.experiment->feature, "layout");
    assert_int_equal(as.bucket, pz_bucket_of("shop/home", "layout", "user-1"));
    assert_string_equal(as.variation->key, as.bucket < 2500 ? "a" : "b");
    assert_string_equal(pz_experiment_header(&as, &a),
                        as.bucket < 2500 ? "feature=layout; variation=a" : "feature=layout; variation=b");
    /* evidently: evaluated locally with equal weights */
    assert_int_equal(pz_experiment_assign(home, "user-1", "ranking", &as, &a, &err), PZ_OK);
    assert_string_equal(as.experiment->method, "evidently");
    uint32_t b = pz_bucket_of("shop/home", "ranking", "user-1");
    assert_string_equal(as.variation->key, b < 5000 ? "a" : "b");
    Personalization__V1__MatchedExperiment *m = pz_experiment_matched(&as, &a);
    assert_string_equal(m->type, "evidently");
    assert_string_equal(m->feature, "ranking");
    assert_string_equal(m->variation, as.variation->key);
    assert_int_equal(m->details->n_fields, 3);
    assert_string_equal(m->details->fields[1]->value->string_value, as.variation->key);
    /* an unknown feature when an experiment decides: 400 */
    assert_int_equal(pz_experiment_assign(home, "user-1", "nope", &as, &a, &err), PZ_INVALID_ARGUMENT);
    assert_string_equal(err.code, "InvalidExperimentFeature");
    /* no user, or one variation: the first variation, no experiment, the feature not looked at */
    assert_int_equal(pz_experiment_assign(home, NULL, "nope", &as, &a, &err), PZ_OK);
    assert_null(as.experiment);
    assert_string_equal(as.variation->key, "a");
    assert_int_equal(pz_experiment_assign(single, "user-1", "nope", &as, &a, &err), PZ_OK);
    assert_null(as.experiment);
    /* a configured salt replaces the default "<namespace>/<recommender>" */
    const pz_recommender *salted = pz_config_recommender(ns, PZ_ACTION_RELATED_ITEMS, "salted");
    assert_int_equal(pz_experiment_assign(salted, "user-7", NULL, &as, &a, &err), PZ_OK);
    assert_int_equal(as.bucket, pz_bucket_of("fixed", "s", "user-7"));
    pz_arena_destroy(&a);
    pz_config_unref(cfg);
}

static Personalization__V1__ExperimentConversion conv(const char *rec, const char *feature, const char *metric)
{
    Personalization__V1__ExperimentConversion c = PERSONALIZATION__V1__EXPERIMENT_CONVERSION__INIT;
    c.recommender = (char *)rec;
    c.feature = (char *)feature;
    c.metric = (char *)metric;
    return c;
}

static void expect_conversion_error(const pz_namespace *ns, Personalization__V1__ExperimentConversion c,
                                    const char *code)
{
    pz_arena a;
    pz_arena_init(&a);
    pz_conversion out;
    pz_error err;
    assert_int_equal(pz_conversion_resolve(ns, "u1", &c, 0, &out, &a, &err), PZ_INVALID_ARGUMENT);
    assert_string_equal(err.code, code);
    pz_arena_destroy(&a);
}

static void test_conversion_rules(void **state)
{
    (void)state;
    pz_config *cfg = load();
    const pz_namespace *ns = pz_config_namespace(cfg, "shop");
    pz_arena a;
    pz_arena_init(&a);
    pz_conversion out;
    pz_error err;
    Personalization__V1__ExperimentConversion c = conv("home", "layout", NULL);
    assert_int_equal(pz_conversion_resolve(ns, "user-1", &c, 0, &out, &a, &err), PZ_OK);
    assert_string_equal(out.metric->name, "clicks"); /* the only metric */
    assert_true(out.value == PZ_CONVERSION_DEFAULT_VALUE);
    pz_assignment as;
    pz_experiment_assign(out.recommender, "user-1", "layout", &as, &a, &err);
    assert_ptr_equal(out.variation, as.variation); /* the user's assignment */
    c.has_value = true;
    c.value = 4.5;
    assert_int_equal(pz_conversion_resolve(ns, "user-1", &c, 0, &out, &a, &err), PZ_OK);
    assert_true(out.value == 4.5);
    expect_conversion_error(ns, conv(NULL, NULL, NULL), "InvalidExperimentConversions");
    expect_conversion_error(ns, conv("nope", NULL, NULL), "InvalidRecommender");
    expect_conversion_error(ns, conv("home", NULL, "clicks"), "InvalidExperimentFeature"); /* two experiments */
    expect_conversion_error(ns, conv("home", "nope", "clicks"), "InvalidExperimentFeature");
    expect_conversion_error(ns, conv("home", "ranking", NULL), "InvalidExperimentMetric"); /* two metrics */
    expect_conversion_error(ns, conv("home", "layout", "nope"), "InvalidExperimentMetric");
    expect_conversion_error(ns, conv("salted", NULL, NULL), "InvalidExperimentMetric"); /* no metric */
    Personalization__V1__ExperimentConversion nan_value = conv("home", "layout", "clicks");
    nan_value.has_value = true;
    nan_value.value = NAN;
    expect_conversion_error(ns, nan_value, "InvalidExperimentConversions");
    /* found across actions */
    c = conv("single", NULL, NULL);
    expect_conversion_error(ns, c, "InvalidExperimentMetric");
    pz_arena_destroy(&a);
    pz_config_unref(cfg);
}

/* ---- results, against an in-memory store ---- */

typedef struct fake_store {
    pz_experiment_cell cells[16];
    size_t n_cells;
    const char *control;
    bool fail;
    pz_experiment_ref refs[4];
    size_t n_refs;
} fake_store;

static int fake_read(void *self, const char *ns, const char *rec, const char *feature, pz_arena *arena,
                     pz_experiment_data *out, char *err, size_t errlen)
{
    (void)ns;
    (void)arena;
    fake_store *f = self;
    if (f->fail) {
        snprintf(err, errlen, "disk on fire");
        return -1;
    }
    *out = (pz_experiment_data){0};
    if (strcmp(rec, "home") == 0 && strcmp(feature, "layout") == 0) {
        out->found = f->n_cells > 0;
        out->cells = f->cells;
        out->n_cells = f->n_cells;
        out->control = f->control;
        out->first_ms = 1;
        out->last_ms = 2;
    }
    return 0;
}

static int fake_list(void *self, const char *ns, pz_arena *arena, pz_experiment_ref **out, size_t *n, char *err,
                     size_t errlen)
{
    (void)ns;
    (void)arena;
    (void)err;
    (void)errlen;
    fake_store *f = self;
    *out = f->refs;
    *n = f->n_refs;
    return 0;
}

static pz_experiment_store fake_port(fake_store *f)
{
    return (pz_experiment_store){.self = f, .read = fake_read, .list = fake_list};
}

static void put_counts(fake_store *f, uint64_t na, uint64_t xa, uint64_t nb, uint64_t xb)
{
    f->n_cells = 0;
    f->cells[f->n_cells++] = (pz_experiment_cell){.variation = "a", .users = na};
    f->cells[f->n_cells++] = (pz_experiment_cell){.variation = "b", .users = nb};
    f->cells[f->n_cells++] = (pz_experiment_cell){
        .variation = "a", .metric = "clicks", .exposures = na + 5, .conversions = xa + 1, .converted_users = xa};
    f->cells[f->n_cells++] = (pz_experiment_cell){
        .variation = "b", .metric = "clicks", .exposures = nb, .conversions = xb, .converted_users = xb, .value = 7};
}

static Personalization__V1__ExperimentResults *results(const pz_config *cfg, fake_store *f, const char *rec,
                                                       const char *feature, pz_arena *a, pz_error *err,
                                                       pz_status *status)
{
    Personalization__V1__GetExperimentResultsRequest in = PERSONALIZATION__V1__GET_EXPERIMENT_RESULTS_REQUEST__INIT;
    in.namespace_ = "shop";
    in.recommender = (char *)rec;
    in.feature = (char *)feature;
    Personalization__V1__ExperimentResults *out = NULL;
    pz_experiment_store port = fake_port(f);
    *status = pz_experiment_results(cfg, &port, &in, a, &out, err);
    return out;
}

static void test_results_figures_and_verdicts(void **state)
{
    (void)state;
    pz_config *cfg = load();
    fake_store f = {0};
    pz_arena a;
    pz_arena_init(&a);
    pz_error err;
    pz_status s;
    put_counts(&f, 1000, 100, 1000, 130);
    Personalization__V1__ExperimentResults *r = results(cfg, &f, "home", "layout", &a, &err, &s);
    assert_int_equal(s, PZ_OK);
    assert_string_equal(r->status, "running");
    assert_string_equal(r->method, "local");
    assert_string_equal(r->action, "recommend-items");
    assert_int_equal(r->users_exposed, 2000);
    assert_int_equal(r->n_variations, 2);
    CLOSE(r->variations[0]->weight, 0.25, 1e-12);
    CLOSE(r->variations[1]->weight, 0.75, 1e-12);
    assert_int_equal(r->n_metrics, 1);
    Personalization__V1__MetricResults *m = r->metrics[0];
    Personalization__V1__VariationResult *va = m->variations[0], *vb = m->variations[1];
    assert_true(va->control);
    assert_false(va->has_lift);
    assert_int_equal(va->exposures, 1005);
    assert_int_equal(va->conversions, 101);
    CLOSE(vb->conversion_rate, 0.13, 1e-12);
    CLOSE(vb->lift, 0.3, 1e-12);
    CLOSE(vb->p_value, 0.03548, 1e-4);
    CLOSE(vb->probability_to_beat_control, 0.982165, 1e-4);
    CLOSE(vb->conversion_value, 7, 0);
    assert_string_equal(m->verdict, "b beats a with 98% probability");
    assert_string_equal(m->winner, "b");
    assert_string_equal(r->verdict, m->verdict);
    /* the control ahead */
    put_counts(&f, 1000, 130, 1000, 100);
    r = results(cfg, &f, "home", "layout", &a, &err, &s);
    assert_string_equal(r->metrics[0]->verdict, "a beats b with 98% probability");
    /* close: no winner */
    put_counts(&f, 1000, 100, 1000, 104);
    r = results(cfg, &f, "home", "layout", &a, &err, &s);
    assert_non_null(strstr(r->metrics[0]->verdict, "no clear winner yet: b beats a with"));
    assert_null(r->metrics[0]->winner);
    /* too few users */
    put_counts(&f, 99, 50, 1000, 100);
    r = results(cfg, &f, "home", "layout", &a, &err, &s);
    assert_non_null(strstr(r->metrics[0]->verdict, "not enough data yet"));
    /* a configured experiment with nothing counted yet */
    f.n_cells = 0;
    r = results(cfg, &f, "home", "ranking", &a, &err, &s);
    assert_int_equal(s, PZ_OK);
    assert_int_equal(r->users_exposed, 0);
    assert_int_equal(r->n_metrics, 2);
    assert_false(r->metrics[1]->track_exposures);
    /* unknown: 404; missing field: 400; store failure: 500 */
    results(cfg, &f, "home", "nope", &a, &err, &s);
    assert_int_equal(s, PZ_NOT_FOUND);
    assert_string_equal(err.code, "ExperimentNotFound");
    results(cfg, &f, "home", NULL, &a, &err, &s);
    assert_int_equal(s, PZ_INVALID_ARGUMENT);
    f.fail = true;
    results(cfg, &f, "home", "layout", &a, &err, &s);
    assert_int_equal(s, PZ_INTERNAL);
    pz_arena_destroy(&a);
    pz_config_unref(cfg);
}

static void test_removed_experiments_stay_readable_and_listed(void **state)
{
    (void)state;
    static const char OTHER[] = "{\"namespaces\":{\"shop\":{\"recommenders\":{\"recommend-items\":{"
                                "\"home\":{\"variations\":{\"a\":{\"type\":\"builtin\"}}}}}}}}";
    pz_config *cfg = pz_config_parse(OTHER, strlen(OTHER), NULL);
    assert_non_null(cfg);
    fake_store f = {.control = "a"};
    put_counts(&f, 10, 1, 20, 2);
    f.cells[f.n_cells++] = (pz_experiment_cell){.variation = "c", .users = 5};
    f.refs[f.n_refs++] = (pz_experiment_ref){"home", "layout", 1, 2};
    pz_arena a;
    pz_arena_init(&a);
    pz_error err;
    pz_status s;
    Personalization__V1__ExperimentResults *r = results(cfg, &f, "home", "layout", &a, &err, &s);
    assert_int_equal(s, PZ_OK);
    assert_string_equal(r->status, "removed");
    assert_int_equal(r->n_variations, 3);
    assert_string_equal(r->variations[0]->variation, "a"); /* the stored control first */
    assert_true(r->variations[0]->control);
    assert_true(r->variations[0]->removed);
    assert_int_equal(r->users_exposed, 35);
    assert_string_equal(r->metrics[0]->metric, "clicks");
    Personalization__V1__ListExperimentsRequest in = PERSONALIZATION__V1__LIST_EXPERIMENTS_REQUEST__INIT;
    in.namespace_ = "shop";
    Personalization__V1__ListExperimentsResponse *list;
    pz_experiment_store port = fake_port(&f);
    assert_int_equal(pz_experiment_list(cfg, &port, &in, &a, &list, &err), PZ_OK);
    assert_int_equal(list->n_experiments, 1);
    assert_string_equal(list->experiments[0]->status, "removed");
    assert_string_equal(list->experiments[0]->results_path, "/experiments/shop/home/layout");
    in.namespace_ = "gone";
    f.n_refs = 0;
    assert_int_equal(pz_experiment_list(cfg, &port, &in, &a, &list, &err), PZ_NOT_FOUND);
    pz_arena_destroy(&a);
    pz_config_unref(cfg);
}

static void test_list_of_configured_experiments(void **state)
{
    (void)state;
    pz_config *cfg = load();
    fake_store f = {0};
    put_counts(&f, 3, 1, 4, 2);
    f.refs[f.n_refs++] = (pz_experiment_ref){"home", "layout", 1, 2}; /* configured: listed once */
    pz_arena a;
    pz_arena_init(&a);
    pz_error err;
    Personalization__V1__ListExperimentsRequest in = PERSONALIZATION__V1__LIST_EXPERIMENTS_REQUEST__INIT;
    in.namespace_ = "shop";
    Personalization__V1__ListExperimentsResponse *list;
    pz_experiment_store port = fake_port(&f);
    assert_int_equal(pz_experiment_list(cfg, &port, &in, &a, &list, &err), PZ_OK);
    assert_int_equal(list->n_experiments, 4); /* layout, ranking, x, s */
    assert_string_equal(list->experiments[0]->feature, "layout");
    assert_int_equal(list->experiments[0]->users_exposed, 7);
    assert_string_equal(list->experiments[0]->status, "running");
    assert_int_equal(list->experiments[0]->n_variations, 2);
    pz_arena_destroy(&a);
    pz_config_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_vectors),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_split_of_100000_users_is_within_one_point),
        cmocka_unit_test(test_weight_change_moves_only_users_whose_bucket_changed_ranges),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_assignment_rules),
        cmocka_unit_test(test_conversion_rules),
        cmocka_unit_test(test_results_figures_and_verdicts),
        cmocka_unit_test(test_removed_experiments_stay_readable_and_listed),
        cmocka_unit_test(test_list_of_configured_experiments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
