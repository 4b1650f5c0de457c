/* protobuf-c messages -> compact proto3 JSON, written straight into a bounded pz_buf (no jansson:
 * a REST response is built this way on every request).
 *
 * Numbers: integers in decimal (64-bit ones as strings); doubles with the shortest of %.15g,
 * %.16g, %.17g that reads back to the same value (so 1.0 is `1`, 0.1 is `0.1`), floats likewise
 * with 6 to 9 digits; negative zero as `-0.0` (JSON parsers read `-0` as the integer 0); non-finite values as "NaN",
 * "Infinity", "-Infinity" (as null inside a google.protobuf.Value, which has no string form for them). Strings: invalid
 * UTF-8 is replaced by U+FFFD, control characters and U+2028/U+2029 are escaped. */
#include "gateway/transcode.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/transcode_internal.h"
#include "google/protobuf/struct.pb-c.h"
#include "personalization/v1/personalization.pb-c.h"
#include "server/core/base64.h"
#include "server/core/prerendered.h"

#define PUT_LIT(out, lit) pz_buf_append((out), (lit), sizeof(lit) - 1)

static int write_message(pz_buf *out, const ProtobufCMessage *m, int depth);

/* ---- what is written: the default rule and the fields that differ (transcode.h) ---- */

/* The response fields whose JSON differs from the default, so that REST answers keep upstream's
 * shape: clients of upstream read `itemList` and `personalizedRanking` even when nothing was
 * found, an item's `reason` exactly as the recommender gave it, and the fields a Lambda, SageMaker
 * or http recommender added where it put them. tests/unit/gateway/transcode_test pins each row. */
static const struct {
    const ProtobufCMessageDescriptor *message;
    const char *field;
    pz_json_emit rule;
    const char *flag; /* PZ_JSON_EMIT_FLAGGED: the field that says an empty list was given */
} EMIT_RULES[] = {
    {&personalization__v1__recommendation_response__descriptor, "item_list", PZ_JSON_EMIT_ALWAYS, NULL},
    {&personalization__v1__recommendation_response__descriptor, "custom_fields", PZ_JSON_EMIT_INLINE, NULL},
    {&personalization__v1__rerank_response__descriptor, "personalized_ranking", PZ_JSON_EMIT_ALWAYS, NULL},
    {&personalization__v1__rerank_response__descriptor, "custom_fields", PZ_JSON_EMIT_INLINE, NULL},
    {&personalization__v1__predicted_item__descriptor, "reason", PZ_JSON_EMIT_FLAGGED, "empty_reason"},
    {&personalization__v1__predicted_item__descriptor, "empty_reason", PZ_JSON_EMIT_NEVER, NULL},
    {&personalization__v1__predicted_item__descriptor, "custom_fields", PZ_JSON_EMIT_INLINE, NULL},
};

pz_json_emit pz_json_field_emit(const ProtobufCMessageDescriptor *desc, const ProtobufCFieldDescriptor *f,
                                const char **flag)
{
    for (size_t i = 0; i < sizeof EMIT_RULES / sizeof EMIT_RULES[0]; i++) {
        if (EMIT_RULES[i].message == desc && strcmp(EMIT_RULES[i].field, f->name) == 0) {
            *flag = EMIT_RULES[i].flag;
            return EMIT_RULES[i].rule;
        }
    }
    return PZ_JSON_EMIT_DEFAULT;
}

/* Whether field f of m is written under rule r. */
static bool emitted(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, pz_json_emit r, const char *flag)
{
    switch (r) {
    case PZ_JSON_EMIT_ALWAYS: return true;
    case PZ_JSON_EMIT_NEVER: return false;
    case PZ_JSON_EMIT_FLAGGED: {
        if (pz_tc_field_present(m, f))
            return true;
        const ProtobufCFieldDescriptor *ff = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, flag);
        return ff != NULL && ff->type == PROTOBUF_C_TYPE_BOOL && pz_tc_field_present(m, ff) &&
               *(const protobuf_c_boolean *)pz_tc_member(m, ff->offset);
    }
    case PZ_JSON_EMIT_DEFAULT:
    case PZ_JSON_EMIT_INLINE: break;
    }
    return pz_tc_field_present(m, f);
}

