/* The admin API's handlers on their worker thread (admin.h). */
#include "server/ops/admin.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "personalization/v1/admin.pb-c.h"
#include "server/core/clock.h"
#include "server/core/log.h"
#include "server/core/mem.h"
#include "server/ops/json_struct.h"
#include "server/core/redact.h"

#define ERRTYPE_ADMIN "Admin"

typedef struct queued {
    struct queued *next;
    pz_request *req;
} queued;

struct pz_admin {
    pz_admin_options o;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* work queued, or stopping */
    pthread_cond_t idle; /* the queue is empty and the worker holds nothing */
    queued *head, *tail;
    size_t n_queued;
    bool busy, accepting, stopping;
};

typedef void (*handler_fn)(pz_admin *a, pz_request *req);

/* ---- helpers ---- */

static void fail_status(pz_request *req, pz_status status, const char *message)
{
    const char *code = status == PZ_NOT_FOUND            ? "NotFound"
                       : status == PZ_INVALID_ARGUMENT   ? "ValidationError"
                       : status == PZ_UNAVAILABLE        ? "Unavailable"
                       : status == PZ_RESOURCE_EXHAUSTED ? "TooManyRequests"
                                                         : "InternalError";
    pz_request_fail(req, status, status == PZ_INVALID_ARGUMENT ? PZ_ERRTYPE_VALIDATION : ERRTYPE_ADMIN, code, "%s",
                    message);
}

/* Completes req with the JSON object in text as a Struct. */
static void succeed_json(pz_request *req, const char *text, size_t len)
{
    Google__Protobuf__Struct *s = pz_json_struct_parse(text != NULL ? text : "{}", text != NULL ? len : 2, req->arena);
    if (s == NULL) {
        fail_status(req, PZ_INTERNAL, "a back-end answered something that is not a JSON object");
        return;
    }
    pz_request_succeed(req, &s->base);
}

static char *arena_str(pz_arena *a, const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v != NULL ? pz_arena_strdup(a, v) : NULL;
}

static Personalization__V1__ConfigProblem **problems_from_json(const json_t *arr, size_t *n, pz_arena *a)
{
    *n = json_array_size(arr);
    Personalization__V1__ConfigProblem **out = pz_arena_calloc(a, *n ? *n : 1, sizeof *out);
    for (size_t i = 0; i < *n; i++) {
        Personalization__V1__ConfigProblem *p = pz_arena_alloc(a, sizeof *p);
        personalization__v1__config_problem__init(p);
        p->path = arena_str(a, json_array_get(arr, i), "path");
        p->message = arena_str(a, json_array_get(arr, i), "message");
        out[i] = p;
    }
    return out;
}

/* A history record (config_store.h's meta object) as a ConfigRecord. */
static Personalization__V1__ConfigRecord *record_from_meta(const json_t *meta, pz_arena *a)
{
    Personalization__V1__ConfigRecord *r = pz_arena_alloc(a, sizeof *r);
    personalization__v1__config_record__init(r);
    r->has_id = true;
    r->id = (uint32_t)json_integer_value(json_object_get(meta, "id"));
    r->status = arena_str(a, meta, "status");
    r->version = arena_str(a, meta, "version");
    r->hash = arena_str(a, meta, "hash");
    r->loaded_at = arena_str(a, meta, "loadedAt");
    r->source = arena_str(a, meta, "source");
    r->has_bytes = true;
    r->bytes = (uint32_t)json_integer_value(json_object_get(meta, "bytes"));
    r->errors = problems_from_json(json_object_get(meta, "errors"), &r->n_errors, a);
    r->warnings = problems_from_json(json_object_get(meta, "warnings"), &r->n_warnings, a);
    r->has_problems_dropped = true;
    r->problems_dropped = (uint32_t)json_integer_value(json_object_get(meta, "problemsDropped"));
    r->has_active = true;
    r->active = json_is_true(json_object_get(meta, "active"));
    return r;
}

/* The document, secrets redacted, as a Struct; NULL when it is not a JSON object (a rejected
 * attempt may hold anything). */
