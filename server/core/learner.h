/* The learner port: how accepted events reach a model that learns from them (the embedded
 * recommender, server/recommenders/builtin.h) without the event pipeline knowing that model.
 * server/events/ delivers `builtin` targets through it; main.c wires the builtin recommender in.
 *
 * Exactly once: a learner may apply events before they are durable on its side (it writes in
 * batches). A source that must not lose or double-count events names itself with a `stream` and
 * numbers its events (seq, increasing); it keeps every event from unflushed_from(stream) on and
 * re-sends them after a restart; the learner skips those it already applied.
 */
#ifndef PZ_LEARNER_H
#define PZ_LEARNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One interaction, as a model sees it. Strings are borrowed for the duration of the call. */
typedef struct pz_interaction {
    const char *user_id;    /* may be NULL: counts towards popularity only */
    const char *session_id; /* may be NULL */
    const char *item_id;    /* NULL: the event is ignored */
    const char *event_type; /* the model weighs types (builtin.h lists its weights) */
    bool has_event_value;
    double event_value;
    int64_t sent_at_ms; /* event time, validated by the caller */
    uint64_t seq;       /* position in the call's stream (never decreasing within a call); 0 = none */
} pz_interaction;

typedef struct pz_learner {
    void *self;
    /* Applies events[0..n) of namespace ns, all or nothing; they count from the moment this
     * returns 0. With a stream, events whose seq is at or below the last one applied for it are
     * skipped. Blocking (it may wait for disk): call it from a writer or worker thread, never from
     * an event loop. Returns 0, or -1 with a message in err (nothing applied; retry later). */
    int (*learn)(void *self, const char *ns, const char *stream, const pz_interaction *events, size_t n, char *err,
                 size_t errlen);
    /* The first seq of stream applied but not yet durable; UINT64_MAX when every applied event
     * is. The source keeps its events from there on. NULL: learn is durable when it returns. */
    uint64_t (*unflushed_from)(void *self, const char *stream);
    /* Makes everything applied durable (blocking). NULL when learn already is. 0 or -1 with err. */
    int (*flush)(void *self, char *err, size_t errlen);
} pz_learner;

#endif
