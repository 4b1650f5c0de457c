/* Tests for server/auth/jwks.c and jwt.c: key sets (which keys are usable, bound to which algorithm)
 * and token verification, with tokens signed by the test itself through OpenSSL (test_keys.h),
 * including the RFC 8725 attacks. Time is a parameter: no sleeping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/auth/jwks.h"
#include "server/auth/jwt.h"
#include "tests/unit/auth/test_keys.h"

#define NOW_S 1800000000LL
#define NOW_MS (NOW_S * 1000)
#define ISS "https://issuer.example/pool"

static test_key rsa, ec, other_rsa;
static pz_jwks *keys;

static int setup(void **state)
{
    (void)state;
    rsa = test_key_new(2048);
    ec = test_key_new(0);
    other_rsa = test_key_new(2048);
    char a[2048], b[1024], doc[4096];
    test_key_jwk(&rsa, "r1", 1, a, sizeof a);
    test_key_jwk(&ec, "e1", 0, b, sizeof b);
    snprintf(doc, sizeof doc, "{\"keys\":[%s,%s,{\"kty\":\"oct\",\"kid\":\"h1\",\"k\":\"c2VjcmV0\"}]}", a, b);
    char err[128];
    keys = pz_jwks_parse(doc, strlen(doc), err, sizeof err);
    assert_non_null(keys);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pz_jwks_unref(keys);
    test_key_free(&rsa);
    test_key_free(&ec);
    test_key_free(&other_rsa);
    return 0;
}

static pz_jwt_policy policy(void)
{
    return (pz_jwt_policy){.issuer = ISS,
                           .leeway_seconds = 60,
                           .algorithms = (1u << PZ_JWT_RS256) | (1u << PZ_JWT_ES256),
                           .user_id_claim = "sub"};
}

/* Decodes, verifies and checks token under p at now_ms; returns NULL or the error code. */
static const char *verify(const char *token, const pz_jwt_policy *p, int64_t now_ms, pz_jwt_claims *claims,
                          pz_arena *arena)
{
    pz_jwt t;
    pz_error err;
    pz_jwt_claims local;
    if (!pz_jwt_decode(token, strlen(token), p->algorithms, arena, &t, &err))
        return err.code;
    const pz_jwk *k = pz_jwks_find(keys, t.kid);
    if (k == NULL)
        return "UnknownKeyId";
    if (!pz_jwt_verify_signature(&t, k, &err) ||
        !pz_jwt_check_claims(&t, p, now_ms, arena, claims ? claims : &local, &err)) {
        assert_int_equal(err.status, PZ_UNAUTHENTICATED);
        return err.code;
    }
    return NULL;
}

static void claims_json(char *out, size_t len, const char *extra)
{
    snprintf(out, len, "{\"iss\":\"" ISS "\",\"sub\":\"user-1\",\"exp\":%lld,\"iat\":%lld%s%s}", NOW_S + 3600,
             NOW_S - 10, extra[0] ? "," : "", extra);
}

static const char *check(const test_key *k, const char *header, const char *extra_claims, const pz_jwt_policy *p,
                         int64_t now_ms)
{
    static char token[20000];
    char claims[12000];
    claims_json(claims, sizeof claims, extra_claims);
    test_token(k, header, claims, token, sizeof token);
    pz_arena arena;
    pz_arena_init(&arena);
    const char *code = verify(token, p, now_ms, NULL, &arena);
    pz_arena_destroy(&arena);
    return code;
}

#define RS "{\"alg\":\"RS256\",\"kid\":\"r1\"}"
#define ES "{\"alg\":\"ES256\",\"kid\":\"e1\"}"

