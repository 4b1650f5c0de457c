/* The configuration's source, history and holder, assembled (config_source.h). */
#include "server/ops/config_source.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/clock.h"
#include "server/core/log.h"
#include "server/core/mem.h"
#include "server/core/redact.h"
#include "server/ops/files.h"
#include "server/upstream/blocking_call.h"

struct pz_config_source {
    pthread_mutex_t hash_lock; /* the served document's hash, computed once per snapshot */
    unsigned long long hashed_generation;
    char hash[PZ_CONFIG_HASH_SIZE];
    char *name;
    pz_config_store *history;
    pz_config_url *url;
    pz_config_holder *holder;
    bool from_file;
    int watch_ms;
};

static void log_problems(const char *source, const pz_config_problems *p)
{
    for (size_t i = 0; i < p->n; i++)
        pz_log(p->items[i].is_warning ? PZ_LOG_WARN : PZ_LOG_ERROR, "config %s: %s: %s", source, p->items[i].path,
               p->items[i].message);
}

/* Parses one candidate and records the attempt. Returns the snapshot or NULL. */
static pz_config *try_document(pz_config_source *s, const char *source, const char *text, size_t len)
{
    pz_config_problems problems;
    pz_config_problems_init(&problems);
    pz_config *cfg = text != NULL ? pz_config_parse(text, len, &problems) : NULL;
    log_problems(source, &problems);
    pz_config_store_listener(
        s->history,
        &(pz_config_load){.source = source, .text = text, .len = len, .config = cfg, .problems = &problems});
    if (cfg == NULL)
        pz_error_log("config %s has %zu error(s)", source, problems.n_errors);
    pz_config_problems_free(&problems);
    return cfg;
}

/* The first configuration from a URL: its answer, else the last good copy. */
static pz_config *open_url(pz_config_source *s, const pz_config_source_options *o, char *err, size_t errlen)
{
    char state_dir[PATH_MAX];
    snprintf(state_dir, sizeof state_dir, "%s/config", o->data_dir);
    s->url = pz_config_url_create(&(pz_config_url_options){.url = o->location,
                                                           .state_dir = state_dir,
                                                           .interval_ms = o->poll_ms > 0 ? o->poll_ms : -1,
                                                           .timeout_ms = o->fetch_timeout_ms});
    pz_config_url_document docs[2];
    size_t n = 0;
    if (pz_config_url_initial(s->url, docs, &n, err, errlen) != 0)
        return NULL;
    pz_config *cfg = NULL;
    const pz_config_url_document *accepted = NULL;
    for (size_t i = 0; i < n && cfg == NULL; i++) {
        cfg = try_document(s, docs[i].source, docs[i].text, docs[i].len);
        if (cfg != NULL)
            accepted = &docs[i];
        else if (i + 1 < n)
            pz_warn("config %s is invalid; trying %s", docs[i].source, docs[i + 1].source);
    }
    pz_config_url_started(s->url, accepted, docs, n);
    for (size_t i = 0; i < n; i++)
        free(docs[i].text);
    if (cfg == NULL)
        snprintf(err, errlen, "the configuration from %s has errors (run with --check-config for the full list)",
                 o->location);
    return cfg;
}

static pz_config *open_file(pz_config_source *s, const pz_config_source_options *o, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    char read_err[600];
    if (pz_read_file(o->location, PZ_CONFIG_STORE_DOCUMENT_MAX, &text, &len, read_err, sizeof read_err) != 0) {
        snprintf(err, errlen, "%s", read_err);
        return NULL;
    }
    pz_config *cfg = try_document(s, s->name, text, len);
    free(text);
    if (cfg == NULL)
        snprintf(err, errlen, "the configuration %s has errors (run with --check-config for the full list)",
                 o->location);
    return cfg;
}

int pz_config_source_open(const pz_config_source_options *o, pz_config_source **out, char *err, size_t errlen)
{
    *out = NULL;
    pz_config_source *s = pz_calloc(1, sizeof *s);
    pthread_mutex_init(&s->hash_lock, NULL);
    char history_dir[PATH_MAX];
    snprintf(history_dir, sizeof history_dir, "%s/config/history", o->data_dir);
    if (pz_config_store_open(history_dir, o->history_keep, true, &s->history, err, errlen) != 0) {
        pthread_mutex_destroy(&s->hash_lock);
        free(s);
        return -1;
    }
    bool url = pz_config_is_url(o->location);
    const char *kind = o->location == NULL ? "" : url ? "url:" : "file:";
    const char *where = o->location != NULL ? o->location : o->embedded_name;
    size_t n = strlen(kind) + strlen(where) + 1;
    char *name = pz_malloc(n);
    snprintf(name, n, "%s%s", kind, where);
    s->name = pz_redact_urls_dup(name); /* shown in metrics, logs and the history: no URL credential */
    free(name);
    pz_config *cfg;
    if (url)
        cfg = open_url(s, o, err, errlen);
    else if (o->location != NULL)
        cfg = open_file(s, o, err, errlen);
    else
        cfg = try_document(s, s->name, o->embedded, o->embedded_len);
    if (cfg == NULL) {
        if (o->location == NULL)
            snprintf(err, errlen, "the embedded configuration has errors");
        pz_config_source_destroy(s);
        return -1;
    }
    s->from_file = o->location != NULL && !url;
    s->watch_ms = o->watch_ms;
    s->holder = pz_config_holder_create(cfg, s->from_file ? o->location : NULL);
    pz_config_holder_set_listener(s->holder, pz_config_store_listener, s->history);
    *out = s;
    return 0;
}

