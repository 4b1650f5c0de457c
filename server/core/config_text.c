/* What the configuration text may hold before its values are read: keys given twice in one object
 * (a warning: the last value wins, as in upstream's Python loader, which the document was written
 * for), control characters in keys and NUL characters in strings (errors, wherever they are). */
#include <stdlib.h>
#include <string.h>

#include "server/core/config_internal.h"

/* jansson's own nesting limit (JSON_PARSER_MAX_DEPTH): deeper text was refused before the scan. */
#define SCAN_MAX_DEPTH 2048

typedef struct scanner {
    const char *s;
    size_t len, pos;
    cfg_ctx *c;
    pz_arena *keys; /* decoded keys, freed when the scan ends */
} scanner;

typedef struct seen_key {
    const char *key;
    size_t order; /* position in the object, to report in document order */
} seen_key;

static void skip_ws(scanner *sc)
{
    while (sc->pos < sc->len && strchr(" \t\r\n", sc->s[sc->pos]) != NULL && sc->s[sc->pos] != '\0')
        sc->pos++;
}

static unsigned hex4(const char *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        v = v * 16 + (unsigned)(ch >= '0' && ch <= '9'   ? ch - '0'
                                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                                         : ch - 'A' + 10);
    }
    return v;
}

static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the string at sc->pos (its opening quote) so that "a" and "\u0061" compare equal. The
 * text is valid JSON (jansson read it), so escapes are well formed. */
static const char *scan_string(scanner *sc)
{
    size_t start = ++sc->pos;
    while (sc->pos < sc->len && sc->s[sc->pos] != '"')
        sc->pos += sc->s[sc->pos] == '\\' ? 2 : 1;
    size_t end = sc->pos++;
    char *out = pz_arena_alloc(sc->keys, end - start + 1), *o = out;
    for (size_t i = start; i < end; i++) {
        if (sc->s[i] != '\\') {
            *o++ = sc->s[i];
            continue;
        }
        char e = sc->s[++i];
        switch (e) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp = i + 4 < end ? hex4(sc->s + i + 1) : 0xFFFD;
            i += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < end && sc->s[i + 1] == '\\' && sc->s[i + 2] == 'u') {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(sc->s + i + 3) - 0xDC00);
                i += 6;
            }
            o += put_utf8(o, cp);
            break;
        }
        default: *o++ = e; break; /* \" \\ \/ */
        }
    }
    *o = '\0';
    return out;
}

static void scan_value(scanner *sc, int depth);

static int compare_seen(const void *a, const void *b)
{
    const seen_key *x = a, *y = b;
    int r = strcmp(x->key, y->key);
    return r != 0 ? r : (x->order > y->order) - (x->order < y->order);
}

static int compare_order(const void *a, const void *b)
{
    const seen_key *x = a, *y = b;
    return (x->order > y->order) - (x->order < y->order);
}

/* Keys sorted, then each repetition (not the first occurrence) reported in document order. */
static void report_duplicates(scanner *sc, seen_key *keys, size_t n)
{
    if (n < 2)
        return;
    qsort(keys, n, sizeof *keys, compare_seen);
    size_t n_dups = 0;
    for (size_t i = 1; i < n; i++)
        if (strcmp(keys[i].key, keys[i - 1].key) == 0)
            keys[n_dups++] = keys[i]; /* n_dups < i: never overwrites what is still to be read */
    qsort(keys, n_dups, sizeof *keys, compare_order);
    for (size_t i = 0; i < n_dups; i++)
        cfg_warn_at(sc->c, keys[i].key,
                    "key given more than once in this object; the last value is used (as upstream's loader does) "
                    "and the earlier ones are ignored");
}

static void scan_object(scanner *sc, int depth)
{
    sc->pos++; /* { */
    seen_key *keys = NULL;
    size_t n = 0, cap = 0;
    skip_ws(sc);
    while (sc->pos < sc->len && sc->s[sc->pos] != '}') {
        const char *key = scan_string(sc);
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            keys = pz_realloc(keys, cap * sizeof *keys);
        }
        keys[n] = (seen_key){key, n};
        n++;
        skip_ws(sc);
        sc->pos++; /* : */
        size_t mark = cfg_push_key(sc->c, key);
        scan_value(sc, depth + 1);
        cfg_pop(sc->c, mark);
        skip_ws(sc);
        if (sc->pos < sc->len && sc->s[sc->pos] == ',') {
            sc->pos++;
            skip_ws(sc);
        }
    }
    sc->pos++; /* } */
    report_duplicates(sc, keys, n);
    free(keys);
}

static void scan_array(scanner *sc, int depth)
{
    sc->pos++; /* [ */
    skip_ws(sc);
    for (size_t i = 0; sc->pos < sc->len && sc->s[sc->pos] != ']'; i++) {
        size_t mark = cfg_push_index(sc->c, i);
        scan_value(sc, depth + 1);
        cfg_pop(sc->c, mark);
        skip_ws(sc);
        if (sc->pos < sc->len && sc->s[sc->pos] == ',') {
            sc->pos++;
            skip_ws(sc);
        }
    }
    sc->pos++; /* ] */
}

static void scan_value(scanner *sc, int depth)
{
    skip_ws(sc);
    if (sc->pos >= sc->len || depth > SCAN_MAX_DEPTH) {
        sc->pos = sc->len;
        return;
    }
    switch (sc->s[sc->pos]) {
    case '{': scan_object(sc, depth); break;
    case '[': scan_array(sc, depth); break;
    case '"': scan_string(sc); break;
    default: { /* a number, true, false or null */
        size_t start = sc->pos;
        while (sc->pos < sc->len && sc->s[sc->pos] != '\0' && strchr(",]} \t\r\n", sc->s[sc->pos]) == NULL)
            sc->pos++;
        /* Nothing a value can start with (jansson ends a document at a NUL byte, so what follows
         * one is not JSON it read): the scan stops rather than loop without moving. */
        if (sc->pos == start)
            sc->pos = sc->len;
        break;
    }
    }
}

void cfg_warn_duplicate_keys(cfg_ctx *c, const char *text, size_t len)
{
    pz_arena keys;
    pz_arena_init(&keys);
    scanner sc = {.s = text, .len = len, .pos = 0, .c = c, .keys = &keys};
    scan_value(&sc, 0);
    pz_arena_destroy(&keys);
}

/* ---- characters ---- */

static void check_value(cfg_ctx *c, json_t *v, int depth)
{
    if (depth > SCAN_MAX_DEPTH)
        return;
    if (json_is_string(v)) {
        if (memchr(json_string_value(v), '\0', json_string_length(v)) != NULL)
            cfg_error_control_char(c, NULL, json_string_value(v), (long)strlen(json_string_value(v)));
    } else if (json_is_object(v)) {
        const char *key;
        json_t *member;
        json_object_foreach (v, key, member) {
            long at = cfg_control_char_at(key, strlen(key));
            if (at >= 0)
                cfg_error_control_char(c, key, key, at);
            size_t mark = cfg_push_key(c, key);
            check_value(c, member, depth + 1);
            cfg_pop(c, mark);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *member;
        json_array_foreach (v, i, member) {
            size_t mark = cfg_push_index(c, i);
            check_value(c, member, depth + 1);
            cfg_pop(c, mark);
        }
    }
}

void cfg_check_characters(cfg_ctx *c, json_t *root)
{
    check_value(c, root, 0);
}
