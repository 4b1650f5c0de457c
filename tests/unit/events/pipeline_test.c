/* Tests for server/events/pipeline.c and worker.c with real LMDB and a file target: group commit
 * (made deterministic by holding the outbox's write lock from a child process), answers only
 * after the commit, the queue limit, builtin applied before the answer, retries until a target
 * recovers (jitter injected), durability and cursors across reopen, space reclaimed, a target
 * removed from the configuration retired, and builtin events applied exactly once across a crash
 * (a child process dies without closing) and across a full store. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/events/outbox.h"
#include "server/events/pipeline.h"
#include "server/recommenders/builtin.h"

typedef struct fixture {
    char dir[512];
    char outbox[600];
    char file[600];
    char config_path[600];
    pz_config_holder *holder;
    pz_builtin *builtin;
    pz_event_pipeline *p;
    bool quiet;
    size_t max_targets;                                           /* 0: the default */
    size_t map_mb;                                                /* 0: the default */
    int (*thread_create)(pthread_t *, void *(*)(void *), void *); /* NULL: pthread_create */
} fixture;

typedef struct call {
    pz_event_submission sub; /* first member: the completion finds the call from it */
    pz_arena arena;
    pz_status status; /* the answer */
    char code[64];
} call;

/* ---- completion capture ---- */

typedef struct done_counter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int ok, failed;
    pz_status last_status;
    char last_code[64];
    pz_builtin *builtin;
    int builtin_ready_at_answer;
} done_counter;

static done_counter counter = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, PZ_OK, "", NULL, 0};

static void on_done(pz_event_submission *s, const pz_error *err)
{
    call *c = (call *)s;
    c->status = err == NULL ? PZ_OK : err->status;
    snprintf(c->code, sizeof c->code, "%s", err == NULL ? "" : err->code);
    pthread_mutex_lock(&counter.lock);
    if (err == NULL)
        counter.ok++;
    else
        counter.failed++;
    counter.last_status = err == NULL ? PZ_OK : err->status;
    snprintf(counter.last_code, sizeof counter.last_code, "%s", err == NULL ? "" : err->code);
    if (counter.builtin != NULL && pz_builtin_has_data(counter.builtin, "shop"))
        counter.builtin_ready_at_answer++;
    pthread_cond_broadcast(&counter.cond);
    pthread_mutex_unlock(&counter.lock);
}

static void reset_counter(void)
{
    pthread_mutex_lock(&counter.lock);
    counter.ok = counter.failed = 0;
    counter.builtin = NULL;
    counter.builtin_ready_at_answer = 0;
    pthread_mutex_unlock(&counter.lock);
}

static void wait_answers(int n)
{
    pthread_mutex_lock(&counter.lock);
    while (counter.ok + counter.failed < n)
        pthread_cond_wait(&counter.cond, &counter.lock);
    pthread_mutex_unlock(&counter.lock);
}

static int answers(void)
{
    pthread_mutex_lock(&counter.lock);
    int n = counter.ok + counter.failed;
    pthread_mutex_unlock(&counter.lock);
    return n;
}

/* ---- set-up ---- */

static void write_config(fixture *f, bool with_file_target)
{
    FILE *out = fopen(f->config_path, "w");
    assert_non_null(out);
    fprintf(out,
            "{\"namespaces\":{\"shop\":{\"eventTargets\":[{\"type\":\"builtin\"}%s%s%s]},"
            "\"other\":{\"eventTargets\":[{\"type\":\"builtin\"}]}}}",
            with_file_target ? ",{\"type\":\"file\",\"path\":\"" : "", with_file_target ? f->file : "",
            with_file_target ? "\"}" : "");
    fclose(out);
}

static double half(void *ctx)
{
    (void)ctx;
    return 0.5;
}

/* Housekeeping (replays, retirement) runs every 50 ms, or never in the tests that hold the write
 * lock, so the writer is idle when they take it. */
