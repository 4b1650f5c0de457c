/* The item catalog inside the running server: opens `<data-dir>/catalog/`, loads the demo catalog
 * on --demo, serves the `localdb` decoration back-end (localdb.h), and runs the catalog watcher, a
 * thread that
 *   - loads the files dropped into `<data-dir>/import/<namespace>/` (server/catalog/catalog_import.h)
 *     every import_poll_ms, and
 *   - every second (or import_poll_ms when shorter) reads the catalog revision of each namespace the
 *     configuration decorates from localdb: when it changed (a load or an edit by this process, the
 *     CLI or any other process), the namespace's entries in the response cache are made stale, so
 *     cached responses never show a catalog older than that.
 * Used by server/main.c only.
 */
#ifndef PZ_CATALOG_RUNTIME_H
#define PZ_CATALOG_RUNTIME_H

#include <stddef.h>

#include "server/core/cache.h"
#include "server/catalog/catalog.h"
#include "server/core/config.h"
#include "server/core/decorate.h"
#include "server/core/metrics.h"
#include "server/core/status.h"

#define PZ_IMPORT_POLL_MS_DEFAULT 5000
#define PZ_CATALOG_REVISION_CHECK_MS 1000

typedef struct pz_catalog_runtime pz_catalog_runtime;

typedef struct pz_catalog_runtime_options {
    const char *data_dir;       /* required */
    pz_config_holder *config;   /* required: which namespaces decorate from localdb */
    const char *demo_namespace; /* non-NULL: load demo_items into it if it has no catalog yet */
    const char *demo_items;     /* JSON Lines (server/demo/demo.h) */
    size_t demo_items_len;
    int import_poll_ms; /* scan the import folder this often; 0: no import folder */
    pz_cache *cache;    /* the response cache to purge on catalog changes; may be NULL */
} pz_catalog_runtime_options;

/* Opens the catalog, loads the demo catalog when asked (blocking: it writes to disk), starts the
 * watcher. Returns 0 and *out, or -1 with err. */
int pz_catalog_runtime_start(const pz_catalog_runtime_options *opts, pz_catalog_runtime **out, char *err,
                             size_t errlen);
/* The open catalog. */
pz_catalog *pz_catalog_runtime_catalog(const pz_catalog_runtime *r);
/* The `localdb` item metadata back-end over it, for the service. */
pz_decorator_backend pz_catalog_runtime_localdb(const pz_catalog_runtime *r);
/* ---- the admin API's catalog back-end (server/ops/admin.h pz_admin_catalog; ctx: the runtime) ----
 * They run on the caller's thread and may wait on disk: never from an event loop. */

/* Items one upsert or delete call may change (as the CLI's PZ_CLI_MAX_EDITS). */
#define PZ_CATALOG_MAX_EDITS 100000

/* {"namespace", "present", "generation", "revision", "items", "publishedAt", "import": {"waiting":
 * [file names], "done": N, "failed": N, "lastError": first line of the newest .error file or null}
 * ("import" null without an import folder)}. PZ_INVALID_ARGUMENT for an invalid namespace name. */
pz_status pz_catalog_runtime_status(void *r, const char *ns, pz_buf *out, char *err, size_t errlen);
/* Upserts the items of jsonl (one JSON object with "id" a line; blank lines skipped) in one
 * transaction: all or nothing (a bad line is PZ_INVALID_ARGUMENT naming it). Answers {"namespace",
 * "upserted", "notFound": 0, then the catalog's record as in status}. */
pz_status pz_catalog_runtime_upsert(void *r, const char *ns, const char *jsonl, size_t len, pz_buf *out, char *err,
                                    size_t errlen);
/* Deletes ids in one transaction; ids not in the catalog are counted in "notFound". Answers
 * {"namespace", "deleted", "notFound", then the record}. */
pz_status pz_catalog_runtime_delete(void *r, const char *ns, const char *const *ids, size_t n, pz_buf *out, char *err,
                                    size_t errlen);
/* A metrics collector (server/core/metrics.h; ctx: the runtime): pz_catalog_items,
 * pz_catalog_revision and pz_catalog_generation per configured localdb namespace, and
 * pz_catalog_import_files_total{outcome}. */
void pz_catalog_runtime_collect_metrics(void *r, pz_metrics_writer *w);

/* Stops the watcher (after a load in progress) and closes the catalog. Call after the service is
 * destroyed and before the cache is. NULL is a no-op. */
void pz_catalog_runtime_stop(pz_catalog_runtime *r);

#endif
