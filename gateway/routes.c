#include "gateway/routes.h"

#include <string.h>

#include "gateway/experiment_page.h"
#include "gateway/transcode.h"
#include "server/core/json_text.h"
#include "server/core/metrics.h"

/* The upstream REST API (spec §1.1), the A/B results (issue #14), the health probe and the API's
 * documentation, then the admin listener's routes: one row per route, so a new RPC or admin
 * endpoint is one more row. */
const pz_route pz_routes[] = {
    {.method = "GET",
     .path_template = "/recommend-items/{namespace}/{recommender}/{user_id}",
     .rpc = PZ_RPC_RECOMMEND_ITEMS,
     .cacheable = true},
    {.method = "GET",
     .path_template = "/related-items/{namespace}/{recommender}/{item_id}",
     .rpc = PZ_RPC_RELATED_ITEMS,
     .cacheable = true},
    {.method = "GET",
     .path_template = "/rerank-items/{namespace}/{recommender}/{user_id}/{item_ids}",
     .rpc = PZ_RPC_RERANK_ITEMS,
     .cacheable = true},
    {.method = "POST",
     .path_template = "/rerank-items/{namespace}/{recommender}/{user_id}",
     .rpc = PZ_RPC_RERANK_ITEMS,
     .body = PZ_ROUTE_BODY_FIELD,
     .body_field = "item_ids",
     .body_error_code = "InvalidRequestPayload"},
    {.method = "POST",
     .path_template = "/events/{namespace}",
     .rpc = PZ_RPC_PUT_EVENTS,
     .body = PZ_ROUTE_BODY_MESSAGE,
     .empty_success_body = true,
     .body_error_code = "ValidationError",
     .forwards_body = true},
    {.method = "GET",
     .path_template = "/experiments/{namespace}",
     .rpc = PZ_RPC_LIST_EXPERIMENTS,
     .html = pz_page_experiment_list},
    {.method = "GET",
     .path_template = "/experiments/{namespace}/{recommender}/{feature}",
     .rpc = PZ_RPC_GET_EXPERIMENT_RESULTS,
     .html = pz_page_experiment_results},
    {.method = "GET", .path_template = "/healthz", .local = PZ_LOCAL_HEALTH, .open = true},
    {.method = "GET", .path_template = "/openapi.json", .local = PZ_LOCAL_OPENAPI},
    {.method = "GET", .path_template = "/docs", .local = PZ_LOCAL_DOCS},
    {.method = "GET", .path_template = "/docs/{asset}", .local = PZ_LOCAL_DOCS_ASSET},
    {.method = "GET", .path_template = "/proto/personalization/v1/personalization.proto", .local = PZ_LOCAL_PROTO},
    /* The operators' API (proto/personalization/v1/admin.proto), on the admin listener only. */
    {.api = PZ_API_ADMIN, .method = "GET", .path_template = "/healthz", .local = PZ_LOCAL_HEALTH, .open = true},
    {.api = PZ_API_ADMIN,
     .method = "GET",
     .path_template = "/metrics",
     .local = PZ_LOCAL_METRICS,
     .content_type = PZ_METRICS_CONTENT_TYPE},
    {.api = PZ_API_ADMIN, .method = "GET", .path_template = "/admin/auth/stats", .local = PZ_LOCAL_AUTH_STATS},
    {.api = PZ_API_ADMIN, .method = "GET", .path_template = "/admin/builtin/stats", .local = PZ_LOCAL_BUILTIN_STATS},
    {.api = PZ_API_ADMIN, .method = "GET", .path_template = "/admin/config", .rpc = PZ_RPC_ADMIN_GET_CONFIG},
    {.api = PZ_API_ADMIN,
     .method = "POST",
     .path_template = "/admin/config",
     .rpc = PZ_RPC_ADMIN_APPLY_CONFIG,
     .body = PZ_ROUTE_BODY_RAW,
     .body_field = "document"},
    {.api = PZ_API_ADMIN,
     .method = "POST",
     .path_template = "/admin/config/validate",
     .rpc = PZ_RPC_ADMIN_VALIDATE_CONFIG,
     .body = PZ_ROUTE_BODY_RAW,
     .body_field = "document"},
    {.api = PZ_API_ADMIN,
     .method = "POST",
     .path_template = "/admin/config/rollback",
     .rpc = PZ_RPC_ADMIN_ROLLBACK_CONFIG,
     .body = PZ_ROUTE_BODY_MESSAGE,
     .body_error_code = "InvalidRequestPayload"},
    {.api = PZ_API_ADMIN,
     .method = "GET",
     .path_template = "/admin/config/history",
     .rpc = PZ_RPC_ADMIN_LIST_CONFIG_HISTORY},
    {.api = PZ_API_ADMIN,
     .method = "GET",
     .path_template = "/admin/config/history/{version}",
     .rpc = PZ_RPC_ADMIN_GET_CONFIG_RECORD},
    {.api = PZ_API_ADMIN,
     .method = "GET",
     .path_template = "/admin/catalog/{namespace}",
     .rpc = PZ_RPC_ADMIN_GET_CATALOG_STATUS},
    {.api = PZ_API_ADMIN,
     .method = "POST",
     .path_template = "/admin/catalog/{namespace}/items",
     .rpc = PZ_RPC_ADMIN_UPSERT_ITEMS,
     .body = PZ_ROUTE_BODY_RAW,
     .body_field = "items"},
    {.api = PZ_API_ADMIN,
     .method = "POST",
     .path_template = "/admin/catalog/{namespace}/delete",
     .rpc = PZ_RPC_ADMIN_DELETE_ITEMS,
     .body = PZ_ROUTE_BODY_MESSAGE,
     .body_error_code = "InvalidRequestPayload"},
    {.api = PZ_API_ADMIN, .method = "GET", .path_template = "/admin/events/stats", .rpc = PZ_RPC_ADMIN_GET_EVENT_STATS},
    {.api = PZ_API_ADMIN,
     .method = "GET",
     .path_template = "/admin/events/dead-letters",
     .rpc = PZ_RPC_ADMIN_LIST_DEAD_LETTERS},
    {.api = PZ_API_ADMIN,
     .method = "POST",
     .path_template = "/admin/events/replay",
     .rpc = PZ_RPC_ADMIN_REPLAY_DEAD_LETTERS,
     .body = PZ_ROUTE_BODY_MESSAGE,
     .body_error_code = "InvalidRequestPayload"},
    {.api = PZ_API_ADMIN, .method = "GET", .path_template = "/admin/cache/stats", .rpc = PZ_RPC_ADMIN_GET_CACHE_STATS},
    {.api = PZ_API_ADMIN,
     .method = "POST",
     .path_template = "/admin/cache/purge",
     .rpc = PZ_RPC_ADMIN_PURGE_CACHE,
     .body = PZ_ROUTE_BODY_MESSAGE,
     .body_error_code = "InvalidRequestPayload"},
};
const size_t pz_routes_count = sizeof pz_routes / sizeof pz_routes[0];

