/* Config validation primitives: JSON paths, problem reporting, declared members (the unknown-key
 * check and the typed readers) and the patterns of spec §3 (keys, ARNs, names). */
#include <assert.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "server/core/config_internal.h"
#include "server/core/json_text.h"

/* ---- paths ---- */

static void path_append(cfg_ctx *c, const char *s, size_t n)
{
    static const char ellipsis[] = "...";
    if (c->path_len + n >= sizeof c->path) {
        /* Keep the path well-formed and visibly cut; a later pop restores an earlier length. */
        size_t room = sizeof c->path - 1 - c->path_len;
        if (room >= sizeof ellipsis - 1) {
            memcpy(c->path + c->path_len, ellipsis, sizeof ellipsis - 1);
            c->path_len += sizeof ellipsis - 1;
        }
        c->path[c->path_len] = '\0';
        return;
    }
    memcpy(c->path + c->path_len, s, n);
    c->path_len += n;
    c->path[c->path_len] = '\0';
}

size_t cfg_push_key(cfg_ctx *c, const char *key)
{
    size_t mark = c->path_len;
    if (cfg_is_path_key(key)) {
        path_append(c, ".", 1);
        path_append(c, key, strlen(key));
        return mark;
    }
    /* Keys that would make the dotted form ambiguous are written as ["..."] with JSON escapes. */
    char quoted[256];
    size_t n = 0;
    quoted[n++] = '[';
    quoted[n++] = '"';
    for (const char *p = key; *p != '\0' && n < sizeof quoted - 8; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\') {
            quoted[n++] = '\\';
            quoted[n++] = (char)ch;
        } else if (ch < 0x20) {
            n += (size_t)snprintf(quoted + n, sizeof quoted - n, "\\u%04x", ch);
        } else {
            quoted[n++] = (char)ch;
        }
    }
    quoted[n++] = '"';
    quoted[n++] = ']';
    path_append(c, quoted, n);
    return mark;
}

size_t cfg_push_index(cfg_ctx *c, size_t index)
{
    size_t mark = c->path_len;
    char seg[32];
    int n = snprintf(seg, sizeof seg, "[%zu]", index);
    path_append(c, seg, (size_t)n);
    return mark;
}

void cfg_pop(cfg_ctx *c, size_t mark)
{
    c->path_len = mark;
    c->path[mark] = '\0';
}

/* ---- problems ---- */

static void problem_addv(pz_config_problems *p, bool is_warning, const char *path, const char *fmt, va_list ap)
{
    char raw[1024], message[1024 * 6];
    vsnprintf(raw, sizeof raw, fmt, ap);
    /* Messages quote values; a quoted control character is written as \uXXXX, so a problem stays
     * one line in --check-config output and in the log. */
    size_t k = 0;
    for (const unsigned char *q = (const unsigned char *)raw; *q != '\0'; q++) {
        if (*q < 0x20 || *q == 0x7f)
            k += (size_t)snprintf(message + k, sizeof message - k, "\\u%04x", *q);
        else
            message[k++] = (char)*q;
    }
    message[k] = '\0';
    /* jansson's error text quotes the bytes near the error as they are, and vsnprintf may cut a
     * character in two: a problem's message is valid UTF-8 whatever the document held. */
    pz_utf8_scrub(message);
    p->items = pz_realloc(p->items, (p->n + 1) * sizeof *p->items);
    p->items[p->n].is_warning = is_warning;
    p->items[p->n].path = pz_strdup(path);
    p->items[p->n].message = pz_strdup(message);
    p->n++;
    if (!is_warning)
        p->n_errors++;
}

void cfg_problem_add(pz_config_problems *p, bool is_warning, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    problem_addv(p, is_warning, path, fmt, ap);
    va_end(ap);
}

void cfg_error(cfg_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    problem_addv(c->problems, false, c->path, fmt, ap);
    va_end(ap);
}

void cfg_warn(cfg_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    problem_addv(c->problems, true, c->path, fmt, ap);
    va_end(ap);
}

void cfg_error_at(cfg_ctx *c, const char *key, const char *fmt, ...)
{
    size_t mark = cfg_push_key(c, key);
    va_list ap;
    va_start(ap, fmt);
    problem_addv(c->problems, false, c->path, fmt, ap);
    va_end(ap);
    cfg_pop(c, mark);
}

