/* personalization-server: flags, threads, signals, lifecycle.
 *
 * Start-up: parse flags -> load and validate the configuration (or the embedded demo) -> open the
 * data directory (builtin recommender store; seed the demo history once) -> create the service ->
 * start the gRPC and REST fronts -> wait for signals. SIGHUP reloads the configuration;
 * SIGINT/SIGTERM shut down: the service drains (every accepted event is written and answered),
 * then the fronts stop.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/http_server.h"
#include "gateway/transcode.h"
#include "server/core/cache.h"
#include "server/core/config.h"
#include "server/core/fs.h"
#include "server/core/json_text.h"
#include "server/core/log.h"
#include "server/core/service.h"
#include "server/cli_items.h"
#include "server/demo.h"
#include "server/events/cli.h"
#include "server/events/runtime.h"
#include "server/items_runtime.h"
#include "server/grpc/grpc_server.h"
#include "server/recommenders/builtin.h"
#include "server/recommenders/recommenders.h"
#include "server/upstream/aws.h"
#include "server/upstream/upstream.h"

#define DEMO_NAMESPACE "demo"
#define DEFAULT_CACHE_BYTES ((size_t)64 << 20)

typedef struct options {
    const char *config_path;
    const char *data_dir;
    const char *host;
    int http_port;
    int grpc_port;
    int http_threads;
    int grpc_threads;
    size_t max_body_bytes;
    const char *tls_cert;
    const char *tls_key;
    const char *cors_origin;
    int config_watch_ms;
    pz_upstream_options upstream; /* remote recommenders' engine limits */
    size_t cache_bytes;
    bool demo;
    bool check_config;
    int import_poll_ms;
    size_t outbox_map_mb;
} options;

static void usage(FILE *out)
{
    fputs("Usage: personalization-server [options]\n"
          "\n"
          "A real-time personalization API server: the upstream REST API of\n"
          "aws-samples/personalization-apis over HTTP/1.1 and h2c, and the same service over gRPC.\n"
          "\n"
          "  --config PATH        configuration document (upstream JSON format, a superset)\n"
          "  --demo               serve the embedded demo (namespace 'demo'); with --config, the\n"
          "                       demo history is still seeded but PATH is served\n"
          "  --check-config       validate the configuration, print every problem with its JSON\n"
          "                       path, and exit (status 1 when there are errors)\n"
          "  --data-dir PATH      where local state lives (default ./pz-data)\n"
          "  --import-poll-ms N   load item files dropped into DATA-DIR/import/<namespace>/, checking\n"
          "                       every N ms (default 5000; 0 = off)\n"
          "  --host ADDR          listen address for both fronts (default 127.0.0.1)\n"
          "  --http-port N        REST port (default 8080; 0 picks a free port and logs it)\n"
          "  --grpc-port N        gRPC port (default 50051; 0 picks a free port and logs it)\n"
          "  --http-threads N     REST event loops (default 2)\n"
          "  --grpc-threads N     gRPC completion-queue threads (default 1)\n"
          "  --max-body-bytes N   largest accepted REST request body (default 1048576)\n"
          "  --tls-cert PATH      PEM certificate chain: serve REST over TLS (h2 via ALPN)\n"
          "  --tls-key PATH       PEM private key for --tls-cert\n"
          "  --cors-origin ORIGIN Access-Control-Allow-Origin (default *)\n"
          "  --config-watch-ms N  poll the config file for changes every N ms (default 1000; 0 = off)\n"
          "  --upstream-max-inflight N  remote recommender calls on the wire at once (default 256)\n"
          "  --upstream-max-queued N    calls waiting for a slot beyond that; more get 429 (default 1024)\n"
          "  --cache-bytes N      in-process response cache budget in bytes (default 67108864;\n"
          "                       0 = off; ETags and 304s work either way)\n"
          "  --outbox-map-mb N    most the event outbox may hold, in MiB (default 4096); a full outbox\n"
          "                       refuses new events with 503\n"
          "  --log-level LEVEL    debug, info, warn or error (default info)\n"
          "  --help               this text\n"
          "\n"
          "Signals: SIGHUP reloads the configuration; SIGINT/SIGTERM shut down gracefully.\n"
          "Item catalog: personalization-server load-items|upsert-item|delete-item|catalog-info --help\n"
          "Event outbox: personalization-server events stats|dead-letters|replay --help\n",
          out);
}

