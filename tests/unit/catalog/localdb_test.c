/* Tests for server/catalog/localdb.c and item_meta.c, with the core's decorator
 * (server/core/decorate.c) choosing the back-end: the prepared value round trip (as JSON through
 * the transcoder and as protobuf on the wire), itemColumns, corrupt values, and the decoration
 * step per inferenceItemMetadata type (localdb, dynamodb and personalize without a backend, a
 * registered backend, decorateItems=false). The decoration's completion is captured here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gateway/transcode.h"
#include "server/catalog/catalog_load.h"
#include "server/catalog/item_meta.h"
#include "server/catalog/localdb.h"
#include "server/core/decorate.h"
#include "server/core/prerendered.h"

/* ---- the completion decoration reports ---- */

static int decorated_calls;
static pz_error decorated_err;
static bool decorated_failed;

static void decorated(pz_decoration *job, const pz_error *err)
{
    (void)job;
    decorated_calls++;
    decorated_failed = err != NULL;
    if (err != NULL)
        decorated_err = *err;
}

/* ---- prepared values ---- */

static Google__Protobuf__Struct *prepare(const char *json, pz_arena *arena, const char *const *columns, size_t n)
{
    json_error_t jerr;
    json_t *obj = json_loads(json, JSON_DECODE_INT_AS_REAL, &jerr);
    assert_non_null(obj);
    pz_buf value;
    pz_buf_init(&value, 1 << 20);
    char err[256];
    assert_int_equal(pz_item_meta_encode(obj, "id", &value, err, sizeof err), 0);
    json_decref(obj);
    Google__Protobuf__Struct *s = pz_item_meta_to_struct(value.data, value.len, columns, n, arena);
    pz_buf_free(&value);
    return s;
}

static char *to_json(const ProtobufCMessage *m)
{
    pz_buf out;
    pz_buf_init(&out, 1 << 20);
    assert_int_equal(pz_message_to_json(m, &out), 0);
    size_t len;
    return pz_buf_take(&out, &len);
}

static uint8_t *packed(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *wire = malloc(*len + 1);
    assert_int_equal(protobuf_c_message_pack(m, wire), *len);
    return wire;
}

/* Renders s (prerendered) as JSON and checks both forms against the plain Struct decoded from its
 * entries: the transcoder's walk writes the very same text, and protobuf-c packs the very same
 * bytes. */
