#include "server/catalog/cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/catalog/catalog.h"
#include "server/catalog/catalog_load.h"
#include "server/core/fs.h"
#include "server/core/mem.h"

typedef struct cli_args {
    const char *command;
    const char *data_dir;
    const char *ns;
    bool lenient;
    char **rest; /* positional arguments */
    int n_rest;
} cli_args;

static const char *const COMMANDS[] = {"load-items", "upsert-item", "delete-item", "catalog-info", NULL};

bool pz_catalog_cli_is_command(const char *arg)
{
    for (size_t i = 0; COMMANDS[i] != NULL; i++)
        if (strcmp(arg, COMMANDS[i]) == 0)
            return true;
    return false;
}

static void usage(FILE *out)
{
    fputs("Usage:\n"
          "  personalization-server load-items   [--data-dir D] --namespace NS [--strict|--lenient] FILE\n"
          "  personalization-server upsert-item  [--data-dir D] --namespace NS JSON... | -\n"
          "  personalization-server delete-item  [--data-dir D] --namespace NS ID...\n"
          "  personalization-server catalog-info [--data-dir D] --namespace NS\n"
          "\n"
          "The item catalog of a namespace, in <data-dir>/catalog (default data dir ./" PZ_DEFAULT_DATA_DIR "),\n"
          "used to decorate items when the namespace has \"inferenceItemMetadata\": {\"type\": \"localdb\"}.\n"
          "FILE holds JSON Lines: one object per line with a string \"id\"; other members are the item's\n"
          "metadata. Gzip when the name ends in .gz or .gzip. A load replaces the whole catalog,\n"
          "atomically; --strict (default) publishes nothing when a line is bad, --lenient skips bad lines.\n"
          "upsert-item takes JSON objects with \"id\" (or JSON Lines on stdin with -); delete-item takes ids.\n",
          out);
}

static int parse_args(int argc, char **argv, cli_args *a)
{
    enum { OPT_DATA = 256, OPT_NS, OPT_STRICT, OPT_LENIENT, OPT_HELP };
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, OPT_DATA}, {"namespace", required_argument, NULL, OPT_NS},
        {"strict", no_argument, NULL, OPT_STRICT},       {"lenient", no_argument, NULL, OPT_LENIENT},
        {"help", no_argument, NULL, OPT_HELP},           {NULL, 0, NULL, 0},
    };
    *a = (cli_args){.command = argv[1], .data_dir = PZ_DEFAULT_DATA_DIR};
    optind = 1;
    int c;
    bool is_load = strcmp(a->command, "load-items") == 0;
    /* argv[1] is the subcommand: parse what follows it (options may come after the arguments). */
    while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_DATA: a->data_dir = optarg; break;
        case OPT_NS: a->ns = optarg; break;
        case OPT_STRICT:
        case OPT_LENIENT:
            if (!is_load) {
                fprintf(stderr, "error: --strict and --lenient apply to load-items only\n");
                return 2;
            }
            a->lenient = c == OPT_LENIENT;
            break;
        case OPT_HELP:
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return 2;
        }
    }
    a->rest = argv + 1 + optind;
    a->n_rest = argc - 1 - optind;
    if (a->ns == NULL) {
        fprintf(stderr, "error: %s needs --namespace NS\n", a->command);
        return 2;
    }
    if (!pz_catalog_valid_namespace(a->ns)) {
        fprintf(stderr, "error: invalid namespace '%s': expected 1 to %d characters of A-Z a-z 0-9 _ -\n", a->ns,
                PZ_CATALOG_MAX_NS_LEN);
        return 2;
    }
    bool info = strcmp(a->command, "catalog-info") == 0;
    if ((is_load && a->n_rest != 1) || (info && a->n_rest != 0) || (!is_load && !info && a->n_rest == 0)) {
        fprintf(stderr, "error: %s: %s\n", a->command,
                is_load ? "give exactly one FILE"
                : info  ? "takes no arguments"
                        : "give at least one item");
        return 2;
    }
    return 0;
}

