/* JSON shapes of the remote recommenders: Personalize-shaped responses (validated before use,
 * OWASP API10), the Lambda/SageMaker payload (spec §3.4.2) and items written back as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/upstream/json_read.h"
#include "server/recommenders/remote.h"
#include "server/recommenders/struct_json.h"

/* Reasons Personalize gives per item are few and short; more is not a Personalize shape. */
#define MAX_REASONS 32

/* The keys of an item and of a response that the response messages name: everything else a
 * Lambda, SageMaker or http recommender returns is kept as custom fields. matchedExperiment is
 * the server's to set (experiments), so a recommender's own is not passed on. */
static const char *const ITEM_KEYS[] = {"itemId", "score", "promotionName", "reason", "metadata"};
static const char *const RESPONSE_KEYS[] = {"itemList", "personalizedRanking", "recommendationId", "matchedExperiment"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool invalid(pz_error *err, const char *what, const char *type, pz_arena *arena, const char *detail)
{
    *err = (pz_error){PZ_UPSTREAM_FAILED, type, "InvalidUpstreamResponse",
                      pz_arena_printf(arena, "%s returned an invalid response: %s", what, detail)};
    return false;
}

/* A string the server can pass on as C text: JSON allows \u0000 inside a string, which would cut an
 * id or a reason short (and an empty id is refused everywhere else). */
static bool is_text(const pz_jvalue *v)
{
    return v->type == PZ_JSTRING && strlen(v->str) == v->len;
}

static bool read_item(const pz_jvalue *e, const char *list_name, size_t i, bool keep_custom, pz_arena *arena,
                      pz_scored_item *item, pz_item_extra *extra, bool *has_extra, char *why, size_t why_len)
{
    if (e->type != PZ_JOBJECT) {
        snprintf(why, why_len, "%s[%zu] is not an object", list_name, i);
        return false;
    }
    const pz_jvalue *id = pz_jvalue_get(e, "itemId");
    if (id == NULL || !is_text(id) || id->len == 0 || id->len > PZ_MAX_ID_LEN) {
        snprintf(why, why_len, "%s[%zu].itemId must be a string of 1 to %d characters without NUL", list_name, i,
                 PZ_MAX_ID_LEN);
        return false;
    }
    item->item_id = id->str;
    const pz_jvalue *score = pz_jvalue_get(e, "score");
    if (score != NULL && score->type != PZ_JNULL) {
        if (score->type != PZ_JNUMBER) {
            snprintf(why, why_len, "%s[%zu].score must be a number", list_name, i);
            return false;
        }
        item->has_score = true;
        item->score = score->number;
    }
    const pz_jvalue *promo = pz_jvalue_get(e, "promotionName");
    if (promo != NULL && promo->type != PZ_JNULL) {
        if (!is_text(promo)) {
            snprintf(why, why_len, "%s[%zu].promotionName must be a string without NUL", list_name, i);
            return false;
        }
        extra->promotion_name = promo->str;
        *has_extra = true;
    }
    const pz_jvalue *reason = pz_jvalue_get(e, "reason");
    if (reason != NULL && reason->type != PZ_JNULL) {
        if (reason->type != PZ_JARRAY || reason->len > MAX_REASONS) {
            snprintf(why, why_len, "%s[%zu].reason must be an array of at most %d strings", list_name, i, MAX_REASONS);
            return false;
        }
        extra->reason = pz_arena_calloc(arena, reason->len ? reason->len : 1, sizeof *extra->reason);
        for (const pz_jvalue *r = reason->first; r != NULL; r = r->next) {
            if (!is_text(r)) {
                snprintf(why, why_len, "%s[%zu].reason[%zu] must be a string without NUL", list_name, i,
                         extra->n_reason);
                return false;
            }
            extra->reason[extra->n_reason++] = (char *)r->str;
        }
        *has_extra = true;
    }
    const pz_jvalue *meta = pz_jvalue_get(e, "metadata");
    if (meta != NULL && meta->type != PZ_JNULL) {
        extra->metadata = pz_struct_from_jvalue(meta, arena);
        if (extra->metadata == NULL) {
            snprintf(why, why_len, "%s[%zu].metadata must be an object nested at most %d levels", list_name, i,
                     PZ_STRUCT_JSON_MAX_DEPTH);
            return false;
        }
        *has_extra = true;
    }
    if (keep_custom) {
        if (pz_struct_from_other_members(e, ITEM_KEYS, COUNT(ITEM_KEYS), PZ_REMOTE_MAX_CUSTOM_FIELDS, arena,
                                         &extra->custom_fields) != 0) {
            snprintf(why, why_len, "%s[%zu] has more than %d other fields or nests them deeper than %d levels",
                     list_name, i, PZ_REMOTE_MAX_CUSTOM_FIELDS, PZ_STRUCT_JSON_MAX_DEPTH);
            return false;
        }
        *has_extra = *has_extra || extra->custom_fields != NULL;
    }
    return true;
}

static bool parse_items_value(const pz_jvalue *root, const char *what, const char *error_type, bool keep_custom,
                              pz_recommend_call *rec, pz_error *err)
{
    pz_arena *arena = rec->arena;
    if (root->type != PZ_JOBJECT)
        return invalid(err, what, error_type, arena, "expected a JSON object");
    const char *list_name = "itemList";
    const pz_jvalue *list = pz_jvalue_get(root, list_name);
    if (list == NULL) {
        list_name = "personalizedRanking";
        list = pz_jvalue_get(root, list_name);
    }
    if (list == NULL)
        return invalid(err, what, error_type, arena, "it has neither itemList nor personalizedRanking");
    if (list->type != PZ_JARRAY)
        return invalid(err, what, error_type, arena, pz_arena_printf(arena, "%s is not an array", list_name));
    size_t n = list->len;
    if (n > PZ_MAX_NUM_RESULTS)
        return invalid(
            err, what, error_type, arena,
            pz_arena_printf(arena, "%s holds %zu items; at most %d are accepted", list_name, n, PZ_MAX_NUM_RESULTS));
    const pz_jvalue *rid = pz_jvalue_get(root, "recommendationId");
    if (rid != NULL && rid->type != PZ_JNULL && (!is_text(rid) || rid->len > PZ_MAX_ID_LEN))
        return invalid(err, what, error_type, arena,
                       pz_arena_printf(arena, "recommendationId must be a string of at most %d characters without NUL",
                                       PZ_MAX_ID_LEN));
    pz_scored_item *items = pz_arena_calloc(arena, n ? n : 1, sizeof *items);
    pz_item_extra *extras = pz_arena_calloc(arena, n ? n : 1, sizeof *extras);
    bool has_extra = false;
    char why[200];
    size_t i = 0;
    for (const pz_jvalue *e = list->first; e != NULL; e = e->next, i++) {
        if (!read_item(e, list_name, i, keep_custom, arena, &items[i], &extras[i], &has_extra, why, sizeof why))
            return invalid(err, what, error_type, arena, why);
    }
    Google__Protobuf__Struct *custom = NULL;
    if (keep_custom && pz_struct_from_other_members(root, RESPONSE_KEYS, COUNT(RESPONSE_KEYS),
                                                    PZ_REMOTE_MAX_CUSTOM_FIELDS, arena, &custom) != 0)
        return invalid(err, what, error_type, arena,
                       pz_arena_printf(arena, "it has more than %d other fields or nests them deeper than %d levels",
                                       PZ_REMOTE_MAX_CUSTOM_FIELDS, PZ_STRUCT_JSON_MAX_DEPTH));
    rec->items = items;
    rec->n_items = n;
    rec->extras = has_extra ? extras : NULL;
    rec->custom_fields = custom; /* an answer replaces the previous one's (post-processor) */
    if (rid != NULL && rid->type == PZ_JSTRING && rid->len > 0)
        rec->recommendation_id = rid->str;
    return true;
}

bool pz_remote_parse_items(const char *body, size_t len, const char *what, const char *error_type, bool keep_custom,
                           pz_recommend_call *rec, pz_error *err)
{
    char why[160];
    /* the list, an item, then its metadata nested up to PZ_STRUCT_JSON_MAX_DEPTH levels */
    const pz_jvalue *root = pz_json_read(body, len, PZ_STRUCT_JSON_MAX_DEPTH + 3, rec->arena, why, sizeof why);
    if (root == NULL)
        return invalid(err, what, error_type, rec->arena, pz_arena_printf(rec->arena, "not JSON (%s)", why));
    return parse_items_value(root, what, error_type, keep_custom, rec, err);
}

json_t *pz_remote_items_to_json(const pz_recommend_call *rec)
{
    json_t *list = json_array();
    for (size_t i = 0; i < rec->n_items; i++) {
        json_t *it = json_object();
        json_object_set_new(it, "itemId", json_string(rec->items[i].item_id));
        if (rec->items[i].has_score)
            json_object_set_new(it, "score", json_real(rec->items[i].score));
        const pz_item_extra *x = rec->extras != NULL ? &rec->extras[i] : NULL;
        if (x != NULL && x->promotion_name != NULL)
            json_object_set_new(it, "promotionName", json_string(x->promotion_name));
        if (x != NULL && x->reason != NULL) {
            json_t *r = json_array();
            for (size_t k = 0; k < x->n_reason; k++)
                json_array_append_new(r, json_string(x->reason[k]));
            json_object_set_new(it, "reason", r);
        }
        if (x != NULL && x->metadata != NULL)
            json_object_set_new(it, "metadata", pz_struct_to_json(x->metadata));
        if (x != NULL && x->custom_fields != NULL)
            json_object_update_missing_new(it, pz_struct_to_json(x->custom_fields));
        json_array_append_new(list, it);
    }
    json_t *doc = json_object();
    json_object_set_new(doc, rec->query->action == PZ_ACTION_RERANK_ITEMS ? "personalizedRanking" : "itemList", list);
    if (rec->recommendation_id != NULL)
        json_object_set_new(doc, "recommendationId", json_string(rec->recommendation_id));
    if (rec->custom_fields != NULL)
        json_object_update_missing_new(doc, pz_struct_to_json(rec->custom_fields));
    return doc;
}

static bool utf8_ok(const char *s)
{
    return s == NULL || pz_utf8_valid(s, strlen(s));
}

static bool map_utf8_ok(pz_string_entry **entries, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!utf8_ok(entries[i]->key) || !utf8_ok(entries[i]->value))
            return false;
    return true;
}

