/* Blocking HTTP calls with SigV4 (blocking_call.h). */
#include "server/upstream/blocking_call.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "server/core/mem.h"

struct pz_blocking_client {
    CURL *curl;
    atomic_bool cancelled;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        pz_fatal("curl_global_init failed");
}

pz_blocking_client *pz_blocking_create(void)
{
    pthread_once(&curl_once, curl_init_once);
    pz_blocking_client *c = pz_calloc(1, sizeof *c);
    c->curl = curl_easy_init();
    if (c->curl == NULL)
        pz_fatal("curl_easy_init failed");
    atomic_init(&c->cancelled, false);
    return c;
}

void pz_blocking_destroy(pz_blocking_client *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->curl);
    free(c);
}

void pz_blocking_cancel(pz_blocking_client *c)
{
    atomic_store(&c->cancelled, true);
}

/* Error texts are cut to fit (vsnprintf: no truncation warnings). */
__attribute__((format(printf, 2, 3))) static void set_error(pz_blocking_response *resp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(resp->error, sizeof resp->error, fmt, ap);
    va_end(ap);
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    pz_blocking_response *r = ctx;
    return pz_buf_append(&r->body, data, size * n) == 0 ? size * n : 0;
}

/* Copies the value of header line data[0..len) into out when the line is `name` (with its colon;
 * case-insensitive), trimmed; a value that does not fit is left out. */
static void pick_header(const char *data, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    if (len <= nlen || strncasecmp(data, name, nlen) != 0)
        return;
    const char *v = data + nlen;
    size_t vlen = len - nlen;
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    if (vlen < outlen)
        snprintf(out, outlen, "%.*s", (int)vlen, v);
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
    pz_blocking_response *r = ctx;
    size_t len = size * n;
    pick_header(data, len, "x-amzn-errortype:", r->error_type, sizeof r->error_type);
    pick_header(data, len, "etag:", r->etag, sizeof r->etag);
    return len;
}

static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    pz_blocking_client *c = ctx;
    return atomic_load(&c->cancelled) ? 1 : 0;
}

/* Signs the call for req->signing (pz_aws_sign) and appends the session token and the signature
 * headers to *hl. Returns 0, or -1 with resp->error. */
static int sign(const pz_blocking_request *req, const char *method, struct curl_slist **hl, pz_blocking_response *resp)
{
    const char *headers[16];
    size_t n = 0;
    for (size_t i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
        if (n == sizeof headers / sizeof headers[0]) {
            set_error(resp, "%s: too many headers to sign", req->url);
            return -1;
        }
        headers[n++] = req->headers[i];
    }
    pz_sigv4_headers sig;
    if (pz_aws_sign(req->signing, method, req->url, headers, n, req->body, req->body_len, time(NULL), &sig) != 0) {
        set_error(resp, "%s: the request cannot be signed (SigV4)", req->url);
        return -1;
    }
    if (sig.security_token[0] != '\0')
        *hl = curl_slist_append(*hl, sig.security_token);
    *hl = curl_slist_append(*hl, sig.host);
    *hl = curl_slist_append(*hl, sig.amz_date);
    *hl = curl_slist_append(*hl, sig.authorization);
    return 0;
}

int pz_blocking_call(pz_blocking_client *c, const pz_blocking_request *req, pz_blocking_response *resp)
{
    memset(resp, 0, sizeof *resp);
    pz_buf_init(&resp->body, req->max_response_bytes > 0 ? req->max_response_bytes : PZ_BLOCKING_MAX_RESPONSE_BYTES);
    const char *method = req->method != NULL ? req->method : "POST";
    bool post = strcmp(method, "POST") == 0;
    if (atomic_load(&c->cancelled)) {
        set_error(resp, "cancelled: the server is shutting down");
        return -1;
    }
    CURL *h = c->curl;
    curl_easy_reset(h);
    struct curl_slist *hl = NULL;
    for (size_t i = 0; req->headers != NULL && req->headers[i] != NULL; i++)
        hl = curl_slist_append(hl, req->headers[i]);
    /* No "Expect: 100-continue" round trip before large bodies (the empty header is not signed). */
    hl = curl_slist_append(hl, "Expect:");
    if (req->signing != NULL && sign(req, method, &hl, resp) != 0) {
        curl_slist_free_all(hl);
        return -1;
    }
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    if (post) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                     req->timeout_ms > 0 ? req->timeout_ms : (long)PZ_BLOCKING_DEFAULT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "personalization-server");
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https"); /* never file:// or others from a URL we were given */
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(hl);
    if (rc != CURLE_OK) {
        set_error(resp, "%s: %s", req->url, rc == CURLE_WRITE_ERROR ? "response too large" : curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    return 0;
}

int pz_blocking_post(pz_blocking_client *c, const pz_blocking_request *req, pz_blocking_response *resp)
{
    pz_blocking_request post = *req;
    post.method = "POST";
    return pz_blocking_call(c, &post, resp);
}

void pz_blocking_response_free(pz_blocking_response *resp)
{
    pz_buf_free(&resp->body);
}