/* Matches path against one template. Returns 1 on a match (params filled), 0 on no match, -1 on
 * a bad escape in a segment that would otherwise match. */
static int match_template(const char *tmpl, const char *path, size_t path_len, pz_arena *arena, pz_route_params *params)
{
    size_t t = 0, p = 0, tlen = strlen(tmpl);
    params->n = 0;
    while (t < tlen && p <= path_len) {
        if (tmpl[t] != '/' || p >= path_len || path[p] != '/')
            return 0;
        t++;
        p++;
        size_t t_end = t;
        while (t_end < tlen && tmpl[t_end] != '/')
            t_end++;
        size_t p_end = p;
        while (p_end < path_len && path[p_end] != '/')
            p_end++;
        if (tmpl[t] == '{') {
            if (params->n >= PZ_ROUTE_MAX_PARAMS)
                return 0;
            char *value = pz_percent_decode(path + p, p_end - p, false, arena);
            if (value == NULL)
                return -1;
            params->names[params->n] = pz_arena_strndup(arena, tmpl + t + 1, t_end - t - 2);
            params->values[params->n] = value;
            params->n++;
        } else if (t_end - t != p_end - p || memcmp(tmpl + t, path + p, t_end - t) != 0) {
            return 0;
        }
        t = t_end;
        p = p_end;
    }
    return t == tlen && p == path_len ? 1 : 0;
}

pz_route_match_result pz_route_match(pz_api api, const char *method, size_t method_len, const char *path,
                                     size_t path_len, pz_arena *arena, const pz_route **route, pz_route_params *params,
                                     char *allow, size_t allow_len)
{
    bool path_matched = false, bad_encoding = false;
    size_t allow_used = 0;
    if (allow_len > 0)
        allow[0] = '\0';
    *route = NULL;
    for (size_t i = 0; i < pz_routes_count; i++) {
        const pz_route *r = &pz_routes[i];
        if (r->api != api)
            continue;
        pz_route_params tmp;
        int m = match_template(r->path_template, path, path_len, arena, &tmp);
        if (m < 0) {
            bad_encoding = true;
            continue;
        }
        if (m == 0)
            continue;
        size_t mlen = strlen(r->method);
        bool same_method = mlen == method_len && memcmp(r->method, method, mlen) == 0;
        if (r->local != PZ_LOCAL_NONE && !same_method)
            continue; /* see pz_route: other methods do not see local rows */
        path_matched = true;
        if (allow_used + mlen + 1 < allow_len && strstr(allow, r->method) == NULL) {
            if (allow_used > 0)
                allow[allow_used++] = ',';
            memcpy(allow + allow_used, r->method, mlen + 1);
            allow_used += mlen;
        }
        if (*route == NULL && same_method) {
            *route = r;
            *params = tmp;
        }
    }
    if (path_matched && allow_used + 8 < allow_len) {
        memcpy(allow + allow_used, ",OPTIONS", 9);
    }
    if (*route != NULL)
        return PZ_ROUTE_MATCHED;
    if (path_matched)
        return PZ_ROUTE_WRONG_METHOD;
    return bad_encoding ? PZ_ROUTE_BAD_ENCODING : PZ_ROUTE_NO_PATH;
}

