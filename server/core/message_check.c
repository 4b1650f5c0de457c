#include "server/core/message_check.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "server/core/json_text.h"

/* The field path of a finding ("eventList[0].itemId"): the fields descended through, named only
 * when a finding is reported. Nearly every request has none, so nothing is formatted on the way
 * down. Room for the deepest descent: a message deeper than PZ_MESSAGE_MAX_DEPTH is refused. */
typedef struct path {
    struct {
        const ProtobufCFieldDescriptor *field;
        size_t index; /* of a repeated field's occurrence */
    } steps[PZ_MESSAGE_MAX_DEPTH + 2];
    size_t len;
} path;

/* Descends into f (its index-th occurrence); returns the length to restore afterwards. */
static size_t path_push(path *p, const ProtobufCFieldDescriptor *f, size_t index)
{
    size_t mark = p->len;
    if (p->len < sizeof p->steps / sizeof p->steps[0]) {
        p->steps[p->len].field = f;
        p->steps[p->len].index = index;
        p->len++;
    }
    return mark;
}

static void path_pop(path *p, size_t mark)
{
    p->len = mark;
}

/* A finding's path as the message names it, cut to fit. */
#define PATH_TEXT_MAX 256

/* Each step as ".name" ("name" first) in the JSON mapping's lowerCamelCase, then "[index]" for a
 * repeated field; "the request" for the message itself. */
static const char *path_text(const path *p, char text[PATH_TEXT_MAX])
{
    if (p->len == 0)
        return "the request";
    char *o = text, *end = text + PATH_TEXT_MAX - 1;
    for (size_t i = 0; i < p->len && o < end; i++) {
        const ProtobufCFieldDescriptor *f = p->steps[i].field;
        if (i > 0)
            *o++ = '.';
        bool upper = false;
        for (const char *c = f->name; *c != '\0' && o < end; c++) {
            if (*c == '_') {
                upper = true;
                continue;
            }
            *o++ = upper && *c >= 'a' && *c <= 'z' ? (char)(*c - 'a' + 'A') : *c;
            upper = false;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            int n = snprintf(o, (size_t)(end - o) + 1, "[%zu]", p->steps[i].index);
            o += n > 0 && (size_t)n <= (size_t)(end - o) ? (size_t)n : 0;
        }
    }
    *o = '\0';
    return text;
}

static pz_status bad_text(const path *p, const char *s, size_t len, pz_arena *arena, pz_error *err)
{
    const char *why = memchr(s, '\0', len) != NULL ? "holds a NUL character" : "is not valid UTF-8";
    char text[PATH_TEXT_MAX];
    return pz_error_setf(err, arena, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, "ValidationError", "%s %s",
                         path_text(p, text), why);
}

static bool text_ok(const char *s, size_t len)
{
    return memchr(s, '\0', len) == NULL && pz_utf8_valid(s, len);
}

static pz_status too_deep(const path *p, pz_arena *arena, pz_error *err)
{
    char text[PATH_TEXT_MAX];
    return pz_error_setf(err, arena, PZ_INVALID_ARGUMENT, PZ_ERRTYPE_VALIDATION, "ValidationError",
                         "%s is nested more than %d levels deep", path_text(p, text), PZ_MESSAGE_MAX_DEPTH);
}

/* ---- the wire form ---- */

