/* The item catalog inside the running server (issue #3): opens `<data-dir>/catalog/`, loads the
 * embedded demo catalog on --demo, and runs the catalog watcher, a thread that
 *   - loads the files dropped into `<data-dir>/import/<namespace>/` (server/core/catalog_import.h)
 *     every import_poll_ms, and
 *   - every second (or import_poll_ms when shorter) reads the catalog revision of each namespace the
 *     configuration decorates from localdb: when it changed (a load or an edit by this process, the
 *     CLI or any other process), the namespace's entries in the response cache are made stale, so
 *     cached responses never show a catalog older than that.
 * Used by server/main.c only.
 */
#ifndef PZ_ITEMS_RUNTIME_H
#define PZ_ITEMS_RUNTIME_H

#include <stddef.h>

#include "server/core/cache.h"
#include "server/core/catalog.h"
#include "server/core/config.h"

#define PZ_IMPORT_POLL_MS_DEFAULT 5000
#define PZ_CATALOG_REVISION_CHECK_MS 1000

typedef struct pz_items_runtime pz_items_runtime;

typedef struct pz_items_runtime_options {
    const char *data_dir;       /* required */
    pz_config_holder *config;   /* required: which namespaces decorate from localdb */
    const char *demo_namespace; /* non-NULL: load the embedded demo catalog into it if it has none */
    int import_poll_ms;         /* scan the import folder this often; 0: no import folder */
    pz_cache *cache;            /* the response cache to purge on catalog changes; may be NULL */
} pz_items_runtime_options;

/* Opens the catalog, loads the demo catalog when asked (blocking: it writes to disk), starts the
 * watcher. Returns 0 and *out, or -1 with err. */
int pz_items_runtime_start(const pz_items_runtime_options *opts, pz_items_runtime **out, char *err, size_t errlen);
/* The open catalog, for the service's decorator. */
pz_catalog *pz_items_runtime_catalog(const pz_items_runtime *r);
/* Stops the watcher (after a load in progress) and closes the catalog. Call after the service is
 * destroyed and before the cache is. NULL is a no-op. */
void pz_items_runtime_stop(pz_items_runtime *r);

#endif
