/* google.protobuf.Struct from and to JSON, for item metadata that remote recommenders return
 * (Personalize metadataColumns, Lambda/SageMaker/http responses: parsed with json_read.h) and send
 * (post-processor payloads: jansson). Any thread; the arena is the caller's (one thread at a time).
 */
#ifndef PZ_STRUCT_JSON_H
#define PZ_STRUCT_JSON_H

#include <jansson.h>

#include "google/protobuf/struct.pb-c.h"
#include "server/core/mem.h"
#include "server/upstream/json_read.h"

/* Objects and arrays nest at most this deep inside one metadata object (the object is level 1). */
#define PZ_STRUCT_JSON_MAX_DEPTH 32

/* Builds a Struct in the arena from a parsed upstream object (json_read.h); strings are shared
 * with the tree (same arena), not copied. Returns NULL when obj is not an object or nests deeper
 * than PZ_STRUCT_JSON_MAX_DEPTH. */
Google__Protobuf__Struct *pz_struct_from_jvalue(const pz_jvalue *obj, pz_arena *arena);

/* The members of a parsed upstream object other than those named in skip[0..n_skip), as a Struct
 * in the arena (strings shared with the tree), for the fields a response message does not name.
 * A key given twice keeps its first value (as pz_jvalue_get reads the named ones). Returns 0 with
 * *out (NULL when no member is left), or -1 when more than max_fields members are left or a value
 * nests deeper than PZ_STRUCT_JSON_MAX_DEPTH (obj is level 1). */
int pz_struct_from_other_members(const pz_jvalue *obj, const char *const *skip, size_t n_skip, size_t max_fields,
                                 pz_arena *arena, Google__Protobuf__Struct **out);

/* A new JSON object (caller json_decref's) from a Struct. Never NULL. */
json_t *pz_struct_to_json(const Google__Protobuf__Struct *s);

#endif
