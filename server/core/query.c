#include "server/core/query.h"

#include <string.h>

#include "personalization/v1/personalization.pb-c.h"

/* The fields every inference request has, under the same names in the three messages. */
#define READ_COMMON_FIELDS(q, m)                                                                                       \
    do {                                                                                                               \
        (q)->namespace_ = (m)->namespace_;                                                                             \
        (q)->recommender_key = (m)->recommender;                                                                       \
        (q)->user_id = (m)->user_id;                                                                                   \
        (q)->filter = (m)->filter;                                                                                     \
        (q)->filter_values = (pz_string_entry **)(m)->filter_values;                                                   \
        (q)->n_filter_values = (m)->n_filter_values;                                                                   \
        (q)->context = (pz_string_entry **)(m)->context;                                                               \
        (q)->n_context = (m)->n_context;                                                                               \
        (q)->decorate_items = (m)->decorate_items;                                                                     \
        (q)->synthetic_user = (m)->synthetic_user;                                                                     \
        (q)->feature = (m)->feature;                                                                                   \
        (q)->explain = (m)->has_explain && (m)->explain;                                                               \
    } while (0)

/* Optional strings the client sends empty are absent, as upstream treats them (a client that
 * always sends the key, `?userId=` included, must not get a 400). */
static const char *absent_if_empty(const char *s)
{
    return s != NULL && s[0] == '\0' ? NULL : s;
}

void pz_query_read(pz_query *q, pz_rpc rpc, const ProtobufCMessage *msg)
{
    *q = (pz_query){.rpc = rpc};
    switch (rpc) {
    case PZ_RPC_RECOMMEND_ITEMS: {
        const Personalization__V1__RecommendItemsRequest *m = (const void *)msg;
        q->action = PZ_ACTION_RECOMMEND_ITEMS;
        READ_COMMON_FIELDS(q, m);
        q->num_results = m->num_results;
        break;
    }
    case PZ_RPC_RELATED_ITEMS: {
        const Personalization__V1__RelatedItemsRequest *m = (const void *)msg;
        q->action = PZ_ACTION_RELATED_ITEMS;
        READ_COMMON_FIELDS(q, m);
        q->item_id = m->item_id;
        q->num_results = m->num_results;
        break;
    }
    case PZ_RPC_RERANK_ITEMS: {
        const Personalization__V1__RerankItemsRequest *m = (const void *)msg;
        q->action = PZ_ACTION_RERANK_ITEMS;
        READ_COMMON_FIELDS(q, m);
        q->item_ids = m->item_ids;
        q->n_item_ids = m->n_item_ids;
        q->num_results = (int)m->n_item_ids;
        break;
    }
    default: break;
    }
    q->filter = absent_if_empty(q->filter);
    q->feature = absent_if_empty(q->feature);
    if (q->action == PZ_ACTION_RELATED_ITEMS) /* required elsewhere: an empty one stays a 400 */
        q->user_id = absent_if_empty(q->user_id);
    /* Upstream clamps numResults to Personalize's maximum rather than refuse it. */
    if (q->action != PZ_ACTION_RERANK_ITEMS && q->num_results > PZ_MAX_NUM_RESULTS)
        q->num_results = PZ_MAX_NUM_RESULTS;
}

#define INVALID(arena, err, ...)                                                                                       \
    pz_error_setf(err, arena, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, "ValidationError", __VA_ARGS__)

static pz_status check_id(const char *value, const char *field, bool required, pz_arena *arena, pz_error *err)
{
    if (value == NULL || value[0] == '\0') {
        if (!required && value == NULL)
            return PZ_OK;
        return INVALID(arena, err, "%s is required", field);
    }
    if (strlen(value) > PZ_MAX_ID_LEN)
        return INVALID(arena, err, "%s must be at most %d characters", field, PZ_MAX_ID_LEN);
    return PZ_OK;
}

static pz_status check_map(pz_string_entry **entries, size_t n, const char *field, size_t max_key, const char *code,
                           pz_arena *arena, pz_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const char *k = entries[i]->key ? entries[i]->key : "";
        const char *v = entries[i]->value ? entries[i]->value : "";
        if (k[0] == '\0' || strlen(k) > max_key)
            return pz_error_setf(err, arena, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, code,
                                 "%s keys must be 1 to %zu characters", field, max_key);
        if (strlen(v) > PZ_MAX_MAP_VALUE_LEN)
            return pz_error_setf(err, arena, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, code,
                                 "%s value for '%s' must be at most %d characters", field, k, PZ_MAX_MAP_VALUE_LEN);
    }
    return PZ_OK;
}

