#include "server/catalog/catalog_load.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "server/catalog/item_meta.h"
#include "server/core/json_text.h"
#include "server/core/mem.h"

#define READ_CHUNK 65536
/* Prepared values stay under ~5x their JSON text (a number takes 9 bytes, `1,` takes 2). */
#define MAX_VALUE_BYTES (8 * PZ_CATALOG_MAX_ITEM_BYTES)

/* ---- line reader: a file, a gzip file or a buffer, through one bounded buffer ---- */

typedef struct line_reader {
    FILE *file;
    gzFile gz;
    const char *mem;
    size_t mem_len, mem_pos;
    char *buf; /* MAX_ITEM_BYTES + 1 + READ_CHUNK bytes */
    size_t cap, start, end;
    bool eof;
    char error[256];
} line_reader;

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void reader_init(line_reader *r)
{
    memset(r, 0, sizeof *r);
    r->cap = PZ_CATALOG_MAX_ITEM_BYTES + 1 + READ_CHUNK;
    r->buf = pz_malloc(r->cap);
}

static void reader_close(line_reader *r)
{
    if (r->file != NULL)
        fclose(r->file);
    if (r->gz != NULL)
        gzclose(r->gz);
    free(r->buf);
}

/* Reads more input after r->end. Returns bytes read, 0 at the end, -1 with r->error. */
static long reader_fill(line_reader *r)
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

/* Next line (without its line break): 1 with *line and *len, *too_long set when the line was longer
 * than PZ_CATALOG_MAX_ITEM_BYTES (its text is then dropped); 0 at the end; -1 with r->error. */