/* Reads a varint at *pos; false when truncated or longer than 10 bytes. */
static bool read_varint(const uint8_t *data, size_t len, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70 && *pos < len; shift += 7) {
        uint8_t b = data[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << (shift < 64 ? shift : 63);
        if ((b & 0x80) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* Occurrences seen so far of each repeated field of one message, for the "[index]" of the path. */
typedef struct seen {
    uint32_t id;
    size_t count;
} seen;

static size_t next_index(seen *counts, size_t *n, size_t cap, uint32_t id)
{
    for (size_t i = 0; i < *n; i++) {
        if (counts[i].id == id)
            return counts[i].count++;
    }
    if (*n < cap)
        counts[(*n)++] = (seen){id, 1};
    return 0;
}

static pz_status check_wire(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len, int depth, path *p,
                            pz_arena *arena, pz_error *err)
{
    if (depth > PZ_MESSAGE_MAX_DEPTH)
        return too_deep(p, arena, err);
    seen counts[32];
    size_t n_counts = 0;
    size_t pos = 0;
    while (pos < len) {
        uint64_t key, n;
        if (!read_varint(data, len, &pos, &key))
            return PZ_OK; /* malformed: the decoder's business */
        switch (key & 7) {
        case 0:
            if (!read_varint(data, len, &pos, &n))
                return PZ_OK;
            continue;
        case 1: pos += 8; continue;
        case 5: pos += 4; continue;
        case 2: break;
        default: return PZ_OK; /* groups (deprecated) or an invalid wire type */
        }
        if (!read_varint(data, len, &pos, &n) || n > len - pos)
            return PZ_OK;
        const uint8_t *value = data + pos;
        pos += (size_t)n;
        uint64_t id = key >> 3;
        const ProtobufCFieldDescriptor *f =
            id <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned)id) : NULL;
        if (f == NULL || (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE))
            continue; /* unknown fields, bytes, packed numbers */
        size_t index = f->label == PROTOBUF_C_LABEL_REPEATED ? next_index(counts, &n_counts, 32, f->id) : 0;
        size_t mark = path_push(p, f, index);
        pz_status s = PZ_OK;
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            if (!text_ok((const char *)value, (size_t)n))
                s = bad_text(p, (const char *)value, (size_t)n, arena, err);
        } else {
            s = check_wire(f->descriptor, value, (size_t)n, depth + 1, p, arena, err);
        }
        if (s != PZ_OK)
            return s;
        path_pop(p, mark);
    }
    return PZ_OK;
}

pz_status pz_message_check_wire(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len, pz_arena *arena,
                                pz_error *err)
{
    path p;
    p.len = 0;
    return check_wire(d, data, len, 0, &p, arena, err);
}

/* ---- the decoded form ---- */

static pz_status check_decoded(const ProtobufCMessage *m, int depth, path *p, pz_arena *arena, pz_error *err);

static pz_status check_value(const ProtobufCFieldDescriptor *f, const void *slot, size_t index, int depth, path *p,
                             pz_arena *arena, pz_error *err)
{
    pz_status s = PZ_OK;
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        const char *str = *(const char *const *)slot;
        if (str != NULL && !pz_utf8_valid(str, strlen(str))) {
            size_t mark = path_push(p, f, index);
            s = bad_text(p, str, strlen(str), arena, err);
            path_pop(p, mark);
        }
    } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)slot;
        if (sub != NULL) {
            size_t mark = path_push(p, f, index);
            s = check_decoded(sub, depth + 1, p, arena, err);
            path_pop(p, mark);
        }
    }
    return s;
}

static pz_status check_decoded(const ProtobufCMessage *m, int depth, path *p, pz_arena *arena, pz_error *err)
{
    if (depth > PZ_MESSAGE_MAX_DEPTH)
        return too_deep(p, arena, err);
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue; /* another member of the oneof is set: this one's storage is not ours */
        pz_status s = PZ_OK;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const void *const *items = *(const void *const *const *)(base + f->offset);
            for (size_t k = 0; k < n && s == PZ_OK; k++)
                s = check_value(f, &items[k], k, depth, p, arena, err);
        } else {
            s = check_value(f, base + f->offset, 0, depth, p, arena, err);
        }
        if (s != PZ_OK)
            return s;
    }
    return PZ_OK;
}

pz_status pz_message_check_strings(const ProtobufCMessage *m, pz_arena *arena, pz_error *err)
{
    path p;
    p.len = 0;
    return m != NULL ? check_decoded(m, 0, &p, arena, err) : PZ_OK;
}