void pz_config_source_start(pz_config_source *s)
{
    if (s->from_file && s->watch_ms > 0)
        pz_config_holder_watch(s->holder, s->watch_ms);
    if (s->url != NULL)
        pz_config_url_start(s->url, s->holder);
}

void pz_config_source_reload(pz_config_source *s)
{
    if (s->from_file)
        pz_config_holder_reload(s->holder);
    else if (s->url != NULL)
        pz_config_url_poll_now(s->url);
    else
        pz_info("the %s configuration is embedded and cannot change; nothing to reload", s->name);
}

void pz_config_source_destroy(pz_config_source *s)
{
    if (s == NULL)
        return;
    pz_config_url_destroy(s->url); /* first: its poller applies to the holder */
    pz_config_holder_destroy(s->holder);
    pz_config_store_close(s->history);
    pthread_mutex_destroy(&s->hash_lock);
    free(s->name);
    free(s);
}

void pz_config_source_collect_metrics(void *ctx, pz_metrics_writer *w)
{
    pz_config_source *s = ctx;
    pz_config *cfg = pz_config_holder_acquire(s->holder);
    pthread_mutex_lock(&s->hash_lock);
    if (s->hashed_generation != pz_config_generation(cfg)) {
        size_t len;
        const char *text = pz_config_text(cfg, &len);
        pz_config_hash(text, len, s->hash);
        s->hashed_generation = pz_config_generation(cfg);
    }
    static const char *const INFO[] = {"version", "hash", "source"};
    const char *version = pz_config_version(cfg) != NULL ? pz_config_version(cfg) : "";
    const char *values[] = {version, s->hash, s->name};
    pz_metrics_write_family(w, "pz_config_info", PZ_METRIC_GAUGE,
                            "The configuration being served: its version, the SHA-256 of its document, where it "
                            "comes from (always 1).");
    pz_metrics_write_sample(w, "pz_config_info", 3, INFO, values, 1);
    pthread_mutex_unlock(&s->hash_lock);
    pz_config_unref(cfg);
    unsigned long reloads = 0, rejected = 0;
    pz_config_holder_stats(s->holder, &reloads, &rejected);
    pz_metrics_write_single(w, "pz_config_reloads_total", PZ_METRIC_COUNTER,
                            "Configuration documents accepted and swapped in after the first.", (double)reloads);
    pz_metrics_write_single(w, "pz_config_reload_failures_total", PZ_METRIC_COUNTER,
                            "Configuration documents rejected (the previous one kept serving).", (double)rejected);
    pz_metrics_write_single(w, "pz_config_last_reload_timestamp_seconds", PZ_METRIC_GAUGE,
                            "When the configuration being served was swapped in (or the server started).",
                            (double)pz_config_holder_loaded_ms(s->holder) / 1000.0);
    if (s->url == NULL)
        return;
    pz_config_url_stats st;
    pz_config_url_get_stats(s->url, &st);
    static const char *const OUTCOME[] = {"outcome"};
    const struct {
        const char *outcome;
        unsigned long n;
    } fetches[] = {
        {"applied", st.applied}, {"rejected", st.rejected}, {"not_modified", st.not_modified}, {"failed", st.failures}};
    pz_metrics_write_family(w, "pz_config_source_fetches_total", PZ_METRIC_COUNTER,
                            "Fetches of the configuration URL by outcome.");
    for (size_t i = 0; i < sizeof fetches / sizeof fetches[0]; i++)
        pz_metrics_write_sample(w, "pz_config_source_fetches_total", 1, OUTCOME, &fetches[i].outcome,
                                (double)fetches[i].n);
    pz_metrics_write_single(w, "pz_config_source_last_success_timestamp_seconds", PZ_METRIC_GAUGE,
                            "When the configuration URL last answered 200 or 304 (0: never).",
                            (double)st.last_success_ms / 1000.0);
}

pz_config_holder *pz_config_source_holder(pz_config_source *s)
{
    return s->holder;
}

pz_config_store *pz_config_source_history(pz_config_source *s)
{
    return s->history;
}

pz_config_url *pz_config_source_url(pz_config_source *s)
{
    return s->url;
}

const char *pz_config_source_name(const pz_config_source *s)
{
    return s->name;
}

int pz_config_source_read(const char *location, long timeout_ms, char **text, size_t *len, char *err, size_t errlen)
{
    if (!pz_config_is_url(location))
        return pz_read_file(location, PZ_CONFIG_STORE_DOCUMENT_MAX, text, len, err, errlen);
    pz_blocking_client *c = pz_blocking_create();
    pz_blocking_response resp;
    const char *headers[] = {"Accept: application/json", NULL};
    pz_blocking_request req = {.method = "GET",
                               .url = location,
                               .headers = headers,
                               .timeout_ms = timeout_ms > 0 ? timeout_ms : PZ_CONFIG_URL_TIMEOUT_MS,
                               .max_response_bytes = PZ_CONFIG_URL_MAX_BYTES};
    int rc = -1;
    if (pz_blocking_call(c, &req, &resp) != 0)
        snprintf(err, errlen, "cannot fetch %s: %s", location, resp.error);
    else if (resp.status != 200)
        snprintf(err, errlen, "%s answered HTTP %ld", location, resp.status);
    else {
        if (resp.body.data == NULL)
            pz_buf_append(&resp.body, "", 0);
        *text = pz_buf_take(&resp.body, len);
        rc = 0;
    }
    pz_blocking_response_free(&resp);
    pz_blocking_destroy(c);
    return rc;
}
