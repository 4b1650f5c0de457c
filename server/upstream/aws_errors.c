/* The AWS error classifier (aws_errors.h). */
#include "server/upstream/aws_errors.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* A body that is not JSON is quoted up to this many bytes. */
#define MAX_QUOTED_RAW 120

/* Error types whose meaning does not depend on the status they come with. */
static const struct {
    const char *type;
    pz_aws_error_class cls;
} TYPES[] = {
    /* throttling */
    {"ThrottlingException", PZ_AWS_ERROR_THROTTLING},
    {"Throttling", PZ_AWS_ERROR_THROTTLING},
    {"ThrottledException", PZ_AWS_ERROR_THROTTLING},
    {"TooManyRequestsException", PZ_AWS_ERROR_THROTTLING},
    {"ProvisionedThroughputExceededException", PZ_AWS_ERROR_THROTTLING},
    {"RequestLimitExceeded", PZ_AWS_ERROR_THROTTLING},
    {"RequestThrottled", PZ_AWS_ERROR_THROTTLING},
    {"RequestThrottledException", PZ_AWS_ERROR_THROTTLING},
    {"SlowDown", PZ_AWS_ERROR_THROTTLING},
    {"EC2ThrottledException", PZ_AWS_ERROR_THROTTLING},
    /* credentials and authorization: our setup, never the request's content */
    {"UnrecognizedClientException", PZ_AWS_ERROR_RETRYABLE},
    {"InvalidSignatureException", PZ_AWS_ERROR_RETRYABLE},
    {"IncompleteSignatureException", PZ_AWS_ERROR_RETRYABLE},
    {"IncompleteSignature", PZ_AWS_ERROR_RETRYABLE},
    {"SignatureDoesNotMatch", PZ_AWS_ERROR_RETRYABLE},
    {"ExpiredTokenException", PZ_AWS_ERROR_RETRYABLE},
    {"ExpiredToken", PZ_AWS_ERROR_RETRYABLE},
    {"InvalidClientTokenId", PZ_AWS_ERROR_RETRYABLE},
    {"MissingAuthenticationTokenException", PZ_AWS_ERROR_RETRYABLE},
    {"MissingAuthenticationToken", PZ_AWS_ERROR_RETRYABLE},
    {"AccessDeniedException", PZ_AWS_ERROR_RETRYABLE},
    {"AccessDenied", PZ_AWS_ERROR_RETRYABLE},
    /* the request can never succeed */
    {"ValidationException", PZ_AWS_ERROR_PERMANENT},
    {"InvalidArgumentException", PZ_AWS_ERROR_PERMANENT},
    {"InvalidInputException", PZ_AWS_ERROR_PERMANENT},
    {"SerializationException", PZ_AWS_ERROR_PERMANENT},
};

/* The 4xx statuses that say something about the request's content (see aws_errors.h). */
static const long CONTENT_STATUSES[] = {400, 404, 409, 413, 422};

/* The type's class in TYPES, or NONE when it has none of its own. */
static pz_aws_error_class type_class(const char *type)
{
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (strcmp(type, TYPES[i].type) == 0)
            return TYPES[i].cls;
    return PZ_AWS_ERROR_NONE;
}

static bool content_status(long status)
{
    for (size_t i = 0; i < sizeof CONTENT_STATUSES / sizeof CONTENT_STATUSES[0]; i++)
        if (status == CONTENT_STATUSES[i])
            return true;
    return false;
}

/* raw cleaned into out: before the first ':', after the last '#'. */
static void clean_type(const char *raw, char *out, size_t outlen)
{
    size_t n = strcspn(raw, ":");
    const char *start = raw;
    for (size_t i = 0; i < n; i++)
        if (raw[i] == '#')
            start = raw + i + 1;
    snprintf(out, outlen, "%.*s", (int)(n - (size_t)(start - raw)), start);
}

/* The type (when the header gave none) and the message of a body. */
static void read_body(const char *body, size_t body_len, pz_aws_error *out)
{
    if (body == NULL || body_len == 0)
        return;
    json_t *doc = json_loadb(body, body_len, 0, NULL);
    if (!json_is_object(doc)) {
        size_t n = 0;
        for (size_t i = 0; i < body_len && n < MAX_QUOTED_RAW; i++)
            out->message[n++] = (body[i] >= 0x20 && body[i] < 0x7f) ? body[i] : ' ';
        out->message[n] = '\0';
        json_decref(doc);
        return;
    }
    static const char *const TYPE_KEYS[] = {"__type", "code", "Code", "errorType"};
    for (size_t i = 0; out->type[0] == '\0' && i < sizeof TYPE_KEYS / sizeof TYPE_KEYS[0]; i++) {
        const char *v = json_string_value(json_object_get(doc, TYPE_KEYS[i]));
        if (v != NULL)
            clean_type(v, out->type, sizeof out->type);
    }
    static const char *const MESSAGE_KEYS[] = {"message", "Message", "errorMessage"};
    for (size_t i = 0; out->message[0] == '\0' && i < sizeof MESSAGE_KEYS / sizeof MESSAGE_KEYS[0]; i++) {
        const char *v = json_string_value(json_object_get(doc, MESSAGE_KEYS[i]));
        if (v != NULL)
            snprintf(out->message, sizeof out->message, "%s", v);
    }
    json_decref(doc);
}

static pz_aws_error_class classify(long status, const char *type)
{
    if (status >= 200 && status < 300)
        return PZ_AWS_ERROR_NONE;
    pz_aws_error_class by_type = type_class(type);
    if (status == 429 || by_type == PZ_AWS_ERROR_THROTTLING)
        return PZ_AWS_ERROR_THROTTLING;
    if (!content_status(status) || by_type == PZ_AWS_ERROR_RETRYABLE)
        return PZ_AWS_ERROR_RETRYABLE;
    if (status == 413 || by_type == PZ_AWS_ERROR_PERMANENT)
        return PZ_AWS_ERROR_PERMANENT;
    return PZ_AWS_ERROR_CALLER;
}

pz_aws_error_class pz_aws_error_classify(long status, const char *error_type_header, const char *body, size_t body_len,
                                         pz_aws_error *out)
{
    out->type[0] = out->message[0] = '\0';
    if (error_type_header != NULL)
        clean_type(error_type_header, out->type, sizeof out->type);
    read_body(body, body_len, out);
    out->cls = classify(status, out->type);
    return out->cls;
}
