/* Tests for server/core/context.c, the automatic-context rule engine: every rule type, every
 * operator (and its synonym), evaluateAll and first-seen order, default, "only absence means no
 * value", both hemispheres at every season boundary. Inputs come from a fake source: headers
 * from a table, the wall clock fixed by each test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/core/context.h"

typedef struct fake {
    const char *const *headers; /* name, value pairs, NULL-terminated; names lower case */
    pz_civil_time now;
    int time_calls;
} fake;

static const char *fake_header(void *self, const char *lname)
{
    fake *f = self;
    for (size_t i = 0; f->headers != NULL && f->headers[i] != NULL; i += 2) {
        if (strcmp(f->headers[i], lname) == 0)
            return f->headers[i + 1];
    }
    return NULL;
}

static const pz_civil_time *fake_time(void *self)
{
    fake *f = self;
    f->time_calls++;
    return &f->now;
}

static void set_now(fake *f, const char *iso)
{
    int64_t ms;
    if (!pz_iso8601_parse(iso, &ms))
        fail_msg("bad instant %s", iso);
    pz_civil_from_unix(ms / 1000, 0, &f->now);
}

static pz_arena arena;
static pz_config *cfg;

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
    pz_config_unref(cfg);
    cfg = NULL;
    return 0;
}

/* The root autoContext of a document holding only `fields` (JSON with ' for "). */
static const pz_auto_context *fields(const char *json_fields)
{
    char doc[8192];
    snprintf(doc, sizeof doc, "{\"autoContext\":{%s},\"namespaces\":{\"ns\":{\"eventTargets\":[]}}}", json_fields);
    for (char *p = doc; *p != '\0'; p++)
        if (*p == '\'')
            *p = '"';
    pz_config_problems problems;
    pz_config_problems_init(&problems);
    pz_config_unref(cfg);
    cfg = pz_config_parse(doc, strlen(doc), &problems);
    if (cfg == NULL)
        fail_msg("config: %s: %s", problems.n ? problems.items[0].path : "",
                 problems.n ? problems.items[0].message : "");
    pz_config_problems_free(&problems);
    return pz_config_namespace(cfg, "ns")->auto_context_view;
}

/* The resolution of `json_fields` against f, as "name=[v1,v2]:type;..." with strings quoted. */
static const char *resolve(const char *json_fields, fake *f)
{
    static char out[1024];
    pz_context_source src = {f, fake_header, fake_time};
    pz_resolved_context rc;
    pz_context_resolve(fields(json_fields), &src, &arena, &rc);
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < rc.n_fields; i++) {
        const pz_resolved_field *fl = &rc.fields[i];
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%s=[", i ? ";" : "", fl->name);
        for (size_t k = 0; k < fl->n_values; k++) {
            const pz_value *v = &fl->values[k];
            const char *q = v->kind == PZ_VALUE_STRING ? "'" : "";
            len +=
                (size_t)snprintf(out + len, sizeof out - len, "%s%s%s%s", k ? "," : "", q, pz_value_text(v, &arena), q);
        }
        len += (size_t)snprintf(out + len, sizeof out - len, "]:%s", pz_field_type_name(fl->type));
    }
    return out;
}

#define HEADER_RULE(h, mappings) "{'type':'header-value','header':'" h "'" mappings "}"
#define MAP(op, value, to) "{'operator':'" op "','value':" value ",'mapTo':" to "}"
/* A header rule with one equals mapping. */
#define EQ_RULE(h, value, to) HEADER_RULE(h, ",'valueMappings':[" MAP("equals", value, to) "]")

/* A field "f" whose one rule reads header h through `mappings` (JSON with ' for ", or "" for none). */
static const char *header_field(const char *h, const char *mappings)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "'f':{'type':'string','rules':[{'type':'header-value','header':'%s'%s%s%s}]}", h,
             mappings[0] ? ",'valueMappings':[" : "", mappings, mappings[0] ? "]" : "");
    return buf;
}

