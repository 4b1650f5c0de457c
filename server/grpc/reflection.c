#include "server/grpc/reflection.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"

/* grpc::StatusCode values carried in ErrorResponse.error_code. */
enum { CODE_NOT_FOUND = 5, CODE_UNIMPLEMENTED = 12 };

typedef struct refl_file {
    const char *name;
    const uint8_t *bytes; /* original serialized FileDescriptorProto, in the index arena */
    size_t len;
    const Google__Protobuf__FileDescriptorProto *proto;
    size_t *deps; /* indexes of direct dependencies */
    size_t n_deps;
} refl_file;

typedef struct refl_symbol {
    const char *name;
    size_t file;
    pz_reflection_kind kind;
} refl_symbol;

typedef struct refl_extension {
    const char *extendee; /* fully-qualified, no leading dot */
    int32_t number;
    size_t file;
} refl_extension;

struct pz_reflection {
    pz_arena arena; /* file bytes, decoded descriptors, names */
    refl_file *files;
    size_t n_files;
    refl_symbol *symbols; /* sorted by name once built */
    size_t n_symbols, cap_symbols;
    refl_extension *extensions;
    size_t n_extensions, cap_extensions;
    const char **services;
    size_t n_services, cap_services;
};

/* --- wire-level split of the FileDescriptorSet, to keep each file's original bytes --- */

static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0)
            return true;
    }
    return false;
}

/* Calls add(r, bytes, len) for every `file` (field 1) of the set; returns false on malformed input. */
static bool split_file_set(pz_reflection *r, const uint8_t *p, const uint8_t *end,
                           bool (*add)(pz_reflection *, const uint8_t *, size_t))
{
    while (p < end) {
        uint64_t key, n;
        if (!read_varint(&p, end, &key))
            return false;
        switch (key & 7) {
        case 0:
            if (!read_varint(&p, end, &n))
                return false;
            break;
        case 1:
            if (end - p < 8)
                return false;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return false;
            p += 4;
            break;
        case 2:
            if (!read_varint(&p, end, &n) || n > (uint64_t)(end - p))
                return false;
            if ((key >> 3) == 1 && !add(r, p, (size_t)n))
                return false;
            p += n;
            break;
        default: return false;
        }
    }
    return true;
}

/* --- building the index --- */

static const char *qualify(pz_reflection *r, const char *scope, const char *name)
{
    if (scope == NULL || scope[0] == '\0')
        return pz_arena_strdup(&r->arena, name);
    return pz_arena_printf(&r->arena, "%s.%s", scope, name);
}

static void add_symbol(pz_reflection *r, const char *name, size_t file, pz_reflection_kind kind)
{
    if (r->n_symbols == r->cap_symbols) {
        r->cap_symbols = r->cap_symbols ? r->cap_symbols * 2 : 128;
        r->symbols = pz_realloc(r->symbols, r->cap_symbols * sizeof *r->symbols);
    }
    r->symbols[r->n_symbols++] = (refl_symbol){name, file, kind};
}

static void add_extension(pz_reflection *r, const Google__Protobuf__FieldDescriptorProto *f, const char *scope,
                          size_t file)
{
    add_symbol(r, qualify(r, scope, f->name), file, PZ_REFLECTION_EXTENSION);
    if (f->extendee == NULL || !f->has_number)
        return;
    if (r->n_extensions == r->cap_extensions) {
        r->cap_extensions = r->cap_extensions ? r->cap_extensions * 2 : 8;
        r->extensions = pz_realloc(r->extensions, r->cap_extensions * sizeof *r->extensions);
    }
    const char *extendee = f->extendee[0] == '.' ? f->extendee + 1 : f->extendee;
    r->extensions[r->n_extensions++] = (refl_extension){extendee, f->number, file};
}

static void index_enum(pz_reflection *r, const Google__Protobuf__EnumDescriptorProto *e, const char *scope, size_t file)
{
    add_symbol(r, qualify(r, scope, e->name), file, PZ_REFLECTION_ENUM);
    for (size_t i = 0; i < e->n_value; i++)
        add_symbol(r, qualify(r, scope, e->value[i]->name), file, PZ_REFLECTION_ENUM_VALUE);
}

