/* Tests for server/core/metrics.c: families and series, the text exposition format (exact
 * output, escaping, histograms with cumulative buckets and the derived count family), bounded
 * label sets (the overflow series), collectors, and lock-free recording from several threads
 * adding up exactly. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/core/metrics.h"

static char *render(pz_metrics *m, pz_buf *b)
{
    pz_buf_init(b, 1 << 20);
    assert_int_equal(pz_metrics_render(m, b), 0);
    return b->data;
}

/* The rendering without the overflow family at its end. */
static void assert_rendered(pz_metrics *m, const char *expected)
{
    pz_buf b;
    char *text = render(m, &b);
    char *cut = strstr(text, "# HELP pz_metrics_series_overflow_total");
    assert_non_null(cut);
    *cut = '\0';
    assert_string_equal(text, expected);
    pz_buf_free(&b);
}

static void test_counter_and_gauge(void **state)
{
    (void)state;
    pz_metrics *m = pz_metrics_create();
    static const char *const L[] = {"route", "status_class"};
    pz_metric_family *c = pz_metrics_family(m, &(pz_metric_family_options){.type = PZ_METRIC_COUNTER,
                                                                           .name = "t_requests_total",
                                                                           .help = "Requests.\nTwo lines \\ here.",
                                                                           .labels = L,
                                                                           .n_labels = 2});
    pz_metric_family *g =
        pz_metrics_family(m, &(pz_metric_family_options){.type = PZ_METRIC_GAUGE, .name = "t_depth", .help = "Depth."});
    const char *v1[] = {"GET /a/{x}", "2xx"};
    pz_metric_series *s = pz_metric_series_get(c, v1);
    pz_metric_inc(s, 2);
    pz_metric_inc(pz_metric_series_get(c, v1), 3); /* the same series again */
    assert_ptr_equal(pz_metric_series_get(c, v1), s);
    assert_true(pz_metric_value(s) == 5);
    pz_metric_series *d = pz_metric_series_get(g, NULL);
    pz_metric_set(d, 7.5);
    pz_metric_add(d, -2);
    assert_true(pz_metric_value(d) == 5.5);
    assert_rendered(m, "# HELP t_requests_total Requests.\\nTwo lines \\\\ here.\n"
                       "# TYPE t_requests_total counter\n"
                       "t_requests_total{route=\"GET /a/{x}\",status_class=\"2xx\"} 5\n"
                       "# HELP t_depth Depth.\n"
                       "# TYPE t_depth gauge\n"
                       "t_depth 5.5\n");
    pz_metrics_destroy(m);
}

static void test_label_values_are_escaped(void **state)
{
    (void)state;
    pz_metrics *m = pz_metrics_create();
    static const char *const L[] = {"v"};
    pz_metric_family *c = pz_metrics_family(
        m, &(pz_metric_family_options){
               .type = PZ_METRIC_COUNTER, .name = "t_total", .help = "h", .labels = L, .n_labels = 1});
    const char *v[] = {"a\"b\\c\nd"};
    pz_metric_inc(pz_metric_series_get(c, v), 1);
    assert_rendered(m, "# HELP t_total h\n# TYPE t_total counter\nt_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
    pz_metrics_destroy(m);
}

static void test_histogram(void **state)
{
    (void)state;
    pz_metrics *m = pz_metrics_create();
    static const char *const L[] = {"route"};
    static const double bounds[] = {0.001, 0.01, 0.1};
    pz_metric_family *h = pz_metrics_family(m, &(pz_metric_family_options){.type = PZ_METRIC_HISTOGRAM,
                                                                           .name = "t_duration_seconds",
                                                                           .help = "Durations.",
                                                                           .labels = L,
                                                                           .n_labels = 1,
                                                                           .bounds = bounds,
                                                                           .n_bounds = 3,
                                                                           .count_name = "t_total",
                                                                           .count_help = "Counted."});
    const char *v[] = {"r"};
    pz_metric_series *s = pz_metric_series_get(h, v);
    pz_metric_observe(s, 0.0005);
    pz_metric_observe(s, 0.001); /* a bound is inclusive (le) */
    pz_metric_observe(s, 0.05);
    pz_metric_observe(s, 3);
    assert_true(pz_metric_value(s) == 4);
    assert_rendered(m, "# HELP t_duration_seconds Durations.\n"
                       "# TYPE t_duration_seconds histogram\n"
                       "t_duration_seconds_bucket{route=\"r\",le=\"0.001\"} 2\n"
                       "t_duration_seconds_bucket{route=\"r\",le=\"0.01\"} 2\n"
                       "t_duration_seconds_bucket{route=\"r\",le=\"0.1\"} 3\n"
                       "t_duration_seconds_bucket{route=\"r\",le=\"+Inf\"} 4\n"
                       "t_duration_seconds_sum{route=\"r\"} 3.0515\n"
                       "t_duration_seconds_count{route=\"r\"} 4\n"
                       "# HELP t_total Counted.\n"
                       "# TYPE t_total counter\n"
                       "t_total{route=\"r\"} 4\n");
    pz_metrics_destroy(m);
}

static void test_label_sets_are_bounded(void **state)
{
    (void)state;
    pz_metrics *m = pz_metrics_create();
    static const char *const L[] = {"user"};
    pz_metric_family *c = pz_metrics_family(
        m, &(pz_metric_family_options){
               .type = PZ_METRIC_COUNTER, .name = "t_total", .help = "h", .labels = L, .n_labels = 1, .max_series = 3});
    char name[16];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "u%d", i);
        const char *v[] = {name};
        pz_metric_inc(pz_metric_series_get(c, v), 1);
    }
    const char *first[] = {"u0"};
    pz_metric_inc(pz_metric_series_get(c, first), 1); /* known series keep working when full */
    pz_buf b;
    char *text = render(m, &b);
    assert_non_null(strstr(text, "t_total{user=\"u0\"} 2\n"));
    assert_non_null(strstr(text, "t_total{user=\"u2\"} 1\n"));
    assert_null(strstr(text, "user=\"u3\""));
    assert_non_null(strstr(text, "t_total{user=\"" PZ_METRICS_OVERFLOW "\"} 7\n"));
    assert_non_null(strstr(text, "pz_metrics_series_overflow_total{family=\"t_total\"} 7\n"));
    pz_buf_free(&b);
    pz_metrics_destroy(m);
}