static char *checked_json(const Google__Protobuf__Struct *s)
{
    const char *json;
    size_t len;
    unsigned depth;
    assert_true(pz_prerendered_json(&s->base, &json, &len, &depth));
    assert_int_equal(s->n_fields, 0); /* the entries travel as unknown fields */
    pz_arena arena;
    pz_arena_init(&arena);
    Google__Protobuf__Struct *plain = pz_prerendered_expand(s, &arena);
    assert_non_null(plain);
    assert_ptr_equal(plain->base.descriptor, &google__protobuf__struct__descriptor);
    char *fast = to_json(&s->base), *slow = to_json(&plain->base);
    assert_int_equal(strlen(fast), len);
    assert_string_equal(fast, slow);
    size_t n1, n2;
    uint8_t *w1 = packed(&s->base, &n1), *w2 = packed(&plain->base, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(w1, w2, n1);
    free(w1);
    free(w2);
    free(slow);
    pz_arena_destroy(&arena);
    return fast;
}

static void test_prepared_value_renders_the_item(void **state)
{
    (void)state;
    pz_arena arena;
    pz_arena_init(&arena);
    const char *item = "{\"id\":\"sku-1\",\"name\":\"Trail \\\"Shoe\\\" \xC3\xA9\",\"price\":89.5,\"count\":3,"
                       "\"in_stock\":true,\"gone\":false,\"note\":null,\"tags\":[\"a\",[],{}],"
                       "\"dims\":{\"w\":{\"cm\":[1,2.25]}},\"empty\":{}}";
    Google__Protobuf__Struct *s = prepare(item, &arena, NULL, 0);
    assert_non_null(s);
    char *json = checked_json(s);
    assert_string_equal(json, "{\"name\":\"Trail \\\"Shoe\\\" \xC3\xA9\",\"price\":89.5,\"count\":3,"
                              "\"in_stock\":true,\"gone\":false,\"note\":null,\"tags\":[\"a\",[],{}],"
                              "\"dims\":{\"w\":{\"cm\":[1,2.25]}},\"empty\":{}}");
    free(json);

    /* gRPC: the Struct packs and reads back identically */
    size_t n = protobuf_c_message_get_packed_size(&s->base);
    uint8_t *wire = malloc(n);
    assert_int_equal(protobuf_c_message_pack(&s->base, wire), n);
    Google__Protobuf__Struct *back =
        (Google__Protobuf__Struct *)protobuf_c_message_unpack(&google__protobuf__struct__descriptor, NULL, n, wire);
    assert_non_null(back);
    char *a = to_json(&s->base), *b = to_json(&back->base);
    assert_string_equal(a, b);
    free(a);
    free(b);
    protobuf_c_message_free_unpacked(&back->base, NULL);
    free(wire);
    pz_arena_destroy(&arena);
}

static void test_item_columns_limit_top_level_fields(void **state)
{
    (void)state;
    pz_arena arena;
    pz_arena_init(&arena);
    const char *item = "{\"id\":\"x\",\"name\":\"N\",\"nested\":{\"name\":\"inner\",\"price\":1},\"price\":2,"
                       "\"tags\":[1,{\"price\":3}]}";
    const char *cols[] = {"price", "nested", "absent"};
    char *json = checked_json(prepare(item, &arena, cols, 3));
    assert_string_equal(json, "{\"nested\":{\"name\":\"inner\",\"price\":1},\"price\":2}"); /* stored order */
    free(json);
    const char *none[] = {"zzz"};
    json = checked_json(prepare(item, &arena, none, 1));
    assert_string_equal(json, "{}");
    free(json);
    pz_arena_destroy(&arena);
}

/* Numbers and strings the prerendered JSON must spell exactly as the transcoder does. */
static void test_prerendered_json_matches_the_transcoder(void **state)
{
    (void)state;
    pz_arena arena;
    pz_arena_init(&arena);
    static const char *const items[] = {
        "{\"n\":[0,-0,1,-1,0.1,0.2,0.3,1e21,1e22,1e-7,5e-324,1.7976931348623157e308,2.5,100,1e15,1e16,"
        "123456789012345678,3.141592653589793,-2.2250738585072014e-308,0.30000000000000004,9007199254740993]}",
        "{\"s\":\"quote\\\" back\\\\ slash/ \\n\\r\\t\\b\\f \\u0001\\u001f \\u007f\"}",
        "{\"u\":\"\\u2028 \\u2029 \\u00e9 \\ud83d\\ude00 \xE2\x80\xA8\xE2\x80\xA9 \xE2\x82\xAC end\"}",
        "{\"k\\u2028\\\"\":1,\"\":\"empty key\",\"\\u00e9\":{\"\":[]}}",
        "{\"deep\":{\"a\":[{\"b\":[[],{}]},null,true,false],\"c\":{}}}",
        "{}",
    };
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        Google__Protobuf__Struct *s = prepare(items[i], &arena, NULL, 0);
        assert_non_null(s);
        free(checked_json(s));
        const char *cols[] = {"s", "n", "deep", ""};
        free(checked_json(prepare(items[i], &arena, cols, 4)));
    }
    pz_arena_destroy(&arena);
}