static void index_message(pz_reflection *r, const Google__Protobuf__DescriptorProto *m, const char *scope, size_t file)
{
    const char *full = qualify(r, scope, m->name);
    add_symbol(r, full, file, PZ_REFLECTION_MESSAGE);
    for (size_t i = 0; i < m->n_field; i++)
        add_symbol(r, qualify(r, full, m->field[i]->name), file, PZ_REFLECTION_FIELD);
    for (size_t i = 0; i < m->n_extension; i++)
        add_extension(r, m->extension[i], full, file);
    for (size_t i = 0; i < m->n_nested_type; i++)
        index_message(r, m->nested_type[i], full, file);
    for (size_t i = 0; i < m->n_enum_type; i++)
        index_enum(r, m->enum_type[i], full, file);
}

static void index_file(pz_reflection *r, size_t file)
{
    const Google__Protobuf__FileDescriptorProto *fd = r->files[file].proto;
    const char *pkg = fd->package;
    for (size_t i = 0; i < fd->n_message_type; i++)
        index_message(r, fd->message_type[i], pkg, file);
    for (size_t i = 0; i < fd->n_enum_type; i++)
        index_enum(r, fd->enum_type[i], pkg, file);
    for (size_t i = 0; i < fd->n_extension; i++)
        add_extension(r, fd->extension[i], pkg, file);
    for (size_t i = 0; i < fd->n_service; i++) {
        const Google__Protobuf__ServiceDescriptorProto *svc = fd->service[i];
        const char *full = qualify(r, pkg, svc->name);
        add_symbol(r, full, file, PZ_REFLECTION_SERVICE);
        for (size_t j = 0; j < svc->n_method; j++)
            add_symbol(r, qualify(r, full, svc->method[j]->name), file, PZ_REFLECTION_METHOD);
        if (r->n_services == r->cap_services) {
            r->cap_services = r->cap_services ? r->cap_services * 2 : 8;
            r->services = pz_realloc(r->services, r->cap_services * sizeof *r->services);
        }
        r->services[r->n_services++] = full;
    }
}

void pz_reflection_hide_service(pz_reflection *r, const char *full_name)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->n_services; i++) {
        if (strcmp(r->services[i], full_name) != 0)
            r->services[kept++] = r->services[i];
    }
    r->n_services = kept;
}

static bool count_file(pz_reflection *r, const uint8_t *bytes, size_t len)
{
    (void)bytes;
    (void)len;
    r->n_files++;
    return true;
}

static bool add_file(pz_reflection *r, const uint8_t *bytes, size_t len)
{
    refl_file *f = &r->files[r->n_files];
    uint8_t *copy = pz_arena_alloc(&r->arena, len);
    memcpy(copy, bytes, len);
    f->bytes = copy;
    f->len = len;
    f->proto = google__protobuf__file_descriptor_proto__unpack(&r->arena.pb, len, copy);
    if (f->proto == NULL || f->proto->name == NULL)
        return false;
    f->name = f->proto->name;
    r->n_files++;
    return true;
}

static int symbol_cmp(const void *a, const void *b)
{
    return strcmp(((const refl_symbol *)a)->name, ((const refl_symbol *)b)->name);
}

static bool link_dependencies(pz_reflection *r, char *err, size_t errlen)
{
    for (size_t i = 0; i < r->n_files; i++) {
        refl_file *f = &r->files[i];
        f->deps = pz_arena_calloc(&r->arena, f->proto->n_dependency, sizeof *f->deps);
        for (size_t j = 0; j < f->proto->n_dependency; j++) {
            int dep = pz_reflection_find_file(r, f->proto->dependency[j]);
            if (dep < 0) {
                snprintf(err, errlen, "descriptor set: %s imports %s, which is not in the set", f->name,
                         f->proto->dependency[j]);
                return false;
            }
            f->deps[f->n_deps++] = (size_t)dep;
        }
    }
    return true;
}

