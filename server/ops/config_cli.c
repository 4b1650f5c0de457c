/* `personalization-server config ...` (config_cli.h). */
#include "server/ops/config_cli.h"

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/core/config.h"
#include "server/core/fs.h"
#include "server/ops/config_source.h"
#include "server/ops/config_store.h"
#include "server/ops/files.h"
#include "server/upstream/blocking_call.h"

#define ADMIN_TIMEOUT_MS 30000
/* An admin answer holds at most a document (16 MiB) and its record. */
#define ADMIN_MAX_RESPONSE (20u << 20)

typedef struct cli_args {
    const char *command;
    const char *ref;
    const char *data_dir;
    const char *admin;
    const char *config_path;
    long limit;
    bool json;
} cli_args;

typedef int (*command_fn)(const cli_args *a, FILE *out, FILE *err);

static void usage(FILE *f)
{
    fputs("Usage: personalization-server config COMMAND [options]\n"
          "\n"
          "  history [--limit N] [--json]   the loaded configurations, newest first (* = being served)\n"
          "  show VERSION                   the document of a record\n"
          "  rollback VERSION               serve an earlier document again: --admin applies it to the\n"
          "                                 running server; --config PATH writes it over the file\n"
          "\n"
          "Options: --data-dir DIR (default ./" PZ_DEFAULT_DATA_DIR ") reads the history on disk;\n"
          "--admin URL asks a running server's admin API (e.g. http://127.0.0.1:9464) instead.\n"
          "VERSION is a document version (its newest accepted record) or @ID (a record by its id).\n",
          f);
}

/* ---- the admin API ---- */

/* Calls the admin API; returns the parsed JSON answer of a 2xx, or NULL after printing why. */
static json_t *admin_call(const cli_args *a, const char *method, const char *path, const char *body, FILE *err)
{
    char url[4096];
    size_t base = strlen(a->admin);
    while (base > 0 && a->admin[base - 1] == '/')
        base--;
    snprintf(url, sizeof url, "%.*s%s", (int)base, a->admin, path);
    const char *headers[] = {"Content-Type: application/json", "Accept: application/json", NULL};
    pz_blocking_client *c = pz_blocking_create();
    pz_blocking_response resp;
    pz_blocking_request req = {.method = method,
                               .url = url,
                               .headers = headers,
                               .body = body,
                               .body_len = body != NULL ? strlen(body) : 0,
                               .timeout_ms = ADMIN_TIMEOUT_MS,
                               .max_response_bytes = ADMIN_MAX_RESPONSE};
    json_t *doc = NULL;
    if (pz_blocking_call(c, &req, &resp) != 0) {
        fprintf(err, "error: %s\n", resp.error);
    } else {
        json_error_t jerr;
        doc = resp.body.len > 0 ? json_loadb(resp.body.data, resp.body.len, 0, &jerr) : NULL;
        if (resp.status / 100 != 2) {
            const char *message = doc != NULL ? json_string_value(json_object_get(doc, "message")) : NULL;
            fprintf(err, "error: %s answered %ld: %s\n", url, resp.status,
                    message != NULL ? message : (resp.body.data != NULL ? resp.body.data : ""));
            json_decref(doc);
            doc = NULL;
        } else if (doc == NULL) {
            fprintf(err, "error: %s answered something that is not JSON\n", url);
        }
    }
    pz_blocking_response_free(&resp);
    pz_blocking_destroy(c);
    return doc;
}

/* Percent-encodes s as one path segment (RFC 3986 unreserved characters kept) into out. */
static void percent_encode(const char *s, char *out, size_t len)
{
    static const char HEX[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0' && o + 4 < len; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = HEX[*p >> 4];
            out[o++] = HEX[*p & 15];
        }
    }
    out[o] = '\0';
}

/* ---- output ---- */

static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v != NULL ? v : dflt;
}

static void print_record_line(const json_t *r, FILE *out)
{
    const char *hash = str_or(r, "hash", "-");
    if (strncmp(hash, "sha256:", 7) == 0)
        hash += 7;
    json_t *errors = json_object_get(r, "errors");
    fprintf(out, "%s %-6lld %-9s %-16s %-24s %-12.12s %s", json_is_true(json_object_get(r, "active")) ? "*" : " ",
            (long long)json_integer_value(json_object_get(r, "id")), str_or(r, "status", "-"),
            str_or(r, "version", "-"), str_or(r, "loadedAt", "-"), hash, str_or(r, "source", "-"));
    if (json_array_size(errors) > 0)
        fprintf(out, "  (%zu error(s), first: %s: %s)", json_array_size(errors),
                str_or(json_array_get(errors, 0), "path", ""), str_or(json_array_get(errors, 0), "message", ""));
    fputc('\n', out);
}

