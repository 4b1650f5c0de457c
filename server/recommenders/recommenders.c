#include "server/recommenders/recommenders.h"

#include <stdio.h>
#include <stdlib.h>

#include "server/core/log.h"
#include "server/recommenders/dynamodb.h"
#include "server/recommenders/postprocess.h"
#include "server/recommenders/remote.h"

struct pz_recommenders {
    pz_builtin *builtin;
    pz_remote_env env;
};

/* The provider for recommenders whose options name none (pz_recommenders_set_default_aws). */
static pz_aws *default_aws;

/* One invocation's state, in the request arena. */
typedef struct run {
    pz_recommenders *r;
    pz_inference *inf;
    int count;   /* items to ask for (look-ahead applied) */
    size_t hops; /* fallbacks taken */
} run;

pz_recommenders *pz_recommenders_create(const pz_recommenders_options *opts)
{
    pz_recommenders *r = pz_calloc(1, sizeof *r);
    r->builtin = opts->builtin;
    r->env.aws = opts->aws != NULL ? opts->aws : default_aws;
    r->env.upstream = pz_upstream_create(opts->upstream);
    return r;
}

void pz_recommenders_set_default_aws(pz_aws *aws)
{
    default_aws = aws;
}

void pz_recommenders_drain(pz_recommenders *r, int grace_ms)
{
    pz_upstream_drain(r->env.upstream, grace_ms);
    pz_upstream_stats st;
    pz_upstream_get_stats(r->env.upstream, &st);
    if (st.submitted > 0 || st.rejected_queue_full > 0)
        pz_info("upstream calls: %lu submitted, %lu completed, %lu retries, %lu timeouts, %lu connection failures, "
                "%lu rejected (queue full), %lu rejected (circuit open)",
                st.submitted, st.completed, st.retries, st.timeouts, st.connect_failures, st.rejected_queue_full,
                st.rejected_circuit_open);
}

void pz_recommenders_destroy(pz_recommenders *r)
{
    if (r == NULL)
        return;
    pz_upstream_destroy(r->env.upstream);
    free(r);
}

/* ---- stages ---- */

static void run_variation(run *st, const pz_variation *v);

static int64_t deadline_for(const pz_inference *inf, const pz_variation *v)
{
    int64_t d = pz_now_ms() + v->timeout_ms;
    return inf->req->deadline_ms != 0 && inf->req->deadline_ms < d ? inf->req->deadline_ms : d;
}

static pz_remote_call *new_call(run *st, const pz_variation *v, const char *what, pz_remote_done_fn done)
{
    pz_remote_call *call = pz_arena_calloc(st->inf->req->arena, 1, sizeof *call);
    call->env = &st->r->env;
    call->inf = st->inf;
    call->variation = v;
    call->what = what;
    call->count = st->count;
    call->deadline_ms = deadline_for(st->inf, v);
    call->done = done;
    call->user = st;
    return call;
}

static void after_postprocess(pz_remote_call *call, const pz_error *err)
{
    pz_inference_recommended(call->inf, err);
}

/* The variation answered: run the recommender's post-processor, if any, then complete. */
static void served(run *st)
{
    pz_inference *inf = st->inf;
    const pz_post_processor *pp = inf->recommender->post_processor;
    if (pp == NULL) {
        pz_inference_recommended(inf, NULL);
        return;
    }
    const char *what =
        pz_arena_printf(inf->req->arena, "the responsePostProcessor of recommender '%s'", inf->recommender_key);
    pz_postprocess_invoke(new_call(st, inf->variation, what, after_postprocess), pp);
}

/* Failures a fallback may cover: the upstream's (throttled, down, slow, broken), not the caller's. */
static bool fallback_covers(const pz_error *err)
{
    return err->status == PZ_UPSTREAM_FAILED || err->status == PZ_UNAVAILABLE || err->status == PZ_DEADLINE_EXCEEDED ||
           err->status == PZ_RESOURCE_EXHAUSTED || err->status == PZ_INTERNAL;
}

static void variation_done(run *st, const pz_error *err)
{
    pz_inference *inf = st->inf;
    if (err == NULL) {
        served(st);
        return;
    }
    const pz_variation *v = inf->variation;
    const pz_variation *fb = v->fallback != NULL ? pz_config_variation(inf->recommender, v->fallback) : NULL;
    if (fb == NULL || !fallback_covers(err) || st->hops >= inf->recommender->n_variations) {
        pz_inference_recommended(inf, err);
        return;
    }
    pz_warn("%s/%s: variation '%s' failed (%s: %s); falling back to variation '%s'", inf->namespace_,
            inf->recommender_key, v->key, err->code, err->message, fb->key);
    pz_request *req = inf->req;
    if (req->hints.fallback_from == NULL)
        req->hints.fallback_from = pz_arena_strdup(req->arena, v->key);
    req->hints.variation = pz_arena_strdup(req->arena, fb->key);
    inf->items = NULL;
    inf->n_items = 0;
    inf->item_extras = NULL;
    inf->recommendation_id = NULL;
    st->hops++;
    run_variation(st, fb);
}

