/* gateway/openapi: the document's structure for configurations of known shape (paths per
 * recommender, tags, events and experiments only where configured, info from the document), the
 * response schemas against the REST writer's rules, the core's limits on the parameters, and
 * determinism. The document's validity by tools we did not write is checked in
 * tests/integration/openapi. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "gateway/openapi.h"
#include "server/core/query.h"

static const char CONFIG[] =
    "{\"version\":\"v-7\",\"title\":\"Shop API\",\"description\":\"the shop\","
    "\"namespaces\":{"
    " \"shop\":{\"name\":\"Shop\",\"recommenders\":{"
    "   \"recommend-items\":{\"home\":{\"description\":\"home page picks\","
    "       \"experiments\":{\"layout\":{\"method\":\"local\",\"description\":\"new layout\"}},"
    "       \"variations\":{\"a\":{\"type\":\"builtin\"},\"b\":{\"type\":\"builtin\"}}},"
    "     \"top\":{\"cacheControl\":{\"userSpecified\":{\"maxAge\":10},\"syntheticUserSpecified\":{\"maxAge\":60}},"
    "       \"variations\":{\"p\":{\"type\":\"builtin\",\"strategy\":\"popular\"}}}},"
    "   \"related-items\":{\"similar\":{\"variations\":{\"c\":{\"type\":\"builtin\"}}}},"
    "   \"rerank-items\":{\"rank\":{\"variations\":{\"r\":{\"type\":\"builtin\"}}}}},"
    "  \"eventTargets\":[{\"type\":\"builtin\"}]},"
    " \"quiet\":{\"recommenders\":{\"recommend-items\":{\"only\":{\"variations\":{\"x\":{\"type\":\"builtin\"}}}}}}"
    "}}";

/* Where the admin listener is (its routes name it in their path items). */
static const char ADMIN_URL[] = "http://10.0.0.5:9464";

static json_t *document(const char *config_text, const char *server_url)
{
    pz_config_problems problems;
    pz_config_problems_init(&problems);
    pz_config *cfg = pz_config_parse(config_text, strlen(config_text), &problems);
    if (cfg == NULL) {
        for (size_t i = 0; i < problems.n; i++)
            fprintf(stderr, "%s: %s\n", problems.items[i].path, problems.items[i].message);
    }
    assert_non_null(cfg);
    pz_config_problems_free(&problems);
    pz_buf out;
    pz_buf_init(&out, 1u << 24);
    assert_int_equal(pz_openapi_write(cfg, server_url, ADMIN_URL, &out), 0);
    json_error_t err;
    json_t *doc = json_loadb(out.data, out.len, 0, &err);
    assert_non_null(doc);
    pz_buf_free(&out);
    pz_config_unref(cfg);
    return doc;
}

/* doc at a JSON pointer made of the given keys (NULL-terminated). */
static json_t *at(json_t *doc, ...)
{
    va_list ap;
    va_start(ap, doc);
    json_t *v = doc;
    for (const char *k = va_arg(ap, const char *); k != NULL && v != NULL; k = va_arg(ap, const char *))
        v = json_object_get(v, k);
    va_end(ap);
    return v;
}

