#include "server/grpc/grpc_server.h"

#include <errno.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/descriptor_set.h"
#include "server/core/hints.h"
#include "server/core/log.h"
#include "server/core/percent.h"
#include "server/grpc/accept.h"
#include "server/grpc/health.h"
#include "server/grpc/reflection.h"
#include "server/net/tls_context.h"

/* pz_grpc_options.max_message_bytes 0: grpc's own default receive limit, 4 MiB. */
#define DEFAULT_MAX_MESSAGE (4u << 20)
/* pz_grpc_options.stop_grace_ms 0: long enough for calls in flight to finish normally (the builtin
 * answers in milliseconds, an event write within a group commit), short enough that a stop is not
 * held up by a slow upstream; such calls are cancelled. */
#define DEFAULT_GRACE_MS 2000

/* Defaults of the limits (pz_grpc_options fields left 0); README "Security and limits" lists them
 * with their flags. */
/* Backends keep a pool of a few connections each; a thousand serves hundreds of them, and costs
 * PZ_GRPC_DESCRIPTORS_PER_CONNECTION descriptors each (PZ_GRPC_DESCRIPTORS_PER_TLS_CONNECTION over
 * TLS). */
#define DEFAULT_MAX_CONNECTIONS PZ_GRPC_DEFAULT_MAX_CONNECTIONS
/* Enough for a pool behind one NAT or proxy address, well below the total. */
#define DEFAULT_MAX_CONNECTIONS_PER_CLIENT PZ_GRPC_DEFAULT_MAX_CONNECTIONS_PER_CLIENT
/* The common HTTP/2 default (nginx 128, Go 250, Envoy 100): each open stream is a call that holds
 * memory until the client finishes it. */
#define DEFAULT_MAX_CONCURRENT_STREAMS PZ_GRPC_DEFAULT_MAX_CONCURRENT_STREAMS
/* A client sends the preface right after connecting; 10 s covers slow networks, grpc's own
 * default (120 s) lets idle sockets pile up. */
#define DEFAULT_HANDSHAKE_TIMEOUT_MS PZ_GRPC_DEFAULT_HANDSHAKE_TIMEOUT_MS
/* Idle connections cost a descriptor and buffers; clients reconnect transparently after GOAWAY. */
#define DEFAULT_IDLE_TIMEOUT_MS PZ_GRPC_DEFAULT_IDLE_TIMEOUT_MS
/* Connections are recycled so load spreads after scaling and no connection lives forever; calls
 * in flight get the grace period to finish. */
#define DEFAULT_MAX_AGE_MS PZ_GRPC_DEFAULT_MAX_AGE_MS
#define DEFAULT_MAX_AGE_GRACE_MS 30000
/* grpc core's memory quota: its reclaimers shrink transport buffers under it. It does not bound the
 * calls themselves (a 60,000-stream flood grew RSS by 596 MB under a 16 MiB quota; README "Security
 * and limits"): the stream limit and the connection caps do. */
#define DEFAULT_MEMORY_BYTES ((size_t)PZ_GRPC_DEFAULT_MEMORY_MB << 20)
/* A legitimate client cancels a handful of calls a second (deadlines: each is a RST_STREAM); a
 * rapid-reset flood cancels thousands. A burst of as many is allowed. */
#define DEFAULT_MAX_CANCELS_PER_SEC PZ_GRPC_DEFAULT_MAX_CANCELS_PER_SEC
/* Keepalive pings find dead peers holding calls; every minute is cheap, 20 s without an answer
 * means the peer is gone. */
#define KEEPALIVE_TIME_MS 60000
#define KEEPALIVE_TIMEOUT_MS 20000

/* Requests kept posted per method (each is one-shot and re-posted as its call arrives): calls that
 * can arrive in one burst before a worker re-posts; grpc keeps any beyond that waiting until then,
 * at a cost (its pending list's locks). Each posted request is not free either: with grpc 1.51 as
 * Debian builds it, the work of every completion grows with the tags outstanding on the queue
 * (grpc's completion queue keeps and searches a list of them when built without NDEBUG): a hit's
 * two completions took 2,325 instructions with 208 requests posted, 1,532 with 142, against 1,023
 * for a bare server with 128 (callgrind; README "Performance"). So the serving RPCs, which carry
 * the traffic, keep a burst's worth; the experiment reads and the admin API (dashboards,
 * operators) a few; health probes are few; reflection is for tools; unknown methods are mistakes,
 * answered at once. */
#define PREPOSTED_SERVING 32
#define PREPOSTED_OCCASIONAL 4
#define PREPOSTED_HEALTH 2
#define PREPOSTED_REFLECTION 1
#define PREPOSTED_UNKNOWN 2

/* The RPCs that carry the traffic; every other one is occasional. */
static const bool SERVING_RPC[PZ_RPC__COUNT] = {
    [PZ_RPC_RECOMMEND_ITEMS] = true,
    [PZ_RPC_RELATED_ITEMS] = true,
    [PZ_RPC_RERANK_ITEMS] = true,
    [PZ_RPC_PUT_EVENTS] = true,
};

#define NS_PER_MS 1000000L
#define MS_PER_SEC 1000
#define NS_PER_SEC 1000000000L

/* Every tag on the completion queue is a srv_tag; the worker calls fn with the event's success. */
typedef struct srv_tag srv_tag;
struct srv_tag {
    void (*fn)(srv_tag *tag, bool ok);
};

typedef enum call_kind { CALL_RPC, CALL_HEALTH, CALL_REFLECTION, CALL_UNKNOWN } call_kind;

/* A method calls are requested for: one per RPC, health Check, both reflection versions, and the
 * catch-all (path NULL) that answers UNIMPLEMENTED. */
typedef struct srv_method {
    call_kind kind;
    pz_rpc rpc;
    const char *path;
    const char *log_name;
    int preposted; /* requests kept posted (each is one-shot, re-posted as a call arrives) */
    void *registered;
} srv_method;

