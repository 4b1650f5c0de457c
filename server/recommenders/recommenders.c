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

/* One invocation's state, in the request arena. */
typedef struct run {
    pz_recommenders *r;
    pz_recommend_call *call;
    int count;   /* items to ask for (look-ahead applied) */
    size_t hops; /* fallbacks taken */
} run;

pz_recommenders *pz_recommenders_create(const pz_recommenders_options *opts)
{
    pz_recommenders *r = pz_calloc(1, sizeof *r);
    r->builtin = opts->builtin;
    r->env.aws = opts->aws;
    r->env.upstream = pz_upstream_create(opts->upstream);
    return r;
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

/* min(the client's deadline, now + the variation's timeoutMs) */
static int64_t deadline_for(int64_t client_deadline_ms, const pz_variation *v)
{
    int64_t d = pz_now_ms() + v->timeout_ms;
    return client_deadline_ms != 0 && client_deadline_ms < d ? client_deadline_ms : d;
}

static pz_remote_call *new_call(pz_recommenders *r, const pz_query *q, pz_arena *arena, pz_upstream_timing *timing,
                                int64_t client_deadline_ms, const pz_variation *v, const char *what,
                                pz_remote_done_fn done, void *user)
{
    pz_remote_call *call = pz_arena_calloc(arena, 1, sizeof *call);
    call->env = &r->env;
    call->q = q;
    call->arena = arena;
    call->timing = timing;
    call->variation = v;
    call->what = what;
    call->deadline_ms = deadline_for(client_deadline_ms, v);
    call->done = done;
    call->user = user;
    return call;
}

/* A remote call made for the recommend call of st. */
static pz_remote_call *new_recommend_call(run *st, const pz_variation *v, const char *what, pz_remote_done_fn done)
{
    pz_recommend_call *c = st->call;
    pz_remote_call *call = new_call(st->r, c->query, c->arena, c->timing, c->deadline_ms, v, what, done, st);
    call->rec = c;
    call->count = st->count;
    return call;
}

static void after_postprocess(pz_remote_call *call, const pz_error *err)
{
    call->rec->done(call->rec, err);
}

/* The variation answered: run the recommender's post-processor, if any, then complete. */
static void served(run *st)
{
    pz_recommend_call *c = st->call;
    const pz_post_processor *pp = c->query->recommender->post_processor;
    if (pp == NULL) {
        c->done(c, NULL);
        return;
    }
    const char *what =
        pz_arena_printf(c->arena, "the responsePostProcessor of recommender '%s'", c->query->recommender_key);
    pz_postprocess_invoke(new_recommend_call(st, c->served, what, after_postprocess), pp);
}

/* Failures a fallback may cover: the upstream's (throttled, down, slow, broken), not the caller's. */
static bool fallback_covers(const pz_error *err)
{
    return err->status == PZ_UPSTREAM_FAILED || err->status == PZ_UNAVAILABLE || err->status == PZ_DEADLINE_EXCEEDED ||
           err->status == PZ_RESOURCE_EXHAUSTED || err->status == PZ_INTERNAL;
}

static void variation_done(run *st, const pz_error *err)
{
    pz_recommend_call *c = st->call;
    const pz_recommender *rec = c->query->recommender;
    if (err == NULL) {
        served(st);
        return;
    }
    const pz_variation *v = c->served;
    const pz_variation *fb = v->fallback != NULL ? pz_config_variation(rec, v->fallback) : NULL;
    if (fb == NULL || !fallback_covers(err) || st->hops >= rec->n_variations) {
        c->done(c, err);
        return;
    }
    pz_warn("%s/%s: variation '%s' failed (%s: %s); falling back to variation '%s'", c->query->namespace_,
            c->query->recommender_key, v->key, err->code, err->message, fb->key);
    if (c->fallback_from == NULL)
        c->fallback_from = v->key;
    c->items = NULL;
    c->n_items = 0;
    c->extras = NULL;
    c->recommendation_id = NULL;
    c->custom_fields = NULL;
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
    pz_recommend_call *c = st->call;
    const pz_query *q = c->query;
    const pz_variation *v = c->served;
    char err[256] = "";
    int n = -1;
    pz_arena *arena = c->arena;
    int64_t now = q->received_ms;
    size_t want = (size_t)st->count;
    bool popular = v->strategy == PZ_STRATEGY_POPULAR;
    switch (q->action) {
    case PZ_ACTION_RECOMMEND_ITEMS:
        n = popular ? pz_builtin_popular(r->builtin, q->namespace_, want, now, arena, &c->items, err, sizeof err)
                    : pz_builtin_recommend(r->builtin, q->namespace_, q->user_id, want, v->exclude_seen, now, arena,
                                           &c->items, err, sizeof err);
        break;
    case PZ_ACTION_RELATED_ITEMS:
        n = popular ? pz_builtin_popular(r->builtin, q->namespace_, want, now, arena, &c->items, err, sizeof err)
                    : pz_builtin_related(r->builtin, q->namespace_, q->item_id, q->user_id, want, now, arena, &c->items,
                                         err, sizeof err);
        break;
    case PZ_ACTION_RERANK_ITEMS:
        n = pz_builtin_rerank(r->builtin, q->namespace_, q->user_id, (const char *const *)q->item_ids, q->n_item_ids,
                              now, arena, &c->items, err, sizeof err);
        break;
    default: break;
    }
    if (n < 0) {
        pz_error_log("builtin recommender failed for %s/%s: %s", q->namespace_, q->recommender_key, err);
        pz_error e = {PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "RecommenderFailed",
                      pz_arena_printf(arena, "the builtin recommender failed: %s", err)};
        variation_done(st, &e);
        return;
    }
    c->n_items = (size_t)n;
    variation_done(st, NULL);
}

static void run_variation(run *st, const pz_variation *v)
{
    pz_recommend_call *c = st->call;
    c->served = v;
    if (v->type == PZ_VARIATION_BUILTIN) {
        invoke_builtin(st);
        return;
    }
    const char *what = pz_arena_printf(c->arena, "%s variation '%s' of recommender '%s'", v->type_name, v->key,
                                       c->query->recommender_key);
    const char *bad = pz_remote_invalid_utf8(c->query);
    if (bad != NULL) {
        pz_error e = {PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, "ValidationError",
                      pz_arena_printf(c->arena, "%s must be valid UTF-8 to be sent to %s", bad, what)};
        c->done(c, &e);
        return;
    }
    pz_remote_call *call = new_recommend_call(st, v, what, remote_variation_done);
    switch (v->type) {
    case PZ_VARIATION_PERSONALIZE_CAMPAIGN:
    case PZ_VARIATION_PERSONALIZE_RECOMMENDER: pz_personalize_invoke(call); break;
    case PZ_VARIATION_SAGEMAKER: pz_sagemaker_invoke(call); break;
    case PZ_VARIATION_LAMBDA: pz_lambda_invoke(call); break;
    case PZ_VARIATION_HTTP: pz_http_invoke(call); break;
    case PZ_VARIATION_BUILTIN: break;
    }
}

/* The recommender port's invoke (server/core/recommender.h). */
static void invoke(void *self, pz_recommend_call *call)
{
    run *st = pz_arena_calloc(call->arena, 1, sizeof *st);
    st->r = self;
    st->call = call;
    const pz_query *q = call->query;
    st->count = q->action == PZ_ACTION_RERANK_ITEMS
                    ? q->num_results
                    : pz_postprocess_count(q->recommender->post_processor, q->num_results);
    run_variation(st, call->variation);
}

static void drain(void *self, int grace_ms)
{
    pz_recommenders_drain(self, grace_ms);
}

pz_recommender_port pz_recommenders_port(pz_recommenders *r)
{
    return (pz_recommender_port){.self = r, .invoke = invoke, .drain = drain};
}

/* ---- decoration backends ---- */

static void after_dynamodb(pz_remote_call *call, const pz_error *err)
{
    call->decoration->done(call->decoration, err);
}

static void decorate_dynamodb(void *self, pz_decoration *job)
{
    pz_recommenders *r = self;
    const pz_query *q = job->query;
    const char *what = pz_arena_printf(job->arena, "DynamoDB item metadata of namespace '%s' (table %s%s)",
                                       q->namespace_, PZ_DYNAMODB_TABLE_PREFIX, q->namespace_);
    pz_remote_call *call =
        new_call(r, q, job->arena, job->timing, job->deadline_ms, job->variation, what, after_dynamodb, NULL);
    call->decoration = job;
    call->count = q->num_results;
    pz_dynamodb_decorate(call);
}

/* Personalize returns item metadata itself (metadataColumns), already attached to the items; any
 * other variation type cannot honour `type: personalize`, which is said, not silently skipped. */
static void decorate_personalize(void *self, pz_decoration *job)
{
    (void)self;
    const pz_variation *v = job->variation;
    if (v->type == PZ_VARIATION_PERSONALIZE_CAMPAIGN || v->type == PZ_VARIATION_PERSONALIZE_RECOMMENDER) {
        job->done(job, NULL);
        return;
    }
    pz_error e;
    pz_error_setf(&e, job->arena, PZ_UNIMPLEMENTED, PZ_ERRTYPE_CONFIGURATION, "ItemMetadataNotAvailable",
                  "variation '%s' of recommender '%s' has type '%s', which cannot return item metadata for "
                  "inferenceItemMetadata type 'personalize' (only personalize-campaign and personalize-recommender "
                  "variations can); use type 'localdb' in namespace '%s', or send decorateItems=false",
                  v->key, job->query->recommender_key, v->type_name, job->query->namespace_);
    job->done(job, &e);
}

pz_decorator_backend pz_recommenders_dynamodb_backend(pz_recommenders *r)
{
    return (pz_decorator_backend){.self = r, .decorate = decorate_dynamodb};
}

pz_decorator_backend pz_recommenders_personalize_backend(pz_recommenders *r)
{
    return (pz_decorator_backend){.self = r, .decorate = decorate_personalize};
}
