/* Tests for the core's side of authentication (issue #15): the `auth` block and keys files
 * (config_auth.c), the access decisions (access.c: credentials, challenges, scopes, namespaces, a
 * token's own user) and where the service applies them (the sequencer's authenticate/authorize
 * stages before the cache, PutEvents, /admin), with a fake authenticator port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/transcode.h"
#include "personalization/v1/personalization.pb-c.h"
#include "server/core/access.h"
#include "server/core/cache.h"
#include "server/core/service.h"
#include "tests/unit/core/fake_ports.h"

#define HASH_A "aa00000000000000000000000000000000000000000000000000000000000001"
#define HASH_B "bb00000000000000000000000000000000000000000000000000000000000002"

static pz_config *parse(const char *json, pz_config_problems *p)
{
    pz_config_problems_init(p);
    return pz_config_parse(json, strlen(json), p);
}

static bool has_problem(const pz_config_problems *p, const char *path, const char *text)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->items[i].path, path) == 0 && strstr(p->items[i].message, text) != NULL)
            return true;
    return false;
}

#define NS                                                                                                             \
    "\"namespaces\":{\"shop\":{\"recommenders\":{\"recommend-items\":{\"r\":{\"variations\":{\"v\":{\"type\":"         \
    "\"builtin\"}}}}},\"eventTargets\":[{\"type\":\"builtin\"}]}"

/* ---- configuration ---- */

static void test_no_auth_block_requires_nothing(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config *cfg = parse("{" NS "}}", &p);
    assert_non_null(cfg);
    const pz_auth_policy *a = pz_config_auth(cfg);
    assert_false(a->enabled);
    assert_false(pz_access_needed(a));
    assert_ptr_equal(pz_config_namespace(cfg, "shop")->auth_view, a);
    pz_config_unref(cfg);
    pz_config_problems_free(&p);
}

static void test_auth_block_with_defaults_and_namespace_override(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config *cfg = parse(
        "{\"auth\":{\"jwt\":{\"jwksUrl\":\"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X/.well-known/"
        "jwks.json\",\"issuer\":\"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X\",\"userIdClaim\":\"sub\","
        "\"requiredScopes\":{\"admin\":[\"api/admin\"]}},"
        "\"apiKeys\":[{\"name\":\"b\",\"sha256\":\"" HASH_B "\",\"namespaces\":[\"*\"],\"scopes\":[\"events\"]},"
        "{\"name\":\"a\",\"sha256\":\"" HASH_A "\",\"namespaces\":[\"shop\"],\"scopes\":[\"inference\",\"admin\"],"
        "\"expires\":\"2027-01-01T01:00:00+01:00\",\"rateLimit\":{\"requestsPerSecond\":5}}],"
        "\"rateLimits\":{\"perClientAddress\":null}},"
        "\"namespaces\":{\"shop\":{\"recommenders\":{\"recommend-items\":{\"r\":{\"variations\":{\"v\":{\"type\":"
        "\"builtin\"}}}}}},\"open\":{\"auth\":{},\"eventTargets\":[{\"type\":\"builtin\"}]}}}",
        &p);
    for (size_t i = 0; i < p.n; i++)
        fprintf(stderr, "%s: %s\n", p.items[i].path, p.items[i].message);
    assert_non_null(cfg);
    const pz_auth_policy *a = pz_config_auth(cfg);
    assert_true(a->enabled && a->api_key_scheme);
    assert_non_null(a->jwt);
    assert_string_equal(a->jwt->token_use, "access"); /* a Cognito issuer: upstream's edge check */
    assert_int_equal(a->jwt->leeway_seconds, 60);
    assert_int_equal(a->jwt->algorithms, (1u << PZ_JWT_RS256) | (1u << PZ_JWT_ES256));
    assert_true(a->jwt->has_required_scopes[PZ_ACCESS_ADMIN] && !a->jwt->has_required_scopes[PZ_ACCESS_INFERENCE]);
    assert_int_equal(a->jwt->jwks_min_refresh_seconds, 60);
    /* keys sorted by hash, expiry in UTC, own limit */
    assert_int_equal(a->n_api_keys, 2);
    assert_string_equal(a->api_keys[0].name, "a");
    assert_int_equal(a->api_keys[0].expires_ms, 1798761600000LL);
    assert_true(a->api_keys[0].has_rate_limit);
    assert_true(a->api_keys[0].rate_limit.per_second == 5 && a->api_keys[0].rate_limit.burst == 10);
    assert_int_equal(a->api_keys[0].scopes, PZ_ACCESS_BIT(PZ_ACCESS_INFERENCE) | PZ_ACCESS_BIT(PZ_ACCESS_ADMIN));
    assert_true(a->api_keys[1].all_namespaces);
    /* the defaults of a block with a scheme, one turned off */
    assert_true(a->per_api_key.per_second == 1000 && a->per_subject.per_second == 100);
    assert_true(a->per_client_address.per_second == 0);
    assert_ptr_equal(pz_config_namespace(cfg, "shop")->auth_view, a);
    const pz_auth_policy *open = pz_config_namespace(cfg, "open")->auth_view;
    assert_false(open->enabled);
    assert_true(open->per_api_key.per_second == 0); /* nothing is limited without a scheme */
    assert_int_not_equal(open->fingerprint, a->fingerprint);
    pz_config_unref(cfg);
    pz_config_problems_free(&p);
}

