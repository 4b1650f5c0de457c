#include "gateway/compress.h"

#include <brotli/encode.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "server/core/log.h"
#include "server/core/mem.h"

static const char *const NAMES[PZ_CODING__COUNT] = {[PZ_CODING_BR] = "br", [PZ_CODING_GZIP] = "gzip"};

const char *pz_coding_name(pz_coding c)
{
    return (unsigned)c < PZ_CODING__COUNT ? NAMES[c] : "identity";
}

/* ---- Accept-Encoding ---- */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* A qvalue (RFC 9110 §12.4.2): "0" ["." 0*3DIGIT] or "1" ["." 0*3"0"], in thousandths; -1 when
 * malformed. */
static int qvalue(const char *s, size_t len)
{
    if (len == 0 || (s[0] != '0' && s[0] != '1') || len > 5 || (len > 1 && s[1] != '.'))
        return -1;
    int q = (s[0] - '0') * 1000, scale = 100;
    for (size_t i = 2; i < len; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q <= 1000 ? q : -1;
}

/* Which coding a member names: one of ours, "*" (PZ_CODING__COUNT) or another (-1). */
static int member_coding(const char *name, size_t len)
{
    if (len == 1 && name[0] == '*')
        return PZ_CODING__COUNT;
    if (len == 6 && strncasecmp(name, "x-gzip", 6) == 0)
        return PZ_CODING_GZIP;
    for (int c = 0; c < PZ_CODING__COUNT; c++)
        if (strlen(NAMES[c]) == len && strncasecmp(name, NAMES[c], len) == 0)
            return c;
    return -1;
}

int pz_coding_for(const char *v, size_t len, pz_coding tie)
{
    int q[PZ_CODING__COUNT + 1]; /* thousandths; -1: not named; the last is "*" */
    for (int c = 0; c <= PZ_CODING__COUNT; c++)
        q[c] = -1;
    size_t i = 0;
    while (v != NULL && i < len) {
        while (i < len && (is_ows(v[i]) || v[i] == ','))
            i++;
        size_t start = i;
        while (i < len && v[i] != ',' && v[i] != ';' && !is_ows(v[i]))
            i++;
        int coding = member_coding(v + start, i - start);
        int mq = 1000;
        bool ok = i > start;
        while (i < len && v[i] != ',') { /* parameters: only q matters */
            while (i < len && (is_ows(v[i]) || v[i] == ';'))
                i++;
            size_t p = i;
            while (i < len && v[i] != ',' && v[i] != ';' && !is_ows(v[i]))
                i++;
            if (i - p >= 2 && (v[p] == 'q' || v[p] == 'Q') && v[p + 1] == '=') {
                mq = qvalue(v + p + 2, i - p - 2);
                ok = ok && mq >= 0;
            }
        }
        if (ok && coding >= 0)
            q[coding] = mq;
    }
    int best = -1, best_q = 0;
    for (int c = 0; c < PZ_CODING__COUNT; c++) {
        int cq = q[c] >= 0 ? q[c] : q[PZ_CODING__COUNT];
        if (cq > best_q || (cq == best_q && cq > 0 && c == (int)tie)) {
            best = c;
            best_q = cq;
        }
    }
    return best;
}

/* ---- encoders ---- */

/* zlib's deflate state is large (about 256 KiB): one per thread, reset per body. */
static pthread_key_t gzip_key;
static pthread_once_t gzip_once = PTHREAD_ONCE_INIT;

static void gzip_free(void *p)
{
    deflateEnd(p);
    free(p);
}

static void gzip_key_create(void)
{
    if (pthread_key_create(&gzip_key, gzip_free) != 0)
        pz_fatal("compress: cannot create a thread key");
}

static z_stream *gzip_stream(void)
{
    pthread_once(&gzip_once, gzip_key_create);
    z_stream *z = pthread_getspecific(gzip_key);
    if (z != NULL) {
        deflateReset(z);
        return z;
    }
    z = pz_calloc(1, sizeof *z);
    /* windowBits 15 + 16: a gzip header and trailer, not zlib's */
    if (deflateInit2(z, PZ_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        pz_fatal("compress: deflateInit2 failed");
    pthread_setspecific(gzip_key, z);
    return z;
}

/* Output goes through a stack chunk, so a cap reached stops the work early. */
#define CHUNK_BYTES 16384

static int gzip_encode(const char *in, size_t len, pz_buf *out)
{
    z_stream *z = gzip_stream();
    unsigned char chunk[CHUNK_BYTES];
    z->next_in = (Bytef *)in;
    z->avail_in = (uInt)len;
    int rc;
    do {
        z->next_out = chunk;
        z->avail_out = sizeof chunk;
        rc = deflate(z, Z_FINISH);
        if ((rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) ||
            pz_buf_append(out, chunk, sizeof chunk - z->avail_out) != 0)
            return -1;
    } while (rc != Z_STREAM_END);
    return 0;
}

static int br_encode(const char *in, size_t len, pz_buf *out)
{
    BrotliEncoderState *s = BrotliEncoderCreateInstance(NULL, NULL, NULL);
    if (s == NULL)
        return -1;
    BrotliEncoderSetParameter(s, BROTLI_PARAM_QUALITY, PZ_BROTLI_QUALITY);
    BrotliEncoderSetParameter(s, BROTLI_PARAM_MODE, BROTLI_MODE_TEXT);
    BrotliEncoderSetParameter(s, BROTLI_PARAM_SIZE_HINT, (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len));
    size_t avail_in = len;
    const uint8_t *next_in = (const uint8_t *)in;
    int rc = 0;
    while (rc == 0 && !BrotliEncoderIsFinished(s)) {
        uint8_t chunk[CHUNK_BYTES];
        size_t avail_out = sizeof chunk;
        uint8_t *next_out = chunk;
        if (!BrotliEncoderCompressStream(s, BROTLI_OPERATION_FINISH, &avail_in, &next_in, &avail_out, &next_out,
                                         NULL) ||
            pz_buf_append(out, chunk, sizeof chunk - avail_out) != 0)
            rc = -1;
    }
    BrotliEncoderDestroyInstance(s);
    return rc;
}

int pz_compress(void *coding, const char *in, size_t len, pz_buf *out)
{
    switch ((pz_coding)(intptr_t)coding) {
    case PZ_CODING_GZIP: return gzip_encode(in, len, out);
    case PZ_CODING_BR: return br_encode(in, len, out);
    case PZ_CODING__COUNT: break;
    }
    return -1;
}
