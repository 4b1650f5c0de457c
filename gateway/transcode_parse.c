/* JSON (and query-parameter text) -> protobuf-c messages, driven by the message descriptors.
 *
 * Input JSON is parsed with jansson (JSON_REJECT_DUPLICATES: a key given twice in one object is a
 * syntax error, so no "last one wins" ambiguity) after a byte scan that enforces
 * PZ_JSON_MAX_DEPTH, then walked against the descriptor. Everything decoded lives in the arena. */
#include "gateway/transcode.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "gateway/transcode_internal.h"
#include "google/protobuf/struct.pb-c.h"

/* Any singular value of any field type, for converting before storing. */
typedef union scalar_slot {
    int32_t i32;
    int64_t i64;
    float f;
    double d;
    protobuf_c_boolean b;
    char *s;
    ProtobufCBinaryData bytes;
    ProtobufCMessage *msg;
} scalar_slot;

static int message_value(pz_tc_ctx *ctx, const pz_tc_loc *loc, const ProtobufCMessageDescriptor *desc,
                         ProtobufCMessage **slot, json_t *v);
static int map_from_json(pz_tc_ctx *ctx, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t *v);

/* ---- loading ---- */

static void line_column(const char *s, size_t pos, int *line, int *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < pos; i++) {
        if (s[i] == '\n') {
            (*line)++;
            *column = 1;
        } else if (((unsigned char)s[i] & 0xC0) != 0x80) {
            (*column)++;
        }
    }
}

/* Rejects nesting deeper than PZ_JSON_MAX_DEPTH before jansson builds a tree of it. Brackets
 * inside strings do not count; malformed text is left for jansson to report. */
static int check_depth(pz_tc_ctx *ctx, const char *s, size_t len)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > PZ_JSON_MAX_DEPTH) {
                int line, column;
                line_column(s, i, &line, &column);
                return pz_tc_fail(ctx, false, "JSON nested deeper than %d levels: line %d column %d (char %zu)",
                                  PZ_JSON_MAX_DEPTH, line, column, i);
            }
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 0;
}

static int load(pz_tc_ctx *ctx, const char *text, size_t len, json_t **out)
{
    if (text == NULL) {
        text = "";
        len = 0;
    }
    if (check_depth(ctx, text, len) != 0)
        return -1;
    json_error_t e;
    *out = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
    if (*out != NULL)
        return 0;
    int column = e.column > 0 ? e.column : 1;
    if (ctx->param != NULL)
        return pz_tc_fail(ctx, true, "expected JSON (%s: line %d column %d (char %d))", e.text, e.line, column,
                          e.position);
    return pz_tc_fail(ctx, true, "%s: line %d column %d (char %d)", e.text, e.line, column, e.position);
}

/* ---- scalars ---- */

static bool is_null_enum(const ProtobufCFieldDescriptor *f)
{
    return f->type == PROTOBUF_C_TYPE_ENUM &&
           strcmp(((const ProtobufCEnumDescriptor *)f->descriptor)->name, "google.protobuf.NullValue") == 0;
}

/* Whether JSON null is a value of f (google.protobuf.Value and NullValue) rather than "absent". */
static bool null_is_value(const ProtobufCFieldDescriptor *f)
{
    return is_null_enum(f) || (f->type == PROTOBUF_C_TYPE_MESSAGE && pz_tc_wkt_of(f->descriptor) == PZ_TC_WKT_VALUE);
}

static int integer_from_json(pz_tc_ctx *ctx, const pz_tc_loc *loc, void *slot, json_t *v)
{
    bool negative = false, overflow = false;
    uint64_t magnitude = 0;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        negative = i < 0;
        magnitude = negative ? 0 - (uint64_t)i : (uint64_t)i;
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d))
            return pz_tc_fail_value(ctx, loc, "expected an integer");
        negative = d < 0;
        overflow = fabs(d) >= 18446744073709551616.0;
        magnitude = overflow ? 0 : (uint64_t)fabs(d);
    } else if (!json_is_string(v) || !pz_tc_parse_decimal(json_string_value(v), json_string_length(v), false, &negative,
                                                          &magnitude, &overflow)) {
        return pz_tc_fail_value(ctx, loc, "expected an integer");
    }
    if (overflow)
        return pz_tc_fail_range(ctx, loc);
    return pz_tc_store_integer(ctx, loc, slot, negative, magnitude);
}

