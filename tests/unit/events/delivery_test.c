/* Tests for server/events/delivery.c with injected time and randomness: backoff, batching within
 * limits, per-key ordering (partial and all-or-nothing calls), isolation after a rejected call,
 * dead letters, cursor advance. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/events/delivery.h"

static const pz_backoff_policy POLICY = {200, 30000};

/* A minimal valid record (no targets) whose partition key is `key`. */
static void push(pz_delivery_window *w, uint64_t seq, const char *key, size_t cost, unsigned events)
{
    pz_arena a;
    pz_arena_init(&a);
    Personalization__V1__PutEventsRequest *m = (Personalization__V1__PutEventsRequest *)pz_arena_new_message(
        &a, &personalization__v1__put_events_request__descriptor);
    m->session_id = (char *)key;
    uint8_t *rec;
    size_t len;
    char err[128];
    assert_int_equal(pz_evrec_render(m, "ns", NULL, 0, 0, "r", &a, &rec, &len, err, sizeof err), 0);
    pz_delivery_entry *e = pz_delivery_push(w, seq, rec, len);
    assert_non_null(e);
    e->key_hash = key != NULL ? pz_delivery_hash(key, strlen(key), 0) : 0;
    e->group_hash = e->key_hash;
    e->cost = cost;
    e->events = events;
    pz_arena_destroy(&a);
}

/* An outcome (valid until the next call). */
static const pz_outcome *outcome(pz_outcome_kind kind, bool call_level)
{
    static pz_outcome o;
    o = (pz_outcome){kind, call_level, ""};
    snprintf(o.reason, sizeof o.reason, "%s", kind == PZ_OUTCOME_OK ? "" : "because");
    return &o;
}

static void test_backoff_is_exponential_capped_and_jittered(void **state)
{
    (void)state;
    assert_int_equal(pz_backoff_delay_ms(&POLICY, 1, 0.0), 100);
    assert_int_equal(pz_backoff_delay_ms(&POLICY, 1, 0.5), 150);
    assert_int_equal(pz_backoff_delay_ms(&POLICY, 2, 0.0), 200);
    assert_int_equal(pz_backoff_delay_ms(&POLICY, 3, 0.999), 799);
    assert_int_equal(pz_backoff_delay_ms(&POLICY, 20, 0.0), 15000);
    assert_int_equal(pz_backoff_delay_ms(&POLICY, 1000, 1.5), 29999); /* capped; r clamped below 1 */
    assert_int_equal(pz_backoff_delay_ms(&POLICY, 1000, -1), 15000);
}

static void test_pick_respects_count_bytes_and_event_limits(void **state)
{
    (void)state;
    pz_delivery_window w;
    pz_delivery_init(&w, 16);
    for (uint64_t i = 1; i <= 6; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", (int)i);
        push(&w, i, key, 100, 3);
    }
    pz_delivery_entry *batch[16];
    pz_delivery_limits lim = {.max_records = 4, .max_bytes = 1000, .max_record_bytes = 1000};
    assert_int_equal(pz_delivery_pick(&w, &lim, 0, batch, 16), 4);
    for (size_t i = 0; i < 4; i++)
        pz_delivery_settle(batch[i], &(pz_outcome){PZ_OUTCOME_OK, false, ""}, 4, &POLICY, 0, 0);
    assert_int_equal(pz_delivery_pick(&w, &lim, 0, batch, 16), 2);
    assert_int_equal(batch[0]->seq, 5);
    for (size_t i = 0; i < 2; i++)
        batch[i]->state = PZ_ENTRY_PENDING;
    lim.max_bytes = 150; /* the second record would cross it */
    assert_int_equal(pz_delivery_pick(&w, &lim, 0, batch, 16), 1);
    batch[0]->state = PZ_ENTRY_PENDING;
    lim.max_bytes = 1000;
    lim.max_events = 5; /* 3 + 3 > 5 */
    assert_int_equal(pz_delivery_pick(&w, &lim, 0, batch, 16), 1);
    batch[0]->state = PZ_ENTRY_PENDING;
    assert_int_equal(pz_delivery_pick(&w, &lim, 0, batch, 1), 1); /* the caller's capacity */
    pz_delivery_free(&w);
}

