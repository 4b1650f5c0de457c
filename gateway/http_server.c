#include "gateway/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
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

#include "gateway/routes.h"
#include "gateway/transcode.h"
#include "server/core/hints.h"
#include "server/core/log.h"

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
/* Connections the kernel queues per loop before they are accepted: room for a load balancer
 * opening its pool at once; the kernel caps it at net.core.somaxconn anyway. */
#define LISTEN_BACKLOG 1024
/* The longest a loop waits in epoll: it checks `stopping` between waits, so this bounds how long
 * stop takes, while a quiet server wakes only ten times a second. */
#define LOOP_WAIT_MS 100
/* h2o's port number for "any port": the one host config serves whatever port we listen on. */
#define H2O_ANY_PORT 65535
/* h2o's req->version is 0x100 * major + minor: 0x200 and up is HTTP/2. */
#define H2O_VERSION_HTTP2 0x200
/* "METHOD /path/template" of the access log; the longest today is 66 bytes. */
#define ROUTE_LABEL_MAX 96
/* The Allow value of one path: its methods and OPTIONS ("GET,POST,OPTIONS" is 16 bytes). */
#define ALLOW_MAX 64
/* "[address]:port": an IPv6 address, brackets, a colon and five digits, with room to spare. */
#define PEER_ADDRESS_MAX (INET6_ADDRSTRLEN + 16)
/* Any int in decimal (at most 11 bytes) and its NUL. */
#define INT_STRING_MAX 16
/* OpenSSL's error strings fit in 256 bytes (ERR_error_string_n wants at least 120). */
#define OPENSSL_ERROR_MAX 256

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
} loop_thread;

/* The callback answering a local route (pz_local_route), with its context. */
typedef struct local_handler {
    pz_health_fn fn; /* NULL: the route is not wired in this server and answers 404 */
    void *ctx;
} local_handler;

struct pz_http_server {
    pz_http_options opts;
    local_handler local[PZ_LOCAL__COUNT];
    h2o_globalconf_t config;
    SSL_CTX *ssl_ctx;
    atomic_bool stopping;
    int n_threads;
    loop_thread *threads;
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
    char route_label[ROUTE_LABEL_MAX];
    pz_arena arena;
    pz_request req;
} rest_call;

/* ---- response helpers ---- */

static void add_header(h2o_req_t *req, const char *name, const char *value)
{
    h2o_iovec_t v = h2o_strdup(&req->pool, value, strlen(value));
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 1, NULL, v.base, v.len);
}

static void add_cors(pz_http_server *s, h2o_req_t *req)
{
    if (s->opts.refuse_browsers)
        return;
    add_header(req, "access-control-allow-origin", s->opts.cors_allow_origin ? s->opts.cors_allow_origin : "*");
    add_header(req, "access-control-expose-headers", CORS_EXPOSE_HEADERS);
}

