/* Tests for server/core/tz.c and tz_db.c: civil arithmetic, POSIX TZ rules at their DST
 * transitions (both hemispheres, negative DST, permanent DST, negative rule times), TZif parsing
 * (synthetic files, every truncation and corruption of a real one) and the zone database (names,
 * cache, bounds). The clock is always a parameter: every instant below is fixed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/core/tz.h"
#include "server/core/tz_db.h"

static int64_t at(const char *iso)
{
    int64_t ms;
    if (!pz_iso8601_parse(iso, &ms))
        fail_msg("bad test instant %s", iso);
    return ms / 1000;
}

/* Local wall clock of `iso` under rule `posix`, as "YYYY-MM-DD HH:MM:SS +offset dst". */
static const char *local_by_rule(const char *posix, const char *iso)
{
    static char buf[64];
    pz_tz_rule r;
    if (!pz_tz_posix_parse(posix, strlen(posix), &r))
        fail_msg("rule %s does not parse", posix);
    bool dst;
    int32_t off = pz_tz_rule_offset(&r, at(iso), &dst);
    pz_civil_time c;
    pz_civil_from_unix(at(iso), off, &c);
    snprintf(buf, sizeof buf, "%04lld-%02d-%02d %02d:%02d:%02d %+d%s", (long long)c.year, c.month, c.day, c.hour,
             c.minute, c.second, off / 60, dst ? " dst" : "");
    return buf;
}

static void test_civil_arithmetic(void **state)
{
    (void)state;
    pz_civil_time c;
    pz_civil_from_unix(0, 0, &c);
    assert_int_equal(c.year, 1970);
    assert_int_equal(c.weekday, 3); /* a Thursday, Monday = 0 */
    pz_civil_from_unix(at("2000-02-29T23:59:59Z"), 0, &c);
    assert_int_equal(c.month, 2);
    assert_int_equal(c.day, 29);
    assert_int_equal(c.weekday, 1); /* Tuesday */
    pz_civil_from_unix(at("1969-12-31T23:00:00Z"), 0, &c);
    assert_int_equal(c.year, 1969);
    assert_int_equal(c.hour, 23);
    assert_int_equal(c.weekday, 2); /* Wednesday: weekdays stay right before the epoch */
    pz_civil_from_unix(at("2025-01-05T12:00:00Z"), 0, &c);
    assert_int_equal(c.weekday, 6); /* Sunday */
    pz_civil_from_unix(at("2025-01-06T00:00:00Z"), 0, &c);
    assert_int_equal(c.weekday, 0); /* Monday */
    /* an offset moves the date across midnight */
    pz_civil_from_unix(at("2025-01-05T23:30:00Z"), 3600, &c);
    assert_int_equal(c.day, 6);
    assert_int_equal(c.hour, 0);
    assert_int_equal(c.weekday, 0);
    for (int64_t d = -800000; d < 800000; d += 997) { /* days <-> civil round trip */
        pz_civil_from_unix(d * 86400, 0, &c);
        assert_int_equal(pz_days_from_civil(c.year, c.month, c.day), d);
    }
    /* far instants are clamped, never overflow */
    pz_civil_from_unix(INT64_MAX, 0, &c);
    pz_civil_from_unix(INT64_MIN, 0, &c);
}