static int parse_int(const char *flag, const char *value, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "error: %s expects an integer from %ld to %ld (got '%s')\n", flag, min, max, value);
        return -1;
    }
    *out = v;
    return 0;
}

/* Returns 0 to run, 1 to exit successfully (--help), -1 on a usage error. */
static int parse_options(int argc, char **argv, options *o)
{
    enum { OPT_CONFIG = 256, OPT_DEMO, OPT_CHECK, OPT_DATA, OPT_HOST, OPT_HTTP_PORT, OPT_GRPC_PORT, OPT_HTTP_THREADS,
           OPT_GRPC_THREADS, OPT_MAX_BODY, OPT_TLS_CERT, OPT_TLS_KEY, OPT_CORS, OPT_WATCH, OPT_CACHE_BYTES, OPT_LOG,
           OPT_IMPORT_POLL, OPT_UPSTREAM_INFLIGHT, OPT_UPSTREAM_QUEUED, OPT_OUTBOX_MAP, OPT_HELP };
    static const struct option long_opts[] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"demo", no_argument, NULL, OPT_DEMO},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"data-dir", required_argument, NULL, OPT_DATA},
        {"host", required_argument, NULL, OPT_HOST},
        {"http-port", required_argument, NULL, OPT_HTTP_PORT},
        {"grpc-port", required_argument, NULL, OPT_GRPC_PORT},
        {"http-threads", required_argument, NULL, OPT_HTTP_THREADS},
        {"grpc-threads", required_argument, NULL, OPT_GRPC_THREADS},
        {"max-body-bytes", required_argument, NULL, OPT_MAX_BODY},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        {"cors-origin", required_argument, NULL, OPT_CORS},
        {"config-watch-ms", required_argument, NULL, OPT_WATCH},
        {"cache-bytes", required_argument, NULL, OPT_CACHE_BYTES},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"import-poll-ms", required_argument, NULL, OPT_IMPORT_POLL},
        {"upstream-max-inflight", required_argument, NULL, OPT_UPSTREAM_INFLIGHT},
        {"upstream-max-queued", required_argument, NULL, OPT_UPSTREAM_QUEUED},
        {"outbox-map-mb", required_argument, NULL, OPT_OUTBOX_MAP},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    *o = (options){.import_poll_ms = PZ_IMPORT_POLL_MS_DEFAULT,
                   .data_dir = "pz-data", .host = "127.0.0.1", .http_port = 8080, .grpc_port = 50051,
                   .http_threads = 2, .grpc_threads = 1, .max_body_bytes = 1u << 20, .config_watch_ms = 1000,
                   .cache_bytes = DEFAULT_CACHE_BYTES};
    pz_upstream_options_default(&o->upstream);
    long v;
    int c;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_CONFIG: o->config_path = optarg; break;
        case OPT_DEMO: o->demo = true; break;
        case OPT_CHECK: o->check_config = true; break;
        case OPT_DATA: o->data_dir = optarg; break;
        case OPT_HOST: o->host = optarg; break;
        case OPT_HTTP_PORT:
            if (parse_int("--http-port", optarg, 0, 65535, &v) != 0) return -1;
            o->http_port = (int)v;
            break;
        case OPT_GRPC_PORT:
            if (parse_int("--grpc-port", optarg, 0, 65535, &v) != 0) return -1;
            o->grpc_port = (int)v;
            break;
        case OPT_HTTP_THREADS:
            if (parse_int("--http-threads", optarg, 1, 256, &v) != 0) return -1;
            o->http_threads = (int)v;
            break;
        case OPT_GRPC_THREADS:
            if (parse_int("--grpc-threads", optarg, 1, 256, &v) != 0) return -1;
            o->grpc_threads = (int)v;
            break;
        case OPT_MAX_BODY:
            if (parse_int("--max-body-bytes", optarg, 1024, 1L << 30, &v) != 0) return -1;
            o->max_body_bytes = (size_t)v;
            break;
        case OPT_TLS_CERT: o->tls_cert = optarg; break;
        case OPT_TLS_KEY: o->tls_key = optarg; break;
        case OPT_CORS: o->cors_origin = optarg; break;
        case OPT_WATCH:
            if (parse_int("--config-watch-ms", optarg, 0, 3600000, &v) != 0) return -1;
            o->config_watch_ms = (int)v;
            break;
        case OPT_CACHE_BYTES:
            if (parse_int("--cache-bytes", optarg, 0, 1L << 40, &v) != 0) return -1;
            o->cache_bytes = (size_t)v;
            break;
        case OPT_IMPORT_POLL:
            if (parse_int("--import-poll-ms", optarg, 0, 3600000, &v) != 0) return -1;
            o->import_poll_ms = (int)v;
            break;
        case OPT_UPSTREAM_INFLIGHT:
            if (parse_int("--upstream-max-inflight", optarg, 1, 65536, &v) != 0) return -1;
            o->upstream.max_inflight = (size_t)v;
            break;
        case OPT_OUTBOX_MAP:
            if (parse_int("--outbox-map-mb", optarg, 1, 1L << 24, &v) != 0) return -1;
            o->outbox_map_mb = (size_t)v;
            break;
        case OPT_UPSTREAM_QUEUED:
            if (parse_int("--upstream-max-queued", optarg, 0, 1000000, &v) != 0) return -1;
            o->upstream.max_queued = (size_t)v;
            break;
        case OPT_LOG: {
            pz_log_level level;
            if (pz_log_level_parse(optarg, &level) != 0) {
                fprintf(stderr, "error: --log-level expects debug, info, warn or error (got '%s')\n", optarg);
                return -1;
            }
            pz_log_set_level(level);
            break;
        }
        case OPT_HELP:
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "error: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->config_path == NULL && !o->demo) {
        fprintf(stderr, "error: give --config PATH, or --demo to serve the embedded demo\n");
        return -1;
    }
    if ((o->tls_cert == NULL) != (o->tls_key == NULL)) {
        fprintf(stderr, "error: --tls-cert and --tls-key go together\n");
        return -1;
    }
    return 0;
}