static int enum_from_json(pz_tc_ctx *ctx, const pz_tc_loc *loc, void *slot, json_t *v)
{
    const ProtobufCEnumDescriptor *e = loc->type->descriptor;
    if (json_is_null(v) && is_null_enum(loc->type)) {
        *(int32_t *)slot = 0;
        return 0;
    }
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        return pz_tc_store_integer(ctx, loc, slot, i < 0, i < 0 ? 0 - (uint64_t)i : (uint64_t)i);
    }
    if (!json_is_string(v))
        return pz_tc_fail_value(ctx, loc, "expected an enum name or number");
    const ProtobufCEnumValue *value = pz_tc_enum_by_name(e, json_string_value(v), json_string_length(v));
    if (value == NULL) {
        char reason[160];
        size_t len = json_string_length(v);
        snprintf(reason, sizeof reason, "unknown value '%.*s' for enum %s",
                 (int)pz_tc_utf8_trim(json_string_value(v), len, 64), json_string_value(v), e->name);
        return pz_tc_fail_value(ctx, loc, reason);
    }
    *(int32_t *)slot = value->value;
    return 0;
}

/* One non-message value of loc->type's type from v into slot. */
static int scalar_from_json(pz_tc_ctx *ctx, const pz_tc_loc *loc, void *slot, json_t *v)
{
    double d;
    switch (loc->type->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (!json_is_string(v))
            return pz_tc_fail_value(ctx, loc, "expected a string");
        *(char **)slot = pz_arena_strndup(ctx->arena, json_string_value(v), json_string_length(v));
        return 0;
    case PROTOBUF_C_TYPE_BYTES:
        if (!json_is_string(v) || !pz_tc_base64_decode(ctx->arena, json_string_value(v), json_string_length(v), slot))
            return pz_tc_fail_value(ctx, loc, "expected a base64 string");
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return pz_tc_fail_value(ctx, loc, "expected true or false");
        *(protobuf_c_boolean *)slot = json_is_true(v);
        return 0;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        if (json_is_number(v))
            d = json_number_value(v);
        else if (!json_is_string(v) || !pz_tc_parse_double(json_string_value(v), json_string_length(v), &d))
            return pz_tc_fail_value(ctx, loc, "expected a number");
        return pz_tc_store_double(ctx, loc, slot, d);
    case PROTOBUF_C_TYPE_ENUM: return enum_from_json(ctx, loc, slot, v);
    case PROTOBUF_C_TYPE_MESSAGE: return pz_tc_fail_value(ctx, loc, "expected an object");
    default: return integer_from_json(ctx, loc, slot, v);
    }
}

/* ---- messages ---- */

static void value_from_json(pz_tc_ctx *ctx, Google__Protobuf__Value *val, json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
        val->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
        val->null_value = GOOGLE__PROTOBUF__NULL_VALUE__NULL_VALUE;
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        val->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
        val->bool_value = json_is_true(v);
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        val->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
        val->number_value = json_number_value(v);
        break;
    case JSON_STRING:
        val->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
        val->string_value = pz_arena_strndup(ctx->arena, json_string_value(v), json_string_length(v));
        break;
    case JSON_OBJECT: {
        Google__Protobuf__Struct *s =
            (Google__Protobuf__Struct *)pz_arena_new_message(ctx->arena, &google__protobuf__struct__descriptor);
        map_from_json(ctx, &s->base, &google__protobuf__struct__descriptor.fields[0], v); /* cannot fail */
        val->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
        val->struct_value = s;
        break;
    }
    case JSON_ARRAY: {
        Google__Protobuf__ListValue *l =
            (Google__Protobuf__ListValue *)pz_arena_new_message(ctx->arena, &google__protobuf__list_value__descriptor);
        size_t n = json_array_size(v);
        l->values = pz_arena_alloc(ctx->arena, n * sizeof *l->values);
        for (size_t i = 0; i < n; i++) {
            l->values[i] =
                (Google__Protobuf__Value *)pz_arena_new_message(ctx->arena, &google__protobuf__value__descriptor);
            value_from_json(ctx, l->values[i], json_array_get(v, i));
        }
        l->n_values = n;
        val->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
        val->list_value = l;
        break;
    }
    }
}