static void test_iso8601(void **state)
{
    (void)state;
    int64_t ms;
    assert_true(pz_iso8601_parse("1970-01-01T00:00:00Z", &ms));
    assert_int_equal(ms, 0);
    assert_true(pz_iso8601_parse("2025-07-01T08:30:00.250Z", &ms));
    assert_int_equal(ms, 1751358600250LL);
    assert_true(pz_iso8601_parse("2025-07-01T10:30:00+02:00", &ms));
    assert_int_equal(ms, 1751358600000LL);
    assert_true(pz_iso8601_parse("2025-07-01 03:30-0500", &ms));
    assert_int_equal(ms, 1751358600000LL);
    const char *bad[] = {"",
                         "2025-07-01T08:30:00",  /* no zone designator */
                         "2025-13-01T08:30:00Z", /* month */
                         "2025-02-29T08:30:00Z", /* not a leap year */
                         "2025-07-01T24:00:00Z",
                         "2025-07-01T08:60:00Z",
                         "2025-07-01T08:30:00+24:00",
                         "2025-07-01T08:30:00Zjunk",
                         "25-07-01T08:30:00Z",
                         "2025-07-01T08:30:00."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(pz_iso8601_parse(bad[i], &ms));
    assert_true(pz_iso8601_parse("2024-02-29T00:00:00Z", &ms));
}

static void test_posix_rules_northern_dst(void **state)
{
    (void)state;
    const char *berlin = "CET-1CEST,M3.5.0,M10.5.0/3";
    /* spring forward: 2025-03-30 02:00 CET becomes 03:00 CEST (01:00 UTC) */
    assert_string_equal(local_by_rule(berlin, "2025-03-30T00:59:59Z"), "2025-03-30 01:59:59 +60");
    assert_string_equal(local_by_rule(berlin, "2025-03-30T01:00:00Z"), "2025-03-30 03:00:00 +120 dst");
    /* fall back: 2025-10-26 03:00 CEST becomes 02:00 CET (01:00 UTC) */
    assert_string_equal(local_by_rule(berlin, "2025-10-26T00:59:59Z"), "2025-10-26 02:59:59 +120 dst");
    assert_string_equal(local_by_rule(berlin, "2025-10-26T01:00:00Z"), "2025-10-26 02:00:00 +60");
    assert_string_equal(local_by_rule(berlin, "2025-12-31T23:30:00Z"), "2026-01-01 00:30:00 +60");

    const char *new_york = "EST5EDT,M3.2.0,M11.1.0";
    assert_string_equal(local_by_rule(new_york, "2025-03-09T06:59:59Z"), "2025-03-09 01:59:59 -300");
    assert_string_equal(local_by_rule(new_york, "2025-03-09T07:00:00Z"), "2025-03-09 03:00:00 -240 dst");
    assert_string_equal(local_by_rule(new_york, "2025-11-02T05:59:59Z"), "2025-11-02 01:59:59 -240 dst");
    assert_string_equal(local_by_rule(new_york, "2025-11-02T06:00:00Z"), "2025-11-02 01:00:00 -300");
    /* a DST name without dates takes the US rule */
    assert_string_equal(local_by_rule("EST5EDT", "2025-03-09T07:00:00Z"), "2025-03-09 03:00:00 -240 dst");
}

static void test_posix_rules_southern_and_odd_forms(void **state)
{
    (void)state;
    const char *sydney = "AEST-10AEDT,M10.1.0,M4.1.0/3";
    /* DST ends 2025-04-06 03:00 AEDT (16:00 UTC the day before), starts 2025-10-05 02:00 AEST */
    assert_string_equal(local_by_rule(sydney, "2025-04-05T15:59:59Z"), "2025-04-06 02:59:59 +660 dst");
    assert_string_equal(local_by_rule(sydney, "2025-04-05T16:00:00Z"), "2025-04-06 02:00:00 +600");
    assert_string_equal(local_by_rule(sydney, "2025-10-04T15:59:59Z"), "2025-10-05 01:59:59 +600");
    assert_string_equal(local_by_rule(sydney, "2025-10-04T16:00:00Z"), "2025-10-05 03:00:00 +660 dst");
    /* New Year in the southern summer: DST across the year boundary */
    assert_string_equal(local_by_rule(sydney, "2025-12-31T13:30:00Z"), "2026-01-01 00:30:00 +660 dst");
    /* Dublin: "negative DST", winter is the daylight-saving side */
    const char *dublin = "IST-1GMT0,M10.5.0,M3.5.0/1";
    assert_string_equal(local_by_rule(dublin, "2025-01-15T12:00:00Z"), "2025-01-15 12:00:00 +0 dst");
    assert_string_equal(local_by_rule(dublin, "2025-07-15T12:00:00Z"), "2025-07-15 13:00:00 +60");
    /* permanent DST written as a rule that covers the year */
    assert_string_equal(local_by_rule("EST5EDT4,0/0,J365/25", "2025-01-01T12:00:00Z"), "2025-01-01 08:00:00 -240 dst");
    assert_string_equal(local_by_rule("EST5EDT4,0/0,J365/25", "2025-07-01T12:00:00Z"), "2025-07-01 08:00:00 -240 dst");
    /* quoted names and negative rule times (America/Nuuk since 2023) */
    const char *nuuk = "<-02>2<-01>,M3.5.0/-1,M10.5.0/0";
    assert_string_equal(local_by_rule(nuuk, "2025-03-30T00:59:59Z"), "2025-03-29 22:59:59 -120");
    assert_string_equal(local_by_rule(nuuk, "2025-03-30T01:00:00Z"), "2025-03-30 00:00:00 -60 dst");
    /* fixed offsets with minutes, no DST */
    assert_string_equal(local_by_rule("<+0545>-5:45", "2025-01-01T00:00:00Z"), "2025-01-01 05:45:00 +345");
    /* Jn never counts February 29, n does */
    assert_string_equal(local_by_rule("AAA0BBB,J60/0,J61/0", "2024-03-01T12:00:00Z"), "2024-03-01 13:00:00 +60 dst");
    assert_string_equal(local_by_rule("AAA0BBB,59/0,60/0", "2024-02-29T12:00:00Z"), "2024-02-29 13:00:00 +60 dst");
}

static void test_posix_rules_rejected(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "CET",
                         "C-1",
                         "CET-1CEST,M3.5.0",
                         "CET-1CEST,M13.5.0,M10.5.0",
                         "CET-1CEST,M3.6.0,M10.5.0",
                         "CET-1CEST,M3.5.7,M10.5.0",
                         "CET-1CEST,M3.5.0,M10.5.0/168",
                         "CET-25",
                         "CET-1CEST,J0,J365",
                         "CET-1CEST,366,1",
                         "<AB>1",
                         "<ABC1",
                         "CET-1CEST,M3.5.0,M10.5.0 junk",
                         "CET-1:60"};
    pz_tz_rule r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (pz_tz_posix_parse(bad[i], strlen(bad[i]), &r))
            fail_msg("'%s' parsed", bad[i]);
    }
    char long_rule[PZ_TZ_POSIX_MAX_LEN + 2];
    memset(long_rule, 'A', sizeof long_rule);
    assert_false(pz_tz_posix_parse(long_rule, sizeof long_rule, &r));
}

