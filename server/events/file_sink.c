/* JSON Lines file sink with size rotation (file_sink.h). */
#include "server/events/file_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/core/mem.h"

struct pz_file_sink {
    char *path;
    size_t max_bytes;
    unsigned keep;
    int fd;
    off_t size;
};

pz_file_sink *pz_file_sink_create(const char *path, size_t max_bytes, unsigned keep)
{
    pz_file_sink *s = pz_calloc(1, sizeof *s);
    s->path = pz_strdup(path);
    s->max_bytes = max_bytes ? max_bytes : PZ_FILE_SINK_MAX_BYTES;
    s->keep = keep;
    s->fd = -1;
    return s;
}

void pz_file_sink_destroy(pz_file_sink *s)
{
    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->path);
    free(s);
}

static int open_file(pz_file_sink *s, char *err, size_t errlen)
{
    s->fd = open(s->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (s->fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", s->path, strerror(errno));
        return -1;
    }
    struct stat st;
    s->size = fstat(s->fd, &st) == 0 ? st.st_size : 0;
    return 0;
}

static int rotate(pz_file_sink *s, char *err, size_t errlen)
{
    close(s->fd);
    s->fd = -1;
    char from[PATH_MAX], to[PATH_MAX];
    if (s->keep == 0) {
        if (unlink(s->path) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "cannot rotate %s: %s", s->path, strerror(errno));
            return -1;
        }
        return open_file(s, err, errlen);
    }
    for (unsigned k = s->keep; k >= 2; k--) {
        snprintf(from, sizeof from, "%s.%u", s->path, k - 1);
        snprintf(to, sizeof to, "%s.%u", s->path, k);
        if (rename(from, to) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "cannot rotate %s to %s: %s", from, to, strerror(errno));
            return -1;
        }
    }
    snprintf(to, sizeof to, "%s.1", s->path);
    if (rename(s->path, to) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot rotate %s: %s", s->path, strerror(errno));
        return -1;
    }
    return open_file(s, err, errlen);
}

int pz_file_sink_write(pz_file_sink *s, const struct iovec *iov, int iovcnt, char *err, size_t errlen)
{
    if (s->fd < 0 && open_file(s, err, errlen) != 0)
        return -1;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (s->size > 0 && (size_t)s->size + total > s->max_bytes && rotate(s, err, errlen) != 0)
        return -1;
    off_t before = s->size;
    int i = 0;
    size_t skip = 0; /* bytes of iov[i] already written */
    while (i < iovcnt) {
        struct iovec part[64];
        int n = 0;
        for (int j = i; j < iovcnt && n < 64; j++, n++) {
            part[n].iov_base = (char *)iov[j].iov_base + (j == i ? skip : 0);
            part[n].iov_len = iov[j].iov_len - (j == i ? skip : 0);
        }
        ssize_t w = writev(s->fd, part, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "cannot write %s: %s", s->path, strerror(errno));
            goto undo;
        }
        size_t left = (size_t)w;
        while (i < iovcnt && left >= iov[i].iov_len - skip) {
            left -= iov[i].iov_len - skip;
            skip = 0;
            i++;
        }
        skip += left;
    }
    if (fdatasync(s->fd) != 0) {
        snprintf(err, errlen, "cannot sync %s: %s", s->path, strerror(errno));
        goto undo;
    }
    s->size = before + (off_t)total;
    return 0;
undo:
    if (ftruncate(s->fd, before) != 0) {
        /* The file keeps a partial tail; reopen so the size is re-read next time. */
        close(s->fd);
        s->fd = -1;
    }
    return -1;
}