/* ---- strings ---- */

static int write_cstring(pz_buf *out, const char *s)
{
    return s == NULL ? PUT_LIT(out, "\"\"") : pz_json_write_string(out, s, strlen(s));
}

/* `"jsonName":` for a proto field name (identifiers only: nothing to escape). */
static int write_key(pz_buf *out, const char *proto_name)
{
    char buf[PZ_TC_NAME_MAX + 3];
    size_t n = 0;
    bool upper_next = false;
    buf[n++] = '"';
    for (const char *p = proto_name; *p != '\0'; p++) {
        if (n >= sizeof buf - 1) {
            if (pz_buf_append(out, buf, n) != 0)
                return -1;
            n = 0;
        }
        if (*p == '_') {
            upper_next = true;
            continue;
        }
        buf[n++] = upper_next && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
        upper_next = false;
    }
    if (pz_buf_append(out, buf, n) != 0)
        return -1;
    return PUT_LIT(out, "\":");
}

static int write_base64(pz_buf *out, const ProtobufCBinaryData *b)
{
    if (pz_buf_append_char(out, '"') != 0 || pz_base64_append(out, b->data, b->len) != 0)
        return -1;
    return pz_buf_append_char(out, '"');
}

/* ---- numbers ---- */

static int write_nonfinite(pz_buf *out, double d)
{
    if (isnan(d))
        return PUT_LIT(out, "\"NaN\"");
    return d > 0 ? PUT_LIT(out, "\"Infinity\"") : PUT_LIT(out, "\"-Infinity\"");
}

static int write_double(pz_buf *out, double d)
{
    if (!isfinite(d))
        return write_nonfinite(out, d);
    if (d == 0 && signbit(d))
        return PUT_LIT(out, "-0.0"); /* "-0" would read back as the integer 0 */
    char buf[40];
    size_t n = pz_format_double_roundtrip(d, buf);
    return pz_buf_append(out, buf, n);
}

static int write_float(pz_buf *out, float f)
{
    if (!isfinite(f) || f == 0)
        return write_double(out, f);
    char buf[40];
    int n = 0;
    for (int precision = 6; precision <= 9; precision++) {
        n = snprintf(buf, sizeof buf, "%.*g", precision, (double)f);
        if ((float)strtod(buf, NULL) == f)
            break;
    }
    return pz_buf_append(out, buf, (size_t)n);
}

/* ---- values ---- */

static int write_enum(pz_buf *out, const ProtobufCFieldDescriptor *f, int32_t value)
{
    const ProtobufCEnumDescriptor *e = f->descriptor;
    if (strcmp(e->name, "google.protobuf.NullValue") == 0)
        return PUT_LIT(out, "null");
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(e, value);
    if (v != NULL)
        return pz_json_write_string(out, v->name, strlen(v->name));
    char buf[16];
    int n = snprintf(buf, sizeof buf, "%" PRId32, value);
    return pz_buf_append(out, buf, (size_t)n);
}

