#include "server/upstream/upstream.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "server/core/buf.h"
#include "server/core/log.h"
#include "server/core/mem.h"
#include "server/core/request.h"
#include "server/upstream/upstream_internal.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        pz_fatal("curl_global_init failed");
}

void pz_upstream_options_default(pz_upstream_options *o)
{
    *o = (pz_upstream_options){
        .max_inflight = 256,
        .max_queued = 1024,
        .max_host_connections = 64,
        .max_response_bytes = 4u << 20,
        .connect_timeout_ms = 2000,
        .max_attempts = 3,
        .retry_base_ms = 25,
        .retry_ratio = 0.2,
        .retry_min_per_sec = 10,
        .breaker_threshold = 5,
        .breaker_open_ms = 5000,
    };
}

static void wake(pz_upstream *u)
{
    if (atomic_exchange(&u->wake_pending, true))
        return;
    uint64_t one = 1;
    ssize_t w = write(u->wakefd, &one, sizeof one);
    (void)w;
}

/* ---- calls ---- */

/* "scheme://host:port" of a URL (the default breaker key). */
static void origin_of(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    size_t n = p != NULL ? (size_t)(p + 3 - url) + strcspn(p + 3, "/?#") : strlen(url);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, url, n);
    out[n] = '\0';
}

static char *copy_into(char **cursor, const char *s, size_t n)
{
    char *dst = *cursor;
    if (n > 0)
        memcpy(dst, s, n);
    dst[n] = '\0';
    *cursor += n + 1;
    return dst;
}

static size_t opt_len(const char *s)
{
    return s != NULL ? strlen(s) + 1 : 0;
}

static void add_header(up_call *c, const char *line)
{
    struct curl_slist *l = curl_slist_append(c->headers, line);
    if (l == NULL)
        pz_fatal("out of memory (curl_slist_append)");
    c->headers = l;
}

static up_call *new_call(const pz_upstream *u, const pz_upstream_request *req, pz_upstream_cb cb, void *ctx)
{
    size_t body_len = req->body != NULL ? req->body_len : 0;
    size_t size = opt_len(req->method) + opt_len(req->url) + body_len + 1;
    up_call *c = pz_calloc(1, sizeof *c + size);
    char *cur = c->data;
    c->method =
        copy_into(&cur, req->method != NULL ? req->method : "GET", req->method != NULL ? strlen(req->method) : 3);
    c->url = copy_into(&cur, req->url != NULL ? req->url : "", req->url != NULL ? strlen(req->url) : 0);
    c->body = copy_into(&cur, req->body, body_len);
    c->body_len = body_len;
    if (req->breaker_key != NULL)
        snprintf(c->breaker_key, sizeof c->breaker_key, "%s", req->breaker_key);
    else
        origin_of(c->url, c->breaker_key, sizeof c->breaker_key);
    for (size_t i = 0; i < req->n_headers; i++)
        add_header(c, req->headers[i]);
    c->deadline_ms = req->deadline_ms > 0 ? req->deadline_ms : pz_now_ms() + DEFAULT_DEADLINE_MS;
    c->not_before_ms = req->not_before_ms;
    c->idempotent = req->idempotent;
    c->max_response_bytes = req->max_response_bytes > 0 ? req->max_response_bytes : u->o.max_response_bytes;
    pz_buf_init(&c->resp, c->max_response_bytes);
    c->cb = cb;
    c->ctx = ctx;
    return c;
}

/* Signs a call with SigV4 (pz_aws_sign) on the submitting thread, once: a retry resends the same
 * signature (valid for 15 minutes, far beyond any deadline). The signed headers go on the call's
 * header list, with "Expect:" so libcurl sends no unsigned 100-continue round trip before a large
 * body. Returns 0, or -1 when the request cannot be signed. */