static Google__Protobuf__Struct *redacted_document(const char *text, size_t len, pz_arena *a)
{
    json_error_t err;
    json_t *doc = text != NULL ? json_loadb(text, len, 0, &err) : NULL;
    if (doc == NULL)
        return NULL;
    pz_redact_json(doc);
    Google__Protobuf__Struct *s = pz_json_struct_from(doc, a);
    json_decref(doc);
    return s;
}

static Personalization__V1__ConfigProblem **problems_from(const pz_config_problems *p, bool warnings, size_t *n,
                                                          pz_arena *a)
{
    *n = 0;
    Personalization__V1__ConfigProblem **out = pz_arena_calloc(a, p->n ? p->n : 1, sizeof *out);
    for (size_t i = 0; i < p->n; i++) {
        if (p->items[i].is_warning != warnings)
            continue;
        Personalization__V1__ConfigProblem *q = pz_arena_alloc(a, sizeof *q);
        personalization__v1__config_problem__init(q);
        q->path = pz_arena_strdup(a, p->items[i].path);
        char *shown = pz_redact_urls_dup(p->items[i].message); /* a message may quote a URL it refuses */
        q->message = pz_arena_strdup(a, shown);
        free(shown);
        out[(*n)++] = q;
    }
    return out;
}

/* ---- configuration ---- */

static void get_config(pz_admin *a, pz_request *req)
{
    pz_config *cfg = pz_config_holder_acquire(a->o.config);
    size_t len;
    const char *text = pz_config_text(cfg, &len);
    char hash[PZ_CONFIG_HASH_SIZE];
    pz_config_hash(text, len, hash);
    json_t *meta = pz_config_store_newest(a->o.history, hash, true);
    Personalization__V1__ConfigRecord *r;
    if (meta != NULL) {
        r = record_from_meta(meta, req->arena);
        json_decref(meta);
    } else { /* the history could not record it (disk error): what the snapshot itself says */
        r = pz_arena_alloc(req->arena, sizeof *r);
        personalization__v1__config_record__init(r);
        r->status = "accepted";
        r->version = pz_config_version(cfg) != NULL ? pz_arena_strdup(req->arena, pz_config_version(cfg)) : NULL;
        r->hash = pz_arena_strdup(req->arena, hash);
        r->has_bytes = true;
        r->bytes = (uint32_t)len;
        r->has_active = true;
        r->active = true;
    }
    r->document = redacted_document(text, len, req->arena);
    pz_config_unref(cfg);
    pz_request_succeed(req, &r->base);
}

static void list_config_history(pz_admin *a, pz_request *req)
{
    const Personalization__V1__ListConfigHistoryRequest *in = (const void *)req->message;
    char err[256];
    json_t *list = pz_config_store_list(a->o.history, in->has_limit ? in->limit : 0, err, sizeof err);
    if (list == NULL) {
        fail_status(req, PZ_INTERNAL, err);
        return;
    }
    Personalization__V1__ConfigHistory *h = pz_arena_alloc(req->arena, sizeof *h);
    personalization__v1__config_history__init(h);
    h->n_records = json_array_size(list);
    h->records = pz_arena_calloc(req->arena, h->n_records ? h->n_records : 1, sizeof *h->records);
    for (size_t i = 0; i < h->n_records; i++)
        h->records[i] = record_from_meta(json_array_get(list, i), req->arena);
    json_decref(list);
    pz_request_succeed(req, &h->base);
}

static void get_config_record(pz_admin *a, pz_request *req)
{
    const Personalization__V1__GetConfigRecordRequest *in = (const void *)req->message;
    if (in->version == NULL || in->version[0] == '\0') {
        fail_status(req, PZ_INVALID_ARGUMENT, "version is required: a document version or @ID");
        return;
    }
    char err[512], *text = NULL;
    size_t len = 0;
    json_t *meta = pz_config_store_find(a->o.history, in->version, &text, &len, err, sizeof err);
    if (meta == NULL) {
        fail_status(req, PZ_NOT_FOUND, err);
        return;
    }
    Personalization__V1__ConfigRecord *r = record_from_meta(meta, req->arena);
    json_t *active = pz_config_store_newest(a->o.history, NULL, true);
    r->active = active != NULL && json_integer_value(json_object_get(active, "id")) == (json_int_t)r->id;
    json_decref(active);
    r->document = redacted_document(text, len, req->arena);
    free(text);
    json_decref(meta);
    pz_request_succeed(req, &r->base);
}

