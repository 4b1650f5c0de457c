/* The method table of PersonalizationService: one row per RPC with its names and message types.
 * Both fronts derive their tables from this one (gRPC paths, REST routes), so a new RPC is a row
 * here plus its handler in the core. Read-only; any thread. */
#ifndef PZ_RPC_H
#define PZ_RPC_H

#include <protobuf-c/protobuf-c.h>

typedef enum pz_rpc {
    PZ_RPC_RECOMMEND_ITEMS = 0,
    PZ_RPC_RELATED_ITEMS,
    PZ_RPC_RERANK_ITEMS,
    PZ_RPC_PUT_EVENTS,
    PZ_RPC_LIST_EXPERIMENTS,
    PZ_RPC_GET_EXPERIMENT_RESULTS,
    PZ_RPC__COUNT
} pz_rpc;

typedef struct pz_rpc_info {
    pz_rpc rpc;
    const char *name;      /* "RecommendItems" */
    const char *grpc_path; /* "/personalization.v1.PersonalizationService/RecommendItems" */
    const ProtobufCMessageDescriptor *request;
    const ProtobufCMessageDescriptor *response;
} pz_rpc_info;

#define PZ_SERVICE_FULL_NAME "personalization.v1.PersonalizationService"

/* The row for rpc; rpc must be < PZ_RPC__COUNT. */
const pz_rpc_info *pz_rpc_get(pz_rpc rpc);
/* The row whose grpc_path equals path, or NULL. */
const pz_rpc_info *pz_rpc_by_grpc_path(const char *path);

#endif