static pz_catalog *open_catalog(const cli_args *a)
{
    char dir[PATH_MAX], err[512];
    if (snprintf(dir, sizeof dir, "%s/catalog", a->data_dir) >= (int)sizeof dir) {
        fprintf(stderr, "error: --data-dir is too long\n");
        return NULL;
    }
    pz_catalog *c;
    if (pz_catalog_open(dir, NULL, &c, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        return NULL;
    }
    return c;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_bad_line(void *ctx, size_t line_no, const char *reason)
{
    fprintf(stderr, "%s:%zu: %s\n", (const char *)ctx, line_no, reason);
}

static int load_items(pz_catalog *c, const cli_args *a)
{
    const char *file = a->rest[0];
    pz_catalog_load_options opts = {.lenient = a->lenient, .on_bad_line = print_bad_line, .ctx = (void *)file};
    pz_catalog_load_result r;
    char err[512];
    double t0 = now_s();
    int rc = pz_catalog_load_file(c, a->ns, file, &opts, &r, err, sizeof err);
    double dt = now_s() - t0;
    if (rc != 0) {
        fprintf(stderr, "load-items: namespace '%s': %s: %s\n", a->ns, file, err);
        return 1;
    }
    printf("load-items: namespace '%s': published generation %llu with %zu items from %s "
           "(%zu lines, %zu duplicate ids, %zu bad lines skipped) in %.2f s (%.0f items/s)\n",
           a->ns, (unsigned long long)r.info.generation, r.items, file, r.lines, r.duplicates, r.bad_lines, dt,
           dt > 0 ? (double)r.items / dt : 0.0);
    return 0;
}

typedef struct edits {
    pz_catalog_edit *items;
    size_t n;
} edits;

static void free_edits(edits *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free((void *)e->items[i].id);
        free((void *)e->items[i].value);
    }
    free(e->items);
}

/* Prepares one JSON item into the next edit. Returns 0, or -1 after printing why. */
static int add_upsert(edits *e, const char *json, size_t len, const char *where, size_t index)
{
    if (e->n == PZ_CLI_MAX_EDITS) {
        fprintf(stderr, "upsert-item: more than %d items in one call; use load-items\n", PZ_CLI_MAX_EDITS);
        return -1;
    }
    char id[PZ_CATALOG_MAX_ID_LEN + 1], reason[300];
    size_t id_len;
    pz_buf value;
    pz_buf_init(&value, 8 * PZ_CATALOG_MAX_ITEM_BYTES);
    if (pz_catalog_prepare_item(json, len, id, &id_len, &value, reason, sizeof reason) != 0) {
        fprintf(stderr, "upsert-item: %s %zu: %s; nothing was changed\n", where, index, reason);
        pz_buf_free(&value);
        return -1;
    }
    size_t vlen;
    char *v = pz_buf_take(&value, &vlen);
    e->items[e->n++] = (pz_catalog_edit){.id = pz_strndup(id, id_len), .id_len = id_len, .value = v, .len = vlen};
    return 0;
}

static int read_upserts(edits *e, const cli_args *a)
{
    if (a->n_rest == 1 && strcmp(a->rest[0], "-") == 0) {
        char *line = NULL;
        size_t cap = 0, line_no = 0;
        ssize_t n;
        int rc = 0;
        while (rc == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
            line_no++;
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                n--;
            if (n == 0)
                continue;
            if (e->n == 0 || e->n % 1024 == 0)
                e->items = pz_realloc(e->items, (e->n + 1024) * sizeof *e->items);
            rc = add_upsert(e, line, (size_t)n, "stdin line", line_no);
        }
        free(line);
        return rc;
    }
    e->items = pz_calloc((size_t)a->n_rest, sizeof *e->items);
    for (int i = 0; i < a->n_rest; i++)
        if (add_upsert(e, a->rest[i], strlen(a->rest[i]), "argument", (size_t)i + 1) != 0)
            return -1;
    return 0;
}

static int apply(pz_catalog *c, const cli_args *a, edits *e, const char *verb)
{
    char err[512];
    size_t missing = 0;
    if (pz_catalog_apply(c, a->ns, e->items, e->n, &missing, err, sizeof err) != 0) {
        fprintf(stderr, "%s: namespace '%s': %s; nothing was changed\n", a->command, a->ns, err);
        return 1;
    }
    pz_catalog_info info;
    if (pz_catalog_info_get(c, a->ns, &info, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", a->command, err);
        return 1;
    }
    printf("%s: namespace '%s': %s %zu item(s); the catalog now holds %llu items (generation %llu, revision "
           "%llu)\n",
           a->command, a->ns, verb, e->n - missing, (unsigned long long)info.items, (unsigned long long)info.generation,
           (unsigned long long)info.revision);
    return 0;
}

static int upsert_items(pz_catalog *c, const cli_args *a)
{
    edits e = {0};
    int rc = read_upserts(&e, a) == 0 ? apply(c, a, &e, "upserted") : 1;
    free_edits(&e);
    return rc;
}

static int delete_items(pz_catalog *c, const cli_args *a)
{
    edits e = {.items = pz_calloc((size_t)a->n_rest, sizeof *e.items)};
    int rc = 0;
    if (a->n_rest > PZ_CLI_MAX_EDITS) {
        fprintf(stderr, "delete-item: more than %d ids in one call\n", PZ_CLI_MAX_EDITS);
        rc = 1;
    }
    for (int i = 0; rc == 0 && i < a->n_rest; i++) {
        size_t len = strlen(a->rest[i]);
        if (len == 0 || len > PZ_CATALOG_MAX_ID_LEN) {
            fprintf(stderr, "delete-item: argument %d: ids must be 1 to %d bytes; nothing was changed\n", i + 1,
                    PZ_CATALOG_MAX_ID_LEN);
            rc = 1;
        }
        e.items[e.n++] = (pz_catalog_edit){.id = pz_strndup(a->rest[i], len), .id_len = len};
    }
    if (rc == 0) {
        /* Report ids that were not there before deleting (one view, then one transaction). */
        pz_catalog_view v;
        char err[512];
        if (pz_catalog_view_begin(c, a->ns, &v, err, sizeof err) == 0) {
            for (size_t i = 0; i < e.n; i++) {
                const void *val;
                size_t len;
                if (pz_catalog_view_get(&v, e.items[i].id, e.items[i].id_len, &val, &len) != 1)
                    fprintf(stderr, "delete-item: '%s' is not in the catalog of namespace '%s'\n", e.items[i].id,
                            a->ns);
            }
            pz_catalog_view_end(&v);
        }
        rc = apply(c, a, &e, "deleted");
    }
    free_edits(&e);
    return rc;
}

static int catalog_info(pz_catalog *c, const cli_args *a)
{
    pz_catalog_info info;
    char err[512];
    if (pz_catalog_info_get(c, a->ns, &info, err, sizeof err) != 0) {
        fprintf(stderr, "catalog-info: %s\n", err);
        return 1;
    }
    printf("{\"namespace\":\"%s\",\"present\":%s,\"generation\":%llu,\"revision\":%llu,\"items\":%llu,"
           "\"publishedMs\":%lld}\n",
           a->ns, info.present ? "true" : "false", (unsigned long long)info.generation,
           (unsigned long long)info.revision, (unsigned long long)info.items, (long long)info.published_ms);
    return 0;
}

int pz_catalog_cli_main(int argc, char **argv)
{
    cli_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    pz_catalog *c = open_catalog(&a);
    if (c == NULL)
        return 1;
    if (strcmp(a.command, "load-items") == 0)
        rc = load_items(c, &a);
    else if (strcmp(a.command, "upsert-item") == 0)
        rc = upsert_items(c, &a);
    else if (strcmp(a.command, "delete-item") == 0)
        rc = delete_items(c, &a);
    else
        rc = catalog_info(c, &a);
    pz_catalog_close(c);
    return rc;
}
