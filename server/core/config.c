/* Configuration snapshots: parsing entry points, lookups, reference counting, and the holder that
 * swaps snapshots on reload and watches the file. The document walker is in config_parse.c. */
#include "server/core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/core/buf.h"
#include "server/core/clock.h"
#include "server/core/config_internal.h"
#include "server/core/log.h"
#include "server/core/mem.h"

/* A configuration document larger than this is refused rather than read. */
#define CONFIG_FILE_MAX (16u * 1024 * 1024)
#define DEFAULT_WATCH_INTERVAL_MS 45000

const char *pz_action_name(pz_action a)
{
    switch (a) {
    case PZ_ACTION_RECOMMEND_ITEMS: return "recommend-items";
    case PZ_ACTION_RELATED_ITEMS: return "related-items";
    case PZ_ACTION_RERANK_ITEMS: return "rerank-items";
    case PZ_ACTION__COUNT: break;
    }
    return "unknown";
}

/* ---- accessors and lookups ---- */

const char *pz_config_version(const pz_config *c)
{
    return c->version;
}

unsigned long long pz_config_generation(const pz_config *c)
{
    return c->generation;
}

const char *pz_config_description(const pz_config *c)
{
    return c->description;
}

const char *pz_config_title(const pz_config *c)
{
    return c->title;
}

const char *pz_config_text(const pz_config *c, size_t *len)
{
    if (len != NULL)
        *len = c->text_len;
    return c->text;
}

const pz_cidr *pz_config_trusted_proxies(const pz_config *c, size_t *n)
{
    *n = c->n_trusted_proxies;
    return c->trusted_proxies;
}

const pz_auth_policy *pz_config_auth(const pz_config *c)
{
    return c->auth != NULL ? c->auth : &cfg_auth_none;
}

size_t pz_config_namespace_count(const pz_config *c)
{
    return c->n_namespaces;
}

const pz_namespace *pz_config_namespace_at(const pz_config *c, size_t i)
{
    return i < c->n_namespaces ? &c->namespaces[i].pub : NULL;
}

static int compare_key_to_namespace(const void *key, const void *elem)
{
    return strcmp(key, (*(const cfg_namespace *const *)elem)->pub.key);
}

const pz_namespace *pz_config_namespace(const pz_config *c, const char *key)
{
    if (c->n_namespaces == 0)
        return NULL;
    const cfg_namespace *const *found =
        bsearch(key, c->sorted_namespaces, c->n_namespaces, sizeof *c->sorted_namespaces, compare_key_to_namespace);
    return found != NULL ? &(*found)->pub : NULL;
}

/* Every pz_namespace handed out is the first member of a cfg_namespace. */
static const cfg_namespace *namespace_impl(const pz_namespace *ns)
{
    return (const cfg_namespace *)((const char *)ns - offsetof(cfg_namespace, pub));
}

static int compare_key_to_recommender(const void *key, const void *elem)
{
    return strcmp(key, (*(const pz_recommender *const *)elem)->key);
}

const pz_recommender *pz_config_recommender(const pz_namespace *ns, pz_action action, const char *key)
{
    if ((unsigned)action >= PZ_ACTION__COUNT || ns->n_recommenders[action] == 0)
        return NULL;
    const pz_recommender *const *found = bsearch(key, namespace_impl(ns)->sorted[action], ns->n_recommenders[action],
                                                 sizeof(const pz_recommender *), compare_key_to_recommender);
    return found != NULL ? *found : NULL;
}

const pz_recommender *pz_config_recommender_any_action(const pz_namespace *ns, const char *key)
{
    const cfg_namespace *impl = namespace_impl(ns);
    for (size_t i = impl->n_action_order; i-- > 0;) {
        const pz_recommender *r = pz_config_recommender(ns, impl->action_order[i], key);
        if (r != NULL)
            return r;
    }
    return NULL;
}

const pz_variation *pz_config_variation(const pz_recommender *r, const char *key)
{
    for (size_t i = 0; i < r->n_variations; i++)
        if (strcmp(r->variations[i].key, key) == 0)
            return &r->variations[i];
    return NULL;
}

/* ---- problems ---- */

void pz_config_problems_init(pz_config_problems *p)
{
    p->items = NULL;
    p->n = 0;
    p->n_errors = 0;
}