static void test_one_path_per_recommender_with_literal_keys(void **state)
{
    (void)state;
    json_t *doc = document(CONFIG, "https://api.example.com");
    json_t *paths = json_object_get(doc, "paths");
    static const char *const expected[] = {
        "/recommend-items/shop/home/{user_id}",
        "/recommend-items/shop/top/{user_id}",
        "/related-items/shop/similar/{item_id}",
        "/rerank-items/shop/rank/{user_id}/{item_ids}",
        "/rerank-items/shop/rank/{user_id}",
        "/events/shop",
        "/experiments/shop",
        "/experiments/shop/home/layout",
        "/recommend-items/quiet/only/{user_id}",
        "/healthz",
        "/openapi.json",
        "/metrics",
        "/admin/cache/stats",
        "/admin/events/stats",
        "/admin/builtin/stats",
        "/admin/auth/stats",
        PZ_OPENAPI_PROTO_PATH,
    };
    assert_int_equal(json_object_size(paths), sizeof expected / sizeof expected[0]);
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        json_t *item = json_object_get(paths, expected[i]);
        assert_non_null(item);
        /* the admin listener's routes name it; everything else is on the document's server */
        json_t *servers = json_object_get(item, "servers");
        bool admin = strcmp(expected[i], "/metrics") == 0 || strncmp(expected[i], "/admin/", 7) == 0;
        assert_int_equal(servers != NULL, admin);
        if (admin) {
            assert_int_equal(json_array_size(servers), 1);
            assert_string_equal(json_string_value(json_object_get(json_array_get(servers, 0), "url")), ADMIN_URL);
        }
    }
    /* the scrape is text, not JSON */
    assert_non_null(at(paths, "/metrics", "get", "responses", "200", "content", "text/plain", "schema", NULL));
    /* the rerank POST and GET live on their own paths, with their own methods */
    assert_non_null(at(paths, "/rerank-items/shop/rank/{user_id}", "post", NULL));
    assert_null(at(paths, "/rerank-items/shop/rank/{user_id}", "get", NULL));
    /* no events or experiments for a namespace without targets or experiments */
    assert_null(json_object_get(paths, "/events/quiet"));
    assert_null(json_object_get(paths, "/experiments/quiet"));
    json_decref(doc);
}

static void test_info_servers_tags_and_security(void **state)
{
    (void)state;
    json_t *doc = document(CONFIG, "https://api.example.com");
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), PZ_OPENAPI_VERSION);
    assert_string_equal(json_string_value(at(doc, "info", "title", NULL)), "Shop API");
    assert_string_equal(json_string_value(at(doc, "info", "description", NULL)), "the shop");
    assert_string_equal(json_string_value(at(doc, "info", "version", NULL)), "v-7");
    json_t *servers = json_object_get(doc, "servers");
    assert_int_equal(json_array_size(servers), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(servers, 0), "url")),
                        "https://api.example.com");
    assert_int_equal(json_array_size(json_object_get(doc, "security")), 0); /* no auth configured */
    assert_null(at(doc, "components", "securitySchemes", NULL));
    assert_int_equal(json_array_size(at(doc, "paths", "/recommend-items/shop/home/{user_id}", "get", "security", NULL)),
                     0);
    /* tags per namespace (its name, else its key) and action, with the recommenders' descriptions */
    json_t *tags = json_object_get(doc, "tags");
    const char *names[16];
    size_t n = json_array_size(tags);
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++)
        names[i] = json_string_value(json_object_get(json_array_get(tags, i), "name"));
    static const char *const expected[] = {"Shop: Recommend Items",
                                           "Shop: Related Items",
                                           "Shop: Rerank Items",
                                           "Shop: Events",
                                           "Shop: Experiments",
                                           "quiet: Recommend Items",
                                           "Server"};
    assert_int_equal(n, sizeof expected / sizeof expected[0]);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(names[i], expected[i]);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_array_get(tags, 0), "description")), "home page picks"));
    json_t *op = at(doc, "paths", "/recommend-items/shop/home/{user_id}", "get", NULL);
    assert_string_equal(json_string_value(json_object_get(op, "description")), "home page picks");
    assert_string_equal(json_string_value(json_array_get(json_object_get(op, "tags"), 0)), "Shop: Recommend Items");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(at(doc, "paths", "/healthz", "get", NULL), "tags"), 0)),
        "Server");
    json_decref(doc);
}

static void test_defaults_without_title_version_or_server(void **state)
{
    (void)state;
    json_t *doc = document("{\"namespaces\":{\"n\":{\"recommenders\":{\"recommend-items\":{\"r\":{\"variations\":"
                           "{\"v\":{\"type\":\"builtin\"}}}}}}}}",
                           NULL);
    assert_string_equal(json_string_value(at(doc, "info", "title", NULL)), "Personalization APIs");
    assert_string_equal(json_string_value(at(doc, "info", "version", NULL)), "unversioned");
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(doc, "servers"), 0), "url")),
                        "/");
    json_decref(doc);
}