void cfg_warn_at(cfg_ctx *c, const char *key, const char *fmt, ...)
{
    size_t mark = cfg_push_key(c, key);
    va_list ap;
    va_start(ap, fmt);
    problem_addv(c->problems, true, c->path, fmt, ap);
    va_end(ap);
    cfg_pop(c, mark);
}

size_t cfg_error_count(const cfg_ctx *c)
{
    return c->problems->n_errors;
}

/* ---- typed access ---- */

const char *cfg_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

bool cfg_expect_object(cfg_ctx *c, json_t *v, const char *what)
{
    if (json_is_object(v))
        return true;
    cfg_error(c, "expected %s (an object), got %s", what, cfg_type_name(v));
    return false;
}

/* ---- declared members ---- */

static bool applies(const cfg_member *m, unsigned variant)
{
    return m->only == 0 || (m->only & variant) != 0;
}

void cfg_check_members(cfg_ctx *c, json_t *obj, const cfg_member *const *members, size_t n, unsigned variant,
                       bool strict, const char *what)
{
    const char *key;
    json_t *value;
    json_object_foreach (obj, key, value) {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = applies(members[i], variant) && strcmp(members[i]->key, key) == 0;
        if (known)
            continue;
        char list[512];
        size_t used = 0;
        list[0] = '\0';
        for (size_t i = 0; i < n; i++) {
            if (!applies(members[i], variant))
                continue;
            int w = snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", members[i]->key);
            if (w < 0 || (size_t)w >= sizeof list - used)
                break;
            used += (size_t)w;
        }
        if (strict)
            cfg_error_at(c, key, "unknown key in %s; expected one of: %s", what, list);
        else
            cfg_warn_at(c, key, "unknown key in %s is ignored; known keys: %s", what, list);
    }
}

json_t *cfg_get(json_t *obj, const cfg_member *m)
{
    return json_object_get(obj, m->key);
}

json_t *cfg_get_nonnull(json_t *obj, const cfg_member *m)
{
    json_t *v = json_object_get(obj, m->key);
    return json_is_null(v) ? NULL : v;
}

long cfg_control_char_at(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return (long)i;
    return -1;
}

void cfg_error_control_char(cfg_ctx *c, const char *key, const char *s, long at)
{
    unsigned ch = (unsigned char)s[at];
    const char *name = ch == '\r' ? " (CR)" : ch == '\n' ? " (LF)" : ch == 0 ? " (NUL)" : ch == '\t' ? " (TAB)" : "";
    if (key != NULL)
        cfg_error_at(c, key,
                     "holds the control character U+%04X%s at byte %ld; a value that reaches a header, a URL or "
                     "a log line must not (it could split the header or forge a line)",
                     ch, name, at);
    else
        cfg_error(c,
                  "holds the control character U+%04X%s at byte %ld; a value that reaches a header, a URL or a "
                  "log line must not (it could split the header or forge a line)",
                  ch, name, at);
}

static const char *read_string(cfg_ctx *c, json_t *obj, const char *key, bool required, bool free_text,
                               const char *expected)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        if (required)
            cfg_error_at(c, key, "required key is missing; expected %s", expected);
        return NULL;
    }
    if (!json_is_string(v)) {
        if (required)
            cfg_error_at(c, key, "expected %s (a string), got %s", expected, cfg_type_name(v));
        else
            cfg_error_at(c, key, "expected a string, got %s", cfg_type_name(v));
        return NULL;
    }
    if (required && json_string_length(v) == 0) {
        cfg_error_at(c, key, "must not be empty; expected %s", expected);
        return NULL;
    }
    /* up to a NUL: cfg_check_characters reports NULs wherever they are */
    long at = free_text ? -1 : cfg_control_char_at(json_string_value(v), strlen(json_string_value(v)));
    if (at >= 0) {
        cfg_error_control_char(c, key, json_string_value(v), at);
        return NULL;
    }
    return pz_arena_strdup(c->arena, json_string_value(v));
}

const char *cfg_string(cfg_ctx *c, json_t *obj, const cfg_member *m, const char *expected)
{
    assert(m->kind == CFG_STRING);
    const char *s = read_string(c, obj, m->key, m->presence == CFG_REQUIRED, m->free_text, expected);
    if (s != NULL && m->max > 0 && (double)strlen(s) > m->max) {
        cfg_error_at(c, m->key, "too long: %zu bytes; at most %.0f", strlen(s), m->max);
        return NULL;
    }
    return s;
}

