/* Tests for server/core base modules: mem (arena), buf (bounded buffers), status (mappings),
 * request (headers, completion), rpc (method table). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unistd.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/base64.h"
#include "server/core/log.h"
#include "server/core/buf.h"
#include "server/core/log.h"
#include "server/core/mem.h"
#include "server/core/request.h"
#include "server/core/rpc.h"
#include "server/core/status.h"

static void test_arena_alignment_and_growth(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    for (int i = 1; i < 2000; i += 37) {
        void *p = pz_arena_alloc(&a, (size_t)i);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xab, (size_t)i);
    }
    void *big = pz_arena_alloc(&a, 1u << 20); /* larger than any chunk so far */
    memset(big, 0, 1u << 20);
    assert_true(a.total >= (1u << 20));
    pz_arena_reset(&a);
    assert_int_equal(a.total, 0);
    assert_null(a.chunks);
    pz_arena_destroy(&a);
}

static void test_arena_strings(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    assert_string_equal(pz_arena_strdup(&a, "hello"), "hello");
    assert_string_equal(pz_arena_strndup(&a, "hello world", 5), "hello");
    assert_string_equal(pz_arena_printf(&a, "%s-%d", "n", 42), "n-42");
    int *zeros = pz_arena_calloc(&a, 100, sizeof(int));
    for (int i = 0; i < 100; i++)
        assert_int_equal(zeros[i], 0);
    pz_arena_destroy(&a);
}

static void test_arena_protobuf_allocator(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    Personalization__V1__RecommendItemsRequest in = PERSONALIZATION__V1__RECOMMEND_ITEMS_REQUEST__INIT;
    in.namespace_ = "demo";
    in.user_id = "u1";
    in.has_num_results = 1;
    in.num_results = 7;
    uint8_t buf[128];
    size_t len = personalization__v1__recommend_items_request__pack(&in, buf);
    Personalization__V1__RecommendItemsRequest *out =
        personalization__v1__recommend_items_request__unpack(&a.pb, len, buf);
    assert_non_null(out);
    assert_string_equal(out->namespace_, "demo");
    assert_int_equal(out->num_results, 7);
    assert_true(a.total > 0); /* decoded into the arena; freed with it, no free call needed */
    ProtobufCMessage *fresh = pz_arena_new_message(&a, &personalization__v1__recommend_items_request__descriptor);
    assert_int_equal(((Personalization__V1__RecommendItemsRequest *)fresh)->num_results, 25); /* declared default */
    pz_arena_destroy(&a);
}

static void test_buf_cap_is_an_error_not_an_allocation(void **state)
{
    (void)state;
    pz_buf b;
    pz_buf_init(&b, 10);
    assert_int_equal(pz_buf_append_str(&b, "12345"), 0);
    assert_int_equal(pz_buf_printf(&b, "%d", 6789), 0);
    assert_int_equal(b.len, 9);
    assert_int_equal(pz_buf_append_str(&b, "ab"), -1); /* would be 11 > 10 */
    assert_int_equal(b.len, 9);                        /* unchanged */
    assert_string_equal(b.data, "123456789");
    assert_int_equal(pz_buf_append_char(&b, 'x'), 0); /* exactly at the cap */
    assert_int_equal(pz_buf_printf(&b, "%s", "y"), -1);
    size_t len;
    char *taken = pz_buf_take(&b, &len);
    assert_int_equal(len, 10);
    assert_string_equal(taken, "123456789x");
    free(taken);
    assert_null(b.data);
    pz_buf_free(&b);
}

static void test_double_roundtrip_format(void **state)
{
    (void)state;
    char buf[40];
    assert_int_equal(pz_format_double_roundtrip(1.0, buf), 1);
    assert_string_equal(buf, "1");
    pz_format_double_roundtrip(0.1, buf);
    assert_string_equal(buf, "0.1");
    pz_format_double_roundtrip(4.4510424383328475, buf);
    assert_true(strtod(buf, NULL) == 4.4510424383328475); /* needs 17 digits */
    pz_format_double_roundtrip(1e21, buf);
    assert_string_equal(buf, "1e+21");
    pz_format_double_roundtrip(-2.5, buf);
    assert_string_equal(buf, "-2.5");
}