/* Response schemas follow the REST writer's rules: itemList always there, custom fields inline
 * (open objects), the empty-reason marker and gRPC's notModified never written. */
static void test_response_schemas_follow_the_writer(void **state)
{
    (void)state;
    json_t *doc = document(CONFIG, NULL);
    json_t *schemas = at(doc, "components", "schemas", NULL);
    json_t *rec = json_object_get(schemas, "RecommendationResponse");
    assert_string_equal(json_string_value(json_array_get(json_object_get(rec, "required"), 0)), "itemList");
    assert_true(json_is_true(json_object_get(rec, "additionalProperties")));
    json_t *props = json_object_get(rec, "properties");
    assert_non_null(json_object_get(props, "recommendationId"));
    assert_string_equal(json_string_value(at(props, "matchedExperiment", "$ref", NULL)),
                        "#/components/schemas/MatchedExperiment");
    assert_null(json_object_get(props, "notModified"));
    assert_null(json_object_get(props, "customFields"));
    json_t *item = at(schemas, "PredictedItem", "properties", NULL);
    assert_non_null(json_object_get(item, "itemId"));
    assert_string_equal(json_string_value(at(item, "metadata", "type", NULL)), "object");
    assert_null(json_object_get(item, "emptyReason"));
    assert_string_equal(json_string_value(at(schemas, "RerankResponse", "required", NULL) != NULL
                                              ? json_array_get(at(schemas, "RerankResponse", "required", NULL), 0)
                                              : NULL),
                        "personalizedRanking");
    /* a message with no inline Struct is closed */
    assert_true(json_is_false(at(schemas, "MatchedExperiment", "additionalProperties", NULL)));
    /* int64 counters are strings in proto3 JSON */
    assert_string_equal(json_string_value(at(schemas, "ExperimentSummary", "properties", "usersExposed", "type", NULL)),
                        "string");
    /* the events body: the path's namespace is not a body field; the core's limits are */
    json_t *events = at(schemas, "PutEventsRequest", "properties", NULL);
    assert_null(json_object_get(events, "namespace"));
    assert_int_equal(json_integer_value(at(events, "eventList", "maxItems", NULL)), 10);
    json_t *event = at(schemas, "Event", NULL);
    assert_string_equal(json_string_value(json_array_get(json_object_get(event, "required"), 0)), "eventType");
    assert_int_equal(json_integer_value(at(event, "properties", "impression", "maxItems", NULL)), 25);
    assert_int_equal(json_integer_value(at(event, "properties", "properties", "maxLength", NULL)), 1024);
    json_decref(doc);
}

/* Whether response header `name` of responses[status] is required (its components.headers entry). */
static bool header_required(json_t *doc, json_t *responses, const char *status, const char *name)
{
    const char *r = json_string_value(at(responses, status, "headers", name, "$ref", NULL));
    assert_non_null(r);
    const char *prefix = "#/components/headers/";
    assert_int_equal(strncmp(r, prefix, strlen(prefix)), 0);
    return json_is_true(at(doc, "components", "headers", r + strlen(prefix), "required", NULL));
}