static pz_status fail(pz_error *err, const char *code, const char *message)
{
    err->status = PZ_INVALID_ARGUMENT;
    err->type = "Validation";
    err->code = code;
    err->message = message;
    return PZ_INVALID_ARGUMENT;
}

/* Upstream codes for query parameters that hold JSON (spec §1.4). */
static const char *param_error_code(const char *name)
{
    if (strcmp(name, "context") == 0)
        return "InvalidContextParameter";
    if (strcmp(name, "filterValues") == 0 || strcmp(name, "filter_values") == 0)
        return "InvalidFilterParameter";
    return "ValidationError";
}

static bool is_path_param(const pz_route_params *params, const char *name)
{
    char json_name[64];
    for (size_t i = 0; i < params->n; i++) {
        pz_json_name(params->names[i], json_name, sizeof json_name);
        if (strcmp(params->names[i], name) == 0 || strcmp(json_name, name) == 0)
            return true;
    }
    return false;
}

pz_status pz_route_parse_query(const char *query, size_t query_len, pz_arena *arena, pz_route_query *out, pz_error *err)
{
    size_t max = query_len > 0 ? 1 : 0;
    for (size_t i = 0; i < query_len; i++)
        max += query[i] == '&';
    pz_header *pairs = pz_arena_calloc(arena, max ? max : 1, sizeof *pairs);
    size_t n = 0, i = 0;
    while (i < query_len) {
        size_t end = i;
        while (end < query_len && query[end] != '&')
            end++;
        size_t eq = i;
        while (eq < end && query[eq] != '=')
            eq++;
        if (end > i) {
            char *name = pz_percent_decode(query + i, eq - i, true, arena);
            char *value =
                eq < end ? pz_percent_decode(query + eq + 1, end - eq - 1, true, arena) : pz_arena_strdup(arena, "");
            if (name == NULL || value == NULL) {
                char *msg = pz_arena_printf(arena, "malformed percent-encoding in the query string near '%.*s'",
                                            (int)(end - i > 64 ? 64 : end - i), query + i);
                pz_utf8_scrub(msg); /* the quoted bytes are the client's (tests/fuzz/routes_fuzz.c) */
                return fail(err, "ValidationError", msg);
            }
            pairs[n++] = (pz_header){name, strlen(name), value, strlen(value)};
        }
        i = end + 1;
    }
    out->params = pairs;
    out->n = n;
    return PZ_OK;
}

/* Query parameters set fields of msg, except path parameters and `body_field` (NULL: none): a
 * field the body carries has the body as its only source (POST rerank's itemIds). */
static pz_status apply_query(ProtobufCMessage *msg, const pz_route_params *params, const char *body_field,
                             const pz_route_query *query, pz_arena *arena, pz_error *err)
{
    char body_json_name[64] = "";
    if (body_field != NULL)
        pz_json_name(body_field, body_json_name, sizeof body_json_name);
    for (size_t i = 0; i < query->n; i++) {
        const pz_header *p = &query->params[i];
        bool body_owned =
            body_field != NULL && (strcmp(p->name, body_field) == 0 || strcmp(p->name, body_json_name) == 0);
        if (is_path_param(params, p->name) || body_owned)
            continue;
        pz_transcode_error terr = {0};
        pz_status s = pz_message_set_field_from_text(msg, p->name, p->value, p->value_len, PZ_TEXT_PLAIN, arena, &terr);
        if (s == PZ_INVALID_ARGUMENT)
            return fail(err, param_error_code(p->name), terr.message);
        /* PZ_NOT_FOUND: a parameter the message does not name (cache busters, tracking tags, an http
         * variation's own): not the message's */
    }
    return PZ_OK;
}

