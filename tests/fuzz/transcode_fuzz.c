/* libFuzzer target for gateway/transcode*.c: the bytes are fed to every input path the REST front
 * uses (PutEventsRequest body, RecommendationResponse JSON, the rerank array body, query-parameter
 * text, merge), and to the test message with every field type (tests/unit/gateway/
 * transcode_test_types.proto); whatever parses is checked for round trips:
 *   JSON -> message -> JSON1 -> message -> JSON2 must give JSON1 == JSON2, and
 *   message -> protobuf binary -> message -> JSON must give JSON1 too.
 * Errors must come with a non-empty, valid UTF-8 message.
 *
 * Not a Bazel target: built and run by tests/fuzz/run.sh (`tests/fuzz/run.sh 60 transcode`), which
 * compiles it with clang, libFuzzer, ASan and UBSan against the tree's sources; corpus in
 * tests/fuzz/corpus/transcode, dictionary tests/fuzz/transcode.dict.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/transcode.h"
#include "gateway/transcode_internal.h"
#include "personalization/v1/personalization.pb-c.h"
#include "tests/unit/gateway/transcode_test_types.pb-c.h"

static void check_error(pz_status st, const pz_transcode_error *err)
{
    if (st == PZ_OK)
        return;
    if (st != PZ_INVALID_ARGUMENT || err->message == NULL || err->message[0] == '\0' ||
        !pz_utf8_valid(err->message, strlen(err->message)))
        abort();
}

/* JSON text of m (abort when it cannot be written: output is bounded by the input checks). */
static char *write_json(const ProtobufCMessage *m, size_t *len)
{
    pz_buf b;
    pz_buf_init(&b, 1 << 26);
    if (pz_message_to_json(m, &b) != 0)
        abort();
    return pz_buf_take(&b, len);
}

static void round_trip(const ProtobufCMessage *m, pz_arena *arena)
{
    size_t len1, len2, len3;
    char *json1 = write_json(m, &len1);
    ProtobufCMessage *again = NULL;
    pz_transcode_error err;
    if (pz_json_to_message(m->descriptor, json1, len1, arena, &again, &err) != PZ_OK) {
        fprintf(stderr, "re-parse failed: %s\n%s\n", err.message, json1);
        abort();
    }
    char *json2 = write_json(again, &len2);
    if (len1 != len2 || memcmp(json1, json2, len1) != 0) {
        fprintf(stderr, "round trip differs:\n%s\n%s\n", json1, json2);
        abort();
    }
    size_t packed_len = protobuf_c_message_get_packed_size(m);
    uint8_t *packed = malloc(packed_len ? packed_len : 1);
    if (protobuf_c_message_pack(m, packed) != packed_len)
        abort();
    ProtobufCMessage *unpacked = protobuf_c_message_unpack(m->descriptor, &arena->pb, packed_len, packed);
    if (unpacked == NULL)
        abort();
    char *json3 = write_json(unpacked, &len3);
    if (len1 != len3 || memcmp(json1, json3, len1) != 0) {
        fprintf(stderr, "binary round trip differs:\n%s\n%s\n", json1, json3);
        abort();
    }
    free(packed);
    free(json1);
    free(json2);
    free(json3);
}

static void parse_as(const ProtobufCMessageDescriptor *desc, const char *data, size_t size, pz_arena *arena)
{
    ProtobufCMessage *m = NULL;
    pz_transcode_error err;
    pz_status st = pz_json_to_message(desc, data, size, arena, &m, &err);
    check_error(st, &err);
    if (st == PZ_OK)
        round_trip(m, arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    const char *data = (const char *)bytes;
    pz_arena arena;
    pz_arena_init(&arena);
    pz_transcode_error err;
    pz_status st;

    parse_as(&personalization__v1__put_events_request__descriptor, data, size, &arena);
    parse_as(&personalization__v1__recommendation_response__descriptor, data, size, &arena);
    parse_as(&pztest__all_types__descriptor, data, size, &arena);

    Personalization__V1__RerankItemsRequest rerank = PERSONALIZATION__V1__RERANK_ITEMS_REQUEST__INIT;
    st = pz_message_set_field_from_json(&rerank.base, "itemIds", data, size, &arena, &err);
    check_error(st, &err);
    st = pz_message_set_field_from_text(&rerank.base, "itemIds", data, size, PZ_TEXT_SPLIT_COMMAS, &arena, &err);
    check_error(st, &err);
    round_trip(&rerank.base, &arena);

    Personalization__V1__RecommendItemsRequest rec = PERSONALIZATION__V1__RECOMMEND_ITEMS_REQUEST__INIT;
    static const char *const params[] = {"numResults", "context", "filterValues", "decorateItems", "userId"};
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        st = pz_message_set_field_from_text(&rec.base, params[i], data, size, PZ_TEXT_PLAIN, &arena, &err);
        check_error(st, &err);
    }
    round_trip(&rec.base, &arena);

    ProtobufCMessage *events = NULL;
    static const char base[] = "{\"sessionId\":\"s\",\"eventList\":[{\"eventType\":\"click\"}]}";
    if (pz_json_to_message(&personalization__v1__put_events_request__descriptor, base, sizeof base - 1, &arena, &events,
                           &err) != PZ_OK)
        abort();
    st = pz_json_merge_into_message(events, data, size, &arena, &err);
    check_error(st, &err);
    if (st == PZ_OK)
        round_trip(events, &arena);

    pz_arena_destroy(&arena);
    return 0;
}
