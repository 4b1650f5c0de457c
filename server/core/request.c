#include "server/core/request.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "server/core/json_text.h"
#include "server/core/log.h"
#include "server/core/redact.h"

/* The access line's fields (text or JSON): a route, a client address, names, ids and a message
 * code fit easily; longer values are cut by the formatter. */
#define ACCESS_FIELDS_MAX 4096

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

/* ---- request ids ---- */

static pthread_once_t id_once = PTHREAD_ONCE_INIT;
static uint64_t id_key;
static atomic_uint_fast64_t id_counter;
/* Each thread takes counter values in blocks of this many, so threads numbering requests at once
 * do not write one shared counter per request. */
#define ID_BLOCK 1024
static __thread uint64_t id_next, id_end; /* this thread's block: [id_next, id_end) */

static void init_id_key(void)
{
    if (getrandom(&id_key, sizeof id_key, 0) != (ssize_t)sizeof id_key)
        pz_fatal("getrandom failed");
}

/* SplitMix64's finalizer: a bijection, so distinct counters give distinct ids. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static bool valid_request_id(const char *v, size_t len)
{
    if (len == 0 || len > PZ_REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == ':' || c == '-'))
            return false;
    }
    return true;
}

void pz_request_assign_id(pz_request *req)
{
    const pz_header *h = pz_headers_find(req->headers, req->n_headers, "x-request-id");
    if (h != NULL && valid_request_id(h->value, h->value_len)) {
        req->hints.request_id = pz_arena_strndup(req->arena, h->value, h->value_len);
        return;
    }
    if (id_next == id_end) {
        pthread_once(&id_once, init_id_key);
        id_next = atomic_fetch_add_explicit(&id_counter, ID_BLOCK, memory_order_relaxed);
        id_end = id_next + ID_BLOCK;
    }
    uint64_t v = mix64(id_next++ + id_key);
    static const char HEX[] = "0123456789abcdef";
    char *id = pz_arena_alloc(req->arena, 17); /* on every request: no printf */
    for (int i = 15; i >= 0; i--, v >>= 4)
        id[i] = HEX[v & 15];
    id[16] = '\0';
    req->hints.request_id = id;
}

static bool lower_hex(const char *s, size_t n)
{
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
        nonzero = nonzero || s[i] != '0';
    }
    return nonzero;
}

bool pz_traceparent_trace_id(const char *v, size_t len, char out[33])
{
    /* version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 */
    enum { VERSION = 0, TRACE = 3, PARENT = 36, FLAGS = 53, MIN_LEN = 55 };
    if (len < MIN_LEN || v[2] != '-' || v[TRACE + 32] != '-' || v[PARENT + 16] != '-')
        return false;
    bool hex_version = (v[0] >= '0' && v[0] <= '9') || (v[0] >= 'a' && v[0] <= 'f');
    hex_version = hex_version && ((v[1] >= '0' && v[1] <= '9') || (v[1] >= 'a' && v[1] <= 'f'));
    if (!hex_version || (v[0] == 'f' && v[1] == 'f'))
        return false;
    if (len > MIN_LEN && (memcmp(v, "00", 2) == 0 || v[MIN_LEN] != '-'))
        return false; /* version 00 is exactly 55 characters; later ones continue with "-" */
    bool flags_hex = (v[FLAGS] >= '0' && v[FLAGS] <= '9') || (v[FLAGS] >= 'a' && v[FLAGS] <= 'f');
    flags_hex =
        flags_hex && ((v[FLAGS + 1] >= '0' && v[FLAGS + 1] <= '9') || (v[FLAGS + 1] >= 'a' && v[FLAGS + 1] <= 'f'));
    if (!lower_hex(v + TRACE, 32) || !lower_hex(v + PARENT, 16) || !flags_hex)
        return false;
    memcpy(out, v + TRACE, 32);
    out[32] = '\0';
    return true;
}

/* ---- the access line ---- */

static pz_request_finished_fn finished_hook;
static void *finished_ctx;

