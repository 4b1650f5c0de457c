/* Unit tests for server/grpc/reflection.c: the symbol index over the embedded descriptor set and
 * the answers to ServerReflectionRequests (v1 and v1alpha wire format). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "proto/descriptor_set.h"
#include "server/grpc/reflection.h"

#define SERVICE_FILE "personalization/v1/personalization.proto"
#define STRUCT_FILE "google/protobuf/struct.proto"

static int setup(void **state)
{
    char err[256] = "";
    pz_reflection *r = pz_reflection_new(pz_descriptor_set, pz_descriptor_set_len, err, sizeof err);
    if (r == NULL)
        fail_msg("pz_reflection_new: %s", err);
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    pz_reflection_free(*state);
    return 0;
}

static const char *file_of(const pz_reflection *r, const char *symbol, pz_reflection_kind *kind)
{
    int f = pz_reflection_find_symbol(r, symbol, kind);
    return f < 0 ? NULL : pz_reflection_file_name(r, (size_t)f);
}

static void assert_symbol(const pz_reflection *r, const char *symbol, const char *file, pz_reflection_kind kind)
{
    pz_reflection_kind got = (pz_reflection_kind)-1;
    const char *name = file_of(r, symbol, &got);
    if (name == NULL)
        fail_msg("symbol %s not found", symbol);
    assert_string_equal(name, file);
    assert_int_equal(got, kind);
}

static void test_files(void **state)
{
    const pz_reflection *r = *state;
    assert_int_equal(pz_reflection_file_count(r), 6);
    assert_true(pz_reflection_find_file(r, "personalization/v1/admin.proto") >= 0);
    int f = pz_reflection_find_file(r, SERVICE_FILE);
    assert_true(f >= 0);
    assert_string_equal(pz_reflection_file_name(r, (size_t)f), SERVICE_FILE);
    assert_true(pz_reflection_find_file(r, "grpc/health/v1/health.proto") >= 0);
    assert_true(pz_reflection_find_file(r, "grpc/reflection/v1/reflection.proto") >= 0);
    assert_true(pz_reflection_find_file(r, "grpc/reflection/v1alpha/reflection.proto") >= 0);
    assert_true(pz_reflection_find_file(r, STRUCT_FILE) >= 0);
    assert_int_equal(pz_reflection_find_file(r, "nope.proto"), -1);
    assert_int_equal(pz_reflection_find_file(r, ""), -1);

    /* The stored bytes are the file's own serialized FileDescriptorProto. */
    const uint8_t *data;
    size_t len;
    pz_reflection_file_bytes(r, (size_t)f, &data, &len);
    Google__Protobuf__FileDescriptorProto *fd = google__protobuf__file_descriptor_proto__unpack(NULL, len, data);
    assert_non_null(fd);
    assert_string_equal(fd->name, SERVICE_FILE);
    assert_string_equal(fd->package, "personalization.v1");
    assert_int_equal(fd->n_service, 1);
    google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
}

static void test_symbols(void **state)
{
    const pz_reflection *r = *state;
    assert_symbol(r, "personalization.v1.PersonalizationService", SERVICE_FILE, PZ_REFLECTION_SERVICE);
    assert_symbol(r, "personalization.v1.PersonalizationService.RecommendItems", SERVICE_FILE, PZ_REFLECTION_METHOD);
    assert_symbol(r, "personalization.v1.PersonalizationService.PutEvents", SERVICE_FILE, PZ_REFLECTION_METHOD);
    assert_symbol(r, "personalization.v1.RecommendItemsRequest", SERVICE_FILE, PZ_REFLECTION_MESSAGE);
    assert_symbol(r, "personalization.v1.PutEventsResponse", SERVICE_FILE, PZ_REFLECTION_MESSAGE);
    assert_symbol(r, "personalization.v1.PredictedItem.score", SERVICE_FILE, PZ_REFLECTION_FIELD);
    assert_symbol(r, "google.protobuf.Struct", STRUCT_FILE, PZ_REFLECTION_MESSAGE);
    assert_symbol(r, "grpc.health.v1.Health", "grpc/health/v1/health.proto", PZ_REFLECTION_SERVICE);
    assert_symbol(r, "grpc.health.v1.Health.Check", "grpc/health/v1/health.proto", PZ_REFLECTION_METHOD);
    assert_symbol(r, "grpc.reflection.v1alpha.ServerReflection", "grpc/reflection/v1alpha/reflection.proto",
                  PZ_REFLECTION_SERVICE);
}

