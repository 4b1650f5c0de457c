/* Tests for server/core/viewer.c: real headers win over derived ones; device headers from
 * User-Agent, geo headers from a fake geolocation port for the client behind trusted proxies;
 * the wall clock in the viewer's zone (DST transitions with the clock injected), the default zone
 * and the --context-time instant; what Vary lists. Zones come from the machine's tzdata. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/core/viewer.h"

static pz_arena arena;
static pz_tz_db *tz;

static int setup(void **state)
{
    (void)state;
    pz_arena_init(&arena);
    tz = pz_tz_db_create(NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pz_arena_destroy(&arena);
    pz_tz_db_destroy(tz);
    return 0;
}

typedef struct fake_geo {
    int finds, fields;
    char last[PZ_IP_TEXT_SIZE];
} fake_geo;

/* Knows one address: Sydney, without a metro code. */
static bool geo_find(void *self, const pz_ip *ip, pz_geo_record *rec)
{
    fake_geo *g = self;
    g->finds++;
    pz_ip_format(ip, g->last);
    rec->opaque[0] = 42;
    return strcmp(g->last, "203.0.113.5") == 0;
}

static const char *geo_field(void *self, const pz_geo_record *rec, pz_geo_field field, pz_arena *a)
{
    fake_geo *g = self;
    g->fields++;
    assert_int_equal(rec->opaque[0], 42);
    static const char *const SYDNEY[PZ_GEO__COUNT] = {
        [PZ_GEO_COUNTRY] = "AU",         [PZ_GEO_COUNTRY_NAME] = "Australia", [PZ_GEO_REGION] = "NSW",
        [PZ_GEO_CITY] = "Sydney",        [PZ_GEO_POSTAL_CODE] = "2000",       [PZ_GEO_TIME_ZONE] = "Australia/Sydney",
        [PZ_GEO_LATITUDE] = "-33.86785", [PZ_GEO_LONGITUDE] = "151.20732"};
    return SYDNEY[field] != NULL ? pz_arena_strdup(a, SYDNEY[field]) : NULL;
}

static pz_header headers[16];
static size_t n_headers;

static void set_headers(const char *const *pairs)
{
    n_headers = 0;
    for (size_t i = 0; pairs != NULL && pairs[i] != NULL; i += 2)
        headers[n_headers++] = (pz_header){pairs[i], strlen(pairs[i]), pairs[i + 1], strlen(pairs[i + 1])};
}

static int64_t ms(const char *iso)
{
    int64_t out;
    if (!pz_iso8601_parse(iso, &out))
        fail_msg("bad instant %s", iso);
    return out;
}

static void have_tzdata(void)
{
    if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) != 0)
        skip(); /* tzdata is a test dependency (bazel/setup.sh) */
}

static void test_real_headers_win_and_devices_are_derived(void **state)
{
    (void)state;
    pz_viewer_env env = {.tz = tz};
    const char *pairs[] = {"user-agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148",
                           "cloudfront-is-tablet-viewer", "true", NULL};
    set_headers(pairs);
    pz_viewer v;
    pz_viewer_init(&v, &env, headers, n_headers, "192.0.2.1:4000", 0, NULL, 0, &arena);
    assert_string_equal(pz_viewer_header(&v, "cloudfront-is-mobile-viewer"), "true");   /* derived */
    assert_string_equal(pz_viewer_header(&v, "cloudfront-is-tablet-viewer"), "true");   /* the CDN's, as sent */
    assert_string_equal(pz_viewer_header(&v, "cloudfront-is-desktop-viewer"), "false"); /* derived */
    assert_string_equal(pz_viewer_header(&v, "cloudfront-is-ios-viewer"), "true");
    assert_string_equal(pz_viewer_header(&v, "cloudfront-is-android-viewer"), "false");
    assert_null(pz_viewer_header(&v, "cloudfront-viewer-country")); /* no geolocation configured */
    assert_null(pz_viewer_header(&v, "x-custom"));
    assert_string_equal(pz_viewer_header(&v, "cloudfront-viewer-address"), "192.0.2.1:4000");
    assert_string_equal(pz_viewer_vary(&v),
                        "cloudfront-is-mobile-viewer, user-agent, cloudfront-is-tablet-viewer, "
                        "cloudfront-is-desktop-viewer, cloudfront-is-ios-viewer, cloudfront-is-android-viewer, "
                        "cloudfront-viewer-country, x-custom, cloudfront-viewer-address");
    pz_viewer_init(&v, &env, NULL, 0, NULL, 0, NULL, 0, &arena);
    assert_null(pz_viewer_vary(&v));                                                   /* nothing consulted */
    assert_string_equal(pz_viewer_header(&v, "cloudfront-is-desktop-viewer"), "true"); /* no User-Agent */
    assert_null(pz_viewer_header(&v, "cloudfront-viewer-address"));                    /* no peer */
}

