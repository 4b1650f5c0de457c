/* JSON (jansson) to google.protobuf.Struct in an arena (module prefix pz_json_struct), for the
 * admin API's answers that carry JSON objects: statistics, catalog status, configuration
 * documents. Any thread; the arena is the caller's. */
#ifndef PZ_JSON_STRUCT_H
#define PZ_JSON_STRUCT_H

#include <jansson.h>
#include <stddef.h>

#include "google/protobuf/struct.pb-c.h"
#include "server/core/mem.h"

/* A Struct with the members of object `obj` in their order (nested objects and arrays become
 * Struct and ListValue values, numbers doubles). NULL when obj is not an object. */
Google__Protobuf__Struct *pz_json_struct_from(const json_t *obj, pz_arena *arena);

/* Parses text[0..len) as one JSON object into a Struct. NULL when it is not a JSON object. */
Google__Protobuf__Struct *pz_json_struct_parse(const char *text, size_t len, pz_arena *arena);

#endif
