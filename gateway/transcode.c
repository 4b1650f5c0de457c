/* Shared parts of the transcoder: field names and lookup, descriptor shape (maps, well-known types,
 * presence), strict scalar parsing for text and JSON strings, UTF-8, base64, and error messages.
 * The JSON input path is in transcode_parse.c, the output path in transcode_write.c. */
#include "gateway/transcode.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/transcode_internal.h"

/* ---- names ---- */

void pz_json_name(const char *proto_name, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    size_t n = 0;
    bool upper_next = false;
    for (const char *p = proto_name; *p != '\0' && n + 1 < outlen; p++) {
        if (*p == '_') {
            upper_next = true;
        } else if (upper_next && *p >= 'a' && *p <= 'z') {
            out[n++] = (char)(*p - 'a' + 'A');
            upper_next = false;
        } else {
            out[n++] = *p;
            upper_next = false;
        }
    }
    out[n] = '\0';
}

/* Compares a proto name, turned into CamelCase on the fly (lowerCamel unless upper_first), with
 * name[0..len). protoc's ToJsonName and MapEntryName rules: '_' dropped, next a-z uppercased. */
static bool camel_equals(const char *proto_name, bool upper_first, const char *name, size_t len)
{
    size_t n = 0;
    bool upper_next = upper_first;
    for (const char *p = proto_name; *p != '\0'; p++) {
        if (*p == '_') {
            upper_next = true;
            continue;
        }
        char c = *p;
        if (upper_next && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        upper_next = false;
        if (n >= len || name[n] != c)
            return false;
        n++;
    }
    return n == len;
}

const ProtobufCFieldDescriptor *pz_tc_find_field(const ProtobufCMessageDescriptor *desc, const char *name)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, name);
    if (f != NULL)
        return f;
    size_t len = strlen(name);
    for (unsigned i = 0; i < desc->n_fields; i++)
        if (camel_equals(desc->fields[i].name, false, name, len))
            return &desc->fields[i];
    return NULL;
}

/* ---- descriptor shape ---- */

pz_tc_wkt pz_tc_wkt_of(const ProtobufCMessageDescriptor *desc)
{
    if (strncmp(desc->name, "google.protobuf.", 16) != 0)
        return PZ_TC_WKT_NONE;
    const char *s = desc->name + 16;
    if (strcmp(s, "Struct") == 0)
        return PZ_TC_WKT_STRUCT;
    if (strcmp(s, "Value") == 0)
        return PZ_TC_WKT_VALUE;
    if (strcmp(s, "ListValue") == 0)
        return PZ_TC_WKT_LIST;
    return PZ_TC_WKT_NONE;
}

bool pz_json_field_is_map(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f)
{
    return pz_tc_is_map(parent, f);
}

bool pz_tc_is_map(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    const ProtobufCMessageDescriptor *e = f->descriptor;
    if (e->n_fields != 2 || e->fields[0].id != 1 || strcmp(e->fields[0].name, "key") != 0 || e->fields[1].id != 2 ||
        strcmp(e->fields[1].name, "value") != 0)
        return false;
    /* protoc names the entry <CamelCaseField>Entry and nests it in the message holding the map. */
    size_t short_len = strlen(e->short_name);
    if (short_len < 5 || strcmp(e->short_name + short_len - 5, "Entry") != 0 ||
        !camel_equals(f->name, true, e->short_name, short_len - 5))
        return false;
    size_t parent_len = strlen(parent->name);
    return strncmp(e->name, parent->name, parent_len) == 0 && e->name[parent_len] == '.' &&
           strcmp(e->name + parent_len + 1, e->short_name) == 0;
}

size_t pz_tc_elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM: return 4;
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return 8;
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    }
    return 0;
}

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