void pz_config_problems_free(pz_config_problems *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->items[i].path);
        free(p->items[i].message);
    }
    free(p->items);
    pz_config_problems_init(p);
}

/* ---- parsing ---- */

static void config_free(pz_config *c)
{
    pz_arena_destroy(&c->arena);
    free(c);
}

pz_config *pz_config_parse(const char *json, size_t len, pz_config_problems *problems)
{
    pz_config_problems local;
    pz_config_problems *p = problems;
    if (p == NULL) {
        pz_config_problems_init(&local);
        p = &local;
    }
    size_t errors_before = p->n_errors;
    pz_config *cfg = NULL;
    json_error_t err;
    /* A key given twice: the last value wins, as in upstream's Python loader, with a warning
     * (cfg_warn_duplicate_keys); NUL is read so the error can name the path (cfg_check_characters). */
    json_t *root = json != NULL ? json_loadb(json, len, JSON_ALLOW_NUL, &err) : NULL;
    if (root == NULL) {
        if (json == NULL)
            cfg_problem_add(p, false, "$", "no configuration document");
        else
            cfg_problem_add(p, false, "$", "invalid JSON at line %d, column %d: %s", err.line, err.column, err.text);
    } else {
        static atomic_ullong generations;
        cfg = pz_calloc(1, sizeof *cfg);
        atomic_init(&cfg->refs, 1);
        cfg->generation = atomic_fetch_add(&generations, 1) + 1;
        pz_arena_init(&cfg->arena);
        cfg->text = pz_arena_strndup(&cfg->arena, json, len);
        cfg->text_len = len;
        cfg_ctx ctx = {.arena = &cfg->arena, .problems = p, .path = "$", .path_len = 1};
        cfg_warn_duplicate_keys(&ctx, json, len);
        cfg_check_characters(&ctx, root);
        cfg_parse_document(&ctx, root, cfg);
        json_decref(root);
        if (p->n_errors > errors_before) {
            config_free(cfg);
            cfg = NULL;
        }
    }
    if (p == &local)
        pz_config_problems_free(&local);
    return cfg;
}

/* Reads the whole file into `out` (malloc'ed, caller frees). Returns 0, or -1 with a problem.
 * Only a regular file of at most CONFIG_FILE_MAX bytes is read, and the open never waits: a reload
 * runs on the signal thread (SIGHUP) or the watcher, and a FIFO or a device put in the file's
 * place must not stall SIGTERM behind it. */
static int read_file(const char *path, char **out, size_t *len, pz_config_problems *p)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        cfg_problem_add(p, false, "$", "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cfg_problem_add(p, false, "$", "%s is not a regular file", path);
        close(fd);
        return -1;
    }
    if ((unsigned long long)st.st_size > CONFIG_FILE_MAX) {
        cfg_problem_add(p, false, "$", "%s is larger than %u bytes", path, CONFIG_FILE_MAX);
        close(fd);
        return -1;
    }
    pz_buf buf;
    pz_buf_init(&buf, CONFIG_FILE_MAX);
    char chunk[16384];
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cfg_problem_add(p, false, "$", "cannot read %s: %s", path, strerror(errno));
            rc = -1;
            break;
        }
        /* The file may grow while it is read: the cap holds whatever fstat said. */
        if (pz_buf_append(&buf, chunk, (size_t)n) != 0) {
            cfg_problem_add(p, false, "$", "%s is larger than %u bytes", path, CONFIG_FILE_MAX);
            rc = -1;
            break;
        }
    }
    close(fd);
    if (rc != 0) {
        pz_buf_free(&buf);
        return -1;
    }
    *out = pz_buf_take(&buf, len);
    return 0;
}

pz_config *pz_config_load_file(const char *path, pz_config_problems *problems)
{
    pz_config_problems local;
    pz_config_problems *p = problems;
    if (p == NULL) {
        pz_config_problems_init(&local);
        p = &local;
    }
    char *text;
    size_t len;
    pz_config *cfg = NULL;
    if (read_file(path, &text, &len, p) == 0) {
        cfg = pz_config_parse(text, len, p);
        free(text);
    }
    if (p == &local)
        pz_config_problems_free(&local);
    return cfg;
}

