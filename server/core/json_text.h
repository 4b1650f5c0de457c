/* JSON text helpers shared by every module that writes JSON into a pz_buf (the transcoder, the
 * catalog's prepared values, event records, stats and health bodies): one escaper, one UTF-8
 * decoder, so every JSON string the server emits is escaped the same way. Any thread. */
#ifndef PZ_JSON_TEXT_H
#define PZ_JSON_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/buf.h"

/* Writes a JSON string literal for s[0..len) (quotes included): `"` and `\` escaped, control
 * characters as \n \r \t \b \f or \u00XX, U+2028/U+2029 as \u2028/\u2029, and each byte that
 * does not start valid UTF-8 replaced by U+FFFD. Returns 0, or -1 when out's cap is reached. */
int pz_json_write_string(pz_buf *out, const char *s, size_t len);

/* True when s[0..len) is well-formed UTF-8: no overlong forms, surrogates, code points over
 * U+10FFFF or truncated sequences. */
bool pz_utf8_valid(const char *s, size_t len);

/* Replaces in place each byte of the NUL-terminated s that does not start a valid UTF-8 sequence
 * with '?': for messages that quote input (a parser's error text), so they can be logged and
 * returned as they are. */
void pz_utf8_scrub(char *s);

/* Decodes one UTF-8 character at s (len > 0 bytes available): returns its length (1..4) and sets
 * *cp, or returns 0 for an invalid, overlong, surrogate or truncated sequence. */
size_t pz_utf8_next(const unsigned char *s, size_t len, uint32_t *cp);

#endif
