#include "gateway/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>
#include <h2o/http1.h>
#include <h2o/http2.h>

#include "gateway/compress.h"
#include "gateway/http_guard.h"
#include "gateway/routes.h"
#include "gateway/transcode.h"
#include "server/core/hints.h"
#include "server/core/clock.h"
#include "server/core/log.h"
#include "server/net/conn_limits.h"
#include "server/net/listener.h"
#include "server/net/tls_context.h"

/* Response bodies are bounded: a full 500-item decorated list fits easily. */
#define MAX_RESPONSE_BYTES (16u << 20)
/* An error body is a type, a code and one message; the longest messages quote a few hundred
 * bytes of the input, so this bound is never reached in practice. */
#define MAX_ERROR_BODY_BYTES (64u * 1024)
/* A local route's answer when the options set no cap: /healthz is a few hundred bytes. */
#define MAX_LOCAL_BODY_BYTES (64u * 1024)
/* pz_http_options.max_body_bytes 0: 1 MiB, the default of --max-body-bytes; a rerank or events
 * body at its upstream limits (500 ids, 10 events) is far smaller. */
#define DEFAULT_MAX_BODY_BYTES (1u << 20)
/* Defaults of the limits (pz_http_options fields left 0; README "Security and limits"). */
/* Browsers open about 6 connections per site and a load balancer a pool: thousands of clients at a
 * descriptor each; the process raises its descriptor limit to fit (server/main.c). */
#define DEFAULT_MAX_CONNECTIONS PZ_HTTP_DEFAULT_MAX_CONNECTIONS
/* One NAT or proxy address carries many users; an attacker on one address gets no more. */
#define DEFAULT_MAX_CONNECTIONS_PER_CLIENT PZ_HTTP_DEFAULT_MAX_CONNECTIONS_PER_CLIENT
/* API Gateway's (upstream's edge) limit on the request line and headers together; h2o's own is 408
 * KiB for HTTP/1.1 (H2O_MAX_REQLEN) and has none of its own for HTTP/2 beyond HPACK's. A Cognito
 * token with many groups is a few KB. */
#define DEFAULT_MAX_HEADER_BYTES PZ_HTTP_DEFAULT_MAX_HEADER_BYTES
/* h2o's own default for both HTTP/1.1 keep-alive and HTTP/2 idle connections. */
#define DEFAULT_IDLE_TIMEOUT_MS PZ_HTTP_DEFAULT_IDLE_TIMEOUT_MS
/* Long enough for a request whose body is still arriving; an idle keep-alive connection is closed
 * once its grace is over. */
#define DEFAULT_SHUTDOWN_GRACE_MS PZ_DEFAULT_SHUTDOWN_GRACE_MS
/* After the grace, connections are shut down and the loop runs this long at most for them to go. */
#define FORCED_CLOSE_WAIT_MS 1000
/* While stopping, the loop wakes this often to see whether every connection has gone. */
#define STOP_POLL_MS 10
/* Refused connections and accept pauses are logged at most this often per loop. */
#define REFUSAL_LOG_INTERVAL_MS 10000
#define US_PER_MS 1000
/* The longest a loop waits in epoll: it checks `stopping` between waits, so this bounds how long
 * stop takes, while a quiet server wakes only ten times a second. */
#define LOOP_WAIT_MS 100
/* h2o's port number for "any port": the one host config serves whatever port we listen on. */
#define H2O_ANY_PORT 65535
/* h2o's req->version is 0x100 * major + minor: 0x200 and up is HTTP/2. */
#define H2O_VERSION_HTTP2 0x200
/* The Allow value of one path: its methods and OPTIONS ("GET,POST,OPTIONS" is 16 bytes). */
#define ALLOW_MAX 64
/* Any int in decimal (at most 11 bytes) and its NUL. */
#define INT_STRING_MAX 16

static const char CORS_ALLOW_HEADERS[] =
    "Authorization,Content-Type,X-Amz-Date,X-Amz-Security-Token,X-Api-Key,If-None-Match";
static const char CORS_EXPOSE_HEADERS[] =
    "ETag,X-Personalization-Config-Version,X-Personalization-Variation,X-Personalization-Experiment,"
    "X-Personalization-Fallback,X-Request-Id";
/* Seconds a browser may reuse a preflight: upstream's value (Powertools CORSConfig max_age=500,
 * spec §1.5). */
static const char CORS_MAX_AGE[] = "500";

typedef struct loop_thread {
    struct pz_http_server *server;
    pthread_t tid;
    int fd;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t receiver;
    h2o_timeout_t accept_pause; /* PZ_ACCEPT_PAUSE_MS */
    h2o_timeout_entry_t accept_resume;
    h2o_linklist_t conns; /* rest_conn of this loop's open connections */
    size_t n_conns;
    int64_t last_refusal_log_ms, last_pause_log_ms;
    unsigned long refused_since_log;
} loop_thread;

/* An admitted connection, from accept to the socket's close (h2o_socket_t.on_close). */
typedef struct rest_conn {
    h2o_linklist_t link;
    loop_thread *thread;
    h2o_socket_t *sock;
    struct sockaddr_storage peer;
} rest_conn;

/* The callback answering a local route (pz_local_route), with its context. */
typedef struct local_handler {
    pz_health_fn fn; /* NULL: the route is not wired in this server and answers 404 */
    void *ctx;
} local_handler;

struct pz_http_server {
    pz_http_options opts;
    local_handler local[PZ_LOCAL__COUNT];
    h2o_globalconf_t config;
    pz_tls_context *tls; /* NULL: plaintext; set at start, never changes */
    pz_conn_limits *limits;
    int shutdown_grace_ms;
    size_t max_header_bytes;
    atomic_bool stopping;
    int n_threads;
    loop_thread *threads;
    char **route_labels; /* "METHOD /path/template" of each pz_routes row, for the access log */
};

/* One REST call in flight. Allocated outside the h2o pool because the core may complete it after
 * h2o disposed of the request (client gone); `guard` is a shared chunk linked to the h2o pool that
 * tells us when that happened. */
