#include "server/upstream/json_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct reader {
    const char *p;
    const char *start;
    const char *end;
    int max_depth;
    pz_arena *arena;
    char *err;
    size_t errlen;
} reader;

static bool fail(reader *r, const char *what)
{
    if (r->err[0] == '\0')
        snprintf(r->err, r->errlen, "%s at offset %zu", what, (size_t)(r->p - r->start));
    return false;
}

static void skip_ws(reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static char *put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xc0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    return o;
}

/* At the opening quote. Decodes into the arena. */
static bool read_string(reader *r, const char **out, size_t *out_len)
{
    const char *s = ++r->p;
    bool escaped = false;
    while (r->p < r->end && *r->p != '"') {
        unsigned char c = (unsigned char)*r->p;
        if (c < 0x20)
            return fail(r, "control character in a string");
        if (c == '\\') {
            escaped = true;
            if (++r->p >= r->end)
                break;
        }
        r->p++;
    }
    if (r->p >= r->end)
        return fail(r, "unterminated string");
    size_t raw = (size_t)(r->p - s);
    r->p++; /* closing quote */
    char *dst = pz_arena_alloc(r->arena, raw + 1);
    if (!escaped) {
        if (!pz_utf8_valid(s, raw))
            return fail(r, "invalid UTF-8 in a string");
        memcpy(dst, s, raw);
        dst[raw] = '\0';
        *out = dst;
        *out_len = raw;
        return true;
    }
    char *o = dst;
    for (const char *q = s; q < s + raw;) {
        const char *run = q;
        while (q < s + raw && *q != '\\')
            q++;
        if (!pz_utf8_valid(run, (size_t)(q - run)))
            return fail(r, "invalid UTF-8 in a string");
        memcpy(o, run, (size_t)(q - run));
        o += q - run;
        if (q >= s + raw)
            break;
        char e = q[1];
        q += 2;
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            int cp = q + 4 <= s + raw ? hex4(q) : -1;
            if (cp < 0)
                return fail(r, "bad \\u escape");
            q += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) { /* a high surrogate needs its low half */
                int lo = q + 6 <= s + raw && q[0] == '\\' && q[1] == 'u' ? hex4(q + 2) : -1;
                if (lo < 0xdc00 || lo > 0xdfff)
                    return fail(r, "unpaired surrogate in a \\u escape");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                q += 6;
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return fail(r, "unpaired surrogate in a \\u escape");
            }
            o = put_utf8(o, (unsigned)cp);
            break;
        }
        default: return fail(r, "bad escape in a string");
        }
    }
    *o = '\0';
    *out = dst;
    *out_len = (size_t)(o - dst);
    return true;
}

static bool read_number(reader *r, double *out)
{
    const char *s = r->p;
    if (r->p < r->end && *r->p == '-')
        r->p++;
    if (r->p >= r->end || *r->p < '0' || *r->p > '9')
        return fail(r, "bad number");
    if (*r->p == '0')
        r->p++;
    else
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
    if (r->p < r->end && *r->p == '.') {
        r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9')
            return fail(r, "bad number");
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
            r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9')
            return fail(r, "bad number");
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
    }
    size_t n = (size_t)(r->p - s);
    char small[64];
    char *copy = n < sizeof small ? small : pz_arena_alloc(r->arena, n + 1);
    memcpy(copy, s, n);
    copy[n] = '\0';
    *out = strtod(copy, NULL);
    return true;
}

static bool literal(reader *r, const char *word, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return fail(r, "unexpected character");
    r->p += n;
    return true;
}

static bool read_value(reader *r, pz_jvalue *v, int depth);

static bool read_container(reader *r, pz_jvalue *v, int depth, bool object)
{
    if (depth > r->max_depth)
        return fail(r, "nested too deeply");
    v->type = object ? PZ_JOBJECT : PZ_JARRAY;
    char close = object ? '}' : ']';
    r->p++;
    skip_ws(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        return true;
    }
    pz_jvalue **tail = &v->first;
    for (;;) {
        pz_jvalue *m = pz_arena_calloc(r->arena, 1, sizeof *m);
        skip_ws(r);
        if (object) {
            if (r->p >= r->end || *r->p != '"')
                return fail(r, "expected a member name");
            if (!read_string(r, &m->key, &m->key_len))
                return false;
            skip_ws(r);
            if (r->p >= r->end || *r->p != ':')
                return fail(r, "expected ':'");
            r->p++;
        }
        if (!read_value(r, m, depth))
            return false;
        *tail = m;
        tail = &m->next;
        v->len++;
        skip_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == close) {
            r->p++;
            return true;
        }
        return fail(r, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static bool read_value(reader *r, pz_jvalue *v, int depth)
{
    skip_ws(r);
    if (r->p >= r->end)
        return fail(r, "unexpected end");
    switch (*r->p) {
    case '{': return read_container(r, v, depth + 1, true);
    case '[': return read_container(r, v, depth + 1, false);
    case '"': v->type = PZ_JSTRING; return read_string(r, &v->str, &v->len);
    case 't': v->type = PZ_JTRUE; return literal(r, "true", 4);
    case 'f': v->type = PZ_JFALSE; return literal(r, "false", 5);
    case 'n': v->type = PZ_JNULL; return literal(r, "null", 4);
    default: v->type = PZ_JNUMBER; return read_number(r, &v->number);
    }
}

pz_jvalue *pz_json_read(const char *text, size_t len, int max_depth, pz_arena *arena, char *err, size_t errlen)
{
    reader r = {text, text, text + len, max_depth, arena, err, errlen};
    err[0] = '\0';
    pz_jvalue *v = pz_arena_calloc(arena, 1, sizeof *v);
    if (!read_value(&r, v, 0))
        return NULL;
    skip_ws(&r);
    if (r.p != r.end) {
        fail(&r, "unexpected data after the JSON value");
        return NULL;
    }
    return v;
}

const pz_jvalue *pz_jvalue_get(const pz_jvalue *obj, const char *key)
{
    if (obj == NULL || obj->type != PZ_JOBJECT)
        return NULL;
    size_t n = strlen(key);
    for (const pz_jvalue *m = obj->first; m != NULL; m = m->next)
        if (m->key_len == n && memcmp(m->key, key, n) == 0)
            return m;
    return NULL;
}
