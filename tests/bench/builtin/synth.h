/* A synthetic interaction history with planted structure, for the builtin recommender's
 * benchmarks: users belong to segments, items belong to segments, and a user picks most items from
 * their segment. Deterministic for a seed.
 *
 *   - items: item i is in segment i % segments; within a segment, and over all items, popularity
 *     follows a Zipf law (exponent `item_skew`): a few items take most events, as in a shop;
 *   - users: user u is in segment (u * 7919) % segments (spread so that segments and ranks are
 *     unrelated); how active a user is follows a Zipf law (exponent `user_skew`);
 *   - events, in time order over `days`: a user drawn by activity picks, with probability
 *     `affinity`, an item of their segment (by the segment's popularity), otherwise any item (by
 *     global popularity); types: view 60 %, click 25 %, add-to-cart 10 %, purchase 5 %.
 */
#ifndef PZ_BENCH_SYNTH_H
#define PZ_BENCH_SYNTH_H

#include <stddef.h>
#include <stdint.h>

typedef struct synth_options {
    size_t users, items, segments;
    uint64_t events;
    double item_skew, user_skew, affinity;
    int days;
    uint64_t seed;
} synth_options;

typedef struct synth_event {
    uint32_t user, item;
    const char *type;
    int64_t t_ms;
} synth_event;

typedef struct synth synth;

void synth_defaults(synth_options *o);
synth *synth_new(const synth_options *o);
void synth_free(synth *s);
/* The next event (times never decrease); 0 once `events` were produced. */
int synth_next(synth *s, synth_event *out);
/* The segment of a user or an item. */
size_t synth_user_segment(const synth *s, uint32_t user);
size_t synth_item_segment(const synth *s, uint32_t item);
/* Start of the history (epoch ms). */
int64_t synth_start_ms(const synth *s);

#endif
