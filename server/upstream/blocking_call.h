/* Blocking HTTP calls (module prefix pz_blocking) for threads that may wait: the event targets'
 * delivery workers (POST), the configuration poller (GET with If-None-Match) and the command-line
 * tools (the Personalize control plane, the admin API). libcurl's easy interface, one connection kept alive per client,
 * optional SigV4 signing with the same typed signer as the upstream engine (pz_aws_sign, aws.h). Answers from AWS are
 * read with the shared classifier (aws_errors.h) by the caller; the client only reports them.
 *
 * Why not the engine (upstream.h): each event target has a dedicated worker thread whose pace is
 * the target's own (batching, per-key ordering, backoff), so a call that waits is exactly what
 * that thread should do; no event loop or front thread ever calls this.
 *
 * Signing: the method, path, query, the headers given here plus host and x-amz-date, and the
 * payload hash; the signer adds x-amz-security-token (signed) when the credentials carry a
 * session token.
 *
 * Threads and ownership: a client belongs to one thread (a delivery worker); a call may block for
 * up to its timeout, so it must never run on an event loop. pz_blocking_cancel may be called from
 * any thread to make the current and later calls fail fast (shutdown). A response's body is the
 * caller's until pz_blocking_response_free.
 */
#ifndef PZ_BLOCKING_CALL_H
#define PZ_BLOCKING_CALL_H

#include <stdbool.h>
#include <stddef.h>

#include "server/core/buf.h"
#include "server/upstream/aws.h"

/* A response body larger than this fails the call (it is not read to the end), unless the
 * request sets its own cap. */
#define PZ_BLOCKING_MAX_RESPONSE_BYTES (4u << 20)
#define PZ_BLOCKING_DEFAULT_TIMEOUT_MS 10000

typedef struct pz_blocking_client pz_blocking_client;

typedef struct pz_blocking_request {
    const char *method; /* "GET" or "POST"; NULL = "POST" */
    const char *url;
    const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
    const void *body;
    size_t body_len;
    long timeout_ms;               /* 0 = PZ_BLOCKING_DEFAULT_TIMEOUT_MS */
    const pz_aws_signing *signing; /* SigV4 (server/upstream/aws.h); NULL = unsigned */
    size_t max_response_bytes;     /* 0 = PZ_BLOCKING_MAX_RESPONSE_BYTES */
} pz_blocking_request;

typedef struct pz_blocking_response {
    long status;          /* 0 when no response arrived (see error) */
    pz_buf body;          /* capped at PZ_BLOCKING_MAX_RESPONSE_BYTES */
    char error_type[128]; /* the x-amzn-ErrorType header, "" when absent */
    char etag[256];       /* the ETag header as sent (quotes kept), "" when absent or too long */
    char error[256];      /* transport error text when status == 0 */
} pz_blocking_response;

/* A client with its own connection. Never NULL. */
pz_blocking_client *pz_blocking_create(void);
/* Closes the connection and frees. NULL is ignored. */
void pz_blocking_destroy(pz_blocking_client *c);
/* Makes the current call and every later one fail fast. Any thread. */
void pz_blocking_cancel(pz_blocking_client *c);

/* Sends one request (req->method; a GET sends no body) and waits for the answer (at most
 * req->timeout_ms). Returns 0 when a response arrived (any status), -1 otherwise (resp->error:
 * transport failure, timeout, cancelled, cannot be signed, body over the response cap). resp is
 * initialized here in both cases; release it with pz_blocking_response_free. The client's thread
 * only. */
int pz_blocking_call(pz_blocking_client *c, const pz_blocking_request *req, pz_blocking_response *resp);
/* pz_blocking_call with the method forced to POST. */
int pz_blocking_post(pz_blocking_client *c, const pz_blocking_request *req, pz_blocking_response *resp);
void pz_blocking_response_free(pz_blocking_response *resp);

#endif