static void test_jwks_keeps_only_asymmetric_signing_keys(void **state)
{
    (void)state;
    assert_int_equal(pz_jwks_count(keys), 2); /* the "oct" key is never usable */
    assert_int_equal(pz_jwks_find(keys, "r1")->alg, PZ_JWT_RS256);
    assert_int_equal(pz_jwks_find(keys, "e1")->alg, PZ_JWT_ES256);
    assert_null(pz_jwks_find(keys, "h1"));
    test_key small = test_key_new(1024);
    char a[2048], b[1024], doc[8192], err[128];
    test_key_jwk(&small, "small", 0, a, sizeof a);
    test_key_jwk(&ec, "wrong-alg", 0, b, sizeof b);
    b[strlen(b) - 1] = '\0';
    strcat(b, ",\"alg\":\"RS256\"}");
    snprintf(doc, sizeof doc,
             "{\"keys\":[%s,%s,{\"kty\":\"EC\",\"kid\":\"off-curve\",\"crv\":\"P-256\",\"x\":"
             "\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"y\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"},"
             "{\"kty\":\"RSA\",\"kid\":\"enc\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"},"
             "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
             a, b);
    pz_jwks *s = pz_jwks_parse(doc, strlen(doc), err, sizeof err);
    assert_non_null(s);
    assert_int_equal(pz_jwks_count(s), 0); /* < 2048 bits, alg/kty mismatch, off curve, enc, no kid */
    pz_jwks_unref(s);
    test_key_free(&small);
    assert_null(pz_jwks_parse("[]", 2, err, sizeof err));
    assert_non_null(strstr(err, "keys"));
    assert_null(pz_jwks_parse("{", 1, err, sizeof err));
    char many[40000] = "{\"keys\":[";
    for (int i = 0; i <= PZ_JWKS_MAX_KEYS; i++)
        strcat(many, i ? ",{}" : "{}");
    strcat(many, "]}");
    assert_null(pz_jwks_parse(many, strlen(many), err, sizeof err));
}

static void test_jwks_keeps_tells_whether_keys_left(void **state)
{
    (void)state;
    char a[2048], b[2048], doc[4096], err[128];
    test_key_jwk(&rsa, "r1", 1, a, sizeof a);
    snprintf(doc, sizeof doc, "{\"keys\":[%s]}", a);
    pz_jwks *only_r1 = pz_jwks_parse(doc, strlen(doc), err, sizeof err);
    assert_true(pz_jwks_keeps(keys, only_r1));  /* r1 is still there */
    assert_false(pz_jwks_keeps(only_r1, keys)); /* e1 left */
    test_key_jwk(&other_rsa, "r1", 1, b, sizeof b);
    snprintf(doc, sizeof doc, "{\"keys\":[%s]}", b);
    pz_jwks *replaced = pz_jwks_parse(doc, strlen(doc), err, sizeof err);
    assert_false(pz_jwks_keeps(replaced, only_r1)); /* same kid, other key */
    pz_jwks_unref(only_r1);
    pz_jwks_unref(replaced);
}

static void test_valid_rs256_and_es256_tokens(void **state)
{
    (void)state;
    pz_jwt_policy p = policy();
    assert_null(check(&rsa, RS, "\"scope\":\"openid  api/read\"", &p, NOW_MS));
    assert_null(check(&ec, ES, "", &p, NOW_MS));
    char token[4096], claims[1024];
    claims_json(claims, sizeof claims, "\"scp\":[\"a\",\"b\"],\"client_id\":\"c\"");
    test_token(&ec, ES, claims, token, sizeof token);
    pz_arena arena;
    pz_arena_init(&arena);
    pz_jwt_claims c;
    assert_null(verify(token, &p, NOW_MS, &c, &arena));
    assert_string_equal(c.subject, "user-1");
    assert_string_equal(c.user_id, "user-1");
    assert_int_equal(c.n_scopes, 2);
    assert_string_equal(c.scopes[1], "b");
    assert_int_equal(c.expires_ms, (NOW_S + 3600) * 1000);
    pz_arena_destroy(&arena);
}