static void test_auth_block_errors_name_their_path_and_never_quote_hashes(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config *cfg =
        parse("{\"auth\":{\"jwt\":{\"jwksUrl\":\"ftp://x\",\"jwksFile\":\"/k.json\",\"algorithms\":[\"RS256\",\"none\","
              "\"HS256\"],\"tokenUse\":\"refresh\",\"leewaySeconds\":9999},"
              "\"apiKeys\":[{\"name\":\"k\",\"sha256\":\"secret-not-hex\",\"namespaces\":[],\"scopes\":[\"read\"],"
              "\"expires\":\"tomorrow\"},{\"name\":\"k\",\"sha256\":\"" HASH_A "\",\"namespaces\":[\"*\"],"
              "\"scopes\":[\"inference\"]},{\"name\":\"same\",\"sha256\":\"" HASH_A "\",\"namespaces\":[\"*\"],"
              "\"scopes\":[\"inference\"]}],\"rateLimits\":{\"perSubject\":{\"burst\":0}},\"extra\":1}," NS "}}",
              &p);
    assert_null(cfg);
    assert_true(has_problem(&p, "$.auth.jwt", "exactly one of \"jwksUrl\""));
    assert_true(has_problem(&p, "$.auth.jwt.jwksUrl", "http:// or https://"));
    assert_true(has_problem(&p, "$.auth.jwt.issuer", "required"));
    assert_true(has_problem(&p, "$.auth.jwt.algorithms[1]", "\"none\" is not allowed"));
    assert_true(has_problem(&p, "$.auth.jwt.algorithms[2]", "\"HS256\" is not allowed"));
    assert_true(has_problem(&p, "$.auth.jwt.tokenUse", "access, id"));
    assert_true(has_problem(&p, "$.auth.jwt.leewaySeconds", "out of range"));
    assert_true(has_problem(&p, "$.auth.apiKeys[0].sha256", "64 hex digits"));
    assert_true(has_problem(&p, "$.auth.apiKeys[0].namespaces", "array of 1"));
    assert_true(has_problem(&p, "$.auth.apiKeys[0].scopes[0]", "unknown scope"));
    assert_true(has_problem(&p, "$.auth.apiKeys[0].expires", "RFC 3339"));
    assert_true(has_problem(&p, "$.auth.apiKeys[1].name", "duplicate key name"));
    assert_true(has_problem(&p, "$.auth.apiKeys", "same sha256"));
    assert_true(has_problem(&p, "$.auth.rateLimits.perSubject.requestsPerSecond", "required"));
    assert_true(has_problem(&p, "$.auth.rateLimits.perSubject.burst", "out of range"));
    assert_true(has_problem(&p, "$.auth.extra", "unknown"));
    for (size_t i = 0; i < p.n; i++) {
        assert_null(strstr(p.items[i].message, "secret-not-hex"));
        assert_null(strstr(p.items[i].message, HASH_A));
    }
    pz_config_problems_free(&p);
}