/* The methods served besides the RPCs; the catch-all (path NULL) answers any other method. */
static const srv_method SERVICE_METHODS[] = {
    {.kind = CALL_HEALTH,
     .path = PZ_HEALTH_CHECK_PATH,
     .log_name = "grpc.health.v1.Health/Check",
     .preposted = PREPOSTED_HEALTH},
    {.kind = CALL_REFLECTION,
     .path = PZ_REFLECTION_V1_PATH,
     .log_name = "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
     .preposted = PREPOSTED_REFLECTION},
    {.kind = CALL_REFLECTION,
     .path = PZ_REFLECTION_V1ALPHA_PATH,
     .log_name = "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
     .preposted = PREPOSTED_REFLECTION},
    {.kind = CALL_UNKNOWN, .log_name = "unknown", .preposted = PREPOSTED_UNKNOWN},
};
#define N_SERVICE_METHODS (sizeof SERVICE_METHODS / sizeof SERVICE_METHODS[0])
#define N_METHODS ((int)(PZ_RPC__COUNT + N_SERVICE_METHODS))

struct pz_grpc_server {
    grpc_server *server;
    pz_tls_context *tls; /* NULL: plaintext */
    pz_grpc_acceptor *acceptor;
    pz_conn_limits *limits;
    grpc_server_credentials *creds; /* insecure: the acceptor hands over plaintext (it terminates TLS) */
    grpc_resource_quota *quota;
    grpc_completion_queue *cq;
    pz_reflection *reflection;
    pz_handle_fn handle;
    void *handle_ctx;
    int grace_ms;
    srv_method methods[N_METHODS];
    int n_methods; /* the API's RPCs, then SERVICE_METHODS */
    pthread_t *threads;
    int n_threads;

    pthread_mutex_t mu;
    pthread_cond_t cond; /* signalled when shutdown_done is set or live drops to 0 */
    bool stopping;       /* no more requests are posted */
    bool shutdown_done;  /* the shutdown_and_notify tag arrived */
    size_t live;         /* srv_call contexts alive (posted, in flight or finishing) */
    srv_tag shutdown_tag;
};

typedef enum call_state { ST_REQUESTED, ST_HANDLING, ST_READING, ST_WRITING, ST_FINISHING } call_state;

/* Max metadata this front sends: at most one entry per hint row in initial metadata, 2 error
 * trailers. */
#define MAX_INITIAL_MD PZ_HINT_HEADERS_COUNT
#define MAX_TRAILING_MD (2 + PZ_ERROR_HINT_HEADERS_COUNT)

/* One call from request to release. Owned by whoever holds its current step: the CQ worker
 * (requested, reading, writing, finishing) or the core (handling, until on_done). */
typedef struct srv_call {
    srv_tag tag;
    pz_grpc_server *srv;
    const srv_method *method;
    call_state state;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_call_details details; /* catch-all only */
    grpc_byte_buffer *payload; /* unary request / last streamed message */
    grpc_byte_buffer *send;    /* response message of the batch in flight */
    pz_arena arena;
    pz_request req;
    const char *what; /* for the access log */
    bool sent_initial_md;
    int code;      /* grpc status sent */
    int cancelled; /* RECV_CLOSE_ON_SERVER result */
    grpc_metadata initial[MAX_INITIAL_MD];
    size_t n_initial;
    grpc_metadata trailing[MAX_TRAILING_MD];
    size_t n_trailing;
    grpc_slice details_slice;
    bool has_details;
} srv_call;

static void on_call_event(srv_tag *tag, bool ok);

/* --- context life cycle --- */

/* Call contexts released on a completion-queue thread are kept for that thread's next posts, with
 * their arena's first chunk: a hit then allocates neither, and no context is freed by a thread
 * other than the one that allocated it (with two or more threads, glibc's free of another thread's
 * memory takes that thread's arena lock, which showed as futex calls under load). */
/* A thread keeps at most this many: the calls it has in flight at once under load (a few dozen
 * preposted and arriving), not a burst's worth of memory for ever. */
#define RECYCLED_CALLS_MAX 64
static __thread bool on_cq_thread;
static __thread srv_call *recycled_calls; /* linked through their `srv` field, unused while kept */
static __thread int n_recycled_calls;

/* A zeroed context (a recycled one keeps its arena's first chunk). */
static srv_call *new_call(void)
{
    srv_call *c = recycled_calls;
    if (c == NULL) {
        c = pz_calloc(1, sizeof *c);
        pz_arena_init(&c->arena);
        return c;
    }
    recycled_calls = (srv_call *)c->srv;
    n_recycled_calls--;
    pz_arena arena = c->arena;
    memset(c, 0, sizeof *c);
    c->arena = arena;
    return c;
}

static void free_call(srv_call *c)
{
    if (on_cq_thread && n_recycled_calls < RECYCLED_CALLS_MAX) {
        pz_arena_recycle(&c->arena);
        c->srv = (pz_grpc_server *)recycled_calls;
        recycled_calls = c;
        n_recycled_calls++;
        return;
    }
    pz_arena_destroy(&c->arena);
    free(c);
}

/* A completion-queue thread ends: its kept contexts go. */
static void free_recycled_calls(void)
{
    while (recycled_calls != NULL) {
        srv_call *c = recycled_calls;
        recycled_calls = (srv_call *)c->srv;
        pz_arena_destroy(&c->arena);
        free(c);
    }
    n_recycled_calls = 0;
}

