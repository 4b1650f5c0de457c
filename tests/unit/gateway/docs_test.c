/* gateway/docs: the document per configuration snapshot (kept between requests, made again after
 * a reload), its servers from the request's origin, strong ETags and 304s, Swagger UI's assets from
 * an installed directory (and the 503 without one), the embedded .proto. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "gateway/docs.h"
#include "server/core/log.h"

typedef struct fixture {
    char dir[64];
    char config[128];
    char ui[128];
    pz_config_holder *holder;
    pz_docs *docs;
} fixture;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *config_text(const char *version, const char *rec)
{
    static char buf[512];
    snprintf(buf, sizeof buf,
             "{\"version\":\"%s\",\"namespaces\":{\"n\":{\"recommenders\":{\"recommend-items\":{\"%s\":"
             "{\"variations\":{\"v\":{\"type\":\"builtin\"}}}}}}}}",
             version, rec);
    return buf;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/pz-docs-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->config, sizeof f->config, "%s/config.json", f->dir);
    snprintf(f->ui, sizeof f->ui, "%s/ui", f->dir);
    assert_int_equal(mkdir(f->ui, 0755), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/swagger-ui.css", f->ui);
    write_file(path, "body{color:red}");
    snprintf(path, sizeof path, "%s/swagger-ui-bundle.js", f->ui);
    write_file(path, "var SwaggerUIBundle=function(){};");
    write_file(f->config, config_text("one", "first"));
    pz_config *cfg = pz_config_load_file(f->config, NULL);
    assert_non_null(cfg);
    f->holder = pz_config_holder_create(cfg, f->config);
    f->docs = pz_docs_create(&(pz_docs_options){.holder = f->holder, .swagger_ui_dir = f->ui});
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pz_docs_destroy(f->docs);
    pz_config_holder_destroy(f->holder);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static char *body_of(const pz_docs_response *r)
{
    char *s = malloc(r->len + 1);
    memcpy(s, r->body, r->len);
    s[r->len] = '\0';
    return s;
}

static void test_document_from_the_live_snapshot_with_etag_and_304(void **state)
{
    fixture *f = *state;
    pz_docs_response r;
    pz_docs_answer(f->docs, PZ_LOCAL_OPENAPI, NULL, "http://example.test:8080", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.cache_control, "no-cache");
    assert_int_equal(strlen(r.etag), PZ_ETAG_SIZE - 1);
    char *body = body_of(&r);
    assert_non_null(strstr(body, "\"url\": \"http://example.test:8080\""));
    assert_non_null(strstr(body, "/recommend-items/n/first/{user_id}"));
    char etag[PZ_ETAG_SIZE];
    memcpy(etag, r.etag, sizeof etag);
    free(body);
    pz_docs_response_free(&r);

    /* the same document for the same origin: its ETag matches, so a 304 without a body */
    pz_docs_answer(f->docs, PZ_LOCAL_OPENAPI, NULL, "http://example.test:8080", etag, &r);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.len, 0);
    assert_string_equal(r.etag, etag);
    pz_docs_response_free(&r);

    /* another origin is another document */
    pz_docs_answer(f->docs, PZ_LOCAL_OPENAPI, NULL, "https://other.test", etag, &r);
    assert_int_equal(r.status, 200);
    assert_string_not_equal(r.etag, etag);
    pz_docs_response_free(&r);

    /* a Host that is not a plain host[:port] is not reflected: the relative server "/" */
    pz_docs_answer(f->docs, PZ_LOCAL_OPENAPI, NULL, "http://evil\"host", NULL, &r);
    body = body_of(&r);
    assert_non_null(strstr(body, "\"url\": \"/\""));
    assert_null(strstr(body, "evil"));
    free(body);
    pz_docs_response_free(&r);

    /* a reload makes it again: the new recommender, the new version, a new ETag */
    write_file(f->config, config_text("two", "second"));
    assert_int_equal(pz_config_holder_reload(f->holder), 0);
    pz_docs_answer(f->docs, PZ_LOCAL_OPENAPI, NULL, "http://example.test:8080", etag, &r);
    assert_int_equal(r.status, 200);
    assert_string_not_equal(r.etag, etag);
    body = body_of(&r);
    assert_non_null(strstr(body, "/recommend-items/n/second/{user_id}"));
    assert_null(strstr(body, "/recommend-items/n/first/"));
    assert_non_null(strstr(body, "\"version\": \"two\""));
    free(body);
    pz_docs_response_free(&r);
}

