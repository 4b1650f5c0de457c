/* The metrics registry and its text exposition (metrics.h). */
#include "server/core/metrics.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/hash.h"
#include "server/core/log.h"
#include "server/core/mem.h"

/* Threads record into their own stripe of a series' cells, one cache line apart. */
#define STRIPES 8
#define CACHE_LINE 64
#define HASH_SEED 0x6d657472696373ULL

const double PZ_METRICS_DURATION_BOUNDS[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                             0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
const size_t PZ_METRICS_DURATION_BOUNDS_COUNT =
    sizeof PZ_METRICS_DURATION_BOUNDS / sizeof PZ_METRICS_DURATION_BOUNDS[0];

typedef struct collector {
    pz_metrics_collect_fn fn;
    void *ctx;
} collector;

struct pz_metric_series {
    pz_metric_family *family;
    uint64_t hash;
    const char *values[PZ_METRICS_MAX_LABELS]; /* into block */
    char *block;
    /* counters: one u64 per stripe; histograms: per stripe n_bounds + 1 bucket counts then the
     * sum (a double's bits); gauges: one double's bits, not striped (set replaces it) */
    _Atomic uint64_t *cells;
};

struct pz_metric_family {
    pz_metric_type type;
    char *name, *help, *count_name, *count_help;
    char *labels[PZ_METRICS_MAX_LABELS];
    size_t n_labels;
    double bounds[PZ_METRICS_MAX_BOUNDS];
    size_t n_bounds;
    size_t stride; /* cells per stripe, a whole number of cache lines */
    size_t max_series;
    size_t cap; /* table slots: a power of two >= 2 x max_series, so probing always ends */
    _Atomic(pz_metric_series *) *slots;
    atomic_size_t n_series;
    atomic_uint_fast64_t overflowed;
    pz_metric_series *overflow;
    pz_metric_family *next;
    /* The series each stripe's threads found last. A request path records into the same few
     * series over and over, and comparing the label values with the last one's costs a fraction of
     * hashing them; a cache line each, as the series' cells have, so that threads do not share one. */
    struct {
        _Atomic(pz_metric_series *) series;
        char pad[CACHE_LINE - sizeof(void *)];
    } last[STRIPES];
};

struct pz_metrics {
    pz_metric_family *first, *last;
    collector *collectors;
    size_t n_collectors;
};

struct pz_metrics_writer {
    pz_buf *out;
    int rc;
};

static atomic_uint next_stripe;
static _Thread_local int thread_stripe = -1;

static inline size_t my_stripe(void)
{
    if (thread_stripe < 0)
        thread_stripe = (int)(atomic_fetch_add_explicit(&next_stripe, 1, memory_order_relaxed) % STRIPES);
    return (size_t)thread_stripe;
}

static uint64_t bits_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double double_of(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* ---- registration ---- */

static bool valid_name(const char *s)
{
    if (s == NULL || s[0] == '\0' || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (const char *p = s; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == ':'))
            return false;
    }
    return true;
}

pz_metrics *pz_metrics_create(void)
{
    return pz_calloc(1, sizeof(pz_metrics));
}

static pz_metric_series *new_series(pz_metric_family *f, const char *const *values, uint64_t hash)
{
    pz_metric_series *s = pz_calloc(1, sizeof *s);
    s->family = f;
    s->hash = hash;
    size_t total = 0, lens[PZ_METRICS_MAX_LABELS];
    for (size_t i = 0; i < f->n_labels; i++) {
        const char *v = values != NULL && values[i] != NULL ? values[i] : "";
        lens[i] = strnlen(v, PZ_METRICS_MAX_LABEL_VALUE);
        while (lens[i] > 0 && lens[i] < strlen(v) && ((unsigned char)v[lens[i]] & 0xC0) == 0x80)
            lens[i]--; /* never cut a UTF-8 sequence */
        total += lens[i] + 1;
    }
    s->block = pz_malloc(total ? total : 1);
    char *p = s->block;
    for (size_t i = 0; i < f->n_labels; i++) {
        memcpy(p, values != NULL && values[i] != NULL ? values[i] : "", lens[i]);
        p[lens[i]] = '\0';
        s->values[i] = p;
        p += lens[i] + 1;
    }
    size_t n_cells = f->type == PZ_METRIC_GAUGE ? 1 : STRIPES * f->stride;
    s->cells = aligned_alloc(CACHE_LINE, ((n_cells * sizeof(uint64_t) + CACHE_LINE - 1) / CACHE_LINE) * CACHE_LINE);
    if (s->cells == NULL)
        pz_fatal("out of memory (metrics series)");
    for (size_t i = 0; i < n_cells; i++)
        atomic_init(&s->cells[i], 0);
    return s;
}

static void free_series(pz_metric_series *s)
{
    if (s == NULL)
        return;
    free(s->cells);
    free(s->block);
    free(s);
}

pz_metric_family *pz_metrics_family(pz_metrics *m, const pz_metric_family_options *o)
{
    if (!valid_name(o->name) || o->help == NULL || o->n_labels > PZ_METRICS_MAX_LABELS ||
        o->n_bounds > PZ_METRICS_MAX_BOUNDS || (o->count_name != NULL && !valid_name(o->count_name)))
        pz_fatal("metrics: invalid family %s", o->name != NULL ? o->name : "(null)");
    pz_metric_family *f = pz_calloc(1, sizeof *f);
    f->type = o->type;
    f->name = pz_strdup(o->name);
    f->help = pz_strdup(o->help);
    f->count_name = o->count_name != NULL ? pz_strdup(o->count_name) : NULL;
    f->count_help = o->count_help != NULL ? pz_strdup(o->count_help) : NULL;
    f->n_labels = o->n_labels;
    for (size_t i = 0; i < o->n_labels; i++) {
        if (!valid_name(o->labels[i]) || strcmp(o->labels[i], "le") == 0)
            pz_fatal("metrics: invalid label %s of %s", o->labels[i], o->name);
        f->labels[i] = pz_strdup(o->labels[i]);
    }
    f->n_bounds = o->type == PZ_METRIC_HISTOGRAM ? o->n_bounds : 0;
    for (size_t i = 0; i < f->n_bounds; i++) {
        if (i > 0 && !(o->bounds[i] > o->bounds[i - 1]))
            pz_fatal("metrics: the bounds of %s do not increase", o->name);
        f->bounds[i] = o->bounds[i];
    }
    size_t per_stripe = o->type == PZ_METRIC_HISTOGRAM ? f->n_bounds + 2 : 1;
    size_t per_line = CACHE_LINE / sizeof(uint64_t);
    f->stride = (per_stripe + per_line - 1) / per_line * per_line;
    f->max_series = o->max_series > 0 ? o->max_series : PZ_METRICS_DEFAULT_MAX_SERIES;
    f->cap = 16;
    while (f->cap < 2 * f->max_series)
        f->cap *= 2;
    f->slots = pz_calloc(f->cap, sizeof *f->slots);
    for (size_t i = 0; i < f->cap; i++)
        atomic_init(&f->slots[i], NULL);
    atomic_init(&f->n_series, 0);
    atomic_init(&f->overflowed, 0);
    const char *overflow[PZ_METRICS_MAX_LABELS];
    for (size_t i = 0; i < f->n_labels; i++)
        overflow[i] = PZ_METRICS_OVERFLOW;
    f->overflow = new_series(f, overflow, 0);
    if (m->last != NULL)
        m->last->next = f;
    else
        m->first = f;
    m->last = f;
    return f;
}

void pz_metrics_add_collector(pz_metrics *m, pz_metrics_collect_fn fn, void *ctx)
{
    m->collectors = pz_realloc(m->collectors, (m->n_collectors + 1) * sizeof *m->collectors);
    m->collectors[m->n_collectors++] = (collector){fn, ctx};
}

void pz_metrics_destroy(pz_metrics *m)
{
    if (m == NULL)
        return;
    for (pz_metric_family *f = m->first, *next; f != NULL; f = next) {
        next = f->next;
        for (size_t i = 0; i < f->cap; i++)
            free_series(atomic_load(&f->slots[i]));
        free_series(f->overflow);
        free(f->slots);
        for (size_t i = 0; i < f->n_labels; i++)
            free(f->labels[i]);
        free(f->name);
        free(f->help);
        free(f->count_name);
        free(f->count_help);
        free(f);
    }
    free(m->collectors);
    free(m);
}

/* ---- recording ---- */

static uint64_t hash_values(const pz_metric_family *f, const char *const *values)
{
    uint64_t h = HASH_SEED;
    for (size_t i = 0; i < f->n_labels; i++) {
        const char *v = values != NULL && values[i] != NULL ? values[i] : "";
        h = pz_hash64(v, strnlen(v, PZ_METRICS_MAX_LABEL_VALUE) + 1, h); /* the NUL separates values */
    }
    return h;
}

static bool same_values(const pz_metric_series *s, const char *const *values)
{
    for (size_t i = 0; i < s->family->n_labels; i++) {
        const char *v = values != NULL && values[i] != NULL ? values[i] : "";
        if (strncmp(s->values[i], v, PZ_METRICS_MAX_LABEL_VALUE) != 0)
            return false;
    }
    return true;
}

static pz_metric_series *find_series(pz_metric_family *f, const char *const *values)
{
    uint64_t h = hash_values(f, values);
    size_t mask = f->cap - 1;
    for (size_t i = h & mask, probes = 0; probes < f->cap; i = (i + 1) & mask, probes++) {
        pz_metric_series *s = atomic_load_explicit(&f->slots[i], memory_order_acquire);
        if (s == NULL) {
            if (atomic_load_explicit(&f->n_series, memory_order_relaxed) >= f->max_series)
                break;
            pz_metric_series *fresh = new_series(f, values, h);
            pz_metric_series *expected = NULL;
            if (atomic_compare_exchange_strong_explicit(&f->slots[i], &expected, fresh, memory_order_acq_rel,
                                                        memory_order_acquire)) {
                atomic_fetch_add_explicit(&f->n_series, 1, memory_order_relaxed);
                return fresh;
            }
            free_series(fresh); /* another thread took the slot: look at what it put there */
            s = expected;
        }
        if (s->hash == h && same_values(s, values))
            return s;
    }
    atomic_fetch_add_explicit(&f->overflowed, 1, memory_order_relaxed);
    return f->overflow;
}

pz_metric_series *pz_metric_series_get(pz_metric_family *f, const char *const *values)
{
    _Atomic(pz_metric_series *) *last = &f->last[my_stripe()].series;
    pz_metric_series *s = atomic_load_explicit(last, memory_order_acquire);
    if (s != NULL && same_values(s, values))
        return s;
    s = find_series(f, values);
    if (s != f->overflow) /* the overflow series stands for values it does not hold */
        atomic_store_explicit(last, s, memory_order_release);
    return s;
}

void pz_metric_inc(pz_metric_series *s, uint64_t n)
{
    atomic_fetch_add_explicit(&s->cells[my_stripe() * s->family->stride], n, memory_order_relaxed);
}

static void add_double(_Atomic uint64_t *cell, double v)
{
    uint64_t old = atomic_load_explicit(cell, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(cell, &old, bits_of(double_of(old) + v), memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

void pz_metric_set(pz_metric_series *s, double v)
{
    atomic_store_explicit(&s->cells[0], bits_of(v), memory_order_relaxed);
}

void pz_metric_add(pz_metric_series *s, double v)
{
    add_double(&s->cells[0], v);
}

void pz_metric_observe(pz_metric_series *s, double v)
{
    const pz_metric_family *f = s->family;
    size_t b = 0;
    while (b < f->n_bounds && v > f->bounds[b])
        b++;
    _Atomic uint64_t *cells = &s->cells[my_stripe() * f->stride];
    atomic_fetch_add_explicit(&cells[b], 1, memory_order_relaxed);
    add_double(&cells[f->n_bounds + 1], v);
}

/* A counter's total or a histogram's per-bucket counts (buckets: n_bounds + 1) and sum. */
static uint64_t stripe_sum(const pz_metric_series *s, size_t cell)
{
    uint64_t total = 0;
    for (size_t k = 0; k < STRIPES; k++)
        total += atomic_load_explicit(&s->cells[k * s->family->stride + cell], memory_order_relaxed);
    return total;
}

static double stripe_sum_double(const pz_metric_series *s, size_t cell)
{
    double total = 0;
    for (size_t k = 0; k < STRIPES; k++)
        total += double_of(atomic_load_explicit(&s->cells[k * s->family->stride + cell], memory_order_relaxed));
    return total;
}

static uint64_t histogram_count(const pz_metric_series *s)
{
    uint64_t n = 0;
    for (size_t b = 0; b <= s->family->n_bounds; b++)
        n += stripe_sum(s, b);
    return n;
}

double pz_metric_value(const pz_metric_series *s)
{
    switch (s->family->type) {
    case PZ_METRIC_COUNTER: return (double)stripe_sum(s, 0);
    case PZ_METRIC_GAUGE: return double_of(atomic_load_explicit(&s->cells[0], memory_order_relaxed));
    case PZ_METRIC_HISTOGRAM: return (double)histogram_count(s);
    }
    return 0;
}

/* ---- rendering ---- */

static const char *type_name(pz_metric_type t)
{
    switch (t) {
    case PZ_METRIC_COUNTER: return "counter";
    case PZ_METRIC_GAUGE: return "gauge";
    case PZ_METRIC_HISTOGRAM: return "histogram";
    }
    return "untyped";
}

static void put(pz_metrics_writer *w, const char *s, size_t n)
{
    if (pz_buf_append(w->out, s, n) != 0)
        w->rc = -1;
}

static void put_str(pz_metrics_writer *w, const char *s)
{
    put(w, s, strlen(s));
}

/* Escapes \ and newline (HELP) and also " (label values). */
static void put_escaped(pz_metrics_writer *w, const char *s, bool quotes)
{
    const char *run = s;
    for (const char *p = s; *p != '\0'; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : quotes && *p == '"' ? "\\\"" : NULL;
        if (esc == NULL)
            continue;
        put(w, run, (size_t)(p - run));
        put_str(w, esc);
        run = p + 1;
    }
    put_str(w, run);
}

static void put_number(pz_metrics_writer *w, double v)
{
    char buf[48];
    if (isnan(v))
        put_str(w, "NaN");
    else if (isinf(v))
        put_str(w, v > 0 ? "+Inf" : "-Inf");
    else if (v == 0)
        put_str(w, "0"); /* also -0 */
    else
        put(w, buf, pz_format_double_roundtrip(v, buf));
}

static void put_u64(pz_metrics_writer *w, uint64_t v)
{
    char buf[24];
    put(w, buf, (size_t)snprintf(buf, sizeof buf, "%llu", (unsigned long long)v));
}

void pz_metrics_write_family(pz_metrics_writer *w, const char *name, pz_metric_type type, const char *help)
{
    put_str(w, "# HELP ");
    put_str(w, name);
    put_str(w, " ");
    put_escaped(w, help, false);
    put_str(w, "\n# TYPE ");
    put_str(w, name);
    put_str(w, " ");
    put_str(w, type_name(type));
    put_str(w, "\n");
}

/* name{l1="v1",...,extra_name="extra_value"} (extra may be NULL) */
static void put_series_name(pz_metrics_writer *w, const char *name, const char *suffix, size_t n_labels,
                            const char *const *labels, const char *const *values, const char *extra_name,
                            const char *extra_value)
{
    put_str(w, name);
    if (suffix != NULL)
        put_str(w, suffix);
    if (n_labels == 0 && extra_name == NULL)
        return;
    put_str(w, "{");
    for (size_t i = 0; i < n_labels; i++) {
        if (i > 0)
            put_str(w, ",");
        put_str(w, labels[i]);
        put_str(w, "=\"");
        put_escaped(w, values[i] != NULL ? values[i] : "", true);
        put_str(w, "\"");
    }
    if (extra_name != NULL) {
        if (n_labels > 0)
            put_str(w, ",");
        put_str(w, extra_name);
        put_str(w, "=\"");
        put_str(w, extra_value);
        put_str(w, "\"");
    }
    put_str(w, "}");
}

void pz_metrics_write_sample(pz_metrics_writer *w, const char *name, size_t n_labels, const char *const *labels,
                             const char *const *values, double value)
{
    put_series_name(w, name, NULL, n_labels, labels, values, NULL, NULL);
    put_str(w, " ");
    put_number(w, value);
    put_str(w, "\n");
}

void pz_metrics_write_single(pz_metrics_writer *w, const char *name, pz_metric_type type, const char *help,
                             double value)
{
    pz_metrics_write_family(w, name, type, help);
    pz_metrics_write_sample(w, name, 0, NULL, NULL, value);
}

static void render_histogram_series(pz_metrics_writer *w, const pz_metric_family *f, const pz_metric_series *s)
{
    const char *const *labels = (const char *const *)f->labels;
    uint64_t cumulative = 0;
    char le[48];
    for (size_t b = 0; b <= f->n_bounds; b++) {
        cumulative += stripe_sum(s, b);
        if (b < f->n_bounds)
            le[pz_format_double_roundtrip(f->bounds[b], le)] = '\0';
        else
            snprintf(le, sizeof le, "+Inf");
        put_series_name(w, f->name, "_bucket", f->n_labels, labels, s->values, "le", le);
        put_str(w, " ");
        put_u64(w, cumulative);
        put_str(w, "\n");
    }
    put_series_name(w, f->name, "_sum", f->n_labels, labels, s->values, NULL, NULL);
    put_str(w, " ");
    put_number(w, stripe_sum_double(s, f->n_bounds + 1));
    put_str(w, "\n");
    put_series_name(w, f->name, "_count", f->n_labels, labels, s->values, NULL, NULL);
    put_str(w, " ");
    put_u64(w, cumulative); /* the +Inf bucket, so the two always agree */
    put_str(w, "\n");
}

static void render_series(pz_metrics_writer *w, const pz_metric_family *f, const pz_metric_series *s, bool as_count)
{
    const char *const *labels = (const char *const *)f->labels;
    if (as_count) {
        put_series_name(w, f->count_name, NULL, f->n_labels, labels, s->values, NULL, NULL);
        put_str(w, " ");
        put_u64(w, histogram_count(s));
        put_str(w, "\n");
        return;
    }
    switch (f->type) {
    case PZ_METRIC_COUNTER:
        put_series_name(w, f->name, NULL, f->n_labels, labels, s->values, NULL, NULL);
        put_str(w, " ");
        put_u64(w, stripe_sum(s, 0));
        put_str(w, "\n");
        break;
    case PZ_METRIC_GAUGE:
        pz_metrics_write_sample(w, f->name, f->n_labels, labels, s->values, pz_metric_value(s));
        break;
    case PZ_METRIC_HISTOGRAM: render_histogram_series(w, f, s); break;
    }
}

/* Every series of f; the overflow series only when something went into it. */
static void render_family(pz_metrics_writer *w, const pz_metric_family *f, bool as_count)
{
    if (as_count)
        pz_metrics_write_family(w, f->count_name, PZ_METRIC_COUNTER, f->count_help != NULL ? f->count_help : f->help);
    else
        pz_metrics_write_family(w, f->name, f->type, f->help);
    for (size_t i = 0; i < f->cap; i++) {
        const pz_metric_series *s = atomic_load_explicit(&f->slots[i], memory_order_acquire);
        if (s != NULL)
            render_series(w, f, s, as_count);
    }
    if (atomic_load_explicit(&f->overflowed, memory_order_relaxed) > 0)
        render_series(w, f, f->overflow, as_count);
}

int pz_metrics_render(pz_metrics *m, pz_buf *out)
{
    pz_metrics_writer w = {out, 0};
    for (const pz_metric_family *f = m->first; f != NULL; f = f->next) {
        render_family(&w, f, false);
        if (f->type == PZ_METRIC_HISTOGRAM && f->count_name != NULL)
            render_family(&w, f, true);
    }
    pz_metrics_write_family(&w, "pz_metrics_series_overflow_total", PZ_METRIC_COUNTER,
                            "Label sets recorded into a family's overflow series because the family was full.");
    static const char *const FAMILY[] = {"family"};
    for (const pz_metric_family *f = m->first; f != NULL; f = f->next) {
        const char *name = f->name;
        pz_metrics_write_sample(&w, "pz_metrics_series_overflow_total", 1, FAMILY, &name,
                                (double)atomic_load_explicit(&f->overflowed, memory_order_relaxed));
    }
    for (size_t i = 0; i < m->n_collectors; i++)
        m->collectors[i].fn(m->collectors[i].ctx, &w);
    return w.rc;
}