static void test_corrupt_values_are_rejected(void **state)
{
    (void)state;
    pz_arena arena;
    pz_arena_init(&arena);
    json_t *obj = json_loads("{\"id\":\"x\",\"a\":\"text\",\"b\":[1,{\"c\":null}],\"d\":{\"e\":true}}", 0, NULL);
    pz_buf value;
    pz_buf_init(&value, 1 << 16);
    char err[256];
    assert_int_equal(pz_item_meta_encode(obj, "id", &value, err, sizeof err), 0);
    json_decref(obj);
    assert_non_null(pz_item_meta_to_struct(value.data, value.len, NULL, 0, &arena));
    for (size_t cut = 0; cut < value.len; cut++) /* every truncation */
        assert_null(pz_item_meta_to_struct(value.data, cut, NULL, 0, &arena));
    unsigned char *copy = malloc(value.len);
    unsigned seed = 7;
    for (int round = 0; round < 5000; round++) { /* random byte flips: a NULL or a sane Struct, never a crash */
        memcpy(copy, value.data, value.len);
        copy[rand_r(&seed) % value.len] ^= (unsigned char)(1 + rand_r(&seed) % 255);
        Google__Protobuf__Struct *s = pz_item_meta_to_struct(copy, value.len, NULL, 0, &arena);
        if (s != NULL) {
            pz_buf out;
            pz_buf_init(&out, 1 << 20);
            pz_message_to_json(&s->base, &out);
            pz_buf_free(&out);
        }
        pz_arena_reset(&arena);
    }
    free(copy);
    pz_buf_free(&value);
    pz_arena_destroy(&arena);
}

static void test_encode_rejects_non_objects_and_caps(void **state)
{
    (void)state;
    pz_buf value;
    pz_buf_init(&value, 64);
    char err[256];
    json_t *arr = json_loads("[1]", 0, NULL);
    assert_int_equal(pz_item_meta_encode(arr, NULL, &value, err, sizeof err), -1);
    json_decref(arr);
    pz_buf_clear(&value);
    json_t *big =
        json_loads("{\"id\":\"x\",\"s\":\"0123456789012345678901234567890123456789012345678901234\"}", 0, NULL);
    assert_int_equal(pz_item_meta_encode(big, "id", &value, err, sizeof err), -1); /* over the buffer's cap */
    assert_non_null(strstr(err, "too large"));
    json_decref(big);
    pz_buf_free(&value);
}

/* ---- decoration ---- */

static const char CONFIG[] =
    "{\"namespaces\":{"
    "\"shop\":{\"inferenceItemMetadata\":{\"type\":\"localdb\"},"
    "\"recommenders\":{\"recommend-items\":{\"r\":{\"variations\":{\"v\":{\"type\":\"builtin\"}}}}}},"
    "\"cols\":{\"inferenceItemMetadata\":{\"type\":\"localdb\",\"itemColumns\":[\"name\"]},"
    "\"recommenders\":{\"recommend-items\":{\"r\":{\"variations\":{\"v\":{\"type\":\"builtin\"}}}}}},"
    "\"dyn\":{\"inferenceItemMetadata\":{\"type\":\"dynamodb\"},"
    "\"recommenders\":{\"recommend-items\":{\"r\":{\"variations\":{\"v\":{\"type\":\"builtin\"}}}}}},"
    "\"pers\":{\"recommenders\":{\"recommend-items\":{\"r\":{"
    "\"inferenceItemMetadata\":{\"type\":\"personalize\",\"itemColumns\":[\"NAME\"]},"
    "\"variations\":{\"v\":{\"type\":\"builtin\"}}}}}},"
    "\"plain\":{\"recommenders\":{\"recommend-items\":{\"r\":{\"variations\":{\"v\":{\"type\":\"builtin\"}}}}}}}}";

typedef struct fixture {
    char dir[512];
    pz_catalog *catalog;
    pz_config *config;
    pz_arena arena;
    pz_request req;
} fixture;

static int setup(void **state)
{
    static int n;
    fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
    snprintf(f->dir, sizeof f->dir, "%s/decorate_test_%d_%d", tmp, (int)getpid(), n++);
    char err[256];
    assert_int_equal(pz_catalog_open(f->dir, NULL, &f->catalog, err, sizeof err), 0);
    const char *items = "{\"id\":\"a\",\"name\":\"Apple\",\"price\":1}\n{\"id\":\"b\",\"name\":\"Banana\"}\n";
    pz_catalog_load_result r;
    assert_int_equal(pz_catalog_load_buffer(f->catalog, "shop", items, strlen(items), NULL, &r, err, sizeof err), 0);
    assert_int_equal(pz_catalog_load_buffer(f->catalog, "cols", items, strlen(items), NULL, &r, err, sizeof err), 0);
    pz_config_problems p;
    pz_config_problems_init(&p);
    f->config = pz_config_parse(CONFIG, sizeof CONFIG - 1, &p);
    for (size_t i = 0; i < p.n; i++)
        fprintf(stderr, "%s: %s\n", p.items[i].path, p.items[i].message);
    assert_non_null(f->config);
    pz_config_problems_free(&p);
    pz_arena_init(&f->arena);
    pz_request_init(&f->req, &f->arena);
    decorated_calls = 0;
    decorated_failed = false;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pz_config_unref(f->config);
    pz_catalog_close(f->catalog);
    pz_arena_destroy(&f->arena);
    free(f);
    return 0;
}