const char *pz_remote_invalid_utf8(const pz_query *q)
{
    if (!utf8_ok(q->user_id))
        return "userId";
    if (!utf8_ok(q->item_id))
        return "itemId";
    for (size_t i = 0; i < q->n_item_ids; i++)
        if (!utf8_ok(q->item_ids[i]))
            return "itemIds";
    if (!utf8_ok(q->filter))
        return "filter";
    if (!utf8_ok(q->feature))
        return "feature";
    if (!map_utf8_ok(q->filter_values, q->n_filter_values))
        return "filterValues";
    if (!map_utf8_ok(q->context, q->n_context))
        return "context";
    return NULL;
}

json_t *pz_remote_config_json(const char *text)
{
    json_t *v = text != NULL ? json_loads(text, 0, NULL) : NULL;
    return v != NULL ? v : json_null();
}

static json_t *string_map(pz_string_entry **entries, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, entries[i]->key ? entries[i]->key : "",
                            json_string(entries[i]->value ? entries[i]->value : ""));
    return o;
}

json_t *pz_remote_payload_base(const pz_query *q, const pz_variation *v)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "version", json_string("1.0"));
    json_object_set_new(doc, "action", json_string(pz_action_name(q->action)));
    json_t *rec = json_object();
    json_object_set_new(rec, "path", json_string(q->recommender_key));
    json_object_set_new(rec, "config", pz_remote_config_json(q->recommender->json));
    json_object_set_new(doc, "recommender", rec);
    json_object_set_new(doc, "variation", pz_remote_config_json(v->json));
    return doc;
}

