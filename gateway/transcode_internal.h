/* Private to gateway/transcode*.c: descriptor helpers, strict scalar parsers, UTF-8 and base64,
 * and the error context shared by the JSON and text input paths. Not part of the contract. */
#ifndef PZ_TRANSCODE_INTERNAL_H
#define PZ_TRANSCODE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/transcode.h"
#include "server/core/json_text.h"

/* Well-known types with a native JSON form. */
typedef enum pz_tc_wkt {
    PZ_TC_WKT_NONE = 0,
    PZ_TC_WKT_STRUCT,
    PZ_TC_WKT_VALUE,
    PZ_TC_WKT_LIST,
} pz_tc_wkt;

/* Longest JSON name kept for messages; longer names are truncated there (never in lookups). */
#define PZ_TC_NAME_MAX 128
/* Longest JSON path kept for error messages; deeper paths are truncated. */
#define PZ_TC_PATH_MAX 256

static inline void *pz_tc_member(const ProtobufCMessage *m, unsigned offset)
{
    return (char *)m + offset;
}

pz_tc_wkt pz_tc_wkt_of(const ProtobufCMessageDescriptor *desc);
/* True when f (a field of parent) is a map<K,V>: a repeated field of its synthesized XxxEntry. */
bool pz_tc_is_map(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f);
/* The field named `name` (proto name or JSON name), or NULL. */
const ProtobufCFieldDescriptor *pz_tc_find_field(const ProtobufCMessageDescriptor *desc, const char *name);
/* Bytes one value of type t occupies in a repeated array. */
size_t pz_tc_elem_size(ProtobufCType t);
/* Whether the output should carry field f of m (see the presence rules in transcode.h). */
bool pz_tc_field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);
/* Marks a singular field present (has_ flag or oneof case); no-op for pointer-typed fields. */
void pz_tc_mark_present(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);

/* Bytes of s[0..len) to keep so that at most max bytes remain, cut at a character boundary. */
size_t pz_tc_utf8_trim(const char *s, size_t len, size_t max);

/* Strict decimal integer: optional '-', one or more digits, nothing else. canonical also rejects
 * leading zeros and "-0" (map keys: one spelling per key). Returns false on syntax errors;
 * *overflow is set when the digits do not fit 64 bits. */
bool pz_tc_parse_decimal(const char *s, size_t len, bool canonical, bool *negative, uint64_t *magnitude,
                         bool *overflow);
/* Strict number: the JSON number grammar or "NaN", "Infinity", "-Infinity". */
bool pz_tc_parse_double(const char *s, size_t len, double *out);
/* Standard or URL-safe base64, padding optional. Returns false when invalid. */
bool pz_tc_base64_decode(pz_arena *arena, const char *s, size_t len, ProtobufCBinaryData *out);
/* Enum value by name (exact), or NULL. */
const ProtobufCEnumValue *pz_tc_enum_by_name(const ProtobufCEnumDescriptor *e, const char *name, size_t len);

/* Where an input error happened: the field (NULL for the whole body) and, inside a repeated or map
 * field, the element index or map key. */
typedef struct pz_tc_loc {
    const ProtobufCFieldDescriptor *field;
    const ProtobufCFieldDescriptor *type; /* field whose type the value has (map entry value) */
    long index;                           /* -1 when not an element */
    const char *key;                      /* NULL when not a map value */
} pz_tc_loc;

typedef struct pz_tc_ctx {
    pz_arena *arena;
    pz_transcode_error *err;
    bool merge;                                /* messages merge into existing submessages, maps update keys */
    const char *param;                         /* text mode: the parameter's JSON name */
    const ProtobufCFieldDescriptor *top_field; /* the field set by the set_field functions */
    bool array_body;                           /* set_field_from_json on a repeated scalar: one message for all */
    char path[PZ_TC_PATH_MAX];                 /* "$", "$.eventList[0]", ... */
    size_t path_len;
} pz_tc_ctx;

void pz_tc_ctx_init(pz_tc_ctx *ctx, pz_arena *arena, pz_transcode_error *err);
/* Appends a segment to ctx->path; returns the length to restore afterwards. */
size_t pz_tc_path_push(pz_tc_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pz_tc_path_pop(pz_tc_ctx *ctx, size_t len);

/* Fail helpers: fill ctx->err and return -1. */
int pz_tc_fail(pz_tc_ctx *ctx, bool is_syntax, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "invalid value for field 'x' at $.path: <reason> at index 3" (or the parameter/array forms). */
int pz_tc_fail_value(pz_tc_ctx *ctx, const pz_tc_loc *loc, const char *reason);

/* Text mode: converts text (a query parameter or path segment) to one scalar of loc->type's type
 * into slot. Message-typed fields are not handled here. */
int pz_tc_scalar_from_text(pz_tc_ctx *ctx, const pz_tc_loc *loc, void *slot, const char *text, size_t len);
/* A map key (always a string in JSON) into slot, for the key field kf of an entry. */
int pz_tc_map_key_from_string(pz_tc_ctx *ctx, const pz_tc_loc *loc, const ProtobufCFieldDescriptor *kf, void *slot,
                              const char *key, size_t len);
/* Signed or unsigned integer range check and store for 32/64-bit integer types. */
int pz_tc_store_integer(pz_tc_ctx *ctx, const pz_tc_loc *loc, void *slot, bool negative, uint64_t magnitude);
/* "integer out of range for <type>" for loc. */
int pz_tc_fail_range(pz_tc_ctx *ctx, const pz_tc_loc *loc);
/* Range check and store for float/double. */
int pz_tc_store_double(pz_tc_ctx *ctx, const pz_tc_loc *loc, void *slot, double d);

#endif