static void test_partial_calls_take_one_record_per_key(void **state)
{
    (void)state;
    pz_delivery_window w;
    pz_delivery_init(&w, 16);
    push(&w, 1, "a", 10, 1);
    push(&w, 2, "a", 10, 1);
    push(&w, 3, "b", 10, 1);
    push(&w, 4, NULL, 10, 1); /* no key: never held back */
    push(&w, 5, NULL, 10, 1);
    pz_delivery_entry *batch[16];
    pz_delivery_limits lim = {.max_records = 500, .max_bytes = SIZE_MAX, .max_record_bytes = SIZE_MAX};
    assert_int_equal(pz_delivery_pick(&w, &lim, 0, batch, 16), 4);
    assert_int_equal(batch[0]->seq, 1);
    assert_int_equal(batch[1]->seq, 3);
    assert_int_equal(batch[2]->seq, 4);
    assert_int_equal(batch[3]->seq, 5);
    /* record 1 fails (throttled): record 2 of the same key must wait for it */
    pz_delivery_settle(batch[0], &(pz_outcome){PZ_OUTCOME_RETRY, false, "throttled"}, 4, &POLICY, 1000, 0);
    for (size_t i = 1; i < 4; i++)
        pz_delivery_settle(batch[i], &(pz_outcome){PZ_OUTCOME_OK, false, ""}, 4, &POLICY, 1000, 0);
    assert_int_equal(w.entries[0].next_attempt_ms, 1100);
    assert_string_equal(w.entries[0].reason, "throttled");
    assert_int_equal(pz_delivery_pick(&w, &lim, 1050, batch, 16), 0); /* 1 not due, 2 behind it */
    assert_int_equal(pz_delivery_next_due(&w), 1100);
    assert_int_equal(pz_delivery_pick(&w, &lim, 1100, batch, 16), 1);
    assert_int_equal(batch[0]->seq, 1);
    pz_delivery_settle(batch[0], &(pz_outcome){PZ_OUTCOME_OK, false, ""}, 1, &POLICY, 1100, 0);
    assert_int_equal(pz_delivery_pick(&w, &lim, 1100, batch, 16), 1);
    assert_int_equal(batch[0]->seq, 2);
    pz_delivery_free(&w);
}

static void test_atomic_calls_group_a_keys_consecutive_records(void **state)
{
    (void)state;
    pz_delivery_window w;
    pz_delivery_init(&w, 16);
    push(&w, 1, "s1", 10, 4);
    push(&w, 2, "s2", 10, 4);
    push(&w, 3, "s1", 10, 4);
    push(&w, 4, "s1", 10, 4);
    pz_delivery_entry *batch[16];
    /* Personalize: one session per call, at most 10 events */
    pz_delivery_limits lim = {.max_records = 10,
                              .max_bytes = SIZE_MAX,
                              .max_record_bytes = SIZE_MAX,
                              .max_events = 10,
                              .atomic = true,
                              .one_group = true};
    assert_int_equal(pz_delivery_pick(&w, &lim, 0, batch, 16), 2);
    assert_int_equal(batch[0]->seq, 1);
    assert_int_equal(batch[1]->seq, 3); /* record 4 would make 12 events: it waits, in order */
    for (size_t i = 0; i < 2; i++)
        pz_delivery_settle(batch[i], outcome(PZ_OUTCOME_OK, true), 2, &POLICY, 0, 0);
    assert_int_equal(pz_delivery_pick(&w, &lim, 0, batch, 16), 1);
    assert_int_equal(batch[0]->seq, 2);
    pz_delivery_settle(batch[0], outcome(PZ_OUTCOME_OK, true), 1, &POLICY, 0, 0);
    assert_int_equal(pz_delivery_pick(&w, &lim, 0, batch, 16), 1);
    assert_int_equal(batch[0]->seq, 4);
    pz_delivery_free(&w);
}

static void test_rejected_call_isolates_then_dead_letters_only_the_culprit(void **state)
{
    (void)state;
    pz_delivery_window w;
    pz_delivery_init(&w, 16);
    push(&w, 1, "a", 10, 1);
    push(&w, 2, "b", 10, 1);
    push(&w, 3, "c", 10, 1);
    pz_delivery_entry *batch[16];
    pz_delivery_limits lim = {.max_records = 500, .max_bytes = SIZE_MAX, .max_record_bytes = SIZE_MAX, .atomic = true};
    assert_int_equal(pz_delivery_pick(&w, &lim, 0, batch, 16), 3);
    for (size_t i = 0; i < 3; i++)
        pz_delivery_settle(batch[i], outcome(PZ_OUTCOME_REJECT, true), 3, &POLICY, 0, 0);
    /* each goes alone now */
    uint64_t order[3];
    for (int round = 0; round < 3; round++) {
        assert_int_equal(pz_delivery_pick(&w, &lim, 0, batch, 16), 1);
        order[round] = batch[0]->seq;
        pz_delivery_settle(batch[0], outcome(batch[0]->seq == 2 ? PZ_OUTCOME_REJECT : PZ_OUTCOME_OK, true), 1, &POLICY,
                           0, 0);
    }
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 3);
    assert_int_equal(w.entries[1].state, PZ_ENTRY_DEAD);
    assert_int_equal(w.entries[1].attempts, 2);
    assert_int_equal(pz_delivery_pick(&w, &lim, 0, batch, 16), 0);
    pz_delivery_free(&w);
}