/* The decoration of a response of namespace ns whose recommender answered with ids. */
typedef struct inference {
    pz_query query;
    pz_decoration job;
    Personalization__V1__PredictedItem **response_items;
} inference_t;

static inference_t *inference(fixture *f, const char *ns, const char *const *ids, size_t n)
{
    inference_t *inf = pz_arena_calloc(&f->arena, 1, sizeof *inf);
    pz_query *q = &inf->query;
    q->action = PZ_ACTION_RECOMMEND_ITEMS;
    q->namespace_ = ns;
    q->ns = pz_config_namespace(f->config, ns);
    assert_non_null(q->ns);
    q->recommender = pz_config_recommender(q->ns, PZ_ACTION_RECOMMEND_ITEMS, "r");
    q->recommender_key = "r";
    q->decorate_items = true;
    inf->response_items = pz_arena_calloc(&f->arena, n, sizeof *inf->response_items);
    for (size_t i = 0; i < n; i++) {
        inf->response_items[i] = (Personalization__V1__PredictedItem *)pz_arena_new_message(
            &f->arena, &personalization__v1__predicted_item__descriptor);
        inf->response_items[i]->item_id = (char *)ids[i];
        inf->response_items[i]->has_score = true;
        inf->response_items[i]->score = (double)(n - i);
    }
    inf->job = (pz_decoration){.query = q,
                               .variation = &q->recommender->variations[0],
                               .items = inf->response_items,
                               .n_items = n,
                               .arena = &f->arena,
                               .timing = &f->req.hints.upstream,
                               .done = decorated};
    return inf;
}

/* The decorator the server builds: localdb served by the catalog (when there is one). */
static pz_decorator *decorator(pz_catalog *catalog)
{
    pz_decorator *d = pz_decorator_create();
    if (catalog != NULL) {
        pz_decorator_backend localdb = pz_localdb_backend(catalog);
        pz_decorator_set_backend(d, PZ_ITEM_METADATA_LOCALDB, &localdb);
    }
    return d;
}

static void decorate(pz_decorator *d, inference_t *inf)
{
    pz_decorate(d, &inf->job);
}

static char *item_json(const Personalization__V1__PredictedItem *it)
{
    return to_json(&it->base);
}

static void test_localdb_decorates_found_items_in_place(void **state)
{
    fixture *f = *state;
    pz_decorator *d = decorator(f->catalog);
    const char *ids[] = {"b", "missing", "a", "b"};
    inference_t *inf = inference(f, "shop", ids, 4);
    decorate(d, inf);
    assert_int_equal(decorated_calls, 1);
    assert_false(decorated_failed);
    const char *want[] = {"{\"itemId\":\"b\",\"score\":4,\"metadata\":{\"name\":\"Banana\"}}",
                          "{\"itemId\":\"missing\",\"score\":3}",
                          "{\"itemId\":\"a\",\"score\":2,\"metadata\":{\"name\":\"Apple\",\"price\":1}}",
                          "{\"itemId\":\"b\",\"score\":1,\"metadata\":{\"name\":\"Banana\"}}"};
    for (size_t i = 0; i < 4; i++) {
        char *json = item_json(inf->response_items[i]);
        assert_string_equal(json, want[i]);
        free(json);
    }
    pz_decorator_destroy(d);
}

static void test_item_columns_from_the_namespace_block(void **state)
{
    fixture *f = *state;
    pz_decorator *d = decorator(f->catalog);
    const char *ids[] = {"a"};
    inference_t *inf = inference(f, "cols", ids, 1);
    decorate(d, inf);
    char *json = item_json(inf->response_items[0]);
    assert_string_equal(json, "{\"itemId\":\"a\",\"score\":1,\"metadata\":{\"name\":\"Apple\"}}");
    free(json);
    pz_decorator_destroy(d);
}

