/* Configuration history on disk (config_store.h). */
#include "server/ops/config_store.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/core/buf.h"
#include "server/core/clock.h"
#include "server/core/fs.h"
#include "server/core/log.h"
#include "server/core/mem.h"
#include "server/core/redact.h"
#include "server/ops/files.h"

/* Record file names: the id zero-padded to this many digits, so names sort by id. */
#define ID_DIGITS 12
#define META_SUFFIX ".meta.json"
#define DOC_SUFFIX ".json"
#define FILE_MODE 0600

typedef struct index_entry {
    unsigned long long id;
    bool accepted;
} index_entry;

struct pz_config_store {
    char *dir;
    size_t keep;
    pthread_mutex_t lock; /* guards the index: the writer changes it, readers copy it */
    index_entry *index;   /* ascending ids */
    size_t n_index, cap_index;
    unsigned long long next_id;
    char newest_accepted_hash[PZ_CONFIG_HASH_SIZE]; /* "" when there is none */
    unsigned long long newest_accepted_id;
};

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

void pz_config_hash(const void *data, size_t len, char *out)
{
    unsigned char md[32];
    unsigned int n = 0;
    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != sizeof md)
        pz_fatal("SHA-256 failed");
    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < sizeof md; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

static void record_path(const pz_config_store *s, unsigned long long id, const char *suffix, char *out, size_t len)
{
    snprintf(out, len, "%s/%0*llu%s", s->dir, ID_DIGITS, id, suffix);
}

/* Parses "NNNNNNNNNNNN.meta.json"; returns the id or 0. */
static unsigned long long meta_id(const char *name)
{
    size_t n = strlen(name);
    if (n != ID_DIGITS + sizeof META_SUFFIX - 1 || strcmp(name + ID_DIGITS, META_SUFFIX) != 0)
        return 0;
    unsigned long long id = 0;
    for (size_t i = 0; i < ID_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        id = id * 10 + (unsigned long long)(name[i] - '0');
    }
    return id;
}

static json_t *load_meta(const pz_config_store *s, unsigned long long id)
{
    char path[PATH_MAX];
    record_path(s, id, META_SUFFIX, path, sizeof path);
    return json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
}

static int compare_entries(const void *a, const void *b)
{
    unsigned long long x = ((const index_entry *)a)->id, y = ((const index_entry *)b)->id;
    return x < y ? -1 : x > y;
}

static void index_push(pz_config_store *s, unsigned long long id, bool accepted)
{
    if (s->n_index == s->cap_index) {
        s->cap_index = s->cap_index ? s->cap_index * 2 : 64;
        s->index = pz_realloc(s->index, s->cap_index * sizeof *s->index);
    }
    s->index[s->n_index++] = (index_entry){id, accepted};
}

static int read_index(pz_config_store *s, char *err, size_t errlen)
{
    DIR *d = opendir(s->dir);
    if (d == NULL)
        return fail(err, errlen, "cannot open the configuration history %s: %s", s->dir, strerror(errno));
    s->n_index = 0;
    s->newest_accepted_hash[0] = '\0';
    s->newest_accepted_id = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        unsigned long long id = meta_id(e->d_name);
        if (id == 0)
            continue;
        json_t *meta = load_meta(s, id);
        if (meta == NULL)
            continue; /* unreadable: not a record we can use */
        const char *status = json_string_value(json_object_get(meta, "status"));
        index_push(s, id, status != NULL && strcmp(status, "accepted") == 0);
        json_decref(meta);
    }
    closedir(d);
    if (s->n_index > 1)
        qsort(s->index, s->n_index, sizeof *s->index, compare_entries);
    s->next_id = s->n_index > 0 ? s->index[s->n_index - 1].id + 1 : 1;
    for (size_t i = s->n_index; i-- > 0;) {
        if (!s->index[i].accepted)
            continue;
        json_t *meta = load_meta(s, s->index[i].id);
        const char *hash = meta != NULL ? json_string_value(json_object_get(meta, "hash")) : NULL;
        snprintf(s->newest_accepted_hash, sizeof s->newest_accepted_hash, "%s", hash != NULL ? hash : "");
        s->newest_accepted_id = s->index[i].id;
        json_decref(meta);
        break;
    }
    return 0;
}

