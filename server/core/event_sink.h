/* The event sink port: where the service hands accepted PutEvents calls (validated, defaults
 * filled, experiment conversions resolved) and the exposures of experiments. server/events/
 * implements it with the durable outbox and delivery to the namespace's event targets; main.c
 * wires it in; core tests use an in-memory fake.
 *
 * One submission: the service fills a pz_event_submission and calls sink.submit(sink.self, s);
 * the sink calls s->done(s, err) exactly once, inline or from any thread, once the call is
 * durable (err NULL) or when it cannot take it (err says why: 400 too large to store, 429 queue
 * full, 503 draining or store unavailable). Until done runs the sink may read the submission and
 * allocate from s->arena; after it, never again.
 */
#ifndef PZ_EVENT_SINK_H
#define PZ_EVENT_SINK_H

#include <stddef.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/config.h"
#include "server/core/experiment.h"
#include "server/core/mem.h"
#include "server/core/request.h"
#include "server/core/status.h"

typedef struct pz_event_submission pz_event_submission;

/* A REST body a forward-only namespace takes as it is (server/core/event_validation.h
 * pz_events_read_body reads it): any JSON object. */
typedef struct pz_events_body {
    const char *json; /* the object as compact JSON (arena), defaults filled */
    size_t len;       /* its length */
    size_t n_events;  /* the length of its eventList when that is an array, else 0 */
} pz_events_body;

struct pz_event_submission {
    const pz_namespace *ns;                              /* valid during submit() only */
    const Personalization__V1__PutEventsRequest *events; /* valid until done */
    /* A forward-only namespace's REST body: forwarded as the envelope's body instead of
     * `events`, which then holds only its sessionId, userId and experimentConversions. NULL
     * otherwise. Valid until done. */
    const pz_events_body *raw;
    const pz_header *headers; /* the call's headers / metadata */
    size_t n_headers;
    /* events->experiment_conversions resolved (server/core/experiment.h), one each; valid during
     * submit() only. The sink stores one conversion record per entry with the call. */
    const pz_conversion *conversions;
    size_t n_conversions;
    int64_t received_ms; /* when the call arrived: the conversions' time */
    pz_arena *arena;
    void (*done)(pz_event_submission *s, const pz_error *err);
    void *done_ctx; /* the service's */
};

/* A response served to a user whose variation an experiment decided (issue #14): the sink stores
 * one exposure record per metric of the experiment with trackExposures (one record that counts
 * the user only when no metric tracks exposures) and delivers them like events. */
typedef struct pz_exposure {
    pz_config *config; /* the snapshot that decided; the sink takes a reference if it keeps any pointer */
    const pz_namespace *ns;
    const pz_recommender *recommender;
    const pz_experiment *experiment;
    const pz_variation *variation;
    const char *user_id; /* borrowed for the call */
    int64_t at_ms;
} pz_exposure;

typedef struct pz_event_sink {
    void *self;
    void (*submit)(void *self, pz_event_submission *s);
    /* Records an exposure without waiting for anything (no disk, no lock held across I/O): on the
     * request path, cache hits included. Stored by the sink's next group commit, asynchronously
     * (spec §14 #27), so the response never waits for it. May be NULL: exposures are not kept. */
    void (*expose)(void *self, const pz_exposure *e);
    /* Refuses new submissions and returns once every submitted one is done. */
    void (*drain)(void *self);
} pz_event_sink;

#endif