typedef struct rest_call {
    h2o_multithread_message_t message; /* completion posted from another thread */
    loop_thread *thread;
    h2o_req_t *h2o_req; /* NULL once h2o disposed of the request */
    struct rest_call **guard;
    const pz_route *route;
    bool wants_html; /* the route has a page and the client asked for text/html */
    const char *route_label;
    struct sockaddr_storage peer; /* AF_UNSPEC when unknown; formatted only for the access log */
    pz_arena arena;
    pz_request req;
} rest_call;

/* ---- response helpers ---- */

/* Values that could split the header (CR, LF, other control characters) are never written. */
static void add_header(h2o_req_t *req, const char *name, const char *value)
{
    if (!pz_header_value_valid(value)) {
        pz_warn("rest: header %s not sent: its value holds a control character", name);
        return;
    }
    h2o_iovec_t v = h2o_strdup(&req->pool, value, strlen(value));
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 1, NULL, v.base, v.len);
}

/* Vary: Accept-Encoding, in the one Vary header the response has (automatic context's, when its
 * rules read request headers): clients and caches that keep one header per name see both. */
static void add_vary_encoding(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_VARY, -1);
    if (i < 0) {
        add_header(req, "vary", "Accept-Encoding");
        return;
    }
    h2o_iovec_t *v = &req->res.headers.entries[i].value;
    *v = h2o_concat(&req->pool, *v, h2o_iovec_init(H2O_STRLIT(", Accept-Encoding")));
}

static void add_cors(pz_http_server *s, h2o_req_t *req)
{
    if (s->opts.refuse_browsers)
        return;
    add_header(req, "access-control-allow-origin", s->opts.cors_allow_origin ? s->opts.cors_allow_origin : "*");
    add_header(req, "access-control-expose-headers", CORS_EXPOSE_HEADERS);
}

static void send_error_with_hints(pz_http_server *s, h2o_req_t *req, const pz_error *err, const pz_response_hints *h);

/* The reason phrases (RFC 9110 §15) of every status this front sends (server/core/status.c maps
 * the core's statuses; 405 is the front's own); HTTP/1.1 status lines carry them, HTTP/2
 * has none. */
