/* Tests for server/ops/admin.c: requests run on the admin's worker and complete once; the queue
 * limit (PZ_ADMIN_MAX_QUEUED) refuses the request beyond it; after shutdown requests are refused;
 * admission (the core's admin check once auth exists) decides before anything runs, on another
 * thread too; argument checks answer INVALID_ARGUMENT and
 * change nothing; a rollback to a rejected record is refused; apply goes through the holder and
 * the history. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "personalization/v1/admin.pb-c.h"
#include "server/core/mem.h"
#include "server/ops/admin.h"

typedef struct call {
    pz_arena arena;
    pz_request req;
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    bool done;
} call;

static void on_done(pz_request *req)
{
    call *c = req->front_data;
    pthread_mutex_lock(&c->lock);
    c->done = true;
    pthread_cond_broadcast(&c->done_cond);
    pthread_mutex_unlock(&c->lock);
}

static call *new_call(pz_rpc rpc)
{
    call *c = calloc(1, sizeof *c);
    pz_arena_init(&c->arena);
    pz_request_init(&c->req, &c->arena);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->done_cond, NULL);
    c->req.rpc = rpc;
    c->req.message = pz_arena_new_message(&c->arena, pz_rpc_get(rpc)->request);
    c->req.on_done = on_done;
    c->req.front_data = c;
    return c;
}

static void wait_done(call *c)
{
    pthread_mutex_lock(&c->lock);
    while (!c->done)
        pthread_cond_wait(&c->done_cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
}

static void free_call(call *c)
{
    pz_arena_destroy(&c->arena);
    pthread_cond_destroy(&c->done_cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Runs one request to completion. */
static call *run(pz_admin *a, call *c)
{
    pz_admin_handle(a, &c->req);
    wait_done(c);
    return c;
}

/* A catalog back-end whose status blocks until released: keeps the worker busy. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open, gate_entered;

static pz_status blocking_status(void *ctx, const char *ns, pz_buf *out, char *err, size_t errlen)
{
    (void)ctx, (void)err, (void)errlen;
    pthread_mutex_lock(&gate_lock);
    gate_entered = true;
    pthread_cond_broadcast(&gate_cond);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    pz_buf_printf(out, "{\"namespace\":\"%s\"}", ns);
    return PZ_OK;
}

typedef struct fixture {
    char dir[256];
    pz_config_holder *holder;
    pz_config_store *history;
} fixture;

static const char V1[] = "{\"version\":\"v1\",\"namespaces\":{\"shop\":{\"eventTargets\":[]}}}";

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TEST_TMPDIR");
    static int n;
    snprintf(f->dir, sizeof f->dir, "%s/admin-%d-%d", tmp != NULL ? tmp : "/tmp", (int)getpid(), n++);
    char err[256];
    assert_int_equal(pz_config_store_open(f->dir, 10, true, &f->history, err, sizeof err), 0);
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *cfg = pz_config_parse(V1, strlen(V1), &p);
    pz_config_store_listener(
        f->history, &(pz_config_load){.source = "test", .text = V1, .len = strlen(V1), .config = cfg, .problems = &p});
    pz_config_problems_free(&p);
    f->holder = pz_config_holder_create(cfg, NULL);
    pz_config_holder_set_listener(f->holder, pz_config_store_listener, f->history);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pz_config_holder_destroy(f->holder);
    pz_config_store_close(f->history);
    free(f);
    return 0;
}

static void test_queue_limit_and_shutdown(void **state)
{
    fixture *f = *state;
    gate_open = gate_entered = false;
    pz_admin *a = pz_admin_create(
        &(pz_admin_options){.config = f->holder, .history = f->history, .catalog = {.status = blocking_status}});
    call *busy = new_call(PZ_RPC_ADMIN_GET_CATALOG_STATUS);
    ((Personalization__V1__CatalogStatusRequest *)busy->req.message)->namespace_ = "shop";
    pz_admin_handle(a, &busy->req);
    pthread_mutex_lock(&gate_lock);
    while (!gate_entered)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    call *queued[PZ_ADMIN_MAX_QUEUED];
    for (int i = 0; i < PZ_ADMIN_MAX_QUEUED; i++) {
        queued[i] = new_call(PZ_RPC_ADMIN_LIST_CONFIG_HISTORY);
        pz_admin_handle(a, &queued[i]->req);
        assert_false(queued[i]->done);
    }
    call *over = new_call(PZ_RPC_ADMIN_LIST_CONFIG_HISTORY);
    pz_admin_handle(a, &over->req); /* one beyond the limit: refused at once */
    assert_true(over->done);
    assert_int_equal(over->req.status, PZ_RESOURCE_EXHAUSTED);
    pthread_mutex_lock(&gate_lock);
    gate_open = true;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    pz_admin_shutdown(a); /* returns once everything queued was answered */
    assert_true(busy->done);
    assert_int_equal(busy->req.status, PZ_OK);
    for (int i = 0; i < PZ_ADMIN_MAX_QUEUED; i++) {
        assert_true(queued[i]->done);
        assert_int_equal(queued[i]->req.status, PZ_OK);
        free_call(queued[i]);
    }
    call *late = new_call(PZ_RPC_ADMIN_GET_CONFIG);
    pz_admin_handle(a, &late->req);
    assert_true(late->done);
    assert_int_equal(late->req.status, PZ_UNAVAILABLE);
    pz_admin_destroy(a);
    free_call(busy);
    free_call(over);
    free_call(late);
}

