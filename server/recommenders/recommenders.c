#include "server/recommenders/recommenders.h"

#include <stdio.h>
#include <stdlib.h>

#include "server/core/log.h"

struct pz_recommenders {
    pz_builtin *builtin;
};

pz_recommenders *pz_recommenders_create(const pz_recommenders_options *opts)
{
    pz_recommenders *r = pz_calloc(1, sizeof *r);
    r->builtin = opts->builtin;
    return r;
}

void pz_recommenders_destroy(pz_recommenders *r)
{
    free(r);
}

/* The builtin recommender answers inline: LMDB reads never wait. */
static void invoke_builtin(pz_recommenders *r, pz_inference *inf)
{
    char err[256] = "";
    int n = -1;
    pz_arena *arena = inf->req->arena;
    int64_t now = inf->req->received_ms;
    size_t want = (size_t)inf->num_results;
    bool popular = inf->variation->strategy == PZ_STRATEGY_POPULAR;
    switch (inf->action) {
    case PZ_ACTION_RECOMMEND_ITEMS:
        n = popular ? pz_builtin_popular(r->builtin, inf->namespace_, want, now, arena, &inf->items, err, sizeof err)
                    : pz_builtin_recommend(r->builtin, inf->namespace_, inf->user_id, want,
                                           inf->variation->exclude_seen, now, arena, &inf->items, err, sizeof err);
        break;
    case PZ_ACTION_RELATED_ITEMS:
        n = popular ? pz_builtin_popular(r->builtin, inf->namespace_, want, now, arena, &inf->items, err, sizeof err)
                    : pz_builtin_related(r->builtin, inf->namespace_, inf->item_id, inf->user_id, want, now, arena,
                                         &inf->items, err, sizeof err);
        break;
    case PZ_ACTION_RERANK_ITEMS:
        n = pz_builtin_rerank(r->builtin, inf->namespace_, inf->user_id, (const char *const *)inf->item_ids,
                              inf->n_item_ids, now, arena, &inf->items, err, sizeof err);
        break;
    default:
        break;
    }
    if (n < 0) {
        pz_error_log("builtin recommender failed for %s/%s: %s", inf->namespace_, inf->recommender_key, err);
        pz_error e = {PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "RecommenderFailed",
                      pz_arena_printf(arena, "the builtin recommender failed: %s", err)};
        pz_inference_recommended(inf, &e);
        return;
    }
    inf->n_items = (size_t)n;
    pz_inference_recommended(inf, NULL);
}

void pz_recommenders_invoke(pz_recommenders *r, pz_inference *inf)
{
    const pz_variation *v = inf->variation;
    if (v->type == PZ_VARIATION_BUILTIN) {
        invoke_builtin(r, inf);
        return;
    }
    pz_error e = {PZ_UNIMPLEMENTED, PZ_ERRTYPE_CONFIGURATION, "VariationTypeNotAvailable",
                  pz_arena_printf(inf->req->arena,
                                  "variation '%s' of recommender '%s' has type '%s', which this server does not "
                                  "call yet; use type 'builtin'",
                                  v->key, inf->recommender_key, v->type_name)};
    pz_inference_recommended(inf, &e);
}
