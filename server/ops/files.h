/* File helpers of the operations package: whole-file reads with a cap, and atomic replacement (temporary file, flush,
 * rename, directory sync), for the configuration history, the last good copy of a URL source and the `config` CLI. Any
 * thread. */
#ifndef PZ_OPS_FILES_H
#define PZ_OPS_FILES_H

#include <stddef.h>
#include <sys/types.h>

/* Reads the whole file into *out (malloc'ed, NUL-terminated, caller frees) and *len. Returns 0,
 * or -1 with err (cannot open or read; larger than max bytes). */
int pz_read_file(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen);

/* Replaces path with data[0..len) atomically: written to "<path>.tmp" with `mode`, flushed,
 * renamed over path, and the directory synced, so a reader sees the old file or the new one,
 * never a part. Returns 0, or -1 with err (the old file is untouched). */
int pz_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, char *err, size_t errlen);

#endif
