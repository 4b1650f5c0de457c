/* Loading a namespace's catalog (server/catalog/catalog.h) from JSON Lines, the upstream import
 * format (spec §5.2): one JSON object per line with a string `id`; every other member is the
 * item's metadata, stored prepared (server/catalog/item_meta.h). A load is a full replace published
 * atomically: readers see the old catalog until the new one is complete.
 *
 * Input: a file, gzip-compressed when its name ends in .gz or .gzip, or a buffer. It is streamed
 * line by line through a fixed buffer, and items go to LMDB in batches, so memory does not grow
 * with the catalog. Lines may end in \n or \r\n; blank lines are skipped; a UTF-8 byte order mark
 * on the first line is ignored.
 *
 * A bad line is one that is longer than PZ_CATALOG_MAX_ITEM_BYTES, is not valid JSON (including
 * duplicate keys in one object and strings holding U+0000), is not an object, lacks a string `id`
 * of 1 to PZ_CATALOG_MAX_ID_LEN bytes, or nests deeper than PZ_ITEM_META_MAX_DEPTH. Each is
 * reported with its line number and reason. Strict (the default): the first bad line fails the
 * load and nothing is published. Lenient: bad lines are skipped and the rest is published.
 * Duplicate ids: the last line wins. A load that ends with no items fails and publishes nothing
 * (an empty upload replacing a whole catalog is almost always a mistake; delete items instead).
 *
 * Threads: any thread but an event loop (disk I/O, LMDB's writer lock).
 */
#ifndef PZ_CATALOG_LOAD_H
#define PZ_CATALOG_LOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "server/core/buf.h"
#include "server/catalog/catalog.h"

/* The largest item: its JSON text (one line, without the line break) in bytes. */
#define PZ_CATALOG_MAX_ITEM_BYTES 65536

/* Called once per bad line, in order; reason is a short sentence without the line number. */
typedef void (*pz_catalog_bad_line_fn)(void *ctx, size_t line_no, const char *reason);

typedef struct pz_catalog_load_options {
    bool lenient;                       /* skip bad lines instead of failing the load */
    pz_catalog_bad_line_fn on_bad_line; /* may be NULL */
    void *ctx;
} pz_catalog_load_options;

typedef struct pz_catalog_load_result {
    size_t lines;      /* lines read (blank ones included) */
    size_t items;      /* distinct items in the new generation */
    size_t duplicates; /* lines whose id an earlier line already had */
    size_t bad_lines;
    bool published;
    pz_catalog_info info; /* the new generation, when published */
} pz_catalog_load_result;

/* Loads `path` as the new catalog of ns. opts may be NULL (strict, no callback). Returns 0 when
 * the new generation is published; PZ_CATALOG_BUSY with err when another load or edit of ns is
 * running (nothing read); else -1 with err (the first bad line in strict mode, "no items",
 * unreadable or corrupt input, LMDB errors). Nothing was published unless 0. *result is filled in
 * every case. */
int pz_catalog_load_file(pz_catalog *c, const char *ns, const char *path, const pz_catalog_load_options *opts,
                         pz_catalog_load_result *result, char *err, size_t errlen);
/* The same from a buffer of JSON Lines (not compressed). */
int pz_catalog_load_buffer(pz_catalog *c, const char *ns, const char *data, size_t len,
                           const pz_catalog_load_options *opts, pz_catalog_load_result *result, char *err,
                           size_t errlen);

/* Parses one item (a JSON object with `id`) into its id (copied into id, which holds
 * PZ_CATALOG_MAX_ID_LEN + 1 bytes, NUL-terminated; *id_len its length) and its prepared value
 * (replacing value's content). Returns 0, or -1 with the reason a loader reports for a bad line. */
int pz_catalog_prepare_item(const char *json, size_t len, char *id, size_t *id_len, pz_buf *value, char *reason,
                            size_t reasonlen);

#endif
