/* Tests for server/events/outbox.c: append and read, seqs never reused after reclamation, targets,
 * dead letters and replays, a full map, durability across reopen. Real LMDB in $TEST_TMPDIR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/events/outbox.h"

static char *temp_dir(void)
{
    static int n;
    const char *tmp = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
    char *dir = malloc(512);
    snprintf(dir, 512, "%s/outbox_test_%d_%d", tmp, (int)getpid(), n++);
    return dir;
}

static pz_outbox *open_at(const char *dir, size_t map_mb)
{
    pz_outbox *ob;
    char err[256];
    assert_int_equal(pz_outbox_open(dir, map_mb, &ob, err, sizeof err), 0);
    return ob;
}

static void append_n(pz_outbox *ob, int n, uint64_t *first)
{
    pz_outbox_txn *t;
    char err[256];
    assert_int_equal(pz_outbox_begin(ob, &t, err, sizeof err), 0);
    for (int i = 0; i < n; i++) {
        char rec[32];
        int len = snprintf(rec, sizeof rec, "record-%d", i);
        uint64_t seq;
        assert_int_equal(pz_outbox_append(t, rec, (size_t)len, &seq, err, sizeof err), 0);
        if (i == 0 && first != NULL)
            *first = seq;
    }
    assert_int_equal(pz_outbox_commit(t, err, sizeof err), 0);
}

typedef struct seen {
    uint64_t seqs[64];
    char data[64][32];
    int n;
    int stop_after;
} seen;

static int visit(void *ctx, uint64_t seq, const void *data, size_t len)
{
    seen *s = ctx;
    s->seqs[s->n] = seq;
    snprintf(s->data[s->n], sizeof s->data[0], "%.*s", (int)len, (const char *)data);
    s->n++;
    return s->stop_after != 0 && s->n >= s->stop_after;
}

static void test_append_read_and_reclaim_never_reuse_seqs(void **state)
{
    (void)state;
    char *dir = temp_dir();
    pz_outbox *ob = open_at(dir, 16);
    uint64_t first;
    append_n(ob, 5, &first);
    assert_int_equal(first, 1);
    seen s = {0};
    char err[256];
    assert_int_equal(pz_outbox_read(ob, 3, 10, SIZE_MAX, visit, &s, err, sizeof err), 3);
    assert_int_equal(s.seqs[0], 3);
    assert_string_equal(s.data[2], "record-4");
    s = (seen){.stop_after = 2};
    assert_int_equal(pz_outbox_read(ob, 1, 10, SIZE_MAX, visit, &s, err, sizeof err), 2);
    s = (seen){0};
    assert_int_equal(pz_outbox_read(ob, 1, 2, SIZE_MAX, visit, &s, err, sizeof err), 2);
    s = (seen){0};
    assert_int_equal(pz_outbox_read(ob, 1, 10, 1, visit, &s, err, sizeof err), 1); /* bytes cap */

    pz_outbox_txn *t;
    assert_int_equal(pz_outbox_begin(ob, &t, err, sizeof err), 0);
    assert_int_equal(pz_outbox_reclaim(t, 6, 100, err, sizeof err), 5); /* everything */
    assert_int_equal(pz_outbox_commit(t, err, sizeof err), 0);
    pz_outbox_info info;
    assert_int_equal(pz_outbox_info_get(ob, &info, err, sizeof err), 0);
    assert_int_equal(info.records, 0);
    assert_int_equal(info.next_seq, 6);
    assert_int_equal(info.first_seq, 6);
    pz_outbox_close(ob);
    /* reopened and emptied: the next record still gets 6, never 1 */
    ob = open_at(dir, 16);
    append_n(ob, 2, &first);
    assert_int_equal(first, 6);
    assert_int_equal(pz_outbox_begin(ob, &t, err, sizeof err), 0);
    assert_int_equal(pz_outbox_reclaim(t, 7, 100, err, sizeof err), 1);
    assert_int_equal(pz_outbox_reclaim(t, 100, 100, err, sizeof err), 1);
    pz_outbox_abort(t); /* nothing happened */
    assert_int_equal(pz_outbox_info_get(ob, &info, err, sizeof err), 0);
    assert_int_equal(info.records, 2);
    assert_int_equal(info.first_seq, 6);
    pz_outbox_close(ob);
    free(dir);
}

