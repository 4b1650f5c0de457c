#include "server/core/etag.h"

#include <string.h>

#include "server/core/hash.h"

/* Fixed seed: tags must stay the same across restarts and instances behind one CDN. */
#define ETAG_SEED 0x70657273u

void pz_etag_of(const void *content, size_t len, char out[PZ_ETAG_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t h = pz_hash64(content, len, ETAG_SEED);
    out[0] = '"';
    for (int i = 0; i < 16; i++)
        out[1 + i] = hex[(h >> (60 - 4 * i)) & 0xf];
    out[17] = '"';
    out[18] = '\0';
}

static bool is_coding(const char *s, size_t len)
{
    if (len == 0 || len > PZ_ETAG_CODING_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

bool pz_etag_with_coding(const char *etag, const char *coding, char out[PZ_ETAG_CODING_SIZE])
{
    size_t elen = strlen(etag), clen = strlen(coding);
    if (elen != PZ_ETAG_SIZE - 1 || !is_coding(coding, clen)) {
        memcpy(out, etag, elen < PZ_ETAG_SIZE ? elen + 1 : PZ_ETAG_SIZE);
        out[PZ_ETAG_SIZE - 1] = '\0';
        return false;
    }
    memcpy(out, etag, elen - 1); /* without the closing quote */
    out[elen - 1] = '-';
    memcpy(out + elen, coding, clen);
    out[elen + clen] = '"';
    out[elen + clen + 1] = '\0';
    return true;
}

/* Whether tag[0..tlen) names the representation whose opaque tag is want[0..wlen): the same, or
 * an encoded one of the same content. */
static bool same_content(const char *tag, size_t tlen, const char *want, size_t wlen)
{
    if (tlen < wlen || memcmp(tag, want, wlen) != 0)
        return false;
    return tlen == wlen || (tag[wlen] == '-' && is_coding(tag + wlen + 1, tlen - wlen - 1));
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* etagc (RFC 9110): %x21 / %x23-7E / obs-text; i.e. visible characters except '"'. */
static bool is_etagc(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

bool pz_etag_none_match(const char *inm, size_t len, const char *etag)
{
    if (inm == NULL || etag == NULL)
        return false;
    /* The opaque part of our tag: between its quotes. */
    size_t elen = strlen(etag);
    const char *want = etag;
    if (elen >= 2 && etag[0] == '"' && etag[elen - 1] == '"') {
        want = etag + 1;
        elen -= 2;
    }
    size_t i = 0;
    while (i < len) {
        while (i < len && (is_ows(inm[i]) || inm[i] == ','))
            i++;
        if (i >= len)
            break;
        size_t start = i; /* start of this member, for skipping it when unreadable */
        if (inm[i] == '*') {
            size_t j = i + 1;
            while (j < len && is_ows(inm[j]))
                j++;
            if (j == len || inm[j] == ',')
                return true;
        }
        if (len - i >= 2 && inm[i] == 'W' && inm[i + 1] == '/')
            i += 2;
        const char *tag;
        size_t tlen = 0;
        bool ok = true;
        if (i < len && inm[i] == '"') {
            tag = inm + i + 1;
            size_t j = i + 1;
            while (j < len && is_etagc((unsigned char)inm[j]))
                j++;
            if (j >= len || inm[j] != '"') {
                ok = false; /* unterminated or a bad character inside the quotes */
                i = j;
            } else {
                tlen = j - (i + 1);
                i = j + 1;
            }
        } else {
            tag = inm + i;
            size_t j = i;
            while (j < len && inm[j] != ',' && !is_ows(inm[j]) && is_etagc((unsigned char)inm[j]))
                j++;
            tlen = j - i;
            i = j;
            ok = tlen > 0;
        }
        /* After a member only OWS then ',' or the end may follow. */
        while (i < len && is_ows(inm[i]))
            i++;
        if (i < len && inm[i] != ',')
            ok = false;
        if (ok && same_content(tag, tlen, want, elen))
            return true;
        while (i < len && inm[i] != ',')
            i++;
        if (i == start)
            i++;
    }
    return false;
}
