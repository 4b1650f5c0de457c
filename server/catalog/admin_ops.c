/* The catalog's part of the admin API and of the metrics (runtime.h): status, upserts and deletes
 * on the server's own catalog handle, and per-namespace figures. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/catalog/catalog_import.h"
#include "server/catalog/catalog_load.h"
#include "server/catalog/runtime.h"
#include "server/catalog/runtime_internal.h"
#include "server/core/json_text.h"
#include "server/core/mem.h"

static pz_status invalid_namespace(const char *ns, char *err, size_t errlen)
{
    snprintf(err, errlen, "invalid namespace '%s': expected 1 to %d characters of A-Z a-z 0-9 _ -", ns,
             PZ_CATALOG_MAX_NS_LEN);
    return PZ_INVALID_ARGUMENT;
}

/* ,"generation":G,"revision":R,"items":N,"publishedAt":MS of ns's current record. */
static pz_status append_info(pz_catalog *c, const char *ns, pz_buf *out, char *err, size_t errlen)
{
    pz_catalog_info info;
    if (pz_catalog_info_get(c, ns, &info, err, errlen) != 0)
        return PZ_INTERNAL;
    pz_buf_printf(out, ",\"present\":%s,\"generation\":%llu,\"revision\":%llu,\"items\":%llu,\"publishedAt\":%lld",
                  info.present ? "true" : "false", (unsigned long long)info.generation,
                  (unsigned long long)info.revision, (unsigned long long)info.items, (long long)info.published_ms);
    return PZ_OK;
}

static bool waiting_file(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && !(n > 4 && strcmp(name + n - 4, ".tmp") == 0) &&
           !(n > 5 && strcmp(name + n - 5, ".part") == 0);
}

/* Regular files in dir (those ending in `suffix` only, or all when NULL); the newest one's name in
 * newest (when non-NULL). */
static size_t count_files(const char *dir, const char *suffix, bool waiting_only, pz_buf *names, char *newest,
                          size_t newest_len)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    size_t n = 0;
    struct timespec newest_time = {0, 0};
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX];
        struct stat st;
        size_t len = strlen(e->d_name);
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path || stat(path, &st) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (suffix != NULL && (len < strlen(suffix) || strcmp(e->d_name + len - strlen(suffix), suffix) != 0))
            continue;
        if (waiting_only && !waiting_file(e->d_name))
            continue;
        if (names != NULL) {
            pz_buf_append_str(names, n > 0 ? "," : "");
            pz_json_write_string(names, e->d_name, len);
        }
        if (newest != NULL && (st.st_mtim.tv_sec > newest_time.tv_sec ||
                               (st.st_mtim.tv_sec == newest_time.tv_sec && st.st_mtim.tv_nsec > newest_time.tv_nsec))) {
            newest_time = st.st_mtim;
            snprintf(newest, newest_len, "%s", path);
        }
        n++;
    }
    closedir(d);
    return n;
}

/* ,"import":{"waiting":[names],"done":N,"failed":N,"lastError":"first line of the newest .error"} */
static void append_import(const pz_catalog_runtime *r, const char *ns, pz_buf *out)
{
    if (r->import == NULL) {
        pz_buf_append_str(out, ",\"import\":null");
        return;
    }
    char dir[PATH_MAX + PZ_CATALOG_MAX_NS_LEN + 2], sub[sizeof dir + 16], newest[PATH_MAX] = "";
    snprintf(dir, sizeof dir, "%s/%s", r->import_dir, ns);
    pz_buf_append_str(out, ",\"import\":{\"waiting\":[");
    count_files(dir, NULL, true, out, NULL, 0);
    snprintf(sub, sizeof sub, "%s/done", dir);
    size_t done = count_files(sub, NULL, false, NULL, NULL, 0);
    snprintf(sub, sizeof sub, "%s/failed", dir);
    size_t errors = count_files(sub, ".error", false, NULL, newest, sizeof newest);
    pz_buf_printf(out, "],\"done\":%zu,\"failed\":%zu,\"lastError\":", done, errors);
    FILE *f = newest[0] != '\0' ? fopen(newest, "r") : NULL;
    char line[512] = "";
    if (f != NULL && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        pz_json_write_string(out, line, strlen(line));
    } else {
        pz_buf_append_str(out, "null");
    }
    if (f != NULL)
        fclose(f);
    pz_buf_append_char(out, '}');
}

