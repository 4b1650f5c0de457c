/* Tests for server/experiments/store.c: users counted once per variation, conversions counted
 * against the variation the user was last exposed to, unattributed conversions, records applied
 * at most once (seq), durability across reopen, listing, deletion, a full store, the CLI. Real LMDB
 * in $TEST_TMPDIR. */
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

#include "server/experiments/cli.h"
#include "server/experiments/store.h"

static char *temp_dir(void)
{
    static int n;
    const char *tmp = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
    char *dir = malloc(512);
    snprintf(dir, 512, "%s/experiments_test_%d_%d", tmp, (int)getpid(), n++);
    return dir;
}

static pz_experiments *open_at(const char *dir, size_t map_mb)
{
    pz_experiments *x;
    char err[256];
    assert_int_equal(pz_experiments_open(dir, map_mb, &x, err, sizeof err), 0);
    return x;
}

static uint64_t next_seq = 1;

static pz_experiment_event exposure(const char *variation, const char *user, const char *metric)
{
    return (pz_experiment_event){.kind = PZ_EXPERIMENT_EXPOSURE,
                                 .seq = next_seq++,
                                 .recommender = "for-you",
                                 .feature = "layout",
                                 .variation = variation,
                                 .user_id = user,
                                 .metric = metric,
                                 .control = "a",
                                 .at_ms = 1000 + (int64_t)next_seq};
}

static pz_experiment_event conversion(const char *variation, const char *user, const char *metric, double value)
{
    return (pz_experiment_event){.kind = PZ_EXPERIMENT_CONVERSION,
                                 .seq = next_seq++,
                                 .recommender = "for-you",
                                 .feature = "layout",
                                 .variation = variation,
                                 .user_id = user,
                                 .metric = metric,
                                 .value = value,
                                 .at_ms = 1000 + (int64_t)next_seq};
}

static void apply(pz_experiments *x, const pz_experiment_event *ev, size_t n)
{
    char err[256];
    assert_int_equal(pz_experiments_apply(x, "shop", NULL, ev, n, err, sizeof err), 0);
}

static const pz_experiment_cell *cell(const pz_experiment_data *d, const char *variation, const char *metric)
{
    for (size_t i = 0; i < d->n_cells; i++) {
        const pz_experiment_cell *c = &d->cells[i];
        if (strcmp(c->variation, variation) == 0 &&
            (metric == NULL ? c->metric == NULL : c->metric != NULL && strcmp(c->metric, metric) == 0))
            return c;
    }
    return NULL;
}

static void read_layout(pz_experiments *x, pz_arena *a, pz_experiment_data *d)
{
    char err[256];
    assert_int_equal(pz_experiments_read(x, "shop", "for-you", "layout", a, d, err, sizeof err), 0);
}

static void test_counts_users_once_and_conversions_of_exposed_users(void **state)
{
    (void)state;
    char *dir = temp_dir();
    pz_experiments *x = open_at(dir, 0);
    pz_experiment_event evs[] = {
        exposure("a", "u1", "clicks"),
        exposure("a", "u1", "clicks"), /* u1 twice: one user */
        exposure("b", "u2", "clicks"),
        exposure("b", "u3", "clicks"), /* two users in b */
        conversion("a", "u1", "clicks", 1),
        conversion("a", "u1", "clicks", 2.5),     /* one converter, 2 events */
        conversion("b", "u3", "clicks", 1),       /* b: one converter */
        conversion("b", "stranger", "clicks", 1), /* never exposed */
    };
    apply(x, evs, sizeof evs / sizeof evs[0]);
    pz_arena a;
    pz_arena_init(&a);
    pz_experiment_data d;
    read_layout(x, &a, &d);
    assert_true(d.found);
    assert_string_equal(d.control, "a");
    assert_int_equal(cell(&d, "a", NULL)->users, 1);
    assert_int_equal(cell(&d, "b", NULL)->users, 2);
    const pz_experiment_cell *ac = cell(&d, "a", "clicks"), *bc = cell(&d, "b", "clicks");
    assert_int_equal(ac->exposures, 2);
    assert_int_equal(ac->conversions, 2);
    assert_int_equal(ac->converted_users, 1);
    assert_true(ac->value == 3.5);
    assert_int_equal(bc->exposures, 2);
    assert_int_equal(bc->conversions, 1);
    assert_int_equal(bc->converted_users, 1);
    assert_int_equal(bc->unattributed, 1);
    assert_true(d.first_ms < d.last_ms);
    pz_arena_destroy(&a);
    pz_experiments_close(x);
    free(dir);
}

