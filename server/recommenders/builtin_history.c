/* The user history port (server/core/history.h) over the builtin recommender's per-user recent
 * items: see pz_builtin_history in builtin.h. One LMDB read transaction per call. */
#include <stdio.h>
#include <stdlib.h>

#include "server/recommenders/builtin_internal.h"

static bool type_matches(double weight, const pz_history_query *q)
{
    if (q->n_event_types == 0)
        return true;
    for (size_t i = 0; i < q->n_event_types; i++)
        if (pzb_event_weight(q->event_types[i]) == weight)
            return true;
    return false;
}

static pz_status seen(void *self, const pz_history_query *q, pz_arena *arena, const char ***ids, size_t *n,
                      pz_error *err)
{
    pz_builtin *b = self;
    *ids = NULL;
    *n = 0;
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn);
    pzb_recent *list = pz_malloc(b->recent_cap * sizeof *list);
    size_t n_list = 0;
    if (rc == 0)
        rc = pzb_get_recent(txn, b->users, q->ns, q->user_id, list, b->recent_cap, &n_list);
    const char **out = pz_arena_alloc(arena, (n_list + 1) * sizeof *out);
    for (size_t i = 0; rc == 0 && i < n_list; i++) {
        if (list[i].t_ms < q->since_ms || !type_matches(list[i].weight, q))
            continue;
        double L;
        const char *name;
        size_t len;
        int r = pzb_get_by_id(b, txn, list[i].id, &L, &name, &len);
        if (r == 0)
            out[(*n)++] = pz_arena_strndup(arena, name, len);
        else if (r != MDB_NOTFOUND)
            rc = r;
    }
    if (rc == 0)
        mdb_txn_commit(txn);
    else if (txn != NULL)
        mdb_txn_abort(txn);
    free(list);
    if (rc != 0) {
        char msg[256];
        pzb_fail(b, msg, sizeof msg, "read the user's history", rc);
        *n = 0;
        return pz_error_setf(err, arena, PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "HistoryFailed", "%s", msg);
    }
    *ids = out;
    return PZ_OK;
}

pz_history_port pz_builtin_history(pz_builtin *b)
{
    return (pz_history_port){.self = b, .seen = seen};
}
