#include "server/core/request.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "server/core/log.h"

int64_t pz_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pz_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void pz_request_init(pz_request *req, pz_arena *arena)
{
    memset(req, 0, sizeof *req);
    req->arena = arena;
    req->received_ms = pz_now_ms();
    req->received_mono_us = pz_mono_us();
}

void pz_request_add_upstream(pz_request *req, int64_t us, int64_t end_us)
{
    if (us <= 0)
        return;
    pz_response_hints *h = &req->hints;
    int64_t start = end_us - us;
    if (start >= h->upstream_until_us)
        h->upstream_us += us;                          /* after the previous calls */
    else if (end_us > h->upstream_until_us)
        h->upstream_us += end_us - h->upstream_until_us; /* overlaps them: only the new part */
    if (end_us > h->upstream_until_us)
        h->upstream_until_us = end_us;
}

const char *pz_request_header(pz_request *req, const char *lname)
{
    size_t n = strlen(lname);
    for (size_t i = 0; i < req->n_headers; i++) {
        const pz_header *h = &req->headers[i];
        if (h->name_len == n && strncasecmp(h->name, lname, n) == 0)
            return pz_arena_strndup(req->arena, h->value, h->value_len);
    }
    return NULL;
}

void pz_request_fail(pz_request *req, pz_status status, const char *type, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *msg = pz_arena_alloc(req->arena, (size_t)(n < 0 ? 0 : n) + 1);
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)(n < 0 ? 0 : n) + 1, fmt, ap);
    va_end(ap);
    req->status = status;
    req->error.status = status;
    req->error.type = type;
    req->error.code = code;
    req->error.message = msg;
    req->response = NULL;
    req->on_done(req);
}

void pz_request_succeed(pz_request *req, ProtobufCMessage *response)
{
    req->status = PZ_OK;
    req->response = response;
    req->on_done(req);
}

/* "hit", "miss,not-modified", "not-modified" or "-". */
static const char *cache_outcome(const pz_request *req, char *buf, size_t len)
{
    if (req->hints.cache == NULL)
        return req->hints.not_modified ? "not-modified" : "-";
    if (!req->hints.not_modified)
        return req->hints.cache;
    snprintf(buf, len, "%s,not-modified", req->hints.cache);
    return buf;
}

void pz_request_log_access(const pz_request *req, const char *what, int code)
{
    char outcome[64];
    char upstream[48] = "";
    /* monotonic and in µs: receipt -> now (completion, before the response is written) */
    int64_t dur_us = pz_mono_us() - req->received_mono_us;
    if (req->hints.upstream_us > 0)
        snprintf(upstream, sizeof upstream, " upstream_ms=%.3f", (double)req->hints.upstream_us / 1000.0);
    pz_info("access %s %s status=%d dur_ms=%.3f%s client=%s variation=%s cache=%s%s%s",
            req->protocol ? req->protocol : "-", what, code, (double)dur_us / 1000.0, upstream,
            req->client_addr ? req->client_addr : "-", req->hints.variation ? req->hints.variation : "-",
            cache_outcome(req, outcome, sizeof outcome), req->status != PZ_OK ? " error=" : "",
            req->status != PZ_OK && req->error.code ? req->error.code : "");
}
