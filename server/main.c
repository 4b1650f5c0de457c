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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/compress.h"
#include "gateway/docs.h"
#include "gateway/http_server.h"
#include "gateway/openapi.h"
#include "gateway/transcode.h"
#include "server/auth/auth.h"
#include "server/auth/cli.h"
#include "server/core/cache.h"
#include "server/core/config.h"
#include "server/core/fs.h"
#include "server/core/json_text.h"
#include "server/core/hints.h"
#include "server/core/log.h"
#include "server/core/machine.h"
#include "server/core/service.h"
#include "server/core/tz.h"
#include "server/core/tz_db.h"
#include "server/core/viewer.h"
#include "server/catalog/cli.h"
#include "server/catalog/runtime.h"
#include "server/demo/demo.h"
#include "server/events/cli.h"
#include "server/events/event_log.h"
#include "server/events/outbox.h"
#include "server/events/runtime.h"
#include "server/experiments/cli.h"
#include "server/experiments/store.h"
#include "server/geoip/geoip.h"
#include "server/grpc/grpc_server.h"
#include "server/core/metrics.h"
#include "server/core/request_metrics.h"
#include "server/ops/admin.h"
#include "server/ops/config_cli.h"
#include "server/ops/config_source.h"
#include "server/ops/generate_config.h"
#include "server/ops/process_metrics.h"
#include "server/recommenders/builtin.h"
#include "server/recommenders/builtin_seed.h"
#include "server/recommenders/import_cli.h"
#include "server/recommenders/recommenders.h"
#include "server/upstream/aws.h"
#include "server/upstream/upstream.h"

#define DEMO_NAMESPACE "demo"

typedef struct options {
    const char *config_path;
    const char *data_dir;
    const char *host;
    int http_port;
    int grpc_port;
    int http_threads;
    int grpc_threads;
    size_t grpc_relay_threads; /* 0: auto */
    size_t max_body_bytes;
    const char *tls_cert;
    const char *tls_key;
    const char *tls_client_ca;
    const char *cors_origin;
    size_t compress_min_bytes;
    int config_watch_ms;
    int config_poll_ms;
    size_t config_history;
    pz_upstream_options upstream; /* remote recommenders' engine limits */
    size_t cache_bytes;
    size_t page_store_bytes;
    bool demo;
    bool check_config;
    bool print_openapi;
    const char *openapi_server;
    const char *swagger_ui_dir;
    int import_poll_ms;
    size_t outbox_map_mb;
    const char *admin_host;
    int admin_port;
    int admin_grpc_port;
    size_t admin_max_connections;
    bool metrics;
    size_t builtin_max_mb;
    size_t builtin_memory_mb;
    int builtin_flush_ms;
    const char *geoip_db;
    const char *default_time_zone;
    const char *context_time; /* ISO 8601; a testing aid */
    /* front limits (README "Security and limits") */
    size_t http_max_connections;
    size_t grpc_max_connections;
    size_t max_connections_per_client;
    int http_idle_timeout_ms;
    size_t http_max_header_bytes;
    int grpc_idle_timeout_ms;
    int grpc_max_streams;
    int grpc_handshake_timeout_ms;
    int grpc_max_connection_age_ms;
    size_t grpc_memory_mb;
    int grpc_max_cancels_per_sec;
    int shutdown_grace_ms;
} options;

/* ---- flags: one table row per flag; parsing, defaults, range errors and --help come from it ---- */

/* How a flag's argument is read and where it goes. */
typedef enum flag_kind {
    FLAG_SWITCH, /* no argument: sets a bool */
    FLAG_ONOFF,  /* on|off (also true|false, yes|no, 1|0): a bool */
    FLAG_STRING, /* a string, kept as given */
    FLAG_INT,    /* an int from min to max */
    FLAG_SIZE,   /* a size_t from min to max */
    FLAG_SETTER, /* handed to `set`, which applies it and reports its own errors */
    FLAG_HELP,   /* prints the usage and exits successfully */
} flag_kind;

typedef struct flag {
    const char *name; /* long name, without "--" */
    const char *arg;  /* the argument's name in --help; NULL: the flag takes none */
    flag_kind kind;
    long min, max; /* FLAG_INT, FLAG_SIZE */
    /* FLAG_SIZE: a word that stands for 0, a value chosen at run time (e.g. "auto"); NULL: none. */
    const char *zero_word;
    /* Applied before the command line through the same reader; NULL: the field keeps its zero or
     * library default. --help shows the resulting value (for FLAG_SETTER: this text). */
    const char *dflt;
    const char *help;
    size_t offset;                                   /* offsetof(options, field); not for FLAG_SETTER */
    int (*set)(const char *flag, const char *value); /* FLAG_SETTER: 0, or -1 after printing an error */
} flag;

static int set_log_format(const char *flag, const char *value)
{
    pz_log_format format;
    if (pz_log_format_parse(value, &format) != 0) {
        fprintf(stderr, "error: %s expects text or json (got '%s')\n", flag, value);
        return -1;
    }
    pz_log_set_format(format);
    return 0;
}

static int set_log_level(const char *flag, const char *value)
{
    pz_log_level level;
    if (pz_log_level_parse(value, &level) != 0) {
        fprintf(stderr, "error: %s expects debug, info, warn or error (got '%s')\n", flag, value);
        return -1;
    }
    pz_log_set_level(level);
    return 0;
}

#define STR_(x) #x
#define STR(x) STR_(x)
/* The most a poll interval may be: more than an hour is surely a unit mistake (seconds for ms). */
#define MS_PER_HOUR 3600000L
/* Connections on each admin port (REST, gRPC): operators, a scraper and the CLIs, not traffic. */
#define ADMIN_DEFAULT_MAX_CONNECTIONS 64
/* --grpc-relay-threads auto over TLS: a relay thread per this many CPUs (why: the flag's row). */
#define CPUS_PER_TLS_RELAY_THREAD 1

