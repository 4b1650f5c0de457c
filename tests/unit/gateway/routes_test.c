/* Tests for gateway/routes.c: the route table, path matching with percent-decoding, and the
 * translation of path + query + body into request messages with upstream error codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/routes.h"
#include "personalization/v1/admin.pb-c.h"
#include "server/core/json_text.h"
#include "personalization/v1/personalization.pb-c.h"

typedef struct built {
    pz_arena arena;
    const pz_route *route;
    pz_route_params params;
    char allow[64];
    pz_route_match_result match;
    ProtobufCMessage *msg;
    pz_error err;
    pz_status status;
} built;

/* Matches "METHOD /path?query" on a listener of `api` and builds the message with the given body. */
static void build_on(built *b, pz_api api, const char *method, const char *target, const char *body)
{
    pz_arena_init(&b->arena);
    const char *q = strchr(target, '?');
    size_t path_len = q ? (size_t)(q - target) : strlen(target);
    b->match = pz_route_match(api, method, strlen(method), target, path_len, &b->arena, &b->route, &b->params, b->allow,
                              sizeof b->allow);
    b->msg = NULL;
    b->status = PZ_NOT_FOUND;
    if (b->match == PZ_ROUTE_MATCHED)
        b->status = pz_route_build_request(b->route, &b->params, q ? q + 1 : "", q ? strlen(q + 1) : 0, body,
                                           body ? strlen(body) : 0, &b->arena, &b->msg, &b->err);
}

static void build(built *b, const char *method, const char *target, const char *body)
{
    build_on(b, PZ_API_PUBLIC, method, target, body);
}

static void test_recommend_route_with_query(void **state)
{
    (void)state;
    built b;
    build(&b, "GET",
          "/recommend-items/demo/for-you/user%201?numResults=7&decorateItems=No&syntheticUser=TRUE"
          "&context=%7B%22DEVICE%22%3A%22Phone%22%7D&feature=f1&unknown=1&userId=ignored",
          NULL);
    assert_int_equal(b.match, PZ_ROUTE_MATCHED);
    assert_int_equal(b.status, PZ_OK);
    assert_int_equal(b.route->rpc, PZ_RPC_RECOMMEND_ITEMS);
    assert_true(b.route->cacheable);
    Personalization__V1__RecommendItemsRequest *m = (Personalization__V1__RecommendItemsRequest *)b.msg;
    assert_string_equal(m->namespace_, "demo");
    assert_string_equal(m->recommender, "for-you");
    assert_string_equal(m->user_id, "user 1"); /* path segments are percent-decoded; the path wins over ?userId */
    assert_int_equal(m->num_results, 7);
    assert_false(m->decorate_items);
    assert_true(m->synthetic_user);
    assert_int_equal(m->n_context, 1);
    assert_string_equal(m->context[0]->key, "DEVICE");
    assert_string_equal(m->context[0]->value, "Phone");
    assert_string_equal(m->feature, "f1");
    pz_arena_destroy(&b.arena);
}

static void test_defaults_when_no_query(void **state)
{
    (void)state;
    built b;
    build(&b, "GET", "/related-items/demo/similar/sku-1", NULL);
    assert_int_equal(b.status, PZ_OK);
    Personalization__V1__RelatedItemsRequest *m = (Personalization__V1__RelatedItemsRequest *)b.msg;
    assert_string_equal(m->item_id, "sku-1");
    assert_null(m->user_id);
    assert_int_equal(m->num_results, 25);
    assert_true(m->decorate_items);
    pz_arena_destroy(&b.arena);
    build(&b, "GET", "/related-items/demo/similar/sku-1?userId=u%2B1+x", NULL);
    assert_string_equal(((Personalization__V1__RelatedItemsRequest *)b.msg)->user_id, "u+1 x");
    pz_arena_destroy(&b.arena);
}

