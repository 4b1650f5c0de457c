/* Where the served configuration comes from and what happens to each version of it (module prefix
 * pz_config_source): the one place main.c asks for its configuration.
 *
 *   - `--config PATH`: the file, reloaded when it changes (checked every watch_ms) or on SIGHUP;
 *   - `--config http(s)://...`: the URL, polled every poll_ms with If-None-Match
 *     (server/ops/config_url.h), with the last good copy on disk for restarts while it is down;
 *   - no location: the embedded document (the demo), which never changes.
 *
 * Every load attempt, the first one included, is recorded in the history
 * (server/ops/config_store.h, `<data-dir>/config/history/`); the URL's last good copy lives in
 * `<data-dir>/config/`. Rollbacks and documents applied through the admin API go through the same
 * holder (pz_config_holder_apply), so they are ordinary validated reloads and recorded the same
 * way.
 *
 * Threads: open/start/destroy on the main thread; reload from the signal-handling thread; the
 * accessors from any thread.
 */
#ifndef PZ_CONFIG_SOURCE_H
#define PZ_CONFIG_SOURCE_H

#include <stddef.h>

#include "server/core/config.h"
#include "server/core/metrics.h"
#include "server/ops/config_store.h"
#include "server/ops/config_url.h"

typedef struct pz_config_source_options {
    const char *location; /* --config: a file path or an http(s) URL; NULL: `embedded` */
    const char *embedded; /* the document served without a location */
    size_t embedded_len;
    const char *embedded_name; /* its source name in logs and the history, e.g. "demo" */
    const char *data_dir;      /* required */
    size_t history_keep;       /* records of each status kept; 0 = PZ_CONFIG_HISTORY_DEFAULT */
    int watch_ms;              /* file: check for changes this often; 0 = never */
    int poll_ms;               /* URL: poll this often; 0 = never */
    long fetch_timeout_ms;     /* URL: per fetch; 0 = PZ_CONFIG_URL_TIMEOUT_MS */
} pz_config_source_options;

typedef struct pz_config_source pz_config_source;

/* Loads the first configuration (logging every problem and recording the attempt) and creates
 * the holder. Returns 0 and *out, or -1 with err when there is no valid configuration to serve
 * (nothing is left running). */
int pz_config_source_open(const pz_config_source_options *opts, pz_config_source **out, char *err, size_t errlen);
/* Starts watching the file / polling the URL. */
void pz_config_source_start(pz_config_source *s);
/* SIGHUP: re-reads the file now / polls the URL now; the embedded document cannot change. */
void pz_config_source_reload(pz_config_source *s);
/* Stops the watcher/poller and frees everything, the holder included. NULL is a no-op. */
void pz_config_source_destroy(pz_config_source *s);

pz_config_holder *pz_config_source_holder(pz_config_source *s);
pz_config_store *pz_config_source_history(pz_config_source *s);
/* NULL unless the configuration comes from a URL. */
pz_config_url *pz_config_source_url(pz_config_source *s);
/* What --config named ("file:PATH", "url:URL") or the embedded name. */
const char *pz_config_source_name(const pz_config_source *s);

/* A metrics collector (server/core/metrics.h; ctx: the source): pz_config_info{version, hash,
 * source} 1, pz_config_reloads_total, pz_config_reload_failures_total,
 * pz_config_last_reload_timestamp_seconds; with a URL, pz_config_source_fetches_total{outcome} and
 * pz_config_source_last_success_timestamp_seconds. */
void pz_config_source_collect_metrics(void *s, pz_metrics_writer *w);

/* Reads a document once from a file or URL (for --check-config and the `config` CLI): *text is
 * malloc'ed and NUL-terminated. Returns 0, or -1 with err. */
int pz_config_source_read(const char *location, long timeout_ms, char **text, size_t *len, char *err, size_t errlen);

#endif
