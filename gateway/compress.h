/* Response compression for the REST front (RFC 9110 §8.4.1 content codings): which codings a
 * client accepts (Accept-Encoding, §12.5.3), which one to send, and the encoders: gzip (zlib) and
 * br (Debian's libbrotli).
 *
 * Which responses (the REST front, gateway/http_server.c): successful JSON bodies of at least the
 * front's threshold (--compress-min-bytes, default PZ_COMPRESS_MIN_BYTES_DEFAULT: upstream's API
 * Gateway compresses bodies from 2048 bytes), in the coding the client prefers (the highest q);
 * such responses carry `Vary: Accept-Encoding` whatever the client accepted. A cached response's
 * coded body is made once, by the first request that wants it, and kept with the entry
 * (server/core/prepared.h): on a tie (browsers send "gzip, deflate, br") it gets br, smaller for
 * about three times gzip's work, done once. Other responses are coded per response and get gzip
 * on a tie.
 *
 * Levels: gzip PZ_GZIP_LEVEL (zlib's default), br quality PZ_BROTLI_QUALITY (below 5 br is no
 * smaller than gzip on our JSON). Any thread; the gzip encoder keeps per-thread state.
 */
#ifndef PZ_COMPRESS_H
#define PZ_COMPRESS_H

#include <stddef.h>

#include "server/core/buf.h"

#define PZ_COMPRESS_MIN_BYTES_DEFAULT 2048
#define PZ_GZIP_LEVEL 6
#define PZ_BROTLI_QUALITY 5

/* The content codings the front can send. Their values are also the variant slots of prepared
 * responses (server/core/prepared.h). */
typedef enum pz_coding {
    PZ_CODING_BR = 0,
    PZ_CODING_GZIP,
    PZ_CODING__COUNT,
} pz_coding;

/* The coding's name in Content-Encoding, e.g. "gzip". */
const char *pz_coding_name(pz_coding c);

/* The coding to send for an Accept-Encoding field value (len bytes; NULL: absent), or -1 for
 * none (identity): the acceptable coding (q > 0, named or by "*") with the highest q, `tie` when
 * both are acceptable with the same q; "x-gzip" counts as gzip. Names are case-insensitive; a
 * member that cannot be read is ignored. */
int pz_coding_for(const char *accept_encoding, size_t len, pz_coding tie);

/* Appends in[0..len) encoded with `coding` to out. Returns 0, or -1 when out's cap is reached or
 * the encoder fails (out then holds part of it). A pz_prepared_encode_fn with ctx = the coding
 * cast with (void *)(intptr_t). */
int pz_compress(void *coding, const char *in, size_t len, pz_buf *out);

#endif
