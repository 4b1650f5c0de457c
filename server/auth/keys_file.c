#include "server/auth/keys_file.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/auth/digest.h"
#include "server/core/buf.h"
#include "server/core/log.h"
#include "server/core/mem.h"

/* A keys file of 10,000 keys (the limit) is about 3 MB. */
#define KEYS_FILE_MAX (8u << 20)

struct pz_keys_snapshot {
    atomic_size_t refs;
    pz_api_key_set *set; /* NULL: no keys */
};

struct pz_keys_file {
    char *path;
    pthread_mutex_t lock; /* guards `current` (a pointer swap) */
    pz_keys_snapshot *current;
    pthread_mutex_t reload_lock; /* serializes reloads */
    bool seen;
    struct stat last;
};

static pz_keys_snapshot *snapshot_new(pz_api_key_set *set)
{
    pz_keys_snapshot *s = pz_calloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    s->set = set;
    return s;
}

void pz_keys_snapshot_release(void *snapshot)
{
    pz_keys_snapshot *s = snapshot;
    if (s != NULL && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
        pz_api_key_set_free(s->set);
        free(s);
    }
}

static bool same_version(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Reads and parses the file; NULL (logged) when it cannot. */
static pz_api_key_set *load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        pz_error_log("auth: cannot open the API keys file %s: %s", path, strerror(errno));
        return NULL;
    }
    pz_buf buf;
    pz_buf_init(&buf, KEYS_FILE_MAX);
    char chunk[16384];
    size_t n;
    bool too_large = false;
    while (!too_large && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        too_large = pz_buf_append(&buf, chunk, n) != 0;
    fclose(f);
    pz_api_key_set *set = NULL;
    if (too_large) {
        pz_error_log("auth: the API keys file %s is larger than %u bytes", path, KEYS_FILE_MAX);
    } else {
        pz_config_problems problems;
        pz_config_problems_init(&problems);
        set = pz_api_key_set_parse(buf.data != NULL ? buf.data : "", buf.len, &problems);
        for (size_t i = 0; i < problems.n; i++)
            pz_log(problems.items[i].is_warning ? PZ_LOG_WARN : PZ_LOG_ERROR, "auth: API keys file %s: %s: %s", path,
                   problems.items[i].path, problems.items[i].message);
        pz_config_problems_free(&problems);
    }
    pz_buf_free(&buf);
    return set;
}

pz_keys_file *pz_keys_file_open(const char *path)
{
    pz_keys_file *f = pz_calloc(1, sizeof *f);
    f->path = pz_strdup(path);
    pthread_mutex_init(&f->lock, NULL);
    pthread_mutex_init(&f->reload_lock, NULL);
    f->current = snapshot_new(NULL);
    pz_keys_file_poll(f);
    return f;
}

void pz_keys_file_close(pz_keys_file *f)
{
    if (f == NULL)
        return;
    pz_keys_snapshot_release(f->current);
    pthread_mutex_destroy(&f->reload_lock);
    pthread_mutex_destroy(&f->lock);
    free(f->path);
    free(f);
}

const char *pz_keys_file_path(const pz_keys_file *f)
{
    return f->path;
}

bool pz_keys_file_poll(pz_keys_file *f)
{
    pthread_mutex_lock(&f->reload_lock);
    struct stat st;
    bool changed = stat(f->path, &st) == 0 && (!f->seen || !same_version(&st, &f->last));
    bool reloaded = false;
    if (changed) {
        f->seen = true;
        f->last = st;
        pz_api_key_set *set = load(f->path);
        if (set != NULL) {
            size_t n;
            pz_api_key_set_keys(set, &n);
            pz_keys_snapshot *next = snapshot_new(set);
            pthread_mutex_lock(&f->lock);
            pz_keys_snapshot *old = f->current;
            f->current = next;
            pthread_mutex_unlock(&f->lock);
            pz_keys_snapshot_release(old);
            pz_info("auth: API keys file %s loaded: %zu key(s)", f->path, n);
            reloaded = true;
        } else {
            pz_error_log("auth: keeping the API keys loaded before from %s", f->path);
        }
    } else if (!f->seen) {
        pz_error_log("auth: the API keys file %s cannot be read: %s", f->path, strerror(errno));
        f->seen = true; /* said once; it is loaded when it appears */
        memset(&f->last, 0, sizeof f->last);
    }
    pthread_mutex_unlock(&f->reload_lock);
    return reloaded;
}

pz_keys_snapshot *pz_keys_file_acquire(pz_keys_file *f)
{
    pthread_mutex_lock(&f->lock);
    pz_keys_snapshot *s = f->current;
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&f->lock);
    return s;
}

const pz_api_key *pz_keys_snapshot_lookup(const pz_keys_snapshot *s, const unsigned char digest[PZ_SHA256_LEN])
{
    if (s->set == NULL)
        return NULL;
    size_t n;
    const pz_api_key *keys = pz_api_key_set_keys(s->set, &n);
    return pz_api_key_lookup(keys, n, digest);
}

size_t pz_keys_snapshot_count(const pz_keys_snapshot *s)
{
    size_t n = 0;
    if (s->set != NULL)
        pz_api_key_set_keys(s->set, &n);
    return n;
}
