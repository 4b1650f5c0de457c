/* Variation types personalize-campaign and personalize-recommender (spec §3.4.1, §2.2–§2.6):
 * Amazon Personalize runtime GetRecommendations (POST /recommendations) for recommend-items and
 * related-items, GetPersonalizedRanking (POST /personalize-ranking) for rerank-items.
 *
 *   - campaignArn or recommenderArn by the ARN's resource type (the config resolved `type` from it);
 *   - filterArn: the `filter` request parameter (a name becomes
 *     arn:{partition}:personalize:{region}:{account}:filter/{name} from the variation's ARN; an ARN
 *     is passed through, §14 #4), else the first configured filter that applies (`user-required`
 *     ones only with a user); filterValues only when a filter applies;
 *   - context as given; promotions as configured (GetRecommendations only);
 *   - metadataColumns {"ITEMS": itemColumns} when the variation's inferenceItemMetadata is
 *     `personalize` and decorateItems is on, with numResults clamped to 50 (§14 #25); a rerank
 *     of more than 50 ids with metadata is a 400 (Personalize's limit, no silent drop);
 *   - the answer keeps itemList/personalizedRanking items with score, promotionName, reason and
 *     metadata, and recommendationId.
 */
#include <string.h>

#include "server/recommenders/personalize.h"
#include "server/recommenders/remote.h"
#include "server/upstream/arn.h"

const char *pz_personalize_filter_arn(const char *variation_arn, const char *filter, pz_arena *arena)
{
    if (strncmp(filter, "arn:", 4) == 0)
        return filter;
    pz_arn arn; /* the variation's partition, service, region and account */
    if (pz_arn_parse(variation_arn, &arn) != 0)
        return NULL;
    return pz_arena_printf(arena, "arn:%s:%s:%s:%s:filter/%s", arn.partition, arn.service, arn.region, arn.account,
                           filter);
}

const char *pz_personalize_choose_filter(const pz_query *q, const pz_variation *v, pz_arena *arena)
{
    if (q->filter != NULL && q->filter[0] != '\0')
        return pz_personalize_filter_arn(v->arn, q->filter, arena);
    const pz_filter *f = pz_query_configured_filter(q, v);
    return f != NULL ? f->arn : NULL;
}

bool pz_personalize_wants_metadata(const pz_query *q, const pz_variation *v)
{
    const pz_item_metadata *m = v->item_metadata_view;
    return q->decorate_items && m != NULL && m->type == PZ_ITEM_METADATA_PERSONALIZE && m->n_item_columns > 0;
}

static json_t *string_map(pz_string_entry **entries, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, entries[i]->key, json_string(entries[i]->value ? entries[i]->value : ""));
    return o;
}

json_t *pz_personalize_request(const pz_query *q, const pz_variation *v, int count, pz_arena *arena,
                               const char **problem)
{
    bool metadata = pz_personalize_wants_metadata(q, v);
    int limit = metadata ? PZ_PERSONALIZE_MAX_RESULTS_WITH_METADATA : PZ_MAX_NUM_RESULTS;
    *problem = NULL;
    if (q->action == PZ_ACTION_RERANK_ITEMS && metadata && q->n_item_ids > (size_t)limit) {
        *problem = pz_arena_printf(arena,
                                   "itemIds holds %zu ids, but Personalize ranks at most %d when it returns item "
                                   "metadata; send at most %d ids or decorateItems=false",
                                   q->n_item_ids, limit, limit);
        return NULL;
    }
    json_t *doc = json_object();
    json_object_set_new(doc, v->type == PZ_VARIATION_PERSONALIZE_RECOMMENDER ? "recommenderArn" : "campaignArn",
                        json_string(v->arn));
    if (q->user_id != NULL)
        json_object_set_new(doc, "userId", json_string(q->user_id));
    if (q->action == PZ_ACTION_RERANK_ITEMS) {
        json_t *ids = json_array();
        for (size_t i = 0; i < q->n_item_ids; i++)
            json_array_append_new(ids, json_string(q->item_ids[i]));
        json_object_set_new(doc, "inputList", ids);
    } else {
        if (q->action == PZ_ACTION_RELATED_ITEMS)
            json_object_set_new(doc, "itemId", json_string(q->item_id));
        json_object_set_new(doc, "numResults", json_integer(count < limit ? count : limit));
    }
    const char *filter_arn = pz_personalize_choose_filter(q, v, arena);
    if (filter_arn != NULL) {
        json_object_set_new(doc, "filterArn", json_string(filter_arn));
        if (q->n_filter_values > 0)
            json_object_set_new(doc, "filterValues", string_map(q->filter_values, q->n_filter_values));
    }
    if (q->n_context > 0)
        json_object_set_new(doc, "context", string_map(q->context, q->n_context));
    if (metadata) {
        const pz_item_metadata *m = v->item_metadata_view;
        json_t *cols = json_array();
        for (size_t i = 0; i < m->n_item_columns; i++)
            json_array_append_new(cols, json_string(m->item_columns[i]));
        json_t *mc = json_object();
        json_object_set_new(mc, "ITEMS", cols);
        json_object_set_new(doc, "metadataColumns", mc);
    }
    if (v->promotions_json != NULL && q->action != PZ_ACTION_RERANK_ITEMS)
        json_object_set_new(doc, "promotions", pz_remote_config_json(v->promotions_json));
    return doc;
}

static bool parse_answer(pz_remote_call *call, const pz_upstream_response *res, pz_error *err)
{
    return pz_remote_parse_items(res->body, res->body_len, call->what, PZ_REMOTE_PERSONALIZE.error_type, false,
                                 call->rec, err);
}

void pz_personalize_invoke(pz_remote_call *call)
{
    const pz_query *q = call->q;
    const pz_variation *v = call->variation;
    pz_arena *arena = call->arena;
    const char *problem = NULL;
    json_t *doc = pz_personalize_request(q, v, call->count, arena, &problem);
    if (doc == NULL) {
        pz_remote_fail(call, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, "ValidationError", "%s", problem);
        return;
    }
    pz_arn arn;
    const char *arn_region = pz_arn_parse(v->arn, &arn) == 0 ? arn.region : NULL;
    pz_aws_target t;
    pz_error err;
    if (pz_remote_aws_target(call->env, PZ_AWS_PERSONALIZE_RUNTIME, v->region, arn_region, v->endpoint_url, call->what,
                             PZ_REMOTE_PERSONALIZE.error_type, arena, &t, &err) != 0) {
        json_decref(doc);
        call->done(call, &err);
        return;
    }
    size_t len = 0;
    const char *body = pz_remote_dump(doc, arena, &len);
    const char *headers[1] = {"Content-Type: application/json"};
    pz_upstream_request req = {
        .method = "POST",
        .url = pz_arena_printf(arena, "%s%s", t.base_url,
                               q->action == PZ_ACTION_RERANK_ITEMS ? "/personalize-ranking" : "/recommendations"),
        .headers = headers,
        .n_headers = 1,
        .body = body,
        .body_len = len,
        .signing = &t.signing,
        .breaker_key = pz_arena_printf(arena, "personalize %s", v->arn),
        .deadline_ms = call->deadline_ms,
        .idempotent = true, /* reads */
    };
    pz_remote_send(call, &PZ_REMOTE_PERSONALIZE, &req, parse_answer);
}