static pz_config_store *open_store(const cli_args *a, FILE *err)
{
    char dir[PATH_MAX], msg[600];
    snprintf(dir, sizeof dir, "%s/config/history", a->data_dir);
    pz_config_store *s = NULL;
    if (pz_config_store_open(dir, 0, false, &s, msg, sizeof msg) != 0)
        fprintf(err, "error: %s\n", msg);
    return s;
}

/* ---- commands ---- */

static int cmd_history(const cli_args *a, FILE *out, FILE *err)
{
    json_t *records = NULL;
    if (a->admin != NULL) {
        char path[64];
        snprintf(path, sizeof path, "/admin/config/history?limit=%ld", a->limit);
        json_t *doc = admin_call(a, "GET", path, NULL, err);
        if (doc == NULL)
            return 1;
        records = json_incref(json_object_get(doc, "records"));
        json_decref(doc);
        if (records == NULL)
            records = json_array();
    } else {
        pz_config_store *s = open_store(a, err);
        if (s == NULL)
            return 1;
        char msg[256];
        records = pz_config_store_list(s, (size_t)a->limit, msg, sizeof msg);
        pz_config_store_close(s);
    }
    size_t i;
    json_t *r;
    if (!a->json)
        fprintf(out, "  %-6s %-9s %-16s %-24s %-12s %s\n", "ID", "STATUS", "VERSION", "LOADED (UTC)", "SHA-256",
                "SOURCE");
    json_array_foreach (records, i, r) {
        if (a->json) {
            char *line = json_dumps(r, JSON_COMPACT);
            fprintf(out, "%s\n", line);
            free(line);
        } else {
            print_record_line(r, out);
        }
    }
    json_decref(records);
    return 0;
}

static int cmd_show(const cli_args *a, FILE *out, FILE *err)
{
    if (a->admin != NULL) {
        char path[1024];
        int n = snprintf(path, sizeof path, "/admin/config/history/");
        percent_encode(a->ref, path + n, sizeof path - (size_t)n);
        json_t *doc = admin_call(a, "GET", path, NULL, err);
        if (doc == NULL)
            return 1;
        json_t *document = json_object_get(doc, "document");
        if (document == NULL) {
            fprintf(err, "error: record %s holds no document (it could not be read when it was loaded)\n", a->ref);
            json_decref(doc);
            return 1;
        }
        char *text = json_dumps(document, JSON_INDENT(2));
        fprintf(out, "%s\n", text);
        free(text);
        json_decref(doc);
        return 0;
    }
    pz_config_store *s = open_store(a, err);
    if (s == NULL)
        return 1;
    char msg[600], *text = NULL;
    size_t len = 0;
    json_t *meta = pz_config_store_find(s, a->ref, &text, &len, msg, sizeof msg);
    pz_config_store_close(s);
    if (meta == NULL) {
        fprintf(err, "error: %s\n", msg);
        return 1;
    }
    json_decref(meta);
    if (text == NULL) {
        fprintf(err, "error: record %s holds no document (it could not be read when it was loaded)\n", a->ref);
        return 1;
    }
    fwrite(text, 1, len, out);
    if (len == 0 || text[len - 1] != '\n')
        fputc('\n', out);
    free(text);
    return 0;
}

static int rollback_online(const cli_args *a, FILE *out, FILE *err)
{
    json_t *body = json_pack("{s:s}", "version", a->ref);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    json_t *doc = admin_call(a, "POST", "/admin/config/rollback", text, err);
    free(text);
    if (doc == NULL)
        return 1;
    json_t *record = json_object_get(doc, "record");
    int rc = json_is_true(json_object_get(doc, "applied")) ? 0 : 1;
    if (rc == 0) {
        fprintf(out, "rolled back: the server now serves version %s (record @%lld, from %s)\n",
                str_or(record, "version", "(none)"), (long long)json_integer_value(json_object_get(record, "id")),
                str_or(doc, "rolledBackTo", a->ref));
    } else {
        fprintf(err, "error: the server rejected the document of %s:\n", a->ref);
        size_t i;
        json_t *p;
        json_array_foreach (json_object_get(record, "errors"), i, p) {
            fprintf(err, "  %s: %s\n", str_or(p, "path", ""), str_or(p, "message", ""));
        }
    }
    json_decref(doc);
    return rc;
}