/* The ids each action requires (or allows). */
static pz_status check_subject(const pz_query *q, pz_arena *arena, pz_error *err)
{
    switch (q->action) {
    case PZ_ACTION_RECOMMEND_ITEMS: return check_id(q->user_id, "userId", true, arena, err);
    case PZ_ACTION_RELATED_ITEMS: {
        pz_status s = check_id(q->item_id, "itemId", true, arena, err);
        return s != PZ_OK ? s : check_id(q->user_id, "userId", false, arena, err);
    }
    case PZ_ACTION_RERANK_ITEMS: {
        pz_status s = check_id(q->user_id, "userId", true, arena, err);
        if (s != PZ_OK)
            return s;
        if (q->n_item_ids == 0 || q->n_item_ids > PZ_MAX_RERANK_ITEMS)
            return INVALID(arena, err, "itemIds must hold 1 to %d item ids (got %zu)", PZ_MAX_RERANK_ITEMS,
                           q->n_item_ids);
        for (size_t i = 0; i < q->n_item_ids; i++) {
            /* An empty id (",," in the path, [""] in the body) names no item: refused like an absent one. */
            if (q->item_ids[i] == NULL || q->item_ids[i][0] == '\0' || strlen(q->item_ids[i]) > PZ_MAX_ID_LEN)
                return INVALID(arena, err, "itemIds[%zu] must be 1 to %d characters", i, PZ_MAX_ID_LEN);
        }
        return PZ_OK;
    }
    default: return PZ_OK;
    }
}

pz_status pz_query_validate(const pz_query *q, pz_arena *arena, pz_error *err)
{
    pz_status s;
    if ((s = check_id(q->namespace_, "namespace", true, arena, err)) != PZ_OK ||
        (s = check_id(q->recommender_key, "recommender", true, arena, err)) != PZ_OK ||
        (s = check_subject(q, arena, err)) != PZ_OK)
        return s;
    if (q->action != PZ_ACTION_RERANK_ITEMS && q->num_results < 0)
        return INVALID(arena, err, "numResults must be between 0 and %d (got %d)", PZ_MAX_NUM_RESULTS, q->num_results);
    if ((s = check_map(q->filter_values, q->n_filter_values, "filterValues", PZ_MAX_FILTER_VALUE_KEY_LEN,
                       "InvalidFilterParameter", arena, err)) != PZ_OK)
        return s;
    return check_map(q->context, q->n_context, "context", PZ_MAX_CONTEXT_KEY_LEN, "InvalidContextParameter", arena,
                     err);
}

const pz_filter *pz_query_configured_filter(const pz_query *q, const pz_variation *v)
{
    if (q->filter != NULL && q->filter[0] != '\0')
        return NULL;
    const pz_filters *f = v->filters_view;
    for (size_t i = 0; f != NULL && i < f->n; i++) {
        if (!f->items[i].user_required || q->user_id != NULL)
            return &f->items[i];
    }
    return NULL;
}

pz_status pz_query_resolve(pz_query *q, const pz_config *cfg, pz_arena *arena, pz_error *err)
{
    q->ns = pz_config_namespace(cfg, q->namespace_);
    q->recommender = q->ns != NULL ? pz_config_recommender(q->ns, q->action, q->recommender_key) : NULL;
    if (q->recommender != NULL)
        return PZ_OK;
    if (q->ns == NULL)
        return pz_error_setf(err, arena, PZ_NOT_FOUND, PZ_ERRTYPE_CONFIGURATION, "RecommenderNotConfigured",
                             "namespace '%s' is not configured", q->namespace_);
    return pz_error_setf(err, arena, PZ_NOT_FOUND, PZ_ERRTYPE_CONFIGURATION, "RecommenderNotConfigured",
                         "recommender '%s' is not configured under %s in namespace '%s'", q->recommender_key,
                         pz_action_name(q->action), q->namespace_);
}