static void open_pipeline(fixture *f, size_t max_queued)
{
    pz_event_pipeline_options o = {.outbox_dir = f->outbox,
                                   .learner = pz_builtin_learner(f->builtin),
                                   .config = f->holder,
                                   .max_queued_calls = max_queued,
                                   .backoff = {10, 40},
                                   .random = half,
                                   .housekeeping_ms = f->quiet ? 3600 * 1000 : 50,
                                   .max_targets = f->max_targets,
                                   .outbox_map_mb = f->map_mb,
                                   .thread_create = f->thread_create};
    char err[256];
    assert_int_equal(pz_event_pipeline_open(&o, &f->p, err, sizeof err), 0);
}

static int setup(void **state)
{
    static int n;
    fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
    snprintf(f->dir, sizeof f->dir, "%s/pipeline_test_%d_%d", tmp, (int)getpid(), n++);
    mkdir(f->dir, 0755);
    snprintf(f->outbox, sizeof f->outbox, "%s/outbox", f->dir);
    snprintf(f->file, sizeof f->file, "%s/sink/events.jsonl", f->dir);
    snprintf(f->config_path, sizeof f->config_path, "%s/config.json", f->dir);
    char builtin_dir[600], sink_dir[600], err[256];
    snprintf(builtin_dir, sizeof builtin_dir, "%s/builtin", f->dir);
    snprintf(sink_dir, sizeof sink_dir, "%s/sink", f->dir);
    mkdir(sink_dir, 0755);
    assert_int_equal(pz_builtin_open(builtin_dir, NULL, &f->builtin, err, sizeof err), 0);
    write_config(f, true);
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *cfg = pz_config_load_file(f->config_path, &p);
    assert_non_null(cfg);
    pz_config_problems_free(&p);
    f->holder = pz_config_holder_create(cfg, f->config_path);
    reset_counter();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pz_event_pipeline_destroy(f->p);
    pz_builtin_close(f->builtin);
    pz_config_holder_destroy(f->holder);
    free(f);
    return 0;
}

/* Submits one call of `n` click events by `user` to namespace ns; the request lives until the test
 * ends (leaked into a list freed by the OS at exit is not acceptable under LSan: keep it here). */

static call *submit_with(fixture *f, const char *ns, const char *user, int n, const char *properties);

static call *submit(fixture *f, const char *ns, const char *user, int n)
{
    return submit_with(f, ns, user, n, NULL);
}

/* The same, each event with `properties` (NULL: none). */
static call *submit_with(fixture *f, const char *ns, const char *user, int n, const char *properties)
{
    call *c = calloc(1, sizeof *c);
    pz_arena_init(&c->arena);
    Personalization__V1__PutEventsRequest *m = (Personalization__V1__PutEventsRequest *)pz_arena_new_message(
        &c->arena, &personalization__v1__put_events_request__descriptor);
    m->namespace_ = (char *)ns;
    m->session_id = pz_arena_printf(&c->arena, "s-%s", user);
    m->user_id = pz_arena_strdup(&c->arena, user);
    m->n_event_list = (size_t)n;
    m->event_list = pz_arena_calloc(&c->arena, (size_t)n, sizeof *m->event_list);
    for (int i = 0; i < n; i++) {
        Personalization__V1__Event *e =
            (Personalization__V1__Event *)pz_arena_new_message(&c->arena, &personalization__v1__event__descriptor);
        e->event_id = pz_arena_printf(&c->arena, "%s-%d", user, i);
        e->event_type = "click";
        e->item_id = pz_arena_printf(&c->arena, "item-%d", i);
        e->has_sent_at = 1;
        e->sent_at = 1700000000;
        e->properties = (char *)properties;
        m->event_list[i] = e;
    }
    pz_config *cfg = pz_config_holder_acquire(f->holder);
    c->sub =
        (pz_event_submission){.ns = pz_config_namespace(cfg, ns), .events = m, .arena = &c->arena, .done = on_done};
    pz_event_pipeline_submit(f->p, &c->sub);
    pz_config_unref(cfg);
    return c;
}

static void free_call(call *c)
{
    pz_arena_destroy(&c->arena);
    free(c);
}

static char *stats(fixture *f)
{
    pz_buf b;
    pz_buf_init(&b, 1 << 20);
    pz_event_pipeline_stats_json(f->p, &b);
    size_t len;
    return pz_buf_take(&b, &len);
}

static long stat_number(fixture *f, const char *key)
{
    char *s = stats(f);
    char *at = strstr(s, key);
    long v = at != NULL ? strtol(at + strlen(key), NULL, 10) : -1;
    free(s);
    return v;
}

