/* gRPC server reflection (grpc.reflection.v1 and v1alpha, which share one wire format) for the
 * gRPC front: an index over the embedded descriptor set (proto/descriptor_set.h) and the answer to
 * one ServerReflectionRequest. Pure protobuf logic, no grpc calls; the front drives the bidi stream.
 *
 * The index is built once (pz_reflection_new) and is read-only afterwards: any thread may query it
 * concurrently. It keeps each file's original serialized FileDescriptorProto bytes and answers with
 * them unchanged.
 */
#ifndef PZ_GRPC_REFLECTION_H
#define PZ_GRPC_REFLECTION_H

#include <stddef.h>
#include <stdint.h>

#include "server/core/mem.h"

#define PZ_REFLECTION_V1_PATH "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
#define PZ_REFLECTION_V1ALPHA_PATH "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"

typedef struct pz_reflection pz_reflection;

/* What a fully-qualified symbol names. Enum values are scoped like C++ (siblings of their enum). */
typedef enum pz_reflection_kind {
    PZ_REFLECTION_SERVICE = 0,
    PZ_REFLECTION_METHOD,
    PZ_REFLECTION_MESSAGE,
    PZ_REFLECTION_ENUM,
    PZ_REFLECTION_FIELD,
    PZ_REFLECTION_ENUM_VALUE,
    PZ_REFLECTION_EXTENSION,
} pz_reflection_kind;

/* Parses a serialized google.protobuf.FileDescriptorSet. The bytes are copied. Returns the index,
 * or NULL with a message in err when the set does not parse or a dependency is missing. Free with
 * pz_reflection_free. */
pz_reflection *pz_reflection_new(const uint8_t *set, size_t len, char *err, size_t errlen);
void pz_reflection_free(pz_reflection *r);

size_t pz_reflection_file_count(const pz_reflection *r);
/* Name of file i (< file_count), e.g. "personalization/v1/personalization.proto". */
const char *pz_reflection_file_name(const pz_reflection *r, size_t i);
/* The original serialized FileDescriptorProto of file i; owned by the index. */
void pz_reflection_file_bytes(const pz_reflection *r, size_t i, const uint8_t **data, size_t *len);
/* Index of the file named `name`, or -1. */
int pz_reflection_find_file(const pz_reflection *r, const char *name);
/* Index of the file that defines the fully-qualified `symbol` ("pkg.Svc", "pkg.Svc.Method",
 * "pkg.Msg.Nested", "pkg.Enum", ...; no leading dot), or -1. *kind (if not NULL) is set on success. */
int pz_reflection_find_symbol(const pz_reflection *r, const char *symbol, pz_reflection_kind *kind);
/* Writes file i followed by its transitive dependencies, each once, to out (room for file_count
 * entries). Returns how many were written. */
size_t pz_reflection_closure(const pz_reflection *r, size_t i, size_t *out);
/* Leaves a service out of list_services answers (its symbols stay resolvable): for a service of
 * the set that this server does not serve on this port. Before the index is shared. */
void pz_reflection_hide_service(pz_reflection *r, const char *full_name);
/* The fully-qualified names of every listed service in the set, in file order. */
size_t pz_reflection_service_count(const pz_reflection *r);
const char *pz_reflection_service_name(const pz_reflection *r, size_t i);

/* Answers one serialized ServerReflectionRequest. Returns 0 with the packed
 * ServerReflectionResponse in *out / *out_len (allocated in arena), or -1 when the request does not
 * parse. Unknown symbols and files and unsupported requests are answered with an error_response
 * (NOT_FOUND / UNIMPLEMENTED), not with -1. */
int pz_reflection_answer(const pz_reflection *r, pz_arena *arena, const uint8_t *req, size_t len, uint8_t **out,
                         size_t *out_len);

#endif
