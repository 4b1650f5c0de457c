/* `personalization-server import-events` (import_cli.h). */
#include "server/recommenders/import_cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "server/core/clock.h"
#include "server/core/fs.h"
#include "server/core/mem.h"
#include "server/recommenders/builtin.h"
#include "server/recommenders/history.h"

/* Events handed to the store per call. */
#define BATCH_EVENTS 4096
/* Bad lines printed per file; the rest are counted. */
#define MAX_BAD_PRINTED 100
#define PROGRESS_EVERY_MS 250
#define HASH_CHUNK (1u << 20)
#define MB (1024.0 * 1024.0)

typedef struct import_args {
    const char *data_dir;
    const char *ns;
    pz_history_format format;
    size_t memory_mb; /* memory for learned events not yet written; PZ_BUILTIN_PENDING_AUTO: as the server */
    bool quiet;
    char **files;
    int n_files;
} import_args;

typedef struct file_result {
    uint64_t lines, learned, already, bad, events_in_file;
} file_result;

bool pz_import_cli_is_command(const char *arg)
{
    return strcmp(arg, "import-events") == 0;
}

static void usage(FILE *out)
{
    fputs("Usage: personalization-server import-events [--data-dir D] --namespace NS [--format auto|jsonl|csv]\n"
          "                                            [--memory-mb N|auto] [--quiet] FILE...\n"
          "\n"
          "Teaches the builtin recommender of namespace NS (in <data-dir>/builtin, default data dir\n"
          "./" PZ_DEFAULT_DATA_DIR ") from historical interactions.\n"
          "FILE holds either JSON Lines, one PutEvents body per line\n"
          "({\"sessionId\",\"userId\",\"eventList\":[{\"eventType\",\"itemId\",\"sentAt\",...}]}), or an\n"
          "Amazon Personalize interactions CSV with a header (USER_ID, ITEM_ID, TIMESTAMP in epoch seconds,\n"
          "optional EVENT_TYPE, EVENT_VALUE); gzip when the name ends in .gz. Import in time order: each\n"
          "event pairs with the user's events before it.\n"
          "\n"
          "Each file is recorded by the SHA-256 of its content: importing it again changes nothing, and an\n"
          "interrupted import resumes where it stopped. Bad lines are reported with their line numbers\n"
          "and skipped. Stop the server first: the store is used by one process at a time.\n",
          out);
}

/* Returns 0, 1 for --help, 2 on a usage error. */
static int parse_args(int argc, char **argv, import_args *a, FILE *err)
{
    enum { OPT_DATA = 256, OPT_NS, OPT_FORMAT, OPT_MEMORY, OPT_QUIET, OPT_HELP };
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, OPT_DATA},
        {"namespace", required_argument, NULL, OPT_NS},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"memory-mb", required_argument, NULL, OPT_MEMORY},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    *a = (import_args){.data_dir = PZ_DEFAULT_DATA_DIR, .memory_mb = PZ_BUILTIN_PENDING_AUTO};
    optind = 1;
    int c;
    char *end;
    while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_DATA: a->data_dir = optarg; break;
        case OPT_NS: a->ns = optarg; break;
        case OPT_FORMAT:
            if (strcmp(optarg, "auto") == 0)
                a->format = PZ_HISTORY_AUTO;
            else if (strcmp(optarg, "jsonl") == 0)
                a->format = PZ_HISTORY_JSONL;
            else if (strcmp(optarg, "csv") == 0)
                a->format = PZ_HISTORY_CSV;
            else {
                fprintf(err, "error: --format expects auto, jsonl or csv (got '%s')\n", optarg);
                return 2;
            }
            break;
        case OPT_MEMORY:
            if (strcasecmp(optarg, "auto") == 0) {
                a->memory_mb = PZ_BUILTIN_PENDING_AUTO;
                break;
            }
            errno = 0;
            a->memory_mb = strtoul(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || a->memory_mb < 1 || a->memory_mb > (1u << 20)) {
                fprintf(err, "error: --memory-mb expects an integer from 1 to %u or auto (got '%s')\n", 1u << 20,
                        optarg);
                return 2;
            }
            break;
        case OPT_QUIET: a->quiet = true; break;
        case OPT_HELP:
        case 'h': usage(stdout); return 1;
        default: usage(err); return 2;
        }
    }
    a->files = argv + 1 + optind;
    a->n_files = argc - 1 - optind;
    if (a->ns == NULL || a->n_files < 1) {
        fprintf(err, "error: give --namespace NS and at least one FILE\n");
        usage(err);
        return 2;
    }
    if (a->ns[0] == '\0' || strlen(a->ns) > PZ_BUILTIN_MAX_NS_LEN) {
        fprintf(err, "error: --namespace must be 1 to %d bytes\n", PZ_BUILTIN_MAX_NS_LEN);
        return 2;
    }
    return 0;
}

