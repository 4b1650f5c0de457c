/* A blocking HTTP POST client for event targets (libcurl easy interface, one connection kept
 * alive per client), with optional AWS SigV4 signing (server/upstream/sigv4.h).
 *
 * Signing: the method, path, query, the headers given here plus host and x-amz-date, and the
 * payload hash; the client adds x-amz-security-token (signed) when the credentials carry a
 * session token.
 *
 * A client belongs to one thread (a dispatcher worker); it may block for up to the call's
 * timeout, so it must never run on an event loop. pz_httpc_cancel may be called from any thread
 * to make the current and later calls fail fast (shutdown).
 */
#ifndef PZ_HTTP_CLIENT_H
#define PZ_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "server/core/buf.h"
#include "server/upstream/aws.h"

/* A response body larger than this fails the call (it is not read to the end). */
#define PZ_HTTPC_MAX_RESPONSE_BYTES (4u << 20)
#define PZ_HTTPC_DEFAULT_TIMEOUT_MS 10000

typedef struct pz_httpc pz_httpc;

typedef struct pz_http_post {
    const char *url;
    const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
    const void *body;
    size_t body_len;
    long timeout_ms;               /* 0 = PZ_HTTPC_DEFAULT_TIMEOUT_MS */
    const pz_aws_signing *signing; /* SigV4 (server/upstream/aws.h); NULL = unsigned */
} pz_http_post;

typedef struct pz_http_response {
    long status;          /* 0 when no response arrived (see error) */
    pz_buf body;          /* capped at PZ_HTTPC_MAX_RESPONSE_BYTES */
    char error_type[128]; /* the x-amzn-ErrorType header, "" when absent */
    char error[256];      /* transport error text when status == 0 */
} pz_http_response;

pz_httpc *pz_httpc_create(void);
void pz_httpc_destroy(pz_httpc *c);
void pz_httpc_cancel(pz_httpc *c);

/* Sends one POST. Returns 0 when a response arrived (any status), -1 otherwise (resp->error).
 * resp is initialized here; release it with pz_http_response_free. */
int pz_httpc_post(pz_httpc *c, const pz_http_post *req, pz_http_response *resp);
void pz_http_response_free(pz_http_response *resp);

#endif