static const struct {
    int status;
    const char *reason;
} REASONS[] = {
    {200, "OK"},
    {204, "No Content"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

static const char *reason_phrase(int status)
{
    for (size_t i = 0; i < sizeof REASONS / sizeof REASONS[0]; i++)
        if (REASONS[i].status == status)
            return REASONS[i].reason;
    return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
}

static bool is_head(const h2o_req_t *req)
{
    return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
}

/* Ends a response whose status and headers are set: the body, or for HEAD none (the headers,
 * Content-Length included, stay those of the GET). */
static void send_body(h2o_req_t *req, h2o_iovec_t body)
{
    if (is_head(req))
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    else
        h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

/* Sends status + body (copied into the request pool) and ends the response. */
static void send_response(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    if (content_type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    /* A 304 has no body and must not claim one (RFC 9110 §8.6): no Content-Length at all. */
    req->res.content_length = status == 304 ? SIZE_MAX : len;
    h2o_start_response(req, &generator);
    send_body(req, h2o_strdup(&req->pool, body != NULL ? body : "", len));
}

static void release_prepared(void *hold)
{
    pz_prepared_unref(*(const pz_prepared_response **)hold);
}

/* Sends a body the core prepared once (response cache), or its coded variant, without copying it:
 * the request's pool holds a reference until h2o disposes of the request, i.e. after the bytes are
 * written. */
static void send_prepared_json(h2o_req_t *req, const pz_prepared_response *p, const pz_prepared_variant *v)
{
    static h2o_generator_t generator = {NULL, NULL};
    const pz_prepared_response **hold = h2o_mem_alloc_shared(&req->pool, sizeof *hold, release_prepared);
    *hold = pz_prepared_ref(p);
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_iovec_t buf = v != NULL ? h2o_iovec_init(v->data, v->len) : h2o_iovec_init(p->json, p->json_len);
    req->res.content_length = buf.len;
    h2o_start_response(req, &generator);
    send_body(req, buf);
}

/* ---- compression (gateway/compress.h) ---- */

/* Whether a JSON body of len bytes is sent in a coding when the client accepts one: then the
 * response varies with Accept-Encoding, whatever this client accepted. */
static bool compressible(const pz_http_server *s, size_t len)
{
    return s->opts.compress_min_bytes > 0 && len >= s->opts.compress_min_bytes;
}

/* The coding this request accepts best, `tie` when it accepts both equally (gateway/compress.h:
 * br for a body coded once and kept, gzip for one coded per response), or -1. */
static int accepted_coding(h2o_req_t *req, pz_coding tie)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_ACCEPT_ENCODING, -1);
    return i >= 0 ? pz_coding_for(req->headers.entries[i].value.base, req->headers.entries[i].value.len, tie) : -1;
}

/* The coded variant of a prepared body this request gets (made once, kept with it; its coding's
 * name in *name), or NULL for the body as it is. The coding numbers are the variant slots. */
static const pz_prepared_variant *prepared_variant(const pz_http_server *s, h2o_req_t *req,
                                                   const pz_prepared_response *p, const char **name)
{
    int coding = p->json != NULL && compressible(s, p->json_len) ? accepted_coding(req, PZ_CODING_BR) : -1;
    if (coding < 0)
        return NULL;
    *name = pz_coding_name(coding);
    const pz_prepared_variant *v =
        pz_prepared_variant_get(p, (size_t)coding, *name, pz_compress, (void *)(intptr_t)coding);
    return v != NULL && v->data != NULL ? v : NULL;
}

static void send_error(pz_http_server *s, h2o_req_t *req, const pz_error *err)
{
    send_error_with_hints(s, req, err, NULL);
}

/* An error carries the hints marked on_errors (the request id) and the error hints (server/core/hints.h). */
static void send_error_with_hints(pz_http_server *s, h2o_req_t *req, const pz_error *err, const pz_response_hints *h)
{
    for (size_t i = 0; h != NULL && i < PZ_HINT_HEADERS_COUNT; i++) {
        const char *value =
            pz_hint_headers[i].on_errors ? pz_hint_value(&pz_hint_headers[i], h, PZ_FRONT_REST, true) : NULL;
        if (value != NULL)
            add_header(req, pz_hint_headers[i].name, value);
    }
    for (size_t i = 0; h != NULL && i < PZ_ERROR_HINT_HEADERS_COUNT; i++) {
        const char *value = pz_hint_value(&pz_error_hint_headers[i], h, PZ_FRONT_REST, false);
        if (value != NULL)
            add_header(req, pz_error_hint_headers[i].name, value);
    }
    pz_buf body;
    pz_buf_init(&body, MAX_ERROR_BODY_BYTES);
    pz_route_error_json(err, &body);
    add_cors(s, req);
    send_response(req, pz_status_http(err->status), "application/json", body.data, body.len);
    pz_buf_free(&body);
}

static void log_plain(h2o_req_t *req, int status)
{
    if (!pz_log_enabled(PZ_LOG_INFO))
        return;
    pz_info("access rest %.*s %.*s status=%d", (int)req->method.len, req->method.base, (int)req->path.len,
            req->path.base, status);
}

/* ---- completion of core calls ---- */

static void on_guard_dispose(void *p)
{
    rest_call **guard = p;
    if (*guard != NULL)
        (*guard)->h2o_req = NULL;
}

static void free_call(rest_call *call)
{
    if (call->guard != NULL && call->h2o_req != NULL)
        *call->guard = NULL; /* the pool may still be cleared later: detach */
    pz_arena_destroy(&call->arena);
    free(call);
}

static void add_hint_headers(rest_call *call, h2o_req_t *req, const pz_response_hints *h)
{
    for (size_t i = 0; i < PZ_HINT_HEADERS_COUNT; i++) {
        const char *value = pz_hint_value(&pz_hint_headers[i], h, PZ_FRONT_REST, call->route->cacheable);
        if (value != NULL)
            add_header(req, pz_hint_headers[i].name, value);
    }
}

/* A prepared response (a 200, or a 304 naming it): the representation this request gets, with its
 * ETag. */
static void write_prepared(pz_http_server *s, rest_call *call, h2o_req_t *req, bool not_modified)
{
    const pz_prepared_response *p = call->req.prepared;
    const char *coding = NULL;
    const pz_prepared_variant *v = prepared_variant(s, req, p, &coding);
    pz_response_hints h = call->req.hints;
    if (v != NULL)
        h.etag = v->etag;
    add_hint_headers(call, req, &h);
    if (p->json != NULL && compressible(s, p->json_len))
        add_vary_encoding(req);
    add_cors(s, req);
    if (not_modified) {
        send_response(req, 304, NULL, NULL, 0);
        return;
    }
    if (v != NULL)
        add_header(req, "content-encoding", coding);
    send_prepared_json(req, p, v);
}

/* A body rendered for this response alone, coded per response when the client accepts it. */
static void send_json(pz_http_server *s, h2o_req_t *req, const char *json, size_t len)
{
    int coding = compressible(s, len) ? accepted_coding(req, PZ_CODING_GZIP) : -1;
    if (compressible(s, len))
        add_vary_encoding(req);
    if (coding >= 0) {
        pz_buf coded;
        pz_buf_init(&coded, len - 1); /* a coding that saves nothing is not used */
        if (pz_compress((void *)(intptr_t)coding, json, len, &coded) == 0) {
            add_header(req, "content-encoding", pz_coding_name(coding));
            send_response(req, 200, "application/json", coded.data, coded.len);
            pz_buf_free(&coded);
            return;
        }
        pz_buf_free(&coded);
    }
    send_response(req, 200, "application/json", json, len);
}

static void write_success(pz_http_server *s, rest_call *call, h2o_req_t *req)
{
    const pz_response_hints *h = &call->req.hints;
    bool not_modified = h->not_modified && call->route->cacheable;
    if (call->req.prepared != NULL && !call->route->empty_success_body) {
        write_prepared(s, call, req, not_modified);
        return;
    }
    add_hint_headers(call, req, h);
    add_cors(s, req);
    if (not_modified) {
        send_response(req, 304, NULL, NULL, 0);
        return;
    }
    if (call->route->empty_success_body) {
        send_response(req, 200, "text/plain", NULL, 0);
        return;
    }
    pz_buf body;
    pz_buf_init(&body, MAX_RESPONSE_BYTES);
    if (call->wants_html && call->req.response != NULL && call->route->html(call->req.response, &body) == 0) {
        send_response(req, 200, "text/html; charset=utf-8", body.data, body.len);
        pz_buf_free(&body);
        return;
    }
    pz_buf_clear(&body);
    if (call->req.response == NULL || pz_message_to_json(call->req.response, &body) != 0) {
        pz_buf_free(&body);
        pz_error e = {PZ_INTERNAL, "Unhandled", "ResponseTooLarge", "the response exceeds the server's size limit"};
        req->res.headers = (h2o_headers_t){NULL, 0, 0};
        send_error(s, req, &e);
        return;
    }
    send_json(s, req, body.data, body.len);
    pz_buf_free(&body);
}

static void handle_local(pz_http_server *s, h2o_req_t *req, const pz_route *route, const local_handler *h);

/* A local row the core admitted (or refused). */
static void finish_local(rest_call *call)
{
    h2o_req_t *req = call->h2o_req;
    pz_http_server *s = call->thread->server;
    if (call->req.status != PZ_OK) {
        pz_request_log_access(&call->req, call->route_label, pz_status_http(call->req.status));
        if (req != NULL)
            send_error_with_hints(s, req, &call->req.error, &call->req.hints);
    } else if (req != NULL) {
        handle_local(s, req, call->route, &s->local[call->route->local]);
    }
    free_call(call);
}

/* Runs on the call's loop thread. */
static void finish_call(rest_call *call)
{
    h2o_req_t *req = call->h2o_req;
    pz_http_server *s = call->thread->server;
    if (call->route->local != PZ_LOCAL_NONE) {
        finish_local(call);
        return;
    }
    int status = call->req.status == PZ_OK ? (call->req.hints.not_modified && call->route->cacheable ? 304 : 200)
                                           : pz_status_http(call->req.status);
    pz_request_log_access(&call->req, call->route_label, status);
    if (req != NULL) {
        if (call->req.status == PZ_OK)
            write_success(s, call, req);
        else
            send_error_with_hints(s, req, &call->req.error, &call->req.hints);
    }
    free_call(call);
}

static void on_core_done(pz_request *preq)
{
    rest_call *call = preq->front_data;
    if (pthread_equal(pthread_self(), call->thread->tid)) {
        finish_call(call);
        return;
    }
    h2o_multithread_send_message(&call->thread->receiver, &call->message);
}

static void on_completions(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        finish_call(H2O_STRUCT_FROM_MEMBER(rest_call, message, m));
    }
}

/* ---- request handling ---- */

/* pz_request.client_addr_fn: the peer address kept at receipt, formatted when the access log
 * asks (not at all when it is off). */
static const char *client_addr(const pz_request *preq)
{
    /* The call that holds preq, not front_data: a handler may stand in front_data while it decides
     * (server/ops/admin.h's admission) and ask for the address meanwhile. */
    rest_call *call = (rest_call *)((char *)preq - offsetof(rest_call, req));
    const struct sockaddr_storage *ss = &call->peer;
    char host[INET6_ADDRSTRLEN] = "";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
        return pz_arena_printf(&call->arena, "%s:%d", host, ntohs(sin->sin_port));
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
        return pz_arena_printf(&call->arena, "[%s]:%d", host, ntohs(sin6->sin6_port));
    }
    return NULL;
}

