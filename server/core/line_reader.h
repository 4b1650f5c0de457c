/* Reading a text file line by line: plain, gzip (a name ending in .gz or .gzip), or a buffer in
 * memory, through one bounded buffer, so any file size reads in constant memory. Lines longer than
 * the reader's limit are reported (and their text dropped) rather than failing the whole read.
 * Used by the item catalog loader and the history import. One thread at a time.
 */
#ifndef PZ_LINE_READER_H
#define PZ_LINE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pz_line_reader pz_line_reader;

/* Opens path for reading lines of at most max_line bytes. Returns the reader, or NULL with err. */
pz_line_reader *pz_line_reader_open(const char *path, size_t max_line, char *err, size_t errlen);
/* Reads lines from data[0..len) (borrowed until the reader is closed). */
pz_line_reader *pz_line_reader_memory(const char *data, size_t len, size_t max_line);
void pz_line_reader_close(pz_line_reader *r);

/* The next line, without its line break ("\n"; a "\r" before it is kept): returns 1 with *line and
 * *len (valid until the next call), *too_long set when the line exceeded max_line (its text is
 * then dropped: *len is 0); 0 at the end; -1 on a read error (pz_line_reader_error). */
int pz_line_reader_next(pz_line_reader *r, const char **line, size_t *len, bool *too_long);
const char *pz_line_reader_error(const pz_line_reader *r);
/* Bytes of the file consumed so far (compressed bytes for gzip), for progress against its size. */
uint64_t pz_line_reader_offset(const pz_line_reader *r);

#endif
