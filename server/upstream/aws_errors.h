/* One classifier for AWS error answers (module prefix pz_aws_error), shared by the remote
 * recommenders (server/recommenders/remote.c) and the AWS event targets
 * (server/events/target_aws.c), so that both read an answer the same way and only decide what a
 * class means for them.
 *
 * The error type is the X-Amzn-ErrorType header when it has one, else the JSON body's "__type",
 * "code", "Code" or "errorType", cleaned as the AWS protocols say: only what comes before the first
 * ':' and after the last '#' ("ValidationException:http://internal..." and
 * "com.amazonaws.dynamodb.v20120810#ValidationException" are both "ValidationException").
 *
 * Classes, in the order they are decided:
 *   NONE          2xx: not an error (type and message are still read: a Lambda function error
 *                 comes with a 200).
 *   THROTTLING    HTTP 429, or a throttling type at any status (DynamoDB and Kinesis throttle
 *                 with 400 ProvisionedThroughputExceededException). Slow down and try again.
 *   RETRYABLE     the upstream or our own setup failed, not the request: 5xx, 3xx, 401, 403,
 *                 408, 424 and every other status but 400/404/409/413/422; and a credentials or
 *                 authorization type (UnrecognizedClientException, ExpiredTokenException,
 *                 AccessDeniedException, ...) at any status. Trying again later can succeed once
 *                 the upstream recovers or an operator fixes the credentials.
 *   PERMANENT     the request itself can never succeed, however often it is sent: 413, or
 *                 400/404/409/422 with ValidationException, InvalidArgumentException,
 *                 InvalidInputException or SerializationException.
 *   CALLER        the upstream refused what the request names or holds (400/404/409/422 with any
 *                 other type or none, e.g. 404 ResourceNotFoundException): the end client's fault
 *                 when the request carries its input (a Personalize `filter` it named), the
 *                 operator's when the request only carries configuration (a missing Kinesis
 *                 stream or DynamoDB table, fixed by creating it).
 * Who decides what: the recommenders answer 429 for THROTTLING, 400 for PERMANENT and CALLER from
 * an upstream whose requests carry the client's input (Personalize, SageMaker, http) and 502
 * otherwise (server/recommenders/remote.h); the event targets reject (dead-letter) PERMANENT
 * records and retry every other class, since their requests carry only records the server
 * already accepted and names from the configuration (server/events/targets.h).
 *
 * Pure; any thread.
 */
#ifndef PZ_AWS_ERRORS_H
#define PZ_AWS_ERRORS_H

#include <stddef.h>

/* Upstream messages are cut to this many bytes. */
#define PZ_AWS_ERROR_MESSAGE_MAX 300

typedef enum pz_aws_error_class {
    PZ_AWS_ERROR_NONE = 0,
    PZ_AWS_ERROR_THROTTLING,
    PZ_AWS_ERROR_RETRYABLE,
    PZ_AWS_ERROR_PERMANENT,
    PZ_AWS_ERROR_CALLER,
    PZ_AWS_ERROR_CLASS__COUNT
} pz_aws_error_class;

typedef struct pz_aws_error {
    pz_aws_error_class cls;
    char type[128]; /* the cleaned error type, "" when the answer gives none */
    /* The body's "message", "Message" or "errorMessage" (at most PZ_AWS_ERROR_MESSAGE_MAX bytes);
     * for a body that is not a JSON object (a proxy's HTML page), its first 120 bytes with
     * non-printable ones as spaces; "" when there is neither. */
    char message[PZ_AWS_ERROR_MESSAGE_MAX + 1];
} pz_aws_error;

/* Classifies an HTTP answer from an AWS service (or an upstream that answers like one): status,
 * the X-Amzn-ErrorType header (NULL when absent) and the body (body_len bytes, may be NULL with
 * 0). Fills *out and returns out->cls. */
pz_aws_error_class pz_aws_error_classify(long status, const char *error_type_header, const char *body, size_t body_len,
                                         pz_aws_error *out);

#endif