bool pz_tc_field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const void *member = pz_tc_member(m, f->offset);
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return *(const size_t *)pz_tc_member(m, f->quantifier_offset) != 0;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)pz_tc_member(m, f->quantifier_offset) == f->id;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(void *const *)member != NULL;
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        const char *s = *(char *const *)member;
        if (s == NULL)
            return false;
        if (f->label == PROTOBUF_C_LABEL_NONE)
            return s[0] != '\0';
        /* proto2: an unset optional string points at its declared default */
        return f->label == PROTOBUF_C_LABEL_REQUIRED || s != (const char *)f->default_value;
    }
    switch (f->label) {
    case PROTOBUF_C_LABEL_OPTIONAL: return *(const protobuf_c_boolean *)pz_tc_member(m, f->quantifier_offset);
    case PROTOBUF_C_LABEL_NONE:
        if (f->type == PROTOBUF_C_TYPE_BYTES)
            return ((const ProtobufCBinaryData *)member)->len != 0;
        return !all_zero(member, pz_tc_elem_size(f->type));
    default: return true;
    }
}

void pz_tc_mark_present(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)pz_tc_member(m, f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
             f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)pz_tc_member(m, f->quantifier_offset) = 1;
}

/* ---- UTF-8 ---- */

size_t pz_tc_utf8_trim(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* ---- strict scalar parsing ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool pz_tc_parse_decimal(const char *s, size_t len, bool canonical, bool *negative, uint64_t *magnitude, bool *overflow)
{
    size_t i = 0;
    *negative = false;
    *magnitude = 0;
    *overflow = false;
    if (i < len && s[i] == '-') {
        *negative = true;
        i++;
    }
    if (i == len)
        return false;
    if (canonical && s[i] == '0' && (len - i > 1 || *negative))
        return false;
    for (; i < len; i++) {
        if (!is_digit(s[i]))
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (*magnitude > (UINT64_MAX - d) / 10)
            *overflow = true;
        else
            *magnitude = *magnitude * 10 + d;
    }
    return true;
}

static bool json_number_syntax(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && s[i] == '-')
        i++;
    if (i == len || !is_digit(s[i]))
        return false;
    if (s[i] == '0')
        i++;
    else
        while (i < len && is_digit(s[i]))
            i++;
    if (i < len && s[i] == '.') {
        if (++i == len || !is_digit(s[i]))
            return false;
        while (i < len && is_digit(s[i]))
            i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i == len || !is_digit(s[i]))
            return false;
        while (i < len && is_digit(s[i]))
            i++;
    }
    return i == len;
}

bool pz_tc_parse_double(const char *s, size_t len, double *out)
{
    if (len == 3 && memcmp(s, "NaN", 3) == 0) {
        *out = NAN;
        return true;
    }
    if (len == 8 && memcmp(s, "Infinity", 8) == 0) {
        *out = INFINITY;
        return true;
    }
    if (len == 9 && memcmp(s, "-Infinity", 9) == 0) {
        *out = -INFINITY;
        return true;
    }
    if (!json_number_syntax(s, len))
        return false;
    char small[64];
    char *copy = len < sizeof small ? small : pz_malloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    double d = strtod(copy, NULL);
    if (copy != small)
        free(copy);
    if (isinf(d))
        return false; /* overflow: the text was finite */
    *out = d;
    return true;
}

static int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

bool pz_tc_base64_decode(pz_arena *arena, const char *s, size_t len, ProtobufCBinaryData *out)
{
    size_t n = len;
    while (n > 0 && len - n < 2 && s[n - 1] == '=')
        n--;
    if ((n != len && len % 4 != 0) || n % 4 == 1)
        return false;
    size_t out_len = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
    uint8_t *data = pz_arena_alloc(arena, out_len);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = base64_value((unsigned char)s[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            data[o++] = (uint8_t)(acc >> bits);
        }
    }
    out->len = o;
    out->data = data;
    return true;
}

const ProtobufCEnumValue *pz_tc_enum_by_name(const ProtobufCEnumDescriptor *e, const char *name, size_t len)
{
    for (unsigned i = 0; i < e->n_values; i++)
        if (strlen(e->values[i].name) == len && memcmp(e->values[i].name, name, len) == 0)
            return &e->values[i];
    return NULL;
}