/* The document of a ConfigDocument request, or NULL after failing req. */
static const Personalization__V1__ConfigDocument *document_of(pz_request *req)
{
    const Personalization__V1__ConfigDocument *in = (const void *)req->message;
    if (!in->has_document || in->document.len == 0) {
        fail_status(req, PZ_INVALID_ARGUMENT, "the configuration document is missing (REST: send it as the body)");
        return NULL;
    }
    return in;
}

static void validate_config(pz_admin *a, pz_request *req)
{
    (void)a;
    const Personalization__V1__ConfigDocument *in = document_of(req);
    if (in == NULL)
        return;
    pz_config_problems problems;
    pz_config_problems_init(&problems);
    pz_config *cfg = pz_config_parse((const char *)in->document.data, in->document.len, &problems);
    Personalization__V1__ConfigValidation *v = pz_arena_alloc(req->arena, sizeof *v);
    personalization__v1__config_validation__init(v);
    v->has_valid = true;
    v->valid = cfg != NULL;
    if (cfg != NULL) {
        v->version = pz_config_version(cfg) != NULL ? pz_arena_strdup(req->arena, pz_config_version(cfg)) : NULL;
        v->has_namespaces = true;
        v->namespaces = (uint32_t)pz_config_namespace_count(cfg);
    }
    v->errors = problems_from(&problems, false, &v->n_errors, req->arena);
    v->warnings = problems_from(&problems, true, &v->n_warnings, req->arena);
    pz_config_unref(cfg);
    pz_config_problems_free(&problems);
    pz_request_succeed(req, &v->base);
}

/* Applies text (an ordinary validated reload, recorded by the holder's listener) and answers with
 * the attempt's record. */
static void apply_document(pz_admin *a, pz_request *req, const char *text, size_t len, const char *source,
                           const char *rolled_back_to)
{
    pz_config_problems problems;
    pz_config_problems_init(&problems);
    bool applied = pz_config_holder_apply(a->o.config, text, len, source, &problems) == 0;
    char hash[PZ_CONFIG_HASH_SIZE];
    pz_config_hash(text, len, hash);
    json_t *meta = pz_config_store_newest(a->o.history, hash, applied);
    Personalization__V1__ConfigChange *c = pz_arena_alloc(req->arena, sizeof *c);
    personalization__v1__config_change__init(c);
    c->has_applied = true;
    c->applied = applied;
    c->rolled_back_to = rolled_back_to != NULL ? pz_arena_strdup(req->arena, rolled_back_to) : NULL;
    if (meta != NULL) {
        c->record = record_from_meta(meta, req->arena);
        json_decref(meta);
    } else { /* not in the history (a disk error): the attempt's own problems */
        c->record = pz_arena_alloc(req->arena, sizeof *c->record);
        personalization__v1__config_record__init(c->record);
        c->record->status = applied ? "accepted" : "rejected";
        c->record->hash = pz_arena_strdup(req->arena, hash);
        c->record->source = pz_arena_strdup(req->arena, source);
        c->record->errors = problems_from(&problems, false, &c->record->n_errors, req->arena);
        c->record->warnings = problems_from(&problems, true, &c->record->n_warnings, req->arena);
    }
    pz_config_problems_free(&problems);
    pz_request_succeed(req, &c->base);
}

static void apply_config(pz_admin *a, pz_request *req)
{
    const Personalization__V1__ConfigDocument *in = document_of(req);
    if (in != NULL)
        apply_document(a, req, (const char *)in->document.data, in->document.len, "admin", NULL);
}

