#include "server/catalog/catalog_import.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/core/buf.h"
#include "server/catalog/catalog_load.h"
#include "server/core/log.h"
#include "server/core/mem.h"
#include "server/core/request.h"

#define ERROR_TEXT_MAX (64 * 1024)
#define TRACKED_PATH_MAX 1024 /* longer paths are not taken */

/* A file seen by the previous scan. */
typedef struct seen_file {
    char path[TRACKED_PATH_MAX];
    off_t size;
    struct timespec mtime;
    ino_t ino;
} seen_file;

struct pz_catalog_import {
    pz_catalog *catalog;
    char dir[PATH_MAX];
    seen_file *prev, *cur; /* PZ_CATALOG_IMPORT_MAX_TRACKED each */
    size_t n_prev, n_cur;
    atomic_ulong loaded, failed;
};

pz_catalog_import *pz_catalog_import_create(pz_catalog *catalog, const char *import_dir)
{
    pz_catalog_import *im = pz_calloc(1, sizeof *im);
    im->catalog = catalog;
    snprintf(im->dir, sizeof im->dir, "%s", import_dir);
    im->prev = pz_calloc(PZ_CATALOG_IMPORT_MAX_TRACKED, sizeof *im->prev);
    im->cur = pz_calloc(PZ_CATALOG_IMPORT_MAX_TRACKED, sizeof *im->cur);
    atomic_init(&im->loaded, 0);
    atomic_init(&im->failed, 0);
    if (mkdir(import_dir, 0755) != 0 && errno != EEXIST)
        pz_warn("import: cannot create %s: %s", import_dir, strerror(errno));
    return im;
}

void pz_catalog_import_stats(pz_catalog_import *im, uint64_t *loaded, uint64_t *failed)
{
    *loaded = atomic_load(&im->loaded);
    *failed = atomic_load(&im->failed);
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Never taken: hidden names, names still being written, our own .error notes. */
static bool ignored_name(const char *name)
{
    return name[0] == '.' || has_suffix(name, ".tmp") || has_suffix(name, ".part") || has_suffix(name, ".error");
}

/* Whether the previous scan saw the file exactly like this. */
static bool stable(const pz_catalog_import *im, const seen_file *f)
{
    for (size_t i = 0; i < im->n_prev; i++) {
        const seen_file *p = &im->prev[i];
        if (strcmp(p->path, f->path) == 0)
            return p->size == f->size && p->ino == f->ino && p->mtime.tv_sec == f->mtime.tv_sec &&
                   p->mtime.tv_nsec == f->mtime.tv_nsec;
    }
    return false;
}

/* Moves path into <ns_dir>/<sub>/<name>, suffixing the name when taken. Writes the destination to
 * dest. Returns 0 or -1. */
static int move_into(const char *ns_dir, const char *sub, const char *name, const char *path, char *dest,
                     size_t destlen)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/%s", ns_dir, sub) >= (int)sizeof dir ||
        (mkdir(dir, 0755) != 0 && errno != EEXIST))
        return -1;
    if (snprintf(dest, destlen, "%s/%s", dir, name) >= (int)destlen)
        return -1;
    struct stat st;
    if (stat(dest, &st) == 0 &&
        snprintf(dest, destlen, "%s/%s.%lld", dir, name, (long long)pz_now_ms()) >= (int)destlen)
        return -1;
    return rename(path, dest);
}

typedef struct error_note {
    pz_buf text;
    size_t listed;
} error_note;

static void note_bad_line(void *ctx, size_t line_no, const char *reason)
{
    error_note *n = ctx;
    if (n->listed++ < PZ_CATALOG_IMPORT_MAX_ERROR_LINES)
        pz_buf_printf(&n->text, "line %zu: %s\n", line_no, reason);
}

/* Writes the note next to the failed file as <name>.error, atomically (written under a temporary
 * name, then renamed), so whoever watches for it never reads it half written. */
static void write_error_file(const char *moved_to, const char *reason, error_note *note)
{
    char path[PATH_MAX + 48], tmp[PATH_MAX + 64];
    if (snprintf(path, sizeof path, "%s.error", moved_to) >= (int)sizeof path ||
        snprintf(tmp, sizeof tmp, "%s.error.tmp", moved_to) >= (int)sizeof tmp)
        return;
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        pz_warn("import: cannot write %s: %s", tmp, strerror(errno));
        return;
    }
    fprintf(f, "%s\n", reason);
    if (note->text.len > 0)
        fputs(note->text.data, f);
    if (note->listed > PZ_CATALOG_IMPORT_MAX_ERROR_LINES)
        fprintf(f, "... and %zu more bad lines\n", note->listed - PZ_CATALOG_IMPORT_MAX_ERROR_LINES);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        pz_warn("import: cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
}

