/* The method tables of the server's two services: PersonalizationService (the API, on the public
 * listeners) and AdminService (the operators', on the admin listeners). One row per RPC with its
 * names, message types and the API it belongs to. Both fronts derive their tables from this one
 * (gRPC paths, REST routes), so a new RPC is a row here plus its handler: the core's service for
 * the public API, server/ops/admin.h for the admin one. Read-only; any thread. */
#ifndef PZ_RPC_H
#define PZ_RPC_H

#include <protobuf-c/protobuf-c.h>

/* Which listeners serve a row. */
typedef enum pz_api {
    PZ_API_PUBLIC = 0, /* PersonalizationService: the REST and gRPC ports */
    PZ_API_ADMIN,      /* AdminService: the admin ports */
    PZ_API__COUNT
} pz_api;

typedef enum pz_rpc {
    PZ_RPC_RECOMMEND_ITEMS = 0,
    PZ_RPC_RELATED_ITEMS,
    PZ_RPC_RERANK_ITEMS,
    PZ_RPC_PUT_EVENTS,
    PZ_RPC_LIST_EXPERIMENTS,
    PZ_RPC_GET_EXPERIMENT_RESULTS,
    PZ_RPC_ADMIN_GET_CONFIG,
    PZ_RPC_ADMIN_LIST_CONFIG_HISTORY,
    PZ_RPC_ADMIN_GET_CONFIG_RECORD,
    PZ_RPC_ADMIN_VALIDATE_CONFIG,
    PZ_RPC_ADMIN_APPLY_CONFIG,
    PZ_RPC_ADMIN_ROLLBACK_CONFIG,
    PZ_RPC_ADMIN_GET_CATALOG_STATUS,
    PZ_RPC_ADMIN_UPSERT_ITEMS,
    PZ_RPC_ADMIN_DELETE_ITEMS,
    PZ_RPC_ADMIN_GET_EVENT_STATS,
    PZ_RPC_ADMIN_LIST_DEAD_LETTERS,
    PZ_RPC_ADMIN_REPLAY_DEAD_LETTERS,
    PZ_RPC_ADMIN_GET_CACHE_STATS,
    PZ_RPC_ADMIN_PURGE_CACHE,
    PZ_RPC__COUNT
} pz_rpc;

typedef struct pz_rpc_info {
    pz_rpc rpc;
    pz_api api;
    const char *name;      /* "RecommendItems" */
    const char *grpc_path; /* "/personalization.v1.PersonalizationService/RecommendItems" */
    const ProtobufCMessageDescriptor *request;
    const ProtobufCMessageDescriptor *response;
} pz_rpc_info;

#define PZ_SERVICE_FULL_NAME "personalization.v1.PersonalizationService"
#define PZ_ADMIN_SERVICE_FULL_NAME "personalization.v1.AdminService"

/* The row for rpc; rpc must be < PZ_RPC__COUNT. */
const pz_rpc_info *pz_rpc_get(pz_rpc rpc);
/* The row whose grpc_path equals path, or NULL. */
const pz_rpc_info *pz_rpc_by_grpc_path(const char *path);
/* The full gRPC service name of an API. */
const char *pz_api_service_name(pz_api api);

#endif
