/* Tests for server/upstream/sigv4.c against known answers computed with botocore's SigV4Auth
 * (python3-botocore, the same reference the integration fakes verify with): the expected
 * Authorization values below were generated once with botocore for the same requests (Host and
 * X-Amz-Date given as this signer sends them). Also the signing key cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/upstream/sigv4.h"

static pz_sigv4_headers sign(const char *method, const char *url, const char *const *headers, size_t n,
                             const char *body, const char *region, const char *service, const char *akid,
                             const char *secret, time_t now)
{
    pz_sigv4_request r = {.method = method,
                          .url = url,
                          .headers = headers,
                          .n_headers = n,
                          .body = body,
                          .body_len = body != NULL ? strlen(body) : 0,
                          .region = region,
                          .service = service,
                          .access_key_id = akid,
                          .secret_access_key = secret,
                          .now = now};
    pz_sigv4_headers h;
    assert_int_equal(pz_sigv4_sign(&r, &h), 0);
    return h;
}

/* DynamoDB BatchGetItem: POST / with a JSON body and X-Amz-Target, no session token. */
static void test_post_json_with_target(void **state)
{
    (void)state;
    const char *headers[] = {"Content-Type: application/x-amz-json-1.0",
                             "X-Amz-Target: DynamoDB_20120810.BatchGetItem"};
    pz_sigv4_headers h = sign("POST", "https://dynamodb.us-east-1.amazonaws.com/", headers, 2,
                              "{\"RequestItems\":{\"items\":{\"Keys\":[{\"id\":{\"S\":\"42\"}}]}}}", "us-east-1",
                              "dynamodb", "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1440938160);
    assert_string_equal(h.host, "Host: dynamodb.us-east-1.amazonaws.com");
    assert_string_equal(h.amz_date, "X-Amz-Date: 20150830T123600Z");
    assert_string_equal(
        h.authorization,
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
        "Signature=ab6f8f855d3dc0073665c7b874133366b06d10dc5cf128fe2211c2a1b88f6010");
}

/* Lambda Invoke with a percent-encoded path (a full function ARN: "%3A" signs as "%253A"), a
 * Qualifier query, a port in the host and a session token. */
static void test_encoded_path_query_token(void **state)
{
    (void)state;
    const char *headers[] = {"Content-Type: application/json", "X-Amz-Invocation-Type: RequestResponse",
                             "X-Amz-Security-Token: tok/en+123="};
    pz_sigv4_headers h = sign(
        "POST",
        "http://127.0.0.1:8443/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Amy-fn/"
        "invocations?Qualifier=live",
        headers, 3, "{\"userId\":\"u1\",\"numResults\":10}", "eu-west-1", "lambda", "ASIATEST", "fake/secret+key",
        1709251199);
    assert_string_equal(h.host, "Host: 127.0.0.1:8443");
    assert_string_equal(h.amz_date, "X-Amz-Date: 20240229T235959Z");
    assert_string_equal(h.authorization,
                        "Authorization: AWS4-HMAC-SHA256 Credential=ASIATEST/20240229/eu-west-1/lambda/aws4_request, "
                        "SignedHeaders=content-type;host;x-amz-date;x-amz-invocation-type;x-amz-security-token, "
                        "Signature=85d0b659a35c808742cd60088508bfd979313902b5ef28e57c1aa63096c434b6");
}

/* GET with dot and empty path segments, an encoded space, and an unsorted query with a repeated
 * key, a key without a value and an encoded value. */
static void test_get_path_normalization_and_query(void **state)
{
    (void)state;
    const char *headers[] = {"Accept: application/json"};
    pz_sigv4_headers h =
        sign("GET", "https://example.amazonaws.com/a/./b//c/../d%20e/?b=2&a=3&a=1&c&Z=%2F", headers, 1, NULL,
             "us-west-2", "execute-api", "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1704067200);
    assert_string_equal(h.authorization,
                        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-west-2/execute-api/"
                        "aws4_request, SignedHeaders=accept;host;x-amz-date, "
                        "Signature=cf48bf43a31d7b9c00396d7ddeb7d502d8661747b1700bfcb8fbd45b1015b15f");
}

/* Personalize GetRecommendations with a session token; header values are trimmed and inner runs of
 * spaces collapsed. */
static void test_session_token_and_trimming(void **state)
{
    (void)state;
    const char *headers[] = {"Content-Type:   application/json ", "X-Amz-Security-Token: FwoGZXIvYXdzEBY  abc"};
    pz_sigv4_headers h = sign("POST", "https://personalize-runtime.us-east-1.amazonaws.com/recommendations", headers, 2,
                              "{\"campaignArn\":\"arn:aws:personalize:us-east-1:1:campaign/c\",\"userId\":\"u\"}",
                              "us-east-1", "personalize", "ASIAXYZ", "s3cr3t", 1718446210);
    assert_string_equal(h.authorization,
                        "Authorization: AWS4-HMAC-SHA256 Credential=ASIAXYZ/20240615/us-east-1/personalize/"
                        "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
                        "Signature=b7511bd53d90f3b9b4ab4e845f5a8ce50aed8e308229b8982019252a2b0bc8a7");
}

/* A session token given as session_token signs exactly as the same token given as a header (the
 * known answer above), and comes back as the X-Amz-Security-Token line to send. */
static void test_session_token_field(void **state)
{
    (void)state;
    const char *headers[] = {"Content-Type:   application/json "};
    const char *body = "{\"campaignArn\":\"arn:aws:personalize:us-east-1:1:campaign/c\",\"userId\":\"u\"}";
    pz_sigv4_request r = {.method = "POST",
                          .url = "https://personalize-runtime.us-east-1.amazonaws.com/recommendations",
                          .headers = headers,
                          .n_headers = 1,
                          .body = body,
                          .body_len = strlen(body),
                          .region = "us-east-1",
                          .service = "personalize",
                          .access_key_id = "ASIAXYZ",
                          .secret_access_key = "s3cr3t",
                          .session_token = "FwoGZXIvYXdzEBY  abc",
                          .now = 1718446210};
    pz_sigv4_headers h;
    assert_int_equal(pz_sigv4_sign(&r, &h), 0);
    assert_string_equal(h.security_token, "X-Amz-Security-Token: FwoGZXIvYXdzEBY  abc");
    assert_string_equal(h.authorization,
                        "Authorization: AWS4-HMAC-SHA256 Credential=ASIAXYZ/20240615/us-east-1/personalize/"
                        "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
                        "Signature=b7511bd53d90f3b9b4ab4e845f5a8ce50aed8e308229b8982019252a2b0bc8a7");
    r.session_token = NULL;
    assert_int_equal(pz_sigv4_sign(&r, &h), 0);
    assert_string_equal(h.security_token, "");
}

/* The signing key is derived once per (secret, date, region, service): reused for a later request
 * the same day, derived again the next day and for another service. */
static void test_signing_key_cache(void **state)
{
    (void)state;
    const char *headers[] = {"Content-Type: application/json"};
    const time_t day = 1893456000; /* 2030-01-01T00:00:00Z: a date no other test signs for */
    unsigned long before = pz_sigv4_key_derivations();
    pz_sigv4_headers a =
        sign("POST", "https://h.example/x", headers, 1, "{}", "us-east-1", "personalize", "AK", "sk", day + 10);
    assert_int_equal(pz_sigv4_key_derivations(), before + 1);
    pz_sigv4_headers b =
        sign("POST", "https://h.example/x", headers, 1, "{}", "us-east-1", "personalize", "AK", "sk", day + 86399);
    assert_int_equal(pz_sigv4_key_derivations(), before + 1);  /* same day: cached */
    assert_string_not_equal(a.authorization, b.authorization); /* another time, another signature */
    sign("POST", "https://h.example/x", headers, 1, "{}", "us-east-1", "personalize", "AK", "sk", day + 86400);
    assert_int_equal(pz_sigv4_key_derivations(), before + 2); /* the next day */
    sign("POST", "https://h.example/x", headers, 1, "{}", "us-east-1", "lambda", "AK", "sk", day + 86400);
    assert_int_equal(pz_sigv4_key_derivations(), before + 3); /* another service */
    sign("POST", "https://h.example/x", headers, 1, "{}", "us-east-1", "personalize", "AK", "other", day + 86400);
    assert_int_equal(pz_sigv4_key_derivations(), before + 4); /* another secret */
    /* a cached key signs exactly like a fresh one: the known answer again, after it is cached */
    test_post_json_with_target(state);
    unsigned long n = pz_sigv4_key_derivations();
    test_post_json_with_target(state);
    assert_int_equal(pz_sigv4_key_derivations(), n);
}

static void test_rejects_bad_input(void **state)
{
    (void)state;
    const char *bad[] = {"no colon here"};
    pz_sigv4_request r = {.method = "GET",
                          .url = "https://h.example/",
                          .headers = bad,
                          .n_headers = 1,
                          .region = "us-east-1",
                          .service = "s",
                          .access_key_id = "AK",
                          .secret_access_key = "sk",
                          .now = 0};
    pz_sigv4_headers h;
    assert_int_equal(pz_sigv4_sign(&r, &h), -1);
    r.n_headers = 0;
    r.url = "not a url";
    assert_int_equal(pz_sigv4_sign(&r, &h), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_json_with_target),
        cmocka_unit_test(test_encoded_path_query_token),
        cmocka_unit_test(test_get_path_normalization_and_query),
        cmocka_unit_test(test_session_token_and_trimming),
        cmocka_unit_test(test_session_token_field),
        cmocka_unit_test(test_signing_key_cache),
        cmocka_unit_test(test_rejects_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