static int sign_call(up_call *c, const pz_upstream_request *req)
{
    pz_sigv4_headers h;
    if (pz_aws_sign(req->signing, c->method, c->url, req->headers, req->n_headers, c->body, c->body_len, time(NULL),
                    &h) != 0)
        return -1;
    if (h.security_token[0] != '\0')
        add_header(c, h.security_token);
    add_header(c, h.host);
    add_header(c, h.amz_date);
    add_header(c, h.authorization);
    add_header(c, "Expect:");
    return 0;
}

static void free_call(up_call *c)
{
    curl_slist_free_all(c->headers);
    pz_buf_free(&c->resp);
    free(c);
}

/* The outcome label of pz_upstream_calls_total. */
static const char *outcome_label(pz_upstream_outcome outcome, long status)
{
    switch (outcome) {
    case PZ_UPSTREAM_RESPONSE:
        return status == 429   ? "throttled"
               : status >= 500 ? "http_5xx"
               : status >= 400 ? "http_4xx"
               : status >= 300 ? "http_3xx"
                               : "ok";
    case PZ_UPSTREAM_QUEUE_FULL: return "queue_full";
    case PZ_UPSTREAM_CIRCUIT_OPEN: return "circuit_open";
    case PZ_UPSTREAM_TIMEOUT: return "timeout";
    case PZ_UPSTREAM_CONNECT_FAILED: return "connect_failed";
    case PZ_UPSTREAM_TOO_LARGE: return "too_large";
    case PZ_UPSTREAM_SHUTDOWN: return "shutdown";
    }
    return "unknown";
}

static void record_call(pz_upstream *u, const up_call *c, pz_upstream_outcome outcome, long status)
{
    if (u->m_calls == NULL)
        return;
    const char *labels[] = {c->breaker_key, outcome_label(outcome, status)};
    pz_metric_inc(pz_metric_series_get(u->m_calls, labels), 1);
    if (c->attempts > 0)
        pz_metric_observe(pz_metric_series_get(u->m_duration, labels), (double)c->upstream_us / 1e6);
}

static void record_breaker(pz_upstream *u, const up_breaker *b)
{
    if (u->m_breaker == NULL)
        return;
    const char *labels[] = {b->key};
    pz_metric_set(pz_metric_series_get(u->m_breaker, labels), (double)b->b.state);
}

/* Runs the callback and frees the call. */
static void deliver(pz_upstream *u, up_call *c, pz_upstream_outcome outcome, long status, const char *detail)
{
    record_call(u, c, outcome, status);
    pz_upstream_response res = {
        .outcome = outcome,
        .status = outcome == PZ_UPSTREAM_RESPONSE ? status : 0,
        .body = c->resp.data != NULL && outcome == PZ_UPSTREAM_RESPONSE ? c->resp.data : "",
        .body_len = outcome == PZ_UPSTREAM_RESPONSE ? c->resp.len : 0,
        .amzn_error_type = c->amzn_error_type[0] != '\0' ? c->amzn_error_type : NULL,
        .function_error = c->function_error[0] != '\0' ? c->function_error : NULL,
        .detail = detail != NULL ? detail : "",
        .attempts = c->attempts,
        .upstream_us = c->upstream_us,
        .end_us = pz_mono_us(),
    };
    c->cb(c->ctx, &res);
    free_call(c);
}

/* Engine thread: a live call ends; counts it and wakes drain(). */
static void complete(pz_upstream *u, up_call *c, pz_upstream_outcome outcome, long status, const char *detail)
{
    deliver(u, c, outcome, status, detail);
    pthread_mutex_lock(&u->mu);
    u->live--;
    u->stats.completed++;
    if (outcome == PZ_UPSTREAM_TIMEOUT)
        u->stats.timeouts++;
    else if (outcome == PZ_UPSTREAM_CONNECT_FAILED)
        u->stats.connect_failures++;
    else if (outcome == PZ_UPSTREAM_CIRCUIT_OPEN)
        u->stats.rejected_circuit_open++;
    if (u->live == 0)
        pthread_cond_broadcast(&u->cond);
    pthread_mutex_unlock(&u->mu);
}