/* Whether the header's value matches `operator` against `value` (a JSON operand, ' for "). */
static bool matches(fake *f, const char *h, const char *operator, const char * value)
{
    char mapping[256];
    snprintf(mapping, sizeof mapping, "{'operator':'%s','value':%s,'mapTo':'hit'}", operator, value);
    const char *got = resolve(header_field(h, mapping), f);
    assert_true(got[0] == '\0' || strcmp(got, "f=['hit']:string") == 0);
    return got[0] != '\0';
}

static void test_header_value_rules(void **state)
{
    (void)state;
    const char *headers[] = {"cloudfront-viewer-country", "DE", "x-empty", "", NULL};
    fake f = {.headers = headers};
    /* the raw value; header names in the config match case-insensitively */
    assert_string_equal(resolve(header_field("CloudFront-Viewer-Country", ""), &f), "f=['DE']:string");
    /* an absent header yields nothing; an empty one is a value */
    assert_string_equal(resolve(header_field("x-missing", ""), &f), "");
    assert_string_equal(resolve(header_field("x-empty", ""), &f), "f=['']:string");
    assert_int_equal(f.time_calls, 0); /* no time rule, no clock */
}

static void test_operators(void **state)
{
    (void)state;
    const char *headers[] = {"h-num", "807", "h-text", "Mozilla/5.0 (iPhone)", "h-true", "true", NULL};
    fake f = {.headers = headers};
    /* equals is type-aware: the header string "807" is not the number 807 */
    assert_true(matches(&f, "h-num", "equals", "'807'"));
    assert_false(matches(&f, "h-num", "equals", "807"));
    assert_true(matches(&f, "h-true", "equals", "'true'"));
    assert_false(matches(&f, "h-true", "equals", "true"));
    assert_false(matches(&f, "h-text", "equals", "'mozilla/5.0 (iphone)'")); /* values are case-sensitive */
    /* less-than / greater-than coerce both sides when both are numbers, else do not match */
    assert_true(matches(&f, "h-num", "greater-than", "800"));
    assert_true(matches(&f, "h-num", "greater-than", "'800'"));
    assert_false(matches(&f, "h-num", "less-than", "800"));
    assert_true(matches(&f, "h-num", "less-than", "807.5"));
    assert_false(matches(&f, "h-text", "less-than", "1"));
    assert_false(matches(&f, "h-text", "greater-than", "1"));
    assert_false(matches(&f, "h-true", "greater-than", "0"));
    /* string operators on both sides' text; start-with is a synonym of starts-with */
    assert_true(matches(&f, "h-text", "contains", "'iPhone'"));
    assert_false(matches(&f, "h-text", "contains", "'Android'"));
    assert_true(matches(&f, "h-text", "starts-with", "'Mozilla'"));
    assert_true(matches(&f, "h-text", "start-with", "'Mozilla'"));
    assert_false(matches(&f, "h-text", "starts-with", "'iPhone'"));
    assert_true(matches(&f, "h-text", "ends-with", "'(iPhone)'"));
    assert_false(matches(&f, "h-text", "ends-with", "'Mozilla'"));
    assert_true(matches(&f, "h-num", "contains", "80")); /* a number operand as text */
    assert_true(matches(&f, "h-num", "ends-with", "7"));
    /* mappings are tried in order: the first that matches decides */
    assert_string_equal(
        resolve(header_field("h-num", MAP("equals", "807", "'number'") "," MAP("equals", "'807'", "'string'") "," MAP(
                                          "contains", "'8'", "'later'")),
                &f),
        "f=['string']:string");
    set_now(&f, "2025-07-01T15:00:00Z");
    assert_string_equal(resolve("'t':{'type':'string','rules':[{'type':'hour-of-day','valueMappings':[" MAP(
                                    "less-than", "5",
                                    "'Night'") "," MAP("less-than", "12",
                                                       "'Morning'") "," MAP("less-than", "17",
                                                                            "'Afternoon'") "," MAP("less-than", "22",
                                                                                                   "'Evening'") "]}]}",
                                &f),
                        "t=['Afternoon']:string");
}

