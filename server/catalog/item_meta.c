#include "server/catalog/item_meta.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/prerendered.h"

#define VERSION 3
#define ENTRY_BYTES 16 /* u32 pb_off, pb_len, json_off, json_len */

/* ---- encoding (load time) ---- */

typedef struct encoder {
    pz_buf json;    /* the JSON text */
    pz_buf pb;      /* the encoded entries */
    pz_buf entries; /* the entry table */
    pz_arena arena; /* the Struct messages being encoded */
    int max_depth;
    char *err;
    size_t errlen;
} encoder;

static int fail(encoder *e, const char *msg)
{
    snprintf(e->err, e->errlen, "%s", msg);
    return -1;
}

static int put_to(encoder *e, pz_buf *b, const void *p, size_t n)
{
    return pz_buf_append(b, p, n) == 0 ? 0 : fail(e, "the item's metadata is too large");
}

static int json_lit(encoder *e, const char *s)
{
    return put_to(e, &e->json, s, strlen(s));
}

/* A JSON string literal, escaped exactly as the transcoder escapes (server/core/json_text.h). */
static int write_json_string(encoder *e, const char *s, size_t len)
{
    return pz_json_write_string(&e->json, s, len) == 0 ? 0 : fail(e, "the item's metadata is too large");
}

/* A number as the transcoder writes a google.protobuf.Value's: the shortest of %.15g, %.16g and
 * %.17g that reads back to the same double; -0 as -0.0; non-finite values as null. */
static int write_json_number(encoder *e, double d)
{
    if (!isfinite(d))
        return json_lit(e, "null");
    if (d == 0 && signbit(d))
        return json_lit(e, "-0.0");
    char buf[40];
    size_t n = pz_format_double_roundtrip(d, buf);
    return put_to(e, &e->json, buf, n);
}

static int encode_value(encoder *e, const json_t *v, int depth, Google__Protobuf__Value **out);

static int check_depth(encoder *e, int depth)
{
    if (depth > PZ_ITEM_META_MAX_DEPTH) {
        snprintf(e->err, e->errlen, "objects and arrays nest deeper than %d levels", PZ_ITEM_META_MAX_DEPTH);
        return -1;
    }
    if (depth > e->max_depth)
        e->max_depth = depth;
    return 0;
}

/* Appends one encoded entry of the item's object to the pb section: its length (a varint) and its
 * bytes, which is what protobuf-c keeps as the data of a length-delimited unknown field. */