/* Admission as the core's admin check does it: completes the request with OK or an error; this
 * one lets in requests that carry an "authorization: admin" header, from another thread. */
static void *admit_later(void *arg)
{
    pz_request *req = arg;
    const char *auth = pz_request_header(req, "authorization");
    if (auth != NULL && strcmp(auth, "admin") == 0)
        pz_request_succeed(req, NULL);
    else
        pz_request_fail(req, PZ_PERMISSION_DENIED, "Authorization", "MissingScope", "the admin scope is required");
    return NULL;
}

static void admit(void *ctx, pz_request *req)
{
    (void)ctx;
    pthread_t t;
    pthread_create(&t, NULL, admit_later, req);
    pthread_detach(t);
}

static void test_admission(void **state)
{
    fixture *f = *state;
    pz_admin *a = pz_admin_create(&(pz_admin_options){.config = f->holder, .history = f->history, .admit = admit});
    call *c = run(a, new_call(PZ_RPC_ADMIN_GET_CONFIG));
    assert_int_equal(c->req.status, PZ_PERMISSION_DENIED); /* answered with the admission's error */
    assert_string_equal(c->req.error.code, "MissingScope");
    assert_null(c->req.response);
    free_call(c);

    c = new_call(PZ_RPC_ADMIN_GET_CONFIG);
    static const pz_header admin_header = {"authorization", 13, "admin", 5};
    c->req.headers = &admin_header;
    c->req.n_headers = 1;
    run(a, c);
    assert_int_equal(c->req.status, PZ_OK); /* admitted, then run by the worker */
    assert_string_equal(((const Personalization__V1__ConfigRecord *)c->req.response)->version, "v1");
    free_call(c);
    pz_admin_shutdown(a);
    pz_admin_destroy(a);
}