static void release_call(srv_call *c)
{
    pz_grpc_server *s = c->srv;
    if (c->call != NULL)
        grpc_call_unref(c->call);
    grpc_metadata_array_destroy(&c->md);
    if (c->method->kind == CALL_UNKNOWN)
        grpc_call_details_destroy(&c->details);
    if (c->payload != NULL)
        grpc_byte_buffer_destroy(c->payload);
    if (c->send != NULL)
        grpc_byte_buffer_destroy(c->send);
    for (size_t i = 0; i < c->n_initial; i++)
        grpc_slice_unref(c->initial[i].value);
    for (size_t i = 0; i < c->n_trailing; i++)
        grpc_slice_unref(c->trailing[i].value);
    if (c->has_details)
        grpc_slice_unref(c->details_slice);
    free_call(c);

    pthread_mutex_lock(&s->mu);
    if (--s->live == 0)
        pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

/* Posts one request for the next call to m. Does nothing once the server is stopping. */
static void post_request(pz_grpc_server *s, const srv_method *m)
{
    srv_call *c = new_call();
    c->tag.fn = on_call_event;
    c->srv = s;
    c->method = m;
    c->state = ST_REQUESTED;
    grpc_metadata_array_init(&c->md);
    if (m->kind == CALL_UNKNOWN)
        grpc_call_details_init(&c->details);

    pthread_mutex_lock(&s->mu);
    grpc_call_error e = GRPC_CALL_OK;
    bool posted = false;
    if (!s->stopping) {
        s->live++;
        if (m->kind == CALL_UNKNOWN)
            e = grpc_server_request_call(s->server, &c->call, &c->details, &c->md, s->cq, s->cq, &c->tag);
        else
            e = grpc_server_request_registered_call(s->server, m->registered, &c->call, &c->deadline, &c->md,
                                                    m->kind == CALL_REFLECTION ? NULL : &c->payload, s->cq, s->cq,
                                                    &c->tag);
        posted = e == GRPC_CALL_OK;
        if (!posted)
            s->live--;
    }
    pthread_mutex_unlock(&s->mu);
    if (posted)
        return;
    if (e != GRPC_CALL_OK)
        pz_error_log("grpc: cannot request calls for %s (error %d)", m->log_name, (int)e);
    c->srv = NULL;
    grpc_metadata_array_destroy(&c->md);
    if (m->kind == CALL_UNKNOWN)
        grpc_call_details_destroy(&c->details);
    free_call(c);
}

/* --- translating the incoming call --- */

static int64_t deadline_to_ms(gpr_timespec d)
{
    gpr_timespec rt = gpr_convert_clock_type(d, GPR_CLOCK_REALTIME);
    if (gpr_time_cmp(rt, gpr_inf_future(GPR_CLOCK_REALTIME)) >= 0 || rt.tv_sec > INT64_MAX / MS_PER_SEC - 1)
        return 0;
    if (rt.tv_sec < 0)
        return 1; /* already expired; 0 would mean "no deadline" */
    return (int64_t)rt.tv_sec * MS_PER_SEC + rt.tv_nsec / NS_PER_MS;
}

/* grpc's peer strings name the address family first: "ipv4:" or "ipv6:", both this long. */
#define PEER_FAMILY_PREFIX_LEN (sizeof "ipv4:" - 1)
/* "[address]:port": an IPv6 address, brackets, a colon and five digits, with room to spare. */
#define PEER_ADDRESS_MAX 64

/* The client's address: "127.0.0.1:5000", "[::1]:5000". Connections our acceptor handed over are
 * named "fd:N" by grpc (the acceptor knows their address); grpc's own peer strings are
 * "ipv4:127.0.0.1:5000", "ipv6:%5B::1%5D:5000". */
static const char *peer_address(srv_call *c)
{
    char *peer = grpc_call_get_peer(c->call);
    if (peer == NULL)
        return NULL;
    char addr[PEER_ADDRESS_MAX];
    if (pz_grpc_acceptor_peer_address(c->srv->acceptor, peer, addr, sizeof addr)) {
        gpr_free(peer);
        return pz_arena_strdup(&c->arena, addr);
    }
    const char *p = peer;
    if (strncmp(p, "ipv4:", PEER_FAMILY_PREFIX_LEN) == 0 || strncmp(p, "ipv6:", PEER_FAMILY_PREFIX_LEN) == 0)
        p += PEER_FAMILY_PREFIX_LEN;
    char *out = pz_percent_decode(p, strlen(p), false, &c->arena);
    if (out == NULL) /* not percent-encoded after all: keep it as grpc wrote it */
        out = pz_arena_strdup(&c->arena, p);
    gpr_free(peer);
    return out;
}

/* gRPC marks binary metadata with this key suffix; its values are not text. */
static const char BINARY_SUFFIX[] = "-bin";
#define BINARY_SUFFIX_LEN (sizeof BINARY_SUFFIX - 1)

/* Copies request metadata into the arena as pz_header entries (lower-case names, binary "-bin"
 * entries skipped) and picks up if-none-match. */
static void copy_metadata(srv_call *c)
{
    pz_header *h = pz_arena_calloc(&c->arena, c->md.count, sizeof *h);
    size_t n = 0;
    for (size_t i = 0; i < c->md.count; i++) {
        const grpc_metadata *m = &c->md.metadata[i];
        size_t klen = GRPC_SLICE_LENGTH(m->key);
        const char *key = (const char *)GRPC_SLICE_START_PTR(m->key);
        if (klen >= BINARY_SUFFIX_LEN && memcmp(key + klen - BINARY_SUFFIX_LEN, BINARY_SUFFIX, BINARY_SUFFIX_LEN) == 0)
            continue;
        char *name = pz_arena_strndup(&c->arena, key, klen);
        for (size_t k = 0; k < klen; k++) {
            if (name[k] >= 'A' && name[k] <= 'Z')
                name[k] = (char)(name[k] - 'A' + 'a');
        }
        char *value =
            pz_arena_strndup(&c->arena, (const char *)GRPC_SLICE_START_PTR(m->value), GRPC_SLICE_LENGTH(m->value));
        h[n++] = (pz_header){name, klen, value, GRPC_SLICE_LENGTH(m->value)};
        if (c->req.if_none_match == NULL && strcmp(name, "if-none-match") == 0)
            c->req.if_none_match = value;
    }
    c->req.headers = h;
    c->req.n_headers = n;
}

/* pz_request.client_addr_fn: grpc's peer string is asked for (and decoded) only when the access
 * log writes a line. */
static const char *client_addr(const pz_request *req)
{
    /* The call that holds req, not front_data: a handler may stand in front_data while it decides
     * (server/ops/admin.h's admission) and ask for the address meanwhile. */
    return peer_address((srv_call *)((char *)req - offsetof(srv_call, req)));
}

static void init_request(srv_call *c)
{
    pz_request_init(&c->req, &c->arena);
    c->req.protocol = "grpc";
    c->req.client_addr_fn = client_addr;
    c->req.front_data = c;
    if (c->method->kind != CALL_UNKNOWN)
        c->req.deadline_ms = deadline_to_ms(c->deadline);
    copy_metadata(c);
    pz_request_assign_id(&c->req);
}

/* Reads a whole received message into the arena. Returns false when it cannot be decompressed. */
static bool read_message(srv_call *c, grpc_byte_buffer *bb, pz_arena *into, uint8_t **data, size_t *len)
{
    grpc_byte_buffer_reader rd;
    if (!grpc_byte_buffer_reader_init(&rd, bb))
        return false;
    grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    *len = GRPC_SLICE_LENGTH(all);
    *data = pz_arena_alloc(into, *len);
    memcpy(*data, GRPC_SLICE_START_PTR(all), *len);
    grpc_slice_unref(all);
    (void)c;
    return true;
}

/* Unpacks a received message into the arena. An uncompressed message in one slice (the usual case)
 * is read in place; otherwise it is joined into the arena first. *wire and *wire_len: the bytes it was
 * decoded from (in bb or the arena: valid while both live). Returns false when it cannot be
 * decompressed; *out is NULL when it is not a valid `desc`. */
static bool unpack_message(srv_call *c, grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc,
                           ProtobufCMessage **out, const uint8_t **wire, size_t *wire_len)
{
    grpc_byte_buffer_reader rd;
    /* Only an uncompressed buffer is read in place: a compressed one is decompressed into the
     * reader's own buffer, which goes with the reader. */
    bool in_place = bb->type == GRPC_BB_RAW && bb->data.raw.compression == GRPC_COMPRESS_NONE;
    if (!grpc_byte_buffer_reader_init(&rd, bb))
        return false;
    grpc_slice *first = NULL, *second = NULL;
    if (in_place && grpc_byte_buffer_reader_peek(&rd, &first) && !grpc_byte_buffer_reader_peek(&rd, &second)) {
        *wire = GRPC_SLICE_START_PTR(*first); /* bb's own slice: valid while bb lives */
        *wire_len = GRPC_SLICE_LENGTH(*first);
        *out = protobuf_c_message_unpack(desc, &c->arena.pb, *wire_len, *wire);
        grpc_byte_buffer_reader_destroy(&rd);
        return true;
    }
    grpc_byte_buffer_reader_destroy(&rd);
    uint8_t *data;
    size_t len;
    if (!read_message(c, bb, &c->arena, &data, &len))
        return false;
    *wire = data;
    *wire_len = len;
    *out = protobuf_c_message_unpack(desc, &c->arena.pb, len, data);
    return true;
}

/* --- sending --- */

/* Metadata values must be printable ASCII; anything else would make grpc reject the batch. */
static grpc_slice metadata_value(const char *v)
{
    size_t n = strlen(v);
    grpc_slice s = grpc_slice_malloc(n);
    uint8_t *p = GRPC_SLICE_START_PTR(s);
    for (size_t i = 0; i < n; i++)
        p[i] = (v[i] >= 0x20 && v[i] <= 0x7e) ? (uint8_t)v[i] : '?';
    return s;
}

static void add_md(grpc_metadata *arr, size_t *n, const char *key, const char *value)
{
    if (value == NULL)
        return;
    memset(&arr[*n], 0, sizeof arr[*n]);
    arr[*n].key = grpc_slice_from_static_string(key);
    arr[*n].value = metadata_value(value);
    (*n)++;
}

/* A hint row whose value differs from request to request (the request id): a prepared response's
 * gRPC form (below) leaves it out, each request adds its own. */
static bool per_request_row(const pz_hint_header *row)
{
    return row->offset == offsetof(pz_response_hints, request_id);
}

/* The response hints as initial metadata: all of them on success, the on_errors rows on errors.
 * With a prepared form's metadata (form != NULL, success), its entries by reference and then this
 * request's own rows. */
static void hints_metadata(srv_call *c, bool ok, const grpc_metadata *form, size_t n_form)
{
    for (size_t i = 0; i < n_form; i++) {
        c->initial[c->n_initial] = form[i];
        grpc_slice_ref(form[i].value); /* released with the call, like the other entries */
        c->n_initial++;
    }
    for (size_t i = 0; i < PZ_HINT_HEADERS_COUNT; i++) {
        const pz_hint_header *row = &pz_hint_headers[i];
        if (form != NULL ? per_request_row(row) : ok || row->on_errors)
            add_md(c->initial, &c->n_initial, row->name, pz_hint_value(row, &c->req.hints, PZ_FRONT_GRPC, true));
    }
}

/* A hint row a prepared form's metadata carries: one gRPC sends, the same for every request of
 * the cache entry. */
static bool form_row(const pz_hint_header *row)
{
    return (row->fronts & PZ_FRONT_GRPC) != 0 && !per_request_row(row);
}

/* The gRPC form of a prepared response (server/core/prepared.h), made at its first send: the body
 * as a slice of its own (grpc may hold it after our call ends) and the initial metadata of the hint
 * values it was made with. A hit sends both by reference: no copy, no allocation for either. */
typedef struct grpc_form {
    pz_prepared_front base;
    grpc_slice body;
    char *fields[PZ_HINT_HEADERS_COUNT]; /* per form_row, the field its metadata was made from (NULL: none) */
    grpc_metadata md[MAX_INITIAL_MD];
    size_t n_md;
} grpc_form;

static void free_form(pz_prepared_front *f)
{
    grpc_form *g = (grpc_form *)f;
    grpc_slice_unref(g->body);
    for (size_t i = 0; i < g->n_md; i++)
        grpc_slice_unref(g->md[i].value);
    for (size_t i = 0; i < PZ_HINT_HEADERS_COUNT; i++)
        free(g->fields[i]);
    free(g);
}

static const grpc_form *form_of(const pz_prepared_response *p, const pz_response_hints *hints)
{
    grpc_form *g = (grpc_form *)pz_prepared_front_get(p, PZ_PREPARED_SLOT_GRPC);
    if (g != NULL)
        return g;
    g = pz_calloc(1, sizeof *g);
    g->base.free = free_form;
    g->body = grpc_slice_from_copied_buffer((const char *)p->protobuf, p->protobuf_len);
    for (size_t i = 0; i < PZ_HINT_HEADERS_COUNT; i++) {
        if (!form_row(&pz_hint_headers[i]))
            continue;
        const char *field = pz_hint_field(&pz_hint_headers[i], hints);
        g->fields[i] = field != NULL ? pz_strdup(field) : NULL;
        add_md(g->md, &g->n_md, pz_hint_headers[i].name,
               pz_hint_value(&pz_hint_headers[i], hints, PZ_FRONT_GRPC, true));
    }
    return (const grpc_form *)pz_prepared_front_set(p, PZ_PREPARED_SLOT_GRPC, &g->base);
}

/* The hints of this request are the ones the form's metadata was made with (they are, unless a
 * stage varies a hint within one cache entry). Compared field by field (pz_hint_field): a hit is
 * spared making and checking each value again. */
static bool form_fits(const grpc_form *g, const pz_response_hints *hints)
{
    for (size_t i = 0; i < PZ_HINT_HEADERS_COUNT; i++) {
        if (!form_row(&pz_hint_headers[i]))
            continue;
        const char *field = pz_hint_field(&pz_hint_headers[i], hints);
        if ((field == NULL) != (g->fields[i] == NULL) || (field != NULL && strcmp(field, g->fields[i]) != 0))
            return false;
    }
    return true;
}

static void start_batch(srv_call *c, const grpc_op *ops, size_t n)
{
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, &c->tag, NULL);
    if (e == GRPC_CALL_OK)
        return;
    /* Only a bug in this file gets here; don't leave the client waiting. */
    pz_error_log("grpc: %s: start_batch failed (error %d)", c->what, (int)e);
    grpc_call_cancel_with_status(c->call, GRPC_STATUS_INTERNAL, "internal error", NULL);
    c->code = GRPC_STATUS_INTERNAL;
    if (c->state == ST_FINISHING) {
        pz_request_log_access(&c->req, c->what, c->code);
        release_call(c);
    } else {
        c->state = ST_FINISHING;
        grpc_op op = {0};
        op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        op.data.recv_close_on_server.cancelled = &c->cancelled;
        start_batch(c, &op, 1);
    }
}