/* Whether an Accept value names text/html (with a q-value above 0), as browsers send for pages. */
static bool accepts_html(const char *v, size_t len)
{
    const char *end = v + len;
    while (v < end) {
        const char *comma = memchr(v, ',', (size_t)(end - v));
        const char *item_end = comma != NULL ? comma : end;
        while (v < item_end && *v == ' ')
            v++;
        size_t n = (size_t)(item_end - v);
        if (n >= 9 && strncasecmp(v, "text/html", 9) == 0 && (n == 9 || v[9] == ';' || v[9] == ' ')) {
            const char *q = memmem(v, n, "q=0", 3);
            bool zero = q != NULL && (q + 3 == item_end || q[3] == ' ' ||
                                      (q[3] == '.' && strspn(q + 4, "0") == (size_t)(item_end - q - 4)));
            return !zero;
        }
        v = item_end + 1;
    }
    return false;
}

static void copy_headers(rest_call *call, h2o_req_t *req)
{
    pz_header *hs = pz_arena_calloc(&call->arena, req->headers.size ? req->headers.size : 1, sizeof *hs);
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        hs[i].name = pz_arena_strndup(&call->arena, h->name->base, h->name->len);
        hs[i].name_len = h->name->len;
        hs[i].value = pz_arena_strndup(&call->arena, h->value.base, h->value.len);
        hs[i].value_len = h->value.len;
        /* Validators apply to GET inference only: POST rerank is never answered with 304. */
        if (call->route->cacheable && h2o_memis(h->name->base, h->name->len, H2O_STRLIT("if-none-match")))
            call->req.if_none_match = hs[i].value;
        /* A browser asks for text/html first; API clients ask for JSON or anything. */
        if (call->route->html != NULL && h2o_memis(h->name->base, h->name->len, H2O_STRLIT("accept")) &&
            accepts_html(h->value.base, h->value.len))
            call->wants_html = true;
    }
    call->req.headers = hs;
    call->req.n_headers = req->headers.size;
}

static void handle_preflight(pz_http_server *s, h2o_req_t *req, const char *allow)
{
    add_header(req, "access-control-allow-origin", s->opts.cors_allow_origin ? s->opts.cors_allow_origin : "*");
    add_header(req, "access-control-allow-methods", allow);
    add_header(req, "access-control-allow-headers", CORS_ALLOW_HEADERS);
    add_header(req, "access-control-max-age", CORS_MAX_AGE);
    send_response(req, 204, NULL, NULL, 0);
    log_plain(req, 204);
}

/* A local route (GET /healthz, GET /metrics): its callback's body, never cached. */
static void handle_local(pz_http_server *s, h2o_req_t *req, const pz_route *route, const local_handler *h)
{
    pz_buf body;
    pz_buf_init(&body, s->opts.max_local_body_bytes > 0 ? s->opts.max_local_body_bytes : MAX_LOCAL_BODY_BYTES);
    int status = h->fn(h->ctx, &body);
    if (body.len == 0 && route->content_type == NULL)
        pz_buf_append_str(&body, "{\"status\":\"SERVING\"}");
    add_cors(s, req);
    add_header(req, "cache-control", "no-store");
    send_response(req, status, route->content_type != NULL ? route->content_type : "application/json", body.data,
                  body.len);
    pz_buf_free(&body);
    log_plain(req, status);
}

/* The request's origin, "scheme://authority", for the document's servers (pz_docs_answer checks it
 * before use). */
static const char *request_origin(h2o_req_t *req)
{
    if (req->authority.len == 0)
        return NULL;
    h2o_iovec_t o = h2o_concat(&req->pool, h2o_iovec_init(req->scheme->name.base, req->scheme->name.len),
                               h2o_iovec_init(H2O_STRLIT("://")), req->authority);
    return h2o_strdup(&req->pool, o.base, o.len).base;
}

/* A documentation route (gateway/docs.h). Kept bodies (assets, the .proto) are sent without a
 * copy: the docs outlive the server's loops. */
