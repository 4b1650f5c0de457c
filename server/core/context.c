#include "server/core/context.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/buf.h"

#define LATITUDE_HEADER "cloudfront-viewer-latitude"

pz_value pz_value_from_scalar(const pz_scalar *s)
{
    if (s->is_bool)
        return (pz_value){.kind = PZ_VALUE_BOOL, .boolean = s->boolean};
    if (s->is_number)
        return (pz_value){.kind = PZ_VALUE_NUMBER, .number = s->number};
    return (pz_value){.kind = PZ_VALUE_STRING, .string = s->string};
}

static pz_value number_value(double n)
{
    return (pz_value){.kind = PZ_VALUE_NUMBER, .number = n};
}

/* Plain decimals ("-33.86785", "807") with at most 15 significant digits, the common case of
 * header values: exact without strtod, because such a mantissa and the power of ten it is divided
 * by are both exact doubles and IEEE division rounds correctly. False for anything else. */
static bool parse_plain_decimal(const char *s, double *out)
{
    static const double POW10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    bool negative = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    int64_t mantissa = 0;
    int digits = 0, decimals = 0;
    bool point = false;
    for (; *s != '\0'; s++) {
        if (*s == '.' && !point) {
            point = true;
            continue;
        }
        if (*s < '0' || *s > '9' || ++digits > 15)
            return false;
        mantissa = mantissa * 10 + (*s - '0');
        decimals += point;
    }
    if (digits == 0)
        return false;
    *out = (negative ? -(double)mantissa : (double)mantissa) / POW10[decimals];
    return true;
}

/* A string that is entirely a finite number (surrounding spaces allowed). */
static bool parse_number(const char *s, double *out)
{
    if (s == NULL)
        return false;
    if (parse_plain_decimal(s, out))
        return true;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0')
        return false;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != '\0' || errno == ERANGE || !isfinite(d))
        return false;
    *out = d;
    return true;
}

static bool as_number(const pz_value *v, double *out)
{
    switch (v->kind) {
    case PZ_VALUE_NUMBER: *out = v->number; return true;
    case PZ_VALUE_STRING: return parse_number(v->string, out);
    case PZ_VALUE_BOOL: return false;
    }
    return false;
}

const char *pz_value_text(const pz_value *v, pz_arena *arena)
{
    switch (v->kind) {
    case PZ_VALUE_STRING: return v->string;
    case PZ_VALUE_BOOL: return v->boolean ? "true" : "false";
    case PZ_VALUE_NUMBER: {
        char buf[40];
        if (!isfinite(v->number))
            return "null";
        size_t n = pz_format_double_roundtrip(v->number == 0 ? 0 : v->number, buf); /* -0 as 0 */
        return pz_arena_strndup(arena, buf, n);
    }
    }
    return "";
}

bool pz_value_equal(const pz_value *a, const pz_value *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case PZ_VALUE_STRING: return strcmp(a->string, b->string) == 0;
    case PZ_VALUE_NUMBER: return a->number == b->number;
    case PZ_VALUE_BOOL: return a->boolean == b->boolean;
    }
    return false;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return m <= n && memcmp(s + n - m, suffix, m) == 0;
}

static bool mapping_matches(const pz_value_mapping *m, const pz_value *raw, pz_arena *arena)
{
    pz_value operand = pz_value_from_scalar(&m->value);
    double x, y;
    switch (m->op) {
    case PZ_OP_EQUALS: return pz_value_equal(raw, &operand);
    case PZ_OP_LESS_THAN: return as_number(raw, &x) && as_number(&operand, &y) && x < y;
    case PZ_OP_GREATER_THAN: return as_number(raw, &x) && as_number(&operand, &y) && x > y;
    case PZ_OP_CONTAINS: return strstr(pz_value_text(raw, arena), pz_value_text(&operand, arena)) != NULL;
    case PZ_OP_STARTS_WITH: {
        const char *prefix = pz_value_text(&operand, arena);
        return strncmp(pz_value_text(raw, arena), prefix, strlen(prefix)) == 0;
    }
    case PZ_OP_ENDS_WITH: return ends_with(pz_value_text(raw, arena), pz_value_text(&operand, arena));
    }
    return false;
}