/* Initial metadata, message, status and RECV_CLOSE_ON_SERVER. */
#define FINAL_BATCH_OPS 4

/* The final batch: initial metadata (unless already sent), the message when `body` is given,
 * the status and RECV_CLOSE_ON_SERVER. Initial metadata: `md` (a prepared form's, success only)
 * and this request's own rows when given, else made from the hints (hints_metadata). Errors carry
 * details and the upstream error trailers. After this the call belongs to the CQ worker, which releases it; the
 * caller must not touch it. */
static void send_final_md(srv_call *c, grpc_slice *body, int code, const char *message, const grpc_metadata *md,
                          size_t n_md)
{
    grpc_op ops[FINAL_BATCH_OPS];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    c->code = code;
    c->state = ST_FINISHING;
    if (!c->sent_initial_md)
        hints_metadata(c, code == GRPC_STATUS_OK, md, n_md);
    if (!c->sent_initial_md) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[n].data.send_initial_metadata.count = c->n_initial;
        ops[n].data.send_initial_metadata.metadata = c->n_initial ? c->initial : NULL;
        n++;
        c->sent_initial_md = true;
    }
    if (body != NULL) {
        c->send = grpc_raw_byte_buffer_create(body, 1);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = c->send;
        n++;
    }
    if (code != GRPC_STATUS_OK) {
        add_md(c->trailing, &c->n_trailing, "x-personalization-error-code", c->req.error.code);
        add_md(c->trailing, &c->n_trailing, "x-personalization-error-type", c->req.error.type);
        for (size_t i = 0; i < PZ_ERROR_HINT_HEADERS_COUNT; i++)
            add_md(c->trailing, &c->n_trailing, pz_error_hint_headers[i].name,
                   pz_hint_value(&pz_error_hint_headers[i], &c->req.hints, PZ_FRONT_GRPC, true));
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)code;
    ops[n].data.send_status_from_server.trailing_metadata_count = c->n_trailing;
    ops[n].data.send_status_from_server.trailing_metadata = c->n_trailing ? c->trailing : NULL;
    if (message != NULL && message[0] != '\0') {
        c->details_slice = grpc_slice_from_copied_string(message);
        c->has_details = true;
        ops[n].data.send_status_from_server.status_details = &c->details_slice;
    }
    n++;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n].data.recv_close_on_server.cancelled = &c->cancelled;
    n++;
    start_batch(c, ops, n);
}