/* One value of f's type stored at slot. */
static int write_single(pz_buf *out, const ProtobufCFieldDescriptor *f, const void *slot, int depth)
{
    char buf[32];
    int n;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: n = snprintf(buf, sizeof buf, "%" PRId32, *(const int32_t *)slot); break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: n = snprintf(buf, sizeof buf, "%" PRIu32, *(const uint32_t *)slot); break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: n = snprintf(buf, sizeof buf, "\"%" PRId64 "\"", *(const int64_t *)slot); break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: n = snprintf(buf, sizeof buf, "\"%" PRIu64 "\"", *(const uint64_t *)slot); break;
    case PROTOBUF_C_TYPE_FLOAT: return write_float(out, *(const float *)slot);
    case PROTOBUF_C_TYPE_DOUBLE: return write_double(out, *(const double *)slot);
    case PROTOBUF_C_TYPE_BOOL: return *(const protobuf_c_boolean *)slot ? PUT_LIT(out, "true") : PUT_LIT(out, "false");
    case PROTOBUF_C_TYPE_STRING: return write_cstring(out, *(char *const *)slot);
    case PROTOBUF_C_TYPE_BYTES: return write_base64(out, slot);
    case PROTOBUF_C_TYPE_ENUM: return write_enum(out, f, *(const int32_t *)slot);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)slot;
        if (m != NULL)
            return write_message(out, m, depth);
        return pz_tc_wkt_of(f->descriptor) == PZ_TC_WKT_VALUE ? PUT_LIT(out, "null") : PUT_LIT(out, "{}");
    }
    default: return -1;
    }
    return pz_buf_append(out, buf, (size_t)n);
}

/* Opens a container at `depth` containers deep; refuses to go beyond PZ_JSON_MAX_DEPTH. */
static int open_container(pz_buf *out, char c, int depth)
{
    return depth >= PZ_JSON_MAX_DEPTH ? -1 : pz_buf_append_char(out, c);
}

static int write_map_key(pz_buf *out, const ProtobufCFieldDescriptor *kf, const void *slot)
{
    if (kf->type == PROTOBUF_C_TYPE_STRING)
        return write_cstring(out, *(char *const *)slot);
    if (kf->type == PROTOBUF_C_TYPE_BOOL)
        return *(const protobuf_c_boolean *)slot ? PUT_LIT(out, "\"true\"") : PUT_LIT(out, "\"false\"");
    char buf[32];
    int n;
    switch (kf->type) {
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: n = snprintf(buf, sizeof buf, "\"%" PRIu32 "\"", *(const uint32_t *)slot); break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: n = snprintf(buf, sizeof buf, "\"%" PRId64 "\"", *(const int64_t *)slot); break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: n = snprintf(buf, sizeof buf, "\"%" PRIu64 "\"", *(const uint64_t *)slot); break;
    default: n = snprintf(buf, sizeof buf, "\"%" PRId32 "\"", *(const int32_t *)slot); break;
    }
    return pz_buf_append(out, buf, (size_t)n);
}

static int write_map(pz_buf *out, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, int depth)
{
    const ProtobufCMessageDescriptor *entry_desc = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &entry_desc->fields[0], *vf = &entry_desc->fields[1];
    size_t n = *(const size_t *)pz_tc_member(m, f->quantifier_offset);
    ProtobufCMessage *const *entries = *(ProtobufCMessage *const *const *)pz_tc_member(m, f->offset);
    if (open_container(out, '{', depth) != 0)
        return -1;
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessage *e = entries[i];
        if (e == NULL)
            continue;
        if ((!first && pz_buf_append_char(out, ',') != 0) || write_map_key(out, kf, pz_tc_member(e, kf->offset)) != 0 ||
            pz_buf_append_char(out, ':') != 0 || write_single(out, vf, pz_tc_member(e, vf->offset), depth + 1) != 0)
            return -1;
        first = false;
    }
    return pz_buf_append_char(out, '}');
}

