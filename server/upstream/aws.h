/* AWS plumbing shared by the remote recommenders (Personalize runtime, SageMaker runtime, Lambda,
 * DynamoDB) and the event targets (Personalize events, Kinesis, Firehose): credentials, region,
 * endpoints, and the typed signing description a signed call carries (pz_aws_signing: region,
 * signing name and credentials; the algorithm itself is sigv4.h). Nothing formats a signing scope
 * into a string for someone else to parse.
 *
 * One provider per process: main.c creates it and hands it to the recommenders and the event
 * delivery; they never create their own (two providers would fetch container/instance
 * credentials twice).
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
#include <time.h>

#include "server/upstream/sigv4.h"

/* The services we call. */
typedef enum pz_aws_service {
    PZ_AWS_PERSONALIZE_RUNTIME, /* signing name "personalize", host prefix "personalize-runtime" */
    PZ_AWS_PERSONALIZE_EVENTS,  /* signing name "personalize", host prefix "personalize-events" */
    PZ_AWS_SAGEMAKER_RUNTIME,   /* signing name "sagemaker", host prefix "runtime.sagemaker" */
    PZ_AWS_LAMBDA,              /* "lambda" */
    PZ_AWS_DYNAMODB,            /* "dynamodb" */
    PZ_AWS_KINESIS,             /* "kinesis" */
    PZ_AWS_FIREHOSE,            /* signing name "firehose", host prefix "firehose" */
    PZ_AWS_PERSONALIZE,         /* the control plane (generate-config): "personalize" for both */
    PZ_AWS_SERVICE__COUNT
} pz_aws_service;

typedef struct pz_aws_credentials {
    char access_key_id[128];
    char secret_access_key[128];
    char session_token[2048]; /* empty when none */
    int64_t expires_ms;       /* 0 = does not expire */
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
void pz_aws_endpoint(pz_aws_service service, const char *region, const char *configured, char *out, size_t outlen);

/* Who signs a call, for which scope: what a signed call carries (pz_upstream_request.signing,
 * pz_blocking_request.signing). Plain data: copy it freely; it holds the secret key, so keep it
 * off logs. */
typedef struct pz_aws_signing {
    char region[64];  /* e.g. "us-east-1" */
    char service[32]; /* the service's signing name, e.g. "personalize" for both Personalize APIs */
    pz_aws_credentials creds;
} pz_aws_signing;

/* Fills *out for calls to `service` in `region` ("us-east-1" when NULL or empty) with the current
 * credentials. Returns 0, or -1 with a message in err when there are none (aws NULL: "no AWS
 * credentials provider"; otherwise as pz_aws_get_credentials). Any thread; never does network I/O. */
int pz_aws_signing_for(pz_aws *aws, pz_aws_service service, const char *region, pz_aws_signing *out, char *err,
                       size_t errlen);

/* Signs one request with s at `now` (SigV4, sigv4.h): every header given is signed, plus Host,
 * X-Amz-Date and, when the credentials carry a session token, X-Amz-Security-Token. *out gets
 * the lines to send after the request's own headers: out->security_token (when not ""), host,
 * amz_date, authorization. Returns 0, or -1 when the request cannot be signed (no host in the
 * URL, too many or malformed headers, a field too long). Any thread. */
int pz_aws_sign(const pz_aws_signing *s, const char *method, const char *url, const char *const *headers,
                size_t n_headers, const void *body, size_t body_len, time_t now, pz_sigv4_headers *out);

#endif