/* A number of the first target whose id contains `id_part`. */
static long target_number(fixture *f, const char *id_part, const char *key)
{
    char *s = stats(f);
    char *t = strstr(s, id_part);
    char *at = t != NULL ? strstr(t, key) : NULL;
    long v = at != NULL ? strtol(at + strlen(key), NULL, 10) : -1;
    free(s);
    return v;
}

static int count_lines(const char *path)
{
    FILE *in = fopen(path, "r");
    if (in == NULL)
        return 0;
    int n = 0, c;
    while ((c = fgetc(in)) != EOF)
        n += c == '\n';
    fclose(in);
    return n;
}

/* ---- the write lock held by another process ---- */

typedef struct locker {
    pid_t pid;
    int to_child, from_child;
} locker;

static locker fork_locker(const char *outbox_dir)
{
    int down[2], up[2];
    assert_int_equal(pipe(down), 0);
    assert_int_equal(pipe(up), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char cmd;
        if (read(down[0], &cmd, 1) != 1)
            _exit(1);
        pz_outbox *ob;
        pz_outbox_txn *t;
        char err[256];
        if (pz_outbox_open(outbox_dir, 0, &ob, err, sizeof err) != 0 || pz_outbox_begin(ob, &t, err, sizeof err) != 0)
            _exit(2);
        if (write(up[1], "L", 1) != 1 || read(down[0], &cmd, 1) != 1)
            _exit(3);
        pz_outbox_abort(t);
        pz_outbox_close(ob);
        _exit(0);
    }
    close(down[0]);
    close(up[1]);
    return (locker){pid, down[1], up[0]};
}

static void lock_outbox(locker *l)
{
    char c;
    assert_int_equal(write(l->to_child, "l", 1), 1);
    assert_int_equal(read(l->from_child, &c, 1), 1);
}