static int set_repeated(pz_tc_ctx *ctx, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t *v);

/* Fills an object's fields into m. fresh: m was created for this object (required fields must
 * then all be given). */
static int object_into_message(pz_tc_ctx *ctx, ProtobufCMessage *m, json_t *obj, bool fresh);

static bool kind_matches(pz_tc_wkt wkt, json_t *v, const char **expected)
{
    switch (wkt) {
    case PZ_TC_WKT_VALUE: return true;
    case PZ_TC_WKT_LIST: *expected = "expected an array"; return json_is_array(v);
    default: *expected = "expected an object"; return json_is_object(v);
    }
}

/* A message-typed value (field, element or map value, or the whole body when loc->field is NULL)
 * into *slot: merged into the existing message in merge mode, a new message otherwise. */
static int message_value(pz_tc_ctx *ctx, const pz_tc_loc *loc, const ProtobufCMessageDescriptor *desc,
                         ProtobufCMessage **slot, json_t *v)
{
    pz_tc_wkt wkt = pz_tc_wkt_of(desc);
    const char *expected;
    if (!kind_matches(wkt, v, &expected))
        return pz_tc_fail_value(ctx, loc, expected);
    ProtobufCMessage *m = ctx->merge ? *slot : NULL;
    bool fresh = m == NULL;
    if (fresh)
        m = pz_arena_new_message(ctx->arena, desc);
    size_t saved = ctx->path_len;
    if (loc->field != NULL) {
        char name[PZ_TC_NAME_MAX];
        pz_json_name(loc->field->name, name, sizeof name);
        if (loc->index >= 0)
            pz_tc_path_push(ctx, ".%s[%ld]", name, loc->index);
        else if (loc->key != NULL)
            pz_tc_path_push(ctx, ".%s[\"%.*s\"]", name, (int)pz_tc_utf8_trim(loc->key, strlen(loc->key), 64), loc->key);
        else
            pz_tc_path_push(ctx, ".%s", name);
    }
    int rc = 0;
    switch (wkt) {
    case PZ_TC_WKT_VALUE: value_from_json(ctx, (Google__Protobuf__Value *)m, v); break;
    case PZ_TC_WKT_STRUCT: rc = map_from_json(ctx, m, &desc->fields[0], v); break;
    case PZ_TC_WKT_LIST: rc = set_repeated(ctx, m, &desc->fields[0], v); break;
    default: rc = object_into_message(ctx, m, v, fresh); break;
    }
    pz_tc_path_pop(ctx, saved);
    if (rc == 0)
        *slot = m;
    return rc;
}

/* One element or singular value of any type into slot. */
static int value_into_slot(pz_tc_ctx *ctx, const pz_tc_loc *loc, void *slot, json_t *v)
{
    if (loc->type->type == PROTOBUF_C_TYPE_MESSAGE)
        return message_value(ctx, loc, loc->type->descriptor, slot, v);
    return scalar_from_json(ctx, loc, slot, v);
}

/* Allocates room for `add` more elements after the `keep` first existing ones of repeated field
 * f; returns the new array (not yet stored in m). */