static int reader_next(line_reader *r, const char **line, size_t *len, bool *too_long)
{
    *too_long = false;
    size_t scanned = r->start;
    for (;;) {
        char *nl = memchr(r->buf + scanned, '\n', r->end - scanned);
        if (nl != NULL) {
            *line = r->buf + r->start;
            *len = *too_long ? 0 : (size_t)(nl - (r->buf + r->start));
            r->start = (size_t)(nl - r->buf) + 1;
            return 1;
        }
        if (r->eof) {
            if (r->start == r->end && !*too_long)
                return 0;
            *line = r->buf + r->start;
            *len = *too_long ? 0 : r->end - r->start;
            r->start = r->end;
            return 1;
        }
        if (r->end - r->start > PZ_CATALOG_MAX_ITEM_BYTES + 1) {
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

/* ---- items ---- */

int pz_catalog_prepare_item(const char *json, size_t len, char *id, size_t *id_len, pz_buf *value, char *reason,
                            size_t reasonlen)
{
    pz_buf_clear(value);
    if (len > PZ_CATALOG_MAX_ITEM_BYTES) {
        snprintf(reason, reasonlen, "the item is %zu bytes; the limit is %d bytes", len, PZ_CATALOG_MAX_ITEM_BYTES);
        return -1;
    }
    json_error_t jerr;
    json_t *obj = json_loadb(json, len, JSON_DECODE_INT_AS_REAL | JSON_REJECT_DUPLICATES, &jerr);
    int rc = -1;
    if (obj == NULL) {
        snprintf(reason, reasonlen, "invalid JSON at column %d: %s", jerr.column, jerr.text);
        pz_utf8_scrub(reason); /* jansson quotes the input near the error, bytes as they are */
    } else if (!json_is_object(obj)) {
        snprintf(reason, reasonlen, "expected a JSON object with an \"id\"");
    } else {
        json_t *jid = json_object_get(obj, "id");
        size_t n = json_string_length(jid);
        if (jid == NULL)
            snprintf(reason, reasonlen, "missing \"id\"");
        else if (!json_is_string(jid))
            snprintf(reason, reasonlen, "\"id\" must be a string");
        else if (n == 0 || n > PZ_CATALOG_MAX_ID_LEN || memchr(json_string_value(jid), '\0', n) != NULL)
            snprintf(reason, reasonlen, "\"id\" must be 1 to %d bytes (got %zu)", PZ_CATALOG_MAX_ID_LEN, n);
        else if (pz_item_meta_encode(obj, "id", value, reason, reasonlen) == 0) {
            memcpy(id, json_string_value(jid), n + 1);
            *id_len = n;
            rc = 0;
        }
    }
    json_decref(obj);
    if (rc != 0)
        pz_buf_clear(value);
    return rc;
}

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

/* Streams every line of r into a new generation of ns and publishes it. */
static int load(pz_catalog *c, const char *ns, line_reader *r, const pz_catalog_load_options *opts,
                pz_catalog_load_result *res, char *err, size_t errlen)
{
    pz_catalog_load_options none = {0};
    if (opts == NULL)
        opts = &none;
    pz_catalog_build *b;
    int begun = pz_catalog_build_begin(c, ns, &b, err, errlen);
    if (begun != 0)
        return begun; /* -1 or PZ_CATALOG_BUSY */
    pz_buf value;
    pz_buf_init(&value, MAX_VALUE_BYTES);
    char id[PZ_CATALOG_MAX_ID_LEN + 1], reason[300];
    int rc = 0;
    const char *line;
    size_t len;
    bool too_long;
    int got = 0;
    while (rc == 0 && (got = reader_next(r, &line, &len, &too_long)) == 1) {
        res->lines++;
        if (res->lines == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            line += 3;
            len -= 3;
        }
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (!too_long && blank(line, len))
            continue;
        size_t id_len = 0;
        bool bad = too_long;
        if (too_long)
            snprintf(reason, sizeof reason, "the line is longer than %d bytes", PZ_CATALOG_MAX_ITEM_BYTES);
        else
            bad = pz_catalog_prepare_item(line, len, id, &id_len, &value, reason, sizeof reason) != 0;
        if (bad) {
            res->bad_lines++;
            if (opts->on_bad_line != NULL)
                opts->on_bad_line(opts->ctx, res->lines, reason);
            if (!opts->lenient) {
                snprintf(err, errlen, "line %zu: %s; nothing was published (strict mode)", res->lines, reason);
                rc = -1;
            }
            continue;
        }
        bool replaced = false;
        rc = pz_catalog_build_put(b, id, id_len, value.data, value.len, &replaced, err, errlen);
        res->duplicates += replaced;
    }
    if (rc == 0 && got < 0) {
        snprintf(err, errlen, "line %zu: %s; nothing was published", res->lines + 1, r->error);
        rc = -1;
    }
    pz_buf_free(&value);
    res->items = (size_t)pz_catalog_build_count(b);
    if (rc == 0 && res->items == 0) {
        snprintf(err, errlen, "no items%s; nothing was published", res->bad_lines > 0 ? " (every line was bad)" : "");
        rc = -1;
    }
    if (rc != 0) {
        pz_catalog_build_abort(b);
        res->items = 0;
        return -1;
    }
    if (pz_catalog_build_publish(b, &res->info, err, errlen) != 0) {
        res->items = 0;
        return -1;
    }
    res->published = true;
    res->items = (size_t)res->info.items;
    return 0;
}

int pz_catalog_load_file(pz_catalog *c, const char *ns, const char *path, const pz_catalog_load_options *opts,
                         pz_catalog_load_result *result, char *err, size_t errlen)
{
    memset(result, 0, sizeof *result);
    line_reader r;
    reader_init(&r);
    if (has_suffix(path, ".gz") || has_suffix(path, ".gzip"))
        r.gz = gzopen(path, "rb");
    else
        r.file = fopen(path, "rb");
    if (r.gz == NULL && r.file == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno != 0 ? errno : ENOMEM));
        reader_close(&r);
        return -1;
    }
    if (r.gz != NULL)
        gzbuffer(r.gz, READ_CHUNK);
    int rc = load(c, ns, &r, opts, result, err, errlen);
    reader_close(&r);
    return rc;
}

int pz_catalog_load_buffer(pz_catalog *c, const char *ns, const char *data, size_t len,
                           const pz_catalog_load_options *opts, pz_catalog_load_result *result, char *err,
                           size_t errlen)
{
    memset(result, 0, sizeof *result);
    line_reader r;
    reader_init(&r);
    r.mem = data;
    r.mem_len = len;
    int rc = load(c, ns, &r, opts, result, err, errlen);
    reader_close(&r);
    return rc;
}
