/* Private to the upstream engine (upstream.c: calls, scheduling, the event loop;
 * upstream_transfer.c: one transfer's libcurl setup and callbacks, the easy-handle pool, the
 * breaker table). Everything here is touched by the engine thread only, except where a member
 * says "under mu". */
#ifndef PZ_UPSTREAM_INTERNAL_H
#define PZ_UPSTREAM_INTERNAL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/core/buf.h"
#include "server/upstream/upstream.h"
#include "server/upstream/upstream_policy.h"

#define MAX_BREAKERS 256
#define BREAKER_KEY_MAX 256
#define DEFAULT_DEADLINE_MS 30000
#define IDLE_POLL_MS 1000
#define RETRY_CAP_MS 250
/* A retry is only worth starting when this much of the deadline is left after its backoff. */
#define MIN_ATTEMPT_MS 5

typedef struct up_breaker {
    char key[BREAKER_KEY_MAX];
    pz_breaker b;
    int64_t last_used_ms;
    bool used;
} up_breaker;

typedef struct up_call {
    struct up_call *next;                /* submitted, ready or delayed list */
    struct up_call *act_prev, *act_next; /* on the wire */
    /* the request, copied (strings live in `data` after the struct) */
    const char *method;
    const char *url;
    const char *body;
    size_t body_len;
    char breaker_key[BREAKER_KEY_MAX];
    struct curl_slist *headers; /* the request's, plus the SigV4 ones when signed */
    int64_t deadline_ms;
    int64_t not_before_ms;
    bool idempotent;
    size_t max_response_bytes;
    pz_upstream_cb cb;
    void *ctx;
    /* transfer state */
    CURL *easy;
    pz_buf resp;
    bool too_large;
    char amzn_error_type[160];
    char function_error[64];
    char errbuf[CURL_ERROR_SIZE];
    int attempts;
    int64_t upstream_us; /* CURLINFO_TOTAL_TIME_T summed over the attempts so far */
    up_breaker *breaker;
    char data[];
} up_call;

struct pz_upstream {
    pz_upstream_options o;
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    /* under mu */
    up_call *sub_head, *sub_tail;
    size_t live;
    bool accepting;
    bool cancel;
    bool stop;
    pz_upstream_stats stats;
    /* any thread */
    atomic_bool wake_pending; /* a wake-up is on its way: submits skip the eventfd write */
    /* engine thread only */
    up_call *ready_head, *ready_tail;
    up_call *delayed;
    up_call *active_head;
    size_t active;
    int epfd;
    int wakefd;            /* eventfd: submits wake the engine */
    int64_t curl_timer_ms; /* when curl wants CURL_SOCKET_TIMEOUT, -1 = never */
    CURL **pool;
    size_t n_pool;
    up_breaker breakers[MAX_BREAKERS];
    pz_retry_budget budget;
    uint32_t seed;
    atomic_size_t active_published;                     /* `active`, for the metrics collector on another thread */
    pz_metric_family *m_calls, *m_duration, *m_breaker; /* NULL without a registry */
};

/* The breaker of upstream `key`, created when new; with more upstreams than slots the least
 * recently used one is reused, preferring a healthy one. */
up_breaker *pz_upstream_breaker_for(pz_upstream *u, const char *key, int64_t now);

/* An easy handle from the pool (or a new one) / back to the pool, reset (or freed when full). */
CURL *pz_upstream_take_easy(pz_upstream *u);
void pz_upstream_release_easy(pz_upstream *u, CURL *e);

/* Sets every option of c's transfer on e: URL, method and body, headers (SigV4 ones included), deadline
 * (`remaining` ms), connect timeout, body and header callbacks, protocols. */
void pz_upstream_configure(up_call *c, CURL *e, int64_t remaining, int connect_timeout_ms);

#endif