static void collect(void *ctx, pz_metrics_writer *w)
{
    static const char *const L[] = {"target"};
    const char *v[] = {ctx};
    pz_metrics_write_family(w, "t_lag_records", PZ_METRIC_GAUGE, "Lag.");
    pz_metrics_write_sample(w, "t_lag_records", 1, L, v, 12);
    pz_metrics_write_single(w, "t_up", PZ_METRIC_GAUGE, "Up.", 1);
}

static void test_collectors_follow_the_families(void **state)
{
    (void)state;
    pz_metrics *m = pz_metrics_create();
    pz_metrics_add_collector(m, collect, "shop/file");
    pz_buf b;
    char *text = render(m, &b);
    const char *tail = strstr(text, "# HELP t_lag_records");
    assert_non_null(tail);
    assert_string_equal(tail, "# HELP t_lag_records Lag.\n# TYPE t_lag_records gauge\n"
                              "t_lag_records{target=\"shop/file\"} 12\n"
                              "# HELP t_up Up.\n# TYPE t_up gauge\nt_up 1\n");
    pz_buf_free(&b);
    pz_metrics_destroy(m);
}

static void test_render_reports_a_full_buffer(void **state)
{
    (void)state;
    pz_metrics *m = pz_metrics_create();
    pz_metrics_add_collector(m, collect, "x");
    pz_buf b;
    pz_buf_init(&b, 16);
    assert_int_equal(pz_metrics_render(m, &b), -1);
    pz_buf_free(&b);
    pz_metrics_destroy(m);
}

typedef struct worker_arg {
    pz_metric_family *counter, *histogram;
    int id;
} worker_arg;

enum { THREADS = 4, ROUNDS = 20000, ROUTES = 5 };

static void *record(void *p)
{
    worker_arg *a = p;
    char route[16];
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(route, sizeof route, "r%d", i % ROUTES);
        const char *v[] = {route};
        pz_metric_inc(pz_metric_series_get(a->counter, v), 1);
        pz_metric_observe(pz_metric_series_get(a->histogram, v), 0.5);
    }
    return NULL;
}

static void test_threads_record_without_losing_counts(void **state)
{
    (void)state;
    pz_metrics *m = pz_metrics_create();
    static const char *const L[] = {"route"};
    static const double bounds[] = {1};
    pz_metric_family *c = pz_metrics_family(
        m, &(pz_metric_family_options){
               .type = PZ_METRIC_COUNTER, .name = "t_total", .help = "h", .labels = L, .n_labels = 1});
    pz_metric_family *h = pz_metrics_family(m, &(pz_metric_family_options){.type = PZ_METRIC_HISTOGRAM,
                                                                           .name = "t_seconds",
                                                                           .help = "h",
                                                                           .labels = L,
                                                                           .n_labels = 1,
                                                                           .bounds = bounds,
                                                                           .n_bounds = 1});
    pthread_t t[THREADS];
    worker_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){c, h, i};
        pthread_create(&t[i], NULL, record, &args[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    char expect[128];
    pz_buf b;
    char *text = render(m, &b);
    for (int r = 0; r < ROUTES; r++) {
        snprintf(expect, sizeof expect, "t_total{route=\"r%d\"} %d\n", r, THREADS * ROUNDS / ROUTES);
        assert_non_null(strstr(text, expect));
        snprintf(expect, sizeof expect, "t_seconds_sum{route=\"r%d\"} %d\n", r, THREADS * ROUNDS / ROUTES / 2);
        assert_non_null(strstr(text, expect));
    }
    pz_buf_free(&b);
    pz_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge),
        cmocka_unit_test(test_label_values_are_escaped),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_label_sets_are_bounded),
        cmocka_unit_test(test_collectors_follow_the_families),
        cmocka_unit_test(test_render_reports_a_full_buffer),
        cmocka_unit_test(test_threads_record_without_losing_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
