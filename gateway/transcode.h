/* JSON <-> protobuf transcoding, driven by protobuf-c message descriptors: one implementation for
 * every message, no per-route code.
 *
 * Mapping (proto3 JSON mapping, also applied to our proto2 messages):
 *   - field names: output uses the lowerCamelCase JSON name (`item_list` -> `itemList`); input
 *     accepts the JSON name or the original field name;
 *   - int32/uint32/sint32/fixed32/sfixed32 and enums-as-numbers: JSON numbers; input also accepts
 *     numeric strings; int64 family: output as strings, input numbers or strings; non-integral or
 *     out-of-range values are errors;
 *   - float/double: numbers; "NaN", "Infinity", "-Infinity" strings accepted and produced;
 *   - bool: true/false; string: JSON string (valid UTF-8); bytes: base64 (standard or URL-safe on
 *     input, standard on output); enum: name string (input also number);
 *   - repeated: JSON array; map<K,V>: JSON object (keys as strings); message: object;
 *   - google.protobuf.Struct/Value/ListValue: native JSON object/value/array;
 *   - null for a field means "absent" on input;
 *   - output omits fields that are absent (proto2 optional without has_, NULL message/string
 *     pointers, empty repeated/map); present optional fields are emitted even when zero (the
 *     grpc-gateway / Envoy question of "emitting unpopulated fields": we emit what is populated,
 *     and an optional field set to zero is populated). Exceptions, one table in
 *     transcode_write.c, so REST keeps upstream's response shape (output only):
 *       RecommendationResponse.item_list, RerankResponse.personalized_ranking: always, [] when empty;
 *       PredictedItem.reason: when non-empty, or [] when PredictedItem.empty_reason is set;
 *       PredictedItem.empty_reason: never (it only marks the empty list);
 *       PredictedItem.custom_fields, RecommendationResponse.custom_fields,
 *       RerankResponse.custom_fields: the Struct's members are written into the enclosing object,
 *       after its other fields;
 *   - unknown fields on input are an error whose message names the JSON path.
 *
 * All memory for decoded messages comes from the given arena. Errors: the functions return
 * PZ_INVALID_ARGUMENT and fill a pz_transcode_error whose message (arena-allocated) reads like
 *   "invalid value for field 'numResults': expected an integer" or
 *   "unknown field 'foo' at $.eventList[0]".
 * Any thread (no shared state).
 */
#ifndef PZ_TRANSCODE_H
#define PZ_TRANSCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "server/core/buf.h"
#include "server/core/json_text.h"
#include "server/core/mem.h"
#include "server/core/status.h"

/* Hard limits on input JSON, so hostile bodies cannot exhaust memory or stack. */
#define PZ_JSON_MAX_DEPTH 64

typedef struct pz_transcode_error {
    const char *message; /* arena-owned, never NULL after a failure */
    bool is_syntax;      /* the text was not JSON at all (as opposed to JSON of the wrong shape) */
} pz_transcode_error;

/* Parses `json` (len bytes, need not be NUL-terminated) as a message of type `desc`. On success
 * returns PZ_OK and *out (arena-owned). On failure returns PZ_INVALID_ARGUMENT and fills *err.
 * A syntax error message says where: "<reason>: line L column C (char N)". A key given twice in
 * one object (also a field given under both its names) is an error, never "last one wins". */
pz_status pz_json_to_message(const ProtobufCMessageDescriptor *desc, const char *json, size_t len, pz_arena *arena,
                             ProtobufCMessage **out, pz_transcode_error *err);

/* Merges `json` (an object) into an existing message: fields present in json overwrite or extend
 * (repeated, map) those of msg; a map key already present gets the new value. Same errors as
 * pz_json_to_message; after a failure msg may hold part of the input. */
pz_status pz_json_merge_into_message(ProtobufCMessage *msg, const char *json, size_t len, pz_arena *arena,
                                     pz_transcode_error *err);