static void test_conversion_counts_where_the_user_was_last_exposed(void **state)
{
    (void)state;
    char *dir = temp_dir();
    pz_experiments *x = open_at(dir, 0);
    /* weights changed between the exposures: u1 saw a, then b; its conversion names a (its
     * assignment now) but counts against b, what it saw last; it is a user of both. */
    pz_experiment_event evs[] = {exposure("a", "u1", NULL), exposure("b", "u1", NULL), conversion("a", "u1", "buy", 1)};
    apply(x, evs, 3);
    pz_arena a;
    pz_arena_init(&a);
    pz_experiment_data d;
    read_layout(x, &a, &d);
    assert_int_equal(cell(&d, "a", NULL)->users, 1);
    assert_int_equal(cell(&d, "b", NULL)->users, 1);
    assert_null(cell(&d, "a", "buy"));
    assert_int_equal(cell(&d, "b", "buy")->converted_users, 1);
    pz_arena_destroy(&a);
    pz_experiments_close(x);
    free(dir);
}

static void test_records_apply_at_most_once_and_survive_reopen(void **state)
{
    (void)state;
    char *dir = temp_dir();
    pz_experiments *x = open_at(dir, 0);
    pz_experiment_event evs[] = {exposure("a", "u1", "clicks"), exposure("a", "u2", "clicks")};
    apply(x, evs, 2);
    apply(x, evs, 2); /* the same records delivered again (a crash before the cursor was saved) */
    pz_experiments_close(x);
    x = open_at(dir, 0);
    pz_arena a;
    pz_arena_init(&a);
    pz_experiment_data d;
    read_layout(x, &a, &d);
    assert_int_equal(cell(&d, "a", NULL)->users, 2);
    assert_int_equal(cell(&d, "a", "clicks")->exposures, 2);
    /* another namespace's seqs are its own */
    pz_experiment_event other = exposure("a", "u9", "clicks");
    other.seq = 1;
    char err[256];
    assert_int_equal(pz_experiments_apply(x, "other", NULL, &other, 1, err, sizeof err), 0);
    pz_experiment_data od;
    assert_int_equal(pz_experiments_read(x, "other", "for-you", "layout", &a, &od, err, sizeof err), 0);
    assert_int_equal(cell(&od, "a", NULL)->users, 1);
    pz_arena_destroy(&a);
    pz_experiments_close(x);
    free(dir);
}

/* Each source of a namespace (the outbox; a partition of a Kafka event log) keeps its own mark:
 * another instance's records counted from the log are neither lost to nor confused with this
 * instance's outbox seqs, and a record read again from the log is counted once. */
static void test_each_stream_applies_at_most_once(void **state)
{
    (void)state;
    char *dir = temp_dir();
    pz_experiments *x = open_at(dir, 0);
    char err[256];
    pz_experiment_event mine = exposure("a", "u1", "clicks");
    mine.seq = 50;
    assert_int_equal(pz_experiments_apply(x, "shop", NULL, &mine, 1, err, sizeof err), 0);
    pz_experiment_event theirs[] = {exposure("b", "u2", "clicks"), exposure("b", "u3", "clicks")};
    theirs[0].seq = 1; /* offset 0 of a partition: below the outbox's 50, its own stream */
    theirs[1].seq = 2;
    assert_int_equal(pz_experiments_apply(x, "shop", "kafka:0123456789abcdef#0", theirs, 2, err, sizeof err), 0);
    assert_int_equal(pz_experiments_apply(x, "shop", "kafka:0123456789abcdef#0", theirs, 2, err, sizeof err), 0);
    pz_experiment_event again = exposure("b", "u4", "clicks");
    again.seq = 2; /* at the stream's mark: skipped */
    assert_int_equal(pz_experiments_apply(x, "shop", "kafka:0123456789abcdef#0", &again, 1, err, sizeof err), 0);
    pz_experiments_close(x);
    x = open_at(dir, 0);
    pz_arena a;
    pz_arena_init(&a);
    pz_experiment_data d;
    read_layout(x, &a, &d);
    assert_int_equal(cell(&d, "a", NULL)->users, 1);
    assert_int_equal(cell(&d, "b", NULL)->users, 2);
    assert_int_equal(cell(&d, "b", "clicks")->exposures, 2);
    char long_stream[PZ_EXPERIMENT_MAX_STREAM_LEN + 2];
    memset(long_stream, 's', sizeof long_stream - 1);
    long_stream[sizeof long_stream - 1] = '\0';
    assert_int_equal(pz_experiments_apply(x, "shop", long_stream, &again, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "stream at most 200 bytes"));
    pz_arena_destroy(&a);
    pz_experiments_close(x);
    free(dir);
}

