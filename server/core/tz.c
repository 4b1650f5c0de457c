#include "server/core/tz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/mem.h"

#define SECONDS_PER_DAY 86400
#define SECONDS_PER_HOUR 3600
/* RFC 8536 §3.2: a UT offset stays within -25:59:59 .. +25:59:59. */
#define MAX_UTC_OFFSET (26 * SECONDS_PER_HOUR - 1)
/* RFC 8536 §3.3.1: rule times range over -167 .. 167 hours. */
#define MAX_RULE_HOURS 167
/* POSIX offsets: hours 0..24. */
#define MAX_OFFSET_HOURS 24
/* Instants beyond ±2^40 s (about 34,000 years) are clamped: civil arithmetic stays far from
 * overflow whatever a caller passes. */
#define MAX_INSTANT (INT64_C(1) << 40)
#define TZIF_HEADER_LEN 44

typedef struct tz_type {
    int32_t utc_offset;
    bool is_dst;
} tz_type;

struct pz_tz_zone {
    int64_t *transitions; /* ascending instants */
    uint8_t *transition_types;
    size_t n_transitions;
    tz_type *types;
    size_t n_types;
    bool has_rule;
    pz_tz_rule rule; /* the footer: instants after the last transition */
};

/* ---- civil arithmetic (proleptic Gregorian, days since 1970-01-01) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int DAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : DAYS[m - 1];
}

/* Counting years from March makes February 29 the last day of the counted year, so each
 * 400-year era has the same 146097 days. */
int64_t pz_days_from_civil(int64_t year, int month, int day)
{
    int64_t y = month <= 2 ? year - 1 : year;
    int64_t era = floor_div(y, 400);
    int64_t year_of_era = y - era * 400;
    int64_t month_from_march = month > 2 ? month - 3 : month + 9;
    int64_t day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468; /* 719468: days from 0000-03-01 to 1970-01-01 */
}

static void civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t day_of_era = z - era * 146097;
    int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t month_from_march = (5 * day_of_year + 2) / 153;
    *day = (int)(day_of_year - (153 * month_from_march + 2) / 5 + 1);
    *month = (int)(month_from_march < 10 ? month_from_march + 3 : month_from_march - 9);
    *year = year_of_era + era * 400 + (*month <= 2);
}

static int64_t clamp_instant(int64_t t)
{
    return t > MAX_INSTANT ? MAX_INSTANT : t < -MAX_INSTANT ? -MAX_INSTANT : t;
}

void pz_civil_from_unix(int64_t t, int32_t utc_offset, pz_civil_time *out)
{
    int64_t local = clamp_instant(t) + utc_offset;
    int64_t days = floor_div(local, SECONDS_PER_DAY);
    int64_t secs = local - days * SECONDS_PER_DAY;
    *out = (pz_civil_time){.utc_offset = utc_offset};
    civil_from_days(days, &out->year, &out->month, &out->day);
    out->hour = (int)(secs / 3600);
    out->minute = (int)(secs / 60 % 60);
    out->second = (int)(secs % 60);
    out->weekday = (int)(days + 3 - floor_div(days + 3, 7) * 7); /* 1970-01-01 was a Thursday (3) */
}

/* ---- POSIX TZ strings ---- */

typedef struct text {
    const char *s;
    size_t len, pos;
} text;

