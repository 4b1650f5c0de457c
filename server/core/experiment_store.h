/* The experiment store port (issue #14): where the counts behind A/B results live. The core reads
 * them for the results (GET /experiments/..., ListExperiments, GetExperimentResults); the event
 * pipeline applies exposure and conversion records to them from its outbox, on a worker thread,
 * never on the request path. server/experiments/ implements it on LMDB; main.c wires it into both;
 * core tests hand in an in-memory fake.
 *
 * Exactness: every event carries the seq of the record it came from in its source (the outbox, or
 * a partition of a Kafka event log: a `stream`), and a store applies each (namespace, stream)'s
 * events in seq order at most once (it keeps the last seq applied, in the same transaction as the
 * counts), so a record delivered twice after a crash is not counted twice.
 *
 * What is counted, per experiment (namespace, recommender key, feature) and variation:
 *   - users: distinct users exposed to the variation (each user once per variation);
 *   - per metric: exposure events, conversion events of users exposed to the experiment (counted
 *     against the variation the user was last exposed to), distinct converting users among them,
 *     the sum of conversion values, and conversions of users never exposed (unattributed, against
 *     the variation the conversion names).
 */
#ifndef PZ_EXPERIMENT_STORE_H
#define PZ_EXPERIMENT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/mem.h"

typedef enum pz_experiment_event_kind {
    PZ_EXPERIMENT_EXPOSURE,
    PZ_EXPERIMENT_CONVERSION,
} pz_experiment_event_kind;

/* One exposure or conversion, as counted. Strings are borrowed for the duration of the call. */
typedef struct pz_experiment_event {
    pz_experiment_event_kind kind;
    uint64_t seq; /* the outbox record's */
    const char *recommender;
    const char *feature;
    const char *variation;
    const char *user_id;
    const char *metric;  /* NULL: an exposure that only counts the user (no metric tracks exposures) */
    const char *control; /* exposures: the experiment's first variation (kept for when it is removed) */
    double value;        /* conversions */
    int64_t at_ms;
} pz_experiment_event;

/* The counts of one variation (metric NULL: its own row) or of one variation and metric. */
typedef struct pz_experiment_cell {
    const char *variation;
    const char *metric;
    uint64_t users;           /* variation row: distinct users exposed */
    uint64_t exposures;       /* metric row: exposure events */
    uint64_t conversions;     /* metric row: conversion events of exposed users */
    uint64_t converted_users; /* metric row: distinct converting users among the exposed */
    double value;             /* metric row: sum of the conversions' values */
    uint64_t unattributed;    /* metric row: conversions of users never exposed */
} pz_experiment_cell;

typedef struct pz_experiment_data {
    bool found;          /* the store has counts for this experiment */
    const char *control; /* the control named by the last exposure, or NULL */
    int64_t first_ms, last_ms;
    pz_experiment_cell *cells; /* arena-owned, in no particular order */
    size_t n_cells;
} pz_experiment_data;

/* An experiment the store has counts for. */
typedef struct pz_experiment_ref {
    const char *recommender;
    const char *feature;
    int64_t first_ms, last_ms;
} pz_experiment_ref;

/* The longest source name a store keeps marks for. */
#define PZ_EXPERIMENT_MAX_STREAM_LEN 200

typedef struct pz_experiment_store {
    void *self;
    /* Applies events[0..n) of namespace ns from source `stream` (NULL: this instance's outbox; at
     * most PZ_EXPERIMENT_MAX_STREAM_LEN bytes) durably, all or nothing, skipping those whose seq
     * was already applied for that stream. Blocking (disk): a worker thread only. 0, or -1 with
     * err. */
    int (*apply)(void *self, const char *ns, const char *stream, const pz_experiment_event *events, size_t n, char *err,
                 size_t errlen);
    /* The counts of one experiment (out->found false when there are none). Any thread; never waits
     * for a writer. 0, or -1 with err. */
    int (*read)(void *self, const char *ns, const char *recommender, const char *feature, pz_arena *arena,
                pz_experiment_data *out, char *err, size_t errlen);
    /* The experiments of ns that have counts. Any thread. 0, or -1 with err. */
    int (*list)(void *self, const char *ns, pz_arena *arena, pz_experiment_ref **out, size_t *n, char *err,
                size_t errlen);
} pz_experiment_store;

#endif