const char *cfg_string_required(cfg_ctx *c, json_t *obj, const cfg_member *m, const char *expected)
{
    assert(m->kind == CFG_STRING && m->presence != CFG_OPTIONAL);
    return read_string(c, obj, m->key, true, m->free_text, expected);
}

bool cfg_bool(cfg_ctx *c, json_t *obj, const cfg_member *m, bool dflt)
{
    assert(m->kind == CFG_BOOL && m->presence == CFG_OPTIONAL);
    json_t *v = json_object_get(obj, m->key);
    if (v == NULL)
        return dflt;
    if (!json_is_boolean(v)) {
        cfg_error_at(c, m->key, "expected a boolean (true or false), got %s", cfg_type_name(v));
        return dflt;
    }
    return json_is_true(v);
}

bool cfg_int(cfg_ctx *c, json_t *obj, const cfg_member *m, int *out)
{
    assert(m->kind == CFG_INTEGER && m->min <= m->max && m->max <= INT_MAX && m->min >= INT_MIN);
    long min = (long)m->min, max = (long)m->max;
    json_t *v = json_object_get(obj, m->key);
    if (v == NULL) {
        if (m->presence == CFG_REQUIRED)
            cfg_error_at(c, m->key, "required key is missing; expected an integer from %ld to %ld", min, max);
        return false;
    }
    double d;
    /* An integral real (10.0) counts as an integer, as in JSON Schema draft 6 and later. */
    if (json_is_integer(v))
        d = (double)json_integer_value(v);
    else if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v))
        d = json_real_value(v);
    else {
        cfg_error_at(c, m->key, "expected an integer from %ld to %ld, got %s", min, max,
                     json_is_real(v) ? "a fractional number" : cfg_type_name(v));
        return false;
    }
    if (d < m->min || d > m->max) {
        cfg_error_at(c, m->key, "out of range: %.0f; expected an integer from %ld to %ld", d, min, max);
        return false;
    }
    *out = (int)d;
    return true;
}

bool cfg_number(cfg_ctx *c, json_t *obj, const cfg_member *m, double *out)
{
    assert(m->kind == CFG_NUMBER && m->presence == CFG_OPTIONAL);
    json_t *v = json_object_get(obj, m->key);
    if (v == NULL)
        return false;
    if (!json_is_number(v)) {
        cfg_error_at(c, m->key, "expected a number >= %g, got %s", m->min, cfg_type_name(v));
        return false;
    }
    double d = json_number_value(v);
    if (d < m->min) {
        cfg_error_at(c, m->key, "out of range: %g; expected a number >= %g", d, m->min);
        return false;
    }
    *out = d;
    return true;
}

bool cfg_scalar(cfg_ctx *c, json_t *obj, const cfg_member *m, pz_scalar *out)
{
    assert(m->kind == CFG_ANY);
    json_t *v = json_object_get(obj, m->key);
    if (v == NULL) {
        if (m->presence == CFG_REQUIRED)
            cfg_error_at(c, m->key, "required key is missing; expected a string, a number or a boolean");
        return false;
    }
    *out = (pz_scalar){0};
    if (json_is_number(v)) {
        out->is_number = true;
        out->number = json_number_value(v);
        return true;
    }
    if (json_is_boolean(v)) {
        out->is_bool = true;
        out->boolean = json_is_true(v);
        return true;
    }
    if (json_is_string(v)) {
        out->string = pz_arena_strdup(c->arena, json_string_value(v));
        return true;
    }
    cfg_error_at(c, m->key, "expected a string, a number or a boolean, got %s", cfg_type_name(v));
    return false;
}

int cfg_enum(cfg_ctx *c, json_t *obj, const cfg_member *m, const cfg_name_value *table, size_t n, const char *expected)
{
    assert(m->kind == CFG_STRING);
    json_t *v = json_object_get(obj, m->key);
    if (v == NULL) {
        if (m->presence == CFG_REQUIRED)
            cfg_error_at(c, m->key, "required key is missing; expected one of: %s", expected);
        return -1;
    }
    if (!json_is_string(v)) {
        cfg_error_at(c, m->key, "expected a string, one of: %s; got %s", expected, cfg_type_name(v));
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].name, json_string_value(v)) == 0)
            return table[i].value;
    cfg_error_at(c, m->key, "unknown value \"%.80s\"; expected one of: %s", json_string_value(v), expected);
    return -1;
}