pz_status pz_catalog_runtime_status(void *rt, const char *ns, pz_buf *out, char *err, size_t errlen)
{
    pz_catalog_runtime *r = rt;
    if (!pz_catalog_valid_namespace(ns))
        return invalid_namespace(ns, err, errlen);
    pz_buf_append_str(out, "{\"namespace\":");
    pz_json_write_string(out, ns, strlen(ns));
    pz_status s = append_info(r->catalog, ns, out, err, errlen);
    if (s != PZ_OK)
        return s;
    append_import(r, ns, out);
    pz_buf_append_char(out, '}');
    return PZ_OK;
}

static void free_edits(pz_catalog_edit *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((void *)e[i].id);
        free((void *)e[i].value);
    }
    free(e);
}

/* Applies edits and answers {"namespace", verb: applied, "notFound": missing, then the record}. */
static pz_status apply(pz_catalog_runtime *r, const char *ns, pz_catalog_edit *edits, size_t n, const char *verb,
                       pz_buf *out, char *err, size_t errlen)
{
    size_t missing = 0;
    if (pz_catalog_apply(r->catalog, ns, edits, n, &missing, err, errlen) != 0)
        return PZ_INTERNAL;
    pz_buf_append_str(out, "{\"namespace\":");
    pz_json_write_string(out, ns, strlen(ns));
    pz_buf_printf(out, ",\"%s\":%zu,\"notFound\":%zu", verb, n - missing, missing);
    pz_status s = append_info(r->catalog, ns, out, err, errlen);
    pz_buf_append_char(out, '}');
    return s;
}

pz_status pz_catalog_runtime_upsert(void *rt, const char *ns, const char *jsonl, size_t len, pz_buf *out, char *err,
                                    size_t errlen)
{
    pz_catalog_runtime *r = rt;
    if (!pz_catalog_valid_namespace(ns))
        return invalid_namespace(ns, err, errlen);
    pz_catalog_edit *edits = NULL;
    size_t n = 0, line_no = 0;
    for (size_t pos = 0; pos < len;) {
        const char *line = jsonl + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t line_len = nl != NULL ? (size_t)(nl - line) : len - pos;
        pos += line_len + (nl != NULL ? 1 : 0);
        line_no++;
        while (line_len > 0 && (line[line_len - 1] == '\r' || line[line_len - 1] == ' '))
            line_len--;
        if (line_len == 0)
            continue;
        if (n == PZ_CATALOG_MAX_EDITS) {
            free_edits(edits, n);
            snprintf(err, errlen, "more than %d items in one call: load a file instead", PZ_CATALOG_MAX_EDITS);
            return PZ_INVALID_ARGUMENT;
        }
        char id[PZ_CATALOG_MAX_ID_LEN + 1], reason[300];
        size_t id_len;
        pz_buf value;
        pz_buf_init(&value, 8 * PZ_CATALOG_MAX_ITEM_BYTES);
        if (pz_catalog_prepare_item(line, line_len, id, &id_len, &value, reason, sizeof reason) != 0) {
            pz_buf_free(&value);
            free_edits(edits, n);
            snprintf(err, errlen, "line %zu: %s; nothing was changed", line_no, reason);
            return PZ_INVALID_ARGUMENT;
        }
        if (n % 1024 == 0)
            edits = pz_realloc(edits, (n + 1024) * sizeof *edits);
        size_t vlen;
        char *v = pz_buf_take(&value, &vlen);
        edits[n++] = (pz_catalog_edit){.id = pz_strndup(id, id_len), .id_len = id_len, .value = v, .len = vlen};
    }
    if (n == 0) {
        snprintf(err, errlen, "no items: send JSON Lines, one object with an \"id\" a line");
        return PZ_INVALID_ARGUMENT;
    }
    pz_status s = apply(r, ns, edits, n, "upserted", out, err, errlen);
    free_edits(edits, n);
    return s;
}