static void *grow_repeated(pz_tc_ctx *ctx, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, size_t keep,
                           size_t add)
{
    size_t es = pz_tc_elem_size(f->type);
    char *data = pz_arena_calloc(ctx->arena, keep + add, es);
    if (keep != 0)
        memcpy(data, *(void **)pz_tc_member(m, f->offset), keep * es);
    return data;
}

static void commit_repeated(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, void *data, size_t n)
{
    *(void **)pz_tc_member(m, f->offset) = n != 0 ? data : NULL;
    *(size_t *)pz_tc_member(m, f->quantifier_offset) = n;
}

static size_t existing_count(pz_tc_ctx *ctx, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    return ctx->merge ? *(size_t *)pz_tc_member(m, f->quantifier_offset) : 0;
}

/* A JSON array into repeated field f: appended in merge mode, replacing otherwise. */
static int set_repeated(pz_tc_ctx *ctx, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t *v)
{
    pz_tc_loc loc = {.field = f, .type = f, .index = -1, .key = NULL};
    if (!json_is_array(v))
        return pz_tc_fail_value(ctx, &loc, "expected an array");
    size_t old = existing_count(ctx, m, f);
    size_t n = json_array_size(v);
    size_t es = pz_tc_elem_size(f->type);
    char *data = grow_repeated(ctx, m, f, old, n);
    for (size_t i = 0; i < n; i++) {
        loc.index = (long)i;
        if (value_into_slot(ctx, &loc, data + (old + i) * es, json_array_get(v, i)) != 0)
            return -1;
    }
    commit_repeated(m, f, data, old + n);
    return 0;
}

static bool same_key(const ProtobufCFieldDescriptor *kf, const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    const void *ka = pz_tc_member(a, kf->offset), *kb = pz_tc_member(b, kf->offset);
    if (kf->type == PROTOBUF_C_TYPE_STRING)
        return strcmp(*(char *const *)ka, *(char *const *)kb) == 0;
    return memcmp(ka, kb, pz_tc_elem_size(kf->type)) == 0;
}

/* A JSON object into map field f (keys converted from strings). In merge mode a key already in
 * the map gets the new value in place; otherwise the map is replaced. */
static int map_from_json(pz_tc_ctx *ctx, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t *v)
{
    pz_tc_loc loc = {.field = f, .type = f, .index = -1, .key = NULL};
    if (!json_is_object(v))
        return pz_tc_fail_value(ctx, &loc, "expected an object");
    const ProtobufCMessageDescriptor *entry_desc = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &entry_desc->fields[0], *vf = &entry_desc->fields[1];
    size_t old = existing_count(ctx, m, f);
    ProtobufCMessage **entries = grow_repeated(ctx, m, f, old, json_object_size(v));
    size_t used = old;
    const char *key;
    json_t *value;
    json_object_foreach (v, key, value) {
        ProtobufCMessage *entry = pz_arena_new_message(ctx->arena, entry_desc);
        pz_tc_loc vloc = {.field = f, .type = vf, .index = -1, .key = key};
        if (pz_tc_map_key_from_string(ctx, &vloc, kf, pz_tc_member(entry, kf->offset), key, strlen(key)) != 0)
            return -1;
        pz_tc_mark_present(entry, kf);
        bool merge = ctx->merge;
        ctx->merge = false; /* a map value is replaced as a whole */
        int rc = value_into_slot(ctx, &vloc, pz_tc_member(entry, vf->offset), value);
        ctx->merge = merge;
        if (rc != 0)
            return -1;
        pz_tc_mark_present(entry, vf);
        size_t i = 0;
        while (i < old && !same_key(kf, entries[i], entry))
            i++;
        if (i < old)
            entries[i] = entry;
        else
            entries[used++] = entry;
    }
    commit_repeated(m, f, entries, used);
    return 0;
}