static void send_final(srv_call *c, grpc_slice *body, int code, const char *message)
{
    send_final_md(c, body, code, message, NULL, 0);
}

/* pz_request.on_done: runs once per request, on any thread, possibly inside pz_handle_fn. */
static void on_request_done(pz_request *req)
{
    srv_call *c = req->front_data;
    if (req->status != PZ_OK) {
        const char *msg = req->error.message != NULL ? req->error.message : pz_status_str(req->status);
        send_final(c, NULL, pz_status_grpc(req->status), msg);
        return;
    }
    if (req->prepared != NULL && !req->hints.not_modified) { /* packed once by the core: its gRPC form, by reference */
        const grpc_form *g = form_of(req->prepared, &req->hints);
        grpc_slice body = grpc_slice_ref(g->body);
        bool fits = form_fits(g, &req->hints); /* the request's arena keeps g alive until released */
        send_final_md(c, &body, GRPC_STATUS_OK, NULL, fits ? g->md : NULL, fits ? g->n_md : 0);
        grpc_slice_unref(body);
        return;
    }
    if (req->response == NULL) {
        send_final(c, NULL, GRPC_STATUS_INTERNAL, "internal error: no response");
        return;
    }
    size_t len = protobuf_c_message_get_packed_size(req->response);
    grpc_slice body = grpc_slice_malloc(len);
    protobuf_c_message_pack(req->response, GRPC_SLICE_START_PTR(body));
    send_final(c, &body, GRPC_STATUS_OK, NULL);
    grpc_slice_unref(body); /* the byte buffer holds its own ref; c may already be released */
}

/* --- per-kind handling of a new call --- */

static void handle_rpc(srv_call *c)
{
    const pz_rpc_info *info = pz_rpc_get(c->method->rpc);
    c->req.rpc = info->rpc;
    c->req.on_done = on_request_done;
    if (c->payload == NULL) {
        pz_request_fail(&c->req, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, "ValidationError",
                        "request message is missing");
        return;
    }
    ProtobufCMessage *message = NULL;
    const uint8_t *data = NULL;
    size_t len = 0;
    if (!unpack_message(c, c->payload, info->request, &message, &data, &len)) {
        pz_request_fail(&c->req, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, "ValidationError",
                        "request message cannot be decompressed");
        return;
    }
    c->req.message = message;
    if (c->req.message == NULL) {
        pz_request_fail(&c->req, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, "ValidationError",
                        "request is not a valid %s", info->request->name);
        return;
    }
    c->req.wire = data; /* in c->payload, which lives until the call is released; the core checks the
                         * strings there (embedded NULs): server/core/message_check.h */
    c->req.wire_len = len;
    c->state = ST_HANDLING;
    c->srv->handle(c->srv->handle_ctx, &c->req); /* c may be released when this returns */
}