static void test_decorate_items_false_skips(void **state)
{
    fixture *f = *state;
    pz_decorator *d = decorator(f->catalog);
    const char *ids[] = {"a"};
    const char *namespaces[] = {"shop", "dyn", "pers"};
    for (size_t i = 0; i < 3; i++) {
        inference_t *inf = inference(f, namespaces[i], ids, 1);
        inf->query.decorate_items = false;
        decorate(d, inf);
        assert_false(decorated_failed);
        assert_null(inf->response_items[0]->metadata);
    }
    assert_int_equal(decorated_calls, 3);
    pz_decorator_destroy(d);
}

static void test_no_metadata_block_or_no_catalog(void **state)
{
    fixture *f = *state;
    pz_decorator *d = decorator(f->catalog);
    const char *ids[] = {"a"};
    inference_t *inf = inference(f, "plain", ids, 1); /* no inferenceItemMetadata */
    decorate(d, inf);
    assert_false(decorated_failed);
    assert_null(inf->response_items[0]->metadata);
    pz_decorator_destroy(d);
    d = decorator(NULL); /* localdb namespace, but no catalog in this process */
    inf = inference(f, "shop", ids, 1);
    decorate(d, inf);
    assert_false(decorated_failed);
    assert_null(inf->response_items[0]->metadata);
    assert_int_equal(decorated_calls, 2);
    pz_decorator_destroy(d);
}

static void test_remote_types_without_backend_fail_clearly(void **state)
{
    fixture *f = *state;
    pz_decorator *d = decorator(f->catalog);
    const char *ids[] = {"a"};
    const char *namespaces[] = {"dyn", "pers"};
    const char *types[] = {"'dynamodb'", "'personalize'"};
    for (size_t i = 0; i < 2; i++) {
        decorated_failed = false;
        inference_t *inf = inference(f, namespaces[i], ids, 1);
        decorate(d, inf);
        assert_true(decorated_failed);
        assert_int_equal(decorated_err.status, PZ_UNIMPLEMENTED);
        assert_string_equal(decorated_err.type, "Configuration");
        assert_string_equal(decorated_err.code, "ItemMetadataNotAvailable");
        assert_non_null(strstr(decorated_err.message, types[i]));
        assert_non_null(strstr(decorated_err.message, "use type 'localdb'"));
        assert_non_null(strstr(decorated_err.message, "decorateItems=false"));
    }
    assert_int_equal(decorated_calls, 2);
    pz_decorator_destroy(d);
}

static int backend_calls;

static void fake_dynamodb(void *ctx, pz_decoration *job)
{
    assert_ptr_equal(ctx, &backend_calls);
    assert_int_equal(job->im->type, PZ_ITEM_METADATA_DYNAMODB);
    backend_calls++;
    job->done(job, NULL);
}

static void test_registered_backend_is_used(void **state)
{
    fixture *f = *state;
    pz_decorator *d = decorator(f->catalog);
    pz_decorator_set_backend(d, PZ_ITEM_METADATA_DYNAMODB,
                             &(pz_decorator_backend){.decorate = fake_dynamodb, .self = &backend_calls});
    const char *ids[] = {"a"};
    decorate(d, inference(f, "dyn", ids, 1));
    assert_int_equal(backend_calls, 1);
    assert_false(decorated_failed);
    decorate(d, inference(f, "pers", ids, 1)); /* personalize still has none */
    assert_true(decorated_failed);
    pz_decorator_destroy(d);
}

/* The rules' field reader over prepared values: strings unescaped, numbers, other values as JSON
 * text, a missing field, and a corrupt value. */
