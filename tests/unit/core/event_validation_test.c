/* Tests for server/core/event_validation.c limits added by issue 19: client time (sentAt) within
 * the clock skew and the retention window, properties nesting, and the learner's time conversion
 * (server/core/num.h) for any double. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "server/core/event_validation.h"
#include "server/core/num.h"

#define NOW_MS 1800000000123LL /* 2027-01-15 */
#define NOW_S 1800000000.123

static Personalization__V1__PutEventsRequest *one_event(pz_arena *a)
{
    Personalization__V1__PutEventsRequest *m =
        (void *)pz_arena_new_message(a, &personalization__v1__put_events_request__descriptor);
    m->session_id = "s";
    m->user_id = "u";
    m->n_event_list = 1;
    m->event_list = pz_arena_calloc(a, 1, sizeof *m->event_list);
    Personalization__V1__Event *e = (void *)pz_arena_new_message(a, &personalization__v1__event__descriptor);
    e->event_type = "click";
    e->item_id = "i";
    m->event_list[0] = e;
    return m;
}

static const pz_namespace NS = {.key = "ns"};
static pz_conversion *conv; /* experimentConversions resolved by validation (none here) */

static pz_status validate_sent_at(double sent_at, pz_error *err, pz_arena *a)
{
    Personalization__V1__PutEventsRequest *m = one_event(a);
    m->event_list[0]->has_sent_at = 1;
    m->event_list[0]->sent_at = sent_at;
    pz_status s = pz_events_validate(m, &NS, NOW_MS, a, &conv, err);
    if (s == PZ_OK)
        assert_true(m->event_list[0]->sent_at == sent_at); /* accepted times are stored as sent */
    return s;
}

static void test_sent_at_window(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    pz_error err;
    /* Accepted: now, the edge of the skew, the edge of the retention window. */
    assert_int_equal(validate_sent_at(NOW_S, &err, &a), PZ_OK);
    assert_int_equal(validate_sent_at(NOW_S + PZ_EVENTS_MAX_CLOCK_SKEW_S, &err, &a), PZ_OK);
    assert_int_equal(validate_sent_at(NOW_S - PZ_EVENTS_MAX_AGE_S, &err, &a), PZ_OK);

    /* Rejected with a message naming the field: one second over, the year 2100, 1e308, DBL_MAX. */
    assert_int_equal(validate_sent_at(NOW_S + PZ_EVENTS_MAX_CLOCK_SKEW_S + 1, &err, &a), PZ_INVALID_ARGUMENT);
    assert_string_equal(err.code, "ValidationError");
    assert_non_null(strstr(err.message, "eventList[0].sentAt is 301 seconds after the server's clock"));
    assert_int_equal(validate_sent_at(4102444800.0 /* 2100-01-01 */, &err, &a), PZ_INVALID_ARGUMENT);
    assert_int_equal(validate_sent_at(1e308, &err, &a), PZ_INVALID_ARGUMENT);
    assert_int_equal(validate_sent_at(1.7976931348623157e308, &err, &a), PZ_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "sentAt is"));

    /* Too old: a day past the window, the epoch. */
    assert_int_equal(validate_sent_at(NOW_S - PZ_EVENTS_MAX_AGE_S - 86400, &err, &a), PZ_INVALID_ARGUMENT);
    assert_string_equal(err.message, "eventList[0].sentAt is more than 365 days in the past");
    assert_int_equal(validate_sent_at(0, &err, &a), PZ_INVALID_ARGUMENT);
    /* Still rejected as before: negative, infinite, NaN. */
    assert_int_equal(validate_sent_at(-1, &err, &a), PZ_INVALID_ARGUMENT);
    assert_int_equal(validate_sent_at(INFINITY, &err, &a), PZ_INVALID_ARGUMENT);
    assert_int_equal(validate_sent_at(NAN, &err, &a), PZ_INVALID_ARGUMENT);

    /* Absent: the server's time, whole seconds. */
    Personalization__V1__PutEventsRequest *m = one_event(&a);
    assert_int_equal(pz_events_validate(m, &NS, NOW_MS, &a, &conv, &err), PZ_OK);
    assert_true(m->event_list[0]->sent_at == 1800000000.0);
    pz_arena_destroy(&a);
}

/* Properties nested {"a":{"a":...}} `depth` levels deep. */
static char *nested_properties(pz_arena *a, int depth)
{
    char *s = pz_arena_alloc(a, (size_t)depth * 6 + 8);
    char *o = s;
    for (int i = 0; i < depth - 1; i++)
        o += sprintf(o, "{\"a\":");
    o += sprintf(o, "{}");
    for (int i = 0; i < depth - 1; i++)
        *o++ = '}';
    *o = '\0';
    return s;
}

