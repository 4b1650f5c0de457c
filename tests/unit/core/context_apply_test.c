/* Tests for server/core/context_apply.c (spec §6.3): explicit values win, the rendering of each
 * field type for context, filter values and event properties, and Personalize's limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/core/context_apply.h"

static pz_arena arena;

static int setup(void **state)
{
    (void)state;
    pz_arena_init(&arena);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pz_arena_destroy(&arena);
    return 0;
}

static pz_value str(const char *s)
{
    return (pz_value){.kind = PZ_VALUE_STRING, .string = s};
}

static pz_value num(double n)
{
    return (pz_value){.kind = PZ_VALUE_NUMBER, .number = n};
}

static pz_resolved_field field(const char *name, pz_field_type type, const pz_value *values, size_t n)
{
    return (pz_resolved_field){name, type, values, n};
}

/* "k=v;k=v" of a map. */
static const char *map_text(pz_string_map m)
{
    static char out[4096];
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < m.n; i++)
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%s=%s", i ? ";" : "", m.entries[i]->key,
                                m.entries[i]->value);
    return out;
}

static void test_context_merge(void **state)
{
    (void)state;
    pz_value phone_tablet[] = {str("Phone"), str("Tablet")}, five[] = {num(5)}, de[] = {str("DE")};
    pz_resolved_field fields[] = {field("deviceType", PZ_FIELD_STRING, phone_tablet, 2),
                                  field("hour", PZ_FIELD_INTEGER, five, 1), field("country", PZ_FIELD_STRING, de, 1)};
    pz_resolved_context rc = {fields, 3};
    pz_string_entry explicit_country = {.key = "country", .value = "FR"};
    pz_string_entry *explicit_entries[] = {&explicit_country};
    /* explicit keys win; the auto fields fill the gaps with their first value */
    assert_string_equal(map_text(pz_context_merge(explicit_entries, 1, &rc, &arena)),
                        "country=FR;deviceType=Phone;hour=5");
    assert_string_equal(map_text(pz_context_merge(NULL, 0, &rc, &arena)), "deviceType=Phone;hour=5;country=DE");
    /* nothing resolved: the explicit map as it is */
    pz_string_map same = pz_context_merge(explicit_entries, 1, &(pz_resolved_context){0}, &arena);
    assert_ptr_equal(same.entries, explicit_entries);
}

static void test_context_limits(void **state)
{
    (void)state;
    char long_value[PZ_MAX_MAP_VALUE_LEN + 2];
    memset(long_value, 'a', sizeof long_value);
    long_value[PZ_MAX_MAP_VALUE_LEN + 1] = '\0';
    char just_fits[PZ_MAX_MAP_VALUE_LEN + 1];
    memset(just_fits, 'b', sizeof just_fits);
    just_fits[PZ_MAX_MAP_VALUE_LEN] = '\0';
    pz_value too_long[] = {str(long_value)}, fits[] = {str(just_fits)}, bad_utf8[] = {str("\xff\xfe")};
    pz_resolved_field fields[] = {field("a", PZ_FIELD_STRING, too_long, 1), field("b", PZ_FIELD_STRING, fits, 1),
                                  field("c", PZ_FIELD_STRING, bad_utf8, 1)};
    pz_resolved_context rc = {fields, 3};
    pz_string_map m = pz_context_merge(NULL, 0, &rc, &arena);
    assert_int_equal(m.n, 1); /* too long and not UTF-8: left out */
    assert_string_equal(m.entries[0]->key, "b");
}

static void test_filter_values(void **state)
{
    (void)state;
    pz_value seasons[] = {str("Summer"), str("Fall")}, quoted[] = {str("a\"b"), str("c")}, five[] = {num(5), num(6)};
    pz_resolved_field fields[] = {field("SEASON", PZ_FIELD_STRING, seasons, 2),
                                  field("QUOTED", PZ_FIELD_STRING, quoted, 2), field("N", PZ_FIELD_LONG, five, 2)};
    pz_resolved_context rc = {fields, 3};
    /* strings quoted and comma-joined; a value with a quote is left out; other types: the first */
    assert_string_equal(map_text(pz_filter_values_merge(NULL, 0, &rc, &arena)),
                        "SEASON=\"Summer\",\"Fall\";QUOTED=\"c\";N=5");
    pz_string_entry explicit_season = {.key = "SEASON", .value = "\"Winter\""};
    pz_string_entry *explicit_entries[] = {&explicit_season};
    assert_string_equal(map_text(pz_filter_values_merge(explicit_entries, 1, &rc, &arena)),
                        "SEASON=\"Winter\";QUOTED=\"c\";N=5");
    /* a string list keeps the values that fit within the limit */
    static char big[600];
    memset(big, 'x', sizeof big - 1);
    pz_value many[] = {str(big), str(big), str("tail")};
    pz_resolved_field f = field("P", PZ_FIELD_STRING, many, 3);
    const char *text = pz_filter_value_text(&f, &arena);
    assert_int_equal(strlen(text), (sizeof big - 1) + 2 + 1 + 6);
    assert_non_null(strstr(text, ",\"tail\""));
    pz_value only_quote[] = {str("\"")};
    f = field("Q", PZ_FIELD_STRING, only_quote, 1);
    assert_null(pz_filter_value_text(&f, &arena));
}

static void test_event_properties(void **state)
{
    (void)state;
    pz_value phone_tablet[] = {str("Phone"), str("Tablet")}, five[] = {num(5), num(6)}, de[] = {str("DE")};
    pz_resolved_field fields[] = {field("deviceType", PZ_FIELD_STRING, phone_tablet, 2),
                                  field("hour", PZ_FIELD_INTEGER, five, 2), field("country", PZ_FIELD_STRING, de, 1)};
    pz_resolved_context rc = {fields, 3};
    /* no properties: a new object; string values joined with |, other types their first value */
    assert_string_equal(pz_properties_enrich(NULL, &rc, 1024, &arena),
                        "{\"deviceType\":\"Phone|Tablet\",\"hour\":\"5\",\"country\":\"DE\"}");
    /* the event's own keys win and keep their place */
    assert_string_equal(pz_properties_enrich("{\"country\":\"FR\",\"n\":1}", &rc, 1024, &arena),
                        "{\"country\":\"FR\",\"n\":1,\"deviceType\":\"Phone|Tablet\",\"hour\":\"5\"}");
    /* nothing to add: the same text */
    const char *own = "{\"deviceType\":\"x\",\"hour\":1,\"country\":\"y\"}";
    assert_ptr_equal(pz_properties_enrich(own, &rc, 1024, &arena), own);
    assert_ptr_equal(pz_properties_enrich(own, &(pz_resolved_context){0}, 1024, &arena), own);
    /* a property that would cross the limit is left out; a smaller one after it still fits */
    static char big[100];
    memset(big, 'x', sizeof big - 1);
    pz_value big_values[] = {str(big)}, small[] = {str("s")};
    pz_resolved_field limited[] = {field("big", PZ_FIELD_STRING, big_values, 1), field("t", PZ_FIELD_STRING, small, 1)};
    pz_resolved_context lrc = {limited, 2};
    assert_string_equal(pz_properties_enrich("{\"a\":1}", &lrc, 40, &arena), "{\"a\":1,\"t\":\"s\"}");
    /* a value that is not UTF-8 is left out */
    pz_value bad[] = {str("\xc3\x28")};
    pz_resolved_field bad_field = field("bad", PZ_FIELD_STRING, bad, 1);
    assert_null(pz_properties_enrich(NULL, &(pz_resolved_context){&bad_field, 1}, 1024, &arena));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_context_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_context_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_properties, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