int pz_context_season(const pz_civil_time *t, const char *latitude)
{
    int md = t->month * 100 + t->day;
    int season = md >= 321 && md <= 620 ? 0 : md >= 621 && md <= 922 ? 1 : md >= 923 && md <= 1222 ? 2 : 3;
    double lat;
    if (parse_number(latitude, &lat) && lat < 0)
        season = (season + 2) % 4; /* the southern hemisphere's seasons are the other way round */
    return season;
}

/* The raw value of one rule, or false when it yields nothing. */
static bool raw_value(const pz_context_rule *r, const pz_context_source *src, pz_value *out)
{
    switch (r->type) {
    case PZ_RULE_HEADER_VALUE: {
        const char *v = r->header != NULL ? src->header(src->self, r->header) : NULL;
        *out = (pz_value){.kind = PZ_VALUE_STRING, .string = v};
        return v != NULL;
    }
    case PZ_RULE_HOUR_OF_DAY: *out = number_value(src->local_time(src->self)->hour); return true;
    case PZ_RULE_DAY_OF_WEEK: *out = number_value(src->local_time(src->self)->weekday); return true;
    case PZ_RULE_SEASON_OF_YEAR:
        *out = number_value(pz_context_season(src->local_time(src->self), src->header(src->self, LATITUDE_HEADER)));
        return true;
    }
    return false;
}

/* The rule's value: its raw value through the first matching mapping (or as is). */
static bool rule_value(const pz_context_rule *r, const pz_context_source *src, pz_arena *arena, pz_value *out)
{
    pz_value raw;
    if (!raw_value(r, src, &raw))
        return false;
    if (!r->has_value_mappings) {
        *out = raw;
        return true;
    }
    for (size_t i = 0; i < r->n_value_mappings; i++) {
        if (mapping_matches(&r->value_mappings[i], &raw, arena)) {
            *out = pz_value_from_scalar(&r->value_mappings[i].map_to);
            return true;
        }
    }
    return false;
}

static bool resolve_field(const pz_context_field *f, const pz_context_source *src, pz_arena *arena,
                          pz_resolved_field *out)
{
    pz_value *values = NULL;
    size_t n = 0;
    for (size_t i = 0; i < f->n_rules; i++) {
        pz_value v;
        if (!rule_value(&f->rules[i], src, arena, &v))
            continue;
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = pz_value_equal(&values[k], &v);
        if (!seen) {
            if (values == NULL) /* at most one value per rule */
                values = pz_arena_alloc(arena, f->n_rules * sizeof *values);
            values[n++] = v;
        }
        if (!f->evaluate_all)
            break;
    }
    if (n == 0 && f->has_default) {
        values = pz_arena_alloc(arena, sizeof *values);
        values[n++] = pz_value_from_scalar(&f->default_value);
    }
    if (n == 0)
        return false;
    *out = (pz_resolved_field){f->name, f->type, values, n};
    return true;
}

void pz_context_resolve(const pz_auto_context *ac, const pz_context_source *src, pz_arena *arena,
                        pz_resolved_context *out)
{
    *out = (pz_resolved_context){0};
    if (ac == NULL || ac->n_fields == 0)
        return;
    pz_resolved_field *fields = pz_arena_alloc(arena, ac->n_fields * sizeof *fields);
    size_t n = 0;
    for (size_t i = 0; i < ac->n_fields; i++) {
        if (resolve_field(&ac->fields[i], src, arena, &fields[n]))
            n++;
    }
    *out = (pz_resolved_context){fields, n};
}

const char *pz_field_type_name(pz_field_type t)
{
    static const char *const NAMES[] = {
        [PZ_FIELD_STRING] = "string", [PZ_FIELD_INTEGER] = "integer", [PZ_FIELD_LONG] = "long",
        [PZ_FIELD_FLOAT] = "float",   [PZ_FIELD_NUMBER] = "number",   [PZ_FIELD_BOOLEAN] = "boolean",
    };
    return (size_t)t < sizeof NAMES / sizeof NAMES[0] && NAMES[t] != NULL ? NAMES[t] : "string";
}