/* ---- a synthetic TZif writer ---- */

typedef struct tzif_out {
    unsigned char data[4096];
    size_t len;
} tzif_out;

static void put32(tzif_out *o, uint32_t v)
{
    for (int i = 3; i >= 0; i--)
        o->data[o->len++] = (unsigned char)(v >> (8 * i));
}

static void put64(tzif_out *o, int64_t v)
{
    put32(o, (uint32_t)((uint64_t)v >> 32));
    put32(o, (uint32_t)v);
}

static void header(tzif_out *o, char version, uint32_t timecnt, uint32_t typecnt, uint32_t charcnt)
{
    memcpy(o->data + o->len, "TZif", 4);
    o->len += 4;
    o->data[o->len++] = (unsigned char)version;
    memset(o->data + o->len, 0, 15);
    o->len += 15;
    put32(o, 0);
    put32(o, 0);
    put32(o, 0);
    put32(o, timecnt);
    put32(o, typecnt);
    put32(o, charcnt);
}

/* Version 2: two types (+0 "AAA", +3600 dst "BBB"), transitions at t1 (to BBB) and t2 (to AAA),
 * then `footer`. */
static void synthetic(tzif_out *o, int64_t t1, int64_t t2, const char *footer)
{
    o->len = 0;
    header(o, '2', 0, 1, 4); /* a minimal version 1 block */
    put32(o, 0);
    o->data[o->len++] = 0;
    o->data[o->len++] = 0;
    memcpy(o->data + o->len, "AAA", 4);
    o->len += 4;
    header(o, '2', 2, 2, 8);
    put64(o, t1);
    put64(o, t2);
    o->data[o->len++] = 1;
    o->data[o->len++] = 0;
    put32(o, 0);
    o->data[o->len++] = 0;
    o->data[o->len++] = 0;
    put32(o, 3600);
    o->data[o->len++] = 1;
    o->data[o->len++] = 4;
    memcpy(o->data + o->len, "AAA\0BBB", 8);
    o->len += 8;
    o->data[o->len++] = '\n';
    memcpy(o->data + o->len, footer, strlen(footer));
    o->len += strlen(footer);
    o->data[o->len++] = '\n';
}

