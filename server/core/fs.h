/* Small filesystem helpers shared by the modules that keep state under the data directory. */
#ifndef PZ_FS_H
#define PZ_FS_H

#include <stddef.h>
#include <stdio.h>

/* Where local state lives when --data-dir is not given: the server's default and every offline
 * command's (`events`, `experiments`, `config`, `import-events`, the catalog commands), so that
 * one run directory serves them all. */
#define PZ_DEFAULT_DATA_DIR "pz-data"

/* Creates `path` and any missing parents (mode 0755), like `mkdir -p`. Returns 0, or -1 with errno
 * set (ENAMETOOLONG for a path longer than PATH_MAX). Any thread. */
int pz_make_dirs(const char *path);

/* For the offline commands (`events`, `experiments`, ...): the path of the store `sub` under
 * `data_dir` in dir[len], when it exists. Otherwise writes "error: no <what> in <data_dir> (why)"
 * to err and returns -1. */
int pz_data_store_dir(const char *data_dir, const char *sub, const char *what, char *dir, size_t len, FILE *err);

#endif