static const flag FLAGS[] = {
    {.name = "config",
     .arg = "PATH|URL",
     .kind = FLAG_STRING,
     .help = "configuration document (upstream JSON format, a superset): a file, or an http(s) URL polled with "
             "If-None-Match",
     .offset = offsetof(options, config_path)},
    {.name = "demo",
     .kind = FLAG_SWITCH,
     .help = "serve the embedded demo (namespace '" DEMO_NAMESPACE
             "'); with --config, the demo history is still seeded but PATH is served",
     .offset = offsetof(options, demo)},
    {.name = "check-config",
     .kind = FLAG_SWITCH,
     .help = "validate the configuration, print every problem with its JSON path, and exit (status 1 when there "
             "are errors)",
     .offset = offsetof(options, check_config)},
    {.name = "print-openapi",
     .kind = FLAG_SWITCH,
     .help = "with --check-config: print the OpenAPI 3 document of the configuration to stdout (problems go to "
             "stderr), for CI pipelines to publish",
     .offset = offsetof(options, print_openapi)},
    {.name = "openapi-server",
     .arg = "URL",
     .kind = FLAG_STRING,
     .help = "the server URL the OpenAPI document names (e.g. https://api.example.com); default: the origin "
             "each request for /openapi.json came to (with --print-openapi: \"/\", relative to where the document is "
             "published)",
     .offset = offsetof(options, openapi_server)},
    {.name = "swagger-ui-dir",
     .arg = "PATH",
     .kind = FLAG_STRING,
     .dflt = PZ_DOCS_DEFAULT_SWAGGER_UI_DIR,
     .help = "the installed npm package swagger-ui-dist, whose assets /docs serves (read at start)",
     .offset = offsetof(options, swagger_ui_dir)},
    {.name = "data-dir",
     .arg = "PATH",
     .kind = FLAG_STRING,
     .dflt = PZ_DEFAULT_DATA_DIR,
     .help = "where local state lives",
     .offset = offsetof(options, data_dir)},
    {.name = "import-poll-ms",
     .arg = "N",
     .kind = FLAG_INT,
     .min = 0,
     .max = MS_PER_HOUR,
     .dflt = STR(PZ_IMPORT_POLL_MS_DEFAULT),
     .help = "load item files dropped into DATA-DIR/import/<namespace>/, checking every N ms; 0 = off",
     .offset = offsetof(options, import_poll_ms)},
    {.name = "host",
     .arg = "ADDR",
     .kind = FLAG_STRING,
     .dflt = "127.0.0.1",
     .help = "listen address for both fronts",
     .offset = offsetof(options, host)},
    {.name = "http-port",
     .arg = "N",
     .kind = FLAG_INT,
     .min = 0,
     .max = 65535,
     .dflt = "8080",
     .help = "REST port; 0 picks a free port and logs it",
     .offset = offsetof(options, http_port)},
    {.name = "grpc-port",
     .arg = "N",
     .kind = FLAG_INT,
     .min = 0,
     .max = 65535,
     .dflt = "50051",
     .help = "gRPC port; 0 picks a free port and logs it",
     .offset = offsetof(options, grpc_port)},
    /* More loops than that only add contention on 2 to 64 cores; the bound catches typos. */
    {.name = "http-threads",
     .arg = "N",
     .kind = FLAG_INT,
     .min = 1,
     .max = 256,
     .dflt = "2",
     .help = "REST event loops",
     .offset = offsetof(options, http_threads)},
    /* Two: cache hits measured the same with one (0.79 against 0.80 of the bare server in
     * tests/bench/cache, README Performance), and a second thread keeps hits flowing while a miss
     * runs the recommender inline on the other; the rapid-reset defence works with either. */
    {.name = "grpc-threads",
     .arg = "N",
     .kind = FLAG_INT,
     .min = 1,
     .max = 256,
     .dflt = "2",
     .help = "gRPC completion-queue threads",
     .offset = offsetof(options, grpc_threads)},
    /* Over TLS a relay thread does about a third of a cached call's CPU (decrypting, guarding,
     * encrypting; tests/bench/cache/per_thread.py --tls), and on 2 cores two relay threads served
     * 6-7% more TLS calls than one: one per CPU. In plaintext the threads only accept and wait for
     * the preface (grpc core reads the socket itself, through the guard: server/grpc/read_guard.h),
     * so one is enough. */
    {.name = "grpc-relay-threads",
     .arg = "N|auto",
     .kind = FLAG_SIZE,
     .min = 1,
     .max = PZ_GRPC_MAX_RELAY_THREADS,
     .zero_word = "auto",
     .dflt = "auto",
     .help = "threads that accept gRPC connections, wait for their preface and, with TLS, terminate it and "
             "relay them through the HTTP/2 frame guard; connections are spread over them in turn. auto: one in "
             "plaintext; with TLS one per CPU this process may use",
     .offset = offsetof(options, grpc_relay_threads)},
    /* From 1 KiB (an events call with its 10 events needs a few) to 1 GiB. */
    {.name = "max-body-bytes",
     .arg = "N",
     .kind = FLAG_SIZE,
     .min = 1024,
     .max = 1L << 30,
     .dflt = "1048576",
     .help = "largest accepted REST request body",
     .offset = offsetof(options, max_body_bytes)},
    {.name = "tls-cert",
     .arg = "PATH",
     .kind = FLAG_STRING,
     .help = "PEM certificate chain: serve both fronts over TLS only (REST h2 via ALPN; reloaded on SIGHUP)",
     .offset = offsetof(options, tls_cert)},
    {.name = "tls-key",
     .arg = "PATH",
     .kind = FLAG_STRING,
     .help = "PEM private key for --tls-cert",
     .offset = offsetof(options, tls_key)},
    {.name = "tls-client-ca",
     .arg = "PATH",
     .kind = FLAG_STRING,
     .help = "PEM CA certificates: both fronts require client certificates this chain verifies (mTLS)",
     .offset = offsetof(options, tls_client_ca)},
    {.name = "cors-origin",
     .arg = "ORIGIN",
     .kind = FLAG_STRING,
     .dflt = "*",
     .help = "Access-Control-Allow-Origin",
     .offset = offsetof(options, cors_origin)},
    /* Up to 1 GiB: larger than any response body, so a bigger value is surely a typo. */
    {.name = "compress-min-bytes",
     .arg = "N",
     .kind = FLAG_SIZE,
     .min = 0,
     .max = 1L << 30,
     .dflt = STR(PZ_COMPRESS_MIN_BYTES_DEFAULT),
     .help = "send REST JSON bodies of N bytes or more gzip- or br-compressed to clients that accept it; 0 = never",
     .offset = offsetof(options, compress_min_bytes)},
    {.name = "config-watch-ms",
     .arg = "N",
     .kind = FLAG_INT,
     .min = 0,
     .max = MS_PER_HOUR,
     .dflt = "1000",
     .help = "poll the config file for changes every N ms; 0 = off",
     .offset = offsetof(options, config_watch_ms)},
    {.name = "config-poll-ms",
     .arg = "N",
     .kind = FLAG_INT,
     .min = 0,
     .max = MS_PER_HOUR,
     .dflt = STR(PZ_CONFIG_POLL_MS_DEFAULT),
     .help = "with --config URL: fetch it (If-None-Match) every N ms; 0 = only at start and on SIGHUP",
     .offset = offsetof(options, config_poll_ms)},
    {.name = "config-history",
     .arg = "N",
     .kind = FLAG_SIZE,
     .min = 1,
     .max = PZ_CONFIG_HISTORY_MAX,
     .dflt = STR(PZ_CONFIG_HISTORY_DEFAULT),
     .help = "accepted configurations kept in DATA-DIR/config/history (and as many rejected attempts)",
     .offset = offsetof(options, config_history)},
    /* The engine's own defaults (pz_upstream_options_default) stay in force unless given. */
    {.name = "upstream-max-inflight",
     .arg = "N",
     .kind = FLAG_SIZE,
     .min = 1,
     .max = 65536,
     .help = "remote recommender calls on the wire at once",
     .offset = offsetof(options, upstream.max_inflight)},
    {.name = "upstream-max-queued",
     .arg = "N",
     .kind = FLAG_SIZE,
     .min = 0,
     .max = 1000000,
     .help = "calls waiting for a slot beyond that; more get 429",
     .offset = offsetof(options, upstream.max_queued)},
    /* Up to 1 TiB: a bound that no machine reaches, to catch a unit mistake. */
    {.name = "cache-bytes",
     .arg = "N",
     .kind = FLAG_SIZE,
     .min = 0,
     .max = 1L << 40,
     .dflt = "67108864",
     .help = "in-process response cache budget in bytes; 0 turns it off, ETags and 304s work either way",
     .offset = offsetof(options, cache_bytes)},
    /* The ranked lists kept for rules.pagination (server/core/page_store.h). */
    {.name = "page-store-bytes",
     .arg = "N",
     .kind = FLAG_SIZE,
     .min = 1024,
     .max = 1L << 40,
     .dflt = "16777216",
     .help = "in-process budget in bytes of the ranked lists kept for pagination (oldest go first)",
     .offset = offsetof(options, page_store_bytes)},
    /* Up to 16 TiB of address space, LMDB's map size (not memory or disk until used). */
    {.name = "outbox-map-mb",
     .arg = "N",
     .kind = FLAG_SIZE,
     .min = 1,
     .max = 1L << 24,
     .dflt = STR(PZ_OUTBOX_DEFAULT_MAP_MB),
     .help = "most the event outbox may hold, in MiB; a full outbox refuses new events with 503",
     .offset = offsetof(options, outbox_map_mb)},
    {.name = "admin-host",
     .arg = "ADDR",
     .kind = FLAG_STRING,
     .dflt = "127.0.0.1",
     .help = "listen address of the admin API (REST under /admin and GET /metrics; gRPC AdminService): loopback "
             "unless you open it",
     .offset = offsetof(options, admin_host)},
    {.name = "admin-port",
     .arg = "N",
     .kind = FLAG_INT,
     .min = 0,
     .max = 65535,
     .dflt = "9464",
     .help = "admin REST port (/admin/..., /metrics, /healthz); 0 picks a free port and logs it",
     .offset = offsetof(options, admin_port)},
    {.name = "admin-grpc-port",
     .arg = "N",
     .kind = FLAG_INT,
     .min = 0,
     .max = 65535,
     .dflt = "50052",
     .help = "admin gRPC port (personalization.v1.AdminService); 0 picks a free port and logs it",
     .offset = offsetof(options, admin_grpc_port)},
    {.name = "admin-max-connections",
     .arg = "N",
     .kind = FLAG_SIZE,
     .min = 1,
     .max = 100000,
     .dflt = STR(ADMIN_DEFAULT_MAX_CONNECTIONS),
     .help = "open connections on each admin port at most, per client too; more are closed at accept",
     .offset = offsetof(options, admin_max_connections)},
    {.name = "metrics",
     .arg = "on|off",
     .kind = FLAG_ONOFF,
     .dflt = "on",
     .help = "record request and upstream-call metrics (GET /metrics on the admin port serves the rest either way)",
     .offset = offsetof(options, metrics)},
    {.name = "log-format",
     .arg = "FORMAT",
     .kind = FLAG_SETTER,
     .dflt = "text",
     .help = "text, or json: JSON Lines, the access log with request and trace ids as fields",
     .set = set_log_format},
    /* The builtin recommender's store: the same 16 TiB bound as the outbox. */
    {.name = "builtin-max-mb",
     .arg = "N",
     .kind = FLAG_SIZE,
     .min = 1,
     .max = 1L << 24,
     .dflt = "65536",
     .help = "most the builtin recommender's store may grow to, in MiB (it starts at 1 GiB of map and doubles); "
             "when it is full, GET /healthz says DEGRADED, learning goes on in memory up to --builtin-memory-mb "
             "and events wait in the outbox",
     .offset = offsetof(options, builtin_max_mb)},
    {.name = "builtin-memory-mb",
     .arg = "N|auto",
     .kind = FLAG_SIZE,
     .min = 1,
     .max = 1L << 20,
     .zero_word = "auto",
     .dflt = "auto",
     .help = "memory for what the builtin recommender learned and has not written yet, in MiB; more means "
             "fewer, larger writes. auto: 256 MiB plus 16 KiB per item known (about 1.8 GiB at 100k items, so "
             "half of it holds every item's 4 KiB neighbour list twice), at most a quarter of physical memory or "
             "of the container's cgroup limit",
     .offset = offsetof(options, builtin_memory_mb)},
    {.name = "builtin-flush-ms",
     .arg = "N",
     .kind = FLAG_INT,
     .min = 1,
     .max = MS_PER_HOUR,
     .dflt = "30000",
     .help = "the longest the builtin recommender keeps learned events in memory before writing them (the "
             "outbox keeps them until then); also how often a failed write is retried",
     .offset = offsetof(options, builtin_flush_ms)},
    {.name = "geoip-db",
     .arg = "PATH",
     .kind = FLAG_STRING,
     .help = "MaxMind-format database (.mmdb, e.g. GeoLite2-City): fills the CloudFront-Viewer-* location headers "
             "automatic context reads when a request lacks them",
     .offset = offsetof(options, geoip_db)},
    {.name = "default-time-zone",
     .arg = "ZONE",
     .kind = FLAG_STRING,
     .dflt = PZ_DEFAULT_TIME_ZONE,
     .help = "IANA zone of time rules when CloudFront-Viewer-Time-Zone is absent or unknown",
     .offset = offsetof(options, default_time_zone)},
    {.name = "context-time",
     .arg = "ISO-8601",
     .kind = FLAG_STRING,
     .help = "testing aid: the instant time rules of automatic context see (e.g. 2025-07-01T08:30:00Z), instead of "
             "the time of each request; changes nothing else",
     .offset = offsetof(options, context_time)},
    /* Front limits: README "Security and limits". The bounds catch unit mistakes. */
    {.name = "http-max-connections",
     .arg = "N",
     .kind = FLAG_SIZE,
     .min = 1,
     .max = 1000000,
     .dflt = STR(PZ_HTTP_DEFAULT_MAX_CONNECTIONS),
     .help = "open REST connections at most; more are closed at accept",
     .offset = offsetof(options, http_max_connections)},
    {.name = "grpc-max-connections",
     .arg = "N",
     .kind = FLAG_SIZE,
     .min = 1,
     .max = 1000000,
     .dflt = STR(PZ_GRPC_DEFAULT_MAX_CONNECTIONS),
     .help = "open gRPC connections at most; more are closed at accept",
     .offset = offsetof(options, grpc_max_connections)},
    {.name = "max-connections-per-client",
     .arg = "N",
     .kind = FLAG_SIZE,
     .min = 1,
     .max = 1000000,
     .dflt = STR(PZ_GRPC_DEFAULT_MAX_CONNECTIONS_PER_CLIENT),
     .help = "open connections per client address, on each front",
     .offset = offsetof(options, max_connections_per_client)},
    {.name = "http-idle-timeout-ms",
     .arg = "N",
     .kind = FLAG_INT,
     .min = 100,
     .max = MS_PER_HOUR,
     .dflt = STR(PZ_HTTP_DEFAULT_IDLE_TIMEOUT_MS),
     .help = "close REST connections idle (or sending a request) for this long",
     .offset = offsetof(options, http_idle_timeout_ms)},
    {.name = "http-max-header-bytes",
     .arg = "N",
     .kind = FLAG_SIZE,
     .min = 1024,
     .max = 256 * 1024,
     .dflt = STR(PZ_HTTP_DEFAULT_MAX_HEADER_BYTES),
     .help = "most bytes a REST request's path and headers may hold together; more get 431",
     .offset = offsetof(options, http_max_header_bytes)},
    {.name = "grpc-idle-timeout-ms",
     .arg = "N",
     .kind = FLAG_INT,
     .min = 100,
     .max = 24 * MS_PER_HOUR,
     .dflt = STR(PZ_GRPC_DEFAULT_IDLE_TIMEOUT_MS),
     .help = "close gRPC connections without calls for this long (GOAWAY)",
     .offset = offsetof(options, grpc_idle_timeout_ms)},
    {.name = "grpc-max-streams",
     .arg = "N",
     .kind = FLAG_INT,
     .min = 1,
     .max = 100000,
     .dflt = STR(PZ_GRPC_DEFAULT_MAX_CONCURRENT_STREAMS),
     .help = "concurrent calls per gRPC connection (SETTINGS_MAX_CONCURRENT_STREAMS)",
     .offset = offsetof(options, grpc_max_streams)},
    {.name = "grpc-handshake-timeout-ms",
     .arg = "N",
     .kind = FLAG_INT,
     .min = 100,
     .max = MS_PER_HOUR,
     .dflt = STR(PZ_GRPC_DEFAULT_HANDSHAKE_TIMEOUT_MS),
     .help = "close gRPC connections that have not finished the TLS handshake (with --tls-cert) and sent the HTTP/2 "
             "preface within this",
     .offset = offsetof(options, grpc_handshake_timeout_ms)},
    {.name = "grpc-max-connection-age-ms",
     .arg = "N",
     .kind = FLAG_INT,
     .min = 1000,
     .max = 24 * MS_PER_HOUR,
     .dflt = STR(PZ_GRPC_DEFAULT_MAX_AGE_MS),
     .help = "ask gRPC connections to go away after this long (calls get 30 s more)",
     .offset = offsetof(options, grpc_max_connection_age_ms)},
    {.name = "grpc-memory-mb",
     .arg = "N",
     .kind = FLAG_SIZE,
     .min = 16,
     .max = 1L << 20,
     .dflt = STR(PZ_GRPC_DEFAULT_MEMORY_MB),
     .help = "grpc core's memory quota in MiB (its transport buffers shrink under it; it does not bound calls)",
     .offset = offsetof(options, grpc_memory_mb)},
    {.name = "grpc-max-cancels-per-sec",
     .arg = "N",
     .kind = FLAG_INT,
     .min = 1,
     .max = 1000000,
     .dflt = STR(PZ_GRPC_DEFAULT_MAX_CANCELS_PER_SEC),
     .help = "a gRPC connection cancelling calls faster is aborted and its address refused for 10 s (rapid reset)",
     .offset = offsetof(options, grpc_max_cancels_per_sec)},
    {.name = "shutdown-grace-ms",
     .arg = "N",
     .kind = FLAG_INT,
     .min = 0,
     .max = MS_PER_HOUR,
     .dflt = STR(PZ_DEFAULT_SHUTDOWN_GRACE_MS),
     .help = "on SIGTERM, how long open connections and calls may finish before they are closed",
     .offset = offsetof(options, shutdown_grace_ms)},
    {.name = "log-level",
     .arg = "LEVEL",
     .kind = FLAG_SETTER,
     .dflt = "info",
     .help = "debug, info, warn or error",
     .set = set_log_level},
    {.name = "help", .kind = FLAG_HELP, .help = "this text"},
};

