/* Tests for server/events/commit_clock.c: the commit time of a record, to the second; one mark per
 * second with commits; older records than every mark get the oldest mark's time (a lower bound of
 * their age); the newest PZ_COMMIT_CLOCK_MARKS marks are kept. Time is a parameter: no sleeping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server/events/commit_clock.h"

#define T0 1700000000000LL

static void test_marks_per_second(void **state)
{
    (void)state;
    pz_commit_clock c;
    pz_commit_clock_init(&c, 100, T0);        /* records from 100 on exist from the start */
    pz_commit_clock_note(&c, 100, T0 + 10);   /* same second: no new mark */
    pz_commit_clock_note(&c, 110, T0 + 1500); /* next second */
    pz_commit_clock_note(&c, 120, T0 + 1900); /* same second again */
    pz_commit_clock_note(&c, 130, T0 + 5000);
    assert_int_equal(pz_commit_clock_time_of(&c, 50), T0); /* before the process: as old as its start */
    assert_int_equal(pz_commit_clock_time_of(&c, 105), T0);
    assert_int_equal(pz_commit_clock_time_of(&c, 110), T0 + 1500);
    assert_int_equal(pz_commit_clock_time_of(&c, 125), T0 + 1500); /* within the second's mark */
    assert_int_equal(pz_commit_clock_time_of(&c, 130), T0 + 5000);
    assert_int_equal(pz_commit_clock_time_of(&c, 999), T0 + 5000);
    pz_commit_clock_destroy(&c);
}

static void test_the_oldest_marks_go(void **state)
{
    (void)state;
    pz_commit_clock c;
    pz_commit_clock_init(&c, 1, T0);
    for (int i = 1; i <= PZ_COMMIT_CLOCK_MARKS + 10; i++)
        pz_commit_clock_note(&c, (uint64_t)i * 10, T0 + (int64_t)i * 1000);
    /* the first 11 marks (the start's included) fell off: older records get the oldest kept time */
    assert_int_equal(pz_commit_clock_time_of(&c, 5), T0 + 11 * 1000);
    assert_int_equal(pz_commit_clock_time_of(&c, 115), T0 + 11 * 1000);
    assert_int_equal(pz_commit_clock_time_of(&c, 125), T0 + 12 * 1000);
    assert_int_equal(pz_commit_clock_time_of(&c, (uint64_t)(PZ_COMMIT_CLOCK_MARKS + 10) * 10),
                     T0 + (int64_t)(PZ_COMMIT_CLOCK_MARKS + 10) * 1000);
    pz_commit_clock_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_marks_per_second),
        cmocka_unit_test(test_the_oldest_marks_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
