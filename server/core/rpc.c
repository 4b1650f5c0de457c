#include "server/core/rpc.h"

#include <string.h>

#include "personalization/v1/admin.pb-c.h"
#include "personalization/v1/personalization.pb-c.h"

#define GRPC_PATH(method) "/" PZ_SERVICE_FULL_NAME "/" method
#define ADMIN_PATH(method) "/" PZ_ADMIN_SERVICE_FULL_NAME "/" method
#define ADMIN_ROW(rpc, method, request, response)                                                                      \
    {                                                                                                                  \
        rpc, PZ_API_ADMIN, method, ADMIN_PATH(method), &personalization__v1__##request##__descriptor,                  \
            &response##__descriptor                                                                                    \
    }

static const pz_rpc_info rpc_table[PZ_RPC__COUNT] = {
    {PZ_RPC_RECOMMEND_ITEMS, PZ_API_PUBLIC, "RecommendItems", GRPC_PATH("RecommendItems"),
     &personalization__v1__recommend_items_request__descriptor,
     &personalization__v1__recommendation_response__descriptor},
    {PZ_RPC_RELATED_ITEMS, PZ_API_PUBLIC, "RelatedItems", GRPC_PATH("RelatedItems"),
     &personalization__v1__related_items_request__descriptor,
     &personalization__v1__recommendation_response__descriptor},
    {PZ_RPC_RERANK_ITEMS, PZ_API_PUBLIC, "RerankItems", GRPC_PATH("RerankItems"),
     &personalization__v1__rerank_items_request__descriptor, &personalization__v1__rerank_response__descriptor},
    {PZ_RPC_PUT_EVENTS, PZ_API_PUBLIC, "PutEvents", GRPC_PATH("PutEvents"),
     &personalization__v1__put_events_request__descriptor, &personalization__v1__put_events_response__descriptor},
    {PZ_RPC_LIST_EXPERIMENTS, PZ_API_PUBLIC, "ListExperiments", GRPC_PATH("ListExperiments"),
     &personalization__v1__list_experiments_request__descriptor,
     &personalization__v1__list_experiments_response__descriptor},
    {PZ_RPC_GET_EXPERIMENT_RESULTS, PZ_API_PUBLIC, "GetExperimentResults", GRPC_PATH("GetExperimentResults"),
     &personalization__v1__get_experiment_results_request__descriptor,
     &personalization__v1__experiment_results__descriptor},
    ADMIN_ROW(PZ_RPC_ADMIN_GET_CONFIG, "GetConfig", get_config_request, personalization__v1__config_record),
    ADMIN_ROW(PZ_RPC_ADMIN_LIST_CONFIG_HISTORY, "ListConfigHistory", list_config_history_request,
              personalization__v1__config_history),
    ADMIN_ROW(PZ_RPC_ADMIN_GET_CONFIG_RECORD, "GetConfigRecord", get_config_record_request,
              personalization__v1__config_record),
    ADMIN_ROW(PZ_RPC_ADMIN_VALIDATE_CONFIG, "ValidateConfig", config_document, personalization__v1__config_validation),
    ADMIN_ROW(PZ_RPC_ADMIN_APPLY_CONFIG, "ApplyConfig", config_document, personalization__v1__config_change),
    ADMIN_ROW(PZ_RPC_ADMIN_ROLLBACK_CONFIG, "RollbackConfig", rollback_config_request,
              personalization__v1__config_change),
    ADMIN_ROW(PZ_RPC_ADMIN_GET_CATALOG_STATUS, "GetCatalogStatus", catalog_status_request, google__protobuf__struct),
    ADMIN_ROW(PZ_RPC_ADMIN_UPSERT_ITEMS, "UpsertItems", upsert_items_request, google__protobuf__struct),
    ADMIN_ROW(PZ_RPC_ADMIN_DELETE_ITEMS, "DeleteItems", delete_items_request, google__protobuf__struct),
    ADMIN_ROW(PZ_RPC_ADMIN_GET_EVENT_STATS, "GetEventStats", get_event_stats_request, google__protobuf__struct),
    ADMIN_ROW(PZ_RPC_ADMIN_LIST_DEAD_LETTERS, "ListDeadLetters", list_dead_letters_request, google__protobuf__struct),
    ADMIN_ROW(PZ_RPC_ADMIN_REPLAY_DEAD_LETTERS, "ReplayDeadLetters", replay_dead_letters_request,
              google__protobuf__struct),
    ADMIN_ROW(PZ_RPC_ADMIN_GET_CACHE_STATS, "GetCacheStats", get_cache_stats_request, google__protobuf__struct),
    ADMIN_ROW(PZ_RPC_ADMIN_PURGE_CACHE, "PurgeCache", purge_cache_request, google__protobuf__struct),
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

const char *pz_api_service_name(pz_api api)
{
    return api == PZ_API_ADMIN ? PZ_ADMIN_SERVICE_FULL_NAME : PZ_SERVICE_FULL_NAME;
}