static void test_item_meta_field(void **state)
{
    (void)state;
    json_t *obj = json_loads("{\"id\":\"x\",\"category\":\"shoes\",\"price\":12.5,\"quote\":\"say \\\"hi\\\"\","
                             "\"flag\":true,\"tags\":[1,\"a\"],\"caf\u00e9\":\"v\"}",
                             0, NULL);
    assert_non_null(obj);
    pz_buf value;
    pz_buf_init(&value, 1 << 20);
    char err[256];
    assert_int_equal(pz_item_meta_encode(obj, "id", &value, err, sizeof err), 0);
    json_decref(obj);
    pz_arena arena;
    pz_arena_init(&arena);
    static const char *const fields[] = {"price", "category", "quote", "flag", "tags", "caf\xc3\xa9", "id", "nope"};
    pz_field_value v[8] = {0};
    assert_int_equal(pz_item_meta_fields(value.data, value.len, fields, 8, v, &arena), 6);
    assert_int_equal(v[0].kind, PZ_FIELD_NUM);
    assert_true(v[0].num == 12.5);
    assert_int_equal(v[1].kind, PZ_FIELD_STR);
    assert_string_equal(v[1].text, "shoes");
    assert_int_equal(v[1].len, 5);
    assert_string_equal(v[2].text, "say \"hi\"");
    assert_int_equal(v[3].kind, PZ_FIELD_OTHER);
    assert_string_equal(v[3].text, "true");
    assert_string_equal(v[4].text, "[1,\"a\"]");
    assert_string_equal(v[5].text, "v");
    assert_int_equal(v[6].kind, PZ_FIELD_ABSENT); /* the id is left out of the value */
    assert_int_equal(v[7].kind, PZ_FIELD_ABSENT);
    /* a prefix of a key is not the key */
    static const char *const prefix[] = {"cat"};
    pz_field_value p1 = {0};
    assert_int_equal(pz_item_meta_fields(value.data, value.len, prefix, 1, &p1, &arena), 0);
    pz_field_value w = {0};
    assert_int_equal(pz_item_meta_fields(value.data, value.len - 3, fields, 1, &w, &arena), -1);
    pz_buf_free(&value);
    pz_arena_destroy(&arena);
}

/* The rules read fields through the decorator from the namespace's localdb catalog, whatever
 * decorateItems says; items not in the catalog stay absent. */
static void test_localdb_fields_for_the_rules(void **state)
{
    fixture *f = *state;
    pz_decorator *d = decorator(f->catalog);
    const char *ids[] = {"b", "missing", "a"};
    inference_t *inf = inference(f, "shop", ids, 3);
    inf->query.decorate_items = false;
    const char *fields[] = {"name", "price"};
    pz_field_value values[6] = {0};
    pz_field_lookup job = {
        .ns = "shop", .ids = ids, .n_ids = 3, .fields = fields, .n_fields = 2, .values = values, .arena = &f->arena};
    pz_error err;
    assert_int_equal(pz_decorator_fields(d, &inf->query, &job, &err), PZ_OK);
    assert_string_equal(values[0].text, "Banana");
    assert_int_equal(values[1].kind, PZ_FIELD_ABSENT);
    assert_int_equal(values[2].kind, PZ_FIELD_ABSENT);
    assert_int_equal(values[3].kind, PZ_FIELD_ABSENT);
    assert_string_equal(values[4].text, "Apple");
    assert_true(values[5].kind == PZ_FIELD_NUM && values[5].num == 1);
    /* A namespace without inferenceItemMetadata: nothing read. */
    inference_t *plain = inference(f, "plain", ids, 3);
    pz_field_value none[6] = {0};
    job.values = none;
    job.ns = "plain";
    assert_int_equal(pz_decorator_fields(d, &plain->query, &job, &err), PZ_OK);
    assert_int_equal(none[0].kind, PZ_FIELD_ABSENT);
    pz_decorator_destroy(d);
}

/* Whether the item's metadata names `name`. */
static bool decorated_with(const Personalization__V1__PredictedItem *it, const char *name)
{
    char *json = item_json(it), want[64];
    snprintf(want, sizeof want, "\"name\":\"%s\"", name);
    bool found = strstr(json, want) != NULL;
    free(json);
    return found;
}

/* The rules' reading of the "name" field of ids[0..n) of shop, keeping records[0..n); returns the
 * version they were read from. */