static void test_tzif_synthetic(void **state)
{
    (void)state;
    tzif_out o;
    char err[160];
    synthetic(&o, 1000000, 2000000, "");
    pz_tz_zone *z = pz_tzif_parse(o.data, o.len, err, sizeof err);
    assert_non_null(z);
    pz_civil_time c;
    pz_tz_local(z, 999999, &c); /* before the first transition: type 0 */
    assert_int_equal(c.utc_offset, 0);
    pz_tz_local(z, 1000000, &c);
    assert_int_equal(c.utc_offset, 3600);
    assert_true(c.is_dst);
    pz_tz_local(z, 1999999, &c);
    assert_int_equal(c.utc_offset, 3600);
    pz_tz_local(z, 2000000, &c); /* after the last, without a footer: the last type */
    assert_int_equal(c.utc_offset, 0);
    assert_false(c.is_dst);
    pz_tz_zone_free(z);

    /* after the last transition the footer governs */
    synthetic(&o, 1000000, 2000000, "XXX-5");
    z = pz_tzif_parse(o.data, o.len, err, sizeof err);
    assert_non_null(z);
    pz_tz_local(z, 3000000, &c);
    assert_int_equal(c.utc_offset, 5 * 3600);
    pz_tz_zone_free(z);

    /* broken files: each is an error with a reason, never a crash */
    synthetic(&o, 2000000, 1000000, "");
    assert_null(pz_tzif_parse(o.data, o.len, err, sizeof err));
    assert_non_null(strstr(err, "ascending"));
    synthetic(&o, 1000000, 2000000, "not a rule");
    assert_null(pz_tzif_parse(o.data, o.len, err, sizeof err));
    assert_non_null(strstr(err, "footer"));
    synthetic(&o, 1000000, 2000000, "");
    o.data[o.len - 1] = 'x'; /* footer not newline-terminated */
    assert_null(pz_tzif_parse(o.data, o.len, err, sizeof err));
    synthetic(&o, 1000000, 2000000, "");
    o.data[4] = '1'; /* unknown version */
    assert_null(pz_tzif_parse(o.data, o.len, err, sizeof err));
    assert_null(pz_tzif_parse((const unsigned char *)"TZi", 3, err, sizeof err));
    unsigned char huge[PZ_TZIF_MAX_BYTES + 1] = {0};
    assert_null(pz_tzif_parse(huge, sizeof huge, err, sizeof err));
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    unsigned char *buf = malloc(PZ_TZIF_MAX_BYTES);
    *len = fread(buf, 1, PZ_TZIF_MAX_BYTES, f);
    fclose(f);
    return buf;
}

/* Debian's tzdata: a transition from the table (up to 2037) and one from the footer rule. */
static void test_tzif_real_zones(void **state)
{
    (void)state;
    size_t len;
    unsigned char *data = read_file("/usr/share/zoneinfo/Europe/Berlin", &len);
    if (data == NULL)
        skip(); /* tzdata is a test dependency (bazel/setup.sh); the synthetic tests still run */
    char err[160];
    pz_tz_zone *z = pz_tzif_parse(data, len, err, sizeof err);
    assert_non_null(z);
    pz_civil_time c;
    pz_tz_local(z, at("2025-03-30T00:59:59Z"), &c);
    assert_int_equal(c.hour, 1);
    pz_tz_local(z, at("2025-03-30T01:00:00Z"), &c);
    assert_int_equal(c.hour, 3);
    assert_true(c.is_dst);
    pz_tz_local(z, at("2045-10-29T00:59:59Z"), &c); /* beyond the table: the footer */
    assert_int_equal(c.hour, 2);
    assert_true(c.is_dst);
    pz_tz_local(z, at("2045-10-29T01:00:00Z"), &c);
    assert_int_equal(c.hour, 2);
    assert_false(c.is_dst);
    pz_tz_local(z, at("1890-01-01T00:00:00Z"), &c); /* before CET (1893): local mean time */
    assert_int_equal(c.utc_offset, 3208);
    pz_tz_zone_free(z);

    /* every truncation is rejected, every single-byte corruption parses or fails cleanly */
    for (size_t n = 0; n < len; n++) {
        z = pz_tzif_parse(data, n, err, sizeof err);
        if (z != NULL)
            fail_msg("a %zu-byte prefix of a %zu-byte file parsed", n, len);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char saved = data[i];
        data[i] ^= 0xa5;
        pz_tz_zone_free(pz_tzif_parse(data, len, err, sizeof err));
        data[i] = saved;
    }
    free(data);
}

