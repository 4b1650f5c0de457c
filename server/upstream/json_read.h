/* A strict, fast JSON reader for upstream responses (module prefix pz_json_read / pz_jvalue):
 * parses a whole document (RFC 8259) into a read-only tree in a pz_arena, with no allocation per
 * value, so an answer is validated and read in a few microseconds on the engine thread.
 *
 * Strings are decoded (escapes, \u surrogate pairs) to NUL-terminated UTF-8 and must be valid
 * UTF-8; numbers are doubles; nesting is bounded by max_depth (the document's top value is
 * level 1); trailing garbage is an error. Object members keep document order; pz_jvalue_get
 * returns the first member with a key.
 *
 * Any thread; the arena is the caller's (one thread at a time).
 */
#ifndef PZ_JSON_READ_H
#define PZ_JSON_READ_H

#include <stdbool.h>
#include <stddef.h>

#include "server/core/json_text.h"
#include "server/core/mem.h"

typedef enum pz_jtype {
    PZ_JNULL,
    PZ_JFALSE,
    PZ_JTRUE,
    PZ_JNUMBER,
    PZ_JSTRING,
    PZ_JARRAY,
    PZ_JOBJECT,
} pz_jtype;

typedef struct pz_jvalue pz_jvalue;
struct pz_jvalue {
    pz_jtype type;
    double number;    /* PZ_JNUMBER */
    const char *str;  /* PZ_JSTRING: decoded, NUL-terminated (may hold \u0000: use len) */
    size_t len;       /* PZ_JSTRING: bytes; PZ_JARRAY / PZ_JOBJECT: members */
    pz_jvalue *first; /* PZ_JARRAY / PZ_JOBJECT: the first member, then ->next */
    pz_jvalue *next;  /* the next member of the enclosing array or object */
    const char *key;  /* a member of an object: its key (decoded, NUL-terminated) */
    size_t key_len;
};

/* Parses text[0..len). Returns the top value (arena-owned), or NULL with a message naming the
 * offset and the problem in err. */
pz_jvalue *pz_json_read(const char *text, size_t len, int max_depth, pz_arena *arena, char *err, size_t errlen);

/* The first member of object `obj` named `key`, or NULL (also when obj is NULL or not an object). */
const pz_jvalue *pz_jvalue_get(const pz_jvalue *obj, const char *key);

#endif