pz_config *pz_config_ref(pz_config *c)
{
    if (c != NULL)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void pz_config_unref(pz_config *c)
{
    if (c != NULL && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        config_free(c);
}

/* ---- the holder ---- */

/* What identifies a version of the file for the watcher. */
typedef struct file_id {
    bool ok;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_id;

struct pz_config_holder {
    pthread_mutex_t lock; /* guards `current` only: held for a pointer swap or a ref */
    pz_config *current;
    pthread_mutex_t reload_lock; /* serializes reloads */
    char *path;
    char *file_source; /* "file:PATH", the listener's name for reloads of the file */
    atomic_ulong reloads;
    atomic_ulong rejected;
    atomic_llong loaded_ms;
    pz_config_listener listener; /* set before sharing; called under reload_lock */
    void *listener_ctx;

    pthread_mutex_t watch_lock; /* guards `stopping`; the condition wakes the watcher early */
    pthread_cond_t watch_cond;
    bool watching;
    bool stopping;
    int interval_ms;
    pthread_t watcher;
    file_id last_seen; /* the watcher's own after it starts */
};

static file_id stat_file(const char *path)
{
    file_id id = {0};
    struct stat st;
    if (stat(path, &st) == 0) {
        id.ok = true;
        id.dev = st.st_dev;
        id.ino = st.st_ino;
        id.size = st.st_size;
        id.mtime = st.st_mtim;
    }
    return id;
}

static bool same_file_version(const file_id *a, const file_id *b)
{
    return a->ok == b->ok && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

pz_config_holder *pz_config_holder_create(pz_config *initial, const char *path)
{
    if (initial == NULL)
        pz_fatal("pz_config_holder_create: no initial configuration");
    pz_config_holder *h = pz_calloc(1, sizeof *h);
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->reload_lock, NULL);
    pthread_mutex_init(&h->watch_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&h->watch_cond, &attr);
    pthread_condattr_destroy(&attr);
    h->current = initial;
    h->path = path != NULL ? pz_strdup(path) : NULL;
    if (path != NULL) {
        size_t n = strlen(path) + sizeof "file:";
        h->file_source = pz_malloc(n);
        snprintf(h->file_source, n, "file:%s", path);
    }
    atomic_init(&h->reloads, 0);
    atomic_init(&h->rejected, 0);
    atomic_init(&h->loaded_ms, pz_now_ms());
    return h;
}

void pz_config_holder_destroy(pz_config_holder *h)
{
    if (h == NULL)
        return;
    if (h->watching) {
        pthread_mutex_lock(&h->watch_lock);
        h->stopping = true;
        pthread_cond_signal(&h->watch_cond);
        pthread_mutex_unlock(&h->watch_lock);
        pthread_join(h->watcher, NULL);
    }
    pz_config_unref(h->current);
    pthread_cond_destroy(&h->watch_cond);
    pthread_mutex_destroy(&h->watch_lock);
    pthread_mutex_destroy(&h->reload_lock);
    pthread_mutex_destroy(&h->lock);
    free(h->path);
    free(h->file_source);
    free(h);
}

void pz_config_holder_set_listener(pz_config_holder *h, pz_config_listener fn, void *ctx)
{
    h->listener = fn;
    h->listener_ctx = ctx;
}

pz_config *pz_config_holder_acquire(pz_config_holder *h)
{
    pthread_mutex_lock(&h->lock);
    pz_config *c = pz_config_ref(h->current);
    pthread_mutex_unlock(&h->lock);
    return c;
}

static void log_problems(const char *file, const pz_config_problems *p)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->items[i].is_warning)
            pz_warn("config %s: %s: %s", file, p->items[i].path, p->items[i].message);
        else
            pz_error_log("config %s: %s: %s", file, p->items[i].path, p->items[i].message);
    }
}

/* Decides one load attempt (text NULL: the document could not be read, problems say why): tells
 * the listener, then swaps or keeps. Called with reload_lock held. */