static int put_entry_pb(encoder *e, const Google__Protobuf__Struct__FieldsEntry *entry, uint32_t *off, uint32_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(&entry->base);
    uint8_t *wire = pz_arena_alloc(&e->arena, n + 10);
    size_t prefix = 0;
    for (size_t v = n;; v >>= 7) {
        wire[prefix++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        if (v <= 0x7f)
            break;
    }
    protobuf_c_message_pack(&entry->base, wire + prefix);
    *off = (uint32_t)e->pb.len;
    *len = (uint32_t)(prefix + n);
    return put_to(e, &e->pb, wire, prefix + n);
}

/* An object as a Struct and as JSON. At depth 1 (the item) each member is also encoded on its own
 * and recorded in the entry table. */
static int encode_object(encoder *e, const json_t *obj, const char *skip_key, int depth, Google__Protobuf__Struct **out)
{
    static const Google__Protobuf__Struct struct_init = GOOGLE__PROTOBUF__STRUCT__INIT;
    static const Google__Protobuf__Struct__FieldsEntry entry_init = GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT;
    if (check_depth(e, depth) != 0 || json_lit(e, "{") != 0)
        return -1;
    Google__Protobuf__Struct *s = pz_arena_alloc(&e->arena, sizeof *s);
    *s = struct_init;
    s->fields = pz_arena_alloc(&e->arena, (json_object_size(obj) + 1) * sizeof *s->fields);
    const char *key;
    json_t *member;
    json_object_foreach ((json_t *)obj, key, member) {
        if (skip_key != NULL && strcmp(key, skip_key) == 0)
            continue;
        Google__Protobuf__Struct__FieldsEntry *entry = pz_arena_alloc(&e->arena, sizeof *entry);
        *entry = entry_init;
        entry->key = (char *)key;
        uint32_t span[4] = {0, 0, (uint32_t)e->json.len + (s->n_fields > 0), 0};
        if ((s->n_fields > 0 && json_lit(e, ",") != 0) || write_json_string(e, key, strlen(key)) != 0 ||
            json_lit(e, ":") != 0 || encode_value(e, member, depth + 1, &entry->value) != 0)
            return -1;
        span[3] = (uint32_t)e->json.len - span[2];
        if (depth == 1 &&
            (put_entry_pb(e, entry, &span[0], &span[1]) != 0 || put_to(e, &e->entries, span, sizeof span) != 0))
            return -1;
        s->fields[s->n_fields++] = entry;
    }
    *out = s;
    return json_lit(e, "}");
}

static int encode_array(encoder *e, const json_t *arr, int depth, Google__Protobuf__ListValue **out)
{
    static const Google__Protobuf__ListValue list_init = GOOGLE__PROTOBUF__LIST_VALUE__INIT;
    if (check_depth(e, depth) != 0 || json_lit(e, "[") != 0)
        return -1;
    Google__Protobuf__ListValue *l = pz_arena_alloc(&e->arena, sizeof *l);
    *l = list_init;
    l->values = pz_arena_alloc(&e->arena, (json_array_size(arr) + 1) * sizeof *l->values);
    size_t i;
    json_t *elem;
    json_array_foreach (arr, i, elem) {
        if ((i > 0 && json_lit(e, ",") != 0) || encode_value(e, elem, depth + 1, &l->values[i]) != 0)
            return -1;
        l->n_values++;
    }
    *out = l;
    return json_lit(e, "]");
}

static int encode_value(encoder *e, const json_t *v, int depth, Google__Protobuf__Value **out)
{
    static const Google__Protobuf__Value value_init = GOOGLE__PROTOBUF__VALUE__INIT;
    Google__Protobuf__Value *val = pz_arena_alloc(&e->arena, sizeof *val);
    *val = value_init;
    *out = val;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        val->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
        return encode_object(e, v, NULL, depth, &val->struct_value);
    case JSON_ARRAY:
        val->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
        return encode_array(e, v, depth, &val->list_value);
    case JSON_STRING: {
        size_t len = json_string_length(v);
        if (memchr(json_string_value(v), '\0', len) != NULL)
            return fail(e, "strings may not contain U+0000");
        val->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
        val->string_value = (char *)json_string_value(v);
        return write_json_string(e, json_string_value(v), len);
    }
    case JSON_INTEGER:
    case JSON_REAL:
        val->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
        val->number_value = json_number_value(v);
        return write_json_number(e, val->number_value);
    case JSON_TRUE:
    case JSON_FALSE:
        val->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
        val->bool_value = json_is_true(v);
        return json_lit(e, json_is_true(v) ? "true" : "false");
    default:
        val->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
        val->null_value = GOOGLE__PROTOBUF__NULL_VALUE__NULL_VALUE;
        return json_lit(e, "null");
    }
}

int pz_item_meta_encode(const json_t *obj, const char *skip_key, pz_buf *out, char *err, size_t errlen)
{
    encoder e = {.err = err, .errlen = errlen};
    if (!json_is_object(obj))
        return fail(&e, "expected a JSON object");
    pz_buf_init(&e.json, out->max);
    pz_buf_init(&e.pb, out->max);
    pz_buf_init(&e.entries, out->max);
    pz_arena_init(&e.arena);
    Google__Protobuf__Struct *root;
    int rc = encode_object(&e, obj, skip_key, 1, &root);
    if (rc == 0) {
        uint32_t header[4] = {0, (uint32_t)(e.entries.len / ENTRY_BYTES), (uint32_t)e.pb.len, (uint32_t)e.json.len};
        unsigned char *magic = (unsigned char *)&header[0];
        magic[0] = 'I';
        magic[1] = 'M';
        magic[2] = VERSION;
        magic[3] = (unsigned char)e.max_depth;
        rc = put_to(&e, out, header, sizeof header) != 0 || put_to(&e, out, e.pb.data, e.pb.len) != 0 ||
                     put_to(&e, out, e.json.data, e.json.len) != 0 || put_to(&e, out, "", 1) != 0 ||
                     put_to(&e, out, e.entries.data, e.entries.len) != 0
                 ? -1
                 : 0;
    }
    pz_buf_free(&e.json);
    pz_buf_free(&e.pb);
    pz_buf_free(&e.entries);
    pz_arena_destroy(&e.arena);
    return rc;
}