/* Singular field f of m from v (not null unless null is a value of f's type). */
static int set_singular(pz_tc_ctx *ctx, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t *v)
{
    pz_tc_loc loc = {.field = f, .type = f, .index = -1, .key = NULL};
    void *member = pz_tc_member(m, f->offset);
    scalar_slot tmp;
    memset(&tmp, 0, sizeof tmp);
    bool oneof_other =
        (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *(uint32_t *)pz_tc_member(m, f->quantifier_offset) != f->id;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE && !oneof_other)
        tmp.msg = *(ProtobufCMessage **)member; /* merged into in merge mode */
    if (value_into_slot(ctx, &loc, &tmp, v) != 0)
        return -1;
    memcpy(member, &tmp, pz_tc_elem_size(f->type));
    pz_tc_mark_present(m, f);
    return 0;
}

static int set_field(pz_tc_ctx *ctx, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t *v)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED)
        return set_singular(ctx, m, f, v);
    if (pz_tc_is_map(m->descriptor, f))
        return map_from_json(ctx, m, f, v);
    return set_repeated(ctx, m, f, v);
}

static bool bit_get(const uint64_t *bits, size_t i)
{
    return (bits[i / 64] >> (i % 64)) & 1;
}

static int check_required(pz_tc_ctx *ctx, const ProtobufCMessage *m, const uint64_t *seen, bool fresh)
{
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (f->label != PROTOBUF_C_LABEL_REQUIRED || bit_get(seen, i))
            continue;
        bool pointer = f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE;
        if (fresh || (pointer && *(void **)pz_tc_member(m, f->offset) == NULL)) {
            char name[PZ_TC_NAME_MAX];
            pz_json_name(f->name, name, sizeof name);
            return pz_tc_fail(ctx, false, "missing required field '%s' at %s", name, ctx->path);
        }
    }
    return 0;
}

static int object_into_message(pz_tc_ctx *ctx, ProtobufCMessage *m, json_t *obj, bool fresh)
{
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    uint64_t seen_small[4] = {0};
    uint64_t *seen = desc->n_fields <= 256 ? seen_small : pz_arena_calloc(ctx->arena, (desc->n_fields + 63) / 64, 8);
    const char *key;
    json_t *v;
    json_object_foreach (obj, key, v) {
        const ProtobufCFieldDescriptor *f = pz_tc_find_field(desc, key);
        if (f == NULL)
            return pz_tc_fail(ctx, false, "unknown field '%.*s' at %s", (int)pz_tc_utf8_trim(key, strlen(key), 64), key,
                              ctx->path);
        if (json_is_null(v) && !(null_is_value(f) && f->label != PROTOBUF_C_LABEL_REPEATED))
            continue; /* null means absent */
        size_t idx = (size_t)(f - desc->fields);
        char name[PZ_TC_NAME_MAX];
        pz_json_name(f->name, name, sizeof name);
        if (bit_get(seen, idx))
            return pz_tc_fail(ctx, false, "field '%s' given twice at %s", name, ctx->path);
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            for (unsigned j = 0; j < desc->n_fields; j++) {
                const ProtobufCFieldDescriptor *g = &desc->fields[j];
                if (bit_get(seen, j) && (g->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                    g->quantifier_offset == f->quantifier_offset) {
                    char other[PZ_TC_NAME_MAX];
                    pz_json_name(g->name, other, sizeof other);
                    return pz_tc_fail(ctx, false, "fields '%s' and '%s' at %s are of the same oneof", other, name,
                                      ctx->path);
                }
            }
        }
        seen[idx / 64] |= (uint64_t)1 << (idx % 64);
        if (set_field(ctx, m, f, v) != 0)
            return -1;
    }
    return check_required(ctx, m, seen, fresh);
}

/* ---- the contract ---- */

