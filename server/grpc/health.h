/* grpc.health.v1.Health/Check for the gRPC front: pure protobuf logic, no grpc calls, so it is
 * testable on its own. The server reports itself (service "") and PersonalizationService as
 * SERVING for as long as it accepts calls; Watch is not implemented (the front answers it with
 * UNIMPLEMENTED like any unknown method). Any thread. */
#ifndef PZ_GRPC_HEALTH_H
#define PZ_GRPC_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "server/core/mem.h"

#define PZ_HEALTH_CHECK_PATH "/grpc.health.v1.Health/Check"
#define PZ_HEALTH_SERVICE_NAME "grpc.health.v1.Health"

/* Answers one serialized HealthCheckRequest. Returns a grpc status code: 0 (OK) with the packed
 * HealthCheckResponse in *out / *out_len (arena-owned), or 3 INVALID_ARGUMENT (request does not
 * parse) / 5 NOT_FOUND (unknown service) with a NUL-terminated message in *message
 * (static or arena-owned); *out is NULL then. */
int pz_health_check(pz_arena *arena, const uint8_t *req, size_t len, uint8_t **out, size_t *out_len,
                    const char **message);

#endif
