/* Tests for server/auth/auth.c, the authenticator port: API keys inline and from a keys file,
 * bearer tokens verified with a JWKS file and then remembered, the three rate limits in order
 * (address first), and the counters of /admin/auth/stats (which name no key). Calls complete
 * inline here: the JWKS is a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/auth/auth.h"
#include "server/auth/digest.h"
#include "tests/unit/auth/test_keys.h"

#define ISS "https://issuer.example/pool"

typedef struct fixture {
    char dir[64], jwks[128], keys_file[128];
    test_key key;
    pz_config *cfg;
    pz_auth *auth;
    pz_authenticator port;
} fixture;

static void sha_hex(const char *key, char *out)
{
    unsigned char d[PZ_SHA256_LEN];
    pz_sha256(key, strlen(key), d);
    for (int i = 0; i < PZ_SHA256_LEN; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/pz-auth-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->jwks, sizeof f->jwks, "%s/jwks.json", f->dir);
    snprintf(f->keys_file, sizeof f->keys_file, "%s/keys.json", f->dir);
    f->key = test_key_new(0);
    char jwk[1024], doc[2048], inline_hash[65], file_hash[65], slow_hash[65], old_hash[65], config[4096];
    test_key_jwk(&f->key, "k1", 1, jwk, sizeof jwk);
    snprintf(doc, sizeof doc, "{\"keys\":[%s]}", jwk);
    write_text(f->jwks, doc);
    sha_hex("inline-key", inline_hash);
    sha_hex("file-key", file_hash);
    sha_hex("slow-key", slow_hash);
    sha_hex("old-key", old_hash);
    snprintf(
        doc, sizeof doc,
        "{\"apiKeys\":[{\"name\":\"from-file\",\"sha256\":\"%s\",\"namespaces\":[\"*\"],\"scopes\":[\"events\"]}]}",
        file_hash);
    write_text(f->keys_file, doc);
    snprintf(config, sizeof config,
             "{\"auth\":{\"jwt\":{\"jwksFile\":\"%s\",\"issuer\":\"" ISS "\"},"
             "\"apiKeys\":[{\"name\":\"inline\",\"sha256\":\"%s\",\"namespaces\":[\"*\"],\"scopes\":[\"inference\"]},"
             "{\"name\":\"slow\",\"sha256\":\"%s\",\"namespaces\":[\"*\"],\"scopes\":[\"inference\"],"
             "\"rateLimit\":{\"requestsPerSecond\":1,\"burst\":2}},"
             "{\"name\":\"old\",\"sha256\":\"%s\",\"namespaces\":[\"*\"],\"scopes\":[\"inference\"],"
             "\"expires\":\"2020-01-01T00:00:00Z\"}],"
             "\"apiKeysFile\":\"%s\",\"rateLimits\":{\"perSubject\":{\"requestsPerSecond\":1,\"burst\":3},"
             "\"perClientAddress\":{\"requestsPerSecond\":1,\"burst\":20}}},"
             "\"namespaces\":{\"shop\":{\"eventTargets\":[{\"type\":\"builtin\"}]}}}",
             f->jwks, inline_hash, slow_hash, old_hash, f->keys_file);
    pz_config_problems p;
    pz_config_problems_init(&p);
    f->cfg = pz_config_parse(config, strlen(config), &p);
    for (size_t i = 0; i < p.n; i++)
        fprintf(stderr, "%s: %s\n", p.items[i].path, p.items[i].message);
    assert_non_null(f->cfg);
    pz_config_problems_free(&p);
    f->auth = pz_auth_create(&(pz_auth_options){0});
    pz_auth_prepare(f->auth, f->cfg);
    f->port = pz_auth_port(f->auth);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pz_auth_drain(f->auth, 0);
    pz_auth_destroy(f->auth);
    pz_config_unref(f->cfg);
    test_key_free(&f->key);
    unlink(f->jwks);
    unlink(f->keys_file);
    rmdir(f->dir);
    free(f);
    return 0;
}

typedef struct outcome {
    int done;
    pz_status status;
    const char *code;
    pz_principal principal;
    int retry_after_s;
} outcome;

static void record(pz_auth_call *call, const pz_error *err)
{
    outcome *o = call->done_ctx;
    o->done++;
    o->status = err != NULL ? err->status : PZ_OK;
    o->code = err != NULL ? err->code : NULL;
    o->principal = call->principal;
    o->retry_after_s = call->retry_after_s;
}

/* One call, completed inline; strings of the outcome live in arena. */
static outcome call(fixture *f, pz_credential_kind kind, const char *credential, const char *addr, int64_t now_ms,
                    pz_arena *arena)
{
    outcome o = {0};
    pz_auth_call c = {.policy = pz_config_auth(f->cfg),
                      .credential_kind = kind,
                      .credential = credential,
                      .credential_len = credential ? strlen(credential) : 0,
                      .client_addr = addr,
                      .now_ms = now_ms,
                      .arena = arena,
                      .done = record,
                      .done_ctx = &o};
    f->port.authenticate(f->port.self, &c);
    assert_int_equal(o.done, 1);
    return o;
}