/* Sets one field of msg from a JSON text holding that field's value, e.g. a JSON array of strings
 * for a repeated string field (the POST rerank body). The previous value is replaced (repeated and
 * map fields included); JSON null clears the field. For a repeated scalar field any wrong shape
 * fails with "expected a JSON array of strings for 'itemIds'" (is_syntax false). Errors as above;
 * PZ_NOT_FOUND when msg has no such field. */
pz_status pz_message_set_field_from_json(ProtobufCMessage *msg, const char *name, const char *json, size_t len,
                                         pz_arena *arena, pz_transcode_error *err);

/* How pz_message_set_field_from_text interprets text. */
typedef enum pz_text_mode {
    PZ_TEXT_PLAIN = 0,    /* scalars parsed from the text; repeated scalar: appends one element */
    PZ_TEXT_SPLIT_COMMAS, /* repeated scalar: text is split on ',' (no trimming), one element each */
} pz_text_mode;

/* Sets the field named `name` (JSON name or proto name) of msg from a text value such as a query
 * parameter or a path segment:
 *   - string: the text as is (must be valid UTF-8);
 *   - integers: strict decimal parse ("12", "-3"), anything else is an error;
 *   - float/double: strict parse;
 *   - bool: "1", "yes", "true" (any case) are true, anything else false (upstream semantics);
 *   - enum: name or number;
 *   - map and message fields: the text is parsed as JSON (e.g. context={"DEVICE":"Phone"}) and
 *     merged into the field (map keys added or replaced); a repeated message field takes an array
 *     or a single object, appended; an empty text sets nothing (`context=` is no context, as
 *     upstream treats an empty parameter);
 *   - repeated: see mode; elements are appended.
 * Returns PZ_OK; PZ_NOT_FOUND when msg has no such field (callers decide whether to ignore);
 * PZ_INVALID_ARGUMENT with err naming the parameter when the text does not convert. */
pz_status pz_message_set_field_from_text(ProtobufCMessage *msg, const char *name, const char *text, size_t len,
                                         pz_text_mode mode, pz_arena *arena, pz_transcode_error *err);

/* Writes msg as compact proto3 JSON to out. Returns 0, or -1 when out's cap is exceeded or msg
 * nests deeper than PZ_JSON_MAX_DEPTH JSON containers; out is then left as it was. */
int pz_message_to_json(const ProtobufCMessage *msg, pz_buf *out);

/* How the writer treats a field of a response message (the table in transcode_write.c; see the
 * exceptions in the header comment). Exposed so that documentation (gateway/openapi.h) describes
 * the JSON the writer really produces. */
typedef enum pz_json_emit {
    PZ_JSON_EMIT_DEFAULT = 0, /* present fields only: optional with has_, non-NULL pointers, non-empty lists */
    PZ_JSON_EMIT_ALWAYS,      /* a repeated field written even when empty, as [] */
    PZ_JSON_EMIT_FLAGGED,     /* a repeated field written when non-empty, or as [] when the bool *flag is set */
    PZ_JSON_EMIT_NEVER,       /* a marker for another field's rule: not written */
    PZ_JSON_EMIT_INLINE,      /* a Struct whose members are written into the enclosing object */
} pz_json_emit;
/* The rule for field f of messages of type desc; *flag is set for PZ_JSON_EMIT_FLAGGED. */
pz_json_emit pz_json_field_emit(const ProtobufCMessageDescriptor *desc, const ProtobufCFieldDescriptor *f,
                                const char **flag);

/* True when field f of parent is a map<K,V> (written as a JSON object keyed by K). */
bool pz_json_field_is_map(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f);

/* The lowerCamelCase JSON name of a proto field name, e.g. "user_id" -> "userId". Writes at most
 * outlen bytes including the NUL. */
void pz_json_name(const char *proto_name, char *out, size_t outlen);

#endif
