/* Tests for server/upstream/aws.c: the credentials chain (environment, shared credentials and
 * config files with profiles, instance metadata disabled), region resolution, endpoints
 * (config key, per-service and global environment variables, the ignore switch, cn- regions) and
 * the typed signing description (pz_aws_signing_for, pz_aws_sign). The environment is set per test; the process is
 * single-threaded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/upstream/aws.h"

static const char *const VARS[] = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_KINESIS",
    "AWS_ENDPOINT_URL_PERSONALIZE_EVENTS",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_EC2_METADATA_DISABLED",
};

static char dir[512];

static int clean_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof VARS / sizeof VARS[0]; i++)
        unsetenv(VARS[i]);
    /* No real ~/.aws, no metadata probing. */
    char none[600];
    snprintf(none, sizeof none, "%s/none", dir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", none, 1);
    setenv("AWS_CONFIG_FILE", none, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    return 0;
}

static char *write_file(const char *name, const char *text)
{
    char *path = malloc(600);
    snprintf(path, 600, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_environment_credentials_win(void **state)
{
    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
    setenv("AWS_SESSION_TOKEN", "env-token", 1);
    char *creds = write_file("creds-env", "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = f\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", creds, 1);
    pz_aws *aws = pz_aws_create();
    pz_aws_credentials c;
    char err[512];
    assert_int_equal(pz_aws_get_credentials(aws, &c, err, sizeof err), 0);
    assert_string_equal(c.access_key_id, "AKIDENV");
    assert_string_equal(c.secret_access_key, "env-secret");
    assert_string_equal(c.session_token, "env-token");
    assert_int_equal(c.expires_ms, 0);
    pz_aws_destroy(aws);
    free(creds);
}

static void test_shared_files_with_a_profile(void **state)
{
    (void)state;
    char *creds = write_file("credentials", "# comment\n[default]\naws_access_key_id=AKIDDEFAULT\n"
                                            "aws_secret_access_key=d\n\n[ci]\n aws_access_key_id = AKIDCI \n"
                                            "aws_secret_access_key = ci-secret\naws_session_token = ci-token\n");
    char *config = write_file("config", "[default]\nregion = us-west-2\n[profile ci]\nregion = eu-central-1\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", creds, 1);
    setenv("AWS_CONFIG_FILE", config, 1);
    setenv("AWS_PROFILE", "ci", 1);
    pz_aws *aws = pz_aws_create();
    pz_aws_credentials c;
    char err[512], region[64];
    assert_int_equal(pz_aws_get_credentials(aws, &c, err, sizeof err), 0);
    assert_string_equal(c.access_key_id, "AKIDCI");
    assert_string_equal(c.secret_access_key, "ci-secret");
    assert_string_equal(c.session_token, "ci-token");
    pz_aws_region(aws, NULL, region, sizeof region);
    assert_string_equal(region, "eu-central-1"); /* the profile's region */
    setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
    pz_aws_region(aws, NULL, region, sizeof region);
    assert_string_equal(region, "ap-south-1");
    setenv("AWS_REGION", "sa-east-1", 1);
    pz_aws_region(aws, NULL, region, sizeof region);
    assert_string_equal(region, "sa-east-1");
    pz_aws_region(aws, "us-east-2", region, sizeof region);
    assert_string_equal(region, "us-east-2"); /* the config key wins */
    pz_aws_destroy(aws);

    /* keys may live in the config file too */
    char *only_config = write_file("config2", "[profile cfg]\naws_access_key_id=AKIDCFG\naws_secret_access_key=x\n");
    setenv("AWS_CONFIG_FILE", only_config, 1);
    setenv("AWS_PROFILE", "cfg", 1);
    aws = pz_aws_create();
    assert_int_equal(pz_aws_get_credentials(aws, &c, err, sizeof err), 0);
    assert_string_equal(c.access_key_id, "AKIDCFG");
    pz_aws_destroy(aws);
    free(creds);
    free(config);
    free(only_config);
}

static void test_no_credentials_says_what_was_tried(void **state)
{
    (void)state;
    pz_aws *aws = pz_aws_create();
    pz_aws_credentials c;
    char err[512], region[64];
    assert_int_equal(pz_aws_get_credentials(aws, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "AWS_ACCESS_KEY_ID"));
    assert_non_null(strstr(err, "AWS_EC2_METADATA_DISABLED"));
    pz_aws_region(aws, NULL, region, sizeof region);
    assert_string_equal(region, "");
    pz_aws_destroy(aws);
}

static void test_endpoints(void **state)
{
    (void)state;
    char out[256];
    pz_aws_endpoint(PZ_AWS_KINESIS, "eu-west-1", NULL, out, sizeof out);
    assert_string_equal(out, "https://kinesis.eu-west-1.amazonaws.com");
    pz_aws_endpoint(PZ_AWS_PERSONALIZE_EVENTS, "us-east-1", NULL, out, sizeof out);
    assert_string_equal(out, "https://personalize-events.us-east-1.amazonaws.com");
    pz_aws_endpoint(PZ_AWS_FIREHOSE, "cn-north-1", NULL, out, sizeof out);
    assert_string_equal(out, "https://firehose.cn-north-1.amazonaws.com.cn");
    pz_aws_endpoint(PZ_AWS_SAGEMAKER_RUNTIME, "us-east-1", NULL, out, sizeof out);
    assert_string_equal(out, "https://runtime.sagemaker.us-east-1.amazonaws.com");
    setenv("AWS_ENDPOINT_URL", "http://localhost:4566/", 1);
    pz_aws_endpoint(PZ_AWS_KINESIS, "eu-west-1", NULL, out, sizeof out);
    assert_string_equal(out, "http://localhost:4566");
    setenv("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:9000", 1);
    pz_aws_endpoint(PZ_AWS_KINESIS, "eu-west-1", NULL, out, sizeof out);
    assert_string_equal(out, "http://127.0.0.1:9000");
    pz_aws_endpoint(PZ_AWS_FIREHOSE, "eu-west-1", NULL, out, sizeof out);
    assert_string_equal(out, "http://localhost:4566"); /* the global one for the others */
    pz_aws_endpoint(PZ_AWS_KINESIS, "eu-west-1", "https://vpce-1.example//", out, sizeof out);
    assert_string_equal(out, "https://vpce-1.example"); /* the config key wins */
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
    pz_aws_endpoint(PZ_AWS_KINESIS, "eu-west-1", NULL, out, sizeof out);
    assert_string_equal(out, "https://kinesis.eu-west-1.amazonaws.com");
}

/* The scope of pz_aws_signing_for (region and signing name), written "aws:amz:REGION:SERVICE" so
 * the expectations read as before the signing description was typed. */
static void signing_scope(pz_aws *aws, pz_aws_service service, const char *region, char *out, size_t outlen)
{
    pz_aws_signing s;
    char err[256];
    assert_int_equal(pz_aws_signing_for(aws, service, region, &s, err, sizeof err), 0);
    snprintf(out, outlen, "aws:amz:%s:%s", s.region, s.service);
}

static void test_signing_description(void **state)
{
    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "AKIDSIGN", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "sign-secret", 1);
    setenv("AWS_SESSION_TOKEN", "sign-token", 1);
    pz_aws *aws = pz_aws_create();
    char out[128];
    signing_scope(aws, PZ_AWS_PERSONALIZE_EVENTS, "eu-west-1", out, sizeof out);
    assert_string_equal(out, "aws:amz:eu-west-1:personalize");
    signing_scope(aws, PZ_AWS_FIREHOSE, "us-east-1", out, sizeof out);
    assert_string_equal(out, "aws:amz:us-east-1:firehose");
    signing_scope(aws, PZ_AWS_SAGEMAKER_RUNTIME, "us-east-1", out, sizeof out);
    assert_string_equal(out, "aws:amz:us-east-1:sagemaker");
    signing_scope(aws, PZ_AWS_DYNAMODB, "", out, sizeof out);
    assert_string_equal(out, "aws:amz:us-east-1:dynamodb"); /* no region: the default one */
    /* the credentials travel with the scope, session token included */
    pz_aws_signing s;
    char err[256];
    assert_int_equal(pz_aws_signing_for(aws, PZ_AWS_KINESIS, "eu-west-1", &s, err, sizeof err), 0);
    assert_string_equal(s.creds.access_key_id, "AKIDSIGN");
    assert_string_equal(s.creds.secret_access_key, "sign-secret");
    assert_string_equal(s.creds.session_token, "sign-token");
    pz_aws_destroy(aws);
    /* no provider: no credentials, said so */
    assert_int_equal(pz_aws_signing_for(NULL, PZ_AWS_KINESIS, "eu-west-1", &s, err, sizeof err), -1);
    assert_string_equal(err, "no AWS credentials provider");
}

/* pz_aws_sign puts the session token in a signed X-Amz-Security-Token line of its own. */
static void test_sign_adds_the_session_token(void **state)
{
    (void)state;
    pz_aws_signing s = {.region = "eu-west-1",
                        .service = "kinesis",
                        .creds = {.access_key_id = "AK", .secret_access_key = "sk", .session_token = "tok"}};
    const char *headers[] = {"Content-Type: application/x-amz-json-1.1"};
    pz_sigv4_headers h;
    assert_int_equal(
        pz_aws_sign(&s, "POST", "https://kinesis.eu-west-1.amazonaws.com/", headers, 1, "{}", 2, 1704067200, &h), 0);
    assert_string_equal(h.security_token, "X-Amz-Security-Token: tok");
    assert_string_equal(h.host, "Host: kinesis.eu-west-1.amazonaws.com");
    assert_non_null(strstr(h.authorization, "Credential=AK/20240101/eu-west-1/kinesis/aws4_request, "
                                            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "));
    s.creds.session_token[0] = '\0';
    assert_int_equal(
        pz_aws_sign(&s, "POST", "https://kinesis.eu-west-1.amazonaws.com/", headers, 1, "{}", 2, 1704067200, &h), 0);
    assert_string_equal(h.security_token, "");
    assert_non_null(strstr(h.authorization, "SignedHeaders=content-type;host;x-amz-date, "));
}

int main(void)
{
    const char *tmp = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s", tmp);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_environment_credentials_win, clean_env),
        cmocka_unit_test_setup(test_shared_files_with_a_profile, clean_env),
        cmocka_unit_test_setup(test_no_credentials_says_what_was_tried, clean_env),
        cmocka_unit_test_setup(test_endpoints, clean_env),
        cmocka_unit_test_setup(test_signing_description, clean_env),
        cmocka_unit_test_setup(test_sign_adds_the_session_token, clean_env),
    };
    return cmocka_run_group_tests_name("upstream_aws", tests, NULL, NULL);
}