static void test_time_rules(void **state)
{
    (void)state;
    fake f = {0};
    set_now(&f, "2025-01-06T00:30:00Z"); /* a Monday, just after midnight */
    assert_string_equal(resolve("'hour':{'type':'integer','rules':[{'type':'hour-of-day'}]},"
                                "'day':{'type':'integer','rules':[{'type':'day-of-week'}]}",
                                &f),
                        "hour=[0]:integer;day=[0]:integer"); /* midnight and Monday are values (0) */
    set_now(&f, "2025-01-12T23:59:59Z");                     /* Sunday */
    assert_string_equal(resolve("'hour':{'type':'integer','rules':[{'type':'hour-of-day'}]},"
                                "'day':{'type':'long','rules':[{'type':'day-of-week'}]}",
                                &f),
                        "hour=[23]:integer;day=[6]:long");
    assert_string_equal(resolve("'w':{'type':'string','rules':[{'type':'day-of-week','valueMappings':[" MAP(
                                    "less-than", "5", "'Weekday'") "," MAP("greater-than", "4", "'Weekend'") "]}]}",
                                &f),
                        "w=['Weekend']:string");
}

static const char *season_at(const char *iso, const char *latitude)
{
    const char *headers[] = {"cloudfront-viewer-latitude", latitude, NULL};
    fake f = {.headers = latitude != NULL ? headers : NULL};
    set_now(&f, iso);
    return resolve("'s':{'type':'integer','rules':[{'type':'season-of-year'}]}", &f);
}

static void test_seasons_both_hemispheres(void **state)
{
    (void)state;
    static const struct {
        const char *day;
        int north;
    } BOUNDARIES[] = {
        {"2025-03-20T23:59:59Z", 3}, {"2025-03-21T00:00:00Z", 0}, {"2025-06-20T23:59:59Z", 0},
        {"2025-06-21T00:00:00Z", 1}, {"2025-09-22T23:59:59Z", 1}, {"2025-09-23T00:00:00Z", 2},
        {"2025-12-22T23:59:59Z", 2}, {"2025-12-23T00:00:00Z", 3}, {"2025-01-01T00:00:00Z", 3},
    };
    char expect[64];
    for (size_t i = 0; i < sizeof BOUNDARIES / sizeof BOUNDARIES[0]; i++) {
        snprintf(expect, sizeof expect, "s=[%d]:integer", BOUNDARIES[i].north);
        assert_string_equal(season_at(BOUNDARIES[i].day, NULL), expect);
        assert_string_equal(season_at(BOUNDARIES[i].day, "47.60620"), expect);
        assert_string_equal(season_at(BOUNDARIES[i].day, "0"), expect);            /* the equator: northern */
        assert_string_equal(season_at(BOUNDARIES[i].day, "not a number"), expect); /* parsed as a float, or north */
        snprintf(expect, sizeof expect, "s=[%d]:integer", (BOUNDARIES[i].north + 2) % 4);
        assert_string_equal(season_at(BOUNDARIES[i].day, "-33.86785"), expect); /* Sydney: the other way round */
        assert_string_equal(season_at(BOUNDARIES[i].day, " -0.1 "), expect);
    }
    /* "season" is a synonym, and mappings see the number */
    const char *headers[] = {"cloudfront-viewer-latitude", "-33.9", NULL};
    fake f = {.headers = headers};
    set_now(&f, "2025-07-01T12:00:00Z");
    assert_string_equal(resolve("'s':{'type':'string','rules':[{'type':'season','valueMappings':[" MAP(
                                    "equals", "1", "'Summer'") "," MAP("equals", "3", "'Winter'") "]}]}",
                                &f),
                        "s=['Winter']:string");
}

