#include "gateway/http_guard.h"

#include <string.h>
#include <strings.h>

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims spaces and tabs at both ends of [*p, *p + *n). */
static void trim(const char **p, size_t *n)
{
    while (*n > 0 && is_space(**p)) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && is_space((*p)[*n - 1]))
        (*n)--;
}

static bool name_is(const char *name, size_t n, const char *want)
{
    return n == strlen(want) && strncasecmp(name, want, n) == 0;
}

pz_http1_framing pz_http1_check_framing(const char *head, size_t len)
{
    const char *end = head + len;
    const char *line = memchr(head, '\n', len); /* skip the request line */
    size_t request_line_len = (size_t)((line != NULL ? line : end) - head);
    if (request_line_len > 0 && head[request_line_len - 1] == '\r')
        request_line_len--;
    static const char HTTP11[] = " HTTP/1.1";
    bool is_http11 = request_line_len >= sizeof HTTP11 - 1 &&
                     memcmp(head + request_line_len - (sizeof HTTP11 - 1), HTTP11, sizeof HTTP11 - 1) == 0;
    bool has_host = false;
    bool has_te = false;
    const char *cl = NULL;
    size_t cl_len = 0;
    bool conflicting = false;
    while (line != NULL && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        size_t n = (size_t)((eol != NULL ? eol : end) - line);
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 0)
            break; /* the empty line ends the head */
        const char *colon = memchr(line, ':', n);
        if (colon != NULL) {
            const char *name = line;
            size_t name_len = (size_t)(colon - line);
            trim(&name, &name_len);
            const char *value = colon + 1;
            size_t value_len = (size_t)(line + n - value);
            trim(&value, &value_len);
            if (name_is(name, name_len, "host")) {
                has_host = true;
            } else if (name_is(name, name_len, "transfer-encoding")) {
                has_te = true;
            } else if (name_is(name, name_len, "content-length")) {
                if (cl != NULL && (cl_len != value_len || memcmp(cl, value, value_len) != 0))
                    conflicting = true;
                cl = value;
                cl_len = value_len;
            }
        }
        line = eol;
    }
    if (is_http11 && !has_host)
        return PZ_FRAMING_MISSING_HOST;
    if (has_te && cl != NULL)
        return PZ_FRAMING_LENGTH_AND_CHUNKED;
    return conflicting ? PZ_FRAMING_CONFLICTING_LENGTHS : PZ_FRAMING_OK;
}

const char *pz_http1_framing_message(pz_http1_framing f)
{
    static const char *const messages[] = {
        [PZ_FRAMING_OK] = "",
        [PZ_FRAMING_LENGTH_AND_CHUNKED] = "the request has both Content-Length and Transfer-Encoding",
        [PZ_FRAMING_CONFLICTING_LENGTHS] = "the request has conflicting Content-Length headers",
        [PZ_FRAMING_MISSING_HOST] = "an HTTP/1.1 request needs a Host header",
    };
    return (size_t)f < sizeof messages / sizeof messages[0] ? messages[f] : "";
}

/* Fetch standard: a safelisted Content-Type value is at most this long... */
#define SAFELISTED_VALUE_MAX 128
/* ...has no CORS-unsafe request-header byte (besides controls other than tab, and DEL)... */
static const char CORS_UNSAFE_BYTES[] = "\"():<>?@[\\]{}";
/* ...and its MIME type essence is one of these. */
static const char *const SAFELISTED_TYPES[] = {"application/x-www-form-urlencoded", "multipart/form-data",
                                               "text/plain"};

static bool cors_unsafe_byte(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f || (c != 0 && strchr(CORS_UNSAFE_BYTES, c) != NULL);
}

bool pz_cors_simple_body_type(const char *value, size_t len)
{
    if (value == NULL)
        return true;
    if (len > SAFELISTED_VALUE_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (cors_unsafe_byte((unsigned char)value[i]))
            return false;
    }
    const char *semi = memchr(value, ';', len);
    size_t essence_len = semi != NULL ? (size_t)(semi - value) : len;
    trim(&value, &essence_len);
    for (size_t i = 0; i < sizeof SAFELISTED_TYPES / sizeof SAFELISTED_TYPES[0]; i++) {
        if (name_is(value, essence_len, SAFELISTED_TYPES[i]))
            return true;
    }
    return false;
}