static int write_array(pz_buf *out, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, int depth)
{
    size_t n = *(const size_t *)pz_tc_member(m, f->quantifier_offset);
    const char *data = *(const char *const *)pz_tc_member(m, f->offset);
    size_t es = pz_tc_elem_size(f->type);
    if (open_container(out, '[', depth) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((i != 0 && pz_buf_append_char(out, ',') != 0) || write_single(out, f, data + i * es, depth + 1) != 0)
            return -1;
    return pz_buf_append_char(out, ']');
}

static int write_value(pz_buf *out, const Google__Protobuf__Value *v, int depth)
{
    switch (v->kind_case) {
    case GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE:
        return isfinite(v->number_value) ? write_double(out, v->number_value) : PUT_LIT(out, "null");
    case GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE: return write_cstring(out, v->string_value);
    case GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE: return v->bool_value ? PUT_LIT(out, "true") : PUT_LIT(out, "false");
    case GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE:
        if (v->struct_value == NULL)
            return open_container(out, '{', depth) != 0 ? -1 : pz_buf_append_char(out, '}');
        return write_message(out, &v->struct_value->base, depth);
    case GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE:
        if (v->list_value == NULL)
            return open_container(out, '[', depth) != 0 ? -1 : pz_buf_append_char(out, ']');
        return write_message(out, &v->list_value->base, depth);
    default: return PUT_LIT(out, "null");
    }
}

/* A Struct: the walk of its fields, or a copy of its JSON when it is prerendered
 * (server/core/prerendered.h), under the same depth limit. */
static int write_struct(pz_buf *out, const ProtobufCMessage *m, int depth)
{
    const char *json;
    size_t len;
    unsigned json_depth;
    if (pz_prerendered_json(m, &json, &len, &json_depth))
        return depth + (int)json_depth > PZ_JSON_MAX_DEPTH ? -1 : pz_buf_append(out, json, len);
    return write_map(out, m, &m->descriptor->fields[0], depth);
}

/* The members of Struct s (PZ_JSON_EMIT_INLINE) as members of the object being written, after `first`
 * tells whether one was written before. */
static int write_inline_struct(pz_buf *out, const Google__Protobuf__Struct *s, int depth, bool *first)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        const Google__Protobuf__Struct__FieldsEntry *e = s->fields[i];
        if (e == NULL)
            continue;
        if ((!*first && pz_buf_append_char(out, ',') != 0) || write_cstring(out, e->key) != 0 ||
            pz_buf_append_char(out, ':') != 0)
            return -1;
        *first = false;
        int rc = e->value != NULL ? write_value(out, e->value, depth) : PUT_LIT(out, "null");
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int write_message(pz_buf *out, const ProtobufCMessage *m, int depth)
{
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    switch (pz_tc_wkt_of(desc)) {
    case PZ_TC_WKT_VALUE: return write_value(out, (const Google__Protobuf__Value *)m, depth);
    case PZ_TC_WKT_STRUCT: return write_struct(out, m, depth);
    case PZ_TC_WKT_LIST: return write_array(out, m, &desc->fields[0], depth);
    default: break;
    }
    if (open_container(out, '{', depth) != 0)
        return -1;
    bool first = true;
    const ProtobufCMessage *inline_struct = NULL; /* written after the named fields */
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        const char *flag = NULL;
        pz_json_emit rule = pz_json_field_emit(desc, f, &flag);
        if (!emitted(m, f, rule, flag))
            continue;
        if (rule == PZ_JSON_EMIT_INLINE) {
            inline_struct = *(ProtobufCMessage *const *)pz_tc_member(m, f->offset);
            continue;
        }
        if ((!first && pz_buf_append_char(out, ',') != 0) || write_key(out, f->name) != 0)
            return -1;
        first = false;
        int rc;
        if (f->label != PROTOBUF_C_LABEL_REPEATED)
            rc = write_single(out, f, pz_tc_member(m, f->offset), depth + 1);
        else if (pz_tc_is_map(desc, f))
            rc = write_map(out, m, f, depth + 1);
        else
            rc = write_array(out, m, f, depth + 1);
        if (rc != 0)
            return -1;
    }
    if (inline_struct != NULL && pz_tc_wkt_of(inline_struct->descriptor) == PZ_TC_WKT_STRUCT &&
        write_inline_struct(out, (const Google__Protobuf__Struct *)inline_struct, depth + 1, &first) != 0)
        return -1;
    return pz_buf_append_char(out, '}');
}

int pz_message_to_json(const ProtobufCMessage *msg, pz_buf *out)
{
    size_t start = out->len;
    if (write_message(out, msg, 0) == 0)
        return 0;
    out->len = start; /* leave out as it was */
    if (out->data != NULL)
        out->data[start] = '\0';
    return -1;
}