pz_reflection *pz_reflection_new(const uint8_t *set, size_t len, char *err, size_t errlen)
{
    pz_reflection *r = pz_calloc(1, sizeof *r);
    pz_arena_init(&r->arena);
    if (!split_file_set(r, set, set + len, count_file)) {
        snprintf(err, errlen, "descriptor set: not a valid FileDescriptorSet");
        pz_reflection_free(r);
        return NULL;
    }
    r->files = pz_arena_calloc(&r->arena, r->n_files, sizeof *r->files);
    r->n_files = 0;
    if (!split_file_set(r, set, set + len, add_file)) {
        snprintf(err, errlen, "descriptor set: file #%zu is not a valid FileDescriptorProto", r->n_files);
        pz_reflection_free(r);
        return NULL;
    }
    if (!link_dependencies(r, err, errlen)) {
        pz_reflection_free(r);
        return NULL;
    }
    for (size_t i = 0; i < r->n_files; i++)
        index_file(r, i);
    if (r->n_symbols > 0)
        qsort(r->symbols, r->n_symbols, sizeof *r->symbols, symbol_cmp);
    return r;
}

void pz_reflection_free(pz_reflection *r)
{
    if (r == NULL)
        return;
    free(r->symbols);
    free(r->extensions);
    free(r->services);
    pz_arena_destroy(&r->arena);
    free(r);
}

/* --- queries --- */

size_t pz_reflection_file_count(const pz_reflection *r)
{
    return r->n_files;
}

const char *pz_reflection_file_name(const pz_reflection *r, size_t i)
{
    return r->files[i].name;
}

void pz_reflection_file_bytes(const pz_reflection *r, size_t i, const uint8_t **data, size_t *len)
{
    *data = r->files[i].bytes;
    *len = r->files[i].len;
}