static void test_evaluate_all_and_order(void **state)
{
    (void)state;
    const char *headers[] = {
        "cloudfront-is-mobile-viewer", "true", "cloudfront-is-tablet-viewer", "true", "x-also-mobile", "yes", NULL};
    fake f = {.headers = headers};
#define MOBILE EQ_RULE("cloudfront-is-mobile-viewer", "'true'", "'Phone'")
#define TV EQ_RULE("cloudfront-is-smarttv-viewer", "'true'", "'TV'")
#define TABLET EQ_RULE("cloudfront-is-tablet-viewer", "'true'", "'Tablet'")
#define ALSO_MOBILE EQ_RULE("x-also-mobile", "'yes'", "'Phone'")
    const char *rules = "'rules':[" MOBILE "," TV "," TABLET "," ALSO_MOBILE "]";
    char buf[4096];
    snprintf(buf, sizeof buf, "'d':{'type':'string','evaluateAll':true,%s}", rules);
    assert_string_equal(resolve(buf, &f), "d=['Phone','Tablet']:string"); /* distinct, first-seen order */
    snprintf(buf, sizeof buf, "'d':{'type':'string','evaluateAll':false,%s}", rules);
    assert_string_equal(resolve(buf, &f), "d=['Phone']:string");
    snprintf(buf, sizeof buf, "'d':{'type':'string',%s}", rules); /* evaluateAll defaults to false */
    assert_string_equal(resolve(buf, &f), "d=['Phone']:string");
}

static void test_defaults_and_falsy_values(void **state)
{
    (void)state;
    const char *headers[] = {"h", "x", NULL};
    fake f = {.headers = headers};
    assert_string_equal(resolve("'a':{'type':'string','default':'Desktop','rules':[" HEADER_RULE(
                                    "missing", "") "]},"
                                                   "'b':{'type':'integer','default':0,'rules':[]},"
                                                   "'c':{'type':'string','default':'','rules':[]},"
                                                   "'d':{'type':'boolean','default':false,'rules':[]},"
                                                   "'e':{'type':'string','rules':[" HEADER_RULE("missing", "") "]}",
                                &f),
                        "a=['Desktop']:string;b=[0]:integer;c=['']:string;d=[false]:boolean");
    /* mapTo 0 and false are values; a rule that matched is not replaced by the default */
    assert_string_equal(
        resolve("'a':{'type':'number','default':9,'rules':[" HEADER_RULE(
                    "h", ",'valueMappings':[" MAP("equals", "'x'",
                                                  "0") "]") "]},"
                                                            "'b':{'type':'boolean','rules':[" HEADER_RULE(
                                                                "h", ",'valueMappings':[" MAP("equals", "'x'",
                                                                                              "false") "]") "]}",
                &f),
        "a=[0]:number;b=[false]:boolean");
    /* no mapping matches: the next rule is tried, then the default */
    assert_string_equal(resolve("'a':{'type':'float','default':1.5,'rules':[" HEADER_RULE(
                                    "h", ",'valueMappings':[" MAP("equals", "'y'", "'Y'") "]") "]}",
                                &f),
                        "a=[1.5]:float");
}

static void test_value_text_and_equality(void **state)
{
    (void)state;
    pz_value n = {.kind = PZ_VALUE_NUMBER, .number = 5}, f = {.kind = PZ_VALUE_NUMBER, .number = 0.1};
    pz_value s = {.kind = PZ_VALUE_STRING, .string = "5"}, b = {.kind = PZ_VALUE_BOOL, .boolean = true};
    assert_string_equal(pz_value_text(&n, &arena), "5");
    assert_string_equal(pz_value_text(&f, &arena), "0.1");
    assert_string_equal(pz_value_text(&s, &arena), "5");
    assert_string_equal(pz_value_text(&b, &arena), "true");
    assert_false(pz_value_equal(&n, &s));
    assert_true(pz_value_equal(&n, &n));
    pz_value neg_zero = {.kind = PZ_VALUE_NUMBER, .number = -0.0};
    assert_string_equal(pz_value_text(&neg_zero, &arena), "0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_header_value_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operators, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seasons_both_hemispheres, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evaluate_all_and_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults_and_falsy_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_text_and_equality, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