static void test_rerank_get_splits_commas(void **state)
{
    (void)state;
    built b;
    build(&b, "GET", "/rerank-items/demo/ranking/u1/a,b,,c%2Cd", NULL);
    assert_int_equal(b.status, PZ_OK);
    Personalization__V1__RerankItemsRequest *m = (Personalization__V1__RerankItemsRequest *)b.msg;
    /* split happens after decoding: an encoded comma also separates (upstream splits the decoded value) */
    assert_int_equal(m->n_item_ids, 5);
    assert_string_equal(m->item_ids[0], "a");
    assert_string_equal(m->item_ids[2], "");
    assert_string_equal(m->item_ids[4], "d");
    pz_arena_destroy(&b.arena);
}

static void test_rerank_post_body(void **state)
{
    (void)state;
    built b;
    build(&b, "POST", "/rerank-items/demo/ranking/u1?filter=f&decorateItems=0", "[\"x,1\",\"y\"]");
    assert_int_equal(b.status, PZ_OK);
    assert_false(b.route->cacheable);
    Personalization__V1__RerankItemsRequest *m = (Personalization__V1__RerankItemsRequest *)b.msg;
    assert_int_equal(m->n_item_ids, 2);
    assert_string_equal(m->item_ids[0], "x,1"); /* ids with commas need POST */
    assert_string_equal(m->filter, "f");        /* query parameters still apply (spec §2.5) */
    assert_false(m->decorate_items);
    pz_arena_destroy(&b.arena);

    /* Issue 19: the body is the only source of ids: ?itemIds= (either spelling) adds none. */
    build(&b, "POST", "/rerank-items/demo/ranking/u1?itemIds=X&item_ids=Y&filter=f", "[\"x\",\"y\"]");
    assert_int_equal(b.status, PZ_OK);
    m = (Personalization__V1__RerankItemsRequest *)b.msg;
    assert_int_equal(m->n_item_ids, 2);
    assert_string_equal(m->item_ids[1], "y");
    assert_string_equal(m->filter, "f");
    pz_arena_destroy(&b.arena);

    build(&b, "POST", "/rerank-items/demo/ranking/u1", "[\"x\",");
    assert_int_equal(b.status, PZ_INVALID_ARGUMENT);
    assert_string_equal(b.err.code, "InvalidJSONRequestPayload");
    assert_non_null(strstr(b.err.message, "line 1"));
    pz_arena_destroy(&b.arena);
    build(&b, "POST", "/rerank-items/demo/ranking/u1", "{\"itemIds\":[\"x\"]}");
    assert_string_equal(b.err.code, "InvalidRequestPayload");
    pz_arena_destroy(&b.arena);
    build(&b, "POST", "/rerank-items/demo/ranking/u1", "[1,2]");
    assert_string_equal(b.err.code, "InvalidRequestPayload");
    pz_arena_destroy(&b.arena);
}

static void test_events_body(void **state)
{
    (void)state;
    built b;
    build(&b, "POST", "/events/demo?ignored=1",
          "{\"sessionId\":\"s\",\"userId\":\"u\",\"eventList\":[{\"eventType\":\"click\",\"itemId\":\"i\","
          "\"sentAt\":1712345678,\"impression\":[\"i\",\"j\"],\"properties\":\"{}\"}],"
          "\"experimentConversions\":[{\"recommender\":\"r\",\"value\":2}]}");
    assert_int_equal(b.status, PZ_OK);
    assert_true(b.route->empty_success_body);
    Personalization__V1__PutEventsRequest *m = (Personalization__V1__PutEventsRequest *)b.msg;
    assert_string_equal(m->namespace_, "demo");
    assert_int_equal(m->n_event_list, 1);
    assert_true(m->event_list[0]->sent_at == 1712345678.0);
    assert_int_equal(m->event_list[0]->n_impression, 2);
    assert_int_equal(m->n_experiment_conversions, 1);
    pz_arena_destroy(&b.arena);

    build(&b, "POST", "/events/demo", "{\"eventList\":[{\"eventType\":\"c\",\"bogus\":1}]}");
    assert_int_equal(b.status, PZ_INVALID_ARGUMENT);
    assert_string_equal(b.err.code, "ValidationError");
    assert_non_null(strstr(b.err.message, "bogus"));
    pz_arena_destroy(&b.arena);
    build(&b, "POST", "/events/demo", "");
    assert_string_equal(b.err.code, "InvalidJSONRequestPayload");
    pz_arena_destroy(&b.arena);
}