typedef struct targets_seen {
    char ids[8][64];
    uint32_t numbers[8];
    uint64_t cursors[8];
    int n;
} targets_seen;

static void on_target(void *ctx, const pz_outbox_target *t)
{
    targets_seen *s = ctx;
    snprintf(s->ids[s->n], sizeof s->ids[0], "%s", t->id);
    s->numbers[s->n] = t->number;
    s->cursors[s->n] = t->cursor;
    s->n++;
}

static void test_targets_numbers_and_cursors(void **state)
{
    (void)state;
    char *dir = temp_dir();
    pz_outbox *ob = open_at(dir, 16);
    pz_outbox_txn *t;
    char err[256];
    uint32_t a, b;
    assert_int_equal(pz_outbox_begin(ob, &t, err, sizeof err), 0);
    assert_int_equal(pz_outbox_new_target_number(t, &a, err, sizeof err), 0);
    assert_int_equal(pz_outbox_new_target_number(t, &b, err, sizeof err), 0);
    assert_int_equal(a, 1);
    assert_int_equal(b, 2);
    pz_outbox_target ta = {"shop/builtin", a, 10, "{\"type\":\"builtin\"}"};
    pz_outbox_target tb = {"shop/file/x", b, 12, "{}"};
    assert_int_equal(pz_outbox_put_target(t, &ta, err, sizeof err), 0);
    assert_int_equal(pz_outbox_put_target(t, &tb, err, sizeof err), 0);
    assert_int_equal(pz_outbox_commit(t, err, sizeof err), 0);
    assert_int_equal(pz_outbox_begin(ob, &t, err, sizeof err), 0);
    ta.cursor = 11;
    assert_int_equal(pz_outbox_put_target(t, &ta, err, sizeof err), 0);
    assert_int_equal(pz_outbox_delete_target(t, "shop/file/x", err, sizeof err), 0);
    assert_int_equal(pz_outbox_delete_target(t, "not/there", err, sizeof err), 0);
    uint32_t c;
    assert_int_equal(pz_outbox_new_target_number(t, &c, err, sizeof err), 0);
    assert_int_equal(c, 3); /* numbers are never reused */
    assert_int_equal(pz_outbox_commit(t, err, sizeof err), 0);
    pz_outbox_close(ob);
    ob = open_at(dir, 16);
    targets_seen s = {0};
    assert_int_equal(pz_outbox_targets(ob, on_target, &s, err, sizeof err), 1);
    assert_string_equal(s.ids[0], "shop/builtin");
    assert_int_equal(s.cursors[0], 11);
    pz_outbox_close(ob);
    free(dir);
}

typedef struct dead_seen {
    uint64_t seqs[16];
    uint32_t numbers[16];
    char reasons[16][64];
    char records[16][32];
    int n;
} dead_seen;

static int on_dead(void *ctx, const pz_outbox_dead *d)
{
    dead_seen *s = ctx;
    s->seqs[s->n] = d->seq;
    s->numbers[s->n] = d->number;
    snprintf(s->reasons[s->n], sizeof s->reasons[0], "%s|%s|%u", d->target_id, d->reason, d->attempts);
    snprintf(s->records[s->n], sizeof s->records[0], "%.*s", (int)d->record_len, (const char *)d->record);
    s->n++;
    return 0;
}

static void put_dead(pz_outbox *ob, uint32_t number, uint64_t seq, const char *rec)
{
    pz_outbox_txn *t;
    char err[256];
    assert_int_equal(pz_outbox_begin(ob, &t, err, sizeof err), 0);
    pz_outbox_dead d = {number, seq, number == 1 ? "ns/a" : "ns/b", 3, 1700000000000, "HTTP 400 bad", rec, strlen(rec)};
    assert_int_equal(pz_outbox_put_dead(t, &d, err, sizeof err), 0);
    assert_int_equal(pz_outbox_commit(t, err, sizeof err), 0);
}

