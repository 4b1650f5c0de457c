/* The Personalize control plane over the AWS JSON 1.1 protocol (personalize_client.h). */
#include "server/ops/personalize_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/core/mem.h"
#include "server/upstream/aws_errors.h"
#include "server/upstream/blocking_call.h"

#define TIMEOUT_MS 30000
#define TARGET_PREFIX "AmazonPersonalize."

struct pz_personalize_client {
    pz_aws *aws;
    char region[64];
    char url[512];
    pz_blocking_client *http;
    unsigned long calls, throttled;
    unsigned int seed;
};

pz_personalize_client *pz_personalize_client_create(pz_aws *aws, const char *region)
{
    pz_personalize_client *c = pz_calloc(1, sizeof *c);
    c->aws = aws;
    snprintf(c->region, sizeof c->region, "%s", region);
    char endpoint[480];
    pz_aws_endpoint(PZ_AWS_PERSONALIZE, region, NULL, endpoint, sizeof endpoint);
    snprintf(c->url, sizeof c->url, "%s/", endpoint);
    c->http = pz_blocking_create();
    c->seed = (unsigned int)time(NULL);
    return c;
}

void pz_personalize_client_destroy(pz_personalize_client *c)
{
    if (c == NULL)
        return;
    pz_blocking_destroy(c->http);
    free(c);
}

void pz_personalize_client_counts(const pz_personalize_client *c, unsigned long *calls, unsigned long *throttled)
{
    *calls = c->calls;
    *throttled = c->throttled;
}

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Backoff before attempt `attempt` + 1: base * 2^(attempt-1) capped, with "equal jitter". */
static void back_off(pz_personalize_client *c, int attempt)
{
    long d = PZ_PERSONALIZE_BACKOFF_MS;
    for (int i = 1; i < attempt && d < PZ_PERSONALIZE_BACKOFF_CAP_MS; i++)
        d *= 2;
    if (d > PZ_PERSONALIZE_BACKOFF_CAP_MS)
        d = PZ_PERSONALIZE_BACKOFF_CAP_MS;
    long ms = d / 2 + (long)(rand_r(&c->seed) % (unsigned)(d / 2 + 1));
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

json_t *pz_personalize_call(pz_personalize_client *c, const char *operation, const json_t *request, char *err,
                            size_t errlen)
{
    char target[128];
    snprintf(target, sizeof target, "X-Amz-Target: " TARGET_PREFIX "%s", operation);
    const char *headers[] = {"Content-Type: application/x-amz-json-1.1", target, NULL};
    char *body = json_dumps(request, JSON_COMPACT);
    json_t *answer = NULL;
    for (int attempt = 1; answer == NULL; attempt++) {
        pz_aws_signing signing;
        if (pz_aws_signing_for(c->aws, PZ_AWS_PERSONALIZE, c->region, &signing, err, errlen) != 0)
            break;
        pz_blocking_response resp;
        pz_blocking_request req = {.method = "POST",
                                   .url = c->url,
                                   .headers = headers,
                                   .body = body,
                                   .body_len = strlen(body),
                                   .timeout_ms = TIMEOUT_MS,
                                   .signing = &signing};
        c->calls++;
        int rc = pz_blocking_call(c->http, &req, &resp);
        pz_aws_error e = {0};
        pz_aws_error_class cls = rc != 0
                                     ? PZ_AWS_ERROR_RETRYABLE
                                     : pz_aws_error_classify(resp.status, resp.error_type[0] ? resp.error_type : NULL,
                                                             resp.body.data, resp.body.len, &e);
        if (cls == PZ_AWS_ERROR_NONE) {
            json_error_t jerr;
            answer = json_loadb(resp.body.data != NULL ? resp.body.data : "", resp.body.len, 0, &jerr);
            if (answer == NULL || !json_is_object(answer)) {
                set_err(err, errlen, "%s: the answer is not a JSON object", operation);
                json_decref(answer);
                answer = NULL;
                pz_blocking_response_free(&resp);
                break;
            }
        } else {
            /* A person waits for this tool: credentials and permission problems fail at once. */
            bool transient = cls == PZ_AWS_ERROR_THROTTLING || rc != 0 || resp.status >= 500;
            bool again = transient && attempt < PZ_PERSONALIZE_MAX_ATTEMPTS;
            if (rc != 0)
                set_err(err, errlen, "%s: %s", operation, resp.error);
            else
                set_err(err, errlen, "%s: HTTP %ld %s: %s", operation, resp.status, e.type[0] ? e.type : "error",
                        e.message);
            if (cls == PZ_AWS_ERROR_THROTTLING)
                c->throttled++;
            pz_blocking_response_free(&resp);
            if (!again)
                break;
            back_off(c, attempt);
            continue;
        }
        pz_blocking_response_free(&resp);
    }
    free(body);
    return answer;
}

int pz_personalize_list(pz_personalize_client *c, const char *operation, const json_t *request, const char *items_key,
                        json_t *out, char *err, size_t errlen)
{
    json_t *page_request = json_deep_copy(request);
    json_object_set_new(page_request, "maxResults", json_integer(PZ_PERSONALIZE_PAGE_SIZE));
    char *last_token = NULL;
    int rc = 0;
    for (int page = 0;; page++) {
        if (page >= PZ_PERSONALIZE_MAX_PAGES) {
            set_err(err, errlen, "%s: more than %d pages", operation, PZ_PERSONALIZE_MAX_PAGES);
            rc = -1;
            break;
        }
        json_t *answer = pz_personalize_call(c, operation, page_request, err, errlen);
        if (answer == NULL) {
            rc = -1;
            break;
        }
        json_t *items = json_object_get(answer, items_key);
        if (items != NULL && !json_is_array(items)) {
            set_err(err, errlen, "%s: `%s` is not an array", operation, items_key);
            json_decref(answer);
            rc = -1;
            break;
        }
        if (items != NULL)
            json_array_extend(out, items);
        const char *token = json_string_value(json_object_get(answer, "nextToken"));
        if (token == NULL || token[0] == '\0') {
            json_decref(answer);
            break;
        }
        if (last_token != NULL && strcmp(last_token, token) == 0) {
            set_err(err, errlen, "%s: the service sent the same nextToken twice", operation);
            json_decref(answer);
            rc = -1;
            break;
        }
        free(last_token);
        last_token = pz_strdup(token);
        json_object_set_new(page_request, "nextToken", json_string(token));
        json_decref(answer);
    }
    free(last_token);
    json_decref(page_request);
    return rc;
}
