/* Tests for server/upstream/aws_errors.c: the one classifier of AWS error answers (classes, type
 * cleaning, messages), with the answers the recommenders and the event targets meet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/upstream/aws_errors.h"

typedef struct classify_case {
    long status;
    const char *header; /* X-Amzn-ErrorType */
    const char *body;
    pz_aws_error_class want;
    const char *type;
    const char *message;
} classify_case;

static void test_classes(void **state)
{
    (void)state;
    static const classify_case CASES[] = {
        /* not an error; a Lambda function error still has its type and message read */
        {200, NULL, "{\"itemList\":[]}", PZ_AWS_ERROR_NONE, "", ""},
        {200, NULL, "{\"errorMessage\":\"boom\",\"errorType\":\"KeyError\"}", PZ_AWS_ERROR_NONE, "KeyError", "boom"},
        /* throttling: 429, or a throttling type at any status */
        {429, "ThrottlingException:http://x", "{\"message\":\"Rate exceeded\"}", PZ_AWS_ERROR_THROTTLING,
         "ThrottlingException", "Rate exceeded"},
        {429, NULL, "", PZ_AWS_ERROR_THROTTLING, "", ""},
        {400, NULL, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException\"}",
         PZ_AWS_ERROR_THROTTLING, "ProvisionedThroughputExceededException", ""},
        {503, "SlowDown", "", PZ_AWS_ERROR_THROTTLING, "SlowDown", ""},
        /* the upstream or our setup: 5xx, 3xx, 401, 403, other 4xx; credentials at any status */
        {500, "ValidationException", "", PZ_AWS_ERROR_RETRYABLE, "ValidationException", ""},
        {503, NULL, "<html>Service Unavailable</html>", PZ_AWS_ERROR_RETRYABLE, "", "<html>Service Unavailable"},
        {302, NULL, "", PZ_AWS_ERROR_RETRYABLE, "", ""},
        {403, "AccessDeniedException", "{\"Message\":\"not authorized\"}", PZ_AWS_ERROR_RETRYABLE,
         "AccessDeniedException", "not authorized"},
        {403, "InvalidSignatureException", "", PZ_AWS_ERROR_RETRYABLE, "InvalidSignatureException", ""},
        {403, "ValidationException", "", PZ_AWS_ERROR_RETRYABLE, "ValidationException", ""},
        {424, "ModelError", "{\"message\":\"model died\"}", PZ_AWS_ERROR_RETRYABLE, "ModelError", "model died"},
        {400, NULL, "{\"__type\":\"com.amazon.coral.service#UnrecognizedClientException\"}", PZ_AWS_ERROR_RETRYABLE,
         "UnrecognizedClientException", ""},
        {400, "ExpiredTokenException", "", PZ_AWS_ERROR_RETRYABLE, "ExpiredTokenException", ""},
        /* the request can never succeed */
        {400, "ValidationException:http://internal.amazon.com/coral/com.amazon.coral.validate/", "",
         PZ_AWS_ERROR_PERMANENT, "ValidationException", ""},
        {400, NULL, "{\"__type\":\"InvalidArgumentException\",\"message\":\"bad record\"}", PZ_AWS_ERROR_PERMANENT,
         "InvalidArgumentException", "bad record"},
        {400, "InvalidInputException", "{\"message\":\"bad filter\"}", PZ_AWS_ERROR_PERMANENT, "InvalidInputException",
         "bad filter"},
        {400, NULL, "{\"code\":\"SerializationException\"}", PZ_AWS_ERROR_PERMANENT, "SerializationException", ""},
        {413, NULL, "", PZ_AWS_ERROR_PERMANENT, "", ""},
        {413, "RequestEntityTooLargeException", "", PZ_AWS_ERROR_PERMANENT, "RequestEntityTooLargeException", ""},
        /* the request's content was refused: whose fault depends on who wrote it */
        {404, "ResourceNotFoundException", "{}", PZ_AWS_ERROR_CALLER, "ResourceNotFoundException", ""},
        {400, NULL, "{\"__type\":\"com.amazonaws.kinesis.v20131202#ResourceNotFoundException\",\"message\":\"x\"}",
         PZ_AWS_ERROR_CALLER, "ResourceNotFoundException", "x"},
        {400, "InvalidRequestContentException", "{}", PZ_AWS_ERROR_CALLER, "InvalidRequestContentException", ""},
        {400, NULL, "", PZ_AWS_ERROR_CALLER, "", ""},
        {409, NULL, "", PZ_AWS_ERROR_CALLER, "", ""},
        {422, NULL, "{\"message\":\"unprocessable\"}", PZ_AWS_ERROR_CALLER, "", "unprocessable"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const classify_case *c = &CASES[i];
        pz_aws_error e;
        pz_aws_error_class cls = pz_aws_error_classify(c->status, c->header, c->body, strlen(c->body), &e);
        if (cls != c->want || strcmp(e.type, c->type) != 0 || strstr(e.message, c->message) == NULL)
            print_error("case %zu: class %d type '%s' message '%s'\n", i, (int)cls, e.type, e.message);
        assert_int_equal(cls, c->want);
        assert_int_equal(e.cls, c->want);
        assert_string_equal(e.type, c->type);
        assert_non_null(strstr(e.message, c->message));
    }
}

/* The header wins over the body's type; an empty header falls back to the body; the body's keys in
 * order "__type", "code", "Code", "errorType"; messages in order "message", "Message",
 * "errorMessage", cut at PZ_AWS_ERROR_MESSAGE_MAX bytes. */
static void test_type_and_message(void **state)
{
    (void)state;
    pz_aws_error e;
    const char *body = "{\"__type\":\"a#FromBody\",\"message\":\"m\"}";
    pz_aws_error_classify(400, "FromHeader:http://x#y", body, strlen(body), &e);
    assert_string_equal(e.type, "FromHeader");
    pz_aws_error_classify(400, "", body, strlen(body), &e);
    assert_string_equal(e.type, "FromBody");
    body = "{\"Code\":\"Second\",\"errorType\":\"Third\",\"Message\":\"M\",\"errorMessage\":\"E\"}";
    pz_aws_error_classify(400, NULL, body, strlen(body), &e);
    assert_string_equal(e.type, "Second");
    assert_string_equal(e.message, "M");
    pz_aws_error_classify(400, NULL, NULL, 0, &e);
    assert_string_equal(e.type, "");
    assert_string_equal(e.message, "");
    char big[1000] = "{\"message\":\"";
    size_t n = strlen(big);
    memset(big + n, 'x', 500);
    strcpy(big + n + 500, "\"}");
    pz_aws_error_classify(400, NULL, big, strlen(big), &e);
    assert_int_equal(strlen(e.message), PZ_AWS_ERROR_MESSAGE_MAX);
    /* a body that is not a JSON object: its start, printable bytes only */
    pz_aws_error_classify(502, NULL, "bad\ngateway\x01", 12, &e);
    assert_string_equal(e.message, "bad gateway ");
    pz_aws_error_classify(502, NULL, "[1]", 3, &e);
    assert_string_equal(e.message, "[1]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_type_and_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
