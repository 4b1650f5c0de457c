/* `personalization-server events ...` (cli.h). */
#include "server/events/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/core/buf.h"
#include "server/core/fs.h"
#include "server/core/mem.h"
#include "server/events/dead_letters.h"
#include "server/events/outbox.h"
#include "server/events/record.h"
#include "server/events/target_spec.h"

typedef struct cli_args {
    const char *data_dir;
    const char *target;
    unsigned long long seq;
    long limit;
    int all;
} cli_args;

static void usage(FILE *f)
{
    fputs("Usage: personalization-server events COMMAND [--data-dir DIR] [options]\n"
          "\n"
          "The outbox in <data-dir>/outbox (default data dir ./" PZ_DEFAULT_DATA_DIR ", as the server's).\n"
          "\n"
          "  stats                         the outbox and each target's cursor, lag and dead letters (JSON)\n"
          "  dead-letters [--target ID] [--limit N]\n"
          "                                dead letters as JSON lines, with the rejected record\n"
          "  replay (--all | --target ID [--seq N])\n"
          "                                queue dead letters for redelivery to their target; a running\n"
          "                                server picks them up within a second\n"
          "\n"
          "Target ids look like <namespace>/<type>[/<name>], e.g. shop/kinesis-stream/clicks.\n",
          f);
}

static int parse(int argc, char **argv, cli_args *a, FILE *err)
{
    enum { OPT_DATA = 256, OPT_TARGET, OPT_SEQ, OPT_LIMIT, OPT_ALL, OPT_HELP };
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, OPT_DATA},
        {"target", required_argument, NULL, OPT_TARGET},
        {"seq", required_argument, NULL, OPT_SEQ},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"all", no_argument, NULL, OPT_ALL},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    *a = (cli_args){.data_dir = PZ_DEFAULT_DATA_DIR, .limit = -1};
    optind = 1;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_DATA: a->data_dir = optarg; break;
        case OPT_TARGET: a->target = optarg; break;
        case OPT_SEQ:
            errno = 0;
            a->seq = strtoull(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || a->seq == 0) {
                fprintf(err, "error: --seq expects a record number >= 1 (got '%s')\n", optarg);
                return -1;
            }
            break;
        case OPT_LIMIT:
            a->limit = strtol(optarg, &end, 10);
            if (*end != '\0' || a->limit < 0) {
                fprintf(err, "error: --limit expects a number >= 0 (got '%s')\n", optarg);
                return -1;
            }
            break;
        case OPT_ALL: a->all = 1; break;
        case OPT_HELP: usage(stdout); return 1;
        default: usage(err); return -1;
        }
    }
    return 0;
}

static int open_outbox(const cli_args *a, pz_outbox **ob, FILE *err)
{
    char dir[PATH_MAX], errbuf[512];
    if (pz_data_store_dir(a->data_dir, "outbox", "outbox", dir, sizeof dir, err) != 0)
        return -1;
    if (pz_outbox_open(dir, 0, ob, errbuf, sizeof errbuf) != 0) {
        fprintf(err, "error: %s\n", errbuf);
        return -1;
    }
    return 0;
}

/* ---- target lookup ---- */

typedef struct target_list {
    pz_outbox_target *items;
    size_t n;
} target_list;

static void collect_target(void *ctx, const pz_outbox_target *t)
{
    target_list *l = ctx;
    l->items = pz_realloc(l->items, (l->n + 1) * sizeof *l->items);
    l->items[l->n++] = (pz_outbox_target){pz_strdup(t->id), t->number, t->cursor, pz_strdup(t->spec)};
}

static void free_targets(target_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free((char *)l->items[i].id);
        free((char *)l->items[i].spec);
    }
    free(l->items);
}

/* ---- stats ---- */

typedef struct pending_ctx {
    target_list *targets;
    unsigned long long *pending;
} pending_ctx;

static int count_pending(void *ctx, uint64_t seq, const void *data, size_t len)
{
    pending_ctx *pc = ctx;
    pz_evrec_view v;
    if (pz_evrec_decode(data, len, &v) != 0)
        return 0;
    for (size_t i = 0; i < v.n_targets; i++) {
        for (size_t k = 0; k < pc->targets->n; k++) {
            if (pc->targets->items[k].number == pz_evrec_target(&v, i) && seq >= pc->targets->items[k].cursor)
                pc->pending[k]++;
        }
    }
    return 0;
}

static int count_dead(void *ctx, const pz_outbox_dead *d)
{
    (void)d;
    (*(unsigned long long *)ctx)++;
    return 0;
}