json_t *pz_remote_payload(const pz_query *q, const pz_variation *v, int count)
{
    json_t *doc = pz_remote_payload_base(q, v);
    switch (q->action) {
    case PZ_ACTION_RECOMMEND_ITEMS:
        json_object_set_new(doc, "userId", json_string(q->user_id));
        json_object_set_new(doc, "numResults", json_integer(count));
        break;
    case PZ_ACTION_RELATED_ITEMS:
        json_object_set_new(doc, "itemId", json_string(q->item_id));
        json_object_set_new(doc, "userId", json_string(q->user_id != NULL ? q->user_id : ""));
        json_object_set_new(doc, "numResults", json_integer(count));
        break;
    case PZ_ACTION_RERANK_ITEMS: {
        json_object_set_new(doc, "userId", json_string(q->user_id));
        json_t *ids = json_array();
        for (size_t i = 0; i < q->n_item_ids; i++)
            json_array_append_new(ids, json_string(q->item_ids[i]));
        json_object_set_new(doc, "itemList", ids);
        break;
    }
    default: break;
    }
    if (q->n_context > 0)
        json_object_set_new(doc, "context", string_map(q->context, q->n_context));
    return doc;
}

const char *pz_remote_dump(json_t *doc, pz_arena *arena, size_t *len)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)
        pz_fatal("out of memory serializing a JSON request");
    *len = strlen(text);
    const char *owned = pz_arena_strndup(arena, text, *len);
    free(text);
    return owned;
}
