/* The `file` event target's sink: JSON Lines appended to a file, flushed to disk (fdatasync)
 * before a write is reported done, rotated by size.
 *
 * Rotation: before a write that would take the file past `max_bytes` (and the file is not
 * empty), `path` is renamed to `path.1` (`path.1` to `path.2`, ... up to `path.<keep>`, whose old
 * content is removed). So the sink holds at most (keep + 1) * max_bytes of delivered events; a
 * single write larger than max_bytes still goes into one file. A failed write is cut back off the
 * file, so a line is never left half-written.
 *
 * A sink belongs to one thread.
 */
#ifndef PZ_FILE_SINK_H
#define PZ_FILE_SINK_H

#include <stddef.h>
#include <sys/uio.h>

#define PZ_FILE_SINK_MAX_BYTES (64u << 20)
#define PZ_FILE_SINK_KEEP 5

typedef struct pz_file_sink pz_file_sink;

/* Nothing is opened until the first write (a directory that appears later is fine). */
pz_file_sink *pz_file_sink_create(const char *path, size_t max_bytes, unsigned keep);
void pz_file_sink_destroy(pz_file_sink *s);
/* Appends the buffers, rotating first when needed, and syncs. Returns 0, or -1 with err (the
 * file is as it was before the call). */
int pz_file_sink_write(pz_file_sink *s, const struct iovec *iov, int iovcnt, char *err, size_t errlen);

#endif
