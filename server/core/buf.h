/* Bounded growable byte buffers (after curl's dynbuf): every buffer has a cap set at init, and
 * crossing it is an error (-1), not an allocation. The content is always NUL-terminated.
 * Not thread-safe. */
#ifndef PZ_BUF_H
#define PZ_BUF_H

#include <stddef.h>

typedef struct pz_buf {
    char *data; /* NULL until the first append; NUL-terminated afterwards */
    size_t len;
    size_t cap; /* allocated bytes */
    size_t max; /* hard cap on len */
} pz_buf;

void pz_buf_init(pz_buf *b, size_t max);
/* Appends n bytes. Returns 0, or -1 (buffer unchanged) when len would exceed max. */
int pz_buf_append(pz_buf *b, const void *p, size_t n);
int pz_buf_append_str(pz_buf *b, const char *s);
int pz_buf_append_char(pz_buf *b, char c);
int pz_buf_printf(pz_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Empties the buffer, keeping its memory. */
void pz_buf_clear(pz_buf *b);
/* Frees the memory; the buffer is empty and reusable. */
void pz_buf_free(pz_buf *b);
/* Hands the data (malloc'ed, caller frees) to the caller and resets the buffer. Never NULL. */
char *pz_buf_take(pz_buf *b, size_t *len);

/* Formats a finite double in the shortest of %.15g, %.16g and %.17g that reads back to the same
 * value (1.0 -> "1", 0.1 -> "0.1"), as JSON writers need. buf must hold 40 bytes. Returns the
 * length. Non-finite values and -0 are the caller's business (JSON has no literal for them). */
size_t pz_format_double_roundtrip(double d, char *buf);

#endif