/* ---- errors ---- */

void pz_tc_ctx_init(pz_tc_ctx *ctx, pz_arena *arena, pz_transcode_error *err)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->arena = arena;
    ctx->err = err;
    ctx->path[0] = '$';
    ctx->path[1] = '\0';
    ctx->path_len = 1;
    err->message = NULL;
    err->is_syntax = false;
}

size_t pz_tc_path_push(pz_tc_ctx *ctx, const char *fmt, ...)
{
    size_t saved = ctx->path_len;
    size_t room = sizeof ctx->path - ctx->path_len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ctx->path + ctx->path_len, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        ctx->path_len += (size_t)n < room ? (size_t)n : room - 1;
    return saved;
}

void pz_tc_path_pop(pz_tc_ctx *ctx, size_t len)
{
    ctx->path_len = len;
    ctx->path[len] = '\0';
}

/* Stores msg as the error, replacing bytes that are not printable UTF-8 (they can come from
 * jansson's "near '...'" excerpts) so the message is safe to embed in any response. */
static void set_error(pz_tc_ctx *ctx, bool is_syntax, char *msg)
{
    size_t len = strlen(msg);
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)msg[i];
        uint32_t cp;
        size_t n = c < 0x80 ? 1 : pz_utf8_next((unsigned char *)msg + i, len - i, &cp);
        if (n == 0 || c < 0x20 || c == 0x7F) {
            msg[i] = '?';
            n = 1;
        }
        i += n;
    }
    ctx->err->message = msg;
    ctx->err->is_syntax = is_syntax;
}

int pz_tc_fail(pz_tc_ctx *ctx, bool is_syntax, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (ctx->param != NULL)
        set_error(ctx, is_syntax, pz_arena_printf(ctx->arena, "invalid value for parameter '%s': %s", ctx->param, buf));
    else
        set_error(ctx, is_syntax, pz_arena_strdup(ctx->arena, buf));
    return -1;
}

static const char *array_kind(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: return "strings";
    case PROTOBUF_C_TYPE_BOOL: return "booleans";
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: return "numbers";
    case PROTOBUF_C_TYPE_BYTES: return "base64 strings";
    case PROTOBUF_C_TYPE_ENUM: return "enum names or numbers";
    case PROTOBUF_C_TYPE_MESSAGE: return "objects";
    default: return "integers";
    }
}

int pz_tc_fail_value(pz_tc_ctx *ctx, const pz_tc_loc *loc, const char *reason)
{
    if (loc->field == NULL)
        return pz_tc_fail(ctx, false, "%s at %s", reason, ctx->path);
    char name[PZ_TC_NAME_MAX];
    pz_json_name(loc->field->name, name, sizeof name);
    if (ctx->array_body && loc->field == ctx->top_field) {
        set_error(ctx, false,
                  pz_arena_printf(ctx->arena, "expected a JSON array of %s for '%s'", array_kind(loc->field), name));
        return -1;
    }
    char where[96] = "";
    if (loc->index >= 0) {
        snprintf(where, sizeof where, " at index %ld", loc->index);
    } else if (loc->key != NULL) {
        size_t key_len = pz_tc_utf8_trim(loc->key, strlen(loc->key), 64);
        snprintf(where, sizeof where, " for key '%.*s'", (int)key_len, loc->key);
    }
    if (ctx->param != NULL && loc->field == ctx->top_field && ctx->path_len == 1) {
        set_error(ctx, false,
                  pz_arena_printf(ctx->arena, "invalid value for parameter '%s': %s%s", ctx->param, reason, where));
        return -1;
    }
    if (ctx->path_len == 1)
        return pz_tc_fail(ctx, false, "invalid value for field '%s': %s%s", name, reason, where);
    return pz_tc_fail(ctx, false, "invalid value for field '%s' at %s: %s%s", name, ctx->path, reason, where);
}

/* ---- scalar stores ---- */