static void handle_docs(pz_http_server *s, h2o_req_t *req, const pz_route *route, const pz_route_params *params)
{
    static h2o_generator_t generator = {NULL, NULL};
    ssize_t inm = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
    const char *if_none_match =
        inm >= 0
            ? h2o_strdup(&req->pool, req->headers.entries[inm].value.base, req->headers.entries[inm].value.len).base
            : NULL;
    pz_docs_response r;
    pz_docs_answer(s->opts.docs, route->local, params->n > 0 ? params->values[0] : NULL, request_origin(req),
                   if_none_match, &r);
    add_cors(s, req);
    add_header(req, "cache-control", r.cache_control);
    if (r.etag[0] != '\0')
        add_header(req, "etag", r.etag);
    if (r.content_security_policy != NULL)
        add_header(req, "content-security-policy", r.content_security_policy);
    req->res.status = r.status;
    req->res.reason = reason_phrase(r.status);
    if (r.status != 304)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, r.content_type,
                       strlen(r.content_type));
    req->res.content_length = r.status == 304 ? SIZE_MAX : r.len;
    h2o_start_response(req, &generator);
    send_body(req, r.owned.len > 0 ? h2o_strdup(&req->pool, r.body, r.len) : h2o_iovec_init(r.body, r.len));
    pz_docs_response_free(&r);
    log_plain(req, r.status);
}

/* /healthz without a health callback: the process is up, and that is all it can say. */
static int health_serving(void *ctx, pz_buf *out)
{
    (void)ctx;
    (void)out;
    return 200;
}

/* Whether a browser sent the request: it carries Origin or Sec-Fetch-Site. */
static bool from_browser(h2o_req_t *req)
{
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_iovec_t *n = req->headers.entries[i].name;
        if (h2o_memis(n->base, n->len, H2O_STRLIT("origin")) ||
            h2o_memis(n->base, n->len, H2O_STRLIT("sec-fetch-site")))
            return true;
    }
    return false;
}

/* A refusal by the front itself, in the upstream error shape with CORS. */
static void send_front_error(pz_http_server *s, h2o_req_t *req, int status, const char *code, const char *message)
{
    pz_error e = {PZ_INVALID_ARGUMENT, "Validation", code, message};
    pz_buf body;
    pz_buf_init(&body, MAX_ERROR_BODY_BYTES);
    pz_route_error_json(&e, &body);
    add_cors(s, req);
    send_response(req, status, "application/json", body.data, body.len);
    pz_buf_free(&body);
    log_plain(req, status);
}

/* HTTP/1.x requests that h2o 2.2.5 serves but must not be: no Host in HTTP/1.1, ambiguous body
 * framing (gateway/http_guard.h). They get 400 and the connection is closed, since what follows
 * on it cannot be told apart from the request. HTTP/2 has neither problem. */
static bool reject_malformed_http1(pz_http_server *s, h2o_req_t *req)
{
    if (req->version >= H2O_VERSION_HTTP2)
        return false;
    /* h2o keeps the raw request head at the start of the connection's input until the response is
     * done; Host (h2o fills in a default) and the framing headers (h2o drops them) are only there. */
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    pz_http1_framing f = sock != NULL && sock->input != NULL
                             ? pz_http1_check_framing(sock->input->bytes, sock->input->size)
                             : PZ_FRAMING_OK;
    if (f == PZ_FRAMING_OK)
        return false;
    req->http1_is_persistent = 0;
    send_front_error(s, req, 400, "BadRequest", pz_http1_framing_message(f));
    return true;
}

/* A POST a web page could send cross-origin without a CORS preflight (gateway/http_guard.h): from a
 * browser (Origin: browsers always send it on a POST, other clients normally do not), with no
 * Content-Type or a CORS-safelisted one. CORS "*" cannot protect such a request, so it is refused;
 * without Origin any body is read as JSON, as upstream does. */
static bool is_preflight_free_browser_post(const h2o_req_t *req)
{
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")) ||
        h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1) < 0)
        return false;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    return i < 0 ? pz_cors_simple_body_type(NULL, 0)
                 : pz_cors_simple_body_type(req->headers.entries[i].value.base, req->headers.entries[i].value.len);
}

/* Fills the core's request for a matched row: route, guard, protocol, client address, headers. */
static void start_call(pz_http_server *s, rest_call *call, h2o_req_t *req, const pz_route *route)
{
    call->route = route;
    call->route_label = s->route_labels[route - pz_routes];
    call->h2o_req = req;
    call->guard = h2o_mem_alloc_shared(&req->pool, sizeof *call->guard, on_guard_dispose);
    *call->guard = call;
    pz_request_init(&call->req, &call->arena);
    call->req.rpc = route->rpc;
    call->req.protocol = req->version >= H2O_VERSION_HTTP2 ? "rest-h2" : "rest";
    call->req.uncacheable = !route->cacheable;
    call->req.on_done = on_core_done;
    call->req.front_data = call;
    if (req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&call->peer) == 0)
        call->peer.ss_family = AF_UNSPEC;
    call->req.client_addr_fn = client_addr;
    copy_headers(call, req);
    pz_request_assign_id(&call->req);
}

/* The bytes a request's head holds: its path and every header name and value (h2o already parsed
 * them; this bounds what reaches the core and its logs, and is upstream's 10 KiB edge limit). */