static void test_status_mappings(void **state)
{
    (void)state;
    assert_int_equal(pz_status_http(PZ_OK), 200);
    assert_int_equal(pz_status_http(PZ_INVALID_ARGUMENT), 400);
    assert_int_equal(pz_status_http(PZ_UNAUTHENTICATED), 401);
    assert_int_equal(pz_status_http(PZ_PERMISSION_DENIED), 403);
    assert_int_equal(pz_status_http(PZ_NOT_FOUND), 404);
    assert_int_equal(pz_status_http(PZ_RESOURCE_EXHAUSTED), 429);
    assert_int_equal(pz_status_http(PZ_INTERNAL), 500);
    assert_int_equal(pz_status_http(PZ_UNIMPLEMENTED), 501);
    assert_int_equal(pz_status_http(PZ_UPSTREAM_FAILED), 502);
    assert_int_equal(pz_status_http(PZ_UNAVAILABLE), 503);
    assert_int_equal(pz_status_http(PZ_DEADLINE_EXCEEDED), 504);
    /* grpc_status_code values */
    assert_int_equal(pz_status_grpc(PZ_OK), 0);
    assert_int_equal(pz_status_grpc(PZ_INVALID_ARGUMENT), 3);
    assert_int_equal(pz_status_grpc(PZ_DEADLINE_EXCEEDED), 4);
    assert_int_equal(pz_status_grpc(PZ_NOT_FOUND), 5);
    assert_int_equal(pz_status_grpc(PZ_PERMISSION_DENIED), 7);
    assert_int_equal(pz_status_grpc(PZ_RESOURCE_EXHAUSTED), 8);
    assert_int_equal(pz_status_grpc(PZ_UNIMPLEMENTED), 12);
    assert_int_equal(pz_status_grpc(PZ_INTERNAL), 13);
    assert_int_equal(pz_status_grpc(PZ_UNAVAILABLE), 14);
    assert_int_equal(pz_status_grpc(PZ_UPSTREAM_FAILED), 14);
    assert_int_equal(pz_status_grpc(PZ_UNAUTHENTICATED), 16);
    assert_string_equal(pz_status_str(PZ_NOT_FOUND), "NOT_FOUND");
    assert_string_equal(pz_status_str((pz_status)999), "UNKNOWN");
    assert_int_equal(pz_status_http((pz_status)999), 500);
    for (int s = 0; s < PZ_STATUS__COUNT; s++)
        assert_non_null(pz_status_str((pz_status)s));
}

static int done_calls;
static void count_done(pz_request *req)
{
    (void)req;
    done_calls++;
}

static void test_request_headers_and_completion(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    pz_request req;
    pz_request_init(&req, &a);
    assert_true(req.received_ms > 1600000000000LL);
    pz_header hs[] = {
        {"x-one", 5, "1", 1},
        {"CloudFront-Viewer-Country", 25, "DE", 2},
    };
    req.headers = hs;
    req.n_headers = 2;
    assert_string_equal(pz_request_header(&req, "x-one"), "1");
    assert_string_equal(pz_request_header(&req, "cloudfront-viewer-country"), "DE"); /* case-insensitive */
    assert_null(pz_request_header(&req, "x-missing"));
    req.on_done = count_done;
    done_calls = 0;
    pz_request_fail(&req, PZ_NOT_FOUND, "Configuration", "RecommenderNotConfigured", "namespace '%s' is unknown", "x");
    assert_int_equal(done_calls, 1);
    assert_int_equal(req.status, PZ_NOT_FOUND);
    assert_string_equal(req.error.code, "RecommenderNotConfigured");
    assert_string_equal(req.error.message, "namespace 'x' is unknown");
    pz_arena_destroy(&a);
}

static int client_addr_calls;

static const char *counting_client_addr(const pz_request *req)
{
    (void)req;
    client_addr_calls++;
    return "192.0.2.1:4000";
}

/* Nothing is formatted for an access line that is not written: the client address is asked for
 * only when info lines are on. */