/* ---- patterns ---- */

static bool all_chars(const char *s, bool allow_empty, const char *extra, bool allow_alnum)
{
    if (*s == '\0')
        return allow_empty;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (allow_alnum && isascii(*p) && isalnum(*p))
            continue;
        if (strchr(extra, *p) == NULL)
            return false;
    }
    return true;
}

bool cfg_is_path_key(const char *s)
{
    return all_chars(s, false, "_-", true);
}

bool cfg_is_alnum_key(const char *s)
{
    return all_chars(s, false, "", true);
}

bool cfg_is_feature_key(const char *s)
{
    return all_chars(s, true, "-._", true);
}

bool cfg_is_http_token(const char *s)
{
    return all_chars(s, false, "!#$%&'*+-.^_`|~", true);
}

bool cfg_is_http_url(const char *s)
{
    const char *rest;
    if (strncmp(s, "http://", 7) == 0)
        rest = s + 7;
    else if (strncmp(s, "https://", 8) == 0)
        rest = s + 8;
    else
        return false;
    /* A host must follow; whitespace is never valid in a URL (template placeholders use braces). */
    if (*rest == '\0' || *rest == '/')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* Copies the next ':'-separated field of *s into out (bounded); advances past the ':'. */
static bool arn_field(const char **s, char *out, size_t cap)
{
    const char *colon = strchr(*s, ':');
    if (colon == NULL || (size_t)(colon - *s) >= cap)
        return false;
    memcpy(out, *s, (size_t)(colon - *s));
    out[colon - *s] = '\0';
    *s = colon + 1;
    return true;
}

/* Region codes: two letters, one or more words, a number: us-east-1, us-gov-west-1, eu-isoe-west-1. */
static bool is_region(const char *r)
{
    if (!(islower((unsigned char)r[0]) && islower((unsigned char)r[1]) && r[2] == '-'))
        return false;
    const char *last_dash = strrchr(r, '-');
    const char *p = r + 3;
    if (p >= last_dash)
        return false;
    for (; p < last_dash; p++)
        if (!(islower((unsigned char)*p) || (*p == '-' && p[-1] != '-')))
            return false;
    if (last_dash[-1] == '-' || last_dash[1] == '\0')
        return false;
    for (p = last_dash + 1; *p != '\0'; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    return true;
}

bool cfg_is_region(const char *s)
{
    return is_region(s);
}

const char *cfg_arn_resource(const char *s, const char *service)
{
    char prefix[8], partition[64], svc[64], region[64], account[64];
    const char *p = s;
    if (!arn_field(&p, prefix, sizeof prefix) || strcmp(prefix, "arn") != 0)
        return NULL;
    if (!arn_field(&p, partition, sizeof partition) || !all_chars(partition, false, "_-", true))
        return NULL;
    if (!arn_field(&p, svc, sizeof svc) || strcmp(svc, service) != 0)
        return NULL;
    if (!arn_field(&p, region, sizeof region) || !is_region(region))
        return NULL;
    if (!arn_field(&p, account, sizeof account) || strlen(account) != 12 || strspn(account, "0123456789") != 12)
        return NULL;
    return *p != '\0' ? p : NULL;
}

/* "prefix/name" with a non-empty name. */
static bool has_resource(const char *resource, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(resource, prefix, n) == 0 && resource[n] == '/' && resource[n + 1] != '\0';
}

bool cfg_is_personalize_arn(const char *s, bool *is_recommender)
{
    const char *res = cfg_arn_resource(s, "personalize");
    if (res == NULL)
        return false;
    *is_recommender = has_resource(res, "recommender");
    return *is_recommender || has_resource(res, "campaign");
}

bool cfg_is_personalize_filter_arn(const char *s)
{
    const char *res = cfg_arn_resource(s, "personalize");
    return res != NULL && has_resource(res, "filter");
}

bool cfg_is_lambda_arn(const char *s)
{
    /* Real ARNs are function:name[:qualifier]; upstream's schema writes function/name. */
    const char *res = cfg_arn_resource(s, "lambda");
    return res != NULL && strncmp(res, "function", 8) == 0 && (res[8] == ':' || res[8] == '/') && res[9] != '\0' &&
           res[9] != ':' && res[9] != '/';
}