static size_t head_bytes(const h2o_req_t *req)
{
    size_t n = req->path.len;
    for (size_t i = 0; i < req->headers.size; i++)
        n += req->headers.entries[i].name->len + req->headers.entries[i].value.len;
    return n;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    loop_thread *thread = H2O_STRUCT_FROM_MEMBER(loop_thread, ctx, req->conn->ctx);
    pz_http_server *s = thread->server;
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    if (reject_malformed_http1(s, req))
        return 0;
    if (head_bytes(req) > s->max_header_bytes) {
        send_front_error(s, req, 431, "RequestHeaderFieldsTooLarge",
                         "the request's path and headers are larger than this server accepts");
        return 0;
    }

    if (s->opts.refuse_browsers && from_browser(req)) {
        static const char BODY[] = "{\"type\":\"Routing\",\"code\":\"BrowserRequestRefused\",\"message\":\"this "
                                   "listener does not serve browsers (the request has Origin or Sec-Fetch-Site)\"}";
        send_response(req, 403, "application/json", BODY, sizeof BODY - 1);
        log_plain(req, 403);
        return 0;
    }
    rest_call *call = pz_calloc(1, sizeof *call);
    call->thread = thread;
    pz_arena_init(&call->arena);
    const pz_route *route = NULL;
    pz_route_params params;
    char allow[ALLOW_MAX];
    /* HEAD is GET without the body (send_body): it routes as GET. */
    h2o_iovec_t method = is_head(req) ? h2o_iovec_init(H2O_STRLIT("GET")) : req->method;
    pz_route_match_result m = pz_route_match(s->opts.api, method.base, method.len, req->path.base, path_len,
                                             &call->arena, &route, &params, allow, sizeof allow);
    if (m == PZ_ROUTE_MATCHED && route->local != PZ_LOCAL_NONE && s->opts.docs != NULL &&
        (route->local == PZ_LOCAL_OPENAPI || route->local == PZ_LOCAL_DOCS || route->local == PZ_LOCAL_DOCS_ASSET ||
         route->local == PZ_LOCAL_PROTO)) {
        handle_docs(s, req, route, &params);
        free_call(call);
        return 0;
    }
    if (m == PZ_ROUTE_MATCHED && route->local != PZ_LOCAL_NONE) {
        if (s->local[route->local].fn == NULL) {
            m = PZ_ROUTE_NO_PATH; /* not wired in this server: as unknown as any other path */
        } else if (!route->open && s->opts.authorize_admin != NULL) {
            start_call(s, call, req, route);
            s->opts.authorize_admin(s->opts.authorize_admin_ctx, &call->req); /* then finish_local */
            return 0;
        } else {
            handle_local(s, req, route, &s->local[route->local]);
            free_call(call);
            return 0;
        }
    }
    if (m == PZ_ROUTE_WRONG_METHOD && h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS"))) {
        handle_preflight(s, req, allow);
        free_call(call);
        return 0;
    }
    if (m != PZ_ROUTE_MATCHED) {
        pz_error e = {PZ_NOT_FOUND, "Routing", "RouteNotFound", "Not found"};
        if (m == PZ_ROUTE_WRONG_METHOD) {
            e = (pz_error){PZ_INVALID_ARGUMENT, "Routing", "MethodNotAllowed",
                           pz_arena_printf(&call->arena, "method %.*s is not allowed here; allowed: %s",
                                           (int)req->method.len, req->method.base, allow)};
            add_header(req, "allow", allow);
        } else if (m == PZ_ROUTE_BAD_ENCODING) {
            e = (pz_error){PZ_INVALID_ARGUMENT, "Validation", "ValidationError",
                           "a path segment has a malformed percent-encoding"};
        }
        pz_buf body;
        pz_buf_init(&body, MAX_ERROR_BODY_BYTES);
        pz_route_error_json(&e, &body);
        add_cors(s, req);
        int status = m == PZ_ROUTE_WRONG_METHOD ? 405 : pz_status_http(e.status);
        send_response(req, status, "application/json", body.data, body.len);
        pz_buf_free(&body);
        log_plain(req, status);
        free_call(call);
        return 0;
    }

    if (is_preflight_free_browser_post(req)) {
        send_front_error(s, req, 415, "UnsupportedMediaType",
                         "a browser may send this body type without a CORS preflight, so it is refused from "
                         "browsers: send the body with Content-Type: application/json");
        free_call(call);
        return 0;
    }

    start_call(s, call, req, route);
    const char *query = req->query_at != SIZE_MAX ? req->path.base + req->query_at + 1 : "";
    size_t query_len = req->query_at != SIZE_MAX ? req->path.len - req->query_at - 1 : 0;
    ProtobufCMessage *msg = NULL;
    pz_error err;
    pz_route_query q = {0}; /* a body that is the whole message takes no query parameters */
    pz_status built =
        route->body == PZ_ROUTE_BODY_MESSAGE ? PZ_OK : pz_route_parse_query(query, query_len, &call->arena, &q, &err);
    if (built == PZ_OK)
        built = pz_route_build_request_from(route, &params, &q, req->entity.base, req->entity.len, &call->arena, &msg,
                                            &err);
    if (route->forwards_body) { /* the namespace decides whether the body must be a message */
        call->req.body =
            pz_arena_strndup(&call->arena, req->entity.base != NULL ? req->entity.base : "", req->entity.len);
        call->req.body_len = req->entity.len;
        if (built != PZ_OK && pz_route_build_path_only(route, &params, &call->arena, &msg, &err) == PZ_OK) {
            pz_error *copy = pz_arena_alloc(&call->arena, sizeof *copy);
            *copy = err;
            call->req.body_error = copy;
            built = PZ_OK;
        }
    }
    if (built != PZ_OK) {
        call->req.status = err.status;
        call->req.error = err;
        finish_call(call);
        return 0;
    }
    call->req.message = msg;
    call->req.query_params = q.params;
    call->req.n_query_params = q.n;
    s->opts.handle(s->opts.handle_ctx, &call->req);
    return 0;
}

/* ---- listeners and loops ---- */

static int64_t mono_ms(void)
{
    return pz_mono_us() / US_PER_MS;
}

static void on_conn_closed(void *data)
{
    rest_conn *rc = data;
    loop_thread *t = rc->thread;
    pz_conn_limits_release(t->server->limits, (const struct sockaddr *)&rc->peer);
    h2o_linklist_unlink(&rc->link);
    t->n_conns--;
    free(rc);
}

static void on_accept(h2o_socket_t *listener, const char *err);

static void on_accept_resume(h2o_timeout_entry_t *entry)
{
    loop_thread *t = H2O_STRUCT_FROM_MEMBER(loop_thread, accept_resume, entry);
    if (t->listener != NULL)
        h2o_socket_read_start(t->listener, on_accept);
}

/* accept() failed for want of descriptors or memory: the listener stays readable, so stop
 * watching it for a moment instead of spinning (the loop keeps serving its connections). */
