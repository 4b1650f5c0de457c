/* Reading a text file line by line (line_reader.h). */
#include "server/core/line_reader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "server/core/mem.h"

#define READ_CHUNK 65536

struct pz_line_reader {
    FILE *file;
    gzFile gz;
    const char *mem;
    size_t mem_len, mem_pos;
    char *buf; /* max_line + 1 + READ_CHUNK bytes */
    size_t max_line, cap, start, end;
    bool eof;
    char error[256];
};

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static pz_line_reader *reader_new(size_t max_line)
{
    pz_line_reader *r = pz_calloc(1, sizeof *r);
    r->max_line = max_line;
    r->cap = max_line + 1 + READ_CHUNK;
    r->buf = pz_malloc(r->cap);
    return r;
}

pz_line_reader *pz_line_reader_open(const char *path, size_t max_line, char *err, size_t errlen)
{
    pz_line_reader *r = reader_new(max_line);
    errno = 0;
    if (has_suffix(path, ".gz") || has_suffix(path, ".gzip"))
        r->gz = gzopen(path, "rb");
    else
        r->file = fopen(path, "rb");
    if (r->gz == NULL && r->file == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno != 0 ? errno : ENOMEM));
        pz_line_reader_close(r);
        return NULL;
    }
    if (r->gz != NULL)
        gzbuffer(r->gz, READ_CHUNK);
    return r;
}

pz_line_reader *pz_line_reader_memory(const char *data, size_t len, size_t max_line)
{
    pz_line_reader *r = reader_new(max_line);
    r->mem = data;
    r->mem_len = len;
    return r;
}

void pz_line_reader_close(pz_line_reader *r)
{
    if (r == NULL)
        return;
    if (r->file != NULL)
        fclose(r->file);
    if (r->gz != NULL)
        gzclose(r->gz);
    free(r->buf);
    free(r);
}

const char *pz_line_reader_error(const pz_line_reader *r)
{
    return r->error;
}

uint64_t pz_line_reader_offset(const pz_line_reader *r)
{
    if (r->mem != NULL)
        return r->mem_pos;
    if (r->gz != NULL)
        return (uint64_t)gzoffset(r->gz);
    long pos = ftell(r->file);
    return pos > 0 ? (uint64_t)pos : 0;
}

/* Reads more input after r->end. Returns bytes read, 0 at the end, -1 with r->error. */
static long reader_fill(pz_line_reader *r)
{
    size_t room = r->cap - r->end;
    if (r->mem != NULL) {
        size_t n = r->mem_len - r->mem_pos < room ? r->mem_len - r->mem_pos : room;
        memcpy(r->buf + r->end, r->mem + r->mem_pos, n);
        r->mem_pos += n;
        return (long)n;
    }
    if (r->gz != NULL) {
        int n = gzread(r->gz, r->buf + r->end, (unsigned)room);
        int errnum = Z_OK;
        const char *msg = gzerror(r->gz, &errnum);
        if (n < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) {
            snprintf(r->error, sizeof r->error, "gzip: %s", msg != NULL ? msg : "read error");
            return -1;
        }
        return n;
    }
    size_t n = fread(r->buf + r->end, 1, room, r->file);
    if (n == 0 && ferror(r->file)) {
        snprintf(r->error, sizeof r->error, "read error: %s", strerror(errno));
        return -1;
    }
    return (long)n;
}

int pz_line_reader_next(pz_line_reader *r, const char **line, size_t *len, bool *too_long)
{
    *too_long = false;
    size_t scanned = r->start;
    for (;;) {
        char *nl = memchr(r->buf + scanned, '\n', r->end - scanned);
        if (nl != NULL || r->eof) {
            size_t end = nl != NULL ? (size_t)(nl - r->buf) : r->end;
            if (nl == NULL && r->start == r->end && !*too_long)
                return 0;
            *line = r->buf + r->start;
            *too_long = *too_long || end - r->start > r->max_line;
            *len = *too_long ? 0 : end - r->start;
            r->start = nl != NULL ? end + 1 : end;
            return 1;
        }
        if (r->end - r->start > r->max_line + 1) {
            *too_long = true; /* keep reading, dropping the text, until the line ends */
            r->start = r->end;
        }
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
        scanned = r->end;
        long n = reader_fill(r);
        if (n < 0)
            return -1;
        r->end += (size_t)n;
        r->eof = n == 0;
    }
}