static void test_api_keys_inline_file_expired_and_limited(void **state)
{
    fixture *f = *state;
    pz_arena arena;
    pz_arena_init(&arena);
    outcome o = call(f, PZ_CREDENTIAL_API_KEY, "inline-key", "10.0.0.1:1", 1000, &arena);
    assert_int_equal(o.status, PZ_OK);
    assert_int_equal(o.principal.kind, PZ_PRINCIPAL_API_KEY);
    assert_string_equal(o.principal.name, "inline");
    o = call(f, PZ_CREDENTIAL_API_KEY, "file-key", "10.0.0.1:1", 1000, &arena);
    assert_int_equal(o.status, PZ_OK);
    assert_string_equal(o.principal.key->name, "from-file"); /* valid while the arena lives */
    o = call(f, PZ_CREDENTIAL_API_KEY, "guess", "10.0.0.1:1", 1000, &arena);
    assert_string_equal(o.code, "InvalidApiKey");
    o = call(f, PZ_CREDENTIAL_API_KEY, "old-key", "10.0.0.1:1", 1577836800000LL, &arena); /* its expiry */
    assert_string_equal(o.code, "ApiKeyExpired");
    assert_int_equal(call(f, PZ_CREDENTIAL_API_KEY, "old-key", "10.0.0.1:1", 1577836799999LL, &arena).status, PZ_OK);
    for (int i = 0; i < 2; i++)
        assert_int_equal(call(f, PZ_CREDENTIAL_API_KEY, "slow-key", "10.0.0.2:1", 1000, &arena).status, PZ_OK);
    o = call(f, PZ_CREDENTIAL_API_KEY, "slow-key", "10.0.0.2:1", 1000, &arena);
    assert_int_equal(o.status, PZ_RESOURCE_EXHAUSTED);
    assert_int_equal(o.retry_after_s, 1);
    assert_int_equal(call(f, PZ_CREDENTIAL_API_KEY, "slow-key", "10.0.0.2:1", 2000, &arena).status, PZ_OK);
    pz_arena_destroy(&arena);
}

static void test_the_address_limit_comes_first(void **state)
{
    fixture *f = *state;
    pz_arena arena;
    pz_arena_init(&arena);
    for (int i = 0; i < 20; i++)
        call(f, PZ_CREDENTIAL_API_KEY, "guess", "[2001:db8::1]:443", 5000, &arena);
    outcome o = call(f, PZ_CREDENTIAL_API_KEY, "inline-key", "[2001:db8::1]:444", 5000, &arena);
    assert_int_equal(o.status, PZ_RESOURCE_EXHAUSTED); /* the port does not matter, refusals count */
    o = call(f, PZ_CREDENTIAL_NONE, NULL, "[2001:db8::1]:445", 5000, &arena);
    assert_int_equal(o.status, PZ_RESOURCE_EXHAUSTED);
    assert_int_equal(call(f, PZ_CREDENTIAL_API_KEY, "inline-key", "[2001:db8::2]:1", 5000, &arena).status, PZ_OK);
    pz_arena_destroy(&arena);
}

static void test_tokens_are_verified_once_then_remembered(void **state)
{
    fixture *f = *state;
    char token[4096], claims[512];
    long now = (long)time(NULL);
    snprintf(claims, sizeof claims, "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"exp\":%ld,\"scope\":\"a b\"}", now + 600);
    test_token(&f->key, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", claims, token, sizeof token);
    pz_arena arena;
    pz_arena_init(&arena);
    int64_t now_ms = (int64_t)now * 1000;
    for (int i = 0; i < 3; i++) {
        outcome o = call(f, PZ_CREDENTIAL_BEARER, token, "10.0.0.3:1", now_ms, &arena);
        assert_int_equal(o.status, PZ_OK);
        assert_string_equal(o.principal.name, "alice");
        assert_int_equal(o.principal.n_scopes, 2);
    }
    outcome o = call(f, PZ_CREDENTIAL_BEARER, token, "10.0.0.3:1", now_ms, &arena);
    assert_int_equal(o.status, PZ_RESOURCE_EXHAUSTED); /* per subject: burst 3 */
    o = call(f, PZ_CREDENTIAL_BEARER, token, "10.0.0.3:1", (now + 601 + 60) * 1000LL, &arena);
    assert_string_equal(o.code, "TokenExpired"); /* remembered only until it expires */
    snprintf(claims, sizeof claims, "{\"iss\":\"" ISS "\",\"sub\":\"bob\",\"exp\":%ld}", now + 600);
    test_token(&f->key, "{\"alg\":\"ES256\",\"kid\":\"k9\"}", claims, token, sizeof token);
    o = call(f, PZ_CREDENTIAL_BEARER, token, "10.0.0.3:1", now_ms, &arena);
    assert_string_equal(o.code, "UnknownKeyId");

    pz_buf stats;
    pz_buf_init(&stats, 1 << 16);
    assert_int_equal(pz_auth_stats_json(f->auth, &stats), 0);
    assert_non_null(strstr(stats.data, "\"tokensVerified\":1,"));
    assert_non_null(strstr(stats.data, "\"tokenCacheHits\":3,")); /* the throttled one was a hit too */
    assert_non_null(strstr(stats.data, "\"throttledBySubject\":1"));
    assert_non_null(strstr(stats.data, "\"keys\":1"));
    assert_null(strstr(stats.data, "inline-key"));
    pz_buf_free(&stats);
    pz_arena_destroy(&arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_api_keys_inline_file_expired_and_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_address_limit_comes_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_are_verified_once_then_remembered, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
