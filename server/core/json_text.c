#include "server/core/json_text.h"

#include <string.h>

size_t pz_utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

int pz_json_write_string(pz_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (len == 0)
        return pz_buf_append(out, "\"\"", 2);
    const unsigned char *p = (const unsigned char *)s;
    if (pz_buf_append_char(out, '"') != 0)
        return -1;
    size_t run = 0, i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        uint32_t cp = 0;
        size_t n = c < 0x80 ? 1 : pz_utf8_next(p + i, len - i, &cp);
        if (c >= 0x80 && n != 0 && cp != 0x2028 && cp != 0x2029) {
            i += n; /* valid multibyte character: part of the run */
            continue;
        }
        if (pz_buf_append(out, s + run, i - run) != 0)
            return -1;
        char esc[8];
        const char *e = esc;
        size_t elen = 2;
        esc[0] = '\\';
        if (n == 0) {
            e = "\xEF\xBF\xBD"; /* U+FFFD for a byte that does not start valid UTF-8 */
            elen = 3;
            n = 1;
        } else if (c >= 0x80) {
            e = cp == 0x2028 ? "\\u2028" : "\\u2029";
            elen = 6;
        } else if (c == '"' || c == '\\') {
            esc[1] = (char)c;
        } else if (c == '\n') {
            esc[1] = 'n';
        } else if (c == '\r') {
            esc[1] = 'r';
        } else if (c == '\t') {
            esc[1] = 't';
        } else if (c == '\b') {
            esc[1] = 'b';
        } else if (c == '\f') {
            esc[1] = 'f';
        } else {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xF];
            elen = 6;
        }
        if (pz_buf_append(out, e, elen) != 0)
            return -1;
        i += n;
        run = i;
    }
    if (pz_buf_append(out, s + run, len - run) != 0)
        return -1;
    return pz_buf_append_char(out, '"');
}

bool pz_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t n = pz_utf8_next(p + i, len - i, &cp);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

void pz_utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = p[i] < 0x80 ? 1 : pz_utf8_next(p + i, len - i, &cp);
        if (n == 0) {
            p[i++] = '?';
            continue;
        }
        i += n;
    }
}
