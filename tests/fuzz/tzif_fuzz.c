/* libFuzzer target for server/core/tz.c: the bytes are parsed as a TZif file (pz_tzif_parse), from
 * the first newline on as a POSIX TZ string (pz_tz_posix_parse), and as an ISO 8601 date-time
 * (pz_iso8601_parse, the --context-time flag). Whatever parses is queried
 * at instants spread over ±2^40 s, and every answer is checked: an offset within ±26 h, a civil
 * time within its ranges. A rejection must come with a reason.
 *
 * Built and run by tests/fuzz/run.sh (corpus: a few of Debian's zone files; tzdata is in the
 * public domain).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/tz.h"

static const int64_t INSTANTS[] = {
    INT64_MIN,  -(INT64_C(1) << 40), -2208988800,      -1,       0, 1, 1700000000, 1751358600,
    2147483647, 4102444800,          INT64_C(1) << 40, INT64_MAX};

static void check(const pz_civil_time *c)
{
    if (c->utc_offset < -26 * 3600 || c->utc_offset > 26 * 3600 || c->month < 1 || c->month > 12 || c->day < 1 ||
        c->day > 31 || c->hour < 0 || c->hour > 23 || c->minute < 0 || c->minute > 59 || c->second < 0 ||
        c->second > 59 || c->weekday < 0 || c->weekday > 6)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[160];
    pz_tz_zone *z = pz_tzif_parse(data, size, err, sizeof err);
    if (z == NULL && err[0] == '\0')
        abort(); /* a rejection names its reason */
    pz_civil_time c;
    for (size_t i = 0; z != NULL && i < sizeof INSTANTS / sizeof INSTANTS[0]; i++) {
        pz_tz_local(z, INSTANTS[i], &c);
        check(&c);
    }
    pz_tz_zone_free(z);

    const uint8_t *nl = memchr(data, '\n', size);
    const char *rule = nl != NULL ? (const char *)nl + 1 : (const char *)data;
    size_t rule_len = size - (size_t)((const uint8_t *)rule - data);
    pz_tz_rule r;
    if (pz_tz_posix_parse(rule, rule_len, &r)) {
        for (size_t i = 0; i < sizeof INSTANTS / sizeof INSTANTS[0]; i++) {
            bool dst;
            int32_t off = pz_tz_rule_offset(&r, INSTANTS[i], &dst);
            pz_civil_from_unix(INSTANTS[i], off, &c);
            check(&c);
        }
    }
    char iso[64];
    size_t n = size < sizeof iso - 1 ? size : sizeof iso - 1;
    memcpy(iso, data, n);
    iso[n] = '\0';
    int64_t ms;
    if (pz_iso8601_parse(iso, &ms)) {
        pz_civil_from_unix(ms / 1000, 0, &c);
        check(&c);
    }
    return 0;
}