static void test_geo_behind_trusted_proxies(void **state)
{
    (void)state;
    fake_geo g = {0};
    pz_viewer_env env = {.geo = {&g, geo_find, geo_field}, .tz = tz};
    pz_cidr trusted;
    assert_true(pz_cidr_parse("10.0.0.0/8", 10, &trusted));
    const char *pairs[] = {"x-forwarded-for", "203.0.113.5", "cloudfront-viewer-city", "Melbourne", NULL};
    set_headers(pairs);
    pz_viewer v;
    pz_viewer_init(&v, &env, headers, n_headers, "10.0.0.1:5000", 0, &trusted, 1, &arena);
    assert_string_equal(pz_viewer_header(&v, "cloudfront-viewer-country"), "AU");
    assert_string_equal(pz_viewer_header(&v, "cloudfront-viewer-country-region"), "NSW");
    assert_string_equal(pz_viewer_header(&v, "cloudfront-viewer-city"), "Melbourne"); /* the CDN's wins */
    assert_string_equal(pz_viewer_header(&v, "cloudfront-viewer-latitude"), "-33.86785");
    assert_string_equal(pz_viewer_header(&v, "cloudfront-viewer-longitude"), "151.20732");
    assert_null(pz_viewer_header(&v, "cloudfront-viewer-metro-code")); /* unknown to the database */
    assert_string_equal(pz_viewer_header(&v, "cloudfront-viewer-address"), "203.0.113.5");
    assert_int_equal(g.finds, 1);  /* the record is found once per request */
    assert_int_equal(g.fields, 5); /* each field read once, only those asked for (the city was sent) */
    assert_null(pz_viewer_header(&v, "cloudfront-viewer-metro-code"));
    assert_int_equal(g.fields, 5);
    assert_string_equal(pz_viewer_vary(&v),
                        "cloudfront-viewer-country, x-forwarded-for, cloudfront-viewer-country-region, "
                        "cloudfront-viewer-city, cloudfront-viewer-latitude, cloudfront-viewer-longitude, "
                        "cloudfront-viewer-metro-code, cloudfront-viewer-address");

    /* the same headers from an untrusted peer: the socket address is the client */
    pz_viewer_init(&v, &env, headers, n_headers, "198.51.100.1:5000", 0, &trusted, 1, &arena);
    assert_null(pz_viewer_header(&v, "cloudfront-viewer-country"));
    assert_string_equal(g.last, "198.51.100.1");
    assert_string_equal(pz_viewer_vary(&v), "cloudfront-viewer-country");
}

static const pz_civil_time *now_in(pz_viewer *v)
{
    pz_context_source src = pz_viewer_source(v);
    return src.local_time(src.self);
}

