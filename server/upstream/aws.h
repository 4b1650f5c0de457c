/* AWS plumbing shared by the remote recommenders (Personalize runtime, SageMaker runtime, Lambda,
 * DynamoDB) and the event targets (Personalize events, Kinesis, Firehose): credentials, region,
 * endpoints, and the SigV4 scope (signing itself: sigv4.h).
 *
 * Credentials, in the order the AWS SDKs use:
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
 *   2. shared files: AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials) and AWS_CONFIG_FILE
 *      (default ~/.aws/config), profile AWS_PROFILE (default "default");
 *   3. container endpoint: AWS_CONTAINER_CREDENTIALS_FULL_URI or
 *      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (169.254.170.2), with
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE);
 *   4. instance metadata (IMDSv2 token, then the role's credentials), unless
 *      AWS_EC2_METADATA_DISABLED=true.
 * Temporary credentials are refreshed before they expire. The provider is thread-safe; fetching
 * (3, 4) happens off the caller's event loop (a background refresh), never on a request path.
 *
 * Region: the configured one, else AWS_REGION, else AWS_DEFAULT_REGION, else the profile's
 * `region`. Endpoints: the config key, else AWS_ENDPOINT_URL_<SERVICE> (e.g.
 * AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME, AWS_ENDPOINT_URL_KINESIS), else AWS_ENDPOINT_URL, else
 * https://<prefix>.<region>.amazonaws.com (amazonaws.com.cn in cn- regions).
 */
#ifndef PZ_AWS_H
#define PZ_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The services we call. */
typedef enum pz_aws_service {
    PZ_AWS_PERSONALIZE_RUNTIME, /* signing name "personalize", host prefix "personalize-runtime" */
    PZ_AWS_PERSONALIZE_EVENTS,  /* signing name "personalize", host prefix "personalize-events" */
    PZ_AWS_SAGEMAKER_RUNTIME,   /* signing name "sagemaker", host prefix "runtime.sagemaker" */
    PZ_AWS_LAMBDA,              /* "lambda" */
    PZ_AWS_DYNAMODB,            /* "dynamodb" */
    PZ_AWS_KINESIS,             /* "kinesis" */
    PZ_AWS_FIREHOSE,            /* signing name "firehose", host prefix "firehose" */
    PZ_AWS_SERVICE__COUNT
} pz_aws_service;

typedef struct pz_aws_credentials {
    char access_key_id[128];
    char secret_access_key[128];
    char session_token[2048];   /* empty when none */
    int64_t expires_ms;         /* 0 = does not expire */
} pz_aws_credentials;

typedef struct pz_aws pz_aws;

/* Creates the provider (reads environment and files now; starts the background refresher only
 * if container/instance credentials are in use). Never NULL. */
pz_aws *pz_aws_create(void);
void pz_aws_destroy(pz_aws *aws);

/* Copies the current credentials. Returns 0, or -1 with a message in err when none are
 * available (the message says which sources were tried). Any thread; never does network I/O. */
int pz_aws_get_credentials(pz_aws *aws, pz_aws_credentials *out, char *err, size_t errlen);

/* Region resolution as above; `configured` may be NULL. Writes "" when none is known. */
void pz_aws_region(pz_aws *aws, const char *configured, char *out, size_t outlen);

/* Endpoint base URL (no trailing slash) for a service in a region; `configured` (a config key)
 * wins when non-NULL. */
void pz_aws_endpoint(pz_aws_service service, const char *region, const char *configured, char *out,
                     size_t outlen);

/* The SigV4 scope string for pz_upstream_request.aws_sigv4 and pz_http_post.sigv4, e.g.
 * "aws:amz:us-east-1:personalize". */
void pz_aws_sigv4_param(pz_aws_service service, const char *region, char *out, size_t outlen);

#endif
