/* One transfer's libcurl setup and callbacks, the easy-handle pool and the breaker table of the
 * upstream engine (upstream_internal.h). Engine thread only. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server/core/mem.h"
#include "server/upstream/upstream_internal.h"

/* ---- breakers (engine thread) ---- */

up_breaker *pz_upstream_breaker_for(pz_upstream *u, const char *key, int64_t now)
{
    up_breaker *free_slot = NULL, *lru_idle = NULL, *lru = NULL;
    for (size_t i = 0; i < MAX_BREAKERS; i++) {
        up_breaker *s = &u->breakers[i];
        if (!s->used) {
            if (free_slot == NULL)
                free_slot = s;
            continue;
        }
        if (strcmp(s->key, key) == 0) {
            s->last_used_ms = now;
            return s;
        }
        if (lru == NULL || s->last_used_ms < lru->last_used_ms)
            lru = s;
        if (s->b.state == PZ_BREAKER_CLOSED && s->b.failures == 0 &&
            (lru_idle == NULL || s->last_used_ms < lru_idle->last_used_ms))
            lru_idle = s;
    }
    /* More upstreams than slots: reuse the least recently used one, preferring a healthy one. */
    up_breaker *s = free_slot != NULL ? free_slot : lru_idle != NULL ? lru_idle : lru;
    s->used = true;
    snprintf(s->key, sizeof s->key, "%s", key);
    pz_breaker_init(&s->b, u->o.breaker_threshold, u->o.breaker_open_ms);
    s->last_used_ms = now;
    return s;
}

/* ---- transfers (engine thread) ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    up_call *c = userdata;
    size_t n = size * nmemb;
    if (pz_buf_append(&c->resp, ptr, n) != 0) {
        c->too_large = true;
        return 0; /* aborts the transfer */
    }
    return n;
}

static void capture_header(char *dst, size_t cap, const char *value, size_t len)
{
    while (len > 0 && (value[len - 1] == '\r' || value[len - 1] == '\n' || value[len - 1] == ' '))
        len--;
    while (len > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        len--;
    }
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, value, len);
    dst[len] = '\0';
}

static size_t on_header(char *line, size_t size, size_t nitems, void *userdata)
{
    up_call *c = userdata;
    size_t n = size * nitems;
    static const char ERRTYPE[] = "x-amzn-errortype:";
    static const char FNERR[] = "x-amz-function-error:";
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* a new response (after 100 Continue): forget the previous one's headers */
        c->amzn_error_type[0] = '\0';
        c->function_error[0] = '\0';
    } else if (n > sizeof ERRTYPE - 1 && strncasecmp(line, ERRTYPE, sizeof ERRTYPE - 1) == 0) {
        capture_header(c->amzn_error_type, sizeof c->amzn_error_type, line + sizeof ERRTYPE - 1,
                       n - (sizeof ERRTYPE - 1));
    } else if (n > sizeof FNERR - 1 && strncasecmp(line, FNERR, sizeof FNERR - 1) == 0) {
        capture_header(c->function_error, sizeof c->function_error, line + sizeof FNERR - 1, n - (sizeof FNERR - 1));
    }
    return n;
}

CURL *pz_upstream_take_easy(pz_upstream *u)
{
    if (u->n_pool > 0)
        return u->pool[--u->n_pool];
    CURL *e = curl_easy_init();
    if (e == NULL)
        pz_fatal("curl_easy_init failed");
    return e;
}

void pz_upstream_release_easy(pz_upstream *u, CURL *e)
{
    curl_multi_remove_handle(u->multi, e);
    if (u->n_pool < u->o.max_inflight) {
        curl_easy_reset(e);
        u->pool[u->n_pool++] = e;
    } else {
        curl_easy_cleanup(e);
    }
}

void pz_upstream_configure(up_call *c, CURL *e, int64_t remaining, int connect_timeout_ms)
{
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    if (strncmp(c->url, "https:", 6) == 0)
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L); /* prefer multiplexing on an h2 connection */
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)remaining);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(remaining < connect_timeout_ms ? remaining : connect_timeout_ms));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    if (strcmp(c->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
        if (strcmp(c->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
    }
}
