/* Tests for server/events/cli.c: `events stats|dead-letters|replay` against an outbox prepared
 * here, and the usage errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/events/cli.h"
#include "server/events/outbox.h"
#include "server/events/record.h"

static char run_dir[512];  /* where a server would run: it holds the default data directory */
static char data_dir[600]; /* run_dir/pz-data */

/* Runs the CLI; returns the exit status and the output (malloc'ed) in *out. */
static int run(char **out, const char *a0, const char *a1, const char *a2, const char *a3, const char *a4,
               const char *a5, const char *a6)
{
    const char *argv[] = {"events", a0, a1, a2, a3, a4, a5, a6, NULL};
    int argc = 1;
    while (argv[argc] != NULL)
        argc++;
    FILE *o = tmpfile(), *e = tmpfile();
    int rc = pz_events_cli_main(argc, (char **)argv, o, e);
    fflush(o);
    fflush(e);
    long n = ftell(o), m = ftell(e);
    *out = calloc(1, (size_t)(n + m) + 2);
    rewind(o);
    rewind(e);
    size_t got = fread(*out, 1, (size_t)n, o);
    got += fread(*out + got, 1, (size_t)m, e);
    (*out)[got] = '\0';
    fclose(o);
    fclose(e);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
    snprintf(run_dir, sizeof run_dir, "%s/cli_test_%d", tmp, (int)getpid());
    snprintf(data_dir, sizeof data_dir, "%s/pz-data", run_dir);
    char dir[700], err[256];
    snprintf(dir, sizeof dir, "%s/outbox", data_dir);
    pz_outbox *ob;
    assert_int_equal(pz_outbox_open(dir, 16, &ob, err, sizeof err), 0);
    pz_arena a;
    pz_arena_init(&a);
    Personalization__V1__PutEventsRequest *m = (Personalization__V1__PutEventsRequest *)pz_arena_new_message(
        &a, &personalization__v1__put_events_request__descriptor);
    m->session_id = "s-cli";
    uint8_t *rec;
    size_t len;
    assert_int_equal(pz_evrec_render(m, "shop", NULL, 0, 1, "r", &a, &rec, &len, err, sizeof err), 0);
    pz_evrec_set_target(rec, 0, 1);
    pz_outbox_txn *t;
    assert_int_equal(pz_outbox_begin(ob, &t, err, sizeof err), 0);
    uint64_t seq;
    assert_int_equal(pz_outbox_append(t, rec, len, &seq, err, sizeof err), 0);
    assert_int_equal(pz_outbox_append(t, rec, len, &seq, err, sizeof err), 0);
    pz_outbox_target tg = {"shop/kinesis-stream/clicks", 1, 2, "{\"type\":\"kinesis-stream\"}"};
    assert_int_equal(pz_outbox_put_target(t, &tg, err, sizeof err), 0);
    pz_outbox_dead d = {1,   1,  "shop/kinesis-stream/clicks", 2, 1700000000000, "HTTP 400 ValidationException: no",
                        rec, len};
    assert_int_equal(pz_outbox_put_dead(t, &d, err, sizeof err), 0);
    assert_int_equal(pz_outbox_commit(t, err, sizeof err), 0);
    pz_outbox_close(ob);
    pz_arena_destroy(&a);
    return 0;
}

static void test_stats_lists_targets_with_lag(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(run(&out, "stats", "--data-dir", data_dir, NULL, NULL, NULL, NULL), 0);
    assert_non_null(strstr(out, "\"records\":2,\"deadLetters\":1"));
    assert_non_null(strstr(out, "{\"id\":\"shop/kinesis-stream/clicks\",\"number\":1,\"cursor\":2,\"lag\":1,"
                                "\"deadLetters\":1,\"spec\":{\"type\":\"kinesis-stream\"}}"));
    free(out);
}

static void test_dead_letters_and_replay(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(run(&out, "dead-letters", "--data-dir", data_dir, NULL, NULL, NULL, NULL), 0);
    assert_non_null(strstr(out, "{\"target\":\"shop/kinesis-stream/clicks\",\"number\":1,\"seq\":1,\"attempts\":2,"
                                "\"deadLetteredAt\":1700000000000,\"reason\":\"HTTP 400 ValidationException: no\","
                                "\"record\":{\"namespace\":\"shop\""));
    free(out);
    assert_int_equal(run(&out, "dead-letters", "--data-dir", data_dir, "--target", "other/x", NULL, NULL), 0);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(run(&out, "replay", "--data-dir", data_dir, "--target", "nope/x", NULL, NULL), 1);
    assert_non_null(strstr(out, "no registered target"));
    free(out);
    assert_int_equal(
        run(&out, "replay", "--data-dir", data_dir, "--target", "shop/kinesis-stream/clicks", "--seq", "1"), 0);
    assert_string_equal(out, "1 dead letter(s) queued for redelivery\n");
    free(out);
    assert_int_equal(run(&out, "stats", "--data-dir", data_dir, NULL, NULL, NULL, NULL), 0);
    assert_non_null(strstr(out, "\"deadLetters\":0,\"replaysQueued\":1"));
    free(out);
}

/* Without --data-dir the command reads ./pz-data, like a server started in the same directory. */
static void test_data_dir_defaults_to_the_servers(void **state)
{
    (void)state;
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    char *out;
    assert_int_equal(chdir(run_dir), 0);
    int rc = run(&out, "stats", NULL, NULL, NULL, NULL, NULL, NULL);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\"id\":\"shop/kinesis-stream/clicks\""));
    free(out);
    assert_int_equal(chdir(data_dir), 0); /* no pz-data in here */
    rc = run(&out, "stats", NULL, NULL, NULL, NULL, NULL, NULL);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "no outbox in pz-data"));
    free(out);
}

static void test_usage_errors(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(run(&out, "bogus", NULL, NULL, NULL, NULL, NULL, NULL), 2);
    assert_non_null(strstr(out, "unknown events command"));
    free(out);
    assert_int_equal(run(&out, "replay", "--data-dir", data_dir, NULL, NULL, NULL, NULL), 2);
    assert_non_null(strstr(out, "--all or --target"));
    free(out);
    assert_int_equal(run(&out, "replay", "--data-dir", data_dir, "--all", "--seq", "3", NULL), 2);
    free(out);
    assert_int_equal(run(&out, "stats", "--data-dir", "/nonexistent/pz", NULL, NULL, NULL, NULL), 1);
    assert_non_null(strstr(out, "no outbox"));
    free(out);
    assert_int_equal(run(&out, "--help", NULL, NULL, NULL, NULL, NULL, NULL), 0);
    assert_non_null(strstr(out, "dead-letters"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_lists_targets_with_lag),
        cmocka_unit_test(test_dead_letters_and_replay),
        cmocka_unit_test(test_data_dir_defaults_to_the_servers),
        cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests_name("events_cli", tests, setup, NULL);
}