static void handle_health(srv_call *c)
{
    uint8_t *data = NULL, *out;
    size_t len = 0, out_len;
    const char *message;
    if (c->payload == NULL || !read_message(c, c->payload, &c->arena, &data, &len)) {
        send_final(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, "request message is missing or cannot be decompressed");
        return;
    }
    int code = pz_health_check(&c->arena, data, len, &out, &out_len, &message);
    if (code != GRPC_STATUS_OK) {
        send_final(c, NULL, code, message);
        return;
    }
    grpc_slice body = grpc_slice_from_copied_buffer((const char *)out, out_len);
    send_final(c, &body, GRPC_STATUS_OK, NULL);
    grpc_slice_unref(body);
}

static void handle_unknown(srv_call *c)
{
    char *method = pz_arena_strndup(&c->arena, (const char *)GRPC_SLICE_START_PTR(c->details.method),
                                    GRPC_SLICE_LENGTH(c->details.method));
    c->what = method;
    send_final(c, NULL, GRPC_STATUS_UNIMPLEMENTED, pz_arena_printf(&c->arena, "unknown method %s", method));
}

/* Reflection is a bidi stream driven one step at a time: read a request, write its answer, read
 * the next...; a NULL read means the client half-closed, which ends the stream with OK. */
static void stream_read(srv_call *c)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->payload;
    c->state = ST_READING;
    start_batch(c, &op, 1);
}

static void stream_on_read(srv_call *c, bool ok)
{
    if (!ok || c->payload == NULL) {
        send_final(c, NULL, GRPC_STATUS_OK, NULL);
        return;
    }
    pz_arena scratch;
    pz_arena_init(&scratch);
    uint8_t *data, *out;
    size_t len, out_len;
    bool valid = read_message(c, c->payload, &scratch, &data, &len) &&
                 pz_reflection_answer(c->srv->reflection, &scratch, data, len, &out, &out_len) == 0;
    grpc_byte_buffer_destroy(c->payload);
    c->payload = NULL;
    if (!valid) {
        pz_arena_destroy(&scratch);
        send_final(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, "request is not a valid ServerReflectionRequest");
        return;
    }
    grpc_slice body = grpc_slice_from_copied_buffer((const char *)out, out_len);
    pz_arena_destroy(&scratch);
    if (c->send != NULL)
        grpc_byte_buffer_destroy(c->send);
    c->send = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);

    grpc_op ops[2]; /* initial metadata (first answer only) and the message */
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    if (!c->sent_initial_md) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        c->sent_initial_md = true;
    }
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = c->send;
    n++;
    c->state = ST_WRITING;
    start_batch(c, ops, n);
}

static void stream_on_written(srv_call *c, bool ok)
{
    grpc_byte_buffer_destroy(c->send);
    c->send = NULL;
    if (!ok) {
        send_final(c, NULL, GRPC_STATUS_CANCELLED, "stream broken");
        return;
    }
    stream_read(c);
}

static void on_call_arrived(srv_call *c)
{
    post_request(c->srv, c->method); /* requests are one-shot: keep one posted in its place */
    init_request(c);
    c->what = c->method->log_name;
    switch (c->method->kind) {
    case CALL_RPC: handle_rpc(c); break;
    case CALL_HEALTH: handle_health(c); break;
    case CALL_REFLECTION: stream_read(c); break;
    case CALL_UNKNOWN: handle_unknown(c); break;
    }
}

static void on_call_event(srv_tag *tag, bool ok)
{
    srv_call *c = (srv_call *)tag;
    switch (c->state) {
    case ST_REQUESTED:
        if (!ok) { /* the server is shutting down: there is no call */
            release_call(c);
            return;
        }
        on_call_arrived(c);
        break;
    case ST_READING: stream_on_read(c, ok); break;
    case ST_WRITING: stream_on_written(c, ok); break;
    case ST_FINISHING:
        pz_request_log_access(&c->req, c->what, ok && !c->cancelled ? c->code : GRPC_STATUS_CANCELLED);
        release_call(c);
        break;
    case ST_HANDLING: pz_fatal("grpc: completion for a call the core is handling");
    }
}

/* --- server life cycle --- */

static void on_shutdown(srv_tag *tag, bool ok)
{
    (void)ok;
    pz_grpc_server *s = (pz_grpc_server *)((char *)tag - offsetof(pz_grpc_server, shutdown_tag));
    pthread_mutex_lock(&s->mu);
    s->shutdown_done = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

static void *cq_worker(void *arg)
{
    pz_grpc_server *s = arg;
    on_cq_thread = true;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE)
            ((srv_tag *)ev.tag)->fn(ev.tag, ev.success != 0);
    }
    free_recycled_calls();
    return NULL;
}

/* Registers the RPCs of `api` and the service methods; hides the other APIs' services from
 * reflection (they are served elsewhere). */
