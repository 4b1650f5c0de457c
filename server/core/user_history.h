/* The user history port: which items a user interacted with, as the server already keeps it from
 * events, for the `excludeSeen` rule (server/core/rules.h). server/recommenders/ implements it over
 * the builtin recommender's per-user recent items (pz_builtin_history, builtin.c) and main.c hands it to the
 * service; core tests hand in a fake.
 *
 * One call: seen(self, q, arena, &ids, &n, err) lists the items the user of query q interacted
 * with in q's namespace, with an event of one of q_types (n_types 0: any type), at or after
 * since_ms (0: any time). Inline: it reads local storage and never waits on the network or on a
 * writer (safe on event loops). Returns PZ_OK with ids (arena-owned, any order, possibly none), or
 * an error status with *err. A user with no history, or a namespace without one, is no error.
 */
#ifndef PZ_USER_HISTORY_H
#define PZ_USER_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "server/core/mem.h"
#include "server/core/status.h"

typedef struct pz_history_query {
    const char *ns;
    const char *user_id;
    const char *const *event_types; /* NULL/0: any */
    size_t n_event_types;
    int64_t since_ms; /* 0: any time */
} pz_history_query;

typedef struct pz_history_port {
    void *self; /* NULL seen: no history kept (excludeSeen leaves nothing out) */
    pz_status (*seen)(void *self, const pz_history_query *q, pz_arena *arena, const char ***ids, size_t *n,
                      pz_error *err);
} pz_history_port;

#endif