static void pause_accepting(loop_thread *t, int error)
{
    h2o_socket_read_stop(t->listener);
    if (!h2o_timeout_is_linked(&t->accept_resume))
        h2o_timeout_link(t->ctx.loop, &t->accept_pause, &t->accept_resume);
    int64_t now = mono_ms();
    if (now - t->last_pause_log_ms >= REFUSAL_LOG_INTERVAL_MS) {
        pz_warn("rest: cannot accept connections (%s); pausing accepts for %d ms at a time", strerror(error),
                PZ_ACCEPT_PAUSE_MS);
        t->last_pause_log_ms = now;
    }
}

static void log_refusal(loop_thread *t, pz_conn_verdict v, const struct sockaddr_storage *ss)
{
    t->refused_since_log++;
    int64_t now = mono_ms();
    if (now - t->last_refusal_log_ms < REFUSAL_LOG_INTERVAL_MS)
        return;
    char host[INET6_ADDRSTRLEN] = "-";
    if (ss->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, sizeof host);
    else if (ss->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, host, sizeof host);
    pz_warn("rest: refused %lu connection(s) (last from %s: %s limit)", t->refused_since_log, host,
            pz_conn_verdict_str(v));
    t->refused_since_log = 0;
    t->last_refusal_log_ms = now;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL)
        return;
    loop_thread *t = listener->data;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock == NULL) {
        if (PZ_ACCEPT_ERROR_IS_EXHAUSTION(errno))
            pause_accepting(t, errno);
        return;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (h2o_socket_getpeername(sock, (struct sockaddr *)&ss) == 0)
        ss.ss_family = AF_UNSPEC;
    pz_conn_verdict v = pz_conn_limits_admit(t->server->limits, (struct sockaddr *)&ss, mono_ms());
    if (v != PZ_CONN_ADMITTED) {
        h2o_socket_close(sock);
        log_refusal(t, v, &ss);
        return;
    }
    rest_conn *rc = pz_calloc(1, sizeof *rc);
    rc->thread = t;
    rc->sock = sock;
    rc->peer = ss;
    h2o_linklist_insert(&t->conns, &rc->link);
    t->n_conns++;
    sock->on_close.cb = on_conn_closed;
    sock->on_close.data = rc;
    pz_http_server *s = t->server;
    if (s->tls == NULL) {
        h2o_accept(&t->accept_ctx, sock);
        return;
    }
    /* The context of the moment: a reload may swap it; the handshake's SSL holds its own reference
     * (taken by SSL_new inside h2o_accept), so ours is dropped right after. */
    SSL_CTX *ctx = pz_tls_context_acquire(s->tls);
    t->accept_ctx.ssl_ctx = ctx;
    h2o_accept(&t->accept_ctx, sock);
    t->accept_ctx.ssl_ctx = NULL;
    SSL_CTX_free(ctx);
}

/* Runs the loop until every connection closed or `ms` passed. */
static void run_until_closed(loop_thread *t, int ms)
{
    int64_t end = mono_ms() + ms;
    while (t->n_conns > 0 && mono_ms() < end)
        h2o_evloop_run(t->ctx.loop, STOP_POLL_MS);
}

/* Stop, on the loop's thread: no new connections; HTTP/2 connections get GOAWAY and HTTP/1.1 ones
 * close after their current response (h2o's graceful shutdown); whatever is still open after the
 * grace (idle keep-alive connections, stalled uploads) is shut down, which h2o sees as the peer
 * closing. Only then can the context be disposed: h2o asserts that no connection's timer is left.
 * Returns whether every connection closed. */
