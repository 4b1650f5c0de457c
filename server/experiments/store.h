/* The experiment store: the durable, exact counts behind A/B results (issue #14), in one LMDB
 * environment (`<data-dir>/experiments/`). It implements the core's experiment store port
 * (server/core/experiment_store.h): the event pipeline applies exposure and conversion records to
 * it from the outbox on a worker thread, the service reads results from any thread.
 *
 * An experiment is (namespace, recommender key, feature); its id is the first 16 bytes of
 * SHA-256(namespace NUL recommender NUL feature). Databases:
 *   experiments  id -> first and last event time, then namespace, recommender, feature, control
 *   cells        id + SHA-256(variation NUL metric)[0..16] -> the counts of a variation (metric ""
 *                is its own row: users exposed) or of a variation and metric, then both names
 *   seen         id + SHA-256(kind, variation, metric, user)[0..16] -> (nothing): each user is
 *                counted once per variation ('E') and once per variation and metric as converted
 *                ('C')
 *   last         id + SHA-256(user)[0..16] -> the variation the user was last exposed to: where
 *                their conversions count
 *   applied      namespace -> the seq of the last outbox record applied: a record delivered again
 *                (after a crash) is skipped, so counts are exact
 * Hashed keys keep every key within LMDB's 511 bytes whatever the ids' lengths; two different
 * users colliding needs a 128-bit SHA-256 prefix collision.
 *
 * Threads and processes: readers never wait (MDB_NOTLS, any thread); writes (apply, delete) are
 * serialized by LMDB, across processes too, so the CLI may delete while a server runs.
 */
#ifndef PZ_EXPERIMENTS_STORE_H
#define PZ_EXPERIMENTS_STORE_H

#include <stddef.h>

#include "server/core/experiment_store.h"

/* The most the store may hold (LMDB map size). A full store fails apply (the pipeline retries
 * the records until space is made, e.g. by deleting finished experiments); reads go on. */
#define PZ_EXPERIMENTS_DEFAULT_MAP_MB 1024

typedef struct pz_experiments pz_experiments;

/* Opens (creating when missing) the store in directory dir (created if needed); map_mb 0 = the
 * default. 0 and *out, or -1 with err. */
int pz_experiments_open(const char *dir, size_t map_mb, pz_experiments **out, char *err, size_t errlen);
void pz_experiments_close(pz_experiments *x);

/* The port (apply, read, list below). */
pz_experiment_store pz_experiments_port(pz_experiments *x);

/* The port's apply (server/core/experiment_store.h): stream NULL is the outbox. */
int pz_experiments_apply(pz_experiments *x, const char *ns, const char *stream, const pz_experiment_event *events,
                         size_t n, char *err, size_t errlen);
int pz_experiments_read(pz_experiments *x, const char *ns, const char *recommender, const char *feature,
                        pz_arena *arena, pz_experiment_data *out, char *err, size_t errlen);
/* ns NULL: every namespace's experiments (ns of each in *namespaces when non-NULL). */
int pz_experiments_list(pz_experiments *x, const char *ns, pz_arena *arena, pz_experiment_ref **out, size_t *n,
                        const char ***namespaces, char *err, size_t errlen);

/* Deletes every count of one experiment. Returns 1 when there was something, 0 when not, -1 with
 * err. */
int pz_experiments_delete(pz_experiments *x, const char *ns, const char *recommender, const char *feature, char *err,
                          size_t errlen);

#endif