static void test_parameters_carry_the_core_limits(void **state)
{
    (void)state;
    json_t *doc = document(CONFIG, NULL);
    json_t *params = at(doc, "components", "parameters", NULL);
    assert_int_equal(json_integer_value(at(params, "numResults", "schema", "default", NULL)), 25);
    assert_int_equal(json_integer_value(at(params, "numResults", "schema", "minimum", NULL)), 0);
    assert_true(json_is_true(at(params, "decorateItems", "schema", "default", NULL)));
    assert_true(json_is_false(at(params, "syntheticUser", "schema", "default", NULL)));
    assert_null(json_object_get(params, "pageToken")); /* no recommender paginates: not defined */
    assert_int_equal(json_integer_value(at(params, "context", "content", "application/json", "schema",
                                           "additionalProperties", "maxLength", NULL)),
                     PZ_MAX_MAP_VALUE_LEN);
    json_t *get_rerank = at(doc, "paths", "/rerank-items/shop/rank/{user_id}/{item_ids}", "get", "parameters", NULL);
    json_t *ids = json_array_get(get_rerank, 1);
    assert_string_equal(json_string_value(json_object_get(ids, "name")), "item_ids");
    assert_int_equal(json_integer_value(at(ids, "schema", "maxItems", NULL)), PZ_MAX_RERANK_ITEMS);
    assert_int_equal(json_integer_value(at(ids, "schema", "items", "maxLength", NULL)), PZ_MAX_ID_LEN);
    /* every 4xx/5xx names its codes */
    json_t *responses = at(doc, "paths", "/recommend-items/shop/home/{user_id}", "get", "responses", NULL);
    assert_string_equal(json_string_value(at(responses, "404", "$ref", NULL)), "#/components/responses/Inference404");
    assert_non_null(strstr(json_string_value(at(doc, "components", "responses", "Inference404", "description", NULL)),
                           "NamespaceNotFound"));
    assert_true(header_required(doc, responses, "304", "ETag"));
    assert_true(header_required(doc, responses, "200", "X-Personalization-Config-Version"));
    /* no cacheControl in this configuration: the core sends no ETag or Cache-Control on a 200 */
    assert_false(header_required(doc, responses, "200", "ETag"));
    assert_false(header_required(doc, responses, "200", "Cache-Control"));
    /* with a policy for both classes a user request can reach, every 200 has them */
    responses = at(doc, "paths", "/recommend-items/shop/top/{user_id}", "get", "responses", NULL);
    assert_true(header_required(doc, responses, "200", "ETag"));
    assert_true(header_required(doc, responses, "200", "Cache-Control"));
    /* POST answers carry no ETag */
    json_t *post = at(doc, "paths", "/rerank-items/shop/rank/{user_id}", "post", "responses", "200", "headers", NULL);
    assert_null(json_object_get(post, "ETag"));
    assert_non_null(json_object_get(post, "Cache-Control"));
    assert_true(header_required(doc, at(doc, "paths", "/rerank-items/shop/rank/{user_id}", "post", "responses", NULL),
                                "200", "Cache-Control"));
    json_decref(doc);
}

/* Whether an operation's parameters refer to components.parameters.<name>. */
static bool has_param_ref(json_t *params, const char *name)
{
    char ref[128];
    snprintf(ref, sizeof ref, "#/components/parameters/%s", name);
    size_t i;
    json_t *p;
    json_array_foreach (params, i, p) {
        const char *r = json_string_value(json_object_get(p, "$ref"));
        if (r != NULL && strcmp(r, ref) == 0)
            return true;
    }
    return false;
}

/* pageToken (issue 20) is a parameter of the recommend and related operations whose rules paginate
 * (at any level, any variation), with the core's length limit; nextPageToken is in the response. */
static void test_page_token_where_rules_paginate(void **state)
{
    (void)state;
    static const char PAGED[] = "{\"namespaces\":{\"shop\":{\"recommenders\":{"
                                " \"recommend-items\":{"
                                "   \"feed\":{\"variations\":{\"a\":{\"type\":\"builtin\"},"
                                "     \"b\":{\"type\":\"builtin\",\"rules\":{\"pagination\":{}}}}},"
                                "   \"plain\":{\"rules\":{\"diversity\":{\"field\":\"category\",\"maxPerValue\":2}},"
                                "     \"variations\":{\"a\":{\"type\":\"builtin\"}}}},"
                                " \"related-items\":{\"more\":{\"rules\":{\"pagination\":{\"maxItems\":50}},"
                                "   \"variations\":{\"c\":{\"type\":\"builtin\"}}}}}}}}";
    json_t *doc = document(PAGED, NULL);
    assert_true(has_param_ref(at(doc, "paths", "/recommend-items/shop/feed/{user_id}", "get", "parameters", NULL),
                              "pageToken"));
    assert_true(
        has_param_ref(at(doc, "paths", "/related-items/shop/more/{item_id}", "get", "parameters", NULL), "pageToken"));
    json_t *plain = at(doc, "paths", "/recommend-items/shop/plain/{user_id}", "get", "parameters", NULL);
    assert_true(has_param_ref(plain, "numResults"));
    assert_false(has_param_ref(plain, "pageToken"));
    assert_int_equal(json_integer_value(at(doc, "components", "parameters", "pageToken", "schema", "maxLength", NULL)),
                     PZ_MAX_PAGE_TOKEN_LEN);
    assert_non_null(at(doc, "components", "schemas", "RecommendationResponse", "properties", "nextPageToken", NULL));
    assert_non_null(strstr(json_string_value(at(doc, "components", "responses", "Inference400", "description", NULL)),
                           "PageTokenExpired"));
    json_decref(doc);
}

