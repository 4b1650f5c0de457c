#include "server/core/base64.h"

#include <stdint.h>

int pz_base64_append(pz_buf *out, const void *data, size_t n)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    char chunk[256]; /* appended in chunks: one call per 64 groups, not per group */
    size_t used = 0;
    for (size_t i = 0; i < n; i += 3) {
        if (used > sizeof chunk - 4) {
            if (pz_buf_append(out, chunk, used) != 0)
                return -1;
            used = 0;
        }
        size_t left = n - i;
        uint32_t v = (uint32_t)p[i] << 16;
        if (left > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (left > 2)
            v |= p[i + 2];
        chunk[used++] = alphabet[(v >> 18) & 63];
        chunk[used++] = alphabet[(v >> 12) & 63];
        chunk[used++] = left > 1 ? alphabet[(v >> 6) & 63] : '=';
        chunk[used++] = left > 2 ? alphabet[v & 63] : '=';
    }
    return used > 0 ? pz_buf_append(out, chunk, used) : 0;
}