#define N_FLAGS (sizeof FLAGS / sizeof FLAGS[0])
/* getopt_long returns FLAG_VAL_BASE + row index for a long flag: above every short option's char. */
#define FLAG_VAL_BASE 256
/* --help: lines wrap at this column, and help texts start two columns after the longest flag. */
#define HELP_WIDTH 100
#define FLAG_NAME_MAX 64

/* word: another accepted value, for the message (NULL: none). */
static int parse_int(const char *flag, const char *value, long min, long max, const char *word, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "error: %s expects an integer from %ld to %ld%s%s (got '%s')\n", flag, min, max,
                word != NULL ? " or " : "", word != NULL ? word : "", value);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_onoff(const char *flag, const char *value, bool *out)
{
    static const char *const ON[] = {"on", "true", "yes", "1"}, *const OFF[] = {"off", "false", "no", "0"};
    for (size_t i = 0; i < sizeof ON / sizeof ON[0]; i++) {
        if (strcasecmp(value, ON[i]) == 0 || strcasecmp(value, OFF[i]) == 0) {
            *out = strcasecmp(value, ON[i]) == 0;
            return 0;
        }
    }
    fprintf(stderr, "error: %s expects on or off (got '%s')\n", flag, value);
    return -1;
}

/* Applies one flag's value to o. Returns 0, or -1 after printing an error. */
static int apply_flag(const flag *f, const char *value, options *o)
{
    char dashed[FLAG_NAME_MAX];
    snprintf(dashed, sizeof dashed, "--%s", f->name);
    void *field = (char *)o + f->offset;
    long v;
    switch (f->kind) {
    case FLAG_SWITCH: *(bool *)field = true; return 0;
    case FLAG_ONOFF: return parse_onoff(dashed, value, (bool *)field);
    case FLAG_STRING: *(const char **)field = value; return 0;
    case FLAG_INT:
        if (parse_int(dashed, value, f->min, f->max, NULL, &v) != 0)
            return -1;
        *(int *)field = (int)v;
        return 0;
    case FLAG_SIZE:
        if (f->zero_word != NULL && strcasecmp(value, f->zero_word) == 0) {
            *(size_t *)field = 0;
            return 0;
        }
        if (parse_int(dashed, value, f->min, f->max, f->zero_word, &v) != 0)
            return -1;
        *(size_t *)field = (size_t)v;
        return 0;
    case FLAG_SETTER: return f->set(dashed, value);
    case FLAG_HELP: return 0;
    }
    return 0;
}

