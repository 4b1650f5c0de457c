/* Private to the catalog runtime (runtime.c: start, the watcher; admin_ops.c: the admin API's
 * operations and the metrics). */
#ifndef PZ_CATALOG_RUNTIME_INTERNAL_H
#define PZ_CATALOG_RUNTIME_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>

#include "server/catalog/catalog.h"
#include "server/catalog/catalog_import.h"
#include "server/core/cache.h"
#include "server/core/config.h"

/* The last revision seen of a namespace's catalog. */
typedef struct seen_revision {
    char ns[PZ_CATALOG_MAX_NS_LEN + 1];
    uint64_t revision;
} seen_revision;

struct pz_catalog_runtime {
    pz_catalog *catalog;
    pz_catalog_import *import; /* NULL without an import folder */
    pz_config_holder *config;
    pz_cache *cache;
    int import_poll_ms;
    seen_revision revisions[PZ_CATALOG_MAX_NAMESPACES];
    size_t n_revisions;
    char import_dir[PATH_MAX];
    pthread_t thread;
    bool started, stopping;
    pthread_mutex_t lock;
    pthread_cond_t wake;
};

/* True when the namespace decorates from the localdb catalog (and its key is a catalog name). */
bool pz_catalog_runtime_decorates(const pz_namespace *ns);

#endif