static void test_keys_file_uses_the_same_rules(void **state)
{
    (void)state;
    pz_config_problems p;
    pz_config_problems_init(&p);
    const char good[] = "{\"apiKeys\":[{\"name\":\"x\",\"sha256\":\"" HASH_B "\",\"namespaces\":[\"shop\"],"
                        "\"scopes\":[\"inference\"]},{\"name\":\"y\",\"sha256\":\"" HASH_A "\",\"namespaces\":[\"*\"],"
                        "\"scopes\":[\"admin\"]}]}";
    pz_api_key_set *set = pz_api_key_set_parse(good, sizeof good - 1, &p);
    assert_non_null(set);
    size_t n;
    const pz_api_key *keys = pz_api_key_set_keys(set, &n);
    assert_int_equal(n, 2);
    assert_string_equal(keys[0].name, "y"); /* sorted by hash */
    pz_api_key_set_free(set);
    const char bad[] = "{\"apiKeys\":[{\"name\":\"x\"}],\"more\":1}";
    assert_null(pz_api_key_set_parse(bad, sizeof bad - 1, &p));
    assert_true(has_problem(&p, "$.apiKeys[0].sha256", "required"));
    assert_true(has_problem(&p, "$.more", "unknown"));
    assert_null(pz_api_key_set_parse("[", 1, &p));
    pz_config_problems_free(&p);
}

/* ---- decisions ---- */

