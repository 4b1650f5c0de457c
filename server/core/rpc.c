#include "server/core/rpc.h"

#include <string.h>

#include "personalization/v1/personalization.pb-c.h"

#define GRPC_PATH(method) "/" PZ_SERVICE_FULL_NAME "/" method

static const pz_rpc_info rpc_table[PZ_RPC__COUNT] = {
    {PZ_RPC_RECOMMEND_ITEMS, "RecommendItems", GRPC_PATH("RecommendItems"),
     &personalization__v1__recommend_items_request__descriptor,
     &personalization__v1__recommendation_response__descriptor},
    {PZ_RPC_RELATED_ITEMS, "RelatedItems", GRPC_PATH("RelatedItems"),
     &personalization__v1__related_items_request__descriptor,
     &personalization__v1__recommendation_response__descriptor},
    {PZ_RPC_RERANK_ITEMS, "RerankItems", GRPC_PATH("RerankItems"),
     &personalization__v1__rerank_items_request__descriptor, &personalization__v1__rerank_response__descriptor},
    {PZ_RPC_PUT_EVENTS, "PutEvents", GRPC_PATH("PutEvents"), &personalization__v1__put_events_request__descriptor,
     &personalization__v1__put_events_response__descriptor},
    {PZ_RPC_LIST_EXPERIMENTS, "ListExperiments", GRPC_PATH("ListExperiments"),
     &personalization__v1__list_experiments_request__descriptor,
     &personalization__v1__list_experiments_response__descriptor},
    {PZ_RPC_GET_EXPERIMENT_RESULTS, "GetExperimentResults", GRPC_PATH("GetExperimentResults"),
     &personalization__v1__get_experiment_results_request__descriptor,
     &personalization__v1__experiment_results__descriptor},
};

const pz_rpc_info *pz_rpc_get(pz_rpc rpc)
{
    return &rpc_table[rpc];
}

const pz_rpc_info *pz_rpc_by_grpc_path(const char *path)
{
    for (int i = 0; i < PZ_RPC__COUNT; i++) {
        if (strcmp(rpc_table[i].grpc_path, path) == 0)
            return &rpc_table[i];
    }
    return NULL;
}