static void test_dead_letters_requeue_and_take(void **state)
{
    (void)state;
    char *dir = temp_dir();
    pz_outbox *ob = open_at(dir, 16);
    put_dead(ob, 1, 5, "r5");
    put_dead(ob, 1, 9, "r9");
    put_dead(ob, 2, 7, "r7");
    char err[256];
    dead_seen s = {0};
    assert_int_equal(pz_outbox_dead_letters(ob, 0, on_dead, &s, err, sizeof err), 3);
    assert_string_equal(s.reasons[0], "ns/a|HTTP 400 bad|3");
    assert_string_equal(s.records[1], "r9");
    s = (dead_seen){0};
    assert_int_equal(pz_outbox_dead_letters(ob, 2, on_dead, &s, err, sizeof err), 1);
    assert_int_equal(s.seqs[0], 7);
    /* requeue one record of target 1, then the rest of target 1 */
    assert_int_equal(pz_outbox_requeue_dead(ob, 1, 9, err, sizeof err), 1);
    assert_int_equal(pz_outbox_requeue_dead(ob, 1, 9, err, sizeof err), 0);
    pz_outbox_info info;
    assert_int_equal(pz_outbox_info_get(ob, &info, err, sizeof err), 0);
    assert_int_equal(info.dead_letters, 2);
    assert_int_equal(info.replays_queued, 1);
    assert_int_equal(pz_outbox_requeue_dead(ob, 0, 0, err, sizeof err), 2);
    pz_outbox_txn *t;
    assert_int_equal(pz_outbox_begin(ob, &t, err, sizeof err), 0);
    s = (dead_seen){0};
    assert_int_equal(pz_outbox_take_replays(t, 2, on_dead, &s, err, sizeof err), 2);
    assert_int_equal(pz_outbox_commit(t, err, sizeof err), 0);
    assert_int_equal(s.numbers[0], 1);
    assert_int_equal(s.seqs[0], 5);
    assert_int_equal(s.seqs[1], 9);
    assert_int_equal(pz_outbox_info_get(ob, &info, err, sizeof err), 0);
    assert_int_equal(info.dead_letters, 0);
    assert_int_equal(info.replays_queued, 1);
    pz_outbox_close(ob);
    free(dir);
}

static void test_full_map_fails_the_commit_and_keeps_the_rest(void **state)
{
    (void)state;
    char *dir = temp_dir();
    pz_outbox *ob = open_at(dir, 1);
    append_n(ob, 3, NULL);
    char *big = calloc(1, 64 * 1024);
    memset(big, 'x', 64 * 1024 - 1);
    char err[256] = "";
    int failed = 0;
    for (int i = 0; i < 64 && !failed; i++) {
        pz_outbox_txn *t;
        assert_int_equal(pz_outbox_begin(ob, &t, err, sizeof err), 0);
        uint64_t seq;
        if (pz_outbox_append(t, big, 64 * 1024, &seq, err, sizeof err) != 0) {
            pz_outbox_abort(t);
            failed = 1;
        } else if (pz_outbox_commit(t, err, sizeof err) != 0) {
            failed = 1;
        }
    }
    assert_true(failed);
    assert_non_null(strstr(err, "the outbox is full (map size 1 MiB"));
    seen s = {0};
    assert_int_equal(pz_outbox_read(ob, 1, 3, SIZE_MAX, visit, &s, err, sizeof err), 3);
    assert_string_equal(s.data[0], "record-0");
    free(big);
    pz_outbox_close(ob);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_read_and_reclaim_never_reuse_seqs),
        cmocka_unit_test(test_targets_numbers_and_cursors),
        cmocka_unit_test(test_dead_letters_requeue_and_take),
        cmocka_unit_test(test_full_map_fails_the_commit_and_keeps_the_rest),
    };
    return cmocka_run_group_tests_name("events_outbox", tests, NULL, NULL);
}