static const char *type_name(ProtobufCType t)
{
    static const char *const names[] = {
        [PROTOBUF_C_TYPE_INT32] = "int32",       [PROTOBUF_C_TYPE_SINT32] = "sint32",
        [PROTOBUF_C_TYPE_SFIXED32] = "sfixed32", [PROTOBUF_C_TYPE_INT64] = "int64",
        [PROTOBUF_C_TYPE_SINT64] = "sint64",     [PROTOBUF_C_TYPE_SFIXED64] = "sfixed64",
        [PROTOBUF_C_TYPE_UINT32] = "uint32",     [PROTOBUF_C_TYPE_FIXED32] = "fixed32",
        [PROTOBUF_C_TYPE_UINT64] = "uint64",     [PROTOBUF_C_TYPE_FIXED64] = "fixed64",
        [PROTOBUF_C_TYPE_FLOAT] = "float",       [PROTOBUF_C_TYPE_DOUBLE] = "double",
        [PROTOBUF_C_TYPE_BOOL] = "bool",         [PROTOBUF_C_TYPE_ENUM] = "enum",
        [PROTOBUF_C_TYPE_STRING] = "string",     [PROTOBUF_C_TYPE_BYTES] = "bytes",
        [PROTOBUF_C_TYPE_MESSAGE] = "message",
    };
    return (unsigned)t < sizeof names / sizeof names[0] && names[t] != NULL ? names[t] : "?";
}

int pz_tc_store_integer(pz_tc_ctx *ctx, const pz_tc_loc *loc, void *slot, bool negative, uint64_t magnitude)
{
    ProtobufCType t = loc->type->type;
    bool fits;
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        fits = negative ? magnitude <= (uint64_t)INT32_MAX + 1 : magnitude <= INT32_MAX;
        if (fits)
            *(int32_t *)slot = negative ? (int32_t)(-(int64_t)magnitude) : (int32_t)magnitude;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        fits = (!negative || magnitude == 0) && magnitude <= UINT32_MAX;
        if (fits)
            *(uint32_t *)slot = (uint32_t)magnitude;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        fits = negative ? magnitude <= (uint64_t)INT64_MAX + 1 : magnitude <= INT64_MAX;
        if (fits)
            *(int64_t *)slot = !negative                              ? (int64_t)magnitude
                               : magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN
                                                                      : -(int64_t)magnitude;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        fits = !negative || magnitude == 0;
        if (fits)
            *(uint64_t *)slot = magnitude;
        break;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return pz_tc_store_double(ctx, loc, slot, negative ? -(double)magnitude : (double)magnitude);
    default: return pz_tc_fail_value(ctx, loc, "an integer is not valid here");
    }
    return fits ? 0 : pz_tc_fail_range(ctx, loc);
}

int pz_tc_fail_range(pz_tc_ctx *ctx, const pz_tc_loc *loc)
{
    char reason[64];
    snprintf(reason, sizeof reason, "integer out of range for %s", type_name(loc->type->type));
    return pz_tc_fail_value(ctx, loc, reason);
}

int pz_tc_store_double(pz_tc_ctx *ctx, const pz_tc_loc *loc, void *slot, double d)
{
    if (loc->type->type == PROTOBUF_C_TYPE_DOUBLE) {
        *(double *)slot = d;
        return 0;
    }
    if (isfinite(d) && fabs(d) > FLT_MAX)
        return pz_tc_fail_value(ctx, loc, "number out of range for float");
    *(float *)slot = (float)d;
    return 0;
}

static int enum_from_text(pz_tc_ctx *ctx, const pz_tc_loc *loc, void *slot, const char *text, size_t len)
{
    const ProtobufCEnumDescriptor *e = loc->type->descriptor;
    const ProtobufCEnumValue *v = pz_tc_enum_by_name(e, text, len);
    if (v != NULL) {
        *(int32_t *)slot = v->value;
        return 0;
    }
    bool negative, overflow;
    uint64_t magnitude;
    if (pz_tc_parse_decimal(text, len, false, &negative, &magnitude, &overflow) && !overflow)
        return pz_tc_store_integer(ctx, loc, slot, negative, magnitude);
    char reason[160];
    snprintf(reason, sizeof reason, "unknown value '%.*s' for enum %s", (int)pz_tc_utf8_trim(text, len, 64), text,
             e->name);
    return pz_tc_fail_value(ctx, loc, reason);
}