pz_status pz_json_to_message(const ProtobufCMessageDescriptor *desc, const char *json, size_t len, pz_arena *arena,
                             ProtobufCMessage **out, pz_transcode_error *err)
{
    pz_tc_ctx ctx;
    pz_tc_ctx_init(&ctx, arena, err);
    json_t *root;
    if (load(&ctx, json, len, &root) != 0)
        return PZ_INVALID_ARGUMENT;
    ProtobufCMessage *m = NULL;
    pz_tc_loc loc = {.field = NULL, .type = NULL, .index = -1, .key = NULL};
    int rc = message_value(&ctx, &loc, desc, &m, root);
    json_decref(root);
    if (rc != 0)
        return PZ_INVALID_ARGUMENT;
    *out = m;
    return PZ_OK;
}

pz_status pz_json_merge_into_message(ProtobufCMessage *msg, const char *json, size_t len, pz_arena *arena,
                                     pz_transcode_error *err)
{
    pz_tc_ctx ctx;
    pz_tc_ctx_init(&ctx, arena, err);
    ctx.merge = true;
    json_t *root;
    if (load(&ctx, json, len, &root) != 0)
        return PZ_INVALID_ARGUMENT;
    pz_tc_loc loc = {.field = NULL, .type = NULL, .index = -1, .key = NULL};
    ProtobufCMessage *m = msg;
    int rc = message_value(&ctx, &loc, msg->descriptor, &m, root);
    json_decref(root);
    return rc == 0 ? PZ_OK : PZ_INVALID_ARGUMENT;
}

static pz_status unknown_name(pz_arena *arena, pz_transcode_error *err, const char *what, const char *name)
{
    size_t len = strlen(name);
    if (!pz_utf8_valid(name, len)) {
        name = "?";
        len = 1; /* found by tests/fuzz/routes_fuzz.c: a long invalid name read past "?" */
    }
    err->message = pz_arena_printf(arena, "unknown %s '%.*s'", what, (int)pz_tc_utf8_trim(name, len, 64), name);
    err->is_syntax = false;
    return PZ_NOT_FOUND;
}

/* Resets f to absent (JSON null given to pz_message_set_field_from_json). */
static void clear_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    void *member = pz_tc_member(m, f->offset);
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        commit_repeated(m, f, NULL, 0);
        return;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *which = pz_tc_member(m, f->quantifier_offset);
        if (*which == f->id)
            *which = 0;
        return;
    }
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        *(void **)member = NULL;
    } else if (f->type == PROTOBUF_C_TYPE_STRING) {
        *(const char **)member = f->label == PROTOBUF_C_LABEL_NONE ? protobuf_c_empty_string : f->default_value;
    } else {
        size_t size = f->type == PROTOBUF_C_TYPE_BYTES ? 0 : pz_tc_elem_size(f->type);
        if (f->type == PROTOBUF_C_TYPE_BYTES)
            memset(member, 0, sizeof(ProtobufCBinaryData));
        else if (f->default_value != NULL)
            memcpy(member, f->default_value, size);
        else
            memset(member, 0, size);
        if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
            *(protobuf_c_boolean *)pz_tc_member(m, f->quantifier_offset) = 0;
    }
}

pz_status pz_message_set_field_from_json(ProtobufCMessage *msg, const char *name, const char *json, size_t len,
                                         pz_arena *arena, pz_transcode_error *err)
{
    const ProtobufCFieldDescriptor *f = pz_tc_find_field(msg->descriptor, name);
    if (f == NULL)
        return unknown_name(arena, err, "field", name);
    pz_tc_ctx ctx;
    pz_tc_ctx_init(&ctx, arena, err);
    ctx.top_field = f;
    ctx.array_body = f->label == PROTOBUF_C_LABEL_REPEATED && f->type != PROTOBUF_C_TYPE_MESSAGE;
    json_t *root;
    if (load(&ctx, json, len, &root) != 0)
        return PZ_INVALID_ARGUMENT;
    int rc = 0;
    if (json_is_null(root) && !(null_is_value(f) && f->label != PROTOBUF_C_LABEL_REPEATED)) {
        if (ctx.array_body) {
            pz_tc_loc loc = {.field = f, .type = f, .index = -1, .key = NULL};
            rc = pz_tc_fail_value(&ctx, &loc, "expected an array");
        } else {
            clear_field(msg, f);
        }
    } else {
        rc = set_field(&ctx, msg, f, root);
    }
    json_decref(root);
    return rc == 0 ? PZ_OK : PZ_INVALID_ARGUMENT;
}

