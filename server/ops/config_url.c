/* Configuration from a URL: the poller and the last good copy (config_url.h). */
#include "server/ops/config_url.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "server/core/clock.h"
#include "server/core/fs.h"
#include "server/core/log.h"
#include "server/core/mem.h"
#include "server/ops/config_store.h"
#include "server/ops/files.h"
#include "server/upstream/blocking_call.h"

#define LAST_GOOD_DOC "url-last-good.json"
#define LAST_GOOD_META "url-last-good.meta.json"
#define NS_PER_MS 1000000L

struct pz_config_url {
    char *url;
    char *state_dir;
    int interval_ms;
    long timeout_ms;
    pz_blocking_client *client; /* the main thread's until start, then the poller's */
    pz_config_holder *holder;

    /* the poller's own: what it saw last */
    char seen_etag[256];
    char seen_hash[PZ_CONFIG_HASH_SIZE];

    pthread_mutex_t lock; /* guards the flags below; the condition wakes the poller */
    pthread_cond_t wake;
    bool stopping, poll_requested, running;
    pthread_t thread;

    atomic_ulong fetches, not_modified, failures, applied, rejected;
    atomic_llong last_success_ms;
};

bool pz_config_is_url(const char *location)
{
    return location != NULL && (strncasecmp(location, "http://", 7) == 0 || strncasecmp(location, "https://", 8) == 0);
}

pz_config_url *pz_config_url_create(const pz_config_url_options *o)
{
    pz_config_url *u = pz_calloc(1, sizeof *u);
    u->url = pz_strdup(o->url);
    u->state_dir = pz_strdup(o->state_dir);
    u->interval_ms = o->interval_ms == 0 ? PZ_CONFIG_POLL_MS_DEFAULT : o->interval_ms;
    u->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : PZ_CONFIG_URL_TIMEOUT_MS;
    u->client = pz_blocking_create();
    pthread_mutex_init(&u->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&u->wake, &attr);
    pthread_condattr_destroy(&attr);
    return u;
}

void pz_config_url_destroy(pz_config_url *u)
{
    if (u == NULL)
        return;
    pthread_mutex_lock(&u->lock);
    u->stopping = true;
    pthread_cond_signal(&u->wake);
    bool running = u->running;
    pthread_mutex_unlock(&u->lock);
    pz_blocking_cancel(u->client);
    if (running)
        pthread_join(u->thread, NULL);
    pz_blocking_destroy(u->client);
    pthread_cond_destroy(&u->wake);
    pthread_mutex_destroy(&u->lock);
    free(u->url);
    free(u->state_dir);
    free(u);
}

const char *pz_config_url_location(const pz_config_url *u)
{
    return u->url;
}

/* One GET. Returns the HTTP status (0 on a transport failure, with a message in err). */
static long fetch(pz_config_url *u, const char *if_none_match, pz_blocking_response *resp, char *err, size_t errlen)
{
    char header[300];
    const char *headers[3] = {"Accept: application/json", NULL, NULL};
    if (if_none_match != NULL && if_none_match[0] != '\0') {
        snprintf(header, sizeof header, "If-None-Match: %s", if_none_match);
        headers[1] = header;
    }
    atomic_fetch_add(&u->fetches, 1);
    pz_blocking_request req = {.method = "GET",
                               .url = u->url,
                               .headers = headers,
                               .timeout_ms = u->timeout_ms,
                               .max_response_bytes = PZ_CONFIG_URL_MAX_BYTES};
    if (pz_blocking_call(u->client, &req, resp) != 0) {
        snprintf(err, errlen, "%s", resp->error);
        return 0;
    }
    if (resp->status != 200 && resp->status != 304)
        snprintf(err, errlen, "%s answered HTTP %ld", u->url, resp->status);
    return resp->status;
}

static void state_path(const pz_config_url *u, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", u->state_dir, name);
}

