#include "server/grpc/health.h"

#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "server/core/rpc.h"

enum { GRPC_CODE_OK = 0, GRPC_CODE_INVALID_ARGUMENT = 3, GRPC_CODE_NOT_FOUND = 5 };

static int service_known(const char *name)
{
    return name[0] == '\0' || strcmp(name, PZ_SERVICE_FULL_NAME) == 0;
}

int pz_health_check(pz_arena *arena, const uint8_t *req, size_t len, uint8_t **out, size_t *out_len,
                    const char **message)
{
    *out = NULL;
    *out_len = 0;
    *message = NULL;
    Grpc__Health__V1__HealthCheckRequest *rq = grpc__health__v1__health_check_request__unpack(&arena->pb, len, req);
    if (rq == NULL) {
        *message = "request is not a valid grpc.health.v1.HealthCheckRequest";
        return GRPC_CODE_INVALID_ARGUMENT;
    }
    const char *service = rq->service != NULL ? rq->service : "";
    if (!service_known(service)) {
        *message = pz_arena_printf(arena, "unknown service \"%s\"", service);
        return GRPC_CODE_NOT_FOUND;
    }
    Grpc__Health__V1__HealthCheckResponse rs = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    rs.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    *out_len = grpc__health__v1__health_check_response__get_packed_size(&rs);
    *out = pz_arena_alloc(arena, *out_len);
    grpc__health__v1__health_check_response__pack(&rs, *out);
    return GRPC_CODE_OK;
}
