/* The recommender's responsePostProcessor (spec §3.6): a Lambda function that receives the
 * response and returns the one to send. Payload: version "1.0", action, recommender {path,
 * config}, variation, response (itemList, or personalizedRanking for rerank, with
 * recommendationId), and userId (recommend, rerank) or itemId (related). The function's answer is
 * validated like any recommender's (Personalize shape) and replaces the items; the pipeline then
 * truncates to numResults. It is part of the recommender stage: it runs after the variation (and
 * any fallback) answered, before the sequencer's decoration stage, so it sees undecorated items
 * (upstream decorates first; see the README's differences from upstream). */
#include "server/recommenders/postprocess.h"

#include "server/recommenders/lambda.h"

json_t *pz_postprocess_payload(const pz_recommend_call *rec, const pz_variation *v)
{
    const pz_query *q = rec->query;
    json_t *doc = pz_remote_payload_base(q, v);
    json_object_set_new(doc, "response", pz_remote_items_to_json(rec));
    if (q->action == PZ_ACTION_RELATED_ITEMS)
        json_object_set_new(doc, "itemId", json_string(q->item_id));
    else
        json_object_set_new(doc, "userId", json_string(q->user_id));
    return doc;
}

static bool parse_answer(pz_remote_call *call, const pz_upstream_response *res, pz_error *err)
{
    return pz_remote_parse_items(res->body, res->body_len, call->what, PZ_REMOTE_LAMBDA.error_type, true, call->rec,
                                 err);
}

void pz_postprocess_invoke(pz_remote_call *call, const pz_post_processor *pp)
{
    pz_lambda_call(call, pp->arn, NULL, NULL, pz_postprocess_payload(call->rec, call->variation), parse_answer);
}

int pz_postprocess_count(const pz_post_processor *pp, int num_results)
{
    if (pp == NULL || pp->look_ahead_multiplier < 1)
        return num_results;
    double want = (double)num_results * pp->look_ahead_multiplier;
    if (pp->look_ahead_maximum_value >= 1 && want > pp->look_ahead_maximum_value)
        want = pp->look_ahead_maximum_value;
    if (want > PZ_MAX_NUM_RESULTS) /* also keeps the conversion below in range (multiplier 1e308) */
        want = PZ_MAX_NUM_RESULTS;
    int count = (int)(want + 0.5);
    if (count < num_results)
        count = num_results;
    return count > PZ_MAX_NUM_RESULTS ? PZ_MAX_NUM_RESULTS : count;
}