static void print_problems(const pz_config_problems *p, FILE *out)
{
    for (size_t i = 0; i < p->n; i++)
        fprintf(out, "%s: %s: %s\n", p->items[i].is_warning ? "warning" : "error", p->items[i].path,
                p->items[i].message);
}

/* Loads the configuration to serve; prints problems. NULL on errors. */
static pz_config *load_config(const options *o, bool for_check)
{
    pz_config_problems problems;
    pz_config_problems_init(&problems);
    pz_config *cfg;
    if (o->config_path != NULL) {
        cfg = pz_config_load_file(o->config_path, &problems);
    } else {
        size_t len;
        const char *text = pz_demo_config(&len);
        cfg = pz_config_parse(text, len, &problems);
    }
    const char *source = o->config_path != NULL ? o->config_path : "the embedded demo configuration";
    if (for_check) {
        print_problems(&problems, stdout);
        if (cfg != NULL)
            printf("configuration %s is valid: version %s, %zu namespace(s), %zu warning(s)\n", source,
                   pz_config_version(cfg) ? pz_config_version(cfg) : "(none)", pz_config_namespace_count(cfg),
                   problems.n - problems.n_errors);
        else
            printf("configuration %s is invalid: %zu error(s)\n", source, problems.n_errors);
    } else {
        for (size_t i = 0; i < problems.n; i++)
            pz_log(problems.items[i].is_warning ? PZ_LOG_WARN : PZ_LOG_ERROR, "config %s: %s: %s", source,
                   problems.items[i].path, problems.items[i].message);
    }
    pz_config_problems_free(&problems);
    return cfg;
}

static int health(void *ctx, pz_buf *out)
{
    pz_config_holder *holder = ctx;
    pz_config *cfg = pz_config_holder_acquire(holder);
    unsigned long reloads = 0, rejected = 0;
    pz_config_holder_stats(holder, &reloads, &rejected);
    const char *version = pz_config_version(cfg);
    /* the version is operator-written text: escaped like every JSON string we emit */
    pz_buf_append_str(out, "{\"status\":\"SERVING\",\"configVersion\":");
    pz_json_write_string(out, version != NULL ? version : "", version != NULL ? strlen(version) : 0);
    pz_buf_printf(out, ",\"namespaces\":%zu,\"configReloads\":%lu,\"configRejected\":%lu}",
                  pz_config_namespace_count(cfg), reloads, rejected);
    pz_config_unref(cfg);
    return 200;
}