/* The query string as the front hands it to the core (http variations read parameters the messages
 * do not name); the events route may forward its body, and then needs the path's fields alone. */
static void test_query_pairs_and_forwarded_bodies(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    pz_route_query q;
    pz_error err;
    assert_int_equal(pz_route_parse_query("page=2&x=a%20b+c&&flag&Page=3", 29, &a, &q, &err), PZ_OK);
    assert_int_equal(q.n, 4);
    assert_string_equal(q.params[0].name, "page");
    assert_string_equal(q.params[1].value, "a b c");
    assert_string_equal(q.params[2].name, "flag");
    assert_string_equal(q.params[2].value, "");
    assert_string_equal(pz_query_param_find(q.params, q.n, "page")->value, "2"); /* exact names */
    assert_string_equal(pz_query_param_find(q.params, q.n, "Page")->value, "3");
    assert_null(pz_query_param_find(q.params, q.n, "PAGE"));
    assert_int_equal(pz_route_parse_query("a=%zz", 5, &a, &q, &err), PZ_INVALID_ARGUMENT);
    assert_string_equal(err.code, "ValidationError");
    assert_int_equal(pz_route_parse_query("", 0, &a, &q, &err), PZ_OK);
    assert_int_equal(q.n, 0);

    for (size_t i = 0; i < pz_routes_count; i++) /* only the events route forwards its body */
        assert_int_equal(pz_routes[i].forwards_body,
                         pz_routes[i].rpc == PZ_RPC_PUT_EVENTS && pz_routes[i].local == PZ_LOCAL_NONE);
    built b;
    build(&b, "POST", "/events/my%20ns?%zz", "{\"page\":1}"); /* no query parsed for a whole-message body */
    assert_int_equal(b.status, PZ_INVALID_ARGUMENT);
    assert_true(b.route->forwards_body);
    ProtobufCMessage *msg = NULL;
    assert_int_equal(pz_route_build_path_only(b.route, &b.params, &b.arena, &msg, &err), PZ_OK);
    Personalization__V1__PutEventsRequest *m = (Personalization__V1__PutEventsRequest *)msg;
    assert_string_equal(m->namespace_, "my ns");
    assert_int_equal(m->n_event_list, 0);
    pz_arena_destroy(&b.arena);
    pz_arena_destroy(&a);
}