static void test_arguments_and_config_changes(void **state)
{
    fixture *f = *state;
    pz_cache *cache = pz_cache_create(&(pz_cache_options){.capacity_bytes = 1 << 20});
    pz_admin *a = pz_admin_create(&(pz_admin_options){.config = f->holder, .history = f->history, .cache = cache});

    call *c = run(a, new_call(PZ_RPC_ADMIN_PURGE_CACHE)); /* neither all nor a namespace */
    assert_int_equal(c->req.status, PZ_INVALID_ARGUMENT);
    free_call(c);
    c = new_call(PZ_RPC_ADMIN_PURGE_CACHE);
    ((Personalization__V1__PurgeCacheRequest *)c->req.message)->user_id = "u1"; /* a user needs a namespace */
    assert_int_equal(run(a, c)->req.status, PZ_INVALID_ARGUMENT);
    free_call(c);
    c = new_call(PZ_RPC_ADMIN_PURGE_CACHE);
    ((Personalization__V1__PurgeCacheRequest *)c->req.message)->has_all = true;
    ((Personalization__V1__PurgeCacheRequest *)c->req.message)->all = true;
    assert_int_equal(run(a, c)->req.status, PZ_OK);
    free_call(c);

    c = run(a, new_call(PZ_RPC_ADMIN_GET_EVENT_STATS)); /* no events back-end wired */
    assert_int_equal(c->req.status, PZ_UNAVAILABLE);
    free_call(c);

    c = new_call(PZ_RPC_ADMIN_LIST_DEAD_LETTERS);
    ((Personalization__V1__ListDeadLettersRequest *)c->req.message)->has_limit = true;
    ((Personalization__V1__ListDeadLettersRequest *)c->req.message)->limit = PZ_ADMIN_MAX_DEAD_LETTERS + 1;
    assert_int_equal(run(a, c)->req.status, PZ_INVALID_ARGUMENT);
    free_call(c);

    /* apply: an ordinary validated reload, recorded */
    static const char V2[] = "{\"version\":\"v2\",\"namespaces\":{\"shop\":{\"eventTargets\":[]}}}";
    c = new_call(PZ_RPC_ADMIN_APPLY_CONFIG);
    Personalization__V1__ConfigDocument *doc = (Personalization__V1__ConfigDocument *)c->req.message;
    doc->has_document = true;
    doc->document = (ProtobufCBinaryData){strlen(V2), (uint8_t *)V2};
    run(a, c);
    assert_int_equal(c->req.status, PZ_OK);
    const Personalization__V1__ConfigChange *change = (const void *)c->req.response;
    assert_true(change->applied);
    assert_string_equal(change->record->version, "v2");
    assert_true(change->record->active);
    free_call(c);

    /* a bad document: not applied, its record has the errors */
    static const char BAD[] = "{\"version\":\"v3\",\"namespaces\":{\"shop\":{\"bogus\":1}}}";
    c = new_call(PZ_RPC_ADMIN_APPLY_CONFIG);
    doc = (Personalization__V1__ConfigDocument *)c->req.message;
    doc->has_document = true;
    doc->document = (ProtobufCBinaryData){strlen(BAD), (uint8_t *)BAD};
    run(a, c);
    change = (const void *)c->req.response;
    assert_false(change->applied);
    assert_string_equal(change->record->status, "rejected");
    assert_true(change->record->n_errors >= 1);
    unsigned rejected_id = change->record->id;
    free_call(c);
    pz_config *now = pz_config_holder_acquire(f->holder);
    assert_string_equal(pz_config_version(now), "v2");
    pz_config_unref(now);

    /* rollback to a rejected record: refused */
    char ref[16];
    snprintf(ref, sizeof ref, "@%u", rejected_id);
    c = new_call(PZ_RPC_ADMIN_ROLLBACK_CONFIG);
    ((Personalization__V1__RollbackConfigRequest *)c->req.message)->version = ref;
    assert_int_equal(run(a, c)->req.status, PZ_INVALID_ARGUMENT);
    free_call(c);
    c = new_call(PZ_RPC_ADMIN_ROLLBACK_CONFIG);
    ((Personalization__V1__RollbackConfigRequest *)c->req.message)->version = "v9";
    assert_int_equal(run(a, c)->req.status, PZ_NOT_FOUND);
    free_call(c);
    c = new_call(PZ_RPC_ADMIN_ROLLBACK_CONFIG);
    ((Personalization__V1__RollbackConfigRequest *)c->req.message)->version = "v1";
    run(a, c);
    change = (const void *)c->req.response;
    assert_true(change->applied);
    assert_string_equal(change->rolled_back_to, "@1");
    assert_string_equal(change->record->source, "rollback:@1");
    free_call(c);
    now = pz_config_holder_acquire(f->holder);
    assert_string_equal(pz_config_version(now), "v1");
    pz_config_unref(now);

    c = run(a, new_call(PZ_RPC_ADMIN_VALIDATE_CONFIG)); /* no document */
    assert_int_equal(c->req.status, PZ_INVALID_ARGUMENT);
    free_call(c);

    pz_admin_shutdown(a);
    pz_admin_destroy(a);
    pz_cache_destroy(cache);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queue_limit_and_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admission, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arguments_and_config_changes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