static void unlock_outbox(locker *l)
{
    int status;
    assert_int_equal(write(l->to_child, "u", 1), 1);
    assert_int_equal(waitpid(l->pid, &status, 0), l->pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(l->to_child);
    close(l->from_child);
}

static void wait_queued(fixture *f, long n)
{
    while (stat_number(f, "\"queuedCalls\":") != n) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/* ---- tests ---- */

static void test_group_commit_answers_only_after_the_commit(void **state)
{
    fixture *f = *state;
    mkdir(f->outbox, 0755);
    locker l = fork_locker(f->outbox);
    f->quiet = true;
    open_pipeline(f, 0);
    lock_outbox(&l);
    call *calls[40];
    calls[0] = submit(f, "shop", "u0", 2);
    wait_queued(f, 0); /* the writer took it and waits for the lock */
    for (int i = 1; i < 40; i++) {
        char user[16];
        snprintf(user, sizeof user, "u%d", i);
        calls[i] = submit(f, i % 2 ? "shop" : "other", user, 2);
    }
    wait_queued(f, 39);
    assert_int_equal(answers(), 0); /* nothing is answered before it is durable */
    long commits_before = stat_number(f, "\"commits\":");
    unlock_outbox(&l);
    wait_answers(40);
    assert_int_equal(counter.ok, 40);
    assert_int_equal(stat_number(f, "\"commits\":") - commits_before, 2); /* 1 call, then the other 39 at once */
    assert_int_equal(stat_number(f, "\"calls\":"), 40);
    assert_int_equal(stat_number(f, "\"events\":"), 80);
    for (int i = 0; i < 40; i++)
        free_call(calls[i]);
}

static void test_queue_limit_answers_429_at_once(void **state)
{
    fixture *f = *state;
    mkdir(f->outbox, 0755);
    locker l = fork_locker(f->outbox);
    f->quiet = true;
    open_pipeline(f, 2);
    lock_outbox(&l);
    call *c1 = submit(f, "shop", "a", 1);
    wait_queued(f, 0);
    call *c2 = submit(f, "shop", "b", 1);
    call *c3 = submit(f, "shop", "c", 1);
    assert_int_equal(answers(), 0);
    call *c4 = submit(f, "shop", "d", 1); /* the third queued call crosses the limit of 2 */
    assert_int_equal(answers(), 1);
    assert_int_equal(c4->status, PZ_RESOURCE_EXHAUSTED);
    assert_string_equal(c4->code, "TooManyRequests");
    unlock_outbox(&l);
    wait_answers(4);
    assert_int_equal(counter.ok, 3);
    free_call(c1);
    free_call(c2);
    free_call(c3);
    free_call(c4);
}

static void test_builtin_learns_before_the_answer(void **state)
{
    fixture *f = *state;
    open_pipeline(f, 0);
    counter.builtin = f->builtin;
    assert_false(pz_builtin_has_data(f->builtin, "shop"));
    call *c = submit(f, "shop", "u1", 3);
    wait_answers(1);
    assert_int_equal(counter.ok, 1);
    assert_int_equal(counter.builtin_ready_at_answer, 1);
    free_call(c);
}

static void test_delivery_survives_reopen_without_duplicates_and_reclaims(void **state)
{
    fixture *f = *state;
    open_pipeline(f, 0);
    call *calls[10];
    for (int i = 0; i < 10; i++) {
        char user[16];
        snprintf(user, sizeof user, "r%d", i);
        calls[i] = submit(f, "shop", user, 1);
    }
    wait_answers(10);
    assert_true(pz_event_pipeline_wait_delivered(f->p, 10000));
    assert_int_equal(count_lines(f->file), 10);
    pz_event_pipeline_destroy(f->p);
    f->p = NULL;
    for (int i = 0; i < 10; i++)
        free_call(calls[i]);
    /* reopened: cursors were stored, nothing is sent twice; the log was reclaimed */
    open_pipeline(f, 0);
    assert_true(pz_event_pipeline_wait_delivered(f->p, 10000));
    assert_int_equal(count_lines(f->file), 10);
    char *s = stats(f);
    assert_non_null(strstr(s, "\"records\":0,"));
    assert_non_null(strstr(s, "\"id\":\"shop/builtin\""));
    free(s);
    reset_counter();
    call *more = submit(f, "shop", "after", 2);
    wait_answers(1);
    assert_true(pz_event_pipeline_wait_delivered(f->p, 10000));
    assert_int_equal(count_lines(f->file), 11);
    free_call(more);
}

/* The pipeline's metrics page as of `at_ms` (pz_event_pipeline_collect_metrics). */
static int64_t metrics_now;

static void collect_at(void *ctx, pz_metrics_writer *w)
{
    pz_event_pipeline_collect_metrics(ctx, w, metrics_now);
}

static double metric(fixture *f, int64_t at_ms, const char *sample)
{
    pz_metrics *m = pz_metrics_create();
    pz_metrics_add_collector(m, collect_at, f->p);
    metrics_now = at_ms;
    pz_buf b;
    pz_buf_init(&b, 1 << 20);
    assert_int_equal(pz_metrics_render(m, &b), 0);
    const char *line = strstr(b.data, sample);
    if (line == NULL)
        fail_msg("no sample %s in:\n%s", sample, b.data);
    double v = strtod(line + strlen(sample), NULL);
    pz_buf_free(&b);
    pz_metrics_destroy(m);
    return v;
}

static void test_a_failing_target_is_retried_until_it_recovers(void **state)
{
    fixture *f = *state;
    char sink[600];
    snprintf(sink, sizeof sink, "%s/sink", f->dir);
    rmdir(sink); /* the file target cannot open its file */
    open_pipeline(f, 0);
    call *c = submit(f, "shop", "x", 1);
    wait_answers(1);
    assert_int_equal(counter.ok, 1); /* accepted: durable in the outbox */
    for (;;) {                       /* retried with backoff (10 ms base, 40 ms cap), the failure visible */
        char *s = stats(f);
        bool retrying = strstr(s, "cannot open") != NULL && strstr(s, "\"state\":\"retrying\"") != NULL;
        free(s);
        if (retrying && target_number(f, "shop/file/", "\"retried\":") >= 3)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_false(pz_event_pipeline_wait_delivered(f->p, 50));
    /* the metrics say so: one record behind, as old as its commit, retrying */
    char labels[900];
    snprintf(labels, sizeof labels, "{target=\"shop/file/%s\",type=\"file\",namespace=\"shop\"} ", f->file);
    char sample[1000];
    snprintf(sample, sizeof sample, "pz_event_target_lag_records%s", labels);
    assert_true(metric(f, pz_now_ms(), sample) == 1);
    snprintf(sample, sizeof sample, "pz_event_target_lag_seconds%s", labels);
    double lag = metric(f, pz_now_ms() + 7000, sample);
    assert_true(lag >= 7 && lag < 60);
    snprintf(sample, sizeof sample, "pz_event_target_retrying%s", labels);
    assert_true(metric(f, pz_now_ms(), sample) == 1);
    assert_true(metric(f, pz_now_ms(), "\npz_events_accepted_total ") == 1);
    mkdir(sink, 0755);
    assert_true(pz_event_pipeline_wait_delivered(f->p, 10000));
    assert_int_equal(count_lines(f->file), 1);
    snprintf(sample, sizeof sample, "pz_event_target_lag_seconds%s", labels);
    assert_true(metric(f, pz_now_ms() + 7000, sample) == 0); /* caught up */
    snprintf(sample, sizeof sample, "pz_event_target_delivered_records_total%s", labels);
    assert_true(metric(f, pz_now_ms(), sample) == 1);
    free_call(c);
}

static void test_removed_target_is_retired_once_delivered(void **state)
{
    fixture *f = *state;
    open_pipeline(f, 0);
    call *c = submit(f, "shop", "y", 1);
    wait_answers(1);
    assert_true(pz_event_pipeline_wait_delivered(f->p, 10000));
    char *s = stats(f);
    assert_non_null(strstr(s, "shop/file/"));
    free(s);
    write_config(f, false);
    assert_int_equal(pz_config_holder_reload(f->holder), 0);
    for (;;) { /* housekeeping runs every 50 ms here */
        s = stats(f);
        bool gone = strstr(s, "shop/file/") == NULL;
        free(s);
        if (gone)
            break;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    s = stats(f);
    assert_non_null(strstr(s, "shop/builtin")); /* still configured: kept */
    free(s);
    free_call(c);
}

static void test_drain_refuses_new_calls(void **state)
{
    fixture *f = *state;
    open_pipeline(f, 0);
    pz_event_pipeline_drain(f->p);
    call *c = submit(f, "shop", "late", 1);
    assert_int_equal(answers(), 1);
    assert_int_equal(c->status, PZ_UNAVAILABLE);
    assert_string_equal(c->code, "ShuttingDown");
    free_call(c);
}

/* ---- exactly once across a crash (the learner writes in batches) ---- */

static void reopen_builtin(fixture *f, const pz_builtin_options *o)
{
    char dir[600], err[256];
    snprintf(dir, sizeof dir, "%s/builtin", f->dir);
    pz_builtin_close(f->builtin);
    f->builtin = NULL;
    if (pz_builtin_open(dir, o, &f->builtin, err, sizeof err) != 0)
        fail_msg("open builtin: %s", err);
}

/* The popularity of item-i in "shop" at the events' time: clicks weigh 1, so the count. */
static double clicks_on(fixture *f, int i)
{
    pz_arena a;
    pz_arena_init(&a);
    pz_scored_item *r;
    char err[256], item[32];
    snprintf(item, sizeof item, "item-%d", i);
    int n = pz_builtin_popular(f->builtin, "shop", 50, INT64_C(1700000000000), &a, &r, err, sizeof err);
    double score = 0;
    for (int k = 0; k < n; k++) {
        if (strcmp(r[k].item_id, item) == 0)
            score = r[k].score;
    }
    pz_arena_destroy(&a);
    return score;
}

/* A child process accepts 3 calls of 4 events each (applied inline, not flushed: the builtin's
 * flush interval is an hour), lets the writer store the cursors it may, flushes the builtin when
 * `flush_first` (no round stores the cursor after that), and dies without closing anything. The
 * parent reopens, the outbox re-sends the records: every event counts once. */
static void crash_and_recover(fixture *f, bool flush_first)
{
    pz_builtin_options o;
    pz_builtin_options_default(&o);
    o.flush_interval_ms = 3600 * 1000;
    reopen_builtin(f, &o);
    pz_builtin_close(f->builtin); /* the child opens it: one process per store */
    f->builtin = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        f->quiet = true; /* no housekeeping round: after the flush below, no round stores cursors */
        reopen_builtin(f, &o);
        open_pipeline(f, 0);
        for (int i = 0; i < 3; i++) { /* the calls die with the child */
            char user[32];
            snprintf(user, sizeof user, "crash%d", i);
            submit(f, "shop", user, 4);
        }
        wait_answers(3);
        char err[256];
        if (pz_builtin_unflushed_from(f->builtin, "nope") != UINT64_MAX || !pz_builtin_has_data(f->builtin, "shop"))
            _exit(3);
        struct timespec ts = {0, 200 * 1000 * 1000}; /* the progress round stores the cursors it may */
        nanosleep(&ts, NULL);
        if (flush_first && pz_builtin_flush(f->builtin, err, sizeof err) != 0)
            _exit(4);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    reopen_builtin(f, NULL);
    open_pipeline(f, 0);
    assert_true(pz_event_pipeline_wait_delivered(f->p, 10000));
    for (int i = 0; i < 4; i++) {
        double got = clicks_on(f, i);
        if (fabs(got - 3.0) > 1e-9)
            fail_msg("item-%d: %.17g clicks, want 3", i, got);
    }
    pz_builtin_stats st;
    pz_builtin_stats_get(f->builtin, &st);
    assert_int_equal(st.events_learned, flush_first ? 0 : 12);
    assert_int_equal(st.events_skipped, flush_first ? 12 : 0);
}

static void test_builtin_events_lost_by_a_crash_are_applied_again_once(void **state)
{
    crash_and_recover(*state, false);
}

static void test_builtin_events_flushed_before_a_crash_are_not_applied_twice(void **state)
{
    fixture *f = *state;
    crash_and_recover(f, true);
    /* After its next flush the cursor moves on and the outbox reclaims the records. */
    char err[256];
    assert_int_equal(pz_builtin_flush(f->builtin, err, sizeof err), 0);
    for (int i = 0; i < 2000 && stat_number(f, "\"records\":") != 0; i++) {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(stat_number(f, "\"records\":"), 0);
}

/* A builtin store that cannot grow: events are still accepted (durable in the outbox), the target
 * retries, and a restart with room applies each once. */
static void test_a_full_builtin_store_keeps_events_in_the_outbox(void **state)
{
    fixture *f = *state;
    pz_builtin_options o;
    pz_builtin_options_default(&o);
    o.map_size_mb = 1;
    o.max_size_mb = 1;
    o.pending_mb = 1;
    o.flush_interval_ms = 10;
    o.retry_ms = 20;
    reopen_builtin(f, &o);
    open_pipeline(f, 0);
    /* 200 calls of 10 events on 2000 distinct long item ids fill a 1 MiB map */
    call *c[200];
    for (int i = 0; i < 200; i++) {
        c[i] = calloc(1, sizeof *c[i]);
        pz_arena_init(&c[i]->arena);
        Personalization__V1__PutEventsRequest *m = (Personalization__V1__PutEventsRequest *)pz_arena_new_message(
            &c[i]->arena, &personalization__v1__put_events_request__descriptor);
        m->namespace_ = "shop";
        m->session_id = "s";
        m->user_id = pz_arena_printf(&c[i]->arena, "full-%d", i);
        m->n_event_list = 10;
        m->event_list = pz_arena_calloc(&c[i]->arena, 10, sizeof *m->event_list);
        for (int k = 0; k < 10; k++) {
            Personalization__V1__Event *e = (Personalization__V1__Event *)pz_arena_new_message(
                &c[i]->arena, &personalization__v1__event__descriptor);
            e->event_type = "click";
            e->item_id = pz_arena_printf(&c[i]->arena, "%0250d", i * 10 + k);
            e->has_sent_at = 1;
            e->sent_at = 1700000000;
            m->event_list[k] = e;
        }
        pz_config *cfg = pz_config_holder_acquire(f->holder);
        c[i]->sub = (pz_event_submission){
            .ns = pz_config_namespace(cfg, "shop"), .events = m, .arena = &c[i]->arena, .done = on_done};
        pz_event_pipeline_submit(f->p, &c[i]->sub);
        pz_config_unref(cfg);
    }
    wait_answers(200);
    assert_int_equal(counter.ok, 200); /* accepted all the same */
    pz_builtin_stats st;
    for (int i = 0; i < 2000; i++) {
        pz_builtin_stats_get(f->builtin, &st);
        if (st.full && st.flush_failures >= 2)
            break;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    assert_true(st.full);
    assert_non_null(strstr(st.last_error, "the store is full"));
    pz_event_pipeline_destroy(f->p);
    f->p = NULL;
    const char **ids = calloc(2000, sizeof *ids);
    for (int i = 0; i < 200; i++) {
        for (int k = 0; k < 10; k++)
            ids[i * 10 + k] = strdup(c[i]->sub.events->event_list[k]->item_id);
        free_call(c[i]);
    }
    /* room again: the outbox still holds what the store could not write */
    reopen_builtin(f, NULL);
    open_pipeline(f, 0);
    assert_true(pz_event_pipeline_wait_delivered(f->p, 10000));
    char err[256];
    assert_int_equal(pz_builtin_flush(f->builtin, err, sizeof err), 0);
    pz_arena a;
    pz_arena_init(&a);
    pz_scored_item *r; /* without a user, rerank scores each known id by its popularity */
    assert_int_equal(
        pz_builtin_rerank(f->builtin, "shop", NULL, ids, 2000, INT64_C(1700000000000), &a, &r, err, sizeof err), 2000);
    for (int i = 0; i < 2000; i++) {
        assert_true(r[i].has_score);
        assert_true(fabs(r[i].score - 1.0) < 1e-9);
        free((char *)ids[i]);
    }
    free(ids);
    pz_arena_destroy(&a);
}

/* Issue 19: targets are bounded, and a target whose delivery thread cannot be started refuses the
 * call (503) instead of aborting the process; the refusal stores nothing. */
static void test_target_limit_refuses_calls_and_stores_nothing(void **state)
{
    fixture *f = *state;
    f->max_targets = 2; /* shop/builtin + shop/file */
    open_pipeline(f, 0);
    call *a = submit(f, "shop", "a", 1);
    wait_answers(1);
    assert_int_equal(a->status, PZ_OK);
    long records = stat_number(f, "\"nextSeq\":");
    call *b = submit(f, "other", "b", 1); /* needs a third target */
    wait_answers(2);
    assert_int_equal(b->status, PZ_UNAVAILABLE);
    assert_string_equal(b->code, "DeliveryCapacityExhausted");
    assert_int_equal(stat_number(f, "\"nextSeq\":"), records); /* nothing stored */
    char *s = stats(f);
    assert_null(strstr(s, "other/builtin"));
    assert_non_null(strstr(s, "\"calls\":1,"));
    free(s);
    call *c = submit(f, "shop", "c", 1); /* known targets still take calls */
    wait_answers(3);
    assert_int_equal(c->status, PZ_OK);
    assert_true(pz_event_pipeline_wait_delivered(f->p, 10000));
    assert_int_equal(count_lines(f->file), 2);
    free_call(a);
    free_call(b);
    free_call(c);
}

static int threads_to_refuse;

static int refusing_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
    if (__atomic_fetch_sub(&threads_to_refuse, 1, __ATOMIC_SEQ_CST) > 0)
        return EAGAIN; /* what pthread_create says at RLIMIT_NPROC */
    return pthread_create(t, NULL, fn, arg);
}

static void test_thread_start_failure_refuses_the_call(void **state)
{
    fixture *f = *state;
    f->thread_create = refusing_thread_create;
    __atomic_store_n(&threads_to_refuse, 2,
                     __ATOMIC_SEQ_CST); /* shop's second new target cannot get its thread: the call is refused whole */
    open_pipeline(f, 0);
    call *a = submit(f, "shop", "a", 1);
    wait_answers(1);
    assert_int_equal(a->status, PZ_UNAVAILABLE);
    assert_string_equal(a->code, "DeliveryCapacityExhausted");
    char *s = stats(f);
    assert_null(strstr(s, "shop/"));
    assert_non_null(strstr(s, "\"nextSeq\":1,"));
    free(s);
    __atomic_store_n(&threads_to_refuse, 0,
                     __ATOMIC_SEQ_CST); /* the limit is lifted: the next call registers both and is delivered */
    call *b = submit(f, "shop", "b", 1);
    wait_answers(2);
    assert_int_equal(b->status, PZ_OK);
    assert_true(pz_event_pipeline_wait_delivered(f->p, 10000));
    assert_int_equal(count_lines(f->file), 1);
    free_call(a);
    free_call(b);
}

/* Stored targets whose threads cannot be started at open keep their records and start later. */
static void test_thread_start_failure_at_open_is_retried(void **state)
{
    fixture *f = *state;
    f->quiet = false;
    open_pipeline(f, 0);
    call *a = submit(f, "shop", "a", 1);
    wait_answers(1);
    assert_true(pz_event_pipeline_wait_delivered(f->p, 10000));
    pz_event_pipeline_destroy(f->p);
    f->p = NULL;
    f->thread_create = refusing_thread_create;
    __atomic_store_n(&threads_to_refuse, 1000, __ATOMIC_SEQ_CST); /* every start fails ... */
    open_pipeline(f, 0);
    call *b = submit(f, "shop", "b", 1);
    wait_answers(2);
    assert_int_equal(b->status, PZ_OK); /* known targets: accepted and durable */
    assert_false(pz_event_pipeline_wait_delivered(f->p, 200));
    assert_int_equal(count_lines(f->file), 1);
    __atomic_store_n(&threads_to_refuse, 0, __ATOMIC_SEQ_CST); /* ... until the limit is lifted */
    assert_true(pz_event_pipeline_wait_delivered(f->p, 10000));
    assert_int_equal(count_lines(f->file), 2);
    free_call(a);
    free_call(b);
}

static int count_in_file(const char *path, const char *needle)
{
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, in) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(in);
    return n;
}

/* Issue 19: when the store cannot take calls (a full outbox here, a full disk in production),
 * every call is refused with 503 but the log gets one line per interval, not one per call. */
static void test_store_failures_are_logged_at_a_bounded_rate(void **state)
{
    fixture *f = *state;
    f->map_mb = 1;
    char sink[600];
    snprintf(sink, sizeof sink, "%s/sink", f->dir);
    rmdir(sink); /* the file target cannot deliver, so its records stay in the outbox */
    open_pipeline(f, 0);
    char log_path[700];
    snprintf(log_path, sizeof log_path, "%s/stderr.log", f->dir);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDERR_FILENO);
    close(fd);
    /* Large calls, 20 at a time (group commit), until the 1 MiB outbox has refused 50 or more. */
    int refused = 0, sent = 0;
    char props[1001];
    memset(props, ' ', 1000);
    props[0] = '{';
    props[999] = '}';
    props[1000] = '\0';
    while (refused < 50 && sent < 2000) {
        call *batch[20];
        for (int k = 0; k < 20; k++) {
            batch[k] = submit_with(f, "shop", "flood", 10, props);
            sent++;
        }
        wait_answers(sent);
        for (int k = 0; k < 20; k++) {
            if (batch[k]->status != PZ_OK) {
                refused++;
                assert_string_equal(batch[k]->code, "EventStoreUnavailable");
            }
            free_call(batch[k]);
        }
    }
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    assert_true(refused >= 50);
    assert_int_equal(count_in_file(log_path, "outbox write failed"), 1); /* 50 refusals within the interval */
    assert_int_equal(count_in_file(log_path, "the outbox is full"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_commit_answers_only_after_the_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_limit_answers_429_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_builtin_learns_before_the_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivery_survives_reopen_without_duplicates_and_reclaims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_failing_target_is_retried_until_it_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_target_is_retired_once_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain_refuses_new_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_builtin_events_lost_by_a_crash_are_applied_again_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_builtin_events_flushed_before_a_crash_are_not_applied_twice, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_full_builtin_store_keeps_events_in_the_outbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_target_limit_refuses_calls_and_stores_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_start_failure_refuses_the_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_start_failure_at_open_is_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_failures_are_logged_at_a_bounded_rate, setup, teardown),
    };
    return cmocka_run_group_tests_name("events_pipeline", tests, NULL, NULL);
}
