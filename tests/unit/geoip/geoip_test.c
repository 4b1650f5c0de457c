/* Tests for server/geoip/geoip.c against a database written by MaxMind's own writer
 * (tests/data/geoip/make_test_mmdb.pl): every field of a City record, IPv4 and IPv6, addresses
 * not in the database, files that are not databases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/geoip/geoip.h"

#define TEST_DB "tests/data/geoip/test-city.mmdb"

static pz_geoip *db;
static pz_arena arena;

static int setup(void **state)
{
    (void)state;
    char err[256];
    if (pz_geoip_open(TEST_DB, &db, err, sizeof err) != 0)
        fail_msg("%s", err);
    pz_arena_init(&arena);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pz_geoip_close(db);
    pz_arena_destroy(&arena);
    return 0;
}

/* The fields of an address's record, or false when it is not in the database. */
static bool find(const char *address, const char *out[PZ_GEO__COUNT])
{
    pz_ip ip;
    assert_true(pz_ip_parse(address, strlen(address), &ip));
    pz_geo_port port = pz_geoip_port(db);
    pz_geo_record rec;
    if (!port.find(port.self, &ip, &rec))
        return false;
    for (int f = 0; f < PZ_GEO__COUNT; f++)
        out[f] = port.field(port.self, &rec, (pz_geo_field)f, &arena);
    return true;
}

static void test_city_record(void **state)
{
    (void)state;
    assert_string_equal(pz_geoip_type(db), "GeoIP2-City");
    const char *g[PZ_GEO__COUNT];
    assert_true(find("198.51.100.42", g));
    assert_string_equal(g[PZ_GEO_COUNTRY], "US");
    assert_string_equal(g[PZ_GEO_COUNTRY_NAME], "United States");
    assert_string_equal(g[PZ_GEO_REGION], "WA");
    assert_string_equal(g[PZ_GEO_REGION_NAME], "Washington");
    assert_string_equal(g[PZ_GEO_CITY], "Seattle");
    assert_string_equal(g[PZ_GEO_POSTAL_CODE], "98101");
    assert_string_equal(g[PZ_GEO_METRO_CODE], "819");
    assert_string_equal(g[PZ_GEO_TIME_ZONE], "America/Los_Angeles");
    assert_string_equal(g[PZ_GEO_LATITUDE], "47.60620"); /* five decimals, as CloudFront writes them */
    assert_string_equal(g[PZ_GEO_LONGITUDE], "-122.33207");

    assert_true(find("203.0.113.200", g));
    assert_string_equal(g[PZ_GEO_CITY], "Sydney");
    assert_null(g[PZ_GEO_METRO_CODE]); /* not in that record */
    assert_string_equal(g[PZ_GEO_LATITUDE], "-33.86785");
}

static void test_ipv6_loopback_and_misses(void **state)
{
    (void)state;
    const char *g[PZ_GEO__COUNT];
    assert_true(find("2001:db8:1::5", g));
    assert_string_equal(g[PZ_GEO_COUNTRY], "CA");
    assert_string_equal(g[PZ_GEO_TIME_ZONE], "America/Toronto");
    assert_true(find("127.0.0.1", g));
    assert_string_equal(g[PZ_GEO_COUNTRY], "JP");
    assert_true(find("::ffff:192.0.2.9", g)); /* IPv4-mapped: the IPv4 record */
    assert_string_equal(g[PZ_GEO_CITY], "Berlin");
    assert_false(find("8.8.8.8", g));
    assert_false(find("2001:db9::1", g));
}

static void test_open_failures(void **state)
{
    (void)state;
    pz_geoip *other = NULL;
    char err[256];
    assert_int_equal(pz_geoip_open("/nonexistent.mmdb", &other, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent.mmdb"));
    assert_int_equal(pz_geoip_open("tests/unit/geoip/geoip_test.c", &other, err, sizeof err), -1);
    assert_null(other);
    pz_geoip_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_city_record),
        cmocka_unit_test(test_ipv6_loopback_and_misses),
        cmocka_unit_test(test_open_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