static pz_status apply_path(ProtobufCMessage *msg, const pz_route_params *params, pz_arena *arena, pz_error *err)
{
    for (size_t i = 0; i < params->n; i++) {
        pz_transcode_error terr = {0};
        pz_status s = pz_message_set_field_from_text(msg, params->names[i], params->values[i],
                                                     strlen(params->values[i]), PZ_TEXT_SPLIT_COMMAS, arena, &terr);
        if (s != PZ_OK)
            return fail(err, "ValidationError",
                        terr.message ? terr.message
                                     : pz_arena_printf(arena, "route binds unknown field '%s'", params->names[i]));
    }
    return PZ_OK;
}

/* Sets the optional bytes field `name` of msg to a copy of body. False when msg has no such field. */
static bool set_bytes_field(ProtobufCMessage *msg, const char *name, const char *body, size_t len, pz_arena *arena)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);
    if (f == NULL || f->type != PROTOBUF_C_TYPE_BYTES || f->label != PROTOBUF_C_LABEL_OPTIONAL)
        return false;
    uint8_t *copy = pz_arena_alloc(arena, len ? len : 1);
    if (len > 0)
        memcpy(copy, body, len);
    *(ProtobufCBinaryData *)((char *)msg + f->offset) = (ProtobufCBinaryData){len, copy};
    *(protobuf_c_boolean *)((char *)msg + f->quantifier_offset) = 1;
    return true;
}

pz_status pz_route_build_request(const pz_route *route, const pz_route_params *params, const char *query,
                                 size_t query_len, const char *body, size_t body_len, pz_arena *arena,
                                 ProtobufCMessage **out, pz_error *err)
{
    pz_route_query q = {0}; /* a body that is the whole message takes no query parameters */
    pz_status s = route->body == PZ_ROUTE_BODY_MESSAGE ? PZ_OK : pz_route_parse_query(query, query_len, arena, &q, err);
    return s != PZ_OK ? s : pz_route_build_request_from(route, params, &q, body, body_len, arena, out, err);
}

pz_status pz_route_build_request_from(const pz_route *route, const pz_route_params *params, const pz_route_query *query,
                                      const char *body, size_t body_len, pz_arena *arena, ProtobufCMessage **out,
                                      pz_error *err)
{
    const ProtobufCMessageDescriptor *desc = pz_rpc_get(route->rpc)->request;
    ProtobufCMessage *msg = NULL;
    pz_transcode_error terr = {0};
    pz_status s = PZ_OK;
    switch (route->body) {
    case PZ_ROUTE_BODY_MESSAGE: s = pz_json_to_message(desc, body, body_len, arena, &msg, &terr); break;
    case PZ_ROUTE_BODY_FIELD:
        msg = pz_arena_new_message(arena, desc);
        s = pz_message_set_field_from_json(msg, route->body_field, body, body_len, arena, &terr);
        break;
    case PZ_ROUTE_BODY_RAW:
        msg = pz_arena_new_message(arena, desc);
        if (!set_bytes_field(msg, route->body_field, body, body_len, arena))
            pz_fatal("route %s %s binds its body to a field that is not an optional bytes field", route->method,
                     route->path_template);
        break;
    case PZ_ROUTE_BODY_NONE: msg = pz_arena_new_message(arena, desc); break;
    }
    if (s != PZ_OK)
        return fail(err, terr.is_syntax ? "InvalidJSONRequestPayload" : route->body_error_code, terr.message);
    if (route->body != PZ_ROUTE_BODY_MESSAGE) { /* POST rerank keeps its query parameters (spec §2.5) */
        s = apply_query(msg, params, route->body == PZ_ROUTE_BODY_FIELD ? route->body_field : NULL, query, arena, err);
        if (s != PZ_OK)
            return s;
    }
    s = apply_path(msg, params, arena, err);
    if (s != PZ_OK)
        return s;
    *out = msg;
    return PZ_OK;
}

pz_status pz_route_build_path_only(const pz_route *route, const pz_route_params *params, pz_arena *arena,
                                   ProtobufCMessage **out, pz_error *err)
{
    ProtobufCMessage *msg = pz_arena_new_message(arena, pz_rpc_get(route->rpc)->request);
    pz_status s = apply_path(msg, params, arena, err);
    if (s == PZ_OK)
        *out = msg;
    return s;
}

int pz_route_error_json(const pz_error *err, pz_buf *out)
{
    int rc = pz_buf_append_str(out, "{\"type\":");
    rc |= pz_json_write_string(out, err->type ? err->type : "Unhandled", strlen(err->type ? err->type : "Unhandled"));
    rc |= pz_buf_append_str(out, ",\"code\":");
    rc |= pz_json_write_string(out, err->code ? err->code : "InternalError",
                               strlen(err->code ? err->code : "InternalError"));
    rc |= pz_buf_append_str(out, ",\"message\":");
    const char *m = err->message ? err->message : "";
    rc |= pz_json_write_string(out, m, strlen(m));
    rc |= pz_buf_append_char(out, '}');
    return rc != 0 ? -1 : 0;
}