static void test_properties_nesting(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    pz_error err;
    Personalization__V1__PutEventsRequest *m = one_event(&a);
    m->event_list[0]->properties = nested_properties(&a, PZ_EVENTS_MAX_PROPERTIES_DEPTH);
    assert_int_equal(pz_events_validate(m, &NS, NOW_MS, &a, &conv, &err), PZ_OK);

    m = one_event(&a);
    m->event_list[0]->properties = nested_properties(&a, PZ_EVENTS_MAX_PROPERTIES_DEPTH + 1);
    assert_int_equal(pz_events_validate(m, &NS, NOW_MS, &a, &conv, &err), PZ_INVALID_ARGUMENT);
    assert_string_equal(err.message, "eventList[0].properties must be nested at most 64 levels");

    /* The case: 100 levels. Arrays count, brackets inside strings do not. */
    m = one_event(&a);
    m->event_list[0]->properties = nested_properties(&a, 100);
    assert_int_equal(pz_events_validate(m, &NS, NOW_MS, &a, &conv, &err), PZ_INVALID_ARGUMENT);
    m = one_event(&a);
    m->event_list[0]->properties =
        "{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"{{{{{{{\"}";
    assert_int_equal(pz_events_validate(m, &NS, NOW_MS, &a, &conv, &err), PZ_OK);
    pz_arena_destroy(&a);
}

/* Every string of an event has a bound, whichever protocol it came from. */
static void test_attribution_source_length(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    pz_error err;
    Personalization__V1__PutEventsRequest *m = one_event(&a);
    Personalization__V1__MetricAttribution ma = PERSONALIZATION__V1__METRIC_ATTRIBUTION__INIT;
    char *source = pz_arena_alloc(&a, PZ_EVENTS_MAX_ATTRIBUTION_LEN + 2);
    memset(source, 's', PZ_EVENTS_MAX_ATTRIBUTION_LEN);
    source[PZ_EVENTS_MAX_ATTRIBUTION_LEN] = '\0';
    ma.event_attribution_source = source;
    m->event_list[0]->metric_attribution = &ma;
    assert_int_equal(pz_events_validate(m, &NS, NOW_MS, &a, &conv, &err), PZ_OK);
    strcat(source, "s");
    m = one_event(&a);
    m->event_list[0]->metric_attribution = &ma;
    assert_int_equal(pz_events_validate(m, &NS, NOW_MS, &a, &conv, &err), PZ_INVALID_ARGUMENT);
    assert_string_equal(err.message,
                        "eventList[0].metricAttribution.eventAttributionSource must be 1 to 1024 characters");
    pz_arena_destroy(&a);
}

static void test_num_conversions(void **state)
{
    (void)state;
    assert_int_equal(pz_double_to_i64(NAN, -5, 5), -5);
    assert_int_equal(pz_double_to_i64(INFINITY, -5, 5), 5);
    assert_int_equal(pz_double_to_i64(-INFINITY, -5, 5), -5);
    assert_int_equal(pz_double_to_i64(4.9, -5, 5), 4);
    assert_int_equal(pz_double_to_i64(-4.9, -5, 5), -4);
    assert_true(pz_double_to_i64(9223372036854775807.0, INT64_MIN, INT64_MAX) == INT64_MAX); /* 2^63 */
    assert_true(pz_double_to_i64(-9223372036854775808.0, INT64_MIN, INT64_MAX) == INT64_MIN);
    assert_true(pz_double_to_i64(1e308, INT64_MIN, INT64_MAX) == INT64_MAX);
    assert_true(pz_epoch_s_to_ms(1e308) == PZ_EPOCH_MS_MAX);
    assert_true(pz_epoch_s_to_ms(1712345678.5) == 1712345678500);
    assert_true(pz_epoch_s_to_ms(-3) == 0);
    /* The learner never sees a time after now, whatever a stored record says. */
    assert_true(pz_event_time_ms(4102444800.0, NOW_MS) == NOW_MS);
    assert_true(pz_event_time_ms(1e308, NOW_MS) == NOW_MS);
    assert_true(pz_event_time_ms(1700000000.0, NOW_MS) == 1700000000000LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sent_at_window),
        cmocka_unit_test(test_properties_nesting),
        cmocka_unit_test(test_attribution_source_length),
        cmocka_unit_test(test_num_conversions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