/* SHA-256 of the file's content, uncompressed (gzip reads plain files as they are), in hex. */
static int hash_file(const char *path, char hex[65], char *msg, size_t msglen)
{
    gzFile gz = gzopen(path, "rb");
    if (gz == NULL) {
        snprintf(msg, msglen, "cannot open %s: %s", path, strerror(errno != 0 ? errno : ENOMEM));
        return -1;
    }
    gzbuffer(gz, HASH_CHUNK);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    unsigned char *buf = pz_malloc(HASH_CHUNK);
    int n, rc = 0;
    while ((n = gzread(gz, buf, HASH_CHUNK)) > 0)
        EVP_DigestUpdate(ctx, buf, (size_t)n);
    if (n < 0) {
        int errnum;
        snprintf(msg, msglen, "%s: %s", path, gzerror(gz, &errnum));
        rc = -1;
    }
    unsigned char md[32];
    unsigned int md_len = 0;
    EVP_DigestFinal_ex(ctx, md, &md_len);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(ctx);
    free(buf);
    gzclose(gz);
    return rc;
}

/* "1,234,567" */
static const char *grouped(uint64_t v, char *buf, size_t len)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < len; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

typedef struct progress {
    FILE *err;
    bool bar; /* err is a terminal and not --quiet */
    const char *name;
    uint64_t size;
    int64_t started_ms, last_ms;
} progress;

static void progress_clear(const progress *p)
{
    if (p->bar)
        fputs("\r\033[K", p->err);
}

