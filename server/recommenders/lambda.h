/* Lambda Invoke for the lambda/function variation type and the response post-processor
 * (lambda.c). Private to server/recommenders. */
#ifndef PZ_LAMBDA_H
#define PZ_LAMBDA_H

#include <jansson.h>

#include "server/recommenders/remote.h"

/* The Invoke path for a function ARN: "/2015-03-31/functions/{name}/invocations", plus
 * "?Qualifier={q}" for an alias or version other than $LATEST. Returns 0, or -1 when arn is not a
 * function ARN with a plain name and qualifier. */
int pz_lambda_function_path(const char *arn, pz_arena *arena, const char **path);

/* Invokes function `arn` with `payload` (consumed) for call; the 2xx answer goes to parse. */
void pz_lambda_call(pz_remote_call *call, const char *arn, const char *region, const char *endpoint_url,
                    json_t *payload, pz_remote_parse_fn parse);

#endif
