#include "server/core/status.h"

#include <stdarg.h>
#include <stdio.h>

#include "server/core/mem.h"

/* gRPC status code numbers (grpc/status.h), spelled out so the core needs no grpc header. */
enum {
    GRPC_OK = 0,
    GRPC_INVALID_ARGUMENT = 3,
    GRPC_DEADLINE_EXCEEDED = 4,
    GRPC_NOT_FOUND = 5,
    GRPC_PERMISSION_DENIED = 7,
    GRPC_RESOURCE_EXHAUSTED = 8,
    GRPC_UNIMPLEMENTED = 12,
    GRPC_INTERNAL = 13,
    GRPC_UNAVAILABLE = 14,
    GRPC_UNAUTHENTICATED = 16,
};

static const struct {
    const char *name;
    int http;
    int grpc;
} status_table[PZ_STATUS__COUNT] = {
    [PZ_OK] = {"OK", 200, GRPC_OK},
    [PZ_INVALID_ARGUMENT] = {"INVALID_ARGUMENT", 400, GRPC_INVALID_ARGUMENT},
    [PZ_NOT_FOUND] = {"NOT_FOUND", 404, GRPC_NOT_FOUND},
    [PZ_UNAUTHENTICATED] = {"UNAUTHENTICATED", 401, GRPC_UNAUTHENTICATED},
    [PZ_PERMISSION_DENIED] = {"PERMISSION_DENIED", 403, GRPC_PERMISSION_DENIED},
    [PZ_RESOURCE_EXHAUSTED] = {"RESOURCE_EXHAUSTED", 429, GRPC_RESOURCE_EXHAUSTED},
    [PZ_UNAVAILABLE] = {"UNAVAILABLE", 503, GRPC_UNAVAILABLE},
    [PZ_DEADLINE_EXCEEDED] = {"DEADLINE_EXCEEDED", 504, GRPC_DEADLINE_EXCEEDED},
    [PZ_UPSTREAM_FAILED] = {"UPSTREAM_FAILED", 502, GRPC_UNAVAILABLE},
    [PZ_UNIMPLEMENTED] = {"UNIMPLEMENTED", 501, GRPC_UNIMPLEMENTED},
    [PZ_INTERNAL] = {"INTERNAL", 500, GRPC_INTERNAL},
};

static int status_valid(pz_status s)
{
    return (unsigned)s < PZ_STATUS__COUNT;
}

const char *pz_status_str(pz_status s)
{
    return status_valid(s) ? status_table[s].name : "UNKNOWN";
}

int pz_status_http(pz_status s)
{
    return status_valid(s) ? status_table[s].http : 500;
}

int pz_status_grpc(pz_status s)
{
    return status_valid(s) ? status_table[s].grpc : GRPC_INTERNAL;
}

pz_status pz_error_setf(pz_error *err, pz_arena *arena, pz_status status, const char *type, const char *code,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    size_t size = (size_t)(n < 0 ? 0 : n) + 1;
    char *msg = pz_arena_alloc(arena, size);
    va_start(ap, fmt);
    vsnprintf(msg, size, fmt, ap);
    va_end(ap);
    *err = (pz_error){status, type, code, msg};
    return status;
}