static int decide(pz_config_holder *h, const char *source, const char *text, size_t len, pz_config_problems *problems)
{
    pz_config *next = text != NULL ? pz_config_parse(text, len, problems) : NULL;
    log_problems(source, problems);
    if (h->listener != NULL)
        h->listener(
            h->listener_ctx,
            &(pz_config_load){.source = source, .text = text, .len = len, .config = next, .problems = problems});
    if (next == NULL) {
        atomic_fetch_add(&h->rejected, 1);
        pz_error_log("config %s rejected with %zu error(s); keeping the current configuration", source,
                     problems->n_errors);
        return -1;
    }
    pthread_mutex_lock(&h->lock);
    pz_config *old = h->current;
    h->current = next;
    pthread_mutex_unlock(&h->lock);
    pz_config_unref(old); /* in-flight requests keep their own references */
    atomic_fetch_add(&h->reloads, 1);
    atomic_store(&h->loaded_ms, pz_now_ms());
    pz_info("config %s loaded, version %s", source,
            pz_config_version(next) != NULL ? pz_config_version(next) : "(none)");
    return 0;
}

int pz_config_holder_reload(pz_config_holder *h)
{
    if (h->path == NULL) {
        pz_warn("config reload requested, but the configuration does not come from a file");
        return -1;
    }
    pthread_mutex_lock(&h->reload_lock);
    pz_config_problems problems;
    pz_config_problems_init(&problems);
    char *text = NULL;
    size_t len = 0;
    if (read_file(h->path, &text, &len, &problems) != 0)
        text = NULL;
    int rc = decide(h, h->file_source, text, len, &problems);
    free(text);
    pz_config_problems_free(&problems);
    pthread_mutex_unlock(&h->reload_lock);
    return rc;
}

/* Appends a copy of every problem of `from` to `to`. */
static void copy_problems(pz_config_problems *to, const pz_config_problems *from)
{
    for (size_t i = 0; i < from->n; i++)
        cfg_problem_add(to, from->items[i].is_warning, from->items[i].path, "%s", from->items[i].message);
}

int pz_config_holder_apply(pz_config_holder *h, const char *text, size_t len, const char *source,
                           pz_config_problems *problems)
{
    pthread_mutex_lock(&h->reload_lock);
    pz_config_problems local;
    pz_config_problems_init(&local);
    int rc = decide(h, source, text, len, &local);
    if (problems != NULL)
        copy_problems(problems, &local);
    pz_config_problems_free(&local);
    pthread_mutex_unlock(&h->reload_lock);
    return rc;
}

static void deadline_after_ms(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *watch_main(void *arg)
{
    pz_config_holder *h = arg;
    pthread_mutex_lock(&h->watch_lock);
    while (!h->stopping) {
        struct timespec deadline;
        deadline_after_ms(&deadline, h->interval_ms);
        while (!h->stopping && pthread_cond_timedwait(&h->watch_cond, &h->watch_lock, &deadline) != ETIMEDOUT)
            ;
        if (h->stopping)
            break;
        pthread_mutex_unlock(&h->watch_lock);
        file_id now = stat_file(h->path);
        /* A missing file (mid-replace) is not a change: wait for it to come back. */
        if (now.ok && !same_file_version(&now, &h->last_seen)) {
            h->last_seen = now;
            pz_info("config %s changed; reloading", h->path);
            pz_config_holder_reload(h);
        }
        pthread_mutex_lock(&h->watch_lock);
    }
    pthread_mutex_unlock(&h->watch_lock);
    return NULL;
}

void pz_config_holder_watch(pz_config_holder *h, int interval_ms)
{
    if (h->path == NULL || h->watching)
        return;
    h->interval_ms = interval_ms > 0 ? interval_ms : DEFAULT_WATCH_INTERVAL_MS;
    h->last_seen = stat_file(h->path);
    h->stopping = false;
    int rc = pthread_create(&h->watcher, NULL, watch_main, h);
    if (rc != 0) {
        pz_error_log("config %s: cannot start the watch thread: %s", h->path, strerror(rc));
        return;
    }
    h->watching = true;
}

int64_t pz_config_holder_loaded_ms(pz_config_holder *h)
{
    return atomic_load(&h->loaded_ms);
}

void pz_config_holder_stats(pz_config_holder *h, unsigned long *reloads, unsigned long *rejected)
{
    if (reloads != NULL)
        *reloads = atomic_load(&h->reloads);
    if (rejected != NULL)
        *rejected = atomic_load(&h->rejected);
}