static uint64_t rules_read(fixture *f, pz_decorator *d, const char *const *ids, size_t n, pz_item_record *records)
{
    static const char *const fields[] = {"name"};
    pz_field_value *values = pz_arena_calloc(&f->arena, n, sizeof *values);
    pz_field_lookup job = {.ns = "shop",
                           .ids = ids,
                           .n_ids = n,
                           .fields = fields,
                           .n_fields = 1,
                           .values = values,
                           .arena = &f->arena,
                           .records = records};
    pz_error err;
    assert_int_equal(pz_decorator_fields(d, &inference(f, "shop", ids, n)->query, &job, &err), PZ_OK);
    return job.version;
}

/* Decoration reuses what the rules' field reader read (one catalog read per item per request):
 * with a record for every item it opens no view and shows what the rules ranked on, even when the
 * catalog changed since; with some items unread it reads the catalog, and takes the records only
 * when they are of the revision it sees (one revision per response). */
static void test_decoration_reuses_the_rules_reading(void **state)
{
    fixture *f = *state;
    pz_decorator *d = decorator(f->catalog);
    const char *ids[] = {"b", "missing", "a"};
    pz_item_record records[3] = {{0}};
    uint64_t version = rules_read(f, d, ids, 3, records);
    assert_true(records[0].known && records[0].found && records[1].known && !records[1].found && records[2].found);
    pz_catalog_info info;
    char msg[256];
    assert_int_equal(pz_catalog_info_get(f->catalog, "shop", &info, msg, sizeof msg), 0);
    assert_true(version == info.revision && info.revision > 0);

    /* the catalog changes after the rules read it */
    const char *items = "{\"id\":\"a\",\"name\":\"Apricot\",\"price\":1}\n{\"id\":\"b\",\"name\":\"Blueberry\"}\n";
    pz_catalog_load_result r;
    assert_int_equal(pz_catalog_load_buffer(f->catalog, "shop", items, strlen(items), NULL, &r, msg, sizeof msg), 0);

    /* every item read by the rules: decorated from their reading */
    pz_item_records all = {.items = records, .n = 3, .version = version};
    inference_t *inf = inference(f, "shop", ids, 3);
    inf->job.records = &all;
    decorate(d, inf);
    assert_false(decorated_failed);
    assert_true(decorated_with(inf->response_items[0], "Banana"));
    assert_null(inf->response_items[1]->metadata);
    assert_true(decorated_with(inf->response_items[2], "Apple"));

    /* an item the rules did not read (an added pin) and an older revision: all read again */
    const char *two[] = {"a", "b"};
    pz_item_record partial[2] = {records[2], {0}};
    pz_item_records old = {.items = partial, .n = 2, .version = version};
    inf = inference(f, "shop", two, 2);
    inf->job.records = &old;
    decorate(d, inf);
    assert_true(decorated_with(inf->response_items[0], "Apricot"));
    assert_true(decorated_with(inf->response_items[1], "Blueberry"));

    /* the same revision: the record is used, the unread item read */
    pz_item_record fresh[2] = {{0}};
    pz_item_records same = {.items = fresh, .n = 2, .version = rules_read(f, d, two, 1, fresh)};
    inf = inference(f, "shop", two, 2);
    inf->job.records = &same;
    decorate(d, inf);
    assert_false(decorated_failed);
    assert_true(decorated_with(inf->response_items[0], "Apricot"));
    assert_true(decorated_with(inf->response_items[1], "Blueberry"));
    pz_decorator_destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prepared_value_renders_the_item),
        cmocka_unit_test(test_item_columns_limit_top_level_fields),
        cmocka_unit_test(test_prerendered_json_matches_the_transcoder),
        cmocka_unit_test(test_corrupt_values_are_rejected),
        cmocka_unit_test(test_encode_rejects_non_objects_and_caps),
        cmocka_unit_test_setup_teardown(test_localdb_decorates_found_items_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_item_columns_from_the_namespace_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decorate_items_false_skips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_metadata_block_or_no_catalog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_types_without_backend_fail_clearly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registered_backend_is_used, setup, teardown),
        cmocka_unit_test(test_item_meta_field),
        cmocka_unit_test_setup_teardown(test_localdb_fields_for_the_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decoration_reuses_the_rules_reading, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