static void test_zone_names(void **state)
{
    (void)state;
    const char *good[] = {"UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "EST5EDT"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(pz_tz_name_valid(good[i], strlen(good[i])));
    const char *bad[] = {
        "",        "/etc/passwd",         "../etc/passwd",   "Europe/../../etc", "Europe//Berlin", "Europe/",
        ".hidden", "right/Europe/Berlin", "Europe/Berlin\n", "Europe Berlin",    "Europe/Be%72lin"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(pz_tz_name_valid(bad[i], strlen(bad[i])));
    char long_name[PZ_TZ_MAX_NAME_LEN + 1];
    memset(long_name, 'A', sizeof long_name);
    assert_false(pz_tz_name_valid(long_name, sizeof long_name));
    assert_true(pz_tz_name_valid(long_name, sizeof long_name - 1));
}

static char tmpdir[64];

static void write_zone(const char *name, const tzif_out *o)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(o->data, 1, o->len, f);
    fclose(f);
}

static void test_zone_database(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pz-tz-test-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    tzif_out o;
    synthetic(&o, 1000000, 2000000, "XXX-5");
    write_zone("Test", &o);
    write_zone("garbage", &(tzif_out){.data = "not a zone", .len = 10});

    pz_tz_db *db = pz_tz_db_create(tmpdir);
    const pz_tz_zone *z = pz_tz_db_zone(db, "Test", 4);
    assert_non_null(z);
    assert_ptr_equal(pz_tz_db_zone(db, "Test", 4), z);    /* cached */
    assert_ptr_equal(pz_tz_db_zone(db, "Testing", 4), z); /* the length counts, not the NUL */
    assert_null(pz_tz_db_zone(db, "garbage", 7));
    assert_null(pz_tz_db_zone(db, "Missing", 7));
    assert_null(pz_tz_db_zone(db, "../Test", 7));
    /* the UTC names work without their files */
    const pz_tz_zone *utc = pz_tz_db_zone(db, "UTC", 3);
    assert_non_null(utc);
    pz_civil_time c;
    pz_tz_local(utc, at("2025-06-01T12:00:00Z"), &c);
    assert_int_equal(c.hour, 12);
    assert_non_null(pz_tz_db_zone(db, "Etc/UTC", 7));
    size_t zones, unknown;
    pz_tz_db_counts(db, &zones, &unknown);
    assert_int_equal(zones, 1);
    assert_int_equal(unknown, 4); /* garbage, Missing, UTC, Etc/UTC (no files here) */

    /* made-up names: remembered up to the bound, then only answered */
    char name[32];
    for (int i = 0; i < PZ_TZ_DB_MAX_UNKNOWN + 10; i++) {
        snprintf(name, sizeof name, "Nowhere/Z%d", i);
        assert_null(pz_tz_db_zone(db, name, strlen(name)));
    }
    pz_tz_db_counts(db, &zones, &unknown);
    assert_int_equal(unknown, PZ_TZ_DB_MAX_UNKNOWN);
    assert_non_null(pz_tz_db_zone(db, "UTC", 3)); /* still, past the bound */
    pz_tz_db_destroy(db);

    /* zones: cached up to the bound, then treated as unknown */
    char target[256];
    snprintf(target, sizeof target, "%s/Test", tmpdir);
    for (int i = 0; i <= PZ_TZ_DB_MAX_ZONES; i++) {
        char link[256];
        snprintf(link, sizeof link, "%s/L%d", tmpdir, i);
        assert_int_equal(symlink(target, link), 0);
    }
    db = pz_tz_db_create(tmpdir);
    for (int i = 0; i < PZ_TZ_DB_MAX_ZONES; i++) {
        snprintf(name, sizeof name, "L%d", i);
        assert_non_null(pz_tz_db_zone(db, name, strlen(name)));
    }
    snprintf(name, sizeof name, "L%d", PZ_TZ_DB_MAX_ZONES);
    assert_null(pz_tz_db_zone(db, name, strlen(name)));
    assert_non_null(pz_tz_db_zone(db, "L0", 2));
    pz_tz_db_counts(db, &zones, &unknown);
    assert_int_equal(zones, PZ_TZ_DB_MAX_ZONES);
    pz_tz_db_destroy(db);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    assert_int_equal(system(cmd), 0);
}

/* No directory at all: the default zone still works. */
static void test_zone_database_without_tzdata(void **state)
{
    (void)state;
    pz_tz_db *db = pz_tz_db_create("/nonexistent/zoneinfo");
    assert_non_null(pz_tz_db_zone(db, "UTC", 3));
    assert_null(pz_tz_db_zone(db, "Europe/Berlin", 13));
    pz_tz_db_destroy(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil_arithmetic),
        cmocka_unit_test(test_iso8601),
        cmocka_unit_test(test_posix_rules_northern_dst),
        cmocka_unit_test(test_posix_rules_southern_and_odd_forms),
        cmocka_unit_test(test_posix_rules_rejected),
        cmocka_unit_test(test_tzif_synthetic),
        cmocka_unit_test(test_tzif_real_zones),
        cmocka_unit_test(test_zone_names),
        cmocka_unit_test(test_zone_database),
        cmocka_unit_test(test_zone_database_without_tzdata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