static void options_default(options *o)
{
    *o = (options){0};
    pz_upstream_options_default(&o->upstream);
    for (size_t i = 0; i < N_FLAGS; i++)
        if (FLAGS[i].dflt != NULL && apply_flag(&FLAGS[i], FLAGS[i].dflt, o) != 0)
            pz_fatal("the default of --%s does not parse", FLAGS[i].name);
}

/* "--name ARG", as --help shows it. */
static void flag_synopsis(const flag *f, char *out, size_t len)
{
    snprintf(out, len, "--%s%s%s", f->name, f->arg != NULL ? " " : "", f->arg != NULL ? f->arg : "");
}

/* The default --help shows for f, read from the defaults: "" when there is none to show. */
static void flag_default(const flag *f, const options *defaults, char *out, size_t len)
{
    const void *field = (const char *)defaults + f->offset;
    out[0] = '\0';
    switch (f->kind) {
    case FLAG_STRING:
        if (*(const char *const *)field != NULL)
            snprintf(out, len, "%s", *(const char *const *)field);
        break;
    case FLAG_INT: snprintf(out, len, "%d", *(const int *)field); break;
    case FLAG_SIZE:
        if (f->zero_word != NULL && *(const size_t *)field == 0)
            snprintf(out, len, "%s", f->zero_word);
        else
            snprintf(out, len, "%zu", *(const size_t *)field);
        break;
    case FLAG_SETTER: snprintf(out, len, "%s", f->dflt != NULL ? f->dflt : ""); break;
    case FLAG_ONOFF: snprintf(out, len, "%s", *(const bool *)field ? "on" : "off"); break;
    case FLAG_SWITCH:
    case FLAG_HELP: break;
    }
}