/* ---- materialization (request time) ---- */

/* A varint at p[*i..len): true with *v and *i moved past it. */
static bool take_varint(const uint8_t *p, size_t len, size_t *i, size_t *v)
{
    *v = 0;
    for (int shift = 0; *i < len && shift < 35; shift += 7) {
        *v |= (size_t)(p[*i] & 0x7f) << shift;
        if ((p[(*i)++] & 0x80) == 0)
            return true;
    }
    return false;
}

/* The key of a stored entry (length varint, then the FieldsEntry: field 1, length-delimited, first
 * when present; protobuf-c omits an empty key). */
static bool entry_key(const uint8_t *p, size_t len, const uint8_t **key, size_t *key_len)
{
    size_t i = 0, n;
    if (!take_varint(p, len, &i, &n) || n != len - i)
        return false;
    *key = p + i;
    *key_len = 0;
    if (i == len || p[i] != 0x0a)
        return true;
    i++;
    if (!take_varint(p, len, &i, &n) || n > len - i)
        return false;
    *key = p + i;
    *key_len = n;
    return true;
}

static bool key_selected(const uint8_t *key, size_t len, const char *const *columns, size_t n_columns)
{
    for (size_t i = 0; i < n_columns; i++)
        if (strlen(columns[i]) == len && memcmp(columns[i], key, len) == 0)
            return true;
    return false;
}

Google__Protobuf__Struct *pz_item_meta_to_struct(const void *value, size_t len, const char *const *columns,
                                                 size_t n_columns, pz_arena *arena)
{
    const unsigned char *src = value;
    uint32_t header[4];
    if (len < sizeof header)
        return NULL;
    memcpy(header, src, sizeof header);
    uint32_t n = header[1], pb_len = header[2], json_len = header[3];
    unsigned depth = src[3];
    size_t body = len - sizeof header;
    if (src[0] != 'I' || src[1] != 'M' || src[2] != VERSION || depth == 0 || depth > PZ_ITEM_META_MAX_DEPTH ||
        pb_len > body || json_len >= body - pb_len || n > body / ENTRY_BYTES ||
        (size_t)n * ENTRY_BYTES != body - pb_len - json_len - 1)
        return NULL;
    unsigned char *copy = pz_arena_alloc(arena, len);
    memcpy(copy, src, len);
    const uint8_t *pb = copy + sizeof header;
    const char *json = (const char *)pb + pb_len;
    const unsigned char *table = (const unsigned char *)json + json_len + 1;
    if (json[json_len] != '\0')
        return NULL;
    pz_prerendered_struct *s = pz_arena_alloc(arena, sizeof *s);
    pz_prerendered_struct_init(s);
    ProtobufCMessageUnknownField *fields = pz_arena_alloc(arena, (n + 1) * sizeof *fields);
    char *selected = columns != NULL ? pz_arena_alloc(arena, json_len + 2) : NULL;
    size_t k = 0, sel_len = 0;
    if (selected != NULL)
        selected[sel_len++] = '{';
    for (uint32_t i = 0; i < n; i++) {
        uint32_t span[4];
        memcpy(span, table + (size_t)i * ENTRY_BYTES, sizeof span);
        if (span[0] > pb_len || span[1] > pb_len - span[0] || span[2] > json_len || span[3] > json_len - span[2])
            return NULL;
        if (columns != NULL) {
            const uint8_t *key;
            size_t key_len;
            if (!entry_key(pb + span[0], span[1], &key, &key_len))
                return NULL;
            if (!key_selected(key, key_len, columns, n_columns))
                continue;
            if (sel_len + span[3] + 2 > json_len + 2)
                return NULL;
            if (k > 0)
                selected[sel_len++] = ',';
            memcpy(selected + sel_len, json + span[2], span[3]);
            sel_len += span[3];
        }
        fields[k++] = (ProtobufCMessageUnknownField){.tag = 1,
                                                     .wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED,
                                                     .len = span[1],
                                                     .data = (uint8_t *)pb + span[0]};
    }
    s->msg.base.n_unknown_fields = (unsigned)k;
    s->msg.base.unknown_fields = k > 0 ? fields : NULL;
    s->json_depth = depth;
    if (selected != NULL) {
        selected[sel_len++] = '}';
        s->json = selected;
        s->json_len = sel_len;
    } else {
        s->json = json;
        s->json_len = json_len;
    }
    return &s->msg;
}