static void test_authorize_decisions(void **state)
{
    (void)state;
    static const char *const admin_scopes[] = {"api/admin"};
    pz_jwt_policy jwt = {.issuer = "i"};
    jwt.has_required_scopes[PZ_ACCESS_ADMIN] = true;
    jwt.required_scopes[PZ_ACCESS_ADMIN] = admin_scopes;
    jwt.n_required_scopes[PZ_ACCESS_ADMIN] = 1;
    pz_auth_policy policy = {.enabled = true, .jwt = &jwt, .api_key_scheme = true};
    static const char *const shop[] = {"shop"};
    pz_api_key key = {.name = "k", .namespaces = shop, .n_namespaces = 1, .scopes = PZ_ACCESS_BIT(PZ_ACCESS_INFERENCE)};
    pz_principal by_key = {.kind = PZ_PRINCIPAL_API_KEY, .name = "k", .key = &key};
    static const char *const token_scopes[] = {"openid", "api/admin"};
    pz_principal token = {.kind = PZ_PRINCIPAL_TOKEN, .name = "u1", .user_id = "u1"};
    pz_principal admin_token = {
        .kind = PZ_PRINCIPAL_TOKEN, .name = "u2", .user_id = "u2", .scopes = token_scopes, .n_scopes = 2};
    pz_principal anonymous = {0};
    pz_arena arena;
    pz_arena_init(&arena);
    pz_error err;
    const struct {
        const pz_principal *who;
        pz_access access;
        const char *ns, *user;
        pz_status want;
        const char *code;
    } cases[] = {
        {&anonymous, PZ_ACCESS_ADMIN, NULL, NULL, PZ_OK, NULL},
        {&by_key, PZ_ACCESS_INFERENCE, "shop", "anyone", PZ_OK, NULL}, /* backends act for any user */
        {&by_key, PZ_ACCESS_INFERENCE, "other", "anyone", PZ_PERMISSION_DENIED, "NamespaceNotAllowed"},
        {&by_key, PZ_ACCESS_EVENTS, "shop", "anyone", PZ_PERMISSION_DENIED, "InsufficientScope"},
        {&by_key, PZ_ACCESS_ADMIN, NULL, NULL, PZ_PERMISSION_DENIED, "InsufficientScope"},
        {&token, PZ_ACCESS_INFERENCE, "shop", "u1", PZ_OK, NULL},
        {&token, PZ_ACCESS_INFERENCE, "shop", NULL, PZ_OK, NULL}, /* related-items without a user */
        {&token, PZ_ACCESS_INFERENCE, "shop", "", PZ_OK, NULL},
        {&token, PZ_ACCESS_INFERENCE, "shop", "u2", PZ_PERMISSION_DENIED, "UserMismatch"},
        {&token, PZ_ACCESS_EVENTS, "shop", "u2", PZ_PERMISSION_DENIED, "UserMismatch"},
        {&token, PZ_ACCESS_ADMIN, NULL, NULL, PZ_PERMISSION_DENIED, "InsufficientScope"},
        {&admin_token, PZ_ACCESS_ADMIN, NULL, NULL, PZ_OK, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pz_status s =
            pz_access_authorize(cases[i].who, &policy, cases[i].access, cases[i].ns, cases[i].user, &arena, &err);
        if (s != cases[i].want)
            fail_msg("case %zu: %s", i, s == PZ_OK ? "allowed" : err.message);
        if (cases[i].code != NULL)
            assert_string_equal(err.code, cases[i].code);
    }
    pz_arena_destroy(&arena);
}

/* ---- the service with a fake authenticator ---- */

/* Credentials "key:NAME" name the policy's API key NAME; "tok:USER" is a token for USER; anything else
 * is refused. `limit` refuses every call with 429; `hold` keeps calls pending. */
typedef struct fake_auth {
    int calls;
    bool limit, hold;
    pz_auth_call *held;
    pz_credential_kind last_kind;
} fake_auth;

static void fake_authenticate(void *self, pz_auth_call *call)
{
    fake_auth *f = self;
    f->calls++;
    f->last_kind = call->credential_kind;
    if (f->hold) {
        f->held = call;
        return;
    }
    if (f->limit) {
        call->retry_after_s = 7;
        call->done(call, &(pz_error){PZ_RESOURCE_EXHAUSTED, "Throttling", "TooManyRequests", "slow down"});
        return;
    }
    char *cred = pz_arena_strndup(call->arena, call->credential, call->credential_len);
    if (strncmp(cred, "key:", 4) == 0) {
        for (size_t i = 0; i < call->policy->n_api_keys; i++)
            if (strcmp(call->policy->api_keys[i].name, cred + 4) == 0) {
                call->principal =
                    (pz_principal){.kind = PZ_PRINCIPAL_API_KEY, .name = cred + 4, .key = &call->policy->api_keys[i]};
                call->done(call, NULL);
                return;
            }
    } else if (strncmp(cred, "tok:", 4) == 0) {
        call->principal = (pz_principal){.kind = PZ_PRINCIPAL_TOKEN, .name = cred + 4, .user_id = cred + 4};
        call->done(call, NULL);
        return;
    }
    call->done(call, &(pz_error){PZ_UNAUTHENTICATED, "Authentication", "InvalidApiKey", "not valid"});
}

static const char AUTH_CONFIG[] =
    "{\"cacheControl\":{\"userSpecified\":{\"maxAge\":60,\"directives\":\"private\"},"
    "\"syntheticUserSpecified\":{\"maxAge\":60,\"directives\":\"public\"},"
    "\"noUserSpecified\":{\"maxAge\":60,\"directives\":\"public\"}},"
    "\"auth\":{\"jwt\":{\"jwksFile\":\"/nonexistent\",\"issuer\":\"i\",\"userIdClaim\":\"sub\"},"
    "\"apiKeys\":[{\"name\":\"backend\",\"sha256\":\"" HASH_A "\",\"namespaces\":[\"*\"],"
    "\"scopes\":[\"inference\",\"events\"]},{\"name\":\"ops\",\"sha256\":\"" HASH_B "\",\"namespaces\":[\"*\"],"
    "\"scopes\":[\"admin\"]}]}," NS ",\"open\":{\"auth\":{\"rateLimits\":{\"perClientAddress\":{"
    "\"requestsPerSecond\":1}}},\"recommenders\":{\"recommend-items\":{\"r\":{\"variations\":{\"v\":{\"type\":"
    "\"builtin\"}}}}}}}}";

typedef struct fixture {
    pz_config_holder *holder;
    fake_recommender recommender;
    fake_event_sink events;
    fake_auth auth;
    pz_cache *cache;
    pz_service *svc;
    int done;
} fixture;

static void count_done(pz_request *req)
{
    (*(int *)req->front_data)++;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    pz_config_problems p;
    pz_config *cfg = parse(AUTH_CONFIG, &p);
    for (size_t i = 0; i < p.n; i++)
        fprintf(stderr, "%s: %s\n", p.items[i].path, p.items[i].message);
    assert_non_null(cfg);
    pz_config_problems_free(&p);
    f->holder = pz_config_holder_create(cfg, NULL);
    f->cache = pz_cache_create(&(pz_cache_options){.capacity_bytes = 1 << 20, .purge_settle_ms = -1});
    pz_service_options o = {.config = f->holder,
                            .recommender = fake_recommender_port(&f->recommender),
                            .events = fake_event_sink_port(&f->events),
                            .authenticator = {.self = &f->auth, .authenticate = fake_authenticate},
                            .cache = f->cache,
                            .render_json = pz_message_to_json};
    f->svc = pz_service_create(&o);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pz_service_shutdown(f->svc);
    pz_service_destroy(f->svc);
    pz_cache_destroy(f->cache);
    pz_config_holder_destroy(f->holder);
    free(f);
    return 0;
}

typedef struct call {
    pz_arena arena;
    pz_request req;
    pz_header headers[2];
} call;

static void start(fixture *f, call *c, pz_rpc rpc, ProtobufCMessage *msg, const char *header, const char *value)
{
    pz_arena_init(&c->arena);
    pz_request_init(&c->req, &c->arena);
    c->req.rpc = rpc;
    c->req.message = msg;
    c->req.on_done = count_done;
    c->req.front_data = &f->done;
    c->req.client_addr = "10.0.0.1:5000";
    if (header != NULL) {
        c->headers[0] = (pz_header){header, strlen(header), value, strlen(value)};
        c->req.headers = c->headers;
        c->req.n_headers = 1;
    }
    f->done = 0;
    if (rpc == PZ_RPC__COUNT)
        pz_service_admit_admin(f->svc, &c->req);
    else
        pz_service_handle(f->svc, &c->req);
}

static Personalization__V1__RecommendItemsRequest recommend(const char *ns, const char *user)
{
    Personalization__V1__RecommendItemsRequest m = PERSONALIZATION__V1__RECOMMEND_ITEMS_REQUEST__INIT;
    m.namespace_ = (char *)ns;
    m.recommender = "r";
    m.user_id = (char *)user;
    m.num_results = 3;
    return m;
}

static void test_inference_needs_credentials_with_challenges(void **state)
{
    fixture *f = *state;
    Personalization__V1__RecommendItemsRequest m = recommend("shop", "u1");
    call c;
    start(f, &c, PZ_RPC_RECOMMEND_ITEMS, &m.base, NULL, NULL);
    assert_int_equal(f->done, 1);
    assert_int_equal(c.req.status, PZ_UNAUTHENTICATED);
    assert_string_equal(c.req.error.code, "MissingCredentials");
    assert_string_equal(c.req.hints.www_authenticate,
                        "Bearer realm=\"personalization\", ApiKey realm=\"personalization\"");
    assert_int_equal(f->auth.calls, 0); /* refused without asking the port */
    assert_int_equal(f->recommender.calls, 0);
    pz_arena_destroy(&c.arena);

    start(f, &c, PZ_RPC_RECOMMEND_ITEMS, &m.base, "authorization", "Basic abc");
    assert_string_equal(c.req.error.code, "InvalidAuthorizationHeader");
    pz_arena_destroy(&c.arena);
    start(f, &c, PZ_RPC_RECOMMEND_ITEMS, &m.base, "authorization", "bearer   tok:u1  ");
    assert_int_equal(c.req.status, PZ_OK); /* the scheme is case-insensitive, spaces trimmed */
    assert_int_equal(f->auth.last_kind, PZ_CREDENTIAL_BEARER);
    assert_string_equal(c.req.principal, "token:u1");
    pz_arena_destroy(&c.arena);
    start(f, &c, PZ_RPC_RECOMMEND_ITEMS, &m.base, "x-api-key", "key:nobody");
    assert_int_equal(c.req.status, PZ_UNAUTHENTICATED);
    assert_non_null(strstr(c.req.hints.www_authenticate, "ApiKey"));
    pz_arena_destroy(&c.arena);
}

static void test_authorization_comes_before_the_cache(void **state)
{
    fixture *f = *state;
    Personalization__V1__RecommendItemsRequest m = recommend("shop", "u2");
    call c;
    start(f, &c, PZ_RPC_RECOMMEND_ITEMS, &m.base, "x-api-key", "key:backend"); /* u2's entry is cached */
    assert_int_equal(c.req.status, PZ_OK);
    assert_int_equal(f->recommender.calls, 1);
    pz_arena_destroy(&c.arena);
    start(f, &c, PZ_RPC_RECOMMEND_ITEMS, &m.base, "authorization", "Bearer tok:u1");
    assert_int_equal(c.req.status, PZ_PERMISSION_DENIED);
    assert_string_equal(c.req.error.code, "UserMismatch");
    assert_null(c.req.hints.cache); /* the cache was never consulted */
    pz_arena_destroy(&c.arena);
    start(f, &c, PZ_RPC_RECOMMEND_ITEMS, &m.base, "authorization", "Bearer tok:u2");
    assert_int_equal(c.req.status, PZ_OK);
    assert_string_equal(c.req.hints.cache, "hit");
    pz_arena_destroy(&c.arena);
    /* an unknown namespace is not revealed before authentication */
    Personalization__V1__RecommendItemsRequest nowhere = recommend("nowhere", "u1");
    start(f, &c, PZ_RPC_RECOMMEND_ITEMS, &nowhere.base, NULL, NULL);
    assert_int_equal(c.req.status, PZ_UNAUTHENTICATED);
    pz_arena_destroy(&c.arena);
}

static void test_throttled_calls_carry_retry_after(void **state)
{
    fixture *f = *state;
    f->auth.limit = true;
    Personalization__V1__RecommendItemsRequest m = recommend("open", "u1");
    call c;
    start(f, &c, PZ_RPC_RECOMMEND_ITEMS, &m.base, NULL, NULL); /* a limited namespace without a scheme */
    assert_int_equal(c.req.status, PZ_RESOURCE_EXHAUSTED);
    assert_string_equal(c.req.hints.retry_after, "7");
    assert_int_equal(f->auth.last_kind, PZ_CREDENTIAL_NONE);
    assert_null(c.req.hints.www_authenticate);
    pz_arena_destroy(&c.arena);
}

static void test_authentication_may_complete_later(void **state)
{
    fixture *f = *state;
    f->auth.hold = true;
    Personalization__V1__RecommendItemsRequest m = recommend("shop", "u3");
    call c;
    start(f, &c, PZ_RPC_RECOMMEND_ITEMS, &m.base, "authorization", "Bearer tok:u3");
    assert_int_equal(f->done, 0);
    assert_non_null(f->auth.held);
    pz_auth_call *held = f->auth.held;
    held->principal = (pz_principal){.kind = PZ_PRINCIPAL_TOKEN, .name = "u3", .user_id = "u3"};
    held->done(held, NULL);
    assert_int_equal(f->done, 1);
    assert_int_equal(c.req.status, PZ_OK);
    pz_arena_destroy(&c.arena);
}

/* A PutEvents message for user u2; built afresh for each call, since an admitted call fills in
 * defaults (event ids, times) from its request's arena. */
typedef struct events_call {
    Personalization__V1__Event ev;
    Personalization__V1__Event *list[1];
    Personalization__V1__PutEventsRequest m;
} events_call;

static ProtobufCMessage *events_for_u2(events_call *e)
{
    e->ev = (Personalization__V1__Event)PERSONALIZATION__V1__EVENT__INIT;
    e->ev.event_type = "click";
    e->ev.item_id = "i1";
    e->list[0] = &e->ev;
    e->m = (Personalization__V1__PutEventsRequest)PERSONALIZATION__V1__PUT_EVENTS_REQUEST__INIT;
    e->m.namespace_ = "shop";
    e->m.session_id = "s";
    e->m.user_id = "u2";
    e->m.event_list = e->list;
    e->m.n_event_list = 1;
    return &e->m.base;
}

static void test_put_events_are_bound_to_the_token_user(void **state)
{
    fixture *f = *state;
    events_call e;
    call c;
    start(f, &c, PZ_RPC_PUT_EVENTS, events_for_u2(&e), "authorization", "Bearer tok:u1");
    assert_int_equal(c.req.status, PZ_PERMISSION_DENIED);
    assert_int_equal(f->events.submissions, 0);
    pz_arena_destroy(&c.arena);
    start(f, &c, PZ_RPC_PUT_EVENTS, events_for_u2(&e), "x-api-key", "key:ops");
    assert_int_equal(c.req.status, PZ_PERMISSION_DENIED);
    assert_string_equal(c.req.error.code, "InsufficientScope");
    pz_arena_destroy(&c.arena);
    start(f, &c, PZ_RPC_PUT_EVENTS, events_for_u2(&e), "authorization", "Bearer tok:u2");
    assert_int_equal(c.req.status, PZ_OK);
    assert_int_equal(f->events.submissions, 1);
    pz_arena_destroy(&c.arena);
    start(f, &c, PZ_RPC_PUT_EVENTS, events_for_u2(&e), NULL, NULL);
    assert_int_equal(c.req.status, PZ_UNAUTHENTICATED);
    pz_arena_destroy(&c.arena);
}

static void test_admin_needs_the_admin_scope(void **state)
{
    fixture *f = *state;
    call c;
    start(f, &c, PZ_RPC__COUNT, NULL, NULL, NULL);
    assert_int_equal(c.req.status, PZ_UNAUTHENTICATED);
    pz_arena_destroy(&c.arena);
    start(f, &c, PZ_RPC__COUNT, NULL, "x-api-key", "key:backend");
    assert_int_equal(c.req.status, PZ_PERMISSION_DENIED);
    pz_arena_destroy(&c.arena);
    start(f, &c, PZ_RPC__COUNT, NULL, "authorization", "Bearer tok:u1");
    assert_int_equal(c.req.status, PZ_PERMISSION_DENIED); /* tokens: only through requiredScopes.admin */
    pz_arena_destroy(&c.arena);
    start(f, &c, PZ_RPC__COUNT, NULL, "x-api-key", "key:ops");
    assert_int_equal(c.req.status, PZ_OK);
    assert_null(c.req.response);
    pz_arena_destroy(&c.arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_auth_block_requires_nothing),
        cmocka_unit_test(test_auth_block_with_defaults_and_namespace_override),
        cmocka_unit_test(test_auth_block_errors_name_their_path_and_never_quote_hashes),
        cmocka_unit_test(test_keys_file_uses_the_same_rules),
        cmocka_unit_test(test_authorize_decisions),
        cmocka_unit_test_setup_teardown(test_inference_needs_credentials_with_challenges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authorization_comes_before_the_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttled_calls_carry_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authentication_may_complete_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_events_are_bound_to_the_token_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_needs_the_admin_scope, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
