/* Variation type http (spec §3.4.4, §14 #21 fixed): GET of the variation's URL template with
 * every placeholder filled from the request (a name the server does not define: from the query
 * parameter of that name, as upstream) and URL-encoded (server/core/url_template.h), with
 * Accept: application/json. The answer must have the Personalize shape: {"itemList": [...]} or
 * {"personalizedRanking": [...]}, items {"itemId", "score"?, "promotionName"?, "reason"?,
 * "metadata"?}, and optionally "recommendationId". Retried like any idempotent GET. */
#include <stdio.h>
#include <string.h>

#include "server/core/url_template.h"
#include "server/recommenders/http.h"
#include "server/recommenders/remote.h"

typedef struct values {
    const pz_query *q;
    int count;
    pz_arena *arena;
} values;

static const char *map_json(pz_string_entry **entries, size_t n, pz_arena *arena)
{
    if (n == 0)
        return NULL;
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, entries[i]->key, json_string(entries[i]->value ? entries[i]->value : ""));
    size_t len;
    return pz_remote_dump(o, arena, &len);
}

static const char *lookup(void *ctx, const char *name)
{
    values *v = ctx;
    const pz_query *q = v->q;
    if (strcmp(name, "namespace") == 0)
        return q->namespace_;
    if (strcmp(name, "recommender") == 0)
        return q->recommender_key;
    if (strcmp(name, "user_id") == 0 || strcmp(name, "userId") == 0)
        return q->user_id;
    if (strcmp(name, "item_id") == 0 || strcmp(name, "itemId") == 0)
        return q->item_id;
    if (strcmp(name, "numResults") == 0)
        return pz_arena_printf(v->arena, "%d", v->count);
    if (strcmp(name, "filter") == 0)
        return q->filter;
    if (strcmp(name, "feature") == 0)
        return q->feature;
    if (strcmp(name, "decorateItems") == 0)
        return q->decorate_items ? "1" : "0";
    if (strcmp(name, "syntheticUser") == 0)
        return q->synthetic_user ? "1" : "0";
    if (strcmp(name, "filterValues") == 0)
        return map_json(q->filter_values, q->n_filter_values, v->arena);
    if (strcmp(name, "context") == 0)
        return map_json(q->context, q->n_context, v->arena);
    if (!pz_url_template_builtin(name, strlen(name))) { /* upstream's: the query parameter */
        const pz_header *p = pz_query_param_find(q->query_params, q->n_query_params, name);
        return p != NULL ? pz_arena_strndup(v->arena, p->value, p->value_len) : NULL;
    }
    if (strcmp(name, "itemIds") == 0) {
        size_t len = 0;
        for (size_t i = 0; i < q->n_item_ids; i++)
            len += strlen(q->item_ids[i]) + 1;
        char *joined = pz_arena_alloc(v->arena, len + 1), *p = joined;
        for (size_t i = 0; i < q->n_item_ids; i++)
            p += sprintf(p, "%s%s", i ? "," : "", q->item_ids[i]);
        *p = '\0';
        return joined;
    }
    return NULL;
}

int pz_http_build_url(const pz_query *q, const pz_variation *v, int count, pz_arena *arena, const char **url)
{
    values vals = {q, count, arena};
    pz_buf out;
    pz_buf_init(&out, PZ_HTTP_MAX_URL_BYTES);
    int rc = pz_url_template_expand(v->url, lookup, &vals, &out);
    if (rc == 0)
        *url = pz_arena_strndup(arena, out.data, out.len);
    pz_buf_free(&out);
    return rc;
}

static bool parse_answer(pz_remote_call *call, const pz_upstream_response *res, pz_error *err)
{
    return pz_remote_parse_items(res->body, res->body_len, call->what, PZ_REMOTE_HTTP.error_type, true, call->rec, err);
}

void pz_http_invoke(pz_remote_call *call)
{
    pz_arena *arena = call->arena;
    const char *url = NULL;
    if (pz_http_build_url(call->q, call->variation, call->count, arena, &url) != 0) {
        pz_remote_fail(call, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, "ValidationError",
                       "%s: the request's values make its URL longer than %d bytes", call->what, PZ_HTTP_MAX_URL_BYTES);
        return;
    }
    const char *headers[1] = {"Accept: application/json"};
    pz_upstream_request req = {
        .method = "GET",
        .url = url,
        .headers = headers,
        .n_headers = 1,
        .deadline_ms = call->deadline_ms,
        .idempotent = true,
    };
    pz_remote_send(call, &PZ_REMOTE_HTTP, &req, parse_answer);
}