static void rollback_config(pz_admin *a, pz_request *req)
{
    const Personalization__V1__RollbackConfigRequest *in = (const void *)req->message;
    if (in->version == NULL || in->version[0] == '\0') {
        fail_status(req, PZ_INVALID_ARGUMENT, "version is required: a document version or @ID");
        return;
    }
    char err[512], *text = NULL;
    size_t len = 0;
    json_t *meta = pz_config_store_find(a->o.history, in->version, &text, &len, err, sizeof err);
    if (meta == NULL) {
        fail_status(req, PZ_NOT_FOUND, err);
        return;
    }
    const char *status = json_string_value(json_object_get(meta, "status"));
    long long id = (long long)json_integer_value(json_object_get(meta, "id"));
    if (status == NULL || strcmp(status, "accepted") != 0 || text == NULL) {
        fail_status(
            req, PZ_INVALID_ARGUMENT,
            pz_arena_printf(req->arena, "record @%lld was rejected when it was loaded: nothing to roll back to", id));
    } else {
        char source[64], target[32];
        snprintf(source, sizeof source, "rollback:@%lld", id);
        snprintf(target, sizeof target, "@%lld", id);
        apply_document(a, req, text, len, source, target);
    }
    free(text);
    json_decref(meta);
}

/* ---- back-ends that answer JSON ---- */

/* Runs a back-end call's outcome: its JSON as a Struct, or its error. */
static void finish_backend(pz_request *req, pz_status s, pz_buf *out, const char *err)
{
    if (s == PZ_OK)
        succeed_json(req, out->data, out->len);
    else
        fail_status(req, s, err[0] != '\0' ? err : pz_status_str(s));
    pz_buf_free(out);
}

#define BACKEND_CALL(req, fn, ...)                                                                                     \
    do {                                                                                                               \
        pz_buf out_;                                                                                                   \
        pz_buf_init(&out_, PZ_ADMIN_MAX_ANSWER_BYTES);                                                                 \
        char err_[512] = "";                                                                                           \
        pz_status s_ = (fn) == NULL ? PZ_UNAVAILABLE : (fn)(__VA_ARGS__, &out_, err_, sizeof err_);                    \
        if ((fn) == NULL)                                                                                              \
            snprintf(err_, sizeof err_, "this server has no such back-end");                                           \
        finish_backend(req, s_, &out_, err_);                                                                          \
    } while (0)

static bool require_namespace(pz_request *req, const char *ns)
{
    if (ns != NULL && ns[0] != '\0')
        return true;
    fail_status(req, PZ_INVALID_ARGUMENT, "namespace is required");
    return false;
}

static void get_catalog_status(pz_admin *a, pz_request *req)
{
    const Personalization__V1__CatalogStatusRequest *in = (const void *)req->message;
    if (require_namespace(req, in->namespace_))
        BACKEND_CALL(req, a->o.catalog.status, a->o.catalog.ctx, in->namespace_);
}

static void upsert_items(pz_admin *a, pz_request *req)
{
    const Personalization__V1__UpsertItemsRequest *in = (const void *)req->message;
    if (!require_namespace(req, in->namespace_))
        return;
    if (!in->has_items || in->items.len == 0) {
        fail_status(req, PZ_INVALID_ARGUMENT, "items are missing: JSON Lines, one object with an \"id\" a line");
        return;
    }
    BACKEND_CALL(req, a->o.catalog.upsert, a->o.catalog.ctx, in->namespace_, (const char *)in->items.data,
                 in->items.len);
}

static void delete_items(pz_admin *a, pz_request *req)
{
    const Personalization__V1__DeleteItemsRequest *in = (const void *)req->message;
    if (!require_namespace(req, in->namespace_))
        return;
    if (in->n_ids == 0) {
        fail_status(req, PZ_INVALID_ARGUMENT, "ids are missing: {\"ids\": [\"...\"]}");
        return;
    }
    BACKEND_CALL(req, a->o.catalog.remove, a->o.catalog.ctx, in->namespace_, (const char *const *)in->ids, in->n_ids);
}

static void get_event_stats(pz_admin *a, pz_request *req)
{
    BACKEND_CALL(req, a->o.events.stats, a->o.events.ctx);
}

static void list_dead_letters(pz_admin *a, pz_request *req)
{
    const Personalization__V1__ListDeadLettersRequest *in = (const void *)req->message;
    size_t limit = in->has_limit && in->limit > 0 ? in->limit : PZ_ADMIN_DEFAULT_DEAD_LETTERS;
    if (limit > PZ_ADMIN_MAX_DEAD_LETTERS) {
        fail_status(req, PZ_INVALID_ARGUMENT,
                    pz_arena_printf(req->arena, "limit is at most %d", PZ_ADMIN_MAX_DEAD_LETTERS));
        return;
    }
    const char *target = in->target != NULL && in->target[0] != '\0' ? in->target : NULL;
    BACKEND_CALL(req, a->o.events.dead_letters, a->o.events.ctx, target, limit);
}