static void test_access_log_formats_only_what_it_writes(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    pz_request req;
    pz_request_init(&req, &a);
    req.protocol = "rest";
    req.client_addr_fn = counting_client_addr;
    assert_string_equal(pz_request_client_addr(&req), "192.0.2.1:4000");
    client_addr_calls = 0;
    pz_log_set_level(PZ_LOG_WARN);
    assert_false(pz_log_enabled(PZ_LOG_INFO));
    assert_true(pz_log_enabled(PZ_LOG_ERROR));
    pz_request_log_access(&req, "GET /x", 200);
    assert_int_equal(client_addr_calls, 0);
    pz_log_set_level(PZ_LOG_INFO);
    assert_true(pz_log_enabled(PZ_LOG_INFO));
    pz_request_log_access(&req, "GET /x", 200);
    assert_int_equal(client_addr_calls, 1);
    req.client_addr = "198.51.100.7:1"; /* set directly: the function is not asked */
    assert_string_equal(pz_request_client_addr(&req), "198.51.100.7:1");
    assert_int_equal(client_addr_calls, 1);
    pz_arena_destroy(&a);
}

static void test_rpc_table(void **state)
{
    (void)state;
    for (int i = 0; i < PZ_RPC__COUNT; i++) {
        const pz_rpc_info *info = pz_rpc_get((pz_rpc)i);
        assert_int_equal(info->rpc, i);
        assert_non_null(strstr(info->grpc_path, pz_api_service_name(info->api)));
        assert_ptr_equal(pz_rpc_by_grpc_path(info->grpc_path), info);
        assert_non_null(info->request);
        assert_non_null(info->response);
    }
    assert_string_equal(pz_rpc_get(PZ_RPC_PUT_EVENTS)->grpc_path,
                        "/personalization.v1.PersonalizationService/PutEvents");
    assert_null(pz_rpc_by_grpc_path("/personalization.v1.PersonalizationService/Nope"));
}

/* base64url without padding (JWTs, JWKs, API keys): the RFC 4648 §10 vectors, and strictness. */
static void test_base64url(void **state)
{
    (void)state;
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    pz_arena arena;
    pz_arena_init(&arena);
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        pz_buf b;
        pz_buf_init(&b, 64);
        assert_int_equal(pz_base64url_append(&b, plain[i], strlen(plain[i])), 0);
        assert_int_equal(b.len, strlen(coded[i]));
        assert_memory_equal(b.data, coded[i], b.len);
        pz_buf_free(&b);
        size_t n = 99;
        unsigned char *d = pz_base64url_decode(coded[i], strlen(coded[i]), &arena, &n);
        assert_non_null(d);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(d, plain[i], n);
    }
    unsigned char bytes[] = {0xfb, 0xff};
    pz_buf b;
    pz_buf_init(&b, 64);
    pz_base64url_append(&b, bytes, 2);
    assert_memory_equal(b.data, "-_8", 3); /* the URL-safe alphabet */
    pz_buf_free(&b);
    size_t n;
    static const char *const bad[] = {"Zg==", "Z", "Zh", "Zm9+", "Zm9/", "Zm 9"}; /* padding, length, bits, alphabet */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(pz_base64url_decode(bad[i], strlen(bad[i]), &arena, &n));
    pz_arena_destroy(&arena);
}

/* A log line stays one line whatever the values it quotes hold (a request's, an upstream's). */
static void test_log_escapes_control_characters(void **state)
{
    (void)state;
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    pz_log(PZ_LOG_WARN, "code=%s next", "X\r\nforged info line\t\x7f");
    pz_log(PZ_LOG_WARN, "plain");
    dup2(saved, STDERR_FILENO);
    close(saved);
    char text[512] = "";
    rewind(tmp);
    size_t n = fread(text, 1, sizeof text - 1, tmp);
    text[n] = '\0';
    fclose(tmp);
    assert_non_null(strstr(text, "code=X\\x0d\\x0aforged info line\\x09\\x7f next\n"));
    assert_non_null(strstr(text, "plain\n"));
    size_t lines = 0;
    for (const char *p = text; *p != '\0'; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_alignment_and_growth),
        cmocka_unit_test(test_base64url),
        cmocka_unit_test(test_arena_strings),
        cmocka_unit_test(test_arena_protobuf_allocator),
        cmocka_unit_test(test_buf_cap_is_an_error_not_an_allocation),
        cmocka_unit_test(test_double_roundtrip_format),
        cmocka_unit_test(test_status_mappings),
        cmocka_unit_test(test_request_headers_and_completion),
        cmocka_unit_test(test_access_log_formats_only_what_it_writes),
        cmocka_unit_test(test_rpc_table),
        cmocka_unit_test(test_log_escapes_control_characters),
    };
    return cmocka_run_group_tests_name("core_base", tests, NULL, NULL);
}