static bool close_connections(loop_thread *t)
{
    h2o_socket_read_stop(t->listener);
    h2o_socket_close(t->listener);
    t->listener = NULL;
    if (h2o_timeout_is_linked(&t->accept_resume))
        h2o_timeout_unlink(&t->accept_resume);
    h2o_context_request_shutdown(&t->ctx);
    run_until_closed(t, t->server->shutdown_grace_ms);
    if (t->n_conns > 0) {
        for (h2o_linklist_t *n = t->conns.next; n != &t->conns; n = n->next)
            shutdown(h2o_socket_get_fd(H2O_STRUCT_FROM_MEMBER(rest_conn, link, n)->sock), SHUT_RDWR);
        run_until_closed(t, FORCED_CLOSE_WAIT_MS);
    }
    /* h2o's graceful shutdown re-sends GOAWAY from this timer a second later */
    if (h2o_timeout_is_linked(&t->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&t->ctx.http2._graceful_shutdown_timeout);
    h2o_evloop_run(t->ctx.loop, 0);
    return t->n_conns == 0;
}

static void *loop_main(void *arg)
{
    loop_thread *t = arg;
    pz_http_server *s = t->server;
    h2o_context_init(&t->ctx, h2o_evloop_create(), &s->config);
    t->queue = h2o_multithread_create_queue(t->ctx.loop);
    h2o_multithread_register_receiver(t->queue, &t->receiver, on_completions);
    t->accept_ctx.ctx = &t->ctx;
    t->accept_ctx.hosts = s->config.hosts;
    t->accept_ctx.ssl_ctx = NULL; /* set per accept (on_accept) */
    h2o_linklist_init_anchor(&t->conns);
    h2o_timeout_init(t->ctx.loop, &t->accept_pause, PZ_ACCEPT_PAUSE_MS);
    t->accept_resume.cb = on_accept_resume;
    t->last_refusal_log_ms = t->last_pause_log_ms = INT64_MIN / 2;
    t->listener = h2o_evloop_socket_create(t->ctx.loop, t->fd, H2O_SOCKET_FLAG_DONT_READ);
    t->listener->data = t;
    h2o_socket_read_start(t->listener, on_accept);
    while (!atomic_load(&s->stopping))
        h2o_evloop_run(t->ctx.loop, LOOP_WAIT_MS);
    if (!close_connections(t)) {
        /* Disposing would abort the process: leave the loop as it is, the process is exiting. */
        pz_warn("rest: %zu connection(s) did not close; leaving their loop undisposed", t->n_conns);
        return NULL;
    }
    h2o_timeout_dispose(t->ctx.loop, &t->accept_pause);
    h2o_multithread_unregister_receiver(t->queue, &t->receiver);
    h2o_multithread_destroy_queue(t->queue);
    h2o_context_dispose(&t->ctx);
    h2o_evloop_destroy(t->ctx.loop);
    return NULL;
}

int pz_http_server_start(const pz_http_options *opts, pz_http_server **out, int *bound_port, char *err, size_t errlen)
{
    pz_http_server *s = pz_calloc(1, sizeof *s);
    s->opts = *opts;
    /* The options name each local route's callback; the route table refers to them by enum. */
    const local_handler local[PZ_LOCAL__COUNT] = {
        [PZ_LOCAL_HEALTH] = {opts->health != NULL ? opts->health : health_serving, opts->health_ctx},
        [PZ_LOCAL_METRICS] = {opts->metrics, opts->metrics_ctx},
        [PZ_LOCAL_BUILTIN_STATS] = {opts->builtin_stats, opts->builtin_stats_ctx},
        [PZ_LOCAL_AUTH_STATS] = {opts->auth_stats, opts->auth_stats_ctx},
    };
    memcpy(s->local, local, sizeof s->local);
    s->n_threads = opts->threads > 0 ? opts->threads : 1;
    s->shutdown_grace_ms = opts->shutdown_grace_ms > 0 ? opts->shutdown_grace_ms : DEFAULT_SHUTDOWN_GRACE_MS;
    s->max_header_bytes = opts->max_header_bytes > 0 ? opts->max_header_bytes : DEFAULT_MAX_HEADER_BYTES;
    atomic_init(&s->stopping, false);
    if (opts->tls_cert_file != NULL && opts->tls_key_file != NULL) {
        /* h2 when the client offers it, else HTTP/1.1: h2o picks the protocol ALPN selected */
        pz_tls_options to = {.cert_file = opts->tls_cert_file,
                             .key_file = opts->tls_key_file,
                             .client_ca_file = opts->tls_client_ca_file,
                             .alpn = &PZ_TLS_ALPN_H2_OR_HTTP1};
        s->tls = pz_tls_context_create(&to, err, errlen);
        if (s->tls == NULL) {
            free(s);
            return -1;
        }
    }
    h2o_config_init(&s->config);
    s->config.max_request_entity_size = opts->max_body_bytes ? opts->max_body_bytes : DEFAULT_MAX_BODY_BYTES;
    uint64_t idle_ms = (uint64_t)(opts->idle_timeout_ms > 0 ? opts->idle_timeout_ms : DEFAULT_IDLE_TIMEOUT_MS);
    s->config.http1.req_timeout = idle_ms;
    s->config.http2.idle_timeout = idle_ms;
    /* h2o's graceful shutdown closes HTTP/2 connections that still have streams this long after
     * the second GOAWAY; close_connections bounds the whole stop anyway. */
    s->config.http2.graceful_shutdown_timeout = (uint64_t)s->shutdown_grace_ms;
    s->limits = pz_conn_limits_create(opts->max_connections ? opts->max_connections : DEFAULT_MAX_CONNECTIONS,
                                      opts->max_connections_per_client ? opts->max_connections_per_client
                                                                       : DEFAULT_MAX_CONNECTIONS_PER_CLIENT);
    s->config.server_name = h2o_iovec_init(H2O_STRLIT("personalization-server"));
    h2o_hostconf_t *host = h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), H2O_ANY_PORT);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_create_handler(path, sizeof(h2o_handler_t))->on_req = on_req;

    s->threads = pz_calloc((size_t)s->n_threads, sizeof *s->threads);
    int port = opts->port;
    for (int i = 0; i < s->n_threads; i++) {
        s->threads[i].server = s;
        s->threads[i].fd = pz_listen_open(opts->host, port, i == 0 ? PZ_LISTEN_FIRST : PZ_LISTEN_JOIN, err, errlen);
        if (s->threads[i].fd < 0) {
            for (int k = 0; k < i; k++)
                close(s->threads[k].fd);
            h2o_config_dispose(&s->config);
            pz_conn_limits_destroy(s->limits);
            pz_tls_context_destroy(s->tls);
            free(s->threads);
            free(s);
            return -1;
        }
        if (i == 0)
            port = pz_listen_port(s->threads[0].fd); /* port 0: the others join the one picked */
    }
    s->route_labels = pz_calloc(pz_routes_count, sizeof *s->route_labels);
    for (size_t i = 0; i < pz_routes_count; i++) {
        size_t len = strlen(pz_routes[i].method) + 1 + strlen(pz_routes[i].path_template) + 1;
        s->route_labels[i] = pz_malloc(len);
        snprintf(s->route_labels[i], len, "%s %s", pz_routes[i].method, pz_routes[i].path_template);
    }
    for (int i = 0; i < s->n_threads; i++) {
        if (pthread_create(&s->threads[i].tid, NULL, loop_main, &s->threads[i]) != 0)
            pz_fatal("cannot start an HTTP loop thread");
        pthread_setname_np(s->threads[i].tid, "pz-http"); /* top -H */
    }
    *bound_port = port;
    *out = s;
    return 0;
}

int pz_http_server_reload_tls(pz_http_server *s, char *err, size_t errlen)
{
    return s->tls == NULL ? 0 : pz_tls_context_reload(s->tls, err, errlen);
}

void pz_http_server_stop(pz_http_server *s)
{
    if (s == NULL)
        return;
    atomic_store(&s->stopping, true);
    for (int i = 0; i < s->n_threads; i++)
        pthread_join(s->threads[i].tid, NULL);
    h2o_config_dispose(&s->config);
    pz_conn_limits_destroy(s->limits);
    pz_tls_context_destroy(s->tls);
    free(s->threads);
    for (size_t i = 0; i < pz_routes_count; i++)
        free(s->route_labels[i]);
    free(s->route_labels);
    free(s);
}
