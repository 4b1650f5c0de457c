/* libFuzzer target for what upstreams answer: the first byte picks the reader.
 *   0: the JSON reader (server/upstream/json_read.c) with a small depth limit;
 *   1: a Personalize/Lambda/SageMaker/http item list (server/recommenders/remote_json.c), then
 *      written back the way the post-processor payload is (pz_remote_items_to_json) and its
 *      metadata packed as protobuf;
 *   2: a DynamoDB BatchGetItem answer: each item of Responses.<table> (or the document itself) to
 *      item metadata (server/recommenders/dynamodb.c), packed as protobuf.
 * Checked: no crash, leak or UB; a refused answer has a 502-class error with a non-empty valid
 * UTF-8 message; accepted lists hold at most PZ_MAX_NUM_RESULTS items with ids of 1..PZ_MAX_ID_LEN
 * valid UTF-8 bytes. Built and run by tests/fuzz/run.sh. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/json_text.h"
#include "server/core/query.h"
#include "server/recommenders/dynamodb.h"
#include "server/recommenders/remote.h"
#include "server/upstream/json_read.h"

static void pack_struct(const Google__Protobuf__Struct *s)
{
    if (s == NULL)
        return;
    size_t n = protobuf_c_message_get_packed_size(&s->base);
    uint8_t *buf = malloc(n ? n : 1);
    if (protobuf_c_message_pack(&s->base, buf) != n)
        abort();
    free(buf);
}

static void item_list(const char *data, size_t size, pz_arena *arena)
{
    pz_query q = {.action = size % 3 == 0 ? PZ_ACTION_RERANK_ITEMS : PZ_ACTION_RECOMMEND_ITEMS};
    pz_recommend_call rec = {.query = &q, .arena = arena};
    pz_error err = {0};
    if (!pz_remote_parse_items(data, size, "fuzz variation", "Fuzz", size % 2 == 0, &rec, &err)) {
        if (err.status == PZ_OK || err.message == NULL || err.message[0] == '\0' ||
            !pz_utf8_valid(err.message, strlen(err.message)))
            abort();
        return;
    }
    if (rec.n_items > PZ_MAX_NUM_RESULTS)
        abort();
    for (size_t i = 0; i < rec.n_items; i++) {
        size_t n = strlen(rec.items[i].item_id);
        if (n == 0 || n > PZ_MAX_ID_LEN || !pz_utf8_valid(rec.items[i].item_id, n))
            abort();
        if (rec.extras != NULL)
            pack_struct(rec.extras[i].metadata);
    }
    json_t *doc = pz_remote_items_to_json(&rec);
    char *text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL)
        abort();
    free(text);
    json_decref(doc);
}

static void dynamodb_items(const char *data, size_t size, pz_arena *arena)
{
    json_t *doc = json_loadb(data, size, 0, NULL);
    json_t *items = json_object_get(json_object_get(doc, "Responses"), "PersonalizationApiItemMetadata_shop");
    if (json_is_array(items)) {
        size_t i;
        json_t *item;
        json_array_foreach (items, i, item)
            pack_struct(pz_dynamodb_item_metadata(item, arena));
    } else if (json_is_object(doc)) {
        pack_struct(pz_dynamodb_item_metadata(doc, arena));
    }
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    if (size == 0)
        return 0;
    const char *data = (const char *)bytes + 1;
    size--;
    pz_arena arena;
    pz_arena_init(&arena);
    switch (bytes[0] % 3) {
    case 0: {
        char why[160];
        const pz_jvalue *v = pz_json_read(data, size, 8, &arena, why, sizeof why);
        if (v == NULL && (why[0] == '\0' || !pz_utf8_valid(why, strlen(why))))
            abort();
        break;
    }
    case 1: item_list(data, size, &arena); break;
    default: dynamodb_items(data, size, &arena); break;
    }
    pz_arena_destroy(&arena);
    return 0;
}