static void test_operation_ids_are_unique_and_output_is_deterministic(void **state)
{
    (void)state;
    pz_config *cfg = pz_config_parse(CONFIG, strlen(CONFIG), NULL);
    assert_non_null(cfg);
    pz_buf a, b;
    pz_buf_init(&a, 1u << 24);
    pz_buf_init(&b, 1u << 24);
    assert_int_equal(pz_openapi_write(cfg, PZ_OPENAPI_ORIGIN_MARKER, ADMIN_URL, &a), 0);
    assert_int_equal(pz_openapi_write(cfg, PZ_OPENAPI_ORIGIN_MARKER, ADMIN_URL, &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    /* the origin marker is findable in the text as the header says */
    assert_non_null(strstr(a.data, PZ_OPENAPI_ORIGIN_MARKER_JSON));
    json_t *doc = json_loadb(a.data, a.len, 0, NULL);
    json_t *seen = json_object();
    const char *path;
    json_t *item;
    json_object_foreach (json_object_get(doc, "paths"), path, item) {
        const char *method;
        json_t *op;
        json_object_foreach (item, method, op) {
            if (strcmp(method, "servers") == 0) /* the admin listener's routes name it */
                continue;
            const char *id = json_string_value(json_object_get(op, "operationId"));
            assert_non_null(id);
            assert_null(json_object_get(seen, id));
            json_object_set_new(seen, id, json_true());
        }
    }
    assert_int_equal(json_object_size(seen), 17);
    json_decref(seen);
    json_decref(doc);
    /* a cap too small fails instead of writing half a document */
    pz_buf small;
    pz_buf_init(&small, 1024);
    assert_int_equal(pz_openapi_write(cfg, NULL, NULL, &small), -1);
    pz_buf_free(&small);
    pz_buf_free(&a);
    pz_buf_free(&b);
    pz_config_unref(cfg);
}

/* Root auth with API keys, a namespace replacing it with JWTs, one serving without credentials. */
static const char AUTH_CONFIG[] =
    "{\"auth\":{\"apiKeys\":[{\"name\":\"svc\",\"sha256\":\"aa00000000000000000000000000000000000000000000000000000000"
    "000001\",\"namespaces\":[\"*\"],\"scopes\":[\"inference\",\"events\",\"admin\"]}]},"
    "\"namespaces\":{"
    " \"keyed\":{\"recommenders\":{\"rerank-items\":{\"rank\":{\"variations\":{\"r\":{\"type\":\"builtin\"}}}}},"
    "  \"eventTargets\":[{\"type\":\"builtin\"}]},"
    " \"tok\":{\"auth\":{\"jwt\":{\"jwksFile\":\"/nonexistent/jwks.json\",\"issuer\":\"https://login.example.com\"}},"
    "  \"recommenders\":{\"recommend-items\":{\"home\":{"
    "   \"experiments\":{\"layout\":{\"method\":\"local\"}},"
    "   \"variations\":{\"a\":{\"type\":\"builtin\"},\"b\":{\"type\":\"builtin\"}}}}}},"
    " \"open\":{\"auth\":{},\"recommenders\":{\"recommend-items\":{\"o\":{\"variations\":{\"x\":{\"type\":\"builtin\"}}"
    "}}}}"
    "}}";

/* The names of an operation's security alternatives, joined with ',' ("" for []); NULL when the
 * operation has no `security` or a requirement is not one scheme with no scopes. */
static const char *security_of(json_t *op, char *out, size_t outlen)
{
    json_t *sec = json_object_get(op, "security");
    if (!json_is_array(sec))
        return NULL;
    out[0] = '\0';
    size_t i;
    json_t *req;
    json_array_foreach (sec, i, req) {
        if (json_object_size(req) != 1)
            return NULL;
        const char *name = json_object_iter_key(json_object_iter(req));
        json_t *scopes = json_object_get(req, name);
        if (!json_is_array(scopes) || json_array_size(scopes) != 0)
            return NULL;
        snprintf(out + strlen(out), outlen - strlen(out), "%s%s", i > 0 ? "," : "", name);
    }
    return out;
}

static void test_security_follows_the_auth_policies(void **state)
{
    (void)state;
    json_t *doc = document(AUTH_CONFIG, NULL);
    char buf[128];
    /* the schemes some policy accepts, as the fronts read them */
    json_t *schemes = at(doc, "components", "securitySchemes", NULL);
    assert_int_equal(json_object_size(schemes), 2);
    assert_string_equal(json_string_value(at(schemes, "apiKey", "type", NULL)), "apiKey");
    assert_string_equal(json_string_value(at(schemes, "apiKey", "in", NULL)), "header");
    assert_string_equal(json_string_value(at(schemes, "apiKey", "name", NULL)), "x-api-key");
    assert_string_equal(json_string_value(at(schemes, "bearerJwt", "type", NULL)), "http");
    assert_string_equal(json_string_value(at(schemes, "bearerJwt", "scheme", NULL)), "bearer");
    assert_string_equal(json_string_value(at(schemes, "bearerJwt", "bearerFormat", NULL)), "JWT");
    /* the root's policy is the default requirement */
    assert_string_equal(security_of(doc, buf, sizeof buf), "apiKey");
    json_t *paths = json_object_get(doc, "paths");
    static const struct {
        const char *path, *method, *security;
    } EXPECTED[] = {
        {"/rerank-items/keyed/rank/{user_id}/{item_ids}", "get", "apiKey"},
        {"/rerank-items/keyed/rank/{user_id}", "post", "apiKey"},
        {"/events/keyed", "post", "apiKey"},
        {"/recommend-items/tok/home/{user_id}", "get", "bearerJwt"},
        {"/experiments/tok", "get", "bearerJwt"},
        {"/experiments/tok/home/layout", "get", "bearerJwt"},
        {"/recommend-items/open/o/{user_id}", "get", ""},
        {"/admin/cache/stats", "get", "apiKey"},
        {"/admin/events/stats", "get", "apiKey"},
        {"/admin/builtin/stats", "get", "apiKey"},
        {"/admin/auth/stats", "get", "apiKey"},
        {"/metrics", "get", "apiKey"},
        {"/healthz", "get", ""},
        {"/openapi.json", "get", ""},
        {PZ_OPENAPI_PROTO_PATH, "get", ""},
    };
    for (size_t i = 0; i < sizeof EXPECTED / sizeof EXPECTED[0]; i++) {
        json_t *op = at(paths, EXPECTED[i].path, EXPECTED[i].method, NULL);
        assert_non_null(op);
        const char *got = security_of(op, buf, sizeof buf);
        assert_non_null(got);
        assert_string_equal(got, EXPECTED[i].security);
        /* the errors of access control exactly where a credential is required */
        json_t *responses = json_object_get(op, "responses");
        bool required = EXPECTED[i].security[0] != '\0';
        assert_int_equal(json_object_get(responses, "401") != NULL, required);
        assert_int_equal(json_object_get(responses, "403") != NULL, required);
    }
    /* the route's own 429 codes and the limiter's share one response */
    json_t *get = at(paths, "/recommend-items/tok/home/{user_id}", "get", "responses", NULL);
    const char *ref = json_string_value(at(get, "429", "$ref", NULL));
    assert_string_equal(ref, "#/components/responses/InferenceAuth429");
    const char *desc = json_string_value(at(doc, "components", "responses", "InferenceAuth429", "description", NULL));
    assert_non_null(strstr(desc, "UpstreamQueueFull"));
    assert_non_null(strstr(desc, "TooManyRequests"));
    /* a JWKS that cannot be fetched is the route's 503 too */
    assert_string_equal(json_string_value(at(get, "503", "$ref", NULL)), "#/components/responses/InferenceAuth503");
    desc = json_string_value(at(doc, "components", "responses", "InferenceAuth503", "description", NULL));
    assert_non_null(strstr(desc, "UpstreamUnavailable"));
    assert_non_null(strstr(desc, "SigningKeysUnavailable"));
    assert_string_equal(json_string_value(at(get, "401", "$ref", NULL)), "#/components/responses/Auth401");
    assert_non_null(
        strstr(json_string_value(at(doc, "components", "responses", "Auth401", "description", NULL)), "InvalidToken"));
    /* the namespace without credentials keeps the route's own 429 */
    assert_string_equal(
        json_string_value(at(paths, "/recommend-items/open/o/{user_id}", "get", "responses", "429", "$ref", NULL)),
        "#/components/responses/Inference429");
    /* events have no 429 of their own: the limiter's alone */
    assert_string_equal(json_string_value(at(paths, "/events/keyed", "post", "responses", "429", "$ref", NULL)),
                        "#/components/responses/Auth429");
    json_decref(doc);

    /* only the scheme in use is declared; a namespace's `auth: {}` under no root auth declares none */
    doc = document("{\"namespaces\":{\"t\":{\"auth\":{\"jwt\":{\"jwksUrl\":\"https://login.example.com/jwks\","
                   "\"issuer\":\"https://login.example.com\"}},\"recommenders\":{\"recommend-items\":{\"r\":"
                   "{\"variations\":{\"v\":{\"type\":\"builtin\"}}}}}}}}",
                   NULL);
    assert_int_equal(json_object_size(at(doc, "components", "securitySchemes", NULL)), 1);
    assert_non_null(at(doc, "components", "securitySchemes", "bearerJwt", NULL));
    assert_string_equal(security_of(doc, buf, sizeof buf), ""); /* no root auth */
    assert_string_equal(security_of(at(doc, "paths", "/admin/cache/stats", "get", NULL), buf, sizeof buf), "");
    json_decref(doc);
    doc = document("{\"namespaces\":{\"o\":{\"auth\":{},\"recommenders\":{\"recommend-items\":{\"r\":"
                   "{\"variations\":{\"v\":{\"type\":\"builtin\"}}}}}}}}",
                   NULL);
    assert_null(at(doc, "components", "securitySchemes", NULL));
    json_decref(doc);
}

/* A policy accepting both schemes lists them as alternatives (either one is enough). */
static void test_both_schemes_are_alternatives(void **state)
{
    (void)state;
    json_t *doc =
        document("{\"auth\":{\"jwt\":{\"jwksFile\":\"/k.json\",\"issuer\":\"https://login.example.com\"},"
                 "\"apiKeysFile\":\"/keys.json\"},"
                 "\"namespaces\":{\"n\":{\"recommenders\":{\"recommend-items\":{\"r\":{\"variations\":{\"v\":{\"type\":"
                 "\"builtin\"}}}}}}}}",
                 NULL);
    char buf[128];
    json_t *sec = at(doc, "paths", "/recommend-items/n/r/{user_id}", "get", "security", NULL);
    assert_int_equal(json_array_size(sec), 2);
    assert_string_equal(security_of(at(doc, "paths", "/recommend-items/n/r/{user_id}", "get", NULL), buf, sizeof buf),
                        "apiKey,bearerJwt");
    assert_string_equal(security_of(at(doc, "paths", "/healthz", "get", NULL), buf, sizeof buf), "");
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_path_per_recommender_with_literal_keys),
        cmocka_unit_test(test_info_servers_tags_and_security),
        cmocka_unit_test(test_defaults_without_title_version_or_server),
        cmocka_unit_test(test_response_schemas_follow_the_writer),
        cmocka_unit_test(test_parameters_carry_the_core_limits),
        cmocka_unit_test(test_page_token_where_rules_paginate),
        cmocka_unit_test(test_operation_ids_are_unique_and_output_is_deterministic),
        cmocka_unit_test(test_security_follows_the_auth_policies),
        cmocka_unit_test(test_both_schemes_are_alternatives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