int pz_config_store_open(const char *dir, size_t keep, bool create, pz_config_store **out, char *err, size_t errlen)
{
    *out = NULL;
    if (create && pz_make_dirs(dir) != 0)
        return fail(err, errlen, "cannot create the configuration history %s: %s", dir, strerror(errno));
    pz_config_store *s = pz_calloc(1, sizeof *s);
    s->dir = pz_strdup(dir);
    s->keep = keep == 0 ? PZ_CONFIG_HISTORY_DEFAULT : keep;
    pthread_mutex_init(&s->lock, NULL);
    if (read_index(s, err, errlen) != 0) {
        pz_config_store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void pz_config_store_close(pz_config_store *s)
{
    if (s == NULL)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s->index);
    free(s->dir);
    free(s);
}

static void format_time(int64_t ms, char *out, size_t len)
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static json_t *problem_array(const pz_config_problems *p, bool warnings, size_t *dropped)
{
    json_t *a = json_array();
    for (size_t i = 0; p != NULL && i < p->n; i++) {
        if (p->items[i].is_warning != warnings)
            continue;
        if (json_array_size(a) >= PZ_CONFIG_STORE_MAX_PROBLEMS) {
            (*dropped)++;
            continue;
        }
        json_array_append_new(a, json_pack("{s:s, s:s}", "path", p->items[i].path, "message", p->items[i].message));
    }
    return a;
}

static json_t *build_meta(unsigned long long id, const pz_config_load *load, const char *hash, int64_t now_ms)
{
    char at[80];
    format_time(now_ms, at, sizeof at);
    const char *version = load->config != NULL ? pz_config_version(load->config) : NULL;
    size_t dropped = 0;
    json_t *errors = problem_array(load->problems, false, &dropped);
    json_t *warnings = problem_array(load->problems, true, &dropped);
    json_t *meta = json_object();
    json_object_set_new(meta, "id", json_integer((json_int_t)id));
    json_object_set_new(meta, "status", json_string(load->config != NULL ? "accepted" : "rejected"));
    json_object_set_new(meta, "version", version != NULL ? json_string(version) : json_null());
    json_object_set_new(meta, "hash", load->text != NULL ? json_string(hash) : json_null());
    json_object_set_new(meta, "loadedAt", json_string(at));
    json_object_set_new(meta, "loadedAtMs", json_integer(now_ms));
    /* A URL source may carry a credential (a presigned query, user:pass@): shown as redact.h shows it. */
    char *source = pz_redact_urls_dup(load->source != NULL ? load->source : "unknown");
    json_object_set_new(meta, "source", json_string(source));
    free(source);
    json_object_set_new(meta, "bytes", json_integer(load->text != NULL ? (json_int_t)load->len : 0));
    json_object_set_new(meta, "errors", errors);
    json_object_set_new(meta, "warnings", warnings);
    json_object_set_new(meta, "problemsDropped", json_integer((json_int_t)dropped));
    return meta;
}

static void remove_record(pz_config_store *s, unsigned long long id)
{
    char path[PATH_MAX];
    record_path(s, id, META_SUFFIX, path, sizeof path); /* the meta first: the record is gone at once */
    unlink(path);
    record_path(s, id, DOC_SUFFIX, path, sizeof path);
    unlink(path);
}

/* Drops the oldest records of each status beyond `keep`. Called with the lock held. */
static void prune(pz_config_store *s)
{
    size_t accepted = 0, rejected = 0;
    for (size_t i = 0; i < s->n_index; i++) {
        if (s->index[i].accepted)
            accepted++;
        else
            rejected++;
    }
    size_t kept = 0;
    for (size_t i = 0; i < s->n_index; i++) {
        size_t *count = s->index[i].accepted ? &accepted : &rejected;
        if (*count > s->keep) {
            remove_record(s, s->index[i].id);
            (*count)--;
            continue;
        }
        s->index[kept++] = s->index[i];
    }
    s->n_index = kept;
}

int pz_config_store_record(pz_config_store *s, const pz_config_load *load, int64_t now_ms, unsigned long long *id,
                           char *err, size_t errlen)
{
    char hash[PZ_CONFIG_HASH_SIZE] = "";
    if (load->text != NULL)
        pz_config_hash(load->text, load->len, hash);
    pthread_mutex_lock(&s->lock);
    if (load->config != NULL && s->newest_accepted_hash[0] != '\0' && strcmp(hash, s->newest_accepted_hash) == 0) {
        if (id != NULL)
            *id = s->newest_accepted_id;
        pthread_mutex_unlock(&s->lock);
        return 0; /* the configuration being served, again */
    }
    unsigned long long new_id = s->next_id;
    pthread_mutex_unlock(&s->lock);

    char path[PATH_MAX];
    size_t doc_len = load->text != NULL && load->len <= PZ_CONFIG_STORE_DOCUMENT_MAX ? load->len : 0;
    if (doc_len > 0) {
        record_path(s, new_id, DOC_SUFFIX, path, sizeof path);
        if (pz_write_file_atomic(path, load->text, doc_len, FILE_MODE, err, errlen) != 0)
            return -1;
    }
    json_t *meta = build_meta(new_id, load, hash, now_ms);
    char *text = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    record_path(s, new_id, META_SUFFIX, path, sizeof path);
    int rc = pz_write_file_atomic(path, text, strlen(text), FILE_MODE, err, errlen);
    free(text);
    if (rc != 0)
        return -1;

    pthread_mutex_lock(&s->lock);
    s->next_id = new_id + 1;
    index_push(s, new_id, load->config != NULL);
    if (load->config != NULL) {
        memcpy(s->newest_accepted_hash, hash, sizeof hash);
        s->newest_accepted_id = new_id;
    }
    prune(s);
    pthread_mutex_unlock(&s->lock);
    if (id != NULL)
        *id = new_id;
    return 0;
}

void pz_config_store_listener(void *ctx, const pz_config_load *load)
{
    char err[512];
    unsigned long long id = 0;
    if (pz_config_store_record(ctx, load, pz_now_ms(), &id, err, sizeof err) != 0)
        pz_error_log("config history: %s", err);
    else if (load->config != NULL)
        pz_info("config history: %s is record @%llu", load->source, id);
    else
        pz_info("config history: the rejected document from %s is record @%llu", load->source, id);
}

/* A copy of the index, newest first. */
static index_entry *index_snapshot(pz_config_store *s, size_t *n)
{
    pthread_mutex_lock(&s->lock);
    *n = s->n_index;
    index_entry *copy = pz_malloc((s->n_index ? s->n_index : 1) * sizeof *copy);
    for (size_t i = 0; i < s->n_index; i++)
        copy[i] = s->index[s->n_index - 1 - i];
    pthread_mutex_unlock(&s->lock);
    return copy;
}

/* Another process may write the history (the server, while the CLI reads): read the directory
 * again so the copy is current. */
static void refresh_index(pz_config_store *s)
{
    pthread_mutex_lock(&s->lock);
    char err[256];
    if (read_index(s, err, sizeof err) != 0)
        pz_warn("config history: %s", err);
    pthread_mutex_unlock(&s->lock);
}

json_t *pz_config_store_list(pz_config_store *s, size_t limit, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    refresh_index(s);
    size_t n;
    index_entry *ids = index_snapshot(s, &n);
    json_t *out = json_array();
    bool active_seen = false;
    for (size_t i = 0; i < n && (limit == 0 || json_array_size(out) < limit); i++) {
        json_t *meta = load_meta(s, ids[i].id);
        if (meta == NULL)
            continue; /* pruned meanwhile */
        if (ids[i].accepted && !active_seen) {
            json_object_set_new(meta, "active", json_true());
            active_seen = true;
        }
        json_array_append_new(out, meta);
    }
    free(ids);
    return out;
}

json_t *pz_config_store_newest(pz_config_store *s, const char *hash, bool accepted)
{
    refresh_index(s);
    size_t n;
    index_entry *ids = index_snapshot(s, &n);
    json_t *found = NULL;
    bool newest_accepted = true;
    for (size_t i = 0; i < n && found == NULL; i++) {
        if (ids[i].accepted != accepted)
            continue;
        json_t *meta = load_meta(s, ids[i].id);
        const char *h = meta != NULL ? json_string_value(json_object_get(meta, "hash")) : NULL;
        if (meta != NULL && (hash == NULL || (h != NULL && strcmp(h, hash) == 0))) {
            if (accepted && newest_accepted)
                json_object_set_new(meta, "active", json_true());
            found = meta;
        } else {
            json_decref(meta);
        }
        newest_accepted = newest_accepted && meta == NULL; /* a pruned record may sit in the copy */
    }
    free(ids);
    return found;
}

static int read_document(const pz_config_store *s, unsigned long long id, char **text, size_t *len)
{
    char path[PATH_MAX], err[256];
    record_path(s, id, DOC_SUFFIX, path, sizeof path);
    return pz_read_file(path, PZ_CONFIG_STORE_DOCUMENT_MAX, text, len, err, sizeof err);
}

/* "@N" -> N; 0 when ref is not of that form. */
static unsigned long long ref_id(const char *ref)
{
    if (ref[0] != '@' || ref[1] == '\0')
        return 0;
    char *end;
    errno = 0;
    unsigned long long id = strtoull(ref + 1, &end, 10);
    return errno == 0 && *end == '\0' ? id : 0;
}

json_t *pz_config_store_find(pz_config_store *s, const char *ref, char **text, size_t *len, char *err, size_t errlen)
{
    if (text != NULL)
        *text = NULL;
    if (len != NULL)
        *len = 0;
    refresh_index(s);
    unsigned long long want = ref_id(ref);
    size_t n;
    index_entry *ids = index_snapshot(s, &n);
    json_t *found = NULL;
    for (size_t i = 0; i < n && found == NULL; i++) {
        if (want != 0 ? ids[i].id != want : !ids[i].accepted)
            continue;
        json_t *meta = load_meta(s, ids[i].id);
        const char *version = meta != NULL ? json_string_value(json_object_get(meta, "version")) : NULL;
        if (meta != NULL && (want != 0 || (version != NULL && strcmp(version, ref) == 0)))
            found = meta;
        else
            json_decref(meta);
    }
    free(ids);
    if (found == NULL) {
        if (want != 0)
            fail(err, errlen, "the configuration history has no record @%llu", want);
        else
            fail(err, errlen,
                 "no accepted configuration with version '%s' in the history (use @ID for a record by its id)", ref);
        return NULL;
    }
    if (text != NULL) {
        unsigned long long id = (unsigned long long)json_integer_value(json_object_get(found, "id"));
        size_t dummy;
        if (read_document(s, id, text, len != NULL ? len : &dummy) != 0)
            *text = NULL; /* a record of a document that could not be read has none */
    }
    return found;
}