static void replay_dead_letters(pz_admin *a, pz_request *req)
{
    const Personalization__V1__ReplayDeadLettersRequest *in = (const void *)req->message;
    bool all = in->has_all && in->all;
    const char *target = in->target != NULL && in->target[0] != '\0' ? in->target : NULL;
    if (all == (target != NULL)) {
        fail_status(req, PZ_INVALID_ARGUMENT, "give either \"all\": true or a \"target\" (with an optional \"seq\")");
        return;
    }
    if (all && in->has_seq) {
        fail_status(req, PZ_INVALID_ARGUMENT, "\"seq\" goes with a \"target\"");
        return;
    }
    BACKEND_CALL(req, a->o.events.replay, a->o.events.ctx, target, in->has_seq ? in->seq : 0);
}

static void get_cache_stats(pz_admin *a, pz_request *req)
{
    if (a->o.cache_stats == NULL) {
        fail_status(req, PZ_UNAVAILABLE, "this server has no response cache");
        return;
    }
    pz_buf out;
    pz_buf_init(&out, PZ_ADMIN_MAX_ANSWER_BYTES);
    if (a->o.cache_stats(a->o.cache_stats_ctx, &out) != 0)
        fail_status(req, PZ_INTERNAL, "the cache counters do not fit the answer");
    else
        succeed_json(req, out.data, out.len);
    pz_buf_free(&out);
}

static void purge_cache(pz_admin *a, pz_request *req)
{
    const Personalization__V1__PurgeCacheRequest *in = (const void *)req->message;
    bool all = in->has_all && in->all;
    bool ns = in->namespace_ != NULL && in->namespace_[0] != '\0';
    bool user = in->user_id != NULL && in->user_id[0] != '\0';
    if (all == ns || (user && !ns)) {
        fail_status(req, PZ_INVALID_ARGUMENT,
                    "give either \"all\": true, or a \"namespace\" (with an optional \"userId\")");
        return;
    }
    int64_t now = pz_now_ms();
    size_t n = 0;
    if (a->o.cache != NULL)
        n = all    ? pz_cache_purge_all(a->o.cache, now)
            : user ? pz_cache_purge_user(a->o.cache, in->namespace_, in->user_id, now)
                   : pz_cache_purge_namespace(a->o.cache, in->namespace_, now);
    pz_info("admin: cache purge (%s%s%s%s): %zu entries made stale", all ? "all" : "namespace ",
            ns ? in->namespace_ : "", user ? ", user " : "", user ? in->user_id : "", n);
    char json[64];
    int len = snprintf(json, sizeof json, "{\"purged\":%zu}", n);
    succeed_json(req, json, (size_t)len);
}

/* ---- dispatch and the worker ---- */

static const struct {
    pz_rpc rpc;
    handler_fn fn;
} HANDLERS[] = {
    {PZ_RPC_ADMIN_GET_CONFIG, get_config},
    {PZ_RPC_ADMIN_LIST_CONFIG_HISTORY, list_config_history},
    {PZ_RPC_ADMIN_GET_CONFIG_RECORD, get_config_record},
    {PZ_RPC_ADMIN_VALIDATE_CONFIG, validate_config},
    {PZ_RPC_ADMIN_APPLY_CONFIG, apply_config},
    {PZ_RPC_ADMIN_ROLLBACK_CONFIG, rollback_config},
    {PZ_RPC_ADMIN_GET_CATALOG_STATUS, get_catalog_status},
    {PZ_RPC_ADMIN_UPSERT_ITEMS, upsert_items},
    {PZ_RPC_ADMIN_DELETE_ITEMS, delete_items},
    {PZ_RPC_ADMIN_GET_EVENT_STATS, get_event_stats},
    {PZ_RPC_ADMIN_LIST_DEAD_LETTERS, list_dead_letters},
    {PZ_RPC_ADMIN_REPLAY_DEAD_LETTERS, replay_dead_letters},
    {PZ_RPC_ADMIN_GET_CACHE_STATS, get_cache_stats},
    {PZ_RPC_ADMIN_PURGE_CACHE, purge_cache},
};

