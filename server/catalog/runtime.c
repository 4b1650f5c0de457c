#include "server/catalog/runtime.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "server/catalog/catalog_import.h"
#include "server/catalog/catalog_load.h"
#include "server/catalog/localdb.h"
#include "server/catalog/runtime_internal.h"
#include "server/core/log.h"
#include "server/core/mem.h"
#include "server/core/request.h"

/* The embedded demo catalog, once: a restart keeps whatever was loaded since. */
static int load_demo(pz_catalog *c, const pz_catalog_runtime_options *o, char *err, size_t errlen)
{
    const char *ns = o->demo_namespace;
    pz_catalog_info info;
    if (pz_catalog_info_get(c, ns, &info, err, errlen) != 0)
        return -1;
    if (info.present)
        return 0;
    pz_catalog_load_result r;
    if (pz_catalog_load_buffer(c, ns, o->demo_items, o->demo_items_len, NULL, &r, err, errlen) != 0)
        return -1;
    pz_info("demo: loaded the embedded catalog into namespace '%s' (%zu items)", ns, r.items);
    return 0;
}

bool pz_catalog_runtime_decorates(const pz_namespace *ns)
{
    return ns->item_metadata_view != NULL && ns->item_metadata_view->type == PZ_ITEM_METADATA_LOCALDB &&
           pz_catalog_valid_namespace(ns->key);
}

/* import/<ns>/ for each namespace decorated from localdb, so the folder to drop files in exists. */
static void create_import_folders(const pz_catalog_runtime *r)
{
    pz_config *cfg = pz_config_holder_acquire(r->config);
    for (size_t i = 0; i < pz_config_namespace_count(cfg); i++) {
        const pz_namespace *ns = pz_config_namespace_at(cfg, i);
        char dir[PATH_MAX + PZ_CATALOG_MAX_NS_LEN + 2];
        if (pz_catalog_runtime_decorates(ns) &&
            snprintf(dir, sizeof dir, "%s/%s", r->import_dir, ns->key) < (int)sizeof dir && mkdir(dir, 0755) != 0 &&
            errno != EEXIST)
            pz_warn("import: cannot create %s: %s", dir, strerror(errno));
    }
    pz_config_unref(cfg);
}

/* The slot remembering ns's revision; a new one starts at 0 (not seen). NULL when the table is full. */
static seen_revision *revision_slot(pz_catalog_runtime *r, const char *ns, bool *is_new)
{
    *is_new = false;
    for (size_t i = 0; i < r->n_revisions; i++)
        if (strcmp(r->revisions[i].ns, ns) == 0)
            return &r->revisions[i];
    if (r->n_revisions == PZ_CATALOG_MAX_NAMESPACES)
        return NULL;
    seen_revision *s = &r->revisions[r->n_revisions++];
    snprintf(s->ns, sizeof s->ns, "%s", ns);
    s->revision = 0;
    *is_new = true;
    return s;
}

/* Purges the response cache of each localdb namespace whose catalog changed since the last check. */
static void check_revisions(pz_catalog_runtime *r)
{
    pz_config *cfg = pz_config_holder_acquire(r->config);
    for (size_t i = 0; i < pz_config_namespace_count(cfg); i++) {
        const pz_namespace *ns = pz_config_namespace_at(cfg, i);
        pz_catalog_info info;
        char err[256];
        bool is_new;
        if (!pz_catalog_runtime_decorates(ns) || pz_catalog_info_get(r->catalog, ns->key, &info, err, sizeof err) != 0)
            continue;
        seen_revision *seen = revision_slot(r, ns->key, &is_new);
        if (seen == NULL || seen->revision == info.revision)
            continue;
        if (!is_new && r->cache != NULL) {
            size_t n = pz_cache_purge_namespace(r->cache, ns->key, pz_now_ms());
            pz_info("catalog: namespace '%s' changed (revision %llu, generation %llu, %llu items): %zu cached "
                    "response(s) made stale",
                    ns->key, (unsigned long long)info.revision, (unsigned long long)info.generation,
                    (unsigned long long)info.items, n);
        }
        seen->revision = info.revision;
    }
    pz_config_unref(cfg);
}

static void *watch(void *arg)
{
    pz_catalog_runtime *r = arg;
    int tick = r->import_poll_ms > 0 && r->import_poll_ms < PZ_CATALOG_REVISION_CHECK_MS ? r->import_poll_ms
                                                                                         : PZ_CATALOG_REVISION_CHECK_MS;
    long since_scan = r->import_poll_ms; /* scan at once */
    pthread_mutex_lock(&r->lock);
    while (!r->stopping) {
        pthread_mutex_unlock(&r->lock);
        if (r->import != NULL && since_scan >= r->import_poll_ms) {
            pz_catalog_import_scan(r->import);
            since_scan = 0;
        }
        check_revisions(r);
        pthread_mutex_lock(&r->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += tick / 1000;
        until.tv_nsec += (long)(tick % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!r->stopping && pthread_cond_timedwait(&r->wake, &r->lock, &until) != ETIMEDOUT)
            ;
        since_scan += tick;
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

int pz_catalog_runtime_start(const pz_catalog_runtime_options *o, pz_catalog_runtime **out, char *err, size_t errlen)
{
    *out = NULL;
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/catalog", o->data_dir) >= (int)sizeof dir) {
        snprintf(err, errlen, "%s: the data directory path is too long", o->data_dir);
        return -1;
    }
    pz_catalog_runtime *r = pz_calloc(1, sizeof *r);
    r->config = o->config;
    r->cache = o->cache;
    r->import_poll_ms = o->import_poll_ms;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    if (pz_catalog_open(dir, NULL, &r->catalog, err, errlen) != 0 ||
        (o->demo_namespace != NULL && load_demo(r->catalog, o, err, errlen) != 0)) {
        pz_catalog_runtime_stop(r);
        return -1;
    }
    if (o->import_poll_ms > 0) {
        snprintf(r->import_dir, sizeof r->import_dir, "%s/import", o->data_dir);
        r->import = pz_catalog_import_create(r->catalog, r->import_dir);
        create_import_folders(r);
        pz_info("catalog: watching %s/<namespace>/ for JSON Lines item files every %d ms", r->import_dir,
                o->import_poll_ms);
    }
    check_revisions(r); /* the starting point: changes are what comes after it */
    if (pthread_create(&r->thread, NULL, watch, r) != 0)
        pz_fatal("cannot start the catalog watcher thread");
    r->started = true;
    *out = r;
    return 0;
}

pz_catalog *pz_catalog_runtime_catalog(const pz_catalog_runtime *r)
{
    return r != NULL ? r->catalog : NULL;
}

pz_decorator_backend pz_catalog_runtime_localdb(const pz_catalog_runtime *r)
{
    return pz_localdb_backend(r->catalog);
}

void pz_catalog_runtime_stop(pz_catalog_runtime *r)
{
    if (r == NULL)
        return;
    if (r->started) {
        pthread_mutex_lock(&r->lock);
        r->stopping = true;
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->thread, NULL);
    }
    pz_catalog_import_destroy(r->import);
    pz_catalog_close(r->catalog);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->wake);
    free(r);
}