static void test_nested_and_enums(void **state)
{
    const pz_reflection *r = *state;
    /* map fields become nested entry messages */
    assert_symbol(r, "personalization.v1.RecommendItemsRequest.FilterValuesEntry", SERVICE_FILE, PZ_REFLECTION_MESSAGE);
    assert_symbol(r, "personalization.v1.RerankItemsRequest.ContextEntry", SERVICE_FILE, PZ_REFLECTION_MESSAGE);
    assert_symbol(r, "google.protobuf.Struct.FieldsEntry", STRUCT_FILE, PZ_REFLECTION_MESSAGE);
    /* top-level and nested enums; values are scoped as siblings of their enum */
    assert_symbol(r, "google.protobuf.NullValue", STRUCT_FILE, PZ_REFLECTION_ENUM);
    assert_symbol(r, "google.protobuf.NULL_VALUE", STRUCT_FILE, PZ_REFLECTION_ENUM_VALUE);
    assert_symbol(r, "grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto",
                  PZ_REFLECTION_ENUM);
    assert_symbol(r, "grpc.health.v1.HealthCheckResponse.SERVING", "grpc/health/v1/health.proto",
                  PZ_REFLECTION_ENUM_VALUE);
}

static void test_unknown_symbols(void **state)
{
    const pz_reflection *r = *state;
    const char *unknown[] = {
        "",
        "personalization",
        "personalization.v1",
        "personalization.v1.Nope",
        "personalization.v1.PersonalizationService.Nope",
        ".personalization.v1.PersonalizationService",
        "PersonalizationService",
        "personalization.v1.personalizationservice",
        "personalization.v1.PersonalizationService.",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        pz_reflection_kind kind = PZ_REFLECTION_ENUM;
        if (pz_reflection_find_symbol(r, unknown[i], &kind) != -1)
            fail_msg("unexpectedly found \"%s\"", unknown[i]);
        assert_int_equal(kind, PZ_REFLECTION_ENUM); /* untouched */
    }
}

static void test_dependencies(void **state)
{
    const pz_reflection *r = *state;
    size_t out[16];
    size_t f = (size_t)pz_reflection_find_file(r, SERVICE_FILE);
    size_t n = pz_reflection_closure(r, f, out);
    assert_int_equal(n, 2);
    assert_string_equal(pz_reflection_file_name(r, out[0]), SERVICE_FILE);
    assert_string_equal(pz_reflection_file_name(r, out[1]), STRUCT_FILE);

    f = (size_t)pz_reflection_find_file(r, STRUCT_FILE);
    assert_int_equal(pz_reflection_closure(r, f, out), 1);
    assert_int_equal(out[0], f);
}