/* The permissions of the file being replaced (0644 for a new one): a rollback keeps them. */
static mode_t file_mode(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_mode & 07777 : 0644;
}

static int rollback_offline(const cli_args *a, FILE *out, FILE *err)
{
    if (pz_config_is_url(a->config_path)) {
        fprintf(err, "error: %s is a URL: roll back at the source, or against the running server with --admin URL\n",
                a->config_path);
        return 1;
    }
    pz_config_store *s = open_store(a, err);
    if (s == NULL)
        return 1;
    char msg[600], *text = NULL;
    size_t len = 0;
    json_t *meta = pz_config_store_find(s, a->ref, &text, &len, msg, sizeof msg);
    pz_config_store_close(s);
    if (meta == NULL || text == NULL) {
        fprintf(err, "error: %s\n", meta == NULL ? msg : "that record holds no document");
        json_decref(meta);
        free(text);
        return 1;
    }
    int rc = 1;
    pz_config_problems problems;
    pz_config_problems_init(&problems);
    pz_config *cfg = pz_config_parse(text, len, &problems);
    if (cfg == NULL) {
        fprintf(err, "error: the document of %s does not validate any more:\n", a->ref);
        for (size_t i = 0; i < problems.n; i++)
            if (!problems.items[i].is_warning)
                fprintf(err, "  %s: %s\n", problems.items[i].path, problems.items[i].message);
    } else if (pz_write_file_atomic(a->config_path, text, len, file_mode(a->config_path), msg, sizeof msg) != 0) {
        fprintf(err, "error: %s\n", msg);
    } else {
        fprintf(out,
                "rolled back %s to record @%lld (version %s); a running server reloads it when it sees the "
                "change, a restart serves it\n",
                a->config_path, (long long)json_integer_value(json_object_get(meta, "id")),
                str_or(meta, "version", "(none)"));
        rc = 0;
    }
    pz_config_unref(cfg);
    pz_config_problems_free(&problems);
    json_decref(meta);
    free(text);
    return rc;
}

static int cmd_rollback(const cli_args *a, FILE *out, FILE *err)
{
    if (a->admin != NULL)
        return rollback_online(a, out, err);
    if (a->config_path == NULL) {
        fprintf(err, "error: rollback needs --admin URL (a running server) or --config PATH (the file to rewrite)\n");
        return 2;
    }
    return rollback_offline(a, out, err);
}

typedef struct command {
    const char *name;
    bool takes_ref;
    command_fn run;
} command;

static const command COMMANDS[] = {
    {"history", false, cmd_history},
    {"show", true, cmd_show},
    {"rollback", true, cmd_rollback},
};

static int parse(int argc, char **argv, cli_args *a, FILE *err)
{
    enum { OPT_DATA = 256, OPT_ADMIN, OPT_CONFIG, OPT_LIMIT, OPT_JSON, OPT_HELP };
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, OPT_DATA},
        {"admin", required_argument, NULL, OPT_ADMIN},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    *a = (cli_args){.data_dir = PZ_DEFAULT_DATA_DIR};
    optind = 1;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_DATA: a->data_dir = optarg; break;
        case OPT_ADMIN: a->admin = optarg; break;
        case OPT_CONFIG: a->config_path = optarg; break;
        case OPT_LIMIT:
            a->limit = strtol(optarg, &end, 10);
            if (*end != '\0' || a->limit < 0) {
                fprintf(err, "error: --limit expects a number >= 0 (got '%s')\n", optarg);
                return -1;
            }
            break;
        case OPT_JSON: a->json = true; break;
        case OPT_HELP: usage(stdout); return 1;
        default: usage(err); return -1;
        }
    }
    if (optind >= argc) {
        usage(err);
        return -1;
    }
    a->command = argv[optind++];
    if (optind < argc)
        a->ref = argv[optind++];
    if (optind < argc) {
        fprintf(err, "error: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

int pz_config_cli_main(int argc, char **argv, FILE *out, FILE *err)
{
    cli_args a;
    int rc = parse(argc, argv, &a, err);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
        if (strcmp(COMMANDS[i].name, a.command) != 0)
            continue;
        if (COMMANDS[i].takes_ref != (a.ref != NULL)) {
            fprintf(err,
                    COMMANDS[i].takes_ref ? "error: %s needs a VERSION (or @ID)\n" : "error: %s takes no VERSION\n",
                    a.command);
            return 2;
        }
        return COMMANDS[i].run(&a, out, err);
    }
    fprintf(err, "error: unknown config command '%s'\n", a.command);
    usage(err);
    return 2;
}
