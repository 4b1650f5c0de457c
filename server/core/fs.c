#include "server/core/fs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int pz_make_dirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int pz_data_store_dir(const char *data_dir, const char *sub, const char *what, char *dir, size_t len, FILE *err)
{
    struct stat st;
    if (snprintf(dir, len, "%s/%s", data_dir, sub) >= (int)len) {
        fprintf(err, "error: the data directory's path is too long: %s\n", data_dir);
        return -1;
    }
    if (stat(dir, &st) != 0) {
        fprintf(err, "error: no %s in %s (%s)\n", what, data_dir, strerror(errno));
        return -1;
    }
    return 0;
}