void pz_upstream_submit(pz_upstream *u, const pz_upstream_request *req, pz_upstream_cb cb, void *ctx)
{
    up_call *c = new_call(u, req, cb, ctx);
    if (req->signing != NULL && sign_call(c, req) != 0) {
        deliver(u, c, PZ_UPSTREAM_CONNECT_FAILED, 0, "the request cannot be signed (SigV4): a field is too long");
        return;
    }
    pthread_mutex_lock(&u->mu);
    pz_upstream_outcome reject = PZ_UPSTREAM_RESPONSE;
    if (!u->accepting) {
        reject = PZ_UPSTREAM_SHUTDOWN;
    } else if (u->live >= u->o.max_inflight + u->o.max_queued) {
        reject = PZ_UPSTREAM_QUEUE_FULL;
        u->stats.rejected_queue_full++;
    } else {
        u->live++;
        u->stats.submitted++;
        if (u->sub_tail != NULL)
            u->sub_tail->next = c;
        else
            u->sub_head = c;
        u->sub_tail = c;
    }
    size_t limit = u->o.max_inflight + u->o.max_queued;
    pthread_mutex_unlock(&u->mu);
    if (reject == PZ_UPSTREAM_SHUTDOWN) {
        deliver(u, c, reject, 0, "the server is shutting down");
        return;
    }
    if (reject == PZ_UPSTREAM_QUEUE_FULL) {
        char detail[128];
        snprintf(detail, sizeof detail, "the upstream queue is full (%zu calls in progress or waiting)", limit);
        deliver(u, c, reject, 0, detail);
        return;
    }
    wake(u);
}

/* ---- transfers (engine thread) ---- */

static void link_active(pz_upstream *u, up_call *c)
{
    c->act_prev = NULL;
    c->act_next = u->active_head;
    if (u->active_head != NULL)
        u->active_head->act_prev = c;
    u->active_head = c;
    u->active++;
    atomic_store_explicit(&u->active_published, u->active, memory_order_relaxed);
}

static void unlink_active(pz_upstream *u, up_call *c)
{
    if (c->act_prev != NULL)
        c->act_prev->act_next = c->act_next;
    else
        u->active_head = c->act_next;
    if (c->act_next != NULL)
        c->act_next->act_prev = c->act_prev;
    c->act_prev = c->act_next = NULL;
    u->active--;
    atomic_store_explicit(&u->active_published, u->active, memory_order_relaxed);
}

static void start_call(pz_upstream *u, up_call *c, int64_t now)
{
    if (c->deadline_ms <= now) {
        complete(u, c, PZ_UPSTREAM_TIMEOUT, 0,
                 c->attempts == 0 ? "the deadline passed while the call waited for a slot"
                                  : "the deadline passed before the retry");
        return;
    }
    c->breaker = pz_upstream_breaker_for(u, c->breaker_key, now);
    bool allowed = pz_breaker_allow(&c->breaker->b, now);
    record_breaker(u, c->breaker);
    if (!allowed) {
        complete(u, c, PZ_UPSTREAM_CIRCUIT_OPEN, 0, "the circuit breaker is open after repeated failures");
        return;
    }
    if (c->attempts == 0)
        pz_retry_budget_on_call(&u->budget);
    c->attempts++;
    c->errbuf[0] = '\0';
    c->easy = pz_upstream_take_easy(u);
    pz_upstream_configure(c, c->easy, c->deadline_ms - now, u->o.connect_timeout_ms);
    CURLMcode mc = curl_multi_add_handle(u->multi, c->easy);
    if (mc != CURLM_OK) {
        curl_easy_cleanup(c->easy);
        c->easy = NULL;
        complete(u, c, PZ_UPSTREAM_CONNECT_FAILED, 0, curl_multi_strerror(mc));
        return;
    }
    link_active(u, c);
}

static bool retryable(pz_upstream_outcome outcome, long status)
{
    if (outcome == PZ_UPSTREAM_CONNECT_FAILED)
        return true;
    return outcome == PZ_UPSTREAM_RESPONSE &&
           (status == 429 || status == 500 || status == 502 || status == 503 || status == 504);
}