/* Serves signals until SIGINT or SIGTERM: SIGHUP reloads the configuration file. */
static void wait_for_shutdown(const sigset_t *signals, pz_config_holder *holder, bool has_file)
{
    for (;;) {
        int sig = 0;
        if (sigwait(signals, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            pz_info("SIGHUP: reloading the configuration");
            if (has_file)
                pz_config_holder_reload(holder);
            else
                pz_info("the embedded demo configuration cannot change; nothing to reload");
            continue;
        }
        pz_info("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
        return;
    }
}

static int cache_stats(void *ctx, pz_buf *out)
{
    return pz_service_cache_stats(ctx, out) == 0 ? 200 : 500;
}

static void handle_request(void *ctx, pz_request *req)
{
    pz_service_handle(ctx, req);
}

/* When run by `bazel run`, relative paths are meant relative to where the user typed the command. */
static void enter_user_directory(void)
{
    const char *dir = getenv("BUILD_WORKING_DIRECTORY");
    if (dir != NULL && chdir(dir) != 0)
        pz_warn("cannot enter %s: %s", dir, strerror(errno));
}

int main(int argc, char **argv)
{
    options o;
    enter_user_directory();
    if (argc > 1 && pz_cli_items_is_command(argv[1]))
        return pz_cli_items_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "events") == 0)
        return pz_events_cli_main(argc - 1, argv + 1, stdout, stderr);
    int rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;

    if (o.check_config) {
        pz_config *cfg = load_config(&o, true);
        if (cfg == NULL)
            return 1;
        pz_config_unref(cfg);
        return 0;
    }

    /* Signals are handled by sigwait in this thread only: block them before any thread starts so
     * every thread (gRPC's and h2o's included) inherits the mask. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    pz_config *cfg = load_config(&o, false);
    if (cfg == NULL) {
        pz_error_log("the configuration has errors; not starting (run with --check-config for the full list)");
        return 1;
    }
    pz_info("configuration %s: version %s, %zu namespace(s)", o.config_path ? o.config_path : "(embedded demo)",
            pz_config_version(cfg) ? pz_config_version(cfg) : "(none)", pz_config_namespace_count(cfg));
    pz_config_holder *holder = pz_config_holder_create(cfg, o.config_path);
    if (o.config_path != NULL && o.config_watch_ms > 0)
        pz_config_holder_watch(holder, o.config_watch_ms);

    int exit_code = 1;
    char err[512];
    pz_builtin *builtin = NULL;
    pz_service *svc = NULL;
    pz_grpc_server *grpc = NULL;
    pz_http_server *http = NULL;
    pz_items_runtime *items = NULL;
    pz_cache *cache = NULL;
    pz_events_runtime *events = NULL;
    pz_aws *aws = NULL;
    char builtin_dir[PATH_MAX];
    snprintf(builtin_dir, sizeof builtin_dir, "%s/builtin", o.data_dir);
    if (pz_make_dirs(builtin_dir) != 0) {
        pz_error_log("cannot create the data directory %s: %s", builtin_dir, strerror(errno));
        goto out;
    }
    if (pz_builtin_open(builtin_dir, NULL, &builtin, err, sizeof err) != 0) {
        pz_error_log("cannot open the builtin recommender store: %s", err);
        goto out;
    }
    if (o.demo) {
        long n = pz_demo_seed(builtin, DEMO_NAMESPACE, pz_now_ms(), err, sizeof err);
        if (n < 0) {
            pz_error_log("cannot seed the demo history: %s", err);
            goto out;
        }
        if (n > 0)
            pz_info("demo: seeded %ld events into namespace '%s'", n, DEMO_NAMESPACE);
    }

    /* The process's one AWS credentials provider, for the event targets and the recommenders. */
    aws = pz_aws_create();
    pz_recommenders_set_default_aws(aws);
    if (pz_events_runtime_start(o.data_dir, o.outbox_map_mb, builtin, holder, aws, &events, err, sizeof err) != 0) {
        pz_error_log("cannot open the event outbox: %s", err);
        goto out;
    }

    if (o.cache_bytes > 0)
        cache = pz_cache_create(&(pz_cache_options){.capacity_bytes = o.cache_bytes, .purge_settle_ms = -1});
    pz_items_runtime_options iopts = {.data_dir = o.data_dir, .config = holder,
                                      .demo_namespace = o.demo ? DEMO_NAMESPACE : NULL,
                                      .import_poll_ms = o.import_poll_ms, .cache = cache};
    if (pz_items_runtime_start(&iopts, &items, err, sizeof err) != 0) {
        pz_error_log("cannot open the item catalog: %s", err);
        goto out;
    }
    svc = pz_service_create(&(pz_service_options){
        .config = holder, .builtin = builtin, .events = pz_events_runtime_pipeline(events),
        .catalog = pz_items_runtime_catalog(items), .cache = cache,
        .render_json = pz_message_to_json, .upstream = &o.upstream});

    char addr[300];
    snprintf(addr, sizeof addr, strchr(o.host, ':') ? "[%s]:%d" : "%s:%d", o.host, o.grpc_port);
    int grpc_port = 0;
    pz_grpc_options gopts = {.address = addr, .threads = o.grpc_threads, .max_message_bytes = o.max_body_bytes * 4,
                             .handle = handle_request, .handle_ctx = svc};
    if (pz_grpc_server_start(&gopts, &grpc, &grpc_port, err, sizeof err) != 0) {
        pz_error_log("cannot start the gRPC server: %s", err);
        goto out;
    }
    int http_port = 0;
    pz_http_options hopts = {.host = o.host, .port = o.http_port, .threads = o.http_threads,
                             .max_body_bytes = o.max_body_bytes, .tls_cert_file = o.tls_cert,
                             .tls_key_file = o.tls_key, .cors_allow_origin = o.cors_origin,
                             .handle = handle_request, .handle_ctx = svc, .health = health, .health_ctx = holder,
                             .cache_stats = cache_stats, .cache_stats_ctx = svc,
                             .events_stats = pz_events_runtime_stats, .events_stats_ctx = events};
    if (pz_http_server_start(&hopts, &http, &http_port, err, sizeof err) != 0) {
        pz_error_log("cannot start the REST server: %s", err);
        goto out;
    }
    const char *scheme = o.tls_cert != NULL ? "https" : "http";
    pz_info("REST  listening on %s://%s:%d (%s, %d loop thread(s))", scheme, o.host, http_port,
            o.tls_cert != NULL ? "HTTP/1.1 and h2 over TLS" : "HTTP/1.1 and h2c", o.http_threads);
    pz_info("gRPC  listening on %s:%d (personalization.v1.PersonalizationService, health, reflection; %d thread(s))",
            o.host, grpc_port, o.grpc_threads);

    wait_for_shutdown(&signals, holder, o.config_path != NULL);
    exit_code = 0;

out:
    /* Order: the service drains first (every accepted event written and answered while both fronts
     * still run), then the fronts stop, then what they used. */
    if (svc != NULL)
        pz_service_shutdown(svc);
    pz_http_server_stop(http);
    if (grpc != NULL)
        pz_grpc_server_stop(grpc);
    if (svc != NULL) {
        pz_buf stats;
        pz_buf_init(&stats, 4096);
        if (pz_service_cache_stats(svc, &stats) == 0)
            pz_info("response cache: %s", stats.data);
        pz_buf_free(&stats);
    }
    pz_service_destroy(svc);
    pz_events_runtime_stop(events); /* delivery stops after the service drained; progress is stored */
    pz_aws_destroy(aws);            /* after everything that signs calls */
    pz_items_runtime_stop(items);
    pz_cache_destroy(cache);
    if (builtin != NULL)
        pz_builtin_close(builtin);
    pz_config_holder_destroy(holder);
    pz_info(exit_code == 0 ? "stopped" : "stopped after a start-up error");
    return exit_code;
}

/* Under LeakSanitizer, libh2o's per-thread recycle pools are reported at exit by design. */
#if defined(__SANITIZE_ADDRESS__)
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libh2o-evloop.so\n";
}
#endif