static void test_services(void **state)
{
    (void)state;
    char err[256];
    pz_reflection *r = pz_reflection_new(pz_descriptor_set, pz_descriptor_set_len, err, sizeof err);
    const char *want[] = {"personalization.v1.PersonalizationService", "personalization.v1.AdminService",
                          "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                          "grpc.reflection.v1alpha.ServerReflection"};
    assert_int_equal(pz_reflection_service_count(r), 5);
    for (size_t i = 0; i < 5; i++) {
        bool found = false;
        for (size_t k = 0; k < 5; k++)
            found |= strcmp(pz_reflection_service_name(r, k), want[i]) == 0;
        if (!found)
            fail_msg("service %s not listed", want[i]);
    }
    /* A port that does not serve a service leaves it out of its list; its symbols still resolve. */
    pz_reflection_hide_service(r, "personalization.v1.AdminService");
    assert_int_equal(pz_reflection_service_count(r), 4);
    for (size_t k = 0; k < 4; k++)
        assert_string_not_equal(pz_reflection_service_name(r, k), "personalization.v1.AdminService");
    assert_symbol(r, "personalization.v1.AdminService", "personalization/v1/admin.proto", PZ_REFLECTION_SERVICE);
    pz_reflection_free(r);
}

/* --- answers --- */

typedef Grpc__Reflection__V1__ServerReflectionRequest v1_request;
typedef Grpc__Reflection__V1__ServerReflectionResponse v1_response;

static v1_response *ask(const pz_reflection *r, pz_arena *a, const v1_request *rq)
{
    size_t len = grpc__reflection__v1__server_reflection_request__get_packed_size(rq);
    uint8_t *buf = pz_arena_alloc(a, len);
    grpc__reflection__v1__server_reflection_request__pack(rq, buf);
    uint8_t *out;
    size_t out_len;
    assert_int_equal(pz_reflection_answer(r, a, buf, len, &out, &out_len), 0);
    v1_response *rs = grpc__reflection__v1__server_reflection_response__unpack(&a->pb, out_len, out);
    assert_non_null(rs);
    return rs;
}

static void assert_error(const v1_response *rs, int code)
{
    assert_int_equal(rs->message_response_case,
                     GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE);
    assert_int_equal(rs->error_response->error_code, code);
    assert_true(strlen(rs->error_response->error_message) > 0);
}

static void test_answer_list_services(void **state)
{
    (void)state;
    char err[256];
    pz_reflection *r = pz_reflection_new(pz_descriptor_set, pz_descriptor_set_len, err, sizeof err);
    pz_reflection_hide_service(r, "personalization.v1.AdminService"); /* as the public gRPC port does */
    pz_arena a;
    pz_arena_init(&a);
    v1_request rq = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    rq.host = "localhost:1";
    rq.message_request_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
    rq.list_services = "*";
    v1_response *rs = ask(r, &a, &rq);
    assert_string_equal(rs->valid_host, "localhost:1");
    assert_non_null(rs->original_request);
    assert_string_equal(rs->original_request->list_services, "*");
    assert_int_equal(rs->message_response_case,
                     GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
    assert_int_equal(rs->list_services_response->n_service, 4);
    assert_string_equal(rs->list_services_response->service[0]->name, "personalization.v1.PersonalizationService");
    pz_arena_destroy(&a);
    pz_reflection_free(r);
}

static void assert_files(const v1_response *rs, size_t n, const char *first)
{
    assert_int_equal(rs->message_response_case,
                     GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
    const Grpc__Reflection__V1__FileDescriptorResponse *fr = rs->file_descriptor_response;
    assert_int_equal(fr->n_file_descriptor_proto, n);
    Google__Protobuf__FileDescriptorProto *fd = google__protobuf__file_descriptor_proto__unpack(
        NULL, fr->file_descriptor_proto[0].len, fr->file_descriptor_proto[0].data);
    assert_non_null(fd);
    assert_string_equal(fd->name, first);
    google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
}

static void test_answer_files(void **state)
{
    pz_arena a;
    pz_arena_init(&a);
    v1_request rq = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    rq.message_request_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
    rq.file_containing_symbol = "personalization.v1.PersonalizationService";
    assert_files(ask(*state, &a, &rq), 2, SERVICE_FILE);
    rq.file_containing_symbol = "personalization.v1.PersonalizationService.RerankItems";
    assert_files(ask(*state, &a, &rq), 2, SERVICE_FILE);
    rq.file_containing_symbol = "google.protobuf.Value";
    assert_files(ask(*state, &a, &rq), 1, STRUCT_FILE);
    rq.file_containing_symbol = "personalization.v1.Missing";
    assert_error(ask(*state, &a, &rq), 5);

    rq.message_request_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
    rq.file_by_filename = STRUCT_FILE;
    assert_files(ask(*state, &a, &rq), 1, STRUCT_FILE);
    rq.file_by_filename = "grpc/health/v1/health.proto";
    assert_files(ask(*state, &a, &rq), 1, "grpc/health/v1/health.proto");
    rq.file_by_filename = "missing.proto";
    assert_error(ask(*state, &a, &rq), 5);
    pz_arena_destroy(&a);
}

static void test_answer_unsupported(void **state)
{
    pz_arena a;
    pz_arena_init(&a);
    v1_request rq = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    Grpc__Reflection__V1__ExtensionRequest ext = GRPC__REFLECTION__V1__EXTENSION_REQUEST__INIT;
    ext.containing_type = "personalization.v1.Event";
    ext.extension_number = 100;
    rq.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION;
    rq.file_containing_extension = &ext;
    assert_error(ask(*state, &a, &rq), 5);

    rq.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE;
    rq.all_extension_numbers_of_type = "personalization.v1.Event";
    v1_response *rs = ask(*state, &a, &rq);
    assert_int_equal(rs->message_response_case,
                     GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE);
    assert_string_equal(rs->all_extension_numbers_response->base_type_name, "personalization.v1.Event");
    assert_int_equal(rs->all_extension_numbers_response->n_extension_number, 0);
    rq.all_extension_numbers_of_type = "personalization.v1.Nope";
    assert_error(ask(*state, &a, &rq), 5);

    rq.message_request_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST__NOT_SET;
    assert_error(ask(*state, &a, &rq), 12);

    uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t *out;
    size_t out_len;
    assert_int_equal(pz_reflection_answer(*state, &a, garbage, sizeof garbage, &out, &out_len), -1);
    pz_arena_destroy(&a);
}

/* v1alpha shares v1's wire format: the answer to a v1alpha request decodes as v1alpha. */
static void test_answer_v1alpha(void **state)
{
    pz_arena a;
    pz_arena_init(&a);
    Grpc__Reflection__V1alpha__ServerReflectionRequest rq = GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__INIT;
    rq.message_request_case =
        GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
    rq.file_containing_symbol = "personalization.v1.RecommendationResponse";
    size_t len = grpc__reflection__v1alpha__server_reflection_request__get_packed_size(&rq);
    uint8_t *buf = pz_arena_alloc(&a, len);
    grpc__reflection__v1alpha__server_reflection_request__pack(&rq, buf);
    uint8_t *out;
    size_t out_len;
    assert_int_equal(pz_reflection_answer(*state, &a, buf, len, &out, &out_len), 0);
    Grpc__Reflection__V1alpha__ServerReflectionResponse *rs =
        grpc__reflection__v1alpha__server_reflection_response__unpack(&a.pb, out_len, out);
    assert_non_null(rs);
    assert_int_equal(rs->message_response_case,
                     GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
    assert_int_equal(rs->file_descriptor_response->n_file_descriptor_proto, 2);
    assert_string_equal(rs->original_request->file_containing_symbol, "personalization.v1.RecommendationResponse");
    pz_arena_destroy(&a);
}

/* The field numbers the two versions use must agree, or sharing the v1 codec would be wrong. */
static void test_v1alpha_layout_matches_v1(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *pairs[][2] = {
        {&grpc__reflection__v1__server_reflection_request__descriptor,
         &grpc__reflection__v1alpha__server_reflection_request__descriptor},
        {&grpc__reflection__v1__server_reflection_response__descriptor,
         &grpc__reflection__v1alpha__server_reflection_response__descriptor},
        {&grpc__reflection__v1__file_descriptor_response__descriptor,
         &grpc__reflection__v1alpha__file_descriptor_response__descriptor},
        {&grpc__reflection__v1__list_service_response__descriptor,
         &grpc__reflection__v1alpha__list_service_response__descriptor},
        {&grpc__reflection__v1__service_response__descriptor, &grpc__reflection__v1alpha__service_response__descriptor},
        {&grpc__reflection__v1__error_response__descriptor, &grpc__reflection__v1alpha__error_response__descriptor},
        {&grpc__reflection__v1__extension_request__descriptor,
         &grpc__reflection__v1alpha__extension_request__descriptor},
        {&grpc__reflection__v1__extension_number_response__descriptor,
         &grpc__reflection__v1alpha__extension_number_response__descriptor},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const ProtobufCMessageDescriptor *v1 = pairs[i][0], *alpha = pairs[i][1];
        assert_int_equal(v1->n_fields, alpha->n_fields);
        for (unsigned f = 0; f < v1->n_fields; f++) {
            assert_string_equal(v1->fields[f].name, alpha->fields[f].name);
            assert_int_equal(v1->fields[f].id, alpha->fields[f].id);
            assert_int_equal(v1->fields[f].type, alpha->fields[f].type);
            assert_int_equal(v1->fields[f].label, alpha->fields[f].label);
        }
    }
}

static void test_bad_sets(void **state)
{
    const pz_reflection *r = *state;
    char err[256] = "";
    uint8_t garbage[] = {0x0a, 0x7f, 0x01};
    assert_null(pz_reflection_new(garbage, sizeof garbage, err, sizeof err));
    assert_true(strlen(err) > 0);

    /* A set holding only the service file lacks its import google/protobuf/struct.proto. */
    const uint8_t *data;
    size_t len;
    pz_reflection_file_bytes(r, (size_t)pz_reflection_find_file(r, SERVICE_FILE), &data, &len);
    uint8_t *set = malloc(len + 8);
    size_t n = 0;
    set[n++] = 0x0a;
    for (size_t v = len;; v >>= 7) {
        set[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80)
            break;
    }
    memcpy(set + n, data, len);
    err[0] = '\0';
    assert_null(pz_reflection_new(set, n + len, err, sizeof err));
    assert_non_null(strstr(err, STRUCT_FILE));
    free(set);

    /* An empty set is valid and empty. */
    pz_reflection *empty = pz_reflection_new((const uint8_t *)"", 0, err, sizeof err);
    assert_non_null(empty);
    assert_int_equal(pz_reflection_file_count(empty), 0);
    assert_int_equal(pz_reflection_find_symbol(empty, "x", NULL), -1);
    pz_reflection_free(empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_symbols),
        cmocka_unit_test(test_nested_and_enums),
        cmocka_unit_test(test_unknown_symbols),
        cmocka_unit_test(test_dependencies),
        cmocka_unit_test(test_services),
        cmocka_unit_test(test_answer_list_services),
        cmocka_unit_test(test_answer_files),
        cmocka_unit_test(test_answer_unsupported),
        cmocka_unit_test(test_answer_v1alpha),
        cmocka_unit_test(test_v1alpha_layout_matches_v1),
        cmocka_unit_test(test_bad_sets),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