static void push_delayed(pz_upstream *u, up_call *c)
{
    c->next = u->delayed;
    u->delayed = c;
}

static void push_ready(pz_upstream *u, up_call *c)
{
    c->next = NULL;
    if (u->ready_tail != NULL)
        u->ready_tail->next = c;
    else
        u->ready_head = c;
    u->ready_tail = c;
}

/* A transfer ended: classify, feed the breaker, retry or complete. */
static void transfer_done(pz_upstream *u, up_call *c, CURLcode rc, int64_t now)
{
    long status = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    /* The upstream's own time of this attempt: connection set-up (TCP, TLS) plus the wait from
     * the request on the wire to the transfer's end. libcurl's time from connected to
     * PRETRANSFER (building the request, SigV4 signing, sending it) is our work, not theirs. */
    curl_off_t total = 0, pre = 0, conn = 0, tls = 0;
    curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME_T, &total);
    curl_easy_getinfo(c->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
    curl_easy_getinfo(c->easy, CURLINFO_CONNECT_TIME_T, &conn);
    curl_easy_getinfo(c->easy, CURLINFO_APPCONNECT_TIME_T, &tls);
    int64_t own = pre > 0 ? (int64_t)(total - pre) + (int64_t)(tls > conn ? tls : conn) : (int64_t)total;
    if (own > 0)
        c->upstream_us += own;
    pz_upstream_release_easy(u, c->easy);
    c->easy = NULL;
    unlink_active(u, c);

    pz_upstream_outcome outcome;
    const char *detail = NULL;
    if (c->too_large) {
        outcome = PZ_UPSTREAM_TOO_LARGE;
        detail = "the response body exceeded its size limit";
    } else if (rc == CURLE_OK) {
        outcome = PZ_UPSTREAM_RESPONSE;
    } else if (rc == CURLE_OPERATION_TIMEDOUT && now + MIN_ATTEMPT_MS >= c->deadline_ms) {
        outcome = PZ_UPSTREAM_TIMEOUT;
        detail = "no response before the deadline";
    } else {
        outcome = PZ_UPSTREAM_CONNECT_FAILED;
        detail = c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc);
    }
    bool failed = outcome == PZ_UPSTREAM_CONNECT_FAILED || outcome == PZ_UPSTREAM_TIMEOUT ||
                  (outcome == PZ_UPSTREAM_RESPONSE && status >= 500);
    if (strcmp(c->breaker->key, c->breaker_key) == 0) { /* the slot may have been reused meanwhile */
        pz_breaker_record(&c->breaker->b, !failed, now);
        record_breaker(u, c->breaker);
    }

    if (c->idempotent && c->attempts < u->o.max_attempts && retryable(outcome, status)) {
        int64_t backoff = pz_retry_backoff_ms(c->attempts, u->o.retry_base_ms, RETRY_CAP_MS, &u->seed);
        if (now + backoff + MIN_ATTEMPT_MS < c->deadline_ms && pz_retry_budget_try_spend(&u->budget, now)) {
            pz_buf_clear(&c->resp);
            c->amzn_error_type[0] = '\0';
            c->function_error[0] = '\0';
            c->not_before_ms = now + backoff;
            push_delayed(u, c);
            pthread_mutex_lock(&u->mu);
            u->stats.retries++;
            pthread_mutex_unlock(&u->mu);
            return;
        }
    }
    complete(u, c, outcome, status, detail);
}

/* Every live call ends with PZ_UPSTREAM_SHUTDOWN. */
static void cancel_all(pz_upstream *u)
{
    while (u->ready_head != NULL) {
        up_call *c = u->ready_head;
        u->ready_head = c->next;
        complete(u, c, PZ_UPSTREAM_SHUTDOWN, 0, "the server is shutting down");
    }
    u->ready_tail = NULL;
    while (u->delayed != NULL) {
        up_call *c = u->delayed;
        u->delayed = c->next;
        complete(u, c, PZ_UPSTREAM_SHUTDOWN, 0, "the server is shutting down");
    }
    while (u->active_head != NULL) {
        up_call *c = u->active_head;
        pz_upstream_release_easy(u, c->easy);
        c->easy = NULL;
        unlink_active(u, c);
        complete(u, c, PZ_UPSTREAM_SHUTDOWN, 0, "the server is shutting down");
    }
}

