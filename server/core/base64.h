/* Standard base64 (RFC 4648 §4, with padding) into a pz_buf: protobuf `bytes` in JSON (the
 * transcoder) and record payloads of the Kinesis/Firehose APIs (event targets). Any thread. */
#ifndef PZ_BASE64_H
#define PZ_BASE64_H

#include <stddef.h>

#include "server/core/buf.h"

/* Appends the base64 encoding of data[0..n) to out. Returns 0, or -1 when out's cap is reached. */
int pz_base64_append(pz_buf *out, const void *data, size_t n);

#endif