static void progress_show(progress *p, const pz_history *h, const file_result *r, bool force)
{
    int64_t now = pz_now_ms();
    if (!p->bar || (!force && now - p->last_ms < PROGRESS_EVERY_MS))
        return;
    p->last_ms = now;
    double secs = (double)(now - p->started_ms) / 1000.0, done = (double)pz_history_offset(h);
    double frac = p->size > 0 ? done / (double)p->size : 0;
    if (frac > 1)
        frac = 1;
    char lines[32];
    double rate = secs > 0 ? (double)r->learned / secs : 0;
    long eta = frac > 0.001 && secs > 0 ? (long)(secs / frac - secs) : -1;
    char bar[21];
    int fill = (int)(frac * 20);
    for (int i = 0; i < 20; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[20] = '\0';
    fprintf(p->err, "\r\033[K%s [%s] %5.1f%%  %s lines  %.0f events/s  ", p->name, bar, frac * 100,
            grouped(r->lines, lines, sizeof lines), rate);
    if (eta >= 0)
        fprintf(p->err, "ETA %ld:%02ld:%02ld", eta / 3600, eta / 60 % 60, eta % 60);
    fflush(p->err);
}

/* The events of a batch own copies of their strings, in the batch's arena. A line's events always
 * go in one call (the stream's mark moves by whole lines), so a batch may exceed BATCH_EVENTS. */
typedef struct batch {
    pz_interaction *events;
    size_t n, cap;
    pz_arena arena;
} batch;

static const char *keep(batch *b, const char *s)
{
    return s != NULL ? pz_arena_strdup(&b->arena, s) : NULL;
}

static int send_batch(pz_builtin *store, const char *ns, const char *stream, batch *b, file_result *r, char *msg,
                      size_t msglen)
{
    if (b->n == 0)
        return 0;
    long applied = pz_builtin_learn(store, ns, stream, b->events, b->n, msg, msglen);
    if (applied < 0)
        return -1;
    r->learned += (uint64_t)applied;
    r->already += b->n - (size_t)applied;
    b->n = 0;
    pz_arena_reset(&b->arena);
    return 0;
}

/* Imports one file. Returns 0, or -1 with msg (the import stopped; what was learned is kept). */
static int import_file(pz_builtin *store, const import_args *a, const char *path, batch *b, file_result *r, FILE *err,
                       char *msg, size_t msglen)
{
    char hex[65], stream[PZ_BUILTIN_MAX_STREAM_LEN + 1];
    if (hash_file(path, hex, msg, msglen) != 0)
        return -1;
    snprintf(stream, sizeof stream, "import:%s:%s", hex, a->ns);
    uint64_t mark = pz_builtin_stream_mark(store, stream);
    pz_history *h = pz_history_open(path, a->format, msg, msglen);
    if (h == NULL)
        return -1;
    struct stat st;
    progress p = {.err = err,
                  .bar = !a->quiet && isatty(fileno(err)),
                  .name = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path,
                  .size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0,
                  .started_ms = pz_now_ms()};
    if (mark > 0 && !a->quiet)
        fprintf(err, "%s: imported before up to line %llu: those lines are skipped\n", path, (unsigned long long)mark);
    pz_history_line line;
    int rc = 0, got;
    while (rc == 0 && (got = pz_history_next(h, &line, msg, msglen)) == 1) {
        r->lines = line.number; /* the file's lines, a CSV header included */
        if (line.number <= mark) {
            r->already += line.n;
            r->events_in_file += line.n;
            continue;
        }
        if (line.error != NULL) {
            if (++r->bad <= MAX_BAD_PRINTED) {
                progress_clear(&p);
                fprintf(err, "%s:%llu: %s\n", path, (unsigned long long)line.number, line.error);
            }
            continue;
        }
        r->events_in_file += line.n;
        if (b->n + line.n > b->cap) {
            b->cap = b->n + line.n > 2 * b->cap ? b->n + line.n : 2 * b->cap;
            b->events = pz_realloc(b->events, b->cap * sizeof *b->events);
        }
        for (size_t i = 0; i < line.n; i++) {
            const pz_interaction *e = &line.events[i];
            b->events[b->n++] = (pz_interaction){.user_id = keep(b, e->user_id),
                                                 .session_id = keep(b, e->session_id),
                                                 .item_id = keep(b, e->item_id),
                                                 .event_type = keep(b, e->event_type),
                                                 .has_event_value = e->has_event_value,
                                                 .event_value = e->event_value,
                                                 .sent_at_ms = e->sent_at_ms,
                                                 .seq = line.number};
        }
        if (b->n >= BATCH_EVENTS)
            rc = send_batch(store, a->ns, stream, b, r, msg, msglen);
        progress_show(&p, h, r, false);
    }
    if (rc == 0 && got < 0)
        rc = -1;
    if (rc == 0)
        rc = send_batch(store, a->ns, stream, b, r, msg, msglen);
    if (rc == 0)
        rc = pz_builtin_flush(store, msg, msglen);
    progress_show(&p, h, r, true);
    progress_clear(&p);
    if (r->bad > MAX_BAD_PRINTED)
        fprintf(err, "%s: ... and %llu more bad lines\n", path, (unsigned long long)(r->bad - MAX_BAD_PRINTED));
    pz_history_close(h);
    return rc;
}

int pz_import_cli_main(int argc, char **argv, FILE *out, FILE *err)
{
    import_args a;
    int rc = parse_args(argc, argv, &a, err);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    char dir[PATH_MAX], msg[1024];
    if (snprintf(dir, sizeof dir, "%s/builtin", a.data_dir) >= (int)sizeof dir) {
        fprintf(err, "error: the data directory path is too long\n");
        return 2;
    }
    pz_builtin_options o;
    pz_builtin_options_default(&o);
    o.pending_mb = a.memory_mb;
    o.flush_interval_ms = 3600 * 1000; /* flushes come from the memory budget, and at the end */
    o.max_size_name = "the server's --builtin-max-mb";
    pz_builtin *store;
    if (pz_builtin_open(dir, &o, &store, msg, sizeof msg) != 0) {
        fprintf(err, "error: %s\n", msg);
        return 1;
    }
    batch *b = pz_calloc(1, sizeof *b);
    b->cap = BATCH_EVENTS;
    b->events = pz_malloc(b->cap * sizeof *b->events);
    pz_arena_init(&b->arena);
    int status = 0;
    for (int i = 0; i < a.n_files; i++) {
        file_result r = {0};
        int64_t t0 = pz_now_ms();
        int frc = import_file(store, &a, a.files[i], b, &r, err, msg, sizeof msg);
        double secs = (double)(pz_now_ms() - t0) / 1000.0;
        char n1[32], n2[32], n3[32], n4[32];
        if (frc == 0 || r.lines > 0)
            fprintf(out,
                    "%s: %s lines: %s events learned, %s already imported, %s bad line%s (%.1f s, %.0f events/s)\n",
                    a.files[i], grouped(r.lines, n1, sizeof n1), grouped(r.learned, n2, sizeof n2),
                    grouped(r.already, n3, sizeof n3), grouped(r.bad, n4, sizeof n4), r.bad == 1 ? "" : "s", secs,
                    secs > 0 ? (double)r.learned / secs : 0);
        if (frc != 0) {
            fprintf(err, "error: %s: %s\n", a.files[i], msg);
            status = 1;
            break;
        }
        if (r.bad > 0)
            status = 1;
    }
    pz_builtin_stats st;
    pz_builtin_stats_get(store, &st);
    fprintf(out, "builtin store %s: %zu namespace(s), %zu items, %.1f MiB used\n", dir, st.namespaces, st.items,
            (double)st.used_bytes / MB);
    pz_arena_destroy(&b->arena);
    free(b->events);
    free(b);
    pz_builtin_close(store);
    return status;
}
