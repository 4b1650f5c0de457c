#include "server/core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/mem.h"

void pz_buf_init(pz_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static int buf_reserve(pz_buf *b, size_t extra)
{
    if (extra > b->max - b->len)
        return -1;
    size_t need = b->len + extra + 1;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need)
            cap *= 2;
        b->data = pz_realloc(b->data, cap);
        b->cap = cap;
    }
    return 0;
}

int pz_buf_append(pz_buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return -1;
    if (n != 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int pz_buf_append_str(pz_buf *b, const char *s)
{
    return pz_buf_append(b, s, strlen(s));
}

int pz_buf_append_char(pz_buf *b, char c)
{
    return pz_buf_append(b, &c, 1);
}

int pz_buf_printf(pz_buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) != 0) {
        va_end(ap2);
        return -1;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return 0;
}

void pz_buf_clear(pz_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void pz_buf_free(pz_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

char *pz_buf_take(pz_buf *b, size_t *len)
{
    char *d = b->data != NULL ? b->data : pz_strdup("");
    if (len != NULL)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return d;
}

size_t pz_format_double_roundtrip(double d, char *buf)
{
    int n = 0;
    for (int precision = 15; precision <= 17; precision++) {
        n = snprintf(buf, 40, "%.*g", precision, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return n > 0 ? (size_t)n : 0;
}
