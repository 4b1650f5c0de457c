/* Time zones: what a UTC instant is on the wall clock of an IANA zone, daylight-saving time
 * included, without touching the process-wide TZ (glibc's localtime_r reads one zone per process,
 * and switching it per request is not thread-safe).
 *
 *   - pz_tzif_parse reads a compiled zone file (TZif, RFC 8536, versions 1 to 4) from bytes: the
 *     transition table and the POSIX TZ rule in its footer, which governs every instant after the
 *     last transition (Debian's "fat" files list transitions up to 2037, "slim" ones stop at the
 *     last rule change). Pure and bounded (PZ_TZIF_MAX_BYTES, PZ_TZIF_MAX_TRANSITIONS,
 *     PZ_TZIF_MAX_TYPES); malformed input is an error, never a crash (fuzzed:
 *     tests/fuzz/tzif_fuzz.c). Leap-second records are skipped: instants are Unix time.
 *   - pz_tz_posix_parse reads a POSIX TZ string ("CET-1CEST,M3.5.0,M10.5.0/3"), with RFC 8536's
 *     extensions (quoted <+03> names, rule times from -167 to 167 hours).
 *   - pz_tz_local converts an instant to the zone's civil time; pz_civil_from_unix does it for a
 *     fixed offset.
 *   - pz_iso8601_parse reads "2025-07-01T08:30:00Z" / "...+02:00" (the --context-time flag).
 *
 * A parsed pz_tz_zone is immutable: any thread may read it. The zone files themselves are found
 * and cached by server/core/tz_db.h.
 */
#ifndef PZ_TZ_H
#define PZ_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Larger files are rejected: real zone files are under 4 KiB. */
#define PZ_TZIF_MAX_BYTES (64u * 1024)
/* RFC 8536 puts no bound; real zones have a few hundred. */
#define PZ_TZIF_MAX_TRANSITIONS 4096
/* Type indices are one byte. */
#define PZ_TZIF_MAX_TYPES 256
/* Longest POSIX TZ string accepted (the footer of a real file is under 64 bytes). */
#define PZ_TZ_POSIX_MAX_LEN 128

/* A date-time on some wall clock. */
typedef struct pz_civil_time {
    int64_t year;
    int month;          /* 1..12 */
    int day;            /* 1..31 */
    int hour;           /* 0..23 */
    int minute;         /* 0..59 */
    int second;         /* 0..59 */
    int weekday;        /* Monday = 0 .. Sunday = 6 (the day-of-week rule's numbering) */
    int32_t utc_offset; /* seconds east of UTC in force at that instant */
    bool is_dst;
} pz_civil_time;

/* One date of a POSIX rule: Jn (1..365, February 29 never counted), n (0..365, counted) or
 * Mm.w.d (month 1..12, week 1..5 where 5 = last, weekday 0 = Sunday), at `time` seconds after
 * local midnight (-167 h .. 167 h). */
typedef struct pz_tz_rule_date {
    char kind; /* 'J', 'n' or 'M' */
    int month, week, weekday, day;
    int32_t time;
} pz_tz_rule_date;

/* A POSIX TZ string: standard time, and optionally daylight-saving time with its two dates. */
typedef struct pz_tz_rule {
    int32_t std_offset; /* seconds east of UTC (the POSIX sign is the opposite) */
    bool has_dst;
    int32_t dst_offset;
    pz_tz_rule_date start, end; /* when DST starts (in standard time) and ends (in DST) */
} pz_tz_rule;

typedef struct pz_tz_zone pz_tz_zone;

/* Parses a TZif file. Returns a new zone (free with pz_tz_zone_free), or NULL with a reason in
 * err[0..errlen) when the bytes are not a valid TZif file. Any thread. */
pz_tz_zone *pz_tzif_parse(const unsigned char *data, size_t len, char *err, size_t errlen);

/* A zone with one fixed offset and no rule (UTC when offset is 0). Never NULL. */
pz_tz_zone *pz_tz_zone_fixed(int32_t utc_offset);

void pz_tz_zone_free(pz_tz_zone *z);

/* Parses a POSIX TZ string of len bytes (no NUL needed). Returns true and fills *out, or false
 * when it is malformed. A DST name without dates takes the US rule (M3.2.0,M11.1.0), as tzcode
 * does. */
bool pz_tz_posix_parse(const char *s, size_t len, pz_tz_rule *out);

/* The UTC offset (seconds east) the rule gives at instant t (Unix seconds); *is_dst says whether
 * it is daylight-saving time. */
int32_t pz_tz_rule_offset(const pz_tz_rule *r, int64_t t, bool *is_dst);

/* The civil time of instant t (Unix seconds) in zone z. Before the first transition the first
 * time type applies, after the last one the footer rule (or else the last type). */
void pz_tz_local(const pz_tz_zone *z, int64_t t, pz_civil_time *out);

/* The civil time of instant t at a fixed offset (seconds east of UTC). */
void pz_civil_from_unix(int64_t t, int32_t utc_offset, pz_civil_time *out);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12, day 1..31). */
int64_t pz_days_from_civil(int64_t year, int month, int day);

/* Parses an ISO-8601 date-time with a zone designator: YYYY-MM-DDTHH:MM[:SS[.fraction]] followed
 * by Z or +HH:MM / -HH:MM / +HHMM (a space may replace the T). Returns true and the instant in
 * milliseconds since the epoch, or false. */
bool pz_iso8601_parse(const char *s, int64_t *out_ms);

#endif
