/* Configuration from a URL (module prefix pz_config_url): how a fleet of instances shares one
 * configuration, as AppConfig's agent does upstream (spec §9).
 *
 * A poller thread GETs the URL every interval (default 45 s, AppConfig's agent default) with
 * If-None-Match set to the ETag of the last document it saw; 304 changes nothing. A 200 whose
 * body differs from the last document seen (by SHA-256, for servers without ETags) is applied
 * like a changed file: an ordinary validated reload (pz_config_holder_apply), so a bad document is
 * rejected, recorded in the history with its errors, and the current configuration keeps serving;
 * the same bad document is not applied again until it changes. Transport errors and non-200/304
 * answers are logged and counted; the current configuration keeps serving.
 *
 * The last document the holder accepted from the URL is kept on disk (`url-last-good.json` and
 * its `url-last-good.meta.json` {"url", "etag", "hash", "fetchedAtMs"} in state_dir), so a restart
 * while the source is down (or serving garbage) still serves: pz_config_url_initial falls back to
 * it when it belongs to the same URL.
 *
 * Threads: open/initial/start/destroy from the main thread; poll_now and stats from any thread.
 */
#ifndef PZ_CONFIG_URL_H
#define PZ_CONFIG_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/config.h"

#define PZ_CONFIG_POLL_MS_DEFAULT 45000
#define PZ_CONFIG_URL_TIMEOUT_MS 10000
#define PZ_CONFIG_URL_MAX_BYTES (16u << 20) /* a larger answer is a failed fetch */

/* True when location is an http:// or https:// URL (compared case-insensitively). */
bool pz_config_is_url(const char *location);

typedef struct pz_config_url pz_config_url;

typedef struct pz_config_url_options {
    const char *url;       /* required */
    const char *state_dir; /* required: where the last good copy lives (created when missing) */
    int interval_ms;       /* 0 = PZ_CONFIG_POLL_MS_DEFAULT; < 0: fetch only when asked (poll_now) */
    long timeout_ms;       /* per fetch; 0 = PZ_CONFIG_URL_TIMEOUT_MS */
} pz_config_url_options;

/* Never NULL. */
pz_config_url *pz_config_url_create(const pz_config_url_options *opts);
/* Stops the poller (waiting for a fetch in progress to end, at most its timeout) and frees. NULL
 * is a no-op. */
void pz_config_url_destroy(pz_config_url *u);

/* One candidate document to start with. */
typedef struct pz_config_url_document {
    char *text; /* malloc'ed, NUL-terminated; the caller frees */
    size_t len;
    char source[64 + 2048]; /* "url:URL" or "url-last-good:URL" */
    bool from_url;          /* fetched now (false: the last good copy) */
} pz_config_url_document;

/* The documents to start with, best first: the URL's answer (when it answered 200) then the last
 * good copy (when there is one for this URL). Fills docs[0..*n) (n <= 2); returns 0, or -1 with
 * err when there is neither (err says why the fetch failed). */
int pz_config_url_initial(pz_config_url *u, pz_config_url_document docs[2], size_t *n, char *err, size_t errlen);
/* Tells the source which initial document the holder accepted (its text is stored as the last good
 * copy when it came from the URL) and which were seen. */
void pz_config_url_started(pz_config_url *u, const pz_config_url_document *accepted, const pz_config_url_document *docs,
                           size_t n);

/* Starts the poller, applying changes to h (not owned; it must outlive the source). */
void pz_config_url_start(pz_config_url *u, pz_config_holder *h);
/* Wakes the poller for a fetch now (SIGHUP). */
void pz_config_url_poll_now(pz_config_url *u);

typedef struct pz_config_url_stats {
    unsigned long fetches;      /* requests sent */
    unsigned long not_modified; /* 304s, and 200s with the document already seen */
    unsigned long failures;     /* transport errors and answers other than 200/304 */
    unsigned long applied;      /* changed documents the holder accepted */
    unsigned long rejected;     /* changed documents the holder rejected */
    int64_t last_success_ms;    /* wall clock of the last 200 or 304; 0 = never */
} pz_config_url_stats;

void pz_config_url_get_stats(pz_config_url *u, pz_config_url_stats *out);
const char *pz_config_url_location(const pz_config_url *u);

#endif