/* ---- one field (the post-ranking rules) ---- */

/* The value text of an entry's `"key":value` JSON: past the key string and the colon. */
static const char *entry_value(const char *json, size_t len, size_t *value_len)
{
    size_t i = 1; /* past the opening quote */
    while (i < len && json[i] != '"')
        i += json[i] == '\\' ? 2 : 1;
    if (i + 1 >= len || json[i + 1] != ':')
        return NULL;
    *value_len = len - i - 2;
    return json + i + 2;
}

/* The value text v[0..vlen) of one entry as the rules compare it. */
static int field_value(const char *v, size_t vlen, pz_field_value *out, pz_arena *arena)
{
    if (v[0] == '"' && memchr(v, '\\', vlen) == NULL) {
        *out =
            (pz_field_value){.kind = PZ_FIELD_STR, .text = pz_arena_strndup(arena, v + 1, vlen - 2), .len = vlen - 2};
    } else if (v[0] == '"') { /* escapes: let the JSON reader undo them */
        json_t *s = json_loadb(v, vlen, JSON_DECODE_ANY, NULL);
        if (!json_is_string(s)) {
            json_decref(s);
            return -1;
        }
        *out = (pz_field_value){.kind = PZ_FIELD_STR,
                                .text = pz_arena_strndup(arena, json_string_value(s), json_string_length(s)),
                                .len = json_string_length(s)};
        json_decref(s);
    } else if (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) {
        char num[64];
        size_t n = vlen < sizeof num - 1 ? vlen : sizeof num - 1;
        memcpy(num, v, n);
        num[n] = '\0';
        *out = (pz_field_value){.kind = PZ_FIELD_NUM, .num = strtod(num, NULL)};
    } else {
        *out = (pz_field_value){.kind = PZ_FIELD_OTHER, .text = pz_arena_strndup(arena, v, vlen), .len = vlen};
    }
    return 0;
}

int pz_item_meta_fields(const void *value, size_t len, const char *const *fields, size_t n_fields, pz_field_value *out,
                        pz_arena *arena)
{
    const unsigned char *src = value;
    uint32_t header[4];
    if (len < sizeof header)
        return -1;
    memcpy(header, src, sizeof header);
    uint32_t n = header[1], pb_len = header[2], json_len = header[3];
    size_t body = len - sizeof header;
    if (src[0] != 'I' || src[1] != 'M' || src[2] != VERSION || pb_len > body || json_len >= body - pb_len ||
        (size_t)n * ENTRY_BYTES != body - pb_len - json_len - 1)
        return -1;
    const uint8_t *pb = src + sizeof header;
    const char *json = (const char *)pb + pb_len;
    const unsigned char *table = (const unsigned char *)json + json_len + 1;
    int found = 0;
    for (uint32_t i = 0; i < n && (size_t)found < n_fields; i++) {
        uint32_t span[4];
        memcpy(span, table + (size_t)i * ENTRY_BYTES, sizeof span);
        if (span[0] > pb_len || span[1] > pb_len - span[0] || span[2] > json_len || span[3] > json_len - span[2])
            return -1;
        const uint8_t *key;
        size_t key_len;
        if (!entry_key(pb + span[0], span[1], &key, &key_len))
            return -1;
        for (size_t f = 0; f < n_fields; f++) {
            if (out[f].kind != PZ_FIELD_ABSENT || strncmp(fields[f], (const char *)key, key_len) != 0 ||
                fields[f][key_len] != '\0')
                continue;
            size_t vlen;
            const char *v = entry_value(json + span[2], span[3], &vlen);
            if (v == NULL || vlen == 0 || field_value(v, vlen, &out[f], arena) != 0)
                return -1;
            found++;
            break;
        }
    }
    return found;
}