static void setup_methods(pz_grpc_server *s, pz_api api)
{
    int m = 0;
    for (int i = 0; i < PZ_RPC__COUNT; i++) {
        const pz_rpc_info *info = pz_rpc_get((pz_rpc)i);
        if (info->api == api)
            s->methods[m++] = (srv_method){CALL_RPC,
                                           info->rpc,
                                           info->grpc_path,
                                           info->name,
                                           SERVING_RPC[i] ? PREPOSTED_SERVING : PREPOSTED_OCCASIONAL,
                                           NULL};
    }
    for (int a = 0; a < PZ_API__COUNT; a++) {
        if (a != (int)api)
            pz_reflection_hide_service(s->reflection, pz_api_service_name((pz_api)a));
    }
    for (size_t i = 0; i < N_SERVICE_METHODS; i++)
        s->methods[m++] = SERVICE_METHODS[i];
    s->n_methods = m;
    for (int i = 0; i < s->n_methods; i++) {
        srv_method *sm = &s->methods[i];
        if (sm->path == NULL)
            continue;
        sm->registered = grpc_server_register_method(
            s->server, sm->path, NULL,
            sm->kind == CALL_REFLECTION ? GRPC_SRM_PAYLOAD_NONE : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
        if (sm->registered == NULL)
            pz_fatal("grpc: cannot register method %s", sm->path);
    }
}

int pz_grpc_server_reload_tls(pz_grpc_server *s, char *err, size_t errlen)
{
    return s->tls == NULL ? 0 : pz_tls_context_reload(s->tls, err, errlen);
}

/* Tears down a server that never started (bind failure). */
static void destroy_unstarted(pz_grpc_server *s)
{
    grpc_server_shutdown_and_notify(s->server, s->cq, &s->shutdown_tag);
    grpc_server_cancel_all_calls(s->server);
    grpc_completion_queue_shutdown(s->cq);
    while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_server_destroy(s->server);
    grpc_server_credentials_release(s->creds);
    grpc_resource_quota_unref(s->quota);
    pz_conn_limits_destroy(s->limits);
    grpc_completion_queue_destroy(s->cq);
    grpc_shutdown();
    pz_reflection_free(s->reflection);
    pz_tls_context_destroy(s->tls);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int or_default(int v, int dflt)
{
    return v > 0 ? v : dflt;
}

static size_t or_default_size(size_t v, size_t dflt)
{
    return v > 0 ? v : dflt;
}

/* An address as the options give it: "host:port" or "[v6]:port". */
#define GRPC_HOST_MAX 256

static int split_address(const char *address, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(address, ':');
    if (colon == NULL || colon == address)
        return -1;
    const char *h = address;
    size_t hlen = (size_t)(colon - address);
    if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    char *end = NULL;
    long p = strtol(colon + 1, &end, 10);
    if (hlen == 0 || hlen >= hostlen || end == colon + 1 || *end != '\0' || p < 0 || p > 65535)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)p;
    return 0;
}

/* The acceptor's hand-over: grpc core owns its end of the socketpair from here on. */
static void serve_fd(void *ctx, int fd)
{
    pz_grpc_server *s = ctx;
    grpc_server_add_channel_from_fd(s->server, fd, s->creds);
}

/* We accept connections ourselves (caps, TLS, handshake timeout, abusive connections) and hand
 * them to grpc core as plaintext, and grpc core listens on nothing. */
static int start_acceptor(pz_grpc_server *s, const pz_grpc_options *opts, int max_streams,
                          const pz_conn_lifetime_limits *lifetime, int *port, char *err, size_t errlen)
{
    s->limits =
        pz_conn_limits_create(or_default_size(opts->max_connections, DEFAULT_MAX_CONNECTIONS),
                              or_default_size(opts->max_connections_per_client, DEFAULT_MAX_CONNECTIONS_PER_CLIENT));
    char host[GRPC_HOST_MAX];
    pz_grpc_accept_options ao = {
        .host = host,
        .limits = s->limits,
        .tls = s->tls,
        .handshake_timeout_ms = or_default(opts->handshake_timeout_ms, DEFAULT_HANDSHAKE_TIMEOUT_MS),
        /* the stream limit grpc applies once the client acknowledged it, applied before too */
        .guard = {.max_resets_per_sec = or_default(opts->max_cancels_per_sec, DEFAULT_MAX_CANCELS_PER_SEC),
                  .max_streams_unacked = max_streams},
        .penalty_ms = PZ_GRPC_ABUSE_PENALTY_MS,
        .serve = serve_fd,
        .serve_ctx = s,
        .threads = opts->relay_threads,
        .stats = opts->stats,
    };
    if (lifetime != NULL)
        ao.lifetime = *lifetime;
    if (split_address(opts->address, host, sizeof host, &ao.port) != 0) {
        snprintf(err, errlen, "grpc: cannot listen on %s: expected HOST:PORT or [IPV6]:PORT", opts->address);
        return -1;
    }
    return pz_grpc_acceptor_start(&ao, &s->acceptor, port, err, errlen);
}

int pz_grpc_server_start(const pz_grpc_options *opts, pz_grpc_server **out, int *bound_port, char *err, size_t errlen)
{
    *out = NULL;
    if (opts->handle == NULL || opts->address == NULL || opts->threads < 1) {
        snprintf(err, errlen, "grpc: address, handler and threads >= 1 are required");
        return -1;
    }
    pz_grpc_server *s = pz_calloc(1, sizeof *s);
    s->reflection = pz_reflection_new(pz_descriptor_set, pz_descriptor_set_len, err, errlen);
    if (s->reflection == NULL) {
        free(s);
        return -1;
    }
    s->handle = opts->handle;
    s->handle_ctx = opts->handle_ctx;
    s->grace_ms = opts->stop_grace_ms > 0 ? opts->stop_grace_ms : DEFAULT_GRACE_MS;
    s->shutdown_tag.fn = on_shutdown;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);

    grpc_init();
    size_t max = opts->max_message_bytes ? opts->max_message_bytes : DEFAULT_MAX_MESSAGE;
    s->quota = grpc_resource_quota_create("pz-grpc");
    grpc_resource_quota_resize(s->quota, or_default_size(opts->memory_bytes, DEFAULT_MEMORY_BYTES));
    int max_streams = or_default(opts->max_concurrent_streams, DEFAULT_MAX_CONCURRENT_STREAMS);
    /* Connection idle and age limits: on plaintext connections the acceptor's read guard keeps them
     * (conn_lifetime.h), so grpc core's per-call filter for them is not installed; over TLS grpc
     * core keeps them. */
    const pz_conn_lifetime_limits lifetime = {
        .idle_ms = or_default(opts->idle_timeout_ms, DEFAULT_IDLE_TIMEOUT_MS),
        .age_ms = or_default(opts->max_connection_age_ms, DEFAULT_MAX_AGE_MS),
        .grace_ms = or_default(opts->max_connection_age_grace_ms, DEFAULT_MAX_AGE_GRACE_MS),
    };
    const bool core_keeps_lifetime = opts->tls_cert_file != NULL;
    /* Per-connection limits grpc core enforces itself. */
    const struct {
        const char *key;
        int value;
        bool lifetime; /* only when grpc core keeps the connections' lifetime */
    } ints[] = {
        {GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, max > INT_MAX ? INT_MAX : (int)max, false},
        {GRPC_ARG_MAX_CONCURRENT_STREAMS, max_streams, false},
        {GRPC_ARG_MAX_CONNECTION_IDLE_MS, lifetime.idle_ms, true},
        {GRPC_ARG_MAX_CONNECTION_AGE_MS, lifetime.age_ms, true},
        {GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, lifetime.grace_ms, true},
        {GRPC_ARG_KEEPALIVE_TIME_MS, KEEPALIVE_TIME_MS, false},
        {GRPC_ARG_KEEPALIVE_TIMEOUT_MS, KEEPALIVE_TIMEOUT_MS, false},
    };
    enum { N_INT_ARGS = sizeof ints / sizeof ints[0] };
    grpc_arg args[N_INT_ARGS + 1];
    memset(args, 0, sizeof args);
    size_t n_args = 0;
    for (size_t i = 0; i < N_INT_ARGS; i++) {
        if (ints[i].lifetime && !core_keeps_lifetime)
            continue;
        args[n_args].type = GRPC_ARG_INTEGER;
        args[n_args].key = (char *)ints[i].key;
        args[n_args].value.integer = ints[i].value;
        n_args++;
    }
    args[n_args].type = GRPC_ARG_POINTER;
    args[n_args].key = (char *)GRPC_ARG_RESOURCE_QUOTA;
    args[n_args].value.pointer.p = s->quota;
    args[n_args].value.pointer.vtable = grpc_resource_quota_arg_vtable();
    n_args++;
    grpc_channel_args chargs = {n_args, args};
    s->server = grpc_server_create(&chargs, NULL);
    setup_methods(s, opts->api);
    if (opts->non_polling) {
        grpc_completion_queue_attributes attr = {GRPC_CQ_CURRENT_VERSION, GRPC_CQ_NEXT, GRPC_CQ_NON_POLLING, NULL};
        s->cq = grpc_completion_queue_create(grpc_completion_queue_factory_lookup(&attr), &attr, NULL);
    } else {
        s->cq = grpc_completion_queue_create_for_next(NULL);
    }
    grpc_server_register_completion_queue(s->server, s->cq, NULL);
    s->creds = grpc_insecure_server_credentials_create();

    int port = 0;
    grpc_server_start(s->server); /* before a descriptor can be handed over */
    if (opts->tls_cert_file != NULL) {
        /* h2 only: grpc clients require it, and nothing else is served on the port */
        pz_tls_options to = {.cert_file = opts->tls_cert_file,
                             .key_file = opts->tls_key_file,
                             .client_ca_file = opts->tls_client_ca_file,
                             .alpn = &PZ_TLS_ALPN_H2_ONLY};
        s->tls = pz_tls_context_create(&to, err, errlen);
    }
    if ((opts->tls_cert_file != NULL && s->tls == NULL) ||
        start_acceptor(s, opts, max_streams, core_keeps_lifetime ? NULL : &lifetime, &port, err, errlen) != 0) {
        destroy_unstarted(s);
        return -1;
    }
    for (int i = 0; i < s->n_methods; i++) {
        for (int k = 0; k < s->methods[i].preposted; k++)
            post_request(s, &s->methods[i]);
    }
    s->n_threads = opts->threads;
    s->threads = pz_calloc((size_t)s->n_threads, sizeof *s->threads);
    for (int i = 0; i < s->n_threads; i++) {
        if (pthread_create(&s->threads[i], NULL, cq_worker, s) != 0)
            pz_fatal("grpc: cannot start completion-queue thread");
        pthread_setname_np(s->threads[i], opts->api == PZ_API_ADMIN ? "pz-admin-grpc" : "pz-grpc-cq"); /* top -H */
    }
    pz_info("grpc: listening on %s (%s; port %d, %d threads, max message %zu bytes, %d streams per connection%s)",
            opts->address, pz_api_service_name(opts->api), port, s->n_threads, max, max_streams,
            s->tls == NULL                     ? ""
            : opts->tls_client_ca_file != NULL ? ", TLS with client certificates"
                                               : ", TLS");
    *out = s;
    if (bound_port != NULL)
        *bound_port = port;
    return 0;
}

