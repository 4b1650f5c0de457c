/* A metrics registry in the Prometheus model (module prefix pz_metrics / pz_metric): counters,
 * gauges and histograms with labels, rendered in the text exposition format (version 0.0.4) for
 * GET /metrics. Pure: no I/O, no clock.
 *
 * Recording is lock-free and cheap enough for the request hot path: a series is found (or
 * created) in its family's open-addressing table by a hash of its label values with atomic
 * compare-and-swap, and its cells are per-thread stripes of relaxed atomics, so threads that
 * record into the same series do not share cache lines. A scrape sums the stripes.
 *
 * Label sets must be bounded: a family holds at most `max_series` series; a label set beyond that
 * is recorded into the family's overflow series, whose every label value is PZ_METRICS_OVERFLOW,
 * and counted in pz_metrics_series_overflow_total{family}. Callers keep labels bounded by
 * construction (route templates, configured namespaces, status classes), never raw user input.
 *
 * State that another module already counts (cache counters, event targets, process figures) is
 * read at scrape time by collectors (pz_metrics_add_collector) that write their samples through a
 * pz_metrics_writer; they run on the scraping thread, in the order they were added, after the
 * registry's own families.
 *
 * Naming follows the Prometheus conventions (checked by promtool in the tests): base units,
 * `_total` for counters, `_seconds`, `_bytes`; help texts are one line.
 *
 * Threads: families are registered before the registry is shared; everything else any thread.
 */
#ifndef PZ_METRICS_H
#define PZ_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/buf.h"

#define PZ_METRICS_MAX_LABELS 8
#define PZ_METRICS_MAX_BOUNDS 32
#define PZ_METRICS_DEFAULT_MAX_SERIES 2048
#define PZ_METRICS_OVERFLOW "_overflow"
/* A label value longer than this is cut (label values come from configuration keys and names). */
#define PZ_METRICS_MAX_LABEL_VALUE 256

typedef struct pz_metrics pz_metrics;
typedef struct pz_metric_family pz_metric_family;
typedef struct pz_metric_series pz_metric_series;

typedef enum pz_metric_type {
    PZ_METRIC_COUNTER,
    PZ_METRIC_GAUGE,
    PZ_METRIC_HISTOGRAM,
} pz_metric_type;

/* Request durations in seconds: 100 µs to 10 s. */
extern const double PZ_METRICS_DURATION_BOUNDS[];
extern const size_t PZ_METRICS_DURATION_BOUNDS_COUNT;

pz_metrics *pz_metrics_create(void);
void pz_metrics_destroy(pz_metrics *m);

typedef struct pz_metric_family_options {
    pz_metric_type type;
    const char *name;          /* [a-zA-Z_:][a-zA-Z0-9_:]*, copied */
    const char *help;          /* one line, copied */
    const char *const *labels; /* label names, n_labels of them (<= PZ_METRICS_MAX_LABELS), copied */
    size_t n_labels;
    const double *bounds; /* histograms: increasing upper bounds (+Inf is implied), <= PZ_METRICS_MAX_BOUNDS */
    size_t n_bounds;
    size_t max_series; /* 0 = PZ_METRICS_DEFAULT_MAX_SERIES */
    /* histograms only: also render a counter family of this name (and help) from the series'
     * counts, so one observation feeds both (e.g. requests_total from the duration histogram) */
    const char *count_name;
    const char *count_help;
} pz_metric_family_options;

/* Registers a family (rendered in registration order). Fatal on an invalid name or option: these
 * are programming errors. Before the registry is shared. */
pz_metric_family *pz_metrics_family(pz_metrics *m, const pz_metric_family_options *o);

/* The series of `values` (one per label name; NULL is ""), created on first use. Never NULL: the
 * overflow series when the family is full. Lock-free; any thread. */
pz_metric_series *pz_metric_series_get(pz_metric_family *f, const char *const *values);

/* Counter: adds n. Gauge: pz_metric_set replaces the value, pz_metric_add adds (may be negative).
 * Histogram: pz_metric_observe records one value. Lock-free; any thread. */
void pz_metric_inc(pz_metric_series *s, uint64_t n);
void pz_metric_set(pz_metric_series *s, double v);
void pz_metric_add(pz_metric_series *s, double v);
void pz_metric_observe(pz_metric_series *s, double v);

/* Reads back (tests, and collectors that derive from a series): a counter's total, a gauge's
 * value, a histogram's count. */
double pz_metric_value(const pz_metric_series *s);

/* ---- collectors ---- */

typedef struct pz_metrics_writer pz_metrics_writer;
typedef void (*pz_metrics_collect_fn)(void *ctx, pz_metrics_writer *w);

/* Adds a collector. Before the registry is shared. */
void pz_metrics_add_collector(pz_metrics *m, pz_metrics_collect_fn fn, void *ctx);

/* Starts a family in a collector's output: HELP and TYPE lines. Each family must be written once,
 * with all its samples following. */
void pz_metrics_write_family(pz_metrics_writer *w, const char *name, pz_metric_type type, const char *help);
/* One sample of the current family: name{labels[i]="values[i]"...} value. */
void pz_metrics_write_sample(pz_metrics_writer *w, const char *name, size_t n_labels, const char *const *labels,
                             const char *const *values, double value);
/* Shorthands: a family with one unlabelled sample. */
void pz_metrics_write_single(pz_metrics_writer *w, const char *name, pz_metric_type type, const char *help,
                             double value);

/* Renders every family and collector in the text exposition format. Returns 0, or -1 when out's
 * cap was reached (the output is then incomplete). Any thread; scrapes may run concurrently. */
int pz_metrics_render(pz_metrics *m, pz_buf *out);

/* The Content-Type of the rendering. */
#define PZ_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