/* Sends status + body (copied into the request pool) and ends the response. */
static void send_response(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = status;
    req->res.reason = status == 200 ? "OK" : status == 204 ? "No Content" : status == 304 ? "Not Modified" : "";
    if (content_type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    req->res.content_length = len;
    h2o_start_response(req, &generator);
    h2o_iovec_t buf = h2o_strdup(&req->pool, body != NULL ? body : "", len);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

static void release_prepared(void *hold)
{
    pz_prepared_unref(*(const pz_prepared_response **)hold);
}

/* Sends a body the core prepared once (response cache) without copying it: the request's pool
 * holds a reference until h2o disposes of the request, i.e. after the bytes are written. */
static void send_prepared_json(h2o_req_t *req, const pz_prepared_response *p)
{
    static h2o_generator_t generator = {NULL, NULL};
    const pz_prepared_response **hold = h2o_mem_alloc_shared(&req->pool, sizeof *hold, release_prepared);
    *hold = pz_prepared_ref(p);
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    req->res.content_length = p->json_len;
    h2o_start_response(req, &generator);
    h2o_iovec_t buf = h2o_iovec_init(p->json, p->json_len);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

static void send_error(pz_http_server *s, h2o_req_t *req, const pz_error *err)
{
    pz_buf body;
    pz_buf_init(&body, MAX_ERROR_BODY_BYTES);
    pz_route_error_json(err, &body);
    add_cors(s, req);
    send_response(req, pz_status_http(err->status), "application/json", body.data, body.len);
    pz_buf_free(&body);
}

static void log_plain(h2o_req_t *req, int status)
{
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

static void write_success(pz_http_server *s, rest_call *call, h2o_req_t *req)
{
    const pz_response_hints *h = &call->req.hints;
    for (size_t i = 0; i < PZ_HINT_HEADERS_COUNT; i++) {
        const char *value = pz_hint_value(&pz_hint_headers[i], h, PZ_FRONT_REST, call->route->cacheable);
        if (value != NULL)
            add_header(req, pz_hint_headers[i].name, value);
    }
    add_cors(s, req);
    if (h->not_modified && call->route->cacheable) {
        send_response(req, 304, NULL, NULL, 0);
        return;
    }
    if (call->route->empty_success_body) {
        send_response(req, 200, "text/plain", NULL, 0);
        return;
    }
    if (call->req.prepared != NULL && call->req.prepared->json != NULL) {
        send_prepared_json(req, call->req.prepared);
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
    send_response(req, 200, "application/json", body.data, body.len);
    pz_buf_free(&body);
}

/* The hints an error carries too (the request id). */
static void add_error_hints(h2o_req_t *req, const pz_response_hints *h)
{
    for (size_t i = 0; i < PZ_HINT_HEADERS_COUNT; i++) {
        const char *value =
            pz_hint_headers[i].on_errors ? pz_hint_value(&pz_hint_headers[i], h, PZ_FRONT_REST, true) : NULL;
        if (value != NULL)
            add_header(req, pz_hint_headers[i].name, value);
    }
}

/* Runs on the call's loop thread. */
static void finish_call(rest_call *call)
{
    h2o_req_t *req = call->h2o_req;
    pz_http_server *s = call->thread->server;
    int status = call->req.status == PZ_OK ? (call->req.hints.not_modified && call->route->cacheable ? 304 : 200)
                                           : pz_status_http(call->req.status);
    pz_request_log_access(&call->req, call->route_label, status);
    if (req != NULL) {
        if (call->req.status == PZ_OK) {
            write_success(s, call, req);
        } else {
            add_error_hints(req, &call->req.hints);
            send_error(s, req, &call->req.error);
        }
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

static void peer_address(h2o_req_t *req, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    out[0] = '\0';
    if (sl == 0)
        return;
    char host[INET6_ADDRSTRLEN] = "";
    int port = 0;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
        port = ntohs(sin->sin_port);
        snprintf(out, outlen, "%s:%d", host, port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
        port = ntohs(sin6->sin6_port);
        snprintf(out, outlen, "[%s]:%d", host, port);
    }
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

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    loop_thread *thread = H2O_STRUCT_FROM_MEMBER(loop_thread, ctx, req->conn->ctx);
    pz_http_server *s = thread->server;
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;

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
    pz_route_match_result m = pz_route_match(s->opts.api, req->method.base, req->method.len, req->path.base, path_len,
                                             &call->arena, &route, &params, allow, sizeof allow);
    if (m == PZ_ROUTE_MATCHED && route->local != PZ_LOCAL_NONE) {
        if (s->local[route->local].fn == NULL) {
            m = PZ_ROUTE_NO_PATH; /* not wired in this server: as unknown as any other path */
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

    call->route = route;
    snprintf(call->route_label, sizeof call->route_label, "%s %s", route->method, route->path_template);
    call->h2o_req = req;
    call->guard = h2o_mem_alloc_shared(&req->pool, sizeof *call->guard, on_guard_dispose);
    *call->guard = call;
    pz_request_init(&call->req, &call->arena);
    call->req.rpc = route->rpc;
    call->req.protocol = req->version >= H2O_VERSION_HTTP2 ? "rest-h2" : "rest";
    call->req.on_done = on_core_done;
    call->req.front_data = call;
    char peer[PEER_ADDRESS_MAX];
    peer_address(req, peer, sizeof peer);
    call->req.client_addr = pz_arena_strdup(&call->arena, peer);
    copy_headers(call, req);
    pz_request_assign_id(&call->req);

    const char *query = req->query_at != SIZE_MAX ? req->path.base + req->query_at + 1 : "";
    size_t query_len = req->query_at != SIZE_MAX ? req->path.len - req->query_at - 1 : 0;
    ProtobufCMessage *msg = NULL;
    pz_error err;
    if (pz_route_build_request(route, &params, query, query_len, req->entity.base, req->entity.len, &call->arena, &msg,
                               &err) != PZ_OK) {
        call->req.status = err.status;
        call->req.error = err;
        finish_call(call);
        return 0;
    }
    call->req.message = msg;
    s->opts.handle(s->opts.handle_ctx, &call->req);
    return 0;
}

/* ---- listeners and loops ---- */

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL)
        return;
    loop_thread *t = listener->data;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock != NULL)
        h2o_accept(&t->accept_ctx, sock);
}

static int open_listener(const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[INT_STRING_MAX];
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve listen address '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, res->ai_protocol);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
        listen(fd, LISTEN_BACKLOG) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int bound_port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
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
    t->accept_ctx.ssl_ctx = s->ssl_ctx;
    t->listener = h2o_evloop_socket_create(t->ctx.loop, t->fd, H2O_SOCKET_FLAG_DONT_READ);
    t->listener->data = t;
    h2o_socket_read_start(t->listener, on_accept);
    while (!atomic_load(&s->stopping))
        h2o_evloop_run(t->ctx.loop, LOOP_WAIT_MS);
    h2o_socket_read_stop(t->listener);
    h2o_socket_close(t->listener);
    h2o_evloop_run(t->ctx.loop, 0);
    h2o_multithread_unregister_receiver(t->queue, &t->receiver);
    h2o_multithread_destroy_queue(t->queue);
    h2o_context_dispose(&t->ctx);
    h2o_evloop_destroy(t->ctx.loop);
    return NULL;
}

static SSL_CTX *create_ssl_ctx(const pz_http_options *o, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, o->tls_key_file, SSL_FILETYPE_PEM) != 1) {
        char ebuf[OPENSSL_ERROR_MAX];
        ERR_error_string_n(ERR_get_error(), ebuf, sizeof ebuf);
        snprintf(err, errlen, "cannot load TLS certificate '%s' / key '%s': %s", o->tls_cert_file, o->tls_key_file,
                 ebuf);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
    return ctx;
}

int pz_http_server_start(const pz_http_options *opts, pz_http_server **out, int *bound_port, char *err, size_t errlen)
{
    pz_http_server *s = pz_calloc(1, sizeof *s);
    s->opts = *opts;
    /* The options name each local route's callback; the route table refers to them by enum. */
    const local_handler local[PZ_LOCAL__COUNT] = {
        [PZ_LOCAL_HEALTH] = {opts->health != NULL ? opts->health : health_serving, opts->health_ctx},
        [PZ_LOCAL_METRICS] = {opts->metrics, opts->metrics_ctx},
    };
    memcpy(s->local, local, sizeof s->local);
    s->n_threads = opts->threads > 0 ? opts->threads : 1;
    atomic_init(&s->stopping, false);
    if (opts->tls_cert_file != NULL && opts->tls_key_file != NULL) {
        s->ssl_ctx = create_ssl_ctx(opts, err, errlen);
        if (s->ssl_ctx == NULL) {
            free(s);
            return -1;
        }
    }
    h2o_config_init(&s->config);
    s->config.max_request_entity_size = opts->max_body_bytes ? opts->max_body_bytes : DEFAULT_MAX_BODY_BYTES;
    s->config.server_name = h2o_iovec_init(H2O_STRLIT("personalization-server"));
    h2o_hostconf_t *host = h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), H2O_ANY_PORT);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_create_handler(path, sizeof(h2o_handler_t))->on_req = on_req;

    s->threads = pz_calloc((size_t)s->n_threads, sizeof *s->threads);
    int port = opts->port;
    for (int i = 0; i < s->n_threads; i++) {
        s->threads[i].server = s;
        s->threads[i].fd = open_listener(opts->host, port, err, errlen);
        if (s->threads[i].fd < 0) {
            for (int k = 0; k < i; k++)
                close(s->threads[k].fd);
            h2o_config_dispose(&s->config);
            SSL_CTX_free(s->ssl_ctx);
            free(s->threads);
            free(s);
            return -1;
        }
        if (i == 0)
            port = bound_port_of(s->threads[0].fd); /* port 0: the others join the one picked */
    }
    for (int i = 0; i < s->n_threads; i++) {
        if (pthread_create(&s->threads[i].tid, NULL, loop_main, &s->threads[i]) != 0)
            pz_fatal("cannot start an HTTP loop thread");
    }
    *bound_port = port;
    *out = s;
    return 0;
}

void pz_http_server_stop(pz_http_server *s)
{
    if (s == NULL)
        return;
    atomic_store(&s->stopping, true);
    for (int i = 0; i < s->n_threads; i++)
        pthread_join(s->threads[i].tid, NULL);
    h2o_config_dispose(&s->config);
    SSL_CTX_free(s->ssl_ctx);
    free(s->threads);
    free(s);
}