/* Writes text word by word from column `col`, wrapping at HELP_WIDTH to column `indent`. */
static void write_wrapped(FILE *out, const char *text, size_t col, size_t indent)
{
    const char *p = text;
    while (*p != '\0') {
        size_t word = strcspn(p, " ");
        if (col > indent && col + 1 + word > HELP_WIDTH) {
            fprintf(out, "\n%*s", (int)indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fwrite(p, 1, word, out);
        col += word;
        p += word;
        while (*p == ' ')
            p++;
    }
    fputc('\n', out);
}

static void usage(FILE *out, const options *defaults)
{
    fputs("Usage: personalization-server [options]\n"
          "\n"
          "A real-time personalization API server: the upstream REST API of\n"
          "aws-samples/personalization-apis over HTTP/1.1 and h2c, and the same service over gRPC.\n"
          "\n",
          out);
    size_t width = 0;
    char synopsis[FLAG_NAME_MAX];
    for (size_t i = 0; i < N_FLAGS; i++) {
        flag_synopsis(&FLAGS[i], synopsis, sizeof synopsis);
        if (strlen(synopsis) > width)
            width = strlen(synopsis);
    }
    size_t indent = 2 + width + 2;
    for (size_t i = 0; i < N_FLAGS; i++) {
        char dflt[FLAG_NAME_MAX], text[512];
        flag_synopsis(&FLAGS[i], synopsis, sizeof synopsis);
        flag_default(&FLAGS[i], defaults, dflt, sizeof dflt);
        snprintf(text, sizeof text, dflt[0] != '\0' ? "%s (default %s)" : "%s", FLAGS[i].help, dflt);
        fprintf(out, "  %-*s  ", (int)width, synopsis);
        write_wrapped(out, text, indent, indent);
    }
    fputs("\n"
          "Signals: SIGHUP reloads the configuration; SIGINT/SIGTERM shut down gracefully.\n"
          "Item catalog: personalization-server load-items|upsert-item|delete-item|catalog-info --help\n"
          "Event outbox: personalization-server events stats|dead-letters|replay --help\n"
          "A/B results:  personalization-server experiments list|delete --help\n"
          "History import: personalization-server import-events --help\n"
          "Configuration history: personalization-server config history|show|rollback --help\n"
          "A configuration from Amazon Personalize: personalization-server generate-config --help\n"
          "API keys:     personalization-server " PZ_AUTH_CLI_COMMAND " --help\n",
          out);
}

/* Returns 0 to run, 1 to exit successfully (--help), -1 on a usage error. */
static int parse_options(int argc, char **argv, options *o)
{
    options defaults;
    options_default(&defaults);
    *o = defaults;
    struct option long_opts[N_FLAGS + 1];
    for (size_t i = 0; i < N_FLAGS; i++)
        long_opts[i] = (struct option){FLAGS[i].name, FLAGS[i].arg != NULL ? required_argument : no_argument, NULL,
                                       FLAG_VAL_BASE + (int)i};
    long_opts[N_FLAGS] = (struct option){NULL, 0, NULL, 0};
    int c;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        const flag *f = c >= FLAG_VAL_BASE && c < FLAG_VAL_BASE + (int)N_FLAGS ? &FLAGS[c - FLAG_VAL_BASE] : NULL;
        if (c == 'h' || (f != NULL && f->kind == FLAG_HELP)) {
            usage(stdout, &defaults);
            return 1;
        }
        if (f == NULL) {
            usage(stderr, &defaults);
            return -1;
        }
        if (apply_flag(f, optarg, o) != 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "error: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->config_path == NULL && !o->demo) {
        fprintf(stderr, "error: give --config PATH, or --demo to serve the embedded demo\n");
        return -1;
    }
    if (o->print_openapi && !o->check_config) {
        fprintf(stderr, "error: --print-openapi goes with --check-config\n");
        return -1;
    }
    if (o->openapi_server != NULL &&
        (strstr(o->openapi_server, "://") == NULL || !pz_header_value_valid(o->openapi_server))) {
        fprintf(stderr, "error: --openapi-server wants an absolute URL such as https://api.example.com\n");
        return -1;
    }
    if ((o->tls_cert == NULL) != (o->tls_key == NULL)) {
        fprintf(stderr, "error: --tls-cert and --tls-key go together\n");
        return -1;
    }
    if (o->tls_client_ca != NULL && o->tls_cert == NULL) {
        fprintf(stderr, "error: --tls-client-ca needs --tls-cert and --tls-key\n");
        return -1;
    }
    if (!pz_header_value_valid(o->cors_origin)) { /* it is sent as a header on every response */
        fprintf(stderr, "error: --cors-origin holds a control character\n");
        return -1;
    }
    int64_t ms;
    if (o->context_time != NULL && !pz_iso8601_parse(o->context_time, &ms)) {
        fprintf(stderr,
                "error: --context-time expects an ISO 8601 date-time with a zone, e.g. 2025-07-01T08:30:00Z (got "
                "'%s')\n",
                o->context_time);
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

/* "http://HOST:PORT" of the admin REST listener, as the OpenAPI document names it: a wildcard
 * address is reached on loopback from this machine, an IPv6 one in brackets. */
#define ADMIN_URL_MAX 320
static void admin_base_url(const char *host, int port, char *out, size_t len)
{
    if (strcmp(host, "0.0.0.0") == 0)
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0)
        host = "::1";
    snprintf(out, len, strchr(host, ':') != NULL ? "http://[%s]:%d" : "http://%s:%d", host, port);
}

/* --check-config: validates the document (file, URL or the embedded demo), prints every problem
 * with its JSON path, and with --print-openapi writes the OpenAPI document to stdout (the report
 * then goes to stderr). Returns the exit status. */
static int check_config(const options *o)
{
    /* with --print-openapi stdout is the document only */
    FILE *report = o->print_openapi ? stderr : stdout;
    char *text = NULL, err[1024];
    size_t len = 0;
    const char *source = o->config_path != NULL ? o->config_path : "the embedded demo configuration";
    if (o->config_path != NULL && pz_config_source_read(o->config_path, 0, &text, &len, err, sizeof err) != 0) {
        fprintf(report, "error: $: %s\nconfiguration %s is invalid: 1 error(s)\n", err, source);
        return 1;
    }
    if (o->config_path == NULL) {
        const char *demo = pz_demo_config(&len);
        text = pz_strndup(demo, len);
    }
    pz_config_problems problems;
    pz_config_problems_init(&problems);
    pz_config *cfg = pz_config_parse(text, len, &problems);
    free(text);
    print_problems(&problems, report);
    int status = 0;
    if (cfg != NULL) {
        fprintf(report, "configuration %s is valid: version %s, %zu namespace(s), %zu warning(s)\n", source,
                pz_config_version(cfg) ? pz_config_version(cfg) : "(none)", pz_config_namespace_count(cfg),
                problems.n - problems.n_errors);
    } else {
        fprintf(report, "configuration %s is invalid: %zu error(s)\n", source, problems.n_errors);
        status = 1;
    }
    pz_config_problems_free(&problems);
    if (cfg != NULL && o->print_openapi) {
        pz_buf doc;
        pz_buf_init(&doc, PZ_DOCS_MAX_DOCUMENT_BYTES);
        char admin_url[ADMIN_URL_MAX];
        admin_base_url(o->admin_host, o->admin_port, admin_url, sizeof admin_url);
        if (pz_openapi_write(cfg, o->openapi_server, admin_url, &doc) != 0 ||
            fwrite(doc.data, 1, doc.len, stdout) != doc.len || fflush(stdout) != 0) {
            fprintf(stderr, "error: cannot write the OpenAPI document\n");
            status = 1;
        }
        pz_buf_free(&doc);
    }
    pz_config_unref(cfg);
    return status;
}

/* The admin API's event callbacks (pz_admin_events). GetEventStats (GET /admin/events/stats on the
 * admin port) is the pipeline's statistics with the event logs' consumers added as "eventLogs"
 * (the pipeline's object is closed last, so its '}' makes room for the member). */
typedef struct events_stats_ctx {
    pz_events_runtime *events;
    pz_event_log *event_log;
} events_stats_ctx;

static pz_status events_stats(void *ctx, pz_buf *out, char *err, size_t errlen)
{
    events_stats_ctx *c = ctx;
    pz_status status = pz_events_runtime_stats(c->events, out, err, errlen);
    if (status == PZ_OK && out->len > 0 && out->data[out->len - 1] == '}') {
        out->len--;
        pz_buf_append_str(out, ",\"eventLogs\":");
        pz_event_log_stats_json(c->event_log, out);
        pz_buf_append_char(out, '}');
    }
    return status;
}

static pz_status events_dead_letters(void *ctx, const char *target, size_t limit, pz_buf *out, char *err, size_t errlen)
{
    return pz_events_runtime_dead_letters(((events_stats_ctx *)ctx)->events, target, limit, out, err, errlen);
}

static pz_status events_replay(void *ctx, const char *target, uint64_t seq, pz_buf *out, char *err, size_t errlen)
{
    return pz_events_runtime_replay(((events_stats_ctx *)ctx)->events, target, seq, out, err, errlen);
}

/* The event log's purge callback: ctx is main's service pointer, set before consumers start. */
static void purge_user(void *ctx, const char *ns, const char *user_id)
{
    pz_service *svc = *(pz_service **)ctx;
    if (svc != NULL)
        pz_service_purge_user(svc, ns, user_id);
}

typedef struct health_ctx {
    pz_config_holder *holder;
    pz_builtin *builtin;
} health_ctx;

/* GET /healthz: 200 while serving. DEGRADED (still 200: every query is answered) when the builtin
 * recommender cannot write what it learns; the "builtin" member says why. */
static int health(void *ctx, pz_buf *out)
{
    const health_ctx *h = ctx;
    pz_config *cfg = pz_config_holder_acquire(h->holder);
    unsigned long reloads = 0, rejected = 0;
    pz_config_holder_stats(h->holder, &reloads, &rejected);
    pz_builtin_stats bs;
    pz_builtin_stats_get(h->builtin, &bs);
    const char *version = pz_config_version(cfg);
    /* the version is operator-written text: escaped like every JSON string we emit */
    pz_buf_printf(out, "{\"status\":\"%s\",\"configVersion\":", bs.full ? "DEGRADED" : "SERVING");
    pz_json_write_string(out, version != NULL ? version : "", version != NULL ? strlen(version) : 0);
    pz_buf_printf(out,
                  ",\"namespaces\":%zu,\"configReloads\":%lu,\"configRejected\":%lu,"
                  "\"builtin\":{\"state\":\"%s\",\"flushFailures\":%llu,\"lastError\":",
                  pz_config_namespace_count(cfg), reloads, rejected, bs.full ? "degraded" : "ok",
                  (unsigned long long)bs.flush_failures);
    if (bs.full)
        pz_json_write_string(out, bs.last_error, strlen(bs.last_error));
    else
        pz_buf_append_str(out, "null");
    pz_buf_append_str(out, "}}");
    pz_config_unref(cfg);
    return 200;
}

static int builtin_stats(void *ctx, pz_buf *out)
{
    pz_builtin_stats_json(ctx, out);
    return 200;
}

/* What SIGHUP reloads. */
typedef struct reloadable {
    pz_config_source *config;
    pz_http_server *http;
    pz_grpc_server *grpc;
    bool tls;
} reloadable;

/* The certificate files of both public fronts, for new connections; open ones keep theirs. */
static void reload_tls(const reloadable *r)
{
    char err[512];
    if (pz_http_server_reload_tls(r->http, err, sizeof err) != 0)
        pz_error_log("SIGHUP: REST keeps its certificate: %s", err);
    else if (pz_grpc_server_reload_tls(r->grpc, err, sizeof err) != 0)
        pz_error_log("SIGHUP: gRPC keeps its certificate: %s", err);
    else
        pz_info("SIGHUP: certificates reloaded for new connections");
}

/* Serves signals until SIGINT or SIGTERM: SIGHUP reloads the configuration from its source and
 * the certificates. */
static void wait_for_shutdown(const sigset_t *signals, const reloadable *r)
{
    for (;;) {
        int sig = 0;
        if (sigwait(signals, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            pz_info("SIGHUP: reloading the configuration");
            pz_config_source_reload(r->config);
            if (r->tls)
                reload_tls(r);
            continue;
        }
        pz_info("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
        return;
    }
}

/* GET /metrics on the admin port. */
static int metrics_page(void *ctx, pz_buf *out)
{
    return pz_metrics_render(ctx, out) == 0 ? 200 : 500;
}

static int cache_stats(void *ctx, pz_buf *out)
{
    return pz_service_cache_stats(ctx, out);
}

static void handle_request(void *ctx, pz_request *req)
{
    pz_service_handle(ctx, req);
}

static void authorize_admin(void *ctx, pz_request *req)
{
    pz_service_admit_admin(ctx, req);
}

static int auth_stats(void *ctx, pz_buf *out)
{
    return pz_auth_stats_json(ctx, out) == 0 ? 200 : 500;
}

/* One server per data directory: two would share LMDB environments and the event outbox, each
 * believing it owns them. An exclusive flock on DATA-DIR/.lock, held for the life of the process
 * (the descriptor is never closed; the kernel drops the lock when the process ends, however it
 * ends). The catalog and events CLIs do not take it: they are built to work beside a server. */
#define DATA_DIR_LOCK ".lock"
static int lock_data_dir(const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/" DATA_DIR_LOCK, dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s/" DATA_DIR_LOCK ": %s", dir, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            snprintf(err, errlen,
                     "another personalization-server is using the data directory %s (%s/" DATA_DIR_LOCK
                     " is locked); not starting",
                     dir, dir);
        else
            snprintf(err, errlen, "cannot lock %s/" DATA_DIR_LOCK ": %s", dir, strerror(errno));
        close(fd);
        return -1;
    }
    return 0;
}

/* Descriptors the server may need beyond its connections: LMDB environments, the outbox, event
 * targets, log and config files, epoll and event descriptors. */
#define FD_RESERVE 256

/* Raises the soft descriptor limit to the hard one (the connection caps need descriptors: one per
 * REST connection, PZ_GRPC_DESCRIPTORS_PER_CONNECTION per gRPC connection, or
 * PZ_GRPC_DESCRIPTORS_PER_TLS_CONNECTION with TLS) and warns when the caps cannot all be met; the
 * fronts then pause accepting at the limit instead of failing. */
static void raise_descriptor_limit(const options *o)
{
    const int per_grpc =
        o->tls_cert != NULL ? PZ_GRPC_DESCRIPTORS_PER_TLS_CONNECTION : PZ_GRPC_DESCRIPTORS_PER_CONNECTION;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    unsigned long long need = (unsigned long long)o->http_max_connections +
                              (unsigned long long)per_grpc * o->grpc_max_connections +
                              (1ull + (unsigned long long)per_grpc) * o->admin_max_connections + FD_RESERVE;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        pz_warn(
            "the descriptor limit (%llu) is below what the connection caps need (%llu: --http-max-connections + "
            "%d x --grpc-max-connections + %d x --admin-max-connections + %d); at the limit the fronts pause accepting",
            (unsigned long long)rl.rlim_cur, need, per_grpc, 1 + per_grpc, FD_RESERVE);
}

/* The admin API: its handlers, REST on --admin-port (with /metrics and /healthz) and the gRPC
 * AdminService on --admin-grpc-port, on --admin-host. Both are the fronts' own servers, with their
 * guards; each holds at most --admin-max-connections connections (per client too: the admin port
 * has few clients), the timeouts are the public fronts'. */
typedef struct admin_api {
    pz_admin *admin;
    pz_http_server *http;
    pz_grpc_server *grpc;
    int http_port; /* bound */
} admin_api;

/* /metrics renders every family; a large configuration's label sets make it long. */
#define METRICS_PAGE_MAX_BYTES (64u << 20)

/* The gRPC fronts' connection counts (/metrics): for the process's life, so a scrape never reads a
 * front that is being stopped. */
static pz_grpc_accept_stats grpc_public_stats = {.api = "public"};
static pz_grpc_accept_stats grpc_admin_stats = {.api = "admin"};
static pz_grpc_accept_stats *grpc_stats[] = {&grpc_public_stats, &grpc_admin_stats, NULL};

/* --grpc-relay-threads, auto resolved: one in plaintext; with TLS one per CPUS_PER_TLS_RELAY_THREAD
 * CPUs, at least one. */
static int relay_threads(const options *o)
{
    if (o->grpc_relay_threads > 0)
        return (int)o->grpc_relay_threads;
    if (o->tls_cert == NULL)
        return 1;
    int n = pz_machine_cpus() / CPUS_PER_TLS_RELAY_THREAD;
    return n < 1 ? 1 : n > PZ_GRPC_MAX_RELAY_THREADS ? PZ_GRPC_MAX_RELAY_THREADS : n;
}

/* What the admin REST listener answers itself; every row but /healthz needs the `admin` scope
 * (pz_service_admit_admin), like the AdminService RPCs (pz_admin_options.admit). */
typedef struct admin_wiring {
    health_ctx *health;
    pz_metrics *metrics;
    pz_service *svc;
    pz_auth *auth;
    pz_builtin *builtin;
} admin_wiring;

static int start_admin(const options *o, const pz_admin_options *aopts, const admin_wiring *w, admin_api *a, char *err,
                       size_t errlen)
{
    a->admin = pz_admin_create(aopts);
    int http_port = 0, grpc_port = 0;
    pz_http_options hopts = {.api = PZ_API_ADMIN,
                             .host = o->admin_host,
                             .port = o->admin_port,
                             .threads = 1,
                             .max_body_bytes = PZ_ADMIN_MAX_BODY_BYTES,
                             .handle = pz_admin_handle,
                             .handle_ctx = a->admin,
                             .authorize_admin = authorize_admin,
                             .authorize_admin_ctx = w->svc,
                             .health = health,
                             .health_ctx = w->health,
                             .metrics = metrics_page,
                             .metrics_ctx = w->metrics,
                             .auth_stats = auth_stats,
                             .auth_stats_ctx = w->auth,
                             .builtin_stats = builtin_stats,
                             .builtin_stats_ctx = w->builtin,
                             .max_local_body_bytes = METRICS_PAGE_MAX_BYTES,
                             .refuse_browsers = true,
                             .max_connections = o->admin_max_connections,
                             .max_connections_per_client = o->admin_max_connections,
                             .idle_timeout_ms = o->http_idle_timeout_ms,
                             .max_header_bytes = o->http_max_header_bytes,
                             .shutdown_grace_ms = o->shutdown_grace_ms};
    if (pz_http_server_start(&hopts, &a->http, &http_port, err, errlen) != 0)
        return -1;
    a->http_port = http_port;
    char addr[300];
    snprintf(addr, sizeof addr, strchr(o->admin_host, ':') ? "[%s]:%d" : "%s:%d", o->admin_host, o->admin_grpc_port);
    pz_grpc_options gopts = {.api = PZ_API_ADMIN,
                             .address = addr,
                             .threads = 1,
                             .stats = &grpc_admin_stats,
                             /* the public server's threads do its I/O: it is stopped before them */
                             .non_polling = true,
                             .max_message_bytes = PZ_ADMIN_MAX_BODY_BYTES + (1u << 20),
                             .handle = pz_admin_handle,
                             .handle_ctx = a->admin,
                             .stop_grace_ms = o->shutdown_grace_ms,
                             .max_connections = o->admin_max_connections,
                             .max_connections_per_client = o->admin_max_connections,
                             .max_concurrent_streams = o->grpc_max_streams,
                             .handshake_timeout_ms = o->grpc_handshake_timeout_ms,
                             .idle_timeout_ms = o->grpc_idle_timeout_ms,
                             .max_connection_age_ms = o->grpc_max_connection_age_ms,
                             .max_cancels_per_sec = o->grpc_max_cancels_per_sec};
    if (pz_grpc_server_start(&gopts, &a->grpc, &grpc_port, err, errlen) != 0)
        return -1;
    pz_info("admin listening on http://%s:%d (REST /admin/..., /metrics, /healthz) and gRPC %s:%d "
            "(personalization.v1.AdminService)",
            o->admin_host, http_port, o->admin_host, grpc_port);
    return 0;
}

/* The admin gRPC server alone (its queued requests answered first): it does no I/O of its own
 * (pz_grpc_options.non_polling), so it goes before the public gRPC server. */
static void stop_admin_grpc(admin_api *a)
{
    if (a->grpc == NULL)
        return;
    if (a->admin != NULL)
        pz_admin_shutdown(a->admin);
    pz_grpc_server_stop(a->grpc);
    a->grpc = NULL;
}

static void stop_admin(admin_api *a)
{
    if (a->admin != NULL)
        pz_admin_shutdown(a->admin);
    pz_http_server_stop(a->http);
    if (a->grpc != NULL)
        pz_grpc_server_stop(a->grpc);
    pz_admin_destroy(a->admin);
    *a = (admin_api){0};
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
    if (argc > 1 && pz_catalog_cli_is_command(argv[1]))
        return pz_catalog_cli_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "events") == 0)
        return pz_events_cli_main(argc - 1, argv + 1, stdout, stderr);
    if (argc > 1 && strcmp(argv[1], "config") == 0)
        return pz_config_cli_main(argc - 1, argv + 1, stdout, stderr);
    if (argc > 1 && strcmp(argv[1], "generate-config") == 0)
        return pz_generate_config_main(argc - 1, argv + 1, stdout, stderr);
    if (argc > 1 && strcmp(argv[1], PZ_AUTH_CLI_COMMAND) == 0)
        return pz_auth_cli_main(argc - 1, argv + 1, stdout, stderr);
    if (argc > 1 && strcmp(argv[1], "experiments") == 0)
        return pz_experiments_cli_main(argc - 1, argv + 1, stdout, stderr);
    if (argc > 1 && pz_import_cli_is_command(argv[1]))
        return pz_import_cli_main(argc, argv, stdout, stderr);
    int rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;

    if (o.check_config)
        return check_config(&o);

    /* Signals are handled by sigwait in this thread only: block them before any thread starts so
     * every thread (gRPC's and h2o's included) inherits the mask. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    /* The data directory is this process's before anything is written to it (the config history
     * included). */
    char builtin_dir[PATH_MAX];
    snprintf(builtin_dir, sizeof builtin_dir, "%s/builtin", o.data_dir);
    if (pz_make_dirs(builtin_dir) != 0) {
        pz_error_log("cannot create the data directory %s: %s", builtin_dir, strerror(errno));
        return 1;
    }
    if (lock_data_dir(o.data_dir, err, sizeof err) != 0) {
        pz_error_log("%s", err);
        return 1;
    }
    raise_descriptor_limit(&o);
    pz_config_source *config = NULL;
    size_t demo_config_len = 0;
    const char *demo_config = pz_demo_config(&demo_config_len);
    pz_config_source_options copts = {.location = o.config_path,
                                      .embedded = demo_config,
                                      .embedded_len = demo_config_len,
                                      .embedded_name = "demo",
                                      .data_dir = o.data_dir,
                                      .history_keep = o.config_history,
                                      .watch_ms = o.config_watch_ms,
                                      .poll_ms = o.config_poll_ms};
    if (pz_config_source_open(&copts, &config, err, sizeof err) != 0) {
        pz_error_log("%s; not starting", err);
        return 1;
    }
    pz_config_holder *holder = pz_config_source_holder(config);
    pz_config *cfg = pz_config_holder_acquire(holder);
    pz_info("configuration %s: version %s, %zu namespace(s)", pz_config_source_name(config),
            pz_config_version(cfg) ? pz_config_version(cfg) : "(none)", pz_config_namespace_count(cfg));
    pz_config_unref(cfg);
    pz_config_source_start(config);

    /* Metrics: the registry, and the requests' recorder as the hook every finished request calls. */
    pz_metrics *metrics = pz_metrics_create();
    pz_request_metrics *request_metrics = NULL;
    if (o.metrics) {
        request_metrics = pz_request_metrics_create(metrics);
        pz_request_set_finished_hook(pz_request_metrics_record, request_metrics);
        o.upstream.metrics = metrics;
    }
    admin_api admin = {0};

    int exit_code = 1;
    pz_builtin *builtin = NULL;
    pz_recommenders *recommenders = NULL;
    pz_service *svc = NULL;
    pz_grpc_server *grpc = NULL;
    pz_http_server *http = NULL;
    pz_docs *docs = NULL;
    pz_catalog_runtime *items = NULL;
    pz_cache *cache = NULL;
    pz_events_runtime *events = NULL;
    pz_event_log *event_log = NULL;
    pz_experiments *experiments = NULL;
    pz_aws *aws = NULL;
    pz_geoip *geoip = NULL;
    pz_tz_db *tz = pz_tz_db_create(NULL);
    pz_auth *auth = NULL;
    pz_builtin_options bopts;
    pz_builtin_options_default(&bopts);
    bopts.max_size_mb = o.builtin_max_mb;
    bopts.pending_mb = o.builtin_memory_mb;
    bopts.flush_interval_ms = o.builtin_flush_ms;
    bopts.retry_ms = o.builtin_flush_ms; /* a failed write is retried at the same pace */
    bopts.max_size_name = "--builtin-max-mb";
    if (pz_builtin_open(builtin_dir, &bopts, &builtin, err, sizeof err) != 0) {
        pz_error_log("cannot open the builtin recommender store: %s", err);
        goto out;
    }
    if (o.demo) {
        size_t len;
        const char *history = pz_demo_events(&len);
        long n = pz_builtin_seed(builtin, DEMO_NAMESPACE, history, len, pz_now_ms(), err, sizeof err);
        if (n < 0) {
            pz_error_log("cannot seed the demo history: %s", err);
            goto out;
        }
        if (n > 0)
            pz_info("demo: seeded %ld events into namespace '%s'", n, DEMO_NAMESPACE);
    }

    /* The A/B counts: applied by the event pipeline, read by the service. */
    char experiments_dir[PATH_MAX];
    snprintf(experiments_dir, sizeof experiments_dir, "%s/experiments", o.data_dir);
    if (pz_experiments_open(experiments_dir, 0, &experiments, err, sizeof err) != 0) {
        pz_error_log("cannot open the experiment store: %s", err);
        goto out;
    }

    /* The namespace event logs (issue 18): opened before the outbox delivers anything, since it
     * sets the origin id every produced message carries; consumers start once the service exists
     * (they purge its cache). */
    char event_log_dir[PATH_MAX];
    snprintf(event_log_dir, sizeof event_log_dir, "%s/eventlog", o.data_dir);
    pz_event_log_options lopts = {.dir = event_log_dir,
                                  .config = holder,
                                  .learner = pz_builtin_learner(builtin),
                                  .experiments = pz_experiments_port(experiments),
                                  .purge = purge_user,
                                  .purge_ctx = &svc};
    if (pz_event_log_open(&lopts, &event_log, err, sizeof err) != 0) {
        pz_error_log("%s", err);
        goto out;
    }

    /* The process's one AWS credentials provider, for the event targets and the recommenders. */
    aws = pz_aws_create();
    if (pz_events_runtime_start(o.data_dir, o.outbox_map_mb, pz_builtin_learner(builtin),
                                pz_experiments_port(experiments), holder, aws, &events, err, sizeof err) != 0) {
        pz_error_log("cannot open the event outbox: %s", err);
        goto out;
    }

    if (o.cache_bytes > 0)
        cache = pz_cache_create(&(pz_cache_options){.capacity_bytes = o.cache_bytes, .purge_settle_ms = -1});
    size_t demo_items_len = 0;
    const char *demo_items = pz_demo_items(&demo_items_len);
    pz_catalog_runtime_options iopts = {.data_dir = o.data_dir,
                                        .config = holder,
                                        .demo_namespace = o.demo ? DEMO_NAMESPACE : NULL,
                                        .demo_items = demo_items,
                                        .demo_items_len = demo_items_len,
                                        .import_poll_ms = o.import_poll_ms,
                                        .cache = cache};
    if (pz_catalog_runtime_start(&iopts, &items, err, sizeof err) != 0) {
        pz_error_log("cannot open the item catalog: %s", err);
        goto out;
    }
    /* Automatic context: the default zone must resolve, the GeoIP database must open. */
    if (pz_tz_db_zone(tz, o.default_time_zone, strlen(o.default_time_zone)) == NULL) {
        pz_error_log("--default-time-zone %s: no such time zone (IANA names such as Europe/Berlin; is tzdata "
                     "installed?)",
                     o.default_time_zone);
        goto out;
    }
    pz_viewer_env viewer = {.tz = tz, .default_zone = o.default_time_zone};
    if (o.geoip_db != NULL) {
        if (pz_geoip_open(o.geoip_db, &geoip, err, sizeof err) != 0) {
            pz_error_log("%s", err);
            goto out;
        }
        viewer.geo = pz_geoip_port(geoip);
        pz_info("GeoIP database %s (%s)", o.geoip_db, pz_geoip_type(geoip));
    }
    if (o.context_time != NULL) {
        viewer.has_fixed_now = pz_iso8601_parse(o.context_time, &viewer.fixed_now_ms);
        pz_warn("--context-time %s: time rules of automatic context see this instant, not the clock (testing aid)",
                o.context_time);
    }
    recommenders =
        pz_recommenders_create(&(pz_recommenders_options){.builtin = builtin, .aws = aws, .upstream = &o.upstream});
    /* API keys and signing keys are loaded before the fronts open; later configurations' on the
     * watcher thread. */
    auth = pz_auth_create(&(pz_auth_options){.config = holder});
    pz_auth_prepare(auth, cfg);
    pz_service_options sopts = {.config = holder,
                                .recommender = pz_recommenders_port(recommenders),
                                .authenticator = pz_auth_port(auth),
                                .events = pz_events_runtime_sink(events),
                                .experiments = pz_experiments_port(experiments),
                                .cache = cache,
                                .render_json = pz_message_to_json,
                                .viewer = viewer};
    sopts.item_metadata[PZ_ITEM_METADATA_LOCALDB] = pz_catalog_runtime_localdb(items);
    sopts.history = pz_builtin_history(builtin);
    sopts.page_store_bytes = o.page_store_bytes;
    sopts.item_metadata[PZ_ITEM_METADATA_DYNAMODB] = pz_recommenders_dynamodb_backend(recommenders);
    sopts.item_metadata[PZ_ITEM_METADATA_PERSONALIZE] = pz_recommenders_personalize_backend(recommenders);
    svc = pz_service_create(&sopts);
    pz_event_log_start(event_log);

    /* The admin API before the public fronts: the OpenAPI document names its listener. */
    health_ctx hctx = {.holder = holder, .builtin = builtin};
    events_stats_ctx stats_ctx = {.events = events, .event_log = event_log};
    /* Collectors read the other packages' state at scrape time; all of it exists from here on. */
    pz_metrics_add_collector(metrics, pz_config_source_collect_metrics, config);
    pz_metrics_add_collector(metrics, pz_service_collect_metrics, svc);
    pz_metrics_add_collector(metrics, pz_events_runtime_collect_metrics, events);
    pz_metrics_add_collector(metrics, pz_catalog_runtime_collect_metrics, items);
    pz_metrics_add_collector(metrics, pz_process_metrics_collect, NULL);
    pz_metrics_add_collector(metrics, pz_grpc_accept_stats_collect, grpc_stats);
    pz_admin_options aopts = {
        .config = holder,
        .history = pz_config_source_history(config),
        .cache = cache,
        .cache_stats = cache_stats,
        .cache_stats_ctx = svc,
        .catalog = {items, pz_catalog_runtime_status, pz_catalog_runtime_upsert, pz_catalog_runtime_delete},
        .events = {&stats_ctx, events_stats, events_dead_letters, events_replay},
        .admit = authorize_admin,
        .admit_ctx = svc,
    };
    admin_wiring aw = {.health = &hctx, .metrics = metrics, .svc = svc, .auth = auth, .builtin = builtin};
    if (start_admin(&o, &aopts, &aw, &admin, err, sizeof err) != 0) {
        pz_error_log("cannot start the admin API: %s", err);
        goto out;
    }
    char admin_url[ADMIN_URL_MAX];
    admin_base_url(o.admin_host, admin.http_port, admin_url, sizeof admin_url);

    char addr[300];
    snprintf(addr, sizeof addr, strchr(o.host, ':') ? "[%s]:%d" : "%s:%d", o.host, o.grpc_port);
    int grpc_port = 0;
    pz_grpc_options gopts = {.address = addr,
                             .threads = o.grpc_threads,
                             .relay_threads = relay_threads(&o),
                             .stats = &grpc_public_stats,
                             .max_message_bytes = o.max_body_bytes * 4,
                             .handle = handle_request,
                             .handle_ctx = svc,
                             .stop_grace_ms = o.shutdown_grace_ms,
                             .max_connections = o.grpc_max_connections,
                             .max_connections_per_client = o.max_connections_per_client,
                             .max_concurrent_streams = o.grpc_max_streams,
                             .handshake_timeout_ms = o.grpc_handshake_timeout_ms,
                             .idle_timeout_ms = o.grpc_idle_timeout_ms,
                             .max_connection_age_ms = o.grpc_max_connection_age_ms,
                             .memory_bytes = o.grpc_memory_mb << 20,
                             .max_cancels_per_sec = o.grpc_max_cancels_per_sec,
                             .tls_cert_file = o.tls_cert,
                             .tls_key_file = o.tls_key,
                             .tls_client_ca_file = o.tls_client_ca};
    if (pz_grpc_server_start(&gopts, &grpc, &grpc_port, err, sizeof err) != 0) {
        pz_error_log("cannot start the gRPC server: %s", err);
        goto out;
    }
    int http_port = 0;
    docs = pz_docs_create(&(pz_docs_options){
        .holder = holder, .server_url = o.openapi_server, .admin_url = admin_url, .swagger_ui_dir = o.swagger_ui_dir});
    pz_http_options hopts = {.host = o.host,
                             .port = o.http_port,
                             .threads = o.http_threads,
                             .max_body_bytes = o.max_body_bytes,
                             .tls_cert_file = o.tls_cert,
                             .tls_key_file = o.tls_key,
                             .tls_client_ca_file = o.tls_client_ca,
                             .cors_allow_origin = o.cors_origin,
                             .compress_min_bytes = o.compress_min_bytes,
                             .handle = handle_request,
                             .handle_ctx = svc,
                             .health = health,
                             .health_ctx = &hctx,
                             .docs = docs,
                             .max_connections = o.http_max_connections,
                             .max_connections_per_client = o.max_connections_per_client,
                             .idle_timeout_ms = o.http_idle_timeout_ms,
                             .max_header_bytes = o.http_max_header_bytes,
                             .shutdown_grace_ms = o.shutdown_grace_ms};
    if (pz_http_server_start(&hopts, &http, &http_port, err, sizeof err) != 0) {
        pz_error_log("cannot start the REST server: %s", err);
        goto out;
    }
    const char *scheme = o.tls_cert != NULL ? "https" : "http";
    pz_info("REST  listening on %s://%s:%d (%s, %d loop thread(s))", scheme, o.host, http_port,
            o.tls_cert != NULL ? "HTTP/1.1 and h2 over TLS" : "HTTP/1.1 and h2c", o.http_threads);
    pz_info("gRPC  listening on %s:%d (personalization.v1.PersonalizationService, health, reflection; %d "
            "thread(s), %d relay thread(s)%s)",
            o.host, grpc_port, o.grpc_threads, gopts.relay_threads,
            o.tls_cert != NULL ? "; TLS terminated in the connection relay, h2 via ALPN" : "");

    reloadable r = {.config = config, .http = http, .grpc = grpc, .tls = o.tls_cert != NULL};
    wait_for_shutdown(&signals, &r);
    exit_code = 0;

out:
    /* Order: the service drains first (every accepted event written and answered while both fronts
     * still run), then the fronts stop, then the admin API (nothing scrapes or administers what is
     * torn down next), then what they used. */
    if (svc != NULL)
        pz_service_shutdown(svc);
    pz_http_server_stop(http);
    pz_docs_destroy(docs);   /* after the loops that send its kept bodies */
    stop_admin_grpc(&admin); /* before the public gRPC server, whose threads do its I/O */
    if (grpc != NULL)
        pz_grpc_server_stop(grpc);
    stop_admin(&admin);
    if (event_log != NULL) { /* its consumers apply to the builtin model and purge the service's cache */
        pz_buf stats;
        pz_buf_init(&stats, 4096);
        pz_event_log_stats_json(event_log, &stats);
        pz_info("event log: %s", stats.data);
        pz_buf_free(&stats);
    }
    pz_event_log_close(event_log);
    if (svc != NULL) {
        pz_buf stats;
        pz_buf_init(&stats, 4096);
        if (pz_service_cache_stats(svc, &stats) == 0)
            pz_info("response cache: %s", stats.data);
        pz_buf_free(&stats);
    }
    pz_service_destroy(svc);
    pz_auth_destroy(auth);                 /* drained by the service's shutdown */
    pz_recommenders_destroy(recommenders); /* drained by the service's shutdown */
    pz_events_runtime_stop(events);        /* delivery stops after the service drained; progress is stored */
    pz_experiments_close(experiments);     /* after the pipeline that applies to it */
    pz_aws_destroy(aws);                   /* after everything that signs calls */
    pz_catalog_runtime_stop(items);
    pz_cache_destroy(cache);
    pz_geoip_close(geoip); /* after the service: no lookup runs any more */
    pz_tz_db_destroy(tz);
    if (builtin != NULL)
        pz_builtin_close(builtin);
    pz_config_source_destroy(config);
    pz_request_set_finished_hook(NULL, NULL);
    pz_request_metrics_destroy(request_metrics);
    pz_metrics_destroy(metrics);
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