static void test_wall_clock_and_dst(void **state)
{
    (void)state;
    have_tzdata();
    pz_viewer_env env = {.tz = tz};
    const char *ny[] = {"cloudfront-viewer-time-zone", "America/New_York", NULL};
    set_headers(ny);
    pz_viewer v;
    /* US spring forward, 2025-03-09 07:00 UTC: 01:59:59 EST, then 03:00:00 EDT */
    pz_viewer_init(&v, &env, headers, n_headers, NULL, ms("2025-03-09T06:59:59Z"), NULL, 0, &arena);
    assert_int_equal(now_in(&v)->hour, 1);
    pz_viewer_init(&v, &env, headers, n_headers, NULL, ms("2025-03-09T07:00:00Z"), NULL, 0, &arena);
    assert_int_equal(now_in(&v)->hour, 3);
    assert_true(now_in(&v)->is_dst);
    assert_string_equal(pz_viewer_vary(&v), "cloudfront-viewer-time-zone");
    /* fall back, 2025-11-02 06:00 UTC: 01:59:59 EDT, then 01:00:00 EST */
    pz_viewer_init(&v, &env, headers, n_headers, NULL, ms("2025-11-02T05:59:59Z"), NULL, 0, &arena);
    assert_int_equal(now_in(&v)->hour, 1);
    assert_true(now_in(&v)->is_dst);
    pz_viewer_init(&v, &env, headers, n_headers, NULL, ms("2025-11-02T06:00:00Z"), NULL, 0, &arena);
    assert_int_equal(now_in(&v)->hour, 1);
    assert_false(now_in(&v)->is_dst);
    /* the local date decides the weekday: Sunday evening in New York is Monday in UTC */
    pz_viewer_init(&v, &env, headers, n_headers, NULL, ms("2025-01-06T02:00:00Z"), NULL, 0, &arena);
    assert_int_equal(now_in(&v)->weekday, 6);

    /* no zone, or an unknown one: the default zone (UTC unless configured) */
    const char *bogus[] = {"cloudfront-viewer-time-zone", "Mars/Olympus_Mons", NULL};
    set_headers(bogus);
    pz_viewer_init(&v, &env, headers, n_headers, NULL, ms("2025-07-01T12:00:00Z"), NULL, 0, &arena);
    assert_int_equal(now_in(&v)->hour, 12);
    assert_string_equal(v.zone, "UTC");
    pz_viewer_env berlin = {.tz = tz, .default_zone = "Europe/Berlin"};
    pz_viewer_init(&v, &berlin, NULL, 0, NULL, ms("2025-07-01T12:00:00Z"), NULL, 0, &arena);
    assert_int_equal(now_in(&v)->hour, 14); /* CEST */
    pz_viewer_init(&v, &berlin, NULL, 0, NULL, ms("2025-01-01T12:00:00Z"), NULL, 0, &arena);
    assert_int_equal(now_in(&v)->hour, 13); /* CET */
}

static void test_zone_from_geolocation_and_fixed_clock(void **state)
{
    (void)state;
    have_tzdata();
    fake_geo g = {0};
    /* --context-time: every request sees the same instant, whatever its receipt time */
    pz_viewer_env env = {
        .geo = {&g, geo_find, geo_field}, .tz = tz, .has_fixed_now = true, .fixed_now_ms = ms("2025-10-04T16:00:00Z")};
    pz_viewer v;
    pz_viewer_init(&v, &env, NULL, 0, "203.0.113.5:1234", ms("2030-01-01T00:00:00Z"), NULL, 0, &arena);
    const pz_civil_time *t = now_in(&v); /* Sydney's DST starts at this instant: 03:00 AEDT */
    assert_int_equal(t->hour, 3);
    assert_int_equal(t->day, 5);
    assert_true(t->is_dst);
    assert_string_equal(v.zone, "Australia/Sydney");
    /* the season rule reads the derived latitude: southern hemisphere */
    assert_int_equal(pz_context_season(t, pz_viewer_header(&v, "cloudfront-viewer-latitude")), 0);
    assert_int_equal(g.finds, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_real_headers_win_and_devices_are_derived, setup, teardown),
        cmocka_unit_test_setup_teardown(test_geo_behind_trusted_proxies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wall_clock_and_dst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zone_from_geolocation_and_fixed_clock, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