/* Stores text as the last good copy. Failures are logged: the server goes on without one. */
static void save_last_good(pz_config_url *u, const char *text, size_t len, const char *etag)
{
    char path[PATH_MAX], err[512], hash[PZ_CONFIG_HASH_SIZE];
    if (pz_make_dirs(u->state_dir) != 0) {
        pz_warn("config source: cannot create %s: %s", u->state_dir, strerror(errno));
        return;
    }
    pz_config_hash(text, len, hash);
    json_t *meta = json_pack("{s:s, s:s, s:s, s:I}", "url", u->url, "etag", etag != NULL ? etag : "", "hash", hash,
                             "fetchedAtMs", (json_int_t)pz_now_ms());
    char *meta_text = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    state_path(u, LAST_GOOD_DOC, path, sizeof path);
    int rc = pz_write_file_atomic(path, text, len, 0600, err, sizeof err);
    if (rc == 0) {
        state_path(u, LAST_GOOD_META, path, sizeof path);
        rc = pz_write_file_atomic(path, meta_text, strlen(meta_text), 0600, err, sizeof err);
    }
    free(meta_text);
    if (rc != 0)
        pz_warn("config source: cannot keep the last good copy: %s", err);
}

/* The last good copy, when it belongs to this URL. Returns 0 with *doc, or -1 with why. */
static int load_last_good(pz_config_url *u, pz_config_url_document *doc, char *why, size_t whylen)
{
    char path[PATH_MAX];
    state_path(u, LAST_GOOD_META, path, sizeof path);
    json_t *meta = json_load_file(path, 0, NULL);
    const char *url = meta != NULL ? json_string_value(json_object_get(meta, "url")) : NULL;
    if (url == NULL || strcmp(url, u->url) != 0) {
        snprintf(why, whylen,
                 url == NULL ? "there is no last good copy in %s"
                             : "the last good copy in %s is of "
                               "another URL",
                 u->state_dir);
        json_decref(meta);
        return -1;
    }
    json_decref(meta);
    state_path(u, LAST_GOOD_DOC, path, sizeof path);
    char err[512];
    if (pz_read_file(path, PZ_CONFIG_URL_MAX_BYTES, &doc->text, &doc->len, err, sizeof err) != 0) {
        snprintf(why, whylen, "%s", err);
        return -1;
    }
    snprintf(doc->source, sizeof doc->source, "url-last-good:%s", u->url);
    doc->from_url = false;
    return 0;
}

int pz_config_url_initial(pz_config_url *u, pz_config_url_document docs[2], size_t *n, char *err, size_t errlen)
{
    *n = 0;
    pz_blocking_response resp;
    char fetch_err[512] = "";
    long status = fetch(u, NULL, &resp, fetch_err, sizeof fetch_err);
    if (status == 200) {
        atomic_store(&u->last_success_ms, pz_now_ms());
        docs[0].text = pz_buf_take(&resp.body, &docs[0].len);
        snprintf(docs[0].source, sizeof docs[0].source, "url:%s", u->url);
        docs[0].from_url = true;
        snprintf(u->seen_etag, sizeof u->seen_etag, "%s", resp.etag);
        pz_config_hash(docs[0].text, docs[0].len, u->seen_hash);
        (*n)++;
    } else {
        atomic_fetch_add(&u->failures, 1);
        if (status == 304)
            snprintf(fetch_err, sizeof fetch_err, "%s answered 304 to a request without If-None-Match", u->url);
        pz_warn("config source: %s", fetch_err);
    }
    pz_blocking_response_free(&resp);
    char why[600];
    if (load_last_good(u, &docs[*n], why, sizeof why) == 0) {
        if (*n == 0)
            pz_warn("config source: %s is unavailable; starting from the last good copy", u->url);
        (*n)++;
    } else if (*n == 0) {
        snprintf(err, errlen, "cannot fetch the configuration: %s; and %s", fetch_err, why);
        return -1;
    }
    return 0;
}

void pz_config_url_started(pz_config_url *u, const pz_config_url_document *accepted, const pz_config_url_document *docs,
                           size_t n)
{
    (void)docs, (void)n;
    if (accepted != NULL && accepted->from_url)
        save_last_good(u, accepted->text, accepted->len, u->seen_etag);
}

