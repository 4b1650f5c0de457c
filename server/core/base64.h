/* Standard base64 (RFC 4648 §4, with padding) into a pz_buf: protobuf `bytes` in JSON (the
 * transcoder) and record payloads of the Kinesis/Firehose APIs (event targets); and strict
 * base64url decoding (RFC 4648 §5, no padding) for JSON Web Tokens and keys. Any thread. */
#ifndef PZ_BASE64_H
#define PZ_BASE64_H

#include <stddef.h>

#include "server/core/buf.h"
#include "server/core/mem.h"

/* Appends the base64 encoding of data[0..n) to out. Returns 0, or -1 when out's cap is reached. */
int pz_base64_append(pz_buf *out, const void *data, size_t n);

/* Appends the base64url encoding of data[0..n), without padding (RFC 7515 §2). Returns 0 or -1. */
int pz_base64url_append(pz_buf *out, const void *data, size_t n);

/* Decodes base64url without padding (RFC 7515 §2): only A-Z a-z 0-9 - _, unused trailing bits zero.
 * Returns the bytes (NUL-terminated for convenience, in the arena) with *out_len, or NULL when in
 * is not such an encoding. */
unsigned char *pz_base64url_decode(const char *in, size_t n, pz_arena *arena, size_t *out_len);

#endif