pz_status pz_catalog_runtime_delete(void *rt, const char *ns, const char *const *ids, size_t n, pz_buf *out, char *err,
                                    size_t errlen)
{
    pz_catalog_runtime *r = rt;
    if (!pz_catalog_valid_namespace(ns))
        return invalid_namespace(ns, err, errlen);
    if (n > PZ_CATALOG_MAX_EDITS) {
        snprintf(err, errlen, "more than %d ids in one call", PZ_CATALOG_MAX_EDITS);
        return PZ_INVALID_ARGUMENT;
    }
    pz_catalog_edit *edits = pz_calloc(n ? n : 1, sizeof *edits);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(ids[i]);
        if (len == 0 || len > PZ_CATALOG_MAX_ID_LEN) {
            free(edits);
            snprintf(err, errlen, "id %zu: expected 1 to %d bytes", i + 1, PZ_CATALOG_MAX_ID_LEN);
            return PZ_INVALID_ARGUMENT;
        }
        edits[i] = (pz_catalog_edit){.id = ids[i], .id_len = len};
    }
    pz_status s = apply(r, ns, edits, n, "deleted", out, err, errlen);
    free(edits);
    return s;
}

void pz_catalog_runtime_collect_metrics(void *rt, pz_metrics_writer *w)
{
    pz_catalog_runtime *r = rt;
    static const char *const NS[] = {"namespace"};
    pz_config *cfg = pz_config_holder_acquire(r->config);
    size_t n = pz_config_namespace_count(cfg);
    pz_catalog_info *infos = pz_calloc(n ? n : 1, sizeof *infos);
    for (size_t i = 0; i < n; i++) {
        char err[256];
        const pz_namespace *ns = pz_config_namespace_at(cfg, i);
        if (!pz_catalog_runtime_decorates(ns) ||
            pz_catalog_info_get(r->catalog, ns->key, &infos[i], err, sizeof err) != 0)
            infos[i].present = false;
    }
    static const struct {
        const char *name, *help;
        size_t offset;
    } FAMILIES[] = {
        {"pz_catalog_items", "Items in the namespace's catalog (localdb decoration).",
         offsetof(pz_catalog_info, items)},
        {"pz_catalog_revision", "The catalog's revision: one more per load or edit.",
         offsetof(pz_catalog_info, revision)},
        {"pz_catalog_generation", "The catalog's generation: one more per full load.",
         offsetof(pz_catalog_info, generation)},
    };
    for (size_t f = 0; f < sizeof FAMILIES / sizeof FAMILIES[0]; f++) {
        pz_metrics_write_family(w, FAMILIES[f].name, PZ_METRIC_GAUGE, FAMILIES[f].help);
        for (size_t i = 0; i < n; i++) {
            if (!infos[i].present)
                continue;
            const char *key = pz_config_namespace_at(cfg, i)->key;
            pz_metrics_write_sample(w, FAMILIES[f].name, 1, NS, &key,
                                    (double)*(const uint64_t *)((const char *)&infos[i] + FAMILIES[f].offset));
        }
    }
    free(infos);
    pz_config_unref(cfg);
    uint64_t loaded = 0, failed = 0;
    if (r->import != NULL)
        pz_catalog_import_stats(r->import, &loaded, &failed);
    static const char *const OUTCOME[] = {"outcome"};
    pz_metrics_write_family(w, "pz_catalog_import_files_total", PZ_METRIC_COUNTER,
                            "Item files taken from the import folder, by outcome.");
    const char *l = "loaded", *f = "failed";
    pz_metrics_write_sample(w, "pz_catalog_import_files_total", 1, OUTCOME, &l, (double)loaded);
    pz_metrics_write_sample(w, "pz_catalog_import_files_total", 1, OUTCOME, &f, (double)failed);
}