static int peek(const text *t)
{
    return t->pos < t->len ? (unsigned char)t->s[t->pos] : -1;
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Up to max_digits decimal digits (at least one). */
static bool read_number(text *t, int max_digits, int *out)
{
    int v = 0, n = 0;
    while (n < max_digits && is_digit(peek(t))) {
        v = v * 10 + (peek(t) - '0');
        t->pos++;
        n++;
    }
    *out = v;
    return n > 0;
}

/* A zone abbreviation: three or more letters, or <...> holding letters, digits, '+' and '-'. */
static bool read_name(text *t)
{
    size_t start = t->pos;
    if (peek(t) == '<') {
        t->pos++;
        while (is_alpha(peek(t)) || is_digit(peek(t)) || peek(t) == '+' || peek(t) == '-')
            t->pos++;
        if (peek(t) != '>' || t->pos - start - 1 < 3)
            return false;
        t->pos++;
        return true;
    }
    while (is_alpha(peek(t)))
        t->pos++;
    return t->pos - start >= 3;
}

/* [+|-]hh[:mm[:ss]] with hours up to max_hours; seconds in *out, with the sign as written. */
static bool read_hms(text *t, int max_hours, int32_t *out)
{
    int sign = 1;
    if (peek(t) == '+' || peek(t) == '-') {
        sign = peek(t) == '-' ? -1 : 1;
        t->pos++;
    }
    int h, m = 0, s = 0;
    if (!read_number(t, 3, &h) || h > max_hours)
        return false;
    if (peek(t) == ':') {
        t->pos++;
        if (!read_number(t, 2, &m) || m > 59)
            return false;
        if (peek(t) == ':') {
            t->pos++;
            if (!read_number(t, 2, &s) || s > 59)
                return false;
        }
    }
    *out = sign * (h * SECONDS_PER_HOUR + m * 60 + s);
    return true;
}

static bool read_rule_date(text *t, pz_tz_rule_date *d)
{
    *d = (pz_tz_rule_date){.time = 2 * SECONDS_PER_HOUR}; /* POSIX default: 02:00 */
    if (peek(t) == 'J') {
        t->pos++;
        d->kind = 'J';
        if (!read_number(t, 3, &d->day) || d->day < 1 || d->day > 365)
            return false;
    } else if (peek(t) == 'M') {
        t->pos++;
        d->kind = 'M';
        if (!read_number(t, 2, &d->month) || d->month < 1 || d->month > 12 || peek(t) != '.')
            return false;
        t->pos++;
        if (!read_number(t, 1, &d->week) || d->week < 1 || d->week > 5 || peek(t) != '.')
            return false;
        t->pos++;
        if (!read_number(t, 1, &d->weekday) || d->weekday > 6)
            return false;
    } else {
        d->kind = 'n';
        if (!read_number(t, 3, &d->day) || d->day > 365)
            return false;
    }
    if (peek(t) == '/') {
        t->pos++;
        return read_hms(t, MAX_RULE_HOURS, &d->time);
    }
    return true;
}

bool pz_tz_posix_parse(const char *s, size_t len, pz_tz_rule *out)
{
    if (len == 0 || len > PZ_TZ_POSIX_MAX_LEN)
        return false;
    text t = {s, len, 0};
    int32_t posix_offset;
    *out = (pz_tz_rule){0};
    if (!read_name(&t) || !read_hms(&t, MAX_OFFSET_HOURS, &posix_offset))
        return false;
    out->std_offset = -posix_offset; /* POSIX counts west of Greenwich as positive */
    if (t.pos == t.len)
        return true;
    if (!read_name(&t))
        return false;
    out->has_dst = true;
    out->dst_offset = out->std_offset + SECONDS_PER_HOUR;
    if (peek(&t) != ',' && t.pos < t.len) {
        if (!read_hms(&t, MAX_OFFSET_HOURS, &posix_offset))
            return false;
        out->dst_offset = -posix_offset;
    }
    if (t.pos == t.len) { /* no dates: tzcode's default, the US rule */
        out->start = (pz_tz_rule_date){.kind = 'M', .month = 3, .week = 2, .time = 2 * SECONDS_PER_HOUR};
        out->end = (pz_tz_rule_date){.kind = 'M', .month = 11, .week = 1, .time = 2 * SECONDS_PER_HOUR};
        return true;
    }
    if (peek(&t) != ',')
        return false;
    t.pos++;
    if (!read_rule_date(&t, &out->start) || peek(&t) != ',')
        return false;
    t.pos++;
    return read_rule_date(&t, &out->end) && t.pos == t.len;
}

/* The day (days since the epoch) a rule date falls on in `year`. */
static int64_t rule_day(int64_t year, const pz_tz_rule_date *d)
{
    int64_t jan1 = pz_days_from_civil(year, 1, 1);
    switch (d->kind) {
    case 'J': return jan1 + d->day - 1 + (is_leap(year) && d->day >= 60 ? 1 : 0);
    case 'n': return jan1 + d->day;
    default: {
        int64_t first = pz_days_from_civil(year, d->month, 1);
        int first_weekday = (int)(first + 4 - floor_div(first + 4, 7) * 7); /* Sunday = 0 */
        int day = 1 + (d->weekday - first_weekday + 7) % 7 + 7 * (d->week - 1);
        while (day > days_in_month(year, d->month))
            day -= 7;
        return first + day - 1;
    }
    }
}

typedef struct rule_event {
    int64_t at;
    bool to_dst;
} rule_event;

int32_t pz_tz_rule_offset(const pz_tz_rule *r, int64_t t, bool *is_dst)
{
    *is_dst = false;
    if (!r->has_dst)
        return r->std_offset;
    t = clamp_instant(t);
    pz_civil_time c;
    pz_civil_from_unix(t, 0, &c);
    /* The changes of the year before, this year and the next, in time order (equal instants keep
     * that order, so a rule whose DST ends exactly when the next year's starts stays in DST); the
     * last one at or before t decides. Rule times of up to a week either way never reach past
     * the neighbouring year. */
    rule_event ev[6];
    size_t n = 0;
    for (int64_t y = c.year - 1; y <= c.year + 1; y++) {
        ev[n++] = (rule_event){rule_day(y, &r->start) * SECONDS_PER_DAY + r->start.time - r->std_offset, true};
        ev[n++] = (rule_event){rule_day(y, &r->end) * SECONDS_PER_DAY + r->end.time - r->dst_offset, false};
    }
    for (size_t i = 1; i < n; i++) {
        rule_event e = ev[i];
        size_t j = i;
        while (j > 0 && ev[j - 1].at > e.at) {
            ev[j] = ev[j - 1];
            j--;
        }
        ev[j] = e;
    }
    bool dst = !ev[0].to_dst; /* before every change listed: the opposite of the first */
    for (size_t i = 0; i < n && ev[i].at <= t; i++)
        dst = ev[i].to_dst;
    *is_dst = dst;
    return dst ? r->dst_offset : r->std_offset;
}

/* ---- TZif ---- */

typedef struct reader {
    const unsigned char *p;
    size_t len, pos;
} reader;

static const unsigned char *take(reader *r, size_t n)
{
    if (n > r->len - r->pos)
        return NULL;
    const unsigned char *at = r->p + r->pos;
    r->pos += n;
    return at;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct tzif_header {
    char version; /* 0, '2', '3', '4', ... */
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} tzif_header;

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool read_header(reader *r, tzif_header *h, char *err, size_t errlen)
{
    const unsigned char *p = take(r, TZIF_HEADER_LEN);
    if (p == NULL || memcmp(p, "TZif", 4) != 0) {
        set_err(err, errlen, "not a TZif file (no TZif header)");
        return false;
    }
    h->version = (char)p[4];
    if (h->version != 0 && h->version < '2') {
        set_err(err, errlen, "unknown TZif version byte 0x%02x", p[4]);
        return false;
    }
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    if (h->typecnt == 0 || h->typecnt > PZ_TZIF_MAX_TYPES || h->charcnt == 0 || h->charcnt > 1024 * 16 ||
        h->timecnt > PZ_TZIF_MAX_TRANSITIONS || h->leapcnt > PZ_TZIF_MAX_TRANSITIONS ||
        (h->isutcnt != 0 && h->isutcnt != h->typecnt) || (h->isstdcnt != 0 && h->isstdcnt != h->typecnt)) {
        set_err(err, errlen, "TZif header counts out of range");
        return false;
    }
    return true;
}

/* Bytes of the data block that follows a header, for times of `time_size` bytes. */
static size_t block_len(const tzif_header *h, size_t time_size)
{
    return (size_t)h->timecnt * time_size + h->timecnt + (size_t)h->typecnt * 6 + h->charcnt +
           (size_t)h->leapcnt * (time_size + 4) + h->isstdcnt + h->isutcnt;
}

static bool read_block(reader *r, const tzif_header *h, size_t time_size, pz_tz_zone *z, char *err, size_t errlen)
{
    const unsigned char *times = take(r, (size_t)h->timecnt * time_size);
    const unsigned char *indices = take(r, h->timecnt);
    const unsigned char *infos = take(r, (size_t)h->typecnt * 6);
    if (times == NULL || indices == NULL || infos == NULL ||
        take(r, h->charcnt + (size_t)h->leapcnt * (time_size + 4) + h->isstdcnt + h->isutcnt) == NULL) {
        set_err(err, errlen, "TZif data block is truncated");
        return false;
    }
    z->n_transitions = h->timecnt;
    z->transitions = pz_malloc((h->timecnt ? h->timecnt : 1) * sizeof *z->transitions);
    z->transition_types = pz_malloc(h->timecnt ? h->timecnt : 1);
    for (uint32_t i = 0; i < h->timecnt; i++) {
        const unsigned char *at = times + (size_t)i * time_size;
        z->transitions[i] = time_size == 8 ? be64(at) : (int64_t)(int32_t)be32(at);
        if (i > 0 && z->transitions[i] <= z->transitions[i - 1]) {
            set_err(err, errlen, "TZif transition times are not ascending");
            return false;
        }
        if (indices[i] >= h->typecnt) {
            set_err(err, errlen, "TZif transition %u names type %u of %u", i, indices[i], h->typecnt);
            return false;
        }
        z->transition_types[i] = indices[i];
    }
    z->n_types = h->typecnt;
    z->types = pz_malloc(h->typecnt * sizeof *z->types);
    for (uint32_t i = 0; i < h->typecnt; i++) {
        const unsigned char *info = infos + (size_t)i * 6;
        int32_t offset = (int32_t)be32(info);
        if (offset < -MAX_UTC_OFFSET || offset > MAX_UTC_OFFSET || info[4] > 1 || info[5] >= h->charcnt) {
            set_err(err, errlen, "TZif time type %u is out of range", i);
            return false;
        }
        z->types[i] = (tz_type){offset, info[4] == 1};
    }
    return true;
}

static void zone_reset(pz_tz_zone *z)
{
    free(z->transitions);
    free(z->transition_types);
    free(z->types);
    *z = (pz_tz_zone){0};
}

pz_tz_zone *pz_tzif_parse(const unsigned char *data, size_t len, char *err, size_t errlen)
{
    if (errlen > 0)
        err[0] = '\0';
    if (len > PZ_TZIF_MAX_BYTES) {
        set_err(err, errlen, "TZif file larger than %u bytes", PZ_TZIF_MAX_BYTES);
        return NULL;
    }
    reader r = {data, len, 0};
    tzif_header h;
    if (!read_header(&r, &h, err, errlen))
        return NULL;
    pz_tz_zone *z = pz_calloc(1, sizeof *z);
    if (h.version == 0) { /* version 1: 32-bit times, no footer */
        if (read_block(&r, &h, 4, z, err, errlen))
            return z;
        pz_tz_zone_free(z);
        return NULL;
    }
    /* Version 2 and later repeat the data with 64-bit times, then the footer. */
    if (take(&r, block_len(&h, 4)) == NULL) {
        set_err(err, errlen, "TZif version 1 data block is truncated");
        pz_tz_zone_free(z);
        return NULL;
    }
    if (!read_header(&r, &h, err, errlen) || h.version == 0 || !read_block(&r, &h, 8, z, err, errlen)) {
        if (h.version == 0)
            set_err(err, errlen, "TZif second header has no version");
        pz_tz_zone_free(z);
        return NULL;
    }
    const unsigned char *nl = take(&r, 1);
    const unsigned char *footer = r.p + r.pos;
    const unsigned char *end = nl != NULL ? memchr(footer, '\n', r.len - r.pos) : NULL;
    if (nl == NULL || *nl != '\n' || end == NULL) {
        set_err(err, errlen, "TZif footer is missing or not newline-delimited");
        pz_tz_zone_free(z);
        return NULL;
    }
    size_t footer_len = (size_t)(end - footer);
    if (footer_len > 0) {
        if (!pz_tz_posix_parse((const char *)footer, footer_len, &z->rule)) {
            set_err(err, errlen, "TZif footer '%.*s' is not a POSIX TZ string",
                    (int)(footer_len > 64 ? 64 : footer_len), (const char *)footer);
            pz_tz_zone_free(z);
            return NULL;
        }
        z->has_rule = true;
    }
    return z;
}

pz_tz_zone *pz_tz_zone_fixed(int32_t utc_offset)
{
    pz_tz_zone *z = pz_calloc(1, sizeof *z);
    z->types = pz_malloc(sizeof *z->types);
    z->types[0] = (tz_type){utc_offset, false};
    z->n_types = 1;
    return z;
}

void pz_tz_zone_free(pz_tz_zone *z)
{
    if (z == NULL)
        return;
    zone_reset(z);
    free(z);
}

void pz_tz_local(const pz_tz_zone *z, int64_t t, pz_civil_time *out)
{
    bool dst = false;
    int32_t offset;
    size_t n = z->n_transitions;
    if ((n == 0 && z->has_rule) || (n > 0 && t > z->transitions[n - 1] && z->has_rule)) {
        offset = pz_tz_rule_offset(&z->rule, t, &dst);
    } else if (n == 0 || t < z->transitions[0]) {
        offset = z->types[0].utc_offset;
        dst = z->types[0].is_dst;
    } else {
        size_t lo = 0, hi = n; /* the last transition at or before t */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (z->transitions[mid] <= t)
                lo = mid;
            else
                hi = mid;
        }
        const tz_type *type = &z->types[z->transition_types[lo]];
        offset = type->utc_offset;
        dst = type->is_dst;
    }
    pz_civil_from_unix(t, offset, out);
    out->is_dst = dst;
}

/* ---- ISO 8601 ---- */

/* Exactly n digits. */
static bool fixed_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

bool pz_iso8601_parse(const char *s, int64_t *out_ms)
{
    const char *p = s;
    int year, month, day, hour, minute, second = 0, millis = 0;
    if (!fixed_digits(&p, 4, &year) || !expect(&p, '-') || !fixed_digits(&p, 2, &month) || !expect(&p, '-') ||
        !fixed_digits(&p, 2, &day) || (*p != 'T' && *p != 't' && *p != ' '))
        return false;
    p++;
    if (!fixed_digits(&p, 2, &hour) || !expect(&p, ':') || !fixed_digits(&p, 2, &minute))
        return false;
    if (*p == ':') {
        p++;
        if (!fixed_digits(&p, 2, &second))
            return false;
        if (*p == '.' || *p == ',') {
            p++;
            int scale = 100, n = 0;
            while (is_digit((unsigned char)*p)) {
                millis += (*p - '0') * scale;
                scale /= 10;
                p++;
                n++;
            }
            if (n == 0)
                return false;
        }
    }
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 ||
        second > 59)
        return false;
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om = 0;
        p++;
        if (!fixed_digits(&p, 2, &oh))
            return false;
        if (*p == ':')
            p++;
        if (is_digit((unsigned char)*p) && !fixed_digits(&p, 2, &om))
            return false;
        if (oh > 23 || om > 59)
            return false;
        offset = sign * (oh * SECONDS_PER_HOUR + om * 60);
    } else {
        return false;
    }
    if (*p != '\0')
        return false;
    int64_t secs = pz_days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * SECONDS_PER_HOUR + minute * 60 +
                   second - offset;
    *out_ms = secs * 1000 + millis;
    return true;
}