int pz_reflection_find_file(const pz_reflection *r, const char *name)
{
    for (size_t i = 0; i < r->n_files; i++) {
        if (strcmp(r->files[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

int pz_reflection_find_symbol(const pz_reflection *r, const char *symbol, pz_reflection_kind *kind)
{
    if (r->n_symbols == 0)
        return -1;
    refl_symbol key = {symbol, 0, PZ_REFLECTION_SERVICE};
    const refl_symbol *s = bsearch(&key, r->symbols, r->n_symbols, sizeof *r->symbols, symbol_cmp);
    if (s == NULL)
        return -1;
    if (kind != NULL)
        *kind = s->kind;
    return (int)s->file;
}

size_t pz_reflection_closure(const pz_reflection *r, size_t i, size_t *out)
{
    size_t n = 0;
    out[n++] = i;
    /* Breadth-first over `out` itself; the sets are a handful of files, so membership is a scan. */
    for (size_t k = 0; k < n; k++) {
        const refl_file *f = &r->files[out[k]];
        for (size_t d = 0; d < f->n_deps; d++) {
            bool seen = false;
            for (size_t j = 0; j < n && !seen; j++)
                seen = out[j] == f->deps[d];
            if (!seen)
                out[n++] = f->deps[d];
        }
    }
    return n;
}

size_t pz_reflection_service_count(const pz_reflection *r)
{
    return r->n_services;
}

const char *pz_reflection_service_name(const pz_reflection *r, size_t i)
{
    return r->services[i];
}

/* --- answering ServerReflectionRequest --- */

typedef Grpc__Reflection__V1__ServerReflectionRequest refl_request;
typedef Grpc__Reflection__V1__ServerReflectionResponse refl_response;

static void answer_error(pz_arena *a, refl_response *rs, int code, const char *message)
{
    Grpc__Reflection__V1__ErrorResponse *e = pz_arena_alloc(a, sizeof *e);
    grpc__reflection__v1__error_response__init(e);
    e->error_code = code;
    e->error_message = (char *)message;
    rs->message_response_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
    rs->error_response = e;
}

static void answer_files(const pz_reflection *r, pz_arena *a, refl_response *rs, size_t file)
{
    size_t *order = pz_arena_calloc(a, r->n_files, sizeof *order);
    size_t n = pz_reflection_closure(r, file, order);
    Grpc__Reflection__V1__FileDescriptorResponse *fr = pz_arena_alloc(a, sizeof *fr);
    grpc__reflection__v1__file_descriptor_response__init(fr);
    fr->file_descriptor_proto = pz_arena_calloc(a, n, sizeof *fr->file_descriptor_proto);
    fr->n_file_descriptor_proto = n;
    for (size_t k = 0; k < n; k++) {
        fr->file_descriptor_proto[k].data = (uint8_t *)r->files[order[k]].bytes;
        fr->file_descriptor_proto[k].len = r->files[order[k]].len;
    }
    rs->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
    rs->file_descriptor_response = fr;
}

static void answer_list_services(const pz_reflection *r, pz_arena *a, refl_response *rs)
{
    Grpc__Reflection__V1__ListServiceResponse *ls = pz_arena_alloc(a, sizeof *ls);
    grpc__reflection__v1__list_service_response__init(ls);
    ls->service = pz_arena_calloc(a, r->n_services, sizeof *ls->service);
    ls->n_service = r->n_services;
    for (size_t i = 0; i < r->n_services; i++) {
        Grpc__Reflection__V1__ServiceResponse *s = pz_arena_alloc(a, sizeof *s);
        grpc__reflection__v1__service_response__init(s);
        s->name = (char *)r->services[i];
        ls->service[i] = s;
    }
    rs->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
    rs->list_services_response = ls;
}

static void answer_extension(const pz_reflection *r, pz_arena *a, refl_response *rs,
                             const Grpc__Reflection__V1__ExtensionRequest *ext)
{
    const char *type = ext != NULL && ext->containing_type != NULL ? ext->containing_type : "";
    int32_t number = ext != NULL ? ext->extension_number : 0;
    for (size_t i = 0; i < r->n_extensions; i++) {
        if (r->extensions[i].number == number && strcmp(r->extensions[i].extendee, type) == 0) {
            answer_files(r, a, rs, r->extensions[i].file);
            return;
        }
    }
    answer_error(a, rs, CODE_NOT_FOUND, pz_arena_printf(a, "extension %d of %s not found", number, type));
}

static void answer_extension_numbers(const pz_reflection *r, pz_arena *a, refl_response *rs, const char *type)
{
    pz_reflection_kind kind;
    if (pz_reflection_find_symbol(r, type, &kind) < 0 || kind != PZ_REFLECTION_MESSAGE) {
        answer_error(a, rs, CODE_NOT_FOUND, pz_arena_printf(a, "message type %s not found", type));
        return;
    }
    Grpc__Reflection__V1__ExtensionNumberResponse *en = pz_arena_alloc(a, sizeof *en);
    grpc__reflection__v1__extension_number_response__init(en);
    en->base_type_name = (char *)type;
    en->extension_number = pz_arena_calloc(a, r->n_extensions, sizeof *en->extension_number);
    for (size_t i = 0; i < r->n_extensions; i++) {
        if (strcmp(r->extensions[i].extendee, type) == 0)
            en->extension_number[en->n_extension_number++] = r->extensions[i].number;
    }
    rs->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
    rs->all_extension_numbers_response = en;
}

int pz_reflection_answer(const pz_reflection *r, pz_arena *arena, const uint8_t *req, size_t len, uint8_t **out,
                         size_t *out_len)
{
    refl_request *rq = grpc__reflection__v1__server_reflection_request__unpack(&arena->pb, len, req);
    if (rq == NULL)
        return -1;
    refl_response rs = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
    rs.valid_host = rq->host;
    rs.original_request = rq;
    int file;
    switch (rq->message_request_case) {
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
        answer_list_services(r, arena, &rs);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
        file = pz_reflection_find_symbol(r, rq->file_containing_symbol, NULL);
        if (file >= 0)
            answer_files(r, arena, &rs, (size_t)file);
        else
            answer_error(arena, &rs, CODE_NOT_FOUND,
                         pz_arena_printf(arena, "symbol %s not found", rq->file_containing_symbol));
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
        file = pz_reflection_find_file(r, rq->file_by_filename);
        if (file >= 0)
            answer_files(r, arena, &rs, (size_t)file);
        else
            answer_error(arena, &rs, CODE_NOT_FOUND, pz_arena_printf(arena, "file %s not found", rq->file_by_filename));
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
        answer_extension(r, arena, &rs, rq->file_containing_extension);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
        answer_extension_numbers(r, arena, &rs, rq->all_extension_numbers_of_type);
        break;
    default: answer_error(arena, &rs, CODE_UNIMPLEMENTED, "request kind not supported"); break;
    }
    *out_len = grpc__reflection__v1__server_reflection_response__get_packed_size(&rs);
    *out = pz_arena_alloc(arena, *out_len);
    grpc__reflection__v1__server_reflection_response__pack(&rs, *out);
    return 0;
}