static void test_list_and_delete(void **state)
{
    (void)state;
    char *dir = temp_dir();
    pz_experiments *x = open_at(dir, 0);
    pz_experiment_event e1 = exposure("a", "u1", NULL), e2 = exposure("a", "u1", NULL);
    e2.feature = "ranking";
    apply(x, &e1, 1);
    apply(x, &e2, 1);
    pz_arena a;
    pz_arena_init(&a);
    pz_experiment_ref *refs;
    size_t n;
    char err[256];
    assert_int_equal(pz_experiments_list(x, "shop", &a, &refs, &n, NULL, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(pz_experiments_list(x, "nope", &a, &refs, &n, NULL, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(pz_experiments_delete(x, "shop", "for-you", "layout", err, sizeof err), 1);
    assert_int_equal(pz_experiments_delete(x, "shop", "for-you", "layout", err, sizeof err), 0);
    pz_experiment_data d;
    read_layout(x, &a, &d);
    assert_false(d.found);
    assert_int_equal(d.n_cells, 0);
    assert_int_equal(pz_experiments_list(x, "shop", &a, &refs, &n, NULL, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(refs[0].feature, "ranking");
    /* a deleted experiment starts again from zero: u1 counts anew */
    pz_experiment_event again = exposure("a", "u1", NULL);
    apply(x, &again, 1);
    read_layout(x, &a, &d);
    assert_int_equal(cell(&d, "a", NULL)->users, 1);
    pz_arena_destroy(&a);
    pz_experiments_close(x);
    free(dir);
}

/* PZ_EXPERIMENTS_DEFAULT_MAP_MB's limit, crossed with a 1 MiB map: apply fails with a message
 * naming the map, changes nothing, and reads go on. */
static void test_full_store_fails_apply_whole(void **state)
{
    (void)state;
    char *dir = temp_dir();
    pz_experiments *x = open_at(dir, 1);
    char err[256] = "";
    int rc = 0;
    size_t applied = 0;
    for (int round = 0; round < 200 && rc == 0; round++) {
        pz_experiment_event evs[100];
        char users[100][32];
        for (int i = 0; i < 100; i++) {
            snprintf(users[i], sizeof users[i], "user-%d-%d", round, i);
            evs[i] = exposure("a", users[i], "clicks");
        }
        rc = pz_experiments_apply(x, "shop", NULL, evs, 100, err, sizeof err);
        if (rc == 0)
            applied += 100;
    }
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "full"));
    pz_arena a;
    pz_arena_init(&a);
    pz_experiment_data d;
    read_layout(x, &a, &d);
    assert_int_equal(cell(&d, "a", NULL)->users, applied);
    pz_arena_destroy(&a);
    pz_experiments_close(x);
    free(dir);
}

static void test_cli_lists_and_deletes(void **state)
{
    (void)state;
    char *run_dir = temp_dir(); /* where a server would run: ./pz-data is its default data directory */
    char dir[600], sub[700];
    snprintf(dir, sizeof dir, "%s/pz-data", run_dir);
    snprintf(sub, sizeof sub, "%s/experiments", dir);
    pz_experiments *x = open_at(sub, 0);
    pz_experiment_event e = exposure("a", "u1", NULL);
    apply(x, &e, 1);
    pz_experiments_close(x);
    char *out_buf = NULL, *err_buf = NULL;
    size_t out_len = 0, err_len = 0;
    FILE *out = open_memstream(&out_buf, &out_len), *err = open_memstream(&err_buf, &err_len);
    char *list[] = {"experiments", "list", "--data-dir", dir, NULL};
    assert_int_equal(pz_experiments_cli_main(4, list, out, err), 0);
    /* without --data-dir: ./pz-data, the server's default */
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    char *list_default[] = {"experiments", "list", NULL};
    assert_int_equal(chdir(run_dir), 0);
    int listed = pz_experiments_cli_main(2, list_default, out, err);
    assert_int_equal(chdir(sub), 0); /* no pz-data in here */
    int none = pz_experiments_cli_main(2, list_default, out, err);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(listed, 0);
    assert_int_equal(none, 1);
    char *del[] = {"experiments",   "delete",  "--data-dir", dir,      "--namespace", "shop",
                   "--recommender", "for-you", "--feature",  "layout", NULL};
    assert_int_equal(pz_experiments_cli_main(10, del, out, err), 0);
    assert_int_equal(pz_experiments_cli_main(10, del, out, err), 1); /* nothing left to delete */
    char *bad[] = {"experiments", "delete", "--data-dir", dir, NULL};
    assert_int_equal(pz_experiments_cli_main(4, bad, out, err), 2);
    fclose(out);
    fclose(err);
    const char *listed_line = "{\"namespace\":\"shop\",\"recommender\":\"for-you\",\"feature\":\"layout\"";
    const char *first = strstr(out_buf, listed_line);
    assert_non_null(first);
    assert_non_null(strstr(first + 1, listed_line)); /* listed twice: with --data-dir, then by default */
    assert_non_null(strstr(out_buf, "deleted the stored results of experiment shop/for-you/layout"));
    assert_non_null(strstr(err_buf, "no stored results"));
    assert_non_null(strstr(err_buf, "no experiment store in pz-data"));
    free(out_buf);
    free(err_buf);
    free(run_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_users_once_and_conversions_of_exposed_users),
        cmocka_unit_test(test_conversion_counts_where_the_user_was_last_exposed),
        cmocka_unit_test(test_records_apply_at_most_once_and_survive_reopen),
        cmocka_unit_test(test_each_stream_applies_at_most_once),
        cmocka_unit_test(test_list_and_delete),
        cmocka_unit_test(test_full_store_fails_apply_whole),
        cmocka_unit_test(test_cli_lists_and_deletes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