/* Text mode for message-typed fields (maps, messages, Values): the text is JSON. A repeated message
 * field takes an array (appended) or one object (appended as one element). */
static int message_field_from_text(pz_tc_ctx *ctx, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                                   const char *text, size_t len)
{
    json_t *root;
    if (load(ctx, text, len, &root) != 0)
        return -1;
    int rc;
    bool is_map = pz_tc_is_map(msg->descriptor, f);
    if (json_is_null(root) && (!null_is_value(f) || is_map)) {
        rc = 0; /* null: absent, nothing to set */
    } else if (f->label == PROTOBUF_C_LABEL_REPEATED && !json_is_array(root) && !is_map) {
        json_t *one = json_array();
        json_array_append(one, root);
        rc = set_field(ctx, msg, f, one);
        json_decref(one);
    } else {
        rc = set_field(ctx, msg, f, root);
    }
    json_decref(root);
    return rc;
}

static int repeated_from_text(pz_tc_ctx *ctx, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                              const char *text, size_t len, pz_text_mode mode)
{
    size_t pieces = 1;
    if (mode == PZ_TEXT_SPLIT_COMMAS)
        for (size_t i = 0; i < len; i++)
            pieces += text[i] == ',';
    size_t old = existing_count(ctx, msg, f);
    size_t es = pz_tc_elem_size(f->type);
    char *data = grow_repeated(ctx, msg, f, old, pieces);
    pz_tc_loc loc = {.field = f, .type = f, .index = -1, .key = NULL};
    const char *start = text, *end = text + len;
    for (size_t i = 0; i < pieces; i++) {
        const char *stop = mode == PZ_TEXT_SPLIT_COMMAS ? memchr(start, ',', (size_t)(end - start)) : NULL;
        if (stop == NULL)
            stop = end;
        if (mode == PZ_TEXT_SPLIT_COMMAS)
            loc.index = (long)i;
        if (pz_tc_scalar_from_text(ctx, &loc, data + (old + i) * es, start, (size_t)(stop - start)) != 0)
            return -1;
        start = stop + 1;
    }
    commit_repeated(msg, f, data, old + pieces);
    return 0;
}

pz_status pz_message_set_field_from_text(ProtobufCMessage *msg, const char *name, const char *text, size_t len,
                                         pz_text_mode mode, pz_arena *arena, pz_transcode_error *err)
{
    const ProtobufCFieldDescriptor *f = pz_tc_find_field(msg->descriptor, name);
    if (f == NULL)
        return unknown_name(arena, err, "parameter", name);
    if (text == NULL) {
        text = "";
        len = 0;
    }
    pz_tc_ctx ctx;
    pz_tc_ctx_init(&ctx, arena, err);
    char json_name[PZ_TC_NAME_MAX];
    pz_json_name(f->name, json_name, sizeof json_name);
    ctx.param = json_name;
    ctx.top_field = f;
    ctx.merge = true;
    int rc;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE && len == 0) {
        rc = 0; /* `context=`: no value, as upstream reads an empty parameter */
    } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        rc = message_field_from_text(&ctx, msg, f, text, len);
    } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        rc = repeated_from_text(&ctx, msg, f, text, len, mode);
    } else {
        pz_tc_loc loc = {.field = f, .type = f, .index = -1, .key = NULL};
        scalar_slot tmp;
        rc = pz_tc_scalar_from_text(&ctx, &loc, &tmp, text, len);
        if (rc == 0) {
            memcpy(pz_tc_member(msg, f->offset), &tmp, pz_tc_elem_size(f->type));
            pz_tc_mark_present(msg, f);
        }
    }
    return rc == 0 ? PZ_OK : PZ_INVALID_ARGUMENT;
}
