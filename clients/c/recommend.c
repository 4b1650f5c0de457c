/* Example C client (grpc core 1.51 + protobuf-c): one RecommendItems call.
 *
 *   bazel run //clients/c:recommend -- 127.0.0.1:50051 user-0001 5
 *
 * Prints the items with their scores and the response metadata, or the gRPC status and message.
 * One channel, one call, a pluck completion queue and a 5 s deadline: the smallest complete use
 * of the core client API (see BUILDING.md §3 for the server side of the same API). */
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "personalization/v1/personalization.pb-c.h"

static void print_metadata(const grpc_metadata_array *md)
{
    for (size_t i = 0; i < md->count; i++) {
        const grpc_metadata *m = &md->metadata[i];
        printf("  %.*s: %.*s\n", (int)GRPC_SLICE_LENGTH(m->key), (const char *)GRPC_SLICE_START_PTR(m->key),
               (int)GRPC_SLICE_LENGTH(m->value), (const char *)GRPC_SLICE_START_PTR(m->value));
    }
}

static int print_response(grpc_byte_buffer *payload)
{
    grpc_byte_buffer_reader reader;
    if (payload == NULL || !grpc_byte_buffer_reader_init(&reader, payload)) {
        fprintf(stderr, "no response message\n");
        return 1;
    }
    grpc_slice bytes = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    Personalization__V1__RecommendationResponse *resp = personalization__v1__recommendation_response__unpack(
        NULL, GRPC_SLICE_LENGTH(bytes), GRPC_SLICE_START_PTR(bytes));
    grpc_slice_unref(bytes);
    if (resp == NULL) {
        fprintf(stderr, "the response is not a RecommendationResponse\n");
        return 1;
    }
    printf("recommendationId %s\n", resp->recommendation_id ? resp->recommendation_id : "-");
    for (size_t i = 0; i < resp->n_item_list; i++)
        printf("  %-12s %.4f\n", resp->item_list[i]->item_id, resp->item_list[i]->score);
    personalization__v1__recommendation_response__free_unpacked(resp, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    const char *target = argc > 1 ? argv[1] : "127.0.0.1:50051";
    const char *user = argc > 2 ? argv[2] : "user-0001";
    int num_results = argc > 3 ? atoi(argv[3]) : 5;

    grpc_init();
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *channel = grpc_channel_create(target, creds, NULL);
    grpc_channel_credentials_release(creds);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(5, GPR_TIMESPAN));
    grpc_call *call = grpc_channel_create_call(
        channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
        grpc_slice_from_static_string("/personalization.v1.PersonalizationService/RecommendItems"), NULL, deadline,
        NULL);

    Personalization__V1__RecommendItemsRequest req = PERSONALIZATION__V1__RECOMMEND_ITEMS_REQUEST__INIT;
    req.namespace_ = "demo";
    req.recommender = "for-you";
    req.user_id = (char *)user;
    req.has_num_results = 1;
    req.num_results = num_results;
    grpc_slice body = grpc_slice_malloc(personalization__v1__recommend_items_request__get_packed_size(&req));
    personalization__v1__recommend_items_request__pack(&req, GRPC_SLICE_START_PTR(body));
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);

    grpc_metadata_array initial_md, trailing_md;
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    grpc_byte_buffer *recv = NULL;
    grpc_status_code status;
    grpc_slice details;
    grpc_op ops[6];
    memset(ops, 0, sizeof ops); /* unused fields of each op must be zero */
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    int tag = 1;
    int rc = 1;
    if (grpc_call_start_batch(call, ops, 6, &tag, NULL) == GRPC_CALL_OK &&
        grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).success) {
        if (status == GRPC_STATUS_OK) {
            rc = print_response(recv);
            print_metadata(&initial_md);
        } else {
            fprintf(stderr, "status %d: %.*s\n", status, (int)GRPC_SLICE_LENGTH(details),
                    (const char *)GRPC_SLICE_START_PTR(details));
            print_metadata(&trailing_md);
        }
        grpc_slice_unref(details);
    } else {
        fprintf(stderr, "the call could not complete\n");
    }

    grpc_byte_buffer_destroy(send);
    if (recv != NULL)
        grpc_byte_buffer_destroy(recv);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
    grpc_channel_destroy(channel);
    grpc_shutdown();
    return rc;
}
