#include "server/core/request.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server/core/log.h"

void pz_request_init(pz_request *req, pz_arena *arena)
{
    memset(req, 0, sizeof *req);
    req->arena = arena;
    req->received_ms = pz_now_ms();
    req->received_mono_us = pz_mono_us();
}

void pz_upstream_timing_add(pz_upstream_timing *t, int64_t us, int64_t end_us)
{
    if (us <= 0)
        return;
    int64_t start = end_us - us;
    if (start >= t->until_us)
        t->us += us; /* after the previous calls */
    else if (end_us > t->until_us)
        t->us += end_us - t->until_us; /* overlaps them: only the new part */
    if (end_us > t->until_us)
        t->until_us = end_us;
}

const pz_header *pz_headers_find(const pz_header *headers, size_t n, const char *lname)
{
    size_t len = strlen(lname);
    for (size_t i = 0; i < n; i++) {
        if (headers[i].name_len == len && strncasecmp(headers[i].name, lname, len) == 0)
            return &headers[i];
    }
    return NULL;
}

const pz_header *pz_query_param_find(const pz_header *params, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++) {
        if (params[i].name_len == len && memcmp(params[i].name, name, len) == 0)
            return &params[i];
    }
    return NULL;
}

const char *pz_request_header(pz_request *req, const char *lname)
{
    const pz_header *h = pz_headers_find(req->headers, req->n_headers, lname);
    return h != NULL ? pz_arena_strndup(req->arena, h->value, h->value_len) : NULL;
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

const char *pz_request_client_addr(const pz_request *req)
{
    if (req->client_addr == NULL && req->client_addr_fn != NULL)
        return req->client_addr_fn(req);
    return req->client_addr;
}

void pz_request_log_access(const pz_request *req, const char *what, int code)
{
    if (!pz_log_enabled(PZ_LOG_INFO))
        return;
    const char *client = pz_request_client_addr(req);
    char outcome[64];
    char upstream[48] = "";
    /* monotonic and in µs: receipt -> now (completion, before the response is written) */
    int64_t dur_us = pz_mono_us() - req->received_mono_us;
    if (req->hints.upstream.us > 0)
        snprintf(upstream, sizeof upstream, " upstream_ms=%.3f", (double)req->hints.upstream.us / 1000.0);
    pz_info("access %s %s status=%d dur_ms=%.3f%s client=%s principal=%s variation=%s cache=%s%s%s",
            req->protocol ? req->protocol : "-", what, code, (double)dur_us / 1000.0, upstream,
            client != NULL ? client : "-", req->principal ? req->principal : "-",
            req->hints.variation ? req->hints.variation : "-", cache_outcome(req, outcome, sizeof outcome),
            req->status != PZ_OK ? " error=" : "", req->status != PZ_OK && req->error.code ? req->error.code : "");
}