static void test_query_parameter_errors(void **state)
{
    (void)state;
    static const struct {
        const char *target, *code, *needle;
    } cases[] = {
        {"/recommend-items/n/r/u?numResults=ten", "ValidationError", "numResults"},
        {"/recommend-items/n/r/u?numResults=99999999999", "ValidationError", "numResults"},
        {"/recommend-items/n/r/u?context=nope", "InvalidContextParameter", "context"},
        {"/recommend-items/n/r/u?context=%7B%22a%22%3A1%7D", "InvalidContextParameter", "a"},
        {"/recommend-items/n/r/u?filterValues=%5B%5D", "InvalidFilterParameter", "filterValues"},
        {"/recommend-items/n/r/u?numResults=%zz", "ValidationError", "percent"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        built b;
        build(&b, "GET", cases[i].target, NULL);
        assert_int_equal(b.status, PZ_INVALID_ARGUMENT);
        assert_string_equal(b.err.code, cases[i].code);
        assert_string_equal(b.err.type, "Validation");
        if (strstr(b.err.message, cases[i].needle) == NULL)
            fail_msg("%s: message '%s' lacks '%s'", cases[i].target, b.err.message, cases[i].needle);
        pz_arena_destroy(&b.arena);
    }
}

static void test_matching_outcomes(void **state)
{
    (void)state;
    built b;
    build(&b, "GET", "/nope", NULL);
    assert_int_equal(b.match, PZ_ROUTE_NO_PATH);
    pz_arena_destroy(&b.arena);
    build(&b, "GET", "/recommend-items/demo/for-you", NULL); /* missing segment */
    assert_int_equal(b.match, PZ_ROUTE_NO_PATH);
    pz_arena_destroy(&b.arena);
    build(&b, "GET", "/recommend-items/demo/for-you/u/extra", NULL);
    assert_int_equal(b.match, PZ_ROUTE_NO_PATH);
    pz_arena_destroy(&b.arena);
    build(&b, "DELETE", "/events/demo", NULL);
    assert_int_equal(b.match, PZ_ROUTE_WRONG_METHOD);
    assert_string_equal(b.allow, "POST,OPTIONS");
    pz_arena_destroy(&b.arena);
    build(&b, "OPTIONS", "/rerank-items/d/r/u", NULL);
    assert_int_equal(b.match, PZ_ROUTE_WRONG_METHOD);
    assert_string_equal(b.allow, "POST,OPTIONS");
    pz_arena_destroy(&b.arena);
    build(&b, "GET", "/recommend-items/demo/for-you/bad%zz", NULL);
    assert_int_equal(b.match, PZ_ROUTE_BAD_ENCODING);
    pz_arena_destroy(&b.arena);
    build(&b, "GET", "/recommend-items/demo/for-you/nul%00", NULL);
    assert_int_equal(b.match, PZ_ROUTE_BAD_ENCODING);
    pz_arena_destroy(&b.arena);
    build(&b, "GET", "/recommend-items/demo/for-you/", NULL); /* empty user: matched, core says required */
    assert_int_equal(b.match, PZ_ROUTE_MATCHED);
    pz_arena_destroy(&b.arena);
}

static void test_percent_decode(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    assert_string_equal(pz_percent_decode("a%20b+c", 7, false, &a), "a b+c");
    assert_string_equal(pz_percent_decode("a%20b+c", 7, true, &a), "a b c");
    assert_string_equal(pz_percent_decode("%C3%A9", 6, false, &a), "\xc3\xa9");
    assert_null(pz_percent_decode("%2", 2, false, &a));
    assert_null(pz_percent_decode("%", 1, false, &a));
    assert_null(pz_percent_decode("%g0", 3, false, &a));
    pz_arena_destroy(&a);
}

static void test_error_json(void **state)
{
    (void)state;
    pz_buf out;
    pz_buf_init(&out, 1024);
    pz_error e = {PZ_INVALID_ARGUMENT, "Validation", "ValidationError", "bad \"x\"\n"};
    assert_int_equal(pz_route_error_json(&e, &out), 0);
    assert_string_equal(out.data,
                        "{\"type\":\"Validation\",\"code\":\"ValidationError\",\"message\":\"bad \\\"x\\\"\\n\"}");
    pz_buf_free(&out);
}

static void test_every_route_builds_its_message(void **state)
{
    (void)state;
    for (size_t i = 0; i < pz_routes_count; i++) {
        const pz_route *r = &pz_routes[i];
        if (r->local != PZ_LOCAL_NONE)
            continue; /* answered by the front: test_local_rows */
        assert_non_null(pz_rpc_get(r->rpc)->request);
        if (r->body == PZ_ROUTE_BODY_FIELD)
            assert_non_null(r->body_field);
        assert_true(strcmp(r->method, "GET") == 0 || !r->cacheable); /* only GETs are cacheable */
    }
}

/* Probes and scrapes are local rows, one per listener that answers them, matched with GET only;
 * any other method sees an unknown path (404 without Allow or CORS preflight). */
static void test_local_rows(void **state)
{
    (void)state;
    static const struct {
        pz_api api;
        const char *path;
        pz_local_route local;
        pz_local_route with_slash; /* what "<path>/" routes to: only /docs has a row below it */
    } rows[] = {
        {PZ_API_PUBLIC, "/healthz", PZ_LOCAL_HEALTH, PZ_LOCAL_NONE},
        {PZ_API_PUBLIC, "/openapi.json", PZ_LOCAL_OPENAPI, PZ_LOCAL_NONE},
        {PZ_API_PUBLIC, "/docs", PZ_LOCAL_DOCS,
         PZ_LOCAL_DOCS_ASSET}, /* an empty asset name: gateway/docs answers 404 */
        {PZ_API_PUBLIC, "/docs/{asset}", PZ_LOCAL_DOCS_ASSET, PZ_LOCAL_NONE},
        {PZ_API_PUBLIC, "/proto/personalization/v1/personalization.proto", PZ_LOCAL_PROTO, PZ_LOCAL_NONE},
        {PZ_API_ADMIN, "/healthz", PZ_LOCAL_HEALTH, PZ_LOCAL_NONE},
        {PZ_API_ADMIN, "/metrics", PZ_LOCAL_METRICS, PZ_LOCAL_NONE},
        {PZ_API_ADMIN, "/admin/auth/stats", PZ_LOCAL_AUTH_STATS, PZ_LOCAL_NONE},
        {PZ_API_ADMIN, "/admin/builtin/stats", PZ_LOCAL_BUILTIN_STATS, PZ_LOCAL_NONE},
    };
    size_t n_local = 0;
    for (size_t k = 0; k < pz_routes_count; k++)
        n_local += pz_routes[k].local != PZ_LOCAL_NONE;
    assert_int_equal(n_local, sizeof rows / sizeof rows[0]);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        size_t n_rows = 0;
        for (size_t k = 0; k < pz_routes_count; k++) {
            if (pz_routes[k].local != rows[i].local || pz_routes[k].api != rows[i].api)
                continue;
            n_rows++;
            assert_string_equal(pz_routes[k].path_template, rows[i].path);
            /* only the liveness probe is open; every /admin row and /metrics need the admin scope */
            assert_true(pz_routes[k].open == (rows[i].local == PZ_LOCAL_HEALTH));
        }
        assert_int_equal(n_rows, 1);

        built b;
        build_on(&b, rows[i].api, "GET", rows[i].path, NULL);
        assert_int_equal(b.match, PZ_ROUTE_MATCHED);
        assert_int_equal(b.route->local, rows[i].local);
        assert_string_equal(b.route->method, "GET");
        assert_false(b.route->cacheable);
        pz_arena_destroy(&b.arena);
        char with_query[96];
        snprintf(with_query, sizeof with_query, "%s?verbose=1", rows[i].path);
        build_on(&b, rows[i].api, "GET", with_query, NULL);
        assert_int_equal(b.match, PZ_ROUTE_MATCHED);
        assert_int_equal(b.route->local, rows[i].local);
        pz_arena_destroy(&b.arena);
        static const char *const other_methods[] = {"POST", "OPTIONS", "HEAD", "DELETE"};
        for (size_t m = 0; m < sizeof other_methods / sizeof other_methods[0]; m++) {
            pz_arena_init(&b.arena);
            b.match = pz_route_match(rows[i].api, other_methods[m], strlen(other_methods[m]), rows[i].path,
                                     strlen(rows[i].path), &b.arena, &b.route, &b.params, b.allow, sizeof b.allow);
            assert_int_equal(b.match, PZ_ROUTE_NO_PATH);
            assert_string_equal(b.allow, "");
            pz_arena_destroy(&b.arena);
        }
        char trailing[96];
        snprintf(trailing, sizeof trailing, "%s/", rows[i].path);
        build_on(&b, rows[i].api, "GET", trailing, NULL);
        if (rows[i].with_slash == PZ_LOCAL_NONE) {
            assert_int_equal(b.match, PZ_ROUTE_NO_PATH);
        } else {
            assert_int_equal(b.match, PZ_ROUTE_MATCHED);
            assert_int_equal(b.route->local, rows[i].with_slash);
        }
        pz_arena_destroy(&b.arena);
    }
    built b;
    build(&b, "GET", "/metrics", NULL); /* scrapes are for the admin listener only */
    assert_int_equal(b.match, PZ_ROUTE_NO_PATH);
    pz_arena_destroy(&b.arena);
}

