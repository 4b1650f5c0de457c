#include "server/core/redact.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/core/mem.h"

typedef struct out_buf {
    char *p;
    size_t len, cap; /* cap counts the NUL */
} out_buf;

static void put(out_buf *o, const char *s, size_t n)
{
    size_t room = o->cap - 1 - o->len;
    if (n > room)
        n = room;
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static bool is_scheme_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
           c == '.';
}

/* Where a URL ends in free text. */
static bool ends_url(char c)
{
    return (unsigned char)c <= ' ' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`' || c == 0x7f;
}

/* Writes the URL part after "://" (rest[0..n)) redacted. */
static void redact_after_scheme(out_buf *o, const char *rest, size_t n)
{
    size_t auth_end = 0;
    while (auth_end < n && rest[auth_end] != '/' && rest[auth_end] != '?' && rest[auth_end] != '#')
        auth_end++;
    const char *at = NULL;
    for (size_t i = 0; i < auth_end; i++) {
        if (rest[i] == '@')
            at = rest + i;
    }
    if (at != NULL) {
        put(o, PZ_REDACTED, strlen(PZ_REDACTED));
        put(o, at, (size_t)(rest + auth_end - at));
    } else {
        put(o, rest, auth_end);
    }
    size_t i = auth_end;
    while (i < n && rest[i] != '?' && rest[i] != '#')
        i++;
    put(o, rest + auth_end, i - auth_end); /* the path */
    if (i < n && rest[i] == '?') {
        put(o, "?", 1);
        i++;
        while (i < n && rest[i] != '#') {
            size_t start = i;
            while (i < n && rest[i] != '&' && rest[i] != ';' && rest[i] != '#' && rest[i] != '=')
                i++;
            put(o, rest + start, i - start); /* the name */
            if (i < n && rest[i] == '=') {
                put(o, "=" PZ_REDACTED, 1 + strlen(PZ_REDACTED));
                while (i < n && rest[i] != '&' && rest[i] != ';' && rest[i] != '#')
                    i++;
            }
            if (i < n && (rest[i] == '&' || rest[i] == ';'))
                put(o, rest + i++, 1);
        }
    }
    if (i < n && rest[i] == '#')
        put(o, "#" PZ_REDACTED, 1 + strlen(PZ_REDACTED));
}

size_t pz_redact_urls(const char *in, size_t len, char *out, size_t cap)
{
    out_buf o = {out, 0, cap};
    size_t copied = 0; /* in[0..copied) is written */
    for (size_t i = 0; i + 3 <= len;) {
        if (memcmp(in + i, "://", 3) != 0) {
            i++;
            continue;
        }
        size_t s = i;
        while (s > copied && is_scheme_char(in[s - 1]))
            s--;
        if (s == i) { /* "://" without a scheme */
            i += 3;
            continue;
        }
        size_t end = i + 3;
        while (end < len && !ends_url(in[end]))
            end++;
        put(&o, in + copied, i + 3 - copied); /* text before, the scheme and "://" */
        redact_after_scheme(&o, in + i + 3, end - (i + 3));
        copied = i = end;
    }
    put(&o, in + copied, len - copied);
    out[o.len] = '\0';
    return o.len;
}

char *pz_redact_urls_dup(const char *in)
{
    size_t len = strlen(in);
    /* The most a URL grows: "s://@?=#" (8 bytes) gains 9 (three redaction marks), and each further
     * "&=" adds 4 per 2; 3x + 8 always holds the result. */
    size_t cap = 3 * len + 8;
    char *out = pz_malloc(cap);
    pz_redact_urls(in, len, out, cap);
    return out;
}

char *pz_redact_token(const char *token)
{
    size_t n = strlen(token);
    const char *tail = n > 8 ? token + n - 4 : "";
    size_t len = strlen(PZ_REDACTED) + strlen(tail) + 1;
    char *out = pz_malloc(len);
    memcpy(out, PZ_REDACTED, strlen(PZ_REDACTED));
    memcpy(out + strlen(PZ_REDACTED), tail, strlen(tail) + 1);
    return out;
}

/* Member names whose values are secrets (case-insensitive substrings). */
static const char *const SECRET_NAMES[] = {"secret",  "password",   "token",        "apikey",
                                           "api_key", "credential", "authorization"};

static bool secret_name(const char *key)
{
    for (size_t i = 0; i < sizeof SECRET_NAMES / sizeof SECRET_NAMES[0]; i++) {
        if (strcasestr(key, SECRET_NAMES[i]) != NULL)
            return true;
    }
    return false;
}

/* Replaces a string's value by shown (malloc'ed; freed here). */
static void set_shown(json_t *str, char *shown)
{
    json_string_set(str, shown);
    free(shown);
}

/* all: every scalar inside v is a secret. */
static void redact_value(json_t *v, bool all);

static void redact_member(json_t *obj, const char *key, json_t *v, bool all)
{
    if (all || secret_name(key) || (strcmp(key, "headers") == 0 && json_is_object(v))) {
        if (json_is_object(v) || json_is_array(v))
            redact_value(v, true);
        else
            json_object_set_new(obj, key, json_string(PZ_REDACTED));
    } else if (strcmp(key, "trackingId") == 0 && json_is_string(v)) {
        set_shown(v, pz_redact_token(json_string_value(v)));
    } else {
        redact_value(v, false);
    }
}

static void redact_value(json_t *v, bool all)
{
    if (json_is_object(v)) {
        const char *key;
        json_t *member;
        void *tmp;
        json_object_foreach_safe (v, tmp, key, member) {
            redact_member(v, key, member, all);
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *item = json_array_get(v, i);
            if (all && !json_is_object(item) && !json_is_array(item))
                json_array_set_new(v, i, json_string(PZ_REDACTED));
            else
                redact_value(item, all);
        }
    } else if (json_is_string(v) && strstr(json_string_value(v), "://") != NULL) {
        set_shown(v, pz_redact_urls_dup(json_string_value(v)));
    }
}

void pz_redact_json(json_t *doc)
{
    redact_value(doc, false);
}
