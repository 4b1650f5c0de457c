/* The learner port: how accepted events reach a model that learns from them (the embedded
 * recommender, server/recommenders/builtin.h) without the event pipeline knowing that model.
 * server/events/ delivers `builtin` targets through it; main.c wires the builtin recommender in.
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
    int64_t sent_at_ms; /* event time */
} pz_interaction;

typedef struct pz_learner {
    void *self;
    /* Applies events[0..n) of namespace ns durably, all or nothing. Blocking (disk I/O): call it
     * from a writer or worker thread, never from an event loop. Returns 0, or -1 with a message in
     * err (nothing applied). */
    int (*learn)(void *self, const char *ns, const pz_interaction *events, size_t n, char *err, size_t errlen);
} pz_learner;

#endif