/* Each listener sees its API's rows only: the admin routes do not exist on the public port (they
 * moved there from it), the API does not exist on the admin port. */
static void test_listeners_see_their_api_only(void **state)
{
    (void)state;
    built b;
    static const char *const moved[] = {"/admin/cache/stats", "/admin/events/stats", "/admin/auth/stats",
                                        "/admin/builtin/stats"};
    for (size_t i = 0; i < sizeof moved / sizeof moved[0]; i++) {
        build(&b, "GET", moved[i], NULL);
        assert_int_equal(b.match, PZ_ROUTE_NO_PATH);
        pz_arena_destroy(&b.arena);
    }
    build_on(&b, PZ_API_ADMIN, "GET", "/openapi.json", NULL); /* the public API's document */
    assert_int_equal(b.match, PZ_ROUTE_NO_PATH);
    pz_arena_destroy(&b.arena);
    build_on(&b, PZ_API_ADMIN, "GET", "/recommend-items/demo/for-you/u1", NULL);
    assert_int_equal(b.match, PZ_ROUTE_NO_PATH);
    pz_arena_destroy(&b.arena);
    bool served[PZ_RPC__COUNT] = {false};
    for (size_t k = 0; k < pz_routes_count; k++) {
        if (pz_routes[k].local == PZ_LOCAL_NONE) {
            assert_int_equal(pz_routes[k].api, pz_rpc_get(pz_routes[k].rpc)->api); /* rows on their RPC's listener */
            served[pz_routes[k].rpc] = true;
        }
    }
    for (int r = 0; r < PZ_RPC__COUNT; r++)
        assert_true(served[r]); /* every RPC, admin ones included, has a REST route */
}

