/* `personalization-server experiments ...` (cli.h). */
#include "server/experiments/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "server/core/buf.h"
#include "server/core/fs.h"
#include "server/core/json_text.h"
#include "server/core/mem.h"
#include "server/experiments/store.h"

typedef struct cli_args {
    const char *data_dir;
    const char *ns;
    const char *recommender;
    const char *feature;
} cli_args;

static void usage(FILE *f)
{
    fputs("Usage: personalization-server experiments COMMAND [--data-dir DIR] [options]\n"
          "\n"
          "The experiment store in <data-dir>/experiments (default data dir ./" PZ_DEFAULT_DATA_DIR ", as the\n"
          "server's).\n"
          "\n"
          "  list [--namespace NS]         experiments with stored results, as JSON lines\n"
          "  delete --namespace NS --recommender R --feature F\n"
          "                                delete one experiment's stored results (counts and users)\n",
          f);
}

static int parse(int argc, char **argv, cli_args *a, FILE *err)
{
    enum { OPT_DATA = 256, OPT_NS, OPT_REC, OPT_FEATURE, OPT_HELP };
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, OPT_DATA},
        {"namespace", required_argument, NULL, OPT_NS},
        {"recommender", required_argument, NULL, OPT_REC},
        {"feature", required_argument, NULL, OPT_FEATURE},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    *a = (cli_args){.data_dir = PZ_DEFAULT_DATA_DIR};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_DATA: a->data_dir = optarg; break;
        case OPT_NS: a->ns = optarg; break;
        case OPT_REC: a->recommender = optarg; break;
        case OPT_FEATURE: a->feature = optarg; break;
        case OPT_HELP: usage(stdout); return 1;
        default: usage(err); return -1;
        }
    }
    return 0;
}

static int open_store(const cli_args *a, pz_experiments **x, FILE *err)
{
    char dir[PATH_MAX], errbuf[512];
    if (pz_data_store_dir(a->data_dir, "experiments", "experiment store", dir, sizeof dir, err) != 0)
        return -1;
    if (pz_experiments_open(dir, 0, x, errbuf, sizeof errbuf) != 0) {
        fprintf(err, "error: %s\n", errbuf);
        return -1;
    }
    return 0;
}

static void json_field(pz_buf *b, const char *key, const char *value, bool first)
{
    pz_buf_printf(b, "%s\"%s\":", first ? "" : ",", key);
    pz_json_write_string(b, value, strlen(value));
}

static int cmd_list(pz_experiments *x, const cli_args *a, FILE *out, FILE *err)
{
    pz_arena arena;
    pz_arena_init(&arena);
    pz_experiment_ref *refs;
    const char **nss;
    size_t n;
    char errbuf[512];
    int rc = pz_experiments_list(x, a->ns, &arena, &refs, &n, &nss, errbuf, sizeof errbuf);
    if (rc != 0)
        fprintf(err, "error: %s\n", errbuf);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        pz_buf b;
        pz_buf_init(&b, 1 << 20);
        pz_buf_append_char(&b, '{');
        json_field(&b, "namespace", nss[i], true);
        json_field(&b, "recommender", refs[i].recommender, false);
        json_field(&b, "feature", refs[i].feature, false);
        pz_buf_printf(&b, ",\"firstEventMs\":%lld,\"lastEventMs\":%lld}\n", (long long)refs[i].first_ms,
                      (long long)refs[i].last_ms);
        fwrite(b.data, 1, b.len, out);
        pz_buf_free(&b);
    }
    pz_arena_destroy(&arena);
    return rc == 0 ? 0 : 1;
}

static int cmd_delete(pz_experiments *x, const cli_args *a, FILE *out, FILE *err)
{
    if (a->ns == NULL || a->recommender == NULL || a->feature == NULL) {
        fprintf(err, "error: delete needs --namespace, --recommender and --feature\n");
        return 2;
    }
    char errbuf[512];
    int rc = pz_experiments_delete(x, a->ns, a->recommender, a->feature, errbuf, sizeof errbuf);
    if (rc < 0) {
        fprintf(err, "error: %s\n", errbuf);
        return 1;
    }
    if (rc == 0) {
        fprintf(err, "error: no stored results for experiment %s/%s/%s\n", a->ns, a->recommender, a->feature);
        return 1;
    }
    fprintf(out, "deleted the stored results of experiment %s/%s/%s\n", a->ns, a->recommender, a->feature);
    return 0;
}

int pz_experiments_cli_main(int argc, char **argv, FILE *out, FILE *err)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? err : out);
        return argc < 2 ? 2 : 0;
    }
    const char *command = argv[1];
    cli_args a;
    int p = parse(argc - 1, argv + 1, &a, err);
    if (p != 0)
        return p > 0 ? 0 : 2;
    static const struct {
        const char *name;
        int (*run)(pz_experiments *x, const cli_args *a, FILE *out, FILE *err);
    } COMMANDS[] = {{"list", cmd_list}, {"delete", cmd_delete}};
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
        if (strcmp(command, COMMANDS[i].name) != 0)
            continue;
        pz_experiments *x;
        if (open_store(&a, &x, err) != 0)
            return 1;
        int rc = COMMANDS[i].run(x, &a, out, err);
        pz_experiments_close(x);
        return rc;
    }
    fprintf(err, "error: unknown command '%s'\n", command);
    usage(err);
    return 2;
}
