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
/* Stops the watcher (after a load in progress) and closes the catalog. Call after the service is
 * destroyed and before the cache is. NULL is a no-op. */
void pz_catalog_runtime_stop(pz_catalog_runtime *r);

#endif
