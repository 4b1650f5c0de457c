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

int pz_base64url_append(pz_buf *out, const void *data, size_t n)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = data;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i += 3) {
        size_t left = n - i;
        uint32_t v = (uint32_t)p[i] << 16 | (left > 1 ? (uint32_t)p[i + 1] << 8 : 0) | (left > 2 ? p[i + 2] : 0);
        char group[4] = {alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63], alphabet[v & 63]};
        rc = pz_buf_append(out, group, left >= 3 ? 4 : left + 1);
    }
    return rc;
}

/* The value of a base64url character (RFC 4648 §5), or -1. */
static int base64url_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '-')
        return 62;
    return ch == '_' ? 63 : -1;
}

/* Bits of a base64 character. */
#define B64_BITS 6

unsigned char *pz_base64url_decode(const char *in, size_t n, pz_arena *arena, size_t *out_len)
{
    if (n % 4 == 1) /* one character carries 6 bits: never a whole byte */
        return NULL;
    unsigned char *out = pz_arena_alloc(arena, n * 3 / 4 + 1);
    size_t len = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = base64url_value((unsigned char)in[i]);
        if (v < 0)
            return NULL;
        acc = acc << B64_BITS | (uint32_t)v;
        bits += B64_BITS;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (unsigned char)(acc >> bits);
        }
    }
    if ((acc & ((1u << bits) - 1)) != 0) /* leftover bits must be zero: one encoding per value */
        return NULL;
    out[len] = '\0';
    *out_len = len;
    return out;
}