int pz_tc_scalar_from_text(pz_tc_ctx *ctx, const pz_tc_loc *loc, void *slot, const char *text, size_t len)
{
    if (memchr(text, '\0', len) != NULL)
        return pz_tc_fail_value(ctx, loc, "text contains a NUL character");
    if (!pz_utf8_valid(text, len))
        return pz_tc_fail_value(ctx, loc, "expected valid UTF-8 text");
    bool negative, overflow;
    uint64_t magnitude;
    double d;
    switch (loc->type->type) {
    case PROTOBUF_C_TYPE_STRING: *(char **)slot = pz_arena_strndup(ctx->arena, text, len); return 0;
    case PROTOBUF_C_TYPE_BYTES:
        if (!pz_tc_base64_decode(ctx->arena, text, len, slot))
            return pz_tc_fail_value(ctx, loc, "expected base64");
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        /* upstream semantics: 1/yes/true in any case; anything else is false */
        *(protobuf_c_boolean *)slot = (len == 1 && text[0] == '1') || (len == 3 && strncasecmp(text, "yes", 3) == 0) ||
                                      (len == 4 && strncasecmp(text, "true", 4) == 0);
        return 0;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        if (!pz_tc_parse_double(text, len, &d))
            return pz_tc_fail_value(ctx, loc, "expected a number");
        return pz_tc_store_double(ctx, loc, slot, d);
    case PROTOBUF_C_TYPE_ENUM: return enum_from_text(ctx, loc, slot, text, len);
    case PROTOBUF_C_TYPE_MESSAGE: return pz_tc_fail_value(ctx, loc, "expected a JSON object");
    default:
        if (!pz_tc_parse_decimal(text, len, false, &negative, &magnitude, &overflow))
            return pz_tc_fail_value(ctx, loc, "expected an integer");
        if (overflow)
            return pz_tc_fail_range(ctx, loc);
        return pz_tc_store_integer(ctx, loc, slot, negative, magnitude);
    }
}

int pz_tc_map_key_from_string(pz_tc_ctx *ctx, const pz_tc_loc *loc, const ProtobufCFieldDescriptor *kf, void *slot,
                              const char *key, size_t len)
{
    pz_tc_loc key_loc = {.field = loc->field, .type = kf, .index = -1, .key = NULL};
    char reason[160];
    int shown = (int)pz_tc_utf8_trim(key, len, 64);
    switch (kf->type) {
    case PROTOBUF_C_TYPE_STRING: *(char **)slot = pz_arena_strndup(ctx->arena, key, len); return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (len == 4 && memcmp(key, "true", 4) == 0)
            *(protobuf_c_boolean *)slot = 1;
        else if (len == 5 && memcmp(key, "false", 5) == 0)
            *(protobuf_c_boolean *)slot = 0;
        else {
            snprintf(reason, sizeof reason, "map key '%.*s' is not true or false", shown, key);
            return pz_tc_fail_value(ctx, &key_loc, reason);
        }
        return 0;
    default: {
        bool negative, overflow;
        uint64_t magnitude;
        if (!pz_tc_parse_decimal(key, len, true, &negative, &magnitude, &overflow)) {
            snprintf(reason, sizeof reason, "map key '%.*s' is not a canonical decimal integer", shown, key);
            return pz_tc_fail_value(ctx, &key_loc, reason);
        }
        if (overflow) {
            snprintf(reason, sizeof reason, "map key '%.*s' is out of range for %s", shown, key, type_name(kf->type));
            return pz_tc_fail_value(ctx, &key_loc, reason);
        }
        key_loc.key = loc->key;
        return pz_tc_store_integer(ctx, &key_loc, slot, negative, magnitude);
    }
    }
}