/* One poll: fetch, and apply what changed. */
static void poll_once(pz_config_url *u)
{
    pz_blocking_response resp;
    char err[600] = "";
    long status = fetch(u, u->seen_etag, &resp, err, sizeof err);
    if (status == 304) {
        atomic_fetch_add(&u->not_modified, 1);
        atomic_store(&u->last_success_ms, pz_now_ms());
    } else if (status == 200) {
        atomic_store(&u->last_success_ms, pz_now_ms());
        char hash[PZ_CONFIG_HASH_SIZE];
        pz_config_hash(resp.body.data != NULL ? resp.body.data : "", resp.body.len, hash);
        bool changed = strcmp(hash, u->seen_hash) != 0;
        snprintf(u->seen_etag, sizeof u->seen_etag, "%s", resp.etag);
        memcpy(u->seen_hash, hash, sizeof hash);
        if (!changed) {
            atomic_fetch_add(&u->not_modified, 1);
        } else {
            char source[2100];
            snprintf(source, sizeof source, "url:%s", u->url);
            pz_info("config source %s changed (ETag %s); reloading", u->url, resp.etag[0] ? resp.etag : "none");
            const char *text = resp.body.data != NULL ? resp.body.data : "";
            if (pz_config_holder_apply(u->holder, text, resp.body.len, source, NULL) == 0) {
                atomic_fetch_add(&u->applied, 1);
                save_last_good(u, text, resp.body.len, resp.etag);
            } else {
                atomic_fetch_add(&u->rejected, 1);
            }
        }
    } else {
        atomic_fetch_add(&u->failures, 1);
        pz_warn("config source: %s; keeping the current configuration", err);
    }
    pz_blocking_response_free(&resp);
}

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * NS_PER_MS;
    if (ts->tv_nsec >= 1000 * NS_PER_MS) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000 * NS_PER_MS;
    }
}

static void *poll_main(void *arg)
{
    pz_config_url *u = arg;
    pthread_mutex_lock(&u->lock);
    while (!u->stopping) {
        struct timespec deadline;
        deadline_after(&deadline, u->interval_ms > 0 ? u->interval_ms : 0);
        while (!u->stopping && !u->poll_requested) {
            if (u->interval_ms < 0) /* no polling: only asked-for fetches (SIGHUP) */
                pthread_cond_wait(&u->wake, &u->lock);
            else if (pthread_cond_timedwait(&u->wake, &u->lock, &deadline) == ETIMEDOUT)
                break;
        }
        if (u->stopping)
            break;
        u->poll_requested = false;
        pthread_mutex_unlock(&u->lock);
        poll_once(u);
        pthread_mutex_lock(&u->lock);
    }
    pthread_mutex_unlock(&u->lock);
    return NULL;
}

void pz_config_url_start(pz_config_url *u, pz_config_holder *h)
{
    u->holder = h;
    pthread_mutex_lock(&u->lock);
    int rc = pthread_create(&u->thread, NULL, poll_main, u);
    u->running = rc == 0;
    pthread_mutex_unlock(&u->lock);
    if (rc != 0)
        pz_error_log("config source %s: cannot start the poller: %s", u->url, strerror(rc));
    else if (u->interval_ms > 0)
        pz_info("config source %s: polling every %d ms", u->url, u->interval_ms);
    else
        pz_info("config source %s: fetched again on SIGHUP only", u->url);
}

void pz_config_url_poll_now(pz_config_url *u)
{
    pthread_mutex_lock(&u->lock);
    u->poll_requested = true;
    pthread_cond_signal(&u->wake);
    pthread_mutex_unlock(&u->lock);
}

void pz_config_url_get_stats(pz_config_url *u, pz_config_url_stats *out)
{
    out->fetches = atomic_load(&u->fetches);
    out->not_modified = atomic_load(&u->not_modified);
    out->failures = atomic_load(&u->failures);
    out->applied = atomic_load(&u->applied);
    out->rejected = atomic_load(&u->rejected);
    out->last_success_ms = atomic_load(&u->last_success_ms);
}
