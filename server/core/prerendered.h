/* A google.protobuf.Struct prepared ahead of time in both of its output forms (item metadata is
 * prepared once, when the catalog is loaded: server/catalog/item_meta.h), so that putting it in a
 * response costs a copy, not a walk:
 *
 *   protobuf  its entries travel as protobuf-c unknown fields: number 1 (Struct.fields), length-
 *             delimited, each holding one encoded Struct.FieldsEntry. protobuf-c packs unknown
 *             fields as they are, so the packed Struct is byte for byte what packing the same entries
 *             as `fields` would give; receivers see an ordinary Struct.
 *   JSON      `json`, the text the transcoder (gateway/transcode.h) would write for the Struct;
 *             pz_message_to_json recognises a prerendered Struct by its descriptor and copies it.
 *
 * Its descriptor is a copy of google.protobuf.Struct's (same name, fields and wire form), so it
 * embeds in a PredictedItem like any Struct. In memory its `fields` are EMPTY (n_fields 0): C code
 * that wants to read the entries calls pz_prerendered_expand. Whoever builds one guarantees that
 * the unknown fields and `json` describe the same object (tests/unit/core/decorate_test.c holds
 * item_meta to that, against protobuf-c and the transcoder).
 *
 * Any thread; no shared state beyond the descriptor, set up once.
 */
#ifndef PZ_PRERENDERED_H
#define PZ_PRERENDERED_H

#include <stdbool.h>
#include <stddef.h>

#include "google/protobuf/struct.pb-c.h"
#include "server/core/mem.h"

typedef struct pz_prerendered_struct {
    Google__Protobuf__Struct msg; /* first: a pz_prerendered_struct * is a Google__Protobuf__Struct * */
    const char *json;             /* the compact JSON object, json_len bytes (need not be NUL-terminated) */
    size_t json_len;
    unsigned json_depth; /* objects/arrays nesting of json, the outer object counting 1 */
} pz_prerendered_struct;

/* Makes s an empty prerendered Struct ("{}", no entries); the caller then sets the entries
 * (msg.base.unknown_fields, n_unknown_fields) and the json members. */
void pz_prerendered_struct_init(pz_prerendered_struct *s);

/* True when m is a prerendered Struct, with its JSON (and nesting) in *json, *len, *depth. */
bool pz_prerendered_json(const ProtobufCMessage *m, const char **json, size_t *len, unsigned *depth);

/* A plain Struct with the same entries as s (decoded into the arena), for C code that reads
 * `fields`; s itself when it is not prerendered. NULL when the entries do not decode. */
Google__Protobuf__Struct *pz_prerendered_expand(const Google__Protobuf__Struct *s, pz_arena *arena);

#endif