static void run(pz_admin *a, pz_request *req)
{
    for (size_t i = 0; i < sizeof HANDLERS / sizeof HANDLERS[0]; i++) {
        if (HANDLERS[i].rpc == req->rpc) {
            HANDLERS[i].fn(a, req);
            return;
        }
    }
    pz_request_fail(req, PZ_UNIMPLEMENTED, PZ_ERRTYPE_UNHANDLED, "UnknownMethod", "not an AdminService method");
}

static void *worker_main(void *arg)
{
    pz_admin *a = arg;
    pthread_mutex_lock(&a->lock);
    for (;;) {
        while (a->head == NULL && !a->stopping)
            pthread_cond_wait(&a->wake, &a->lock);
        if (a->head == NULL)
            break;
        queued *q = a->head;
        a->head = q->next;
        if (a->head == NULL)
            a->tail = NULL;
        a->n_queued--;
        a->busy = true;
        pthread_mutex_unlock(&a->lock);
        run(a, q->req);
        free(q);
        pthread_mutex_lock(&a->lock);
        a->busy = false;
        if (a->head == NULL)
            pthread_cond_broadcast(&a->idle);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

pz_admin *pz_admin_create(const pz_admin_options *opts)
{
    pz_admin *a = pz_calloc(1, sizeof *a);
    a->o = *opts;
    a->accepting = true;
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->wake, NULL);
    pthread_cond_init(&a->idle, NULL);
    if (pthread_create(&a->thread, NULL, worker_main, a) != 0)
        pz_fatal("cannot start the admin worker");
    return a;
}

/* Queues req for the worker, or refuses it (shutting down, queue full). */
static void enqueue(pz_admin *a, pz_request *req)
{
    pthread_mutex_lock(&a->lock);
    pz_status refuse = !a->accepting                        ? PZ_UNAVAILABLE
                       : a->n_queued >= PZ_ADMIN_MAX_QUEUED ? PZ_RESOURCE_EXHAUSTED
                                                            : PZ_OK;
    if (refuse == PZ_OK) {
        queued *q = pz_calloc(1, sizeof *q);
        q->req = req;
        if (a->tail != NULL)
            a->tail->next = q;
        else
            a->head = q;
        a->tail = q;
        a->n_queued++;
        pthread_cond_signal(&a->wake);
    }
    pthread_mutex_unlock(&a->lock);
    if (refuse == PZ_UNAVAILABLE)
        fail_status(req, refuse, "the server is shutting down");
    else if (refuse != PZ_OK)
        fail_status(
            req, refuse,
            pz_arena_printf(req->arena, "%d admin requests are already waiting; try again", PZ_ADMIN_MAX_QUEUED));
}

/* A request under admission: the front's completion, put back once admission decided. */
typedef struct admission {
    pz_admin *admin;
    pz_request_done_cb on_done;
    void *front_data;
} admission;

static void admitted(pz_request *req)
{
    admission *ad = req->front_data;
    req->on_done = ad->on_done;
    req->front_data = ad->front_data;
    if (req->status != PZ_OK) {
        req->on_done(req); /* refused: the front answers the error */
        return;
    }
    enqueue(ad->admin, req);
}

void pz_admin_handle(void *ctx, pz_request *req)
{
    pz_admin *a = ctx;
    if (a->o.admit == NULL) {
        enqueue(a, req);
        return;
    }
    admission *ad = pz_arena_alloc(req->arena, sizeof *ad);
    *ad = (admission){a, req->on_done, req->front_data};
    req->on_done = admitted;
    req->front_data = ad;
    a->o.admit(a->o.admit_ctx, req);
}

void pz_admin_shutdown(pz_admin *a)
{
    pthread_mutex_lock(&a->lock);
    a->accepting = false;
    while (a->head != NULL || a->busy)
        pthread_cond_wait(&a->idle, &a->lock);
    pthread_mutex_unlock(&a->lock);
}

void pz_admin_destroy(pz_admin *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->lock);
    a->accepting = false;
    a->stopping = true;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL); /* answers what is still queued first */
    pthread_cond_destroy(&a->idle);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    free(a);
}
