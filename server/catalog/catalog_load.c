#include "server/catalog/catalog_load.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/catalog/item_meta.h"
#include "server/core/json_text.h"
#include "server/core/line_reader.h"
#include "server/core/mem.h"
/* Prepared values stay under ~5x their JSON text (a number takes 9 bytes, `1,` takes 2). */
#define MAX_VALUE_BYTES (8 * PZ_CATALOG_MAX_ITEM_BYTES)

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
static int load(pz_catalog *c, const char *ns, pz_line_reader *r, const pz_catalog_load_options *opts,
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
    while (rc == 0 && (got = pz_line_reader_next(r, &line, &len, &too_long)) == 1) {
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
        snprintf(err, errlen, "line %zu: %s; nothing was published", res->lines + 1, pz_line_reader_error(r));
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
    pz_line_reader *r = pz_line_reader_open(path, PZ_CATALOG_MAX_ITEM_BYTES, err, errlen);
    if (r == NULL)
        return -1;
    int rc = load(c, ns, r, opts, result, err, errlen);
    pz_line_reader_close(r);
    return rc;
}

int pz_catalog_load_buffer(pz_catalog *c, const char *ns, const char *data, size_t len,
                           const pz_catalog_load_options *opts, pz_catalog_load_result *result, char *err,
                           size_t errlen)
{
    memset(result, 0, sizeof *result);
    pz_line_reader *r = pz_line_reader_memory(data, len, PZ_CATALOG_MAX_ITEM_BYTES);
    int rc = load(c, ns, r, opts, result, err, errlen);
    pz_line_reader_close(r);
    return rc;
}