/* Moves due delayed calls to the ready queue, fails expired ready calls, starts what fits.
 * Returns the time of the next timer of ours (a delayed start or a queued deadline). */
static int64_t schedule(pz_upstream *u, int64_t now)
{
    int64_t next = now + IDLE_POLL_MS;
    up_call **pp = &u->delayed;
    while (*pp != NULL) {
        up_call *c = *pp;
        if (c->not_before_ms <= now) {
            *pp = c->next;
            push_ready(u, c);
        } else {
            if (c->not_before_ms < next)
                next = c->not_before_ms;
            pp = &c->next;
        }
    }
    while (u->ready_head != NULL && u->active < u->o.max_inflight) {
        up_call *c = u->ready_head;
        u->ready_head = c->next;
        if (u->ready_head == NULL)
            u->ready_tail = NULL;
        start_call(u, c, now);
    }
    /* Calls still waiting for a slot: end those whose deadline passed, track the earliest. */
    up_call *prev = NULL;
    for (up_call *c = u->ready_head; c != NULL;) {
        up_call *nx = c->next;
        if (c->deadline_ms <= now) {
            if (prev != NULL)
                prev->next = nx;
            else
                u->ready_head = nx;
            if (u->ready_tail == c)
                u->ready_tail = prev;
            complete(u, c, PZ_UPSTREAM_TIMEOUT, 0, "the deadline passed while the call waited for a slot");
        } else {
            if (c->deadline_ms < next)
                next = c->deadline_ms;
            prev = c;
        }
        c = nx;
    }
    return next;
}

/* ---- the event loop (engine thread): epoll + curl_multi_socket_action, so each event costs only
 * the transfer it concerns, however many are in flight ---- */

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    pz_upstream *u = userp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(u->epfd, EPOLL_CTL_DEL, fd, NULL); /* EBADF when curl closed it already: fine */
        curl_multi_assign(u->multi, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {
        .events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u), .data.fd = fd};
    int op = socketp != NULL ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(u->epfd, op, fd, &ev) != 0)
        epoll_ctl(u->epfd, op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
    if (socketp == NULL)
        curl_multi_assign(u->multi, fd, u);
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    pz_upstream *u = userp;
    u->curl_timer_ms = timeout_ms < 0 ? -1 : pz_now_ms() + timeout_ms;
    return 0;
}