static void test_a_failed_call_pauses_the_target_and_success_resumes_everything(void **state)
{
    (void)state;
    pz_delivery_window w;
    pz_delivery_init(&w, 16);
    for (uint64_t i = 1; i <= 4; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", (int)i);
        push(&w, i, key, 10, 1);
    }
    pz_delivery_entry *batch[16];
    pz_delivery_limits lim = {.max_records = 2, .max_bytes = SIZE_MAX, .max_record_bytes = SIZE_MAX};
    pz_outcome down[2] = {{PZ_OUTCOME_RETRY, true, "503"}, {PZ_OUTCOME_RETRY, true, "503"}};
    int64_t now = 0;
    /* the target is down: each failed call doubles the pause (jitter r = 0: half the step) */
    int64_t expected[] = {100, 200, 400, 800, 1600};
    for (int k = 0; k < 5; k++) {
        assert_int_equal(pz_delivery_pick(&w, &lim, now, batch, 16), 2);
        assert_int_equal(pz_delivery_settle_call(&w, batch, 2, down, &POLICY, now, 0), expected[k]);
        assert_int_equal(pz_delivery_pick(&w, &lim, now + expected[k] - 1, batch, 16), 0); /* paused */
        assert_int_equal(pz_delivery_next_due(&w), now + expected[k]);
        now += expected[k];
    }
    assert_int_equal(w.entries[0].attempts, 5);
    /* it recovers: one good call ends the pause; every waiting record is due at once */
    assert_int_equal(pz_delivery_pick(&w, &lim, now, batch, 16), 2);
    pz_outcome up[2] = {{PZ_OUTCOME_OK, false, ""}, {PZ_OUTCOME_OK, false, ""}};
    assert_int_equal(pz_delivery_settle_call(&w, batch, 2, up, &POLICY, now, 0), 0);
    assert_int_equal(pz_delivery_pick(&w, &lim, now, batch, 16), 2);
    assert_int_equal(batch[0]->seq, 3);
    /* a per-record failure in a good call does not pause the target */
    pz_outcome partial[2] = {{PZ_OUTCOME_RETRY, false, "throttled"}, {PZ_OUTCOME_OK, false, ""}};
    assert_int_equal(pz_delivery_settle_call(&w, batch, 2, partial, &POLICY, now, 0), 0);
    assert_int_equal(w.entries[2].next_attempt_ms, now + 100); /* its own first failure: the base delay */
    assert_int_equal(w.entries[2].attempts, 1);
    pz_delivery_free(&w);
}

typedef struct dead_list {
    uint64_t seqs[8];
    int n;
} dead_list;

static void on_dead(void *ctx, const pz_delivery_entry *e)
{
    dead_list *d = ctx;
    d->seqs[d->n++] = e->seq;
}

static void test_advance_moves_the_cursor_past_finished_records(void **state)
{
    (void)state;
    pz_delivery_window w;
    pz_delivery_init(&w, 4);
    push(&w, 3, "a", 10, 1);
    push(&w, 7, "b", 2000, 1); /* over the record limit below */
    push(&w, 9, "c", 10, 1);
    push(&w, 12, "d", 10, 1);
    assert_true(pz_delivery_full(&w));
    pz_delivery_entry *batch[4];
    pz_delivery_limits lim = {.max_records = 500, .max_bytes = SIZE_MAX, .max_record_bytes = 1000};
    w.entries[1].record_len = 2000; /* as if the stored record were that large */
    assert_int_equal(pz_delivery_pick(&w, &lim, 0, batch, 4), 3);
    assert_int_equal(w.entries[1].state, PZ_ENTRY_DEAD);
    assert_non_null(strstr(w.entries[1].reason, "at most 1000"));
    pz_delivery_settle(batch[0], outcome(PZ_OUTCOME_OK, false), 3, &POLICY, 0, 0);
    pz_delivery_settle(batch[1], outcome(PZ_OUTCOME_RETRY, false), 3, &POLICY, 0, 0);
    pz_delivery_settle(batch[2], outcome(PZ_OUTCOME_OK, false), 3, &POLICY, 0, 0);
    dead_list d = {0};
    assert_int_equal(pz_delivery_advance(&w, 13, on_dead, &d), 9); /* 9 still pending */
    assert_int_equal(d.n, 1);
    assert_int_equal(d.seqs[0], 7);
    assert_int_equal(w.count, 2);
    assert_memory_equal(w.entries[0].view.partition_key, "c", 1); /* views survive the move */
    w.entries[0].state = PZ_ENTRY_DONE;
    assert_int_equal(pz_delivery_advance(&w, 13, on_dead, &d), 13); /* empty: the scan position */
    assert_int_equal(w.count, 0);
    assert_int_equal(pz_delivery_next_due(&w), INT64_MAX);
    assert_null(pz_delivery_push(&w, 14, "junk", 4)); /* not a record */
    pz_delivery_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_is_exponential_capped_and_jittered),
        cmocka_unit_test(test_pick_respects_count_bytes_and_event_limits),
        cmocka_unit_test(test_partial_calls_take_one_record_per_key),
        cmocka_unit_test(test_atomic_calls_group_a_keys_consecutive_records),
        cmocka_unit_test(test_rejected_call_isolates_then_dead_letters_only_the_culprit),
        cmocka_unit_test(test_a_failed_call_pauses_the_target_and_success_resumes_everything),
        cmocka_unit_test(test_advance_moves_the_cursor_past_finished_records),
    };
    return cmocka_run_group_tests_name("events_delivery", tests, NULL, NULL);
}
