/* A synthetic interaction history with planted structure (synth.h). */
#include "synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* 2023-11-14: any fixed recent start will do. */
#define START_MS INT64_C(1700000000000)
#define DAY_MS INT64_C(86400000)

struct synth {
    synth_options o;
    uint64_t rng, produced;
    double *user_cdf; /* users by activity */
    double *item_cdf; /* all items by popularity */
    double *seg_cdf;  /* per segment, its items by popularity: segments x per_segment */
    size_t per_segment;
};

void synth_defaults(synth_options *o)
{
    *o = (synth_options){.users = 20000,
                         .items = 5000,
                         .segments = 20,
                         .events = 400000,
                         .item_skew = 1.0,
                         .user_skew = 0.6,
                         .affinity = 0.8,
                         .days = 30,
                         .seed = 42};
}

/* splitmix64 */
static uint64_t next_u64(synth *s)
{
    uint64_t z = (s->rng += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static double uniform(synth *s)
{
    return (double)(next_u64(s) >> 11) / 9007199254740992.0;
}

/* Cumulative Zipf weights 1/(rank+1)^skew over n ranks, normalized to 1. */
static void zipf_cdf(double *cdf, size_t n, double skew)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += 1.0 / pow((double)(i + 1), skew);
        cdf[i] = sum;
    }
    for (size_t i = 0; i < n; i++)
        cdf[i] /= sum;
}

static size_t draw(const double *cdf, size_t n, double u)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

synth *synth_new(const synth_options *o)
{
    synth *s = calloc(1, sizeof *s);
    s->o = *o;
    s->rng = o->seed;
    s->user_cdf = malloc(o->users * sizeof(double));
    s->item_cdf = malloc(o->items * sizeof(double));
    s->per_segment = o->items / o->segments;
    s->seg_cdf = malloc(s->per_segment * sizeof(double));
    zipf_cdf(s->user_cdf, o->users, o->user_skew);
    zipf_cdf(s->item_cdf, o->items, o->item_skew);
    zipf_cdf(s->seg_cdf, s->per_segment, o->item_skew); /* every segment ranks its items alike */
    return s;
}

void synth_free(synth *s)
{
    if (s == NULL)
        return;
    free(s->user_cdf);
    free(s->item_cdf);
    free(s->seg_cdf);
    free(s);
}

size_t synth_user_segment(const synth *s, uint32_t user)
{
    return (size_t)((uint64_t)user * 7919 % s->o.segments);
}

size_t synth_item_segment(const synth *s, uint32_t item)
{
    return item % s->o.segments;
}

int64_t synth_start_ms(const synth *s)
{
    (void)s;
    return START_MS;
}

int synth_next(synth *s, synth_event *out)
{
    if (s->produced >= s->o.events)
        return 0;
    /* times spread evenly over the days, in order */
    out->t_ms = START_MS + (int64_t)((double)s->produced / (double)s->o.events * (double)s->o.days * DAY_MS);
    s->produced++;
    /* users by rank, spread over ids so that activity and segment are unrelated */
    size_t rank = draw(s->user_cdf, s->o.users, uniform(s));
    out->user = (uint32_t)((rank * 2654435761u) % s->o.users);
    if (uniform(s) < s->o.affinity) {
        size_t k = draw(s->seg_cdf, s->per_segment, uniform(s));
        out->item = (uint32_t)(k * s->o.segments + synth_user_segment(s, out->user));
    } else {
        out->item = (uint32_t)draw(s->item_cdf, s->o.items, uniform(s));
    }
    double t = uniform(s);
    out->type = t < 0.60 ? "view" : t < 0.85 ? "click" : t < 0.95 ? "add-to-cart" : "purchase";
    return 1;
}