/* Loads one complete file of namespace ns and moves it to done/ or failed/. Returns false when the
 * namespace was busy (the file stays). */
static bool take_file(pz_catalog_import *im, const char *ns, const char *ns_dir, const char *name, const char *path)
{
    error_note note = {0};
    pz_buf_init(&note.text, ERROR_TEXT_MAX);
    pz_catalog_load_options opts = {.lenient = false, .on_bad_line = note_bad_line, .ctx = &note};
    pz_catalog_load_result res;
    char err[512], dest[PATH_MAX + 32];
    int rc = pz_catalog_load_file(im->catalog, ns, path, &opts, &res, err, sizeof err);
    if (rc == PZ_CATALOG_BUSY) { /* another load of ns (the CLI?): the file waits for the next scan */
        pz_info("import: namespace '%s': %s waits: %s", ns, name, err);
    } else if (rc == 0) {
        atomic_fetch_add(&im->loaded, 1);
        pz_info("import: namespace '%s': %s published as generation %llu: %zu items (%zu lines, %zu duplicate ids)", ns,
                name, (unsigned long long)res.info.generation, res.items, res.lines, res.duplicates);
        if (move_into(ns_dir, "done", name, path, dest, sizeof dest) != 0)
            pz_warn("import: cannot move %s to done/: %s", path, strerror(errno));
    } else {
        atomic_fetch_add(&im->failed, 1);
        pz_warn("import: namespace '%s': %s failed: %s", ns, name, err);
        if (move_into(ns_dir, "failed", name, path, dest, sizeof dest) != 0)
            pz_warn("import: cannot move %s to failed/: %s", path, strerror(errno));
        else
            write_error_file(dest, err, &note);
    }
    pz_buf_free(&note.text);
    return rc != PZ_CATALOG_BUSY;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names of the regular files directly in dir (caller frees each and the array). */
static char **list_files(const char *dir, size_t *n_out)
{
    *n_out = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return NULL;
    size_t n = 0, cap = 16;
    char **names = pz_malloc(cap * sizeof *names);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' && (de->d_name[1] == '\0' || (de->d_name[1] == '.' && de->d_name[2] == '\0')))
            continue;
        if (n == cap)
            names = pz_realloc(names, (cap *= 2) * sizeof *names);
        names[n++] = pz_strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, compare_names);
    *n_out = n;
    return names;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int scan_namespace(pz_catalog_import *im, const char *ns)
{
    char ns_dir[PATH_MAX];
    if (snprintf(ns_dir, sizeof ns_dir, "%s/%s", im->dir, ns) >= (int)sizeof ns_dir)
        return 0;
    size_t n;
    char **names = list_files(ns_dir, &n);
    int taken = 0;
    for (size_t i = 0; i < n; i++) {
        if (ignored_name(names[i]))
            continue;
        seen_file f;
        struct stat st;
        if (snprintf(f.path, sizeof f.path, "%s/%s", ns_dir, names[i]) >= (int)sizeof f.path ||
            stat(f.path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        f.size = st.st_size;
        f.mtime = st.st_mtim;
        f.ino = st.st_ino;
        if (stable(im, &f) && take_file(im, ns, ns_dir, names[i], f.path)) {
            taken++;
        } else if (im->n_cur < PZ_CATALOG_IMPORT_MAX_TRACKED) {
            im->cur[im->n_cur++] = f;
        }
    }
    free_names(names, n);
    return taken;
}

int pz_catalog_import_scan(pz_catalog_import *im)
{
    im->n_cur = 0;
    size_t n;
    char **names = list_files(im->dir, &n);
    int taken = 0;
    for (size_t i = 0; i < n; i++)
        if (pz_catalog_valid_namespace(names[i]))
            taken += scan_namespace(im, names[i]);
    free_names(names, n);
    seen_file *t = im->prev;
    im->prev = im->cur;
    im->n_prev = im->n_cur;
    im->cur = t;
    return taken;
}

void pz_catalog_import_destroy(pz_catalog_import *im)
{
    if (im == NULL)
        return;
    free(im->prev);
    free(im->cur);
    free(im);
}