static void test_configured_server_url_wins(void **state)
{
    fixture *f = *state;
    pz_docs *d = pz_docs_create(
        &(pz_docs_options){.holder = f->holder, .server_url = "https://api.example.com", .swagger_ui_dir = f->ui});
    pz_docs_response r;
    pz_docs_answer(d, PZ_LOCAL_OPENAPI, NULL, "http://example.test:8080", NULL, &r);
    char *body = body_of(&r);
    assert_non_null(strstr(body, "\"url\": \"https://api.example.com\""));
    assert_null(strstr(body, "example.test"));
    free(body);
    pz_docs_response_free(&r);
    pz_docs_destroy(d);
}

static void test_swagger_ui_page_and_assets(void **state)
{
    fixture *f = *state;
    assert_true(pz_docs_has_ui(f->docs));
    pz_docs_response r;
    pz_docs_answer(f->docs, PZ_LOCAL_DOCS, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/html; charset=utf-8");
    assert_non_null(r.content_security_policy);
    char *body = body_of(&r);
    assert_non_null(strstr(body, "/docs/swagger-ui-bundle.js"));
    assert_null(strstr(body, "http")); /* nothing from another host */
    free(body);
    pz_docs_response_free(&r);

    pz_docs_answer(f->docs, PZ_LOCAL_DOCS_ASSET, "swagger-ui.css", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/css; charset=utf-8");
    body = body_of(&r);
    assert_string_equal(body, "body{color:red}");
    free(body);
    char etag[PZ_ETAG_SIZE];
    memcpy(etag, r.etag, sizeof etag);
    pz_docs_response_free(&r);
    pz_docs_answer(f->docs, PZ_LOCAL_DOCS_ASSET, "swagger-ui.css", NULL, etag, &r);
    assert_int_equal(r.status, 304);
    pz_docs_response_free(&r);

    pz_docs_answer(f->docs, PZ_LOCAL_DOCS_ASSET, "init.js", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    body = body_of(&r);
    assert_non_null(strstr(body, "\"/openapi.json\""));
    free(body);
    pz_docs_response_free(&r);

    /* only the listed assets: no other file of the directory, no path tricks, not the page by "" */
    static const char *const unknown[] = {"../config.json", "package.json", "", "swagger-ui.css.map"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        pz_docs_answer(f->docs, PZ_LOCAL_DOCS_ASSET, unknown[i], NULL, NULL, &r);
        assert_int_equal(r.status, 404);
        pz_docs_response_free(&r);
    }
}

static void test_without_swagger_ui_the_page_is_unavailable(void **state)
{
    fixture *f = *state;
    pz_log_set_level(PZ_LOG_ERROR); /* the warning is expected */
    pz_docs *d = pz_docs_create(&(pz_docs_options){.holder = f->holder, .swagger_ui_dir = "/nonexistent/pz-ui"});
    pz_log_set_level(PZ_LOG_INFO);
    assert_false(pz_docs_has_ui(d));
    pz_docs_response r;
    pz_docs_answer(d, PZ_LOCAL_DOCS, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 503);
    char *body = body_of(&r);
    assert_non_null(strstr(body, "\"code\":\"DocsUnavailable\""));
    assert_non_null(strstr(body, "swagger-ui-dist"));
    free(body);
    pz_docs_response_free(&r);
    /* the document does not need Swagger UI */
    pz_docs_answer(d, PZ_LOCAL_OPENAPI, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    pz_docs_response_free(&r);
    pz_docs_destroy(d);
}

static void test_proto_download(void **state)
{
    fixture *f = *state;
    pz_docs_response r;
    pz_docs_answer(f->docs, PZ_LOCAL_PROTO, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain; charset=utf-8");
    char *body = body_of(&r);
    assert_non_null(strstr(body, "service PersonalizationService"));
    free(body);
    char etag[PZ_ETAG_SIZE];
    memcpy(etag, r.etag, sizeof etag);
    pz_docs_response_free(&r);
    pz_docs_answer(f->docs, PZ_LOCAL_PROTO, NULL, NULL, etag, &r);
    assert_int_equal(r.status, 304);
    pz_docs_response_free(&r);
}

static void test_origin_validity(void **state)
{
    (void)state;
    assert_true(pz_docs_origin_valid("http://127.0.0.1:8080"));
    assert_true(pz_docs_origin_valid("https://[::1]:8443"));
    assert_true(pz_docs_origin_valid("https://api.example.com"));
    assert_false(pz_docs_origin_valid("http://"));
    assert_false(pz_docs_origin_valid("://host"));
    assert_false(pz_docs_origin_valid("http://a b"));
    assert_false(pz_docs_origin_valid("http://host/path"));
    assert_false(pz_docs_origin_valid("ht1p://host"));
    assert_false(pz_docs_origin_valid("http://host\"x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_document_from_the_live_snapshot_with_etag_and_304, setup, teardown),
        cmocka_unit_test_setup_teardown(test_configured_server_url_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swagger_ui_page_and_assets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_swagger_ui_the_page_is_unavailable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proto_download, setup, teardown),
        cmocka_unit_test(test_origin_validity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