/* Waits until the shutdown tag arrived and every call context is released, or until deadline
 * (NULL = forever). Returns true when drained. Called with s->mu held. */
static bool wait_drained(pz_grpc_server *s, const struct timespec *deadline)
{
    while (!(s->shutdown_done && s->live == 0)) {
        if (deadline == NULL) {
            pthread_cond_wait(&s->cond, &s->mu);
        } else if (pthread_cond_timedwait(&s->cond, &s->mu, deadline) == ETIMEDOUT) {
            return s->shutdown_done && s->live == 0;
        }
    }
    return true;
}

void pz_grpc_server_stop(pz_grpc_server *s)
{
    if (s == NULL)
        return;
    /* no connection is served past this point; the open ones go on until the end (TLS ones
     * relayed), so calls in flight finish and the GOAWAY reaches the clients */
    pz_grpc_acceptor_stop(s->acceptor);
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_mutex_unlock(&s->mu);
    grpc_server_shutdown_and_notify(s->server, s->cq, &s->shutdown_tag);

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += s->grace_ms / MS_PER_SEC;
    deadline.tv_nsec += (long)(s->grace_ms % MS_PER_SEC) * NS_PER_MS;
    if (deadline.tv_nsec >= NS_PER_SEC) {
        deadline.tv_sec++;
        deadline.tv_nsec -= NS_PER_SEC;
    }
    pthread_mutex_lock(&s->mu);
    bool drained = wait_drained(s, &deadline);
    size_t pending = s->live;
    pthread_mutex_unlock(&s->mu);
    if (!drained) {
        pz_info("grpc: cancelling %zu calls still in flight after %d ms", pending, s->grace_ms);
        grpc_server_cancel_all_calls(s->server);
        /* Calls the core is still handling stay referenced until it completes them. */
        pthread_mutex_lock(&s->mu);
        wait_drained(s, NULL);
        pthread_mutex_unlock(&s->mu);
    }

    grpc_completion_queue_shutdown(s->cq);
    for (int i = 0; i < s->n_threads; i++)
        pthread_join(s->threads[i], NULL);
    grpc_server_destroy(s->server);
    grpc_completion_queue_destroy(s->cq);
    grpc_server_credentials_release(s->creds);
    grpc_resource_quota_unref(s->quota);
    pz_grpc_acceptor_destroy(s->acceptor);
    pz_conn_limits_destroy(s->limits);
    grpc_shutdown();
    pz_reflection_free(s->reflection);
    pz_tls_context_destroy(s->tls);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s->threads);
    free(s);
    pz_info("grpc: stopped");
}