static void test_admin_routes_build_their_messages(void **state)
{
    (void)state;
    built b;
    build_on(&b, PZ_API_ADMIN, "GET", "/admin/cache/stats", NULL);
    assert_int_equal(b.status, PZ_OK);
    assert_int_equal(b.route->rpc, PZ_RPC_ADMIN_GET_CACHE_STATS);
    pz_arena_destroy(&b.arena);

    /* the document is the body, byte for byte */
    const char *doc = "{\"version\": \"7\",\n \"namespaces\": {}}";
    build_on(&b, PZ_API_ADMIN, "POST", "/admin/config", doc);
    assert_int_equal(b.status, PZ_OK);
    assert_int_equal(b.route->rpc, PZ_RPC_ADMIN_APPLY_CONFIG);
    const Personalization__V1__ConfigDocument *cd = (const void *)b.msg;
    assert_true(cd->has_document);
    assert_int_equal(cd->document.len, strlen(doc));
    assert_memory_equal(cd->document.data, doc, strlen(doc));
    pz_arena_destroy(&b.arena);
    build_on(&b, PZ_API_ADMIN, "POST", "/admin/config/validate", "not even JSON");
    assert_int_equal(b.status, PZ_OK); /* validating it is the handler's job */
    assert_int_equal(b.route->rpc, PZ_RPC_ADMIN_VALIDATE_CONFIG);
    pz_arena_destroy(&b.arena);

    build_on(&b, PZ_API_ADMIN, "GET", "/admin/config/history?limit=3", NULL);
    assert_int_equal(b.status, PZ_OK);
    const Personalization__V1__ListConfigHistoryRequest *lh = (const void *)b.msg;
    assert_true(lh->has_limit);
    assert_int_equal(lh->limit, 3);
    pz_arena_destroy(&b.arena);
    build_on(&b, PZ_API_ADMIN, "GET", "/admin/config/history/%4012", NULL);
    assert_int_equal(b.status, PZ_OK);
    assert_string_equal(((const Personalization__V1__GetConfigRecordRequest *)b.msg)->version, "@12");
    pz_arena_destroy(&b.arena);

    build_on(&b, PZ_API_ADMIN, "POST", "/admin/catalog/shop/delete", "{\"ids\": [\"a\", \"b\"]}");
    assert_int_equal(b.status, PZ_OK);
    const Personalization__V1__DeleteItemsRequest *del = (const void *)b.msg;
    assert_string_equal(del->namespace_, "shop");
    assert_int_equal(del->n_ids, 2);
    assert_string_equal(del->ids[1], "b");
    pz_arena_destroy(&b.arena);
    build_on(&b, PZ_API_ADMIN, "POST", "/admin/catalog/shop/items", "{\"id\":\"x\"}\n{\"id\":\"y\"}\n");
    assert_int_equal(b.status, PZ_OK);
    const Personalization__V1__UpsertItemsRequest *up = (const void *)b.msg;
    assert_string_equal(up->namespace_, "shop");
    assert_int_equal(up->items.len, strlen("{\"id\":\"x\"}\n{\"id\":\"y\"}\n"));
    pz_arena_destroy(&b.arena);
    build_on(&b, PZ_API_ADMIN, "POST", "/admin/cache/purge", "{\"namespace\": \"shop\", \"userId\": \"u1\"}");
    assert_int_equal(b.status, PZ_OK);
    const Personalization__V1__PurgeCacheRequest *pc = (const void *)b.msg;
    assert_string_equal(pc->user_id, "u1");
    pz_arena_destroy(&b.arena);
    build_on(&b, PZ_API_ADMIN, "POST", "/admin/cache/purge", "{\"all\": 1");
    assert_int_equal(b.status, PZ_INVALID_ARGUMENT);
    assert_string_equal(b.err.code, "InvalidJSONRequestPayload");
    pz_arena_destroy(&b.arena);
}