static void test_algorithm_attacks(void **state)
{
    (void)state;
    pz_jwt_policy p = policy();
    assert_string_equal(check(NULL, "{\"alg\":\"none\",\"kid\":\"r1\"}", "", &p, NOW_MS), "UnsupportedAlgorithm");
    assert_string_equal(check(&rsa, "{\"alg\":\"HS256\",\"kid\":\"r1\"}", "", &p, NOW_MS), "UnsupportedAlgorithm");
    assert_string_equal(check(&rsa, "{\"alg\":\"HS256\",\"kid\":\"h1\"}", "", &p, NOW_MS), "UnsupportedAlgorithm");
    assert_string_equal(check(&rsa, "{\"alg\":\"RS512\",\"kid\":\"r1\"}", "", &p, NOW_MS), "UnsupportedAlgorithm");
    /* ES256 signature presented as RS256 for the EC key, and the other way round */
    assert_string_equal(check(&ec, "{\"alg\":\"RS256\",\"kid\":\"e1\"}", "", &p, NOW_MS), "InvalidSignature");
    assert_string_equal(check(&rsa, "{\"alg\":\"ES256\",\"kid\":\"r1\"}", "", &p, NOW_MS), "InvalidSignature");
    /* the policy's allowlist wins over what the key set could verify */
    p.algorithms = 1u << PZ_JWT_RS256;
    assert_string_equal(check(&ec, ES, "", &p, NOW_MS), "UnsupportedAlgorithm");
    p = policy();
    assert_string_equal(check(&other_rsa, RS, "", &p, NOW_MS), "InvalidSignature"); /* someone else's key */
    assert_string_equal(check(&rsa, "{\"alg\":\"RS256\"}", "", &p, NOW_MS), "InvalidToken");
    assert_string_equal(check(&rsa, "{\"alg\":\"RS256\",\"kid\":\"r1\",\"crit\":[\"exp\"]}", "", &p, NOW_MS),
                        "InvalidToken");
    assert_string_equal(check(&rsa, "{\"alg\":\"RS256\",\"kid\":\"zz\"}", "", &p, NOW_MS), "UnknownKeyId");
}

