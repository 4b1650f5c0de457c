/* Tests for server/catalog/catalog_import.c: the import folder, driven scan by scan (no thread, no
 * sleeping): completeness, done/ and failed/ with the .error note, ignored names and folders. */
#include <dirent.h>
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

#include "server/catalog/catalog.h"
#include "server/catalog/catalog_import.h"

typedef struct fixture {
    char root[512], import[600];
    pz_catalog *c;
    pz_catalog_import *im;
} fixture;

static int setup(void **state)
{
    static int n;
    fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
    snprintf(f->root, sizeof f->root, "%s/catalog_import_test_%d_%d", tmp, (int)getpid(), n++);
    mkdir(f->root, 0755);
    char dir[700], err[256];
    snprintf(dir, sizeof dir, "%s/catalog", f->root);
    assert_int_equal(pz_catalog_open(dir, NULL, &f->c, err, sizeof err), 0);
    snprintf(f->import, sizeof f->import, "%s/import", f->root);
    f->im = pz_catalog_import_create(f->c, f->import);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pz_catalog_import_destroy(f->im);
    pz_catalog_close(f->c);
    free(f);
    return 0;
}

static void put_file(fixture *f, const char *ns, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", f->import, ns);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", f->import, ns, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static bool exists(fixture *f, const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", f->import, rel);
    return access(path, F_OK) == 0;
}

static char *read_text(fixture *f, const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", f->import, rel);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static pz_catalog_info info(fixture *f, const char *ns)
{
    pz_catalog_info i;
    char err[256];
    assert_int_equal(pz_catalog_info_get(f->c, ns, &i, err, sizeof err), 0);
    return i;
}

static void test_complete_file_is_loaded_and_moved(void **state)
{
    fixture *f = *state;
    put_file(f, "shop", "items.jsonl", "{\"id\":\"a\"}\n{\"id\":\"b\"}\n");
    assert_int_equal(pz_catalog_import_scan(f->im), 0); /* first sighting: maybe still being written */
    assert_false(info(f, "shop").present);
    assert_int_equal(pz_catalog_import_scan(f->im), 1); /* unchanged since: complete */
    assert_int_equal(info(f, "shop").items, 2);
    assert_false(exists(f, "shop/items.jsonl"));
    assert_true(exists(f, "shop/done/items.jsonl"));
    assert_int_equal(pz_catalog_import_scan(f->im), 0); /* done/ is not scanned again */
    uint64_t loaded, failed;
    pz_catalog_import_stats(f->im, &loaded, &failed);
    assert_int_equal(loaded, 1);
    assert_int_equal(failed, 0);
}

static void test_growing_file_waits(void **state)
{
    fixture *f = *state;
    put_file(f, "shop", "items.jsonl", "{\"id\":\"a\"}\n");
    assert_int_equal(pz_catalog_import_scan(f->im), 0);
    put_file(f, "shop", "items.jsonl", "{\"id\":\"a\"}\n{\"id\":\"b\"}\n"); /* it grew: not complete yet */
    assert_int_equal(pz_catalog_import_scan(f->im), 0);
    assert_false(info(f, "shop").present);
    assert_int_equal(pz_catalog_import_scan(f->im), 1);
    assert_int_equal(info(f, "shop").items, 2);
}

static void test_bad_file_goes_to_failed_with_a_note(void **state)
{
    fixture *f = *state;
    put_file(f, "shop", "good.jsonl", "{\"id\":\"keep\"}\n");
    pz_catalog_import_scan(f->im);
    pz_catalog_import_scan(f->im);
    put_file(f, "shop", "bad.jsonl", "{\"id\":\"x\"}\n{\"id\":7}\n");
    pz_catalog_import_scan(f->im);
    assert_int_equal(pz_catalog_import_scan(f->im), 1);
    assert_true(exists(f, "shop/failed/bad.jsonl"));
    char *note = read_text(f, "shop/failed/bad.jsonl.error");
    assert_non_null(strstr(note, "line 2: \"id\" must be a string"));
    assert_non_null(strstr(note, "nothing was published"));
    free(note);
    pz_catalog_info i = info(f, "shop");
    assert_int_equal(i.generation, 1); /* the old catalog keeps serving */
    assert_int_equal(i.items, 1);
    uint64_t loaded, failed;
    pz_catalog_import_stats(f->im, &loaded, &failed);
    assert_int_equal(failed, 1);
}

static void test_ignored_names_and_folders(void **state)
{
    fixture *f = *state;
    put_file(f, "shop", ".hidden.jsonl", "{\"id\":\"a\"}\n");
    put_file(f, "shop", "upload.jsonl.tmp", "{\"id\":\"a\"}\n");
    put_file(f, "shop", "upload.part", "{\"id\":\"a\"}\n");
    put_file(f, "bad name", "items.jsonl", "{\"id\":\"a\"}\n");
    for (int i = 0; i < 3; i++)
        assert_int_equal(pz_catalog_import_scan(f->im), 0);
    assert_true(exists(f, "shop/upload.jsonl.tmp"));
    assert_false(info(f, "shop").present);
    /* the rename that completes an upload makes it eligible */
    char from[1024], to[1024];
    snprintf(from, sizeof from, "%s/shop/upload.jsonl.tmp", f->import);
    snprintf(to, sizeof to, "%s/shop/upload.jsonl", f->import);
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(pz_catalog_import_scan(f->im), 0);
    assert_int_equal(pz_catalog_import_scan(f->im), 1);
    assert_true(info(f, "shop").present);
}

static void test_same_name_twice_keeps_both_in_done(void **state)
{
    fixture *f = *state;
    for (int round = 0; round < 2; round++) {
        put_file(f, "shop", "items.jsonl", round == 0 ? "{\"id\":\"a\"}\n" : "{\"id\":\"b\"}\n");
        pz_catalog_import_scan(f->im);
        assert_int_equal(pz_catalog_import_scan(f->im), 1);
    }
    assert_true(exists(f, "shop/done/items.jsonl"));
    char path[1024];
    snprintf(path, sizeof path, "%s/shop/done", f->import);
    int n = 0;
    DIR *d = opendir(path);
    assert_non_null(d);
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        n += strncmp(de->d_name, "items.jsonl", 11) == 0;
    closedir(d);
    assert_int_equal(n, 2);
    assert_int_equal(info(f, "shop").generation, 2);
}

static void test_several_namespaces_in_name_order(void **state)
{
    fixture *f = *state;
    put_file(f, "a", "1.jsonl", "{\"id\":\"x\",\"v\":1}\n");
    put_file(f, "a", "2.jsonl", "{\"id\":\"y\"}\n{\"id\":\"z\"}\n");
    put_file(f, "b", "items.jsonl", "{\"id\":\"q\"}\n");
    pz_catalog_import_scan(f->im);
    assert_int_equal(pz_catalog_import_scan(f->im), 3);
    assert_int_equal(info(f, "a").generation, 2);
    assert_int_equal(info(f, "a").items, 2); /* 2.jsonl came last and replaced 1.jsonl */
    assert_int_equal(info(f, "b").items, 1);
}

static void test_busy_namespace_keeps_the_file_for_later(void **state)
{
    fixture *f = *state;
    char err[256];
    pz_catalog_build *b;
    assert_int_equal(pz_catalog_build_begin(f->c, "shop", &b, err, sizeof err), 0); /* say, the CLI */
    put_file(f, "shop", "items.jsonl", "{\"id\":\"a\"}\n");
    assert_int_equal(pz_catalog_import_scan(f->im), 0);
    assert_int_equal(pz_catalog_import_scan(f->im), 0); /* complete, but the namespace is busy */
    assert_true(exists(f, "shop/items.jsonl"));
    assert_false(exists(f, "shop/failed/items.jsonl"));
    pz_catalog_build_abort(b);
    assert_int_equal(pz_catalog_import_scan(f->im), 1); /* the very next scan takes it */
    assert_true(exists(f, "shop/done/items.jsonl"));
    assert_true(info(f, "shop").present);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_complete_file_is_loaded_and_moved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_growing_file_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_file_goes_to_failed_with_a_note, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ignored_names_and_folders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_name_twice_keeps_both_in_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_several_namespaces_in_name_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_namespace_keeps_the_file_for_later, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