static void read_completions(pz_upstream *u)
{
    CURLMsg *msg;
    int left = 0;
    while ((msg = curl_multi_info_read(u->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        up_call *c = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        transfer_done(u, c, msg->data.result, pz_now_ms());
    }
}

static void run_curl_timer(pz_upstream *u, int64_t now)
{
    if (u->curl_timer_ms < 0 || u->curl_timer_ms > now)
        return;
    int running = 0;
    u->curl_timer_ms = -1;
    curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
}

static void *engine_main(void *arg)
{
    pz_upstream *u = arg;
    struct epoll_event events[64];
    for (;;) {
        atomic_store(&u->wake_pending, false); /* submits from here on wake us again */
        pthread_mutex_lock(&u->mu);
        up_call *taken = u->sub_head;
        u->sub_head = u->sub_tail = NULL;
        bool cancel = u->cancel, stop = u->stop;
        pthread_mutex_unlock(&u->mu);
        int64_t now = pz_now_ms();
        while (taken != NULL) {
            up_call *c = taken;
            taken = c->next;
            if (c->not_before_ms > now)
                push_delayed(u, c);
            else
                push_ready(u, c);
        }
        if (cancel)
            cancel_all(u);
        if (stop)
            break;
        int64_t next = schedule(u, now);
        run_curl_timer(u, pz_now_ms());
        read_completions(u);
        if (u->ready_head != NULL && u->active < u->o.max_inflight)
            continue; /* slots were freed: start the waiting calls now */
        now = pz_now_ms();
        for (up_call *c = u->delayed; c != NULL; c = c->next) /* retries scheduled just now */
            if (c->not_before_ms < next)
                next = c->not_before_ms;
        if (u->curl_timer_ms >= 0 && u->curl_timer_ms < next)
            next = u->curl_timer_ms;
        int64_t wait = next - now;
        wait = wait < 0 ? 0 : wait > IDLE_POLL_MS ? IDLE_POLL_MS : wait;
        int n = epoll_wait(u->epfd, events, (int)(sizeof events / sizeof events[0]), (int)wait);
        for (int i = 0; i < n; i++) {
            if (events[i].data.fd == u->wakefd) {
                uint64_t count;
                ssize_t r = read(u->wakefd, &count, sizeof count);
                (void)r;
                continue;
            }
            uint32_t e = events[i].events;
            int flags = ((e & EPOLLIN) ? CURL_CSELECT_IN : 0) | ((e & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                        ((e & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
            int running = 0;
            curl_multi_socket_action(u->multi, events[i].data.fd, flags, &running);
        }
        run_curl_timer(u, pz_now_ms());
        read_completions(u);
    }
    return NULL;
}

/* The gauges and counters read at scrape time (a pz_metrics_collect_fn; ctx: the engine). */
static void collect_metrics(void *ctx, pz_metrics_writer *w)
{
    pz_upstream *u = ctx;
    pthread_mutex_lock(&u->mu);
    size_t live = u->live;
    unsigned long retries = u->stats.retries;
    pthread_mutex_unlock(&u->mu);
    size_t active = atomic_load_explicit(&u->active_published, memory_order_relaxed);
    pz_metrics_write_single(w, "pz_upstream_inflight", PZ_METRIC_GAUGE, "Upstream calls on the wire.", (double)active);
    pz_metrics_write_single(w, "pz_upstream_queued", PZ_METRIC_GAUGE,
                            "Upstream calls waiting for a slot or for a retry's backoff.",
                            (double)(live > active ? live - active : 0));
    pz_metrics_write_single(w, "pz_upstream_retries_total", PZ_METRIC_COUNTER,
                            "Upstream calls retried after a connection failure or a 429/5xx answer.", (double)retries);
}

static void register_metrics(pz_upstream *u, pz_metrics *m)
{
    static const char *const CALL_LABELS[] = {"upstream", "outcome"};
    static const char *const UPSTREAM[] = {"upstream"};
    u->m_calls = pz_metrics_family(
        m, &(pz_metric_family_options){.type = PZ_METRIC_COUNTER,
                                       .name = "pz_upstream_calls_total",
                                       .help = "Upstream calls by upstream and outcome (ok, http_3xx, http_4xx, "
                                               "throttled, http_5xx, timeout, connect_failed, circuit_open, "
                                               "queue_full, too_large, shutdown).",
                                       .labels = CALL_LABELS,
                                       .n_labels = 2});
    u->m_duration = pz_metrics_family(
        m, &(pz_metric_family_options){.type = PZ_METRIC_HISTOGRAM,
                                       .name = "pz_upstream_call_duration_seconds",
                                       .help = "The upstream's own time per call (connection set-up and waiting for "
                                               "the answer, over its attempts).",
                                       .labels = CALL_LABELS,
                                       .n_labels = 2,
                                       .bounds = PZ_METRICS_DURATION_BOUNDS,
                                       .n_bounds = PZ_METRICS_DURATION_BOUNDS_COUNT});
    u->m_breaker = pz_metrics_family(
        m, &(pz_metric_family_options){.type = PZ_METRIC_GAUGE,
                                       .name = "pz_upstream_breaker_state",
                                       .help = "Circuit breaker per upstream as of its last call: 0 closed, 1 open, "
                                               "2 half-open.",
                                       .labels = UPSTREAM,
                                       .n_labels = 1,
                                       .max_series = MAX_BREAKERS * 4});
    pz_metrics_add_collector(m, collect_metrics, u);
}

pz_upstream *pz_upstream_create(const pz_upstream_options *opts)
{
    pthread_once(&curl_once, curl_init_once);
    pz_upstream *u = pz_calloc(1, sizeof *u);
    if (opts != NULL)
        u->o = *opts;
    else
        pz_upstream_options_default(&u->o);
    if (u->o.max_inflight == 0)
        u->o.max_inflight = 1;
    if (u->o.max_attempts < 1)
        u->o.max_attempts = 1;
    u->multi = curl_multi_init();
    if (u->multi == NULL)
        pz_fatal("curl_multi_init failed");
    curl_multi_setopt(u->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)u->o.max_host_connections);
    curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, (long)u->o.max_inflight);
    curl_multi_setopt(u->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
    u->curl_timer_ms = -1;
    u->epfd = epoll_create1(EPOLL_CLOEXEC);
    u->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (u->epfd < 0 || u->wakefd < 0)
        pz_fatal("cannot create the upstream engine's epoll/eventfd descriptors");
    struct epoll_event wake_ev = {.events = EPOLLIN, .data.fd = u->wakefd};
    epoll_ctl(u->epfd, EPOLL_CTL_ADD, u->wakefd, &wake_ev);
    atomic_init(&u->wake_pending, false);
    u->pool = pz_calloc(u->o.max_inflight, sizeof *u->pool);
    pz_retry_budget_init(&u->budget, u->o.retry_ratio, u->o.retry_min_per_sec,
                         u->o.retry_min_per_sec > 1 ? u->o.retry_min_per_sec : 1, pz_now_ms());
    u->seed = (uint32_t)time(NULL) ^ 0x5bd1e995u;
    u->accepting = true;
    atomic_init(&u->active_published, 0);
    if (u->o.metrics != NULL)
        register_metrics(u, u->o.metrics);
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cond, NULL);
    if (pthread_create(&u->thread, NULL, engine_main, u) != 0)
        pz_fatal("cannot start the upstream engine thread");
    return u;
}

static void add_ms(struct timespec *ts, int ms)
{
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

void pz_upstream_drain(pz_upstream *u, int grace_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    add_ms(&deadline, grace_ms > 0 ? grace_ms : 0);
    pthread_mutex_lock(&u->mu);
    u->accepting = false;
    while (u->live > 0 && grace_ms > 0) {
        if (pthread_cond_timedwait(&u->cond, &u->mu, &deadline) != 0)
            break;
    }
    if (u->live > 0) {
        u->cancel = true;
        pthread_mutex_unlock(&u->mu);
        wake(u);
        pthread_mutex_lock(&u->mu);
        while (u->live > 0)
            pthread_cond_wait(&u->cond, &u->mu);
    }
    pthread_mutex_unlock(&u->mu);
}

void pz_upstream_destroy(pz_upstream *u)
{
    if (u == NULL)
        return;
    pz_upstream_drain(u, 0);
    pthread_mutex_lock(&u->mu);
    u->stop = true;
    pthread_mutex_unlock(&u->mu);
    wake(u);
    pthread_join(u->thread, NULL);
    for (size_t i = 0; i < u->n_pool; i++)
        curl_easy_cleanup(u->pool[i]);
    free(u->pool);
    curl_multi_cleanup(u->multi);
    close(u->epfd);
    close(u->wakefd);
    pthread_mutex_destroy(&u->mu);
    pthread_cond_destroy(&u->cond);
    free(u);
}

void pz_upstream_get_stats(pz_upstream *u, pz_upstream_stats *out)
{
    pthread_mutex_lock(&u->mu);
    *out = u->stats;
    out->live = u->live;
    pthread_mutex_unlock(&u->mu);
}