/* Found by tests/fuzz/routes_fuzz.c: a long query parameter name that is not UTF-8 (read past
 * the "?" that replaces it in the message; ASan in --config=asan), and a malformed escape whose
 * quoted bytes are not UTF-8 (the message must be). */
static void test_fuzz_regressions(void **state)
{
    (void)state;
    built b;
    build(&b, "GET",
          "/recommend-items/demo/for-you/"
          "u?%FFaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1",
          NULL);
    assert_int_equal(b.status, PZ_OK); /* an unknown parameter: ignored */
    pz_arena_destroy(&b.arena);
    build(&b, "GET", "/recommend-items/demo/for-you/u?filterValues=\xdc\xdc\xdc%7", NULL);
    assert_int_equal(b.status, PZ_INVALID_ARGUMENT);
    assert_true(pz_utf8_valid(b.err.message, strlen(b.err.message)));
    assert_non_null(strstr(b.err.message, "malformed percent-encoding"));
    pz_arena_destroy(&b.arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recommend_route_with_query),
        cmocka_unit_test(test_defaults_when_no_query),
        cmocka_unit_test(test_rerank_get_splits_commas),
        cmocka_unit_test(test_rerank_post_body),
        cmocka_unit_test(test_fuzz_regressions),
        cmocka_unit_test(test_events_body),
        cmocka_unit_test(test_query_pairs_and_forwarded_bodies),
        cmocka_unit_test(test_query_parameter_errors),
        cmocka_unit_test(test_matching_outcomes),
        cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_error_json),
        cmocka_unit_test(test_every_route_builds_its_message),
        cmocka_unit_test(test_local_rows),
        cmocka_unit_test(test_listeners_see_their_api_only),
        cmocka_unit_test(test_admin_routes_build_their_messages),
    };
    return cmocka_run_group_tests_name("gateway_routes", tests, NULL, NULL);
}
