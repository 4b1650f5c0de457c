/* In-memory fakes of the core's ports (server/core/recommender.h, event_sink.h, decorate.h) for the
 * core's unit tests: no LMDB, no threads of their own, nothing on the network. */
#ifndef PZ_TEST_FAKE_PORTS_H
#define PZ_TEST_FAKE_PORTS_H

#include <stdbool.h>
#include <stddef.h>

#include "server/core/decorate.h"
#include "server/core/event_sink.h"
#include "server/core/recommender.h"

#define FAKE_MAX_PENDING 64

/* A recommender. By default it answers inline: recommend/related with num_results ids
 * "<prefix><k>" (k = 0, 1, ...; prefix "item-"), scores n - k; rerank with the given ids in
 * reverse order, the last one without a score. With `hold`, calls stay pending until the test
 * finishes them (fake_recommender_answer / _fail), from whatever thread it likes. */
typedef struct fake_recommender {
    bool hold;
    const char *prefix;         /* NULL = "item-" */
    size_t extra_items;         /* recommend/related answer this many more than asked for */
    const pz_error *fail_with;  /* non-NULL: every inline call fails with it */
    const pz_variation *served; /* non-NULL: report that this variation served, after `variation`
                                 * failed (a fallback) */
    int calls;
    int drains;
    pz_recommend_call *last; /* the last call started */
    pz_recommend_call *pending[FAKE_MAX_PENDING];
    size_t n_pending;
} fake_recommender;

pz_recommender_port fake_recommender_port(fake_recommender *f);
/* Completes a held call with items ids[0..n) (scores n - k) and no recommendation id. */
void fake_recommender_answer(pz_recommend_call *call, const char *const *ids, size_t n);
void fake_recommender_fail(pz_recommend_call *call, const pz_error *err);

/* An event sink that takes every submission inline (or fails it with fail_with). */
typedef struct fake_event_sink {
    const pz_error *fail_with;
    int submissions;
    int drains;
    size_t events;       /* events submitted, in all */
    const char *last_ns; /* the last submission's namespace key (static copy) */
    char last_ns_buf[64];
    bool last_raw;            /* the last submission forwarded a body as it was sent */
    char last_raw_json[1024]; /* its JSON (truncated), its event count and its user */
    size_t last_raw_events;
    char last_user[64];
    size_t conversions;      /* resolved conversions submitted, in all */
    int exposures;           /* exposures recorded */
    char last_exposure[160]; /* "<feature>/<variation>/<user>" of the last one */
} fake_event_sink;

pz_event_sink fake_event_sink_port(fake_event_sink *f);

/* A decoration back-end that sets each item's metadata to {"decoratedBy": name}. */
typedef struct fake_decorator {
    const char *name;
    int calls;
} fake_decorator;

pz_decorator_backend fake_decorator_backend(fake_decorator *f);

#endif