static void test_tampering_and_malformed_tokens(void **state)
{
    (void)state;
    pz_jwt_policy p = policy();
    char token[4096], claims[1024], forged[1024], b64[2048];
    claims_json(claims, sizeof claims, "");
    test_token(&rsa, RS, claims, token, sizeof token);
    claims_json(forged, sizeof forged, "\"admin\":true");
    test_b64url(forged, strlen(forged), b64, sizeof b64);
    char *dot1 = strchr(token, '.'), *dot2 = strchr(dot1 + 1, '.');
    char swapped[8192];
    snprintf(swapped, sizeof swapped, "%.*s.%s%s", (int)(dot1 - token), token, b64, dot2);
    pz_arena arena;
    pz_arena_init(&arena);
    assert_string_equal(verify(swapped, &p, NOW_MS, NULL, &arena), "InvalidSignature");
    static const char *const malformed[] = {"", "a.b", "a.b.c.d", "eyJ!.eyJ.c2ln", "e30.e30.", "...", "e30.e30.c2l"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++)
        assert_non_null(verify(malformed[i], &p, NOW_MS, NULL, &arena));
    char sig_cut[4096];
    snprintf(sig_cut, sizeof sig_cut, "%s", token);
    sig_cut[strlen(sig_cut) - 3] = '\0';
    assert_non_null(verify(sig_cut, &p, NOW_MS, NULL, &arena));
    char big[PZ_JWT_MAX_BYTES + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_string_equal(verify(big, &p, NOW_MS, NULL, &arena), "TokenTooLarge");
    pz_arena_destroy(&arena);
}

static void test_time_claims_with_leeway(void **state)
{
    (void)state;
    pz_jwt_policy p = policy();
    int64_t exp_ms = (NOW_S + 3600) * 1000, leeway_ms = 60 * 1000;
    assert_null(check(&rsa, RS, "", &p, exp_ms + leeway_ms));
    assert_string_equal(check(&rsa, RS, "", &p, exp_ms + leeway_ms + 1), "TokenExpired");
    char nbf[64];
    snprintf(nbf, sizeof nbf, "\"nbf\":%lld", NOW_S + 120);
    assert_string_equal(check(&rsa, RS, nbf, &p, NOW_MS), "TokenNotYetValid");
    assert_null(check(&rsa, RS, nbf, &p, NOW_MS + 60 * 1000)); /* within the leeway */
    p.leeway_seconds = 0;
    assert_string_equal(check(&rsa, RS, nbf, &p, NOW_MS + 60 * 1000), "TokenNotYetValid");
    p = policy();
    char claims[256], token[4096];
    snprintf(claims, sizeof claims, "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"exp\":%lld,\"iat\":%lld}", NOW_S + 7200,
             NOW_S + 3600);
    test_token(&rsa, RS, claims, token, sizeof token);
    pz_arena arena;
    pz_arena_init(&arena);
    assert_string_equal(verify(token, &p, NOW_MS, NULL, &arena), "TokenNotYetValid"); /* issued in the future */
    snprintf(claims, sizeof claims, "{\"iss\":\"" ISS "\",\"sub\":\"u\"}");
    test_token(&rsa, RS, claims, token, sizeof token);
    assert_string_equal(verify(token, &p, NOW_MS, NULL, &arena), "InvalidToken"); /* no exp */
    snprintf(claims, sizeof claims, "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"exp\":\"soon\"}");
    test_token(&rsa, RS, claims, token, sizeof token);
    assert_string_equal(verify(token, &p, NOW_MS, NULL, &arena), "InvalidToken");
    pz_arena_destroy(&arena);
    pz_jwt_claims c = {.expires_ms = 1000, .not_before_ms = 500};
    assert_true(pz_jwt_claims_current(&c, 0, 1000));
    assert_false(pz_jwt_claims_current(&c, 0, 1001));
    assert_false(pz_jwt_claims_current(&c, 0, 499));
}

static void test_issuer_audience_client_and_token_use(void **state)
{
    (void)state;
    pz_jwt_policy p = policy();
    p.issuer = "https://issuer.example/other";
    assert_string_equal(check(&rsa, RS, "", &p, NOW_MS), "InvalidIssuer");
    p = policy();
    p.audience = "api://shop";
    assert_string_equal(check(&rsa, RS, "", &p, NOW_MS), "InvalidAudience");
    assert_string_equal(check(&rsa, RS, "\"aud\":\"api://elsewhere\"", &p, NOW_MS), "InvalidAudience");
    assert_null(check(&rsa, RS, "\"aud\":\"api://shop\"", &p, NOW_MS));
    assert_null(check(&rsa, RS, "\"aud\":[\"x\",\"api://shop\"]", &p, NOW_MS));
    p = policy();
    p.client_id = "client-1";
    assert_string_equal(check(&rsa, RS, "\"client_id\":\"client-2\"", &p, NOW_MS), "InvalidAudience");
    assert_null(check(&rsa, RS, "\"client_id\":\"client-1\"", &p, NOW_MS));
    p = policy();
    p.token_use = "access";
    assert_string_equal(check(&rsa, RS, "\"token_use\":\"id\"", &p, NOW_MS), "InvalidTokenUse");
    assert_string_equal(check(&rsa, RS, "", &p, NOW_MS), "InvalidTokenUse");
    assert_null(check(&rsa, RS, "\"token_use\":\"access\"", &p, NOW_MS));
    p = policy();
    p.user_id_claim = "username";
    assert_string_equal(check(&rsa, RS, "", &p, NOW_MS), "InvalidToken"); /* bound, but names no user */
    assert_null(check(&rsa, RS, "\"username\":\"alice\"", &p, NOW_MS));
    char many[4096] = "\"scope\":\"";
    for (int i = 0; i <= PZ_JWT_MAX_SCOPES; i++)
        strcat(many, "s ");
    strcat(many, "\"");
    assert_string_equal(check(&rsa, RS, many, &p, NOW_MS), "InvalidToken");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwks_keeps_only_asymmetric_signing_keys),
        cmocka_unit_test(test_jwks_keeps_tells_whether_keys_left),
        cmocka_unit_test(test_valid_rs256_and_es256_tokens),
        cmocka_unit_test(test_algorithm_attacks),
        cmocka_unit_test(test_tampering_and_malformed_tokens),
        cmocka_unit_test(test_time_claims_with_leeway),
        cmocka_unit_test(test_issuer_audience_client_and_token_use),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