void pz_request_set_finished_hook(pz_request_finished_fn fn, void *ctx)
{
    finished_hook = fn;
    finished_ctx = ctx;
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

static void json_field(pz_buf *b, const char *key, const char *value)
{
    if (value == NULL)
        return;
    pz_buf_printf(b, ",\"%s\":", key);
    pz_json_write_string(b, value, strlen(value));
}

/* The access line as JSON members (see pz_log_json). */
static void access_json(pz_buf *b, const pz_request *req, const char *what, int code, int64_t dur_us, const char *cache,
                        const char *trace_id)
{
    pz_buf_append_str(b, "\"protocol\":");
    const char *protocol = req->protocol ? req->protocol : "-";
    pz_json_write_string(b, protocol, strlen(protocol));
    if (what != NULL && strstr(what, "://") != NULL) { /* a client's path: no URL secrets (redact.h) */
        char *clean = pz_redact_urls_dup(what);
        json_field(b, "route", clean);
        free(clean);
    } else {
        json_field(b, "route", what);
    }
    pz_buf_printf(b, ",\"status\":%d,\"duration_ms\":%.3f", code, (double)dur_us / 1000.0);
    if (req->hints.upstream.us > 0)
        pz_buf_printf(b, ",\"upstream_ms\":%.3f", (double)req->hints.upstream.us / 1000.0);
    json_field(b, "client", pz_request_client_addr(req));
    json_field(b, "principal", req->principal);
    json_field(b, "namespace", req->hints.namespace_key);
    json_field(b, "recommender", req->hints.recommender_key);
    json_field(b, "variation", req->hints.variation);
    json_field(b, "cache", cache);
    if (req->status != PZ_OK)
        json_field(b, "error", req->error.code ? req->error.code : "");
    json_field(b, "request_id", req->hints.request_id);
    json_field(b, "trace_id", trace_id);
}

void pz_request_log_access(const pz_request *req, const char *what, int code)
{
    if (pz_log_enabled(PZ_LOG_INFO)) {
        /* monotonic and in µs: receipt -> now (completion, before the response is written) */
        int64_t dur_us = pz_mono_us() - req->received_mono_us;
        char outcome[64], trace_id[33] = "";
        const char *cache = cache_outcome(req, outcome, sizeof outcome);
        const pz_header *tp = pz_headers_find(req->headers, req->n_headers, "traceparent");
        bool traced = tp != NULL && pz_traceparent_trace_id(tp->value, tp->value_len, trace_id);
        if (pz_log_get_format() == PZ_LOG_JSON) {
            pz_buf fields;
            pz_buf_init(&fields, ACCESS_FIELDS_MAX);
            access_json(&fields, req, what, code, dur_us, strcmp(cache, "-") != 0 ? cache : NULL,
                        traced ? trace_id : NULL);
            pz_log_json(PZ_LOG_INFO, "access", fields.data, fields.len, NULL, 0);
            pz_buf_free(&fields);
        } else {
            char upstream[48] = "", text[ACCESS_FIELDS_MAX];
            if (req->hints.upstream.us > 0)
                snprintf(upstream, sizeof upstream, " upstream_ms=%.3f", (double)req->hints.upstream.us / 1000.0);
            const char *client = pz_request_client_addr(req);
            int n = snprintf(
                text, sizeof text, "%s %s status=%d dur_ms=%.3f%s client=%s principal=%s variation=%s cache=%s%s%s",
                req->protocol ? req->protocol : "-", what, code, (double)dur_us / 1000.0, upstream,
                client != NULL ? client : "-", req->principal ? req->principal : "-",
                req->hints.variation ? req->hints.variation : "-", cache, req->status != PZ_OK ? " error=" : "",
                req->status != PZ_OK && req->error.code ? req->error.code : "");
            if (n > 0 && (size_t)n < sizeof text && req->hints.request_id != NULL)
                n += snprintf(text + n, sizeof text - (size_t)n, " request_id=%s", req->hints.request_id);
            if (n > 0 && (size_t)n < sizeof text && traced)
                n += snprintf(text + n, sizeof text - (size_t)n, " trace_id=%s", trace_id);
            size_t len = n < 0 ? 0 : (size_t)n >= sizeof text ? sizeof text - 1 : (size_t)n;
            pz_log_json(PZ_LOG_INFO, "access", NULL, 0, text, len);
        }
    }
    if (finished_hook != NULL)
        finished_hook(finished_ctx, req, what, code);
}
