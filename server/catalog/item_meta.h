/* Item metadata in its prepared form: what the catalog (server/catalog/catalog.h) stores per item.
 * It is made once, when items are loaded, in the two forms a response carries: the protobuf
 * encoding of each Struct entry and the JSON text the transcoder would write. Decoration then
 * never parses JSON nor walks a tree: it copies the value into the request arena and hands out a
 * prerendered Struct (server/core/prerendered.h) pointing into that copy; gRPC packs the encoded
 * entries as they are, REST copies the JSON.
 *
 * Format (host byte order; a data directory is not portable across byte orders, like LMDB itself):
 *   header   'I' 'M' version(3) depth(u8)  u32 n_entries  u32 pb_len  u32 json_len
 *            (depth: the deepest nesting of objects and arrays, the item's object counting 1)
 *   pb       pb_len bytes: the entries of the item's object (without its id), each an encoded
 *            google.protobuf.Struct.FieldsEntry, in the order of the loaded line
 *   json     json_len bytes and a NUL: the object as compact JSON
 *   entries  n_entries x { u32 pb_off, u32 pb_len, u32 json_off, u32 json_len }: each entry's
 *            encoding in pb and its `"key":value` text in json (what itemColumns selects from)
 *
 * Any thread (no shared state).
 */
#ifndef PZ_ITEM_META_H
#define PZ_ITEM_META_H

#include <jansson.h>
#include <stddef.h>

#include "google/protobuf/struct.pb-c.h"
#include "server/core/buf.h"
#include "server/core/decorate.h"
#include "server/core/json_text.h"
#include "server/core/mem.h"

/* Objects and arrays nest at most this deep in an item (the item's own object is level 1), so a
 * decorated response stays well inside the transcoder's PZ_JSON_MAX_DEPTH. */
#define PZ_ITEM_META_MAX_DEPTH 32
#define PZ_ITEM_META_HEADER_BYTES 16

/* Appends the prepared form of the JSON object `obj`, leaving out the member named `skip_key`
 * (NULL: none), to out. Numbers become doubles (as in google.protobuf.Value). Returns 0; or -1
 * with a reason in err (out then holds a partial value: clear it) when obj is not an object,
 * nests deeper than PZ_ITEM_META_MAX_DEPTH, or the value would exceed out's cap. */
int pz_item_meta_encode(const json_t *obj, const char *skip_key, pz_buf *out, char *err, size_t errlen);

/* Makes the prerendered Struct (server/core/prerendered.h) of a prepared value in the arena. The
 * value is copied into the arena first, so it may live in memory that goes away afterwards (an
 * LMDB page). When columns is not NULL, only top-level entries whose key equals one of
 * columns[0..n_columns) are kept, in stored order (a column the item lacks is simply absent), in
 * both forms. Returns the Struct (arena-owned), or NULL when the value is not well-formed
 * (truncated, sizes or offsets out of range). */
Google__Protobuf__Struct *pz_item_meta_to_struct(const void *value, size_t len, const char *const *columns,
                                                 size_t n_columns, pz_arena *arena);

/* Reads the top-level fields fields[0..n_fields) of a prepared value in one pass (no copy of the
 * value is kept: it may live in an LMDB page): each a string unescaped, a number, or any other
 * value as its JSON text, into out[f] (text in the arena), which must be zeroed (ABSENT); a field
 * the item lacks stays ABSENT. Returns how many were found, or -1 when the value is not
 * well-formed. */
int pz_item_meta_fields(const void *value, size_t len, const char *const *fields, size_t n_fields, pz_field_value *out,
                        pz_arena *arena);

#endif