static int cmd_stats(pz_outbox *ob, FILE *out, FILE *err)
{
    char errbuf[512];
    pz_outbox_info info;
    target_list targets = {0};
    if (pz_outbox_info_get(ob, &info, errbuf, sizeof errbuf) != 0 ||
        pz_outbox_targets(ob, collect_target, &targets, errbuf, sizeof errbuf) < 0) {
        fprintf(err, "error: %s\n", errbuf);
        free_targets(&targets);
        return 1;
    }
    unsigned long long *pending = pz_calloc(targets.n + 1, sizeof *pending);
    pending_ctx pc = {&targets, pending};
    pz_outbox_read(ob, 0, SIZE_MAX, SIZE_MAX, count_pending, &pc, errbuf, sizeof errbuf);
    pz_buf b;
    pz_buf_init(&b, 64u << 20);
    pz_buf_printf(&b,
                  "{\"outbox\":{\"nextSeq\":%llu,\"oldestSeq\":%llu,\"records\":%zu,\"deadLetters\":%zu,"
                  "\"replaysQueued\":%zu,\"usedBytes\":%zu,\"mapBytes\":%zu},\"targets\":[",
                  (unsigned long long)info.next_seq, (unsigned long long)info.first_seq, info.records,
                  info.dead_letters, info.replays_queued, info.used_bytes, info.map_bytes);
    for (size_t i = 0; i < targets.n; i++) {
        unsigned long long dead = 0;
        pz_outbox_dead_letters(ob, targets.items[i].number, count_dead, &dead, errbuf, sizeof errbuf);
        pz_buf_append_str(&b, i ? ",{\"id\":" : "{\"id\":");
        char *shown = pz_target_display_id(targets.items[i].id);
        char *spec = pz_target_spec_display_json(targets.items[i].spec);
        pz_json_write_string(&b, shown, strlen(shown));
        pz_buf_printf(&b, ",\"number\":%u,\"cursor\":%llu,\"lag\":%llu,\"deadLetters\":%llu,\"spec\":%s}",
                      targets.items[i].number, (unsigned long long)targets.items[i].cursor, pending[i], dead, spec);
        free(shown);
        free(spec);
    }
    pz_buf_append_str(&b, "]}\n");
    fputs(b.data, out);
    pz_buf_free(&b);
    free(pending);
    free_targets(&targets);
    return 0;
}

/* ---- dead letters ---- */

static int print_line(void *ctx, const char *json, size_t len)
{
    FILE *out = ctx;
    fwrite(json, 1, len, out);
    fputc('\n', out);
    return 0;
}

static int cmd_dead_letters(pz_outbox *ob, const cli_args *a, FILE *out, FILE *err)
{
    char errbuf[512];
    if (pz_dead_letters_each(ob, a->target, a->limit, print_line, out, errbuf, sizeof errbuf) < 0) {
        fprintf(err, "error: %s\n", errbuf);
        return 1;
    }
    return 0;
}

static int cmd_replay(pz_outbox *ob, const cli_args *a, FILE *out, FILE *err)
{
    if (!a->all && a->target == NULL) {
        fprintf(err, "error: replay needs --all or --target ID\n");
        return 2;
    }
    if (a->all && (a->target != NULL || a->seq != 0)) {
        fprintf(err, "error: --all replays everything; it does not go with --target or --seq\n");
        return 2;
    }
    if (a->seq != 0 && a->target == NULL) {
        fprintf(err, "error: --seq needs --target\n");
        return 2;
    }
    char errbuf[512];
    long n = pz_dead_letters_replay(ob, a->target, a->seq, errbuf, sizeof errbuf);
    if (n == -2) {
        fprintf(err, "error: no registered target '%s' (see `events stats`)\n", a->target);
        return 1;
    }
    if (n < 0) {
        fprintf(err, "error: %s\n", errbuf);
        return 1;
    }
    fprintf(out, "%ld dead letter(s) queued for redelivery\n", n);
    return 0;
}

int pz_events_cli_main(int argc, char **argv, FILE *out, FILE *err)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? err : out);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "stats") != 0 && strcmp(cmd, "dead-letters") != 0 && strcmp(cmd, "replay") != 0) {
        fprintf(err, "error: unknown events command '%s'\n", cmd);
        usage(err);
        return 2;
    }
    cli_args a;
    int rc = parse(argc - 1, argv + 1, &a, err);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    pz_outbox *ob;
    if (open_outbox(&a, &ob, err) != 0)
        return 1;
    if (strcmp(cmd, "stats") == 0)
        rc = cmd_stats(ob, out, err);
    else if (strcmp(cmd, "dead-letters") == 0)
        rc = cmd_dead_letters(ob, &a, out, err);
    else
        rc = cmd_replay(ob, &a, out, err);
    pz_outbox_close(ob);
    return rc;
}
