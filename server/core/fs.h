/* Small filesystem helpers shared by the modules that keep state under the data directory. */
#ifndef PZ_FS_H
#define PZ_FS_H

/* Creates `path` and any missing parents (mode 0755), like `mkdir -p`. Returns 0, or -1 with errno
 * set (ENAMETOOLONG for a path longer than PATH_MAX). Any thread. */
int pz_make_dirs(const char *path);

#endif
