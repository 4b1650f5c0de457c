/* Percent-decoding (RFC 3986 §2.1) for the fronts: REST path segments and query parameters, gRPC
 * peer strings. Any thread. */
#ifndef PZ_PERCENT_H
#define PZ_PERCENT_H

#include <stdbool.h>
#include <stddef.h>

#include "server/core/mem.h"

/* Decodes %XX escapes (and '+' as space when plus_is_space) of s[0..len) into a new NUL-terminated
 * arena string. Returns NULL on a malformed escape or an encoded NUL (%00), which no id may hold. */
char *pz_percent_decode(const char *s, size_t len, bool plus_is_space, pz_arena *arena);

#endif