static void remote_variation_done(pz_remote_call *call, const pz_error *err)
{
    variation_done(call->user, err);
}

/* The builtin recommender answers inline: LMDB reads never wait. */
static void invoke_builtin(run *st)
{
    pz_recommenders *r = st->r;
    pz_inference *inf = st->inf;
    char err[256] = "";
    int n = -1;
    pz_arena *arena = inf->req->arena;
    int64_t now = inf->req->received_ms;
    size_t want = (size_t)st->count;
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
    default: break;
    }
    if (n < 0) {
        pz_error_log("builtin recommender failed for %s/%s: %s", inf->namespace_, inf->recommender_key, err);
        pz_error e = {PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "RecommenderFailed",
                      pz_arena_printf(arena, "the builtin recommender failed: %s", err)};
        variation_done(st, &e);
        return;
    }
    inf->n_items = (size_t)n;
    variation_done(st, NULL);
}

static void run_variation(run *st, const pz_variation *v)
{
    pz_inference *inf = st->inf;
    inf->variation = v;
    if (v->type == PZ_VARIATION_BUILTIN) {
        invoke_builtin(st);
        return;
    }
    const char *what = pz_arena_printf(inf->req->arena, "%s variation '%s' of recommender '%s'", v->type_name, v->key,
                                       inf->recommender_key);
    const char *bad = pz_remote_invalid_utf8(inf);
    if (bad != NULL) {
        pz_error e = {PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, "ValidationError",
                      pz_arena_printf(inf->req->arena, "%s must be valid UTF-8 to be sent to %s", bad, what)};
        pz_inference_recommended(inf, &e);
        return;
    }
    pz_remote_call *call = new_call(st, v, what, remote_variation_done);
    switch (v->type) {
    case PZ_VARIATION_PERSONALIZE_CAMPAIGN:
    case PZ_VARIATION_PERSONALIZE_RECOMMENDER: pz_personalize_invoke(call); break;
    case PZ_VARIATION_SAGEMAKER: pz_sagemaker_invoke(call); break;
    case PZ_VARIATION_LAMBDA: pz_lambda_invoke(call); break;
    case PZ_VARIATION_HTTP: pz_http_invoke(call); break;
    case PZ_VARIATION_BUILTIN: break;
    }
}

void pz_recommenders_invoke(pz_recommenders *r, pz_inference *inf)
{
    run *st = pz_arena_calloc(inf->req->arena, 1, sizeof *st);
    st->r = r;
    st->inf = inf;
    st->count = inf->action == PZ_ACTION_RERANK_ITEMS
                    ? inf->num_results
                    : pz_postprocess_count(inf->recommender->post_processor, inf->num_results);
    run_variation(st, inf->variation);
}

/* ---- decoration backends ---- */

static void after_dynamodb(pz_remote_call *call, const pz_error *err)
{
    pz_inference_decorated(call->inf, err);
}

void pz_recommenders_decorate_dynamodb(void *ctx, pz_inference *inf, const pz_item_metadata *im)
{
    (void)im;
    pz_recommenders *r = ctx;
    run *st = pz_arena_calloc(inf->req->arena, 1, sizeof *st);
    st->r = r;
    st->inf = inf;
    st->count = inf->num_results;
    const char *what = pz_arena_printf(inf->req->arena, "DynamoDB item metadata of namespace '%s' (table %s%s)",
                                       inf->namespace_, PZ_DYNAMODB_TABLE_PREFIX, inf->namespace_);
    pz_dynamodb_decorate(new_call(st, inf->variation, what, after_dynamodb));
}

/* Personalize returns item metadata itself (metadataColumns), already attached to the items; any
 * other variation type cannot honour `type: personalize`, which is said, not silently skipped. */
void pz_recommenders_decorate_personalize(void *ctx, pz_inference *inf, const pz_item_metadata *im)
{
    (void)ctx;
    (void)im;
    pz_variation_type t = inf->variation->type;
    if (t == PZ_VARIATION_PERSONALIZE_CAMPAIGN || t == PZ_VARIATION_PERSONALIZE_RECOMMENDER) {
        pz_inference_decorated(inf, NULL);
        return;
    }
    pz_error e = {PZ_UNIMPLEMENTED, PZ_ERRTYPE_CONFIGURATION, "ItemMetadataNotAvailable",
                  pz_arena_printf(inf->req->arena,
                                  "variation '%s' of recommender '%s' has type '%s', which cannot return item "
                                  "metadata for inferenceItemMetadata type 'personalize' (only personalize-campaign "
                                  "and personalize-recommender variations can); use type 'localdb' in namespace "
                                  "'%s', or send decorateItems=false",
                                  inf->variation->key, inf->recommender_key, inf->variation->type_name,
                                  inf->namespace_)};
    pz_inference_decorated(inf, &e);
}
