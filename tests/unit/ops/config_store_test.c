/* Tests for server/ops/config_store.c: every load attempt is a record (accepted ones with their
 * document, rejected ones with their errors), an unchanged document adds nothing, the newest
 * `keep` of each status are kept, records are found by @id or by version, and a second reader (the
 * CLI while a server runs) sees what the writer recorded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/ops/config_store.h"

static char dir[512];

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TEST_TMPDIR");
    static int n;
    snprintf(dir, sizeof dir, "%s/history-%d-%d", tmp != NULL ? tmp : "/tmp", (int)getpid(), n++);
    return 0;
}

static void doc(char *out, size_t len, const char *version)
{
    snprintf(out, len, "{\"version\":\"%s\",\"namespaces\":{\"a\":{\"eventTargets\":[]}}}", version);
}

/* Records one attempt of text (parsed here) from source; returns the record id. */
static unsigned long long record(pz_config_store *s, const char *text, const char *source, int64_t now)
{
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *cfg = text != NULL ? pz_config_parse(text, strlen(text), &p) : NULL;
    pz_config_load load = {
        .source = source, .text = text, .len = text != NULL ? strlen(text) : 0, .config = cfg, .problems = &p};
    unsigned long long id = 0;
    char err[256];
    assert_int_equal(pz_config_store_record(s, &load, now, &id, err, sizeof err), 0);
    pz_config_unref(cfg);
    pz_config_problems_free(&p);
    return id;
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void test_records_accepted_and_rejected(void **state)
{
    (void)state;
    pz_config_store *s;
    char err[256], v1[200], v2[200];
    assert_int_equal(pz_config_store_open(dir, 10, false, &s, err, sizeof err), -1); /* not there, not created */
    assert_non_null(strstr(err, "cannot open"));
    assert_int_equal(pz_config_store_open(dir, 10, true, &s, err, sizeof err), 0);
    doc(v1, sizeof v1, "v1");
    doc(v2, sizeof v2, "v2");
    assert_int_equal(record(s, v1, "file:/etc/pz.json", 1700000000123), 1);
    assert_int_equal(record(s, v1, "file:/etc/pz.json", 1700000001000), 1); /* unchanged: nothing new */
    assert_int_equal(record(s, "{\"version\":3}", "url:http://x/cfg", 1700000002000), 2);
    assert_int_equal(record(s, NULL, "file:/gone.json", 1700000003000), 3); /* could not be read */
    assert_int_equal(record(s, v2, "admin", 1700000004000), 4);

    json_t *list = pz_config_store_list(s, 0, err, sizeof err);
    assert_int_equal(json_array_size(list), 4);
    json_t *newest = json_array_get(list, 0);
    assert_int_equal(json_integer_value(json_object_get(newest, "id")), 4);
    assert_string_equal(str(newest, "status"), "accepted");
    assert_string_equal(str(newest, "version"), "v2");
    assert_string_equal(str(newest, "source"), "admin");
    assert_true(json_is_true(json_object_get(newest, "active")));
    char hash[PZ_CONFIG_HASH_SIZE];
    pz_config_hash(v2, strlen(v2), hash);
    assert_string_equal(str(newest, "hash"), hash);
    assert_int_equal(strlen(hash), 7 + 64);

    json_t *rejected = json_array_get(list, 2);
    assert_string_equal(str(rejected, "status"), "rejected");
    assert_true(json_is_null(json_object_get(rejected, "version")));
    json_t *errors = json_object_get(rejected, "errors");
    assert_true(json_array_size(errors) >= 1);
    assert_non_null(str(json_array_get(errors, 0), "path"));
    assert_null(json_object_get(rejected, "active"));
    json_t *unreadable = json_array_get(list, 1);
    assert_true(json_is_null(json_object_get(unreadable, "hash")));
    json_t *oldest = json_array_get(list, 3);
    assert_string_equal(str(oldest, "loadedAt"), "2023-11-14T22:13:20.123Z");
    assert_null(json_object_get(oldest, "active")); /* only the newest accepted one is served */
    json_decref(list);

    list = pz_config_store_list(s, 2, err, sizeof err);
    assert_int_equal(json_array_size(list), 2);
    json_decref(list);
    pz_config_store_close(s);
}

static void test_find_by_id_and_version(void **state)
{
    (void)state;
    pz_config_store *s;
    char err[256], v1[200], v2[200];
    assert_int_equal(pz_config_store_open(dir, 10, true, &s, err, sizeof err), 0);
    doc(v1, sizeof v1, "v1");
    doc(v2, sizeof v2, "v2");
    record(s, v1, "a", 1000);
    record(s, v2, "b", 2000);
    record(s, "{\"version\":\"v1\",\"namespaces\":{},\"bogus\":1}", "c", 3000); /* rejected, claims v1 */
    char v1b[256];
    snprintf(v1b, sizeof v1b, "%s ", v1); /* same version, different bytes: a newer record of v1 */
    record(s, v1b, "d", 4000);

    char *text = NULL;
    size_t len = 0;
    json_t *m = pz_config_store_find(s, "v1", &text, &len, err, sizeof err);
    assert_non_null(m);
    assert_int_equal(json_integer_value(json_object_get(m, "id")), 4); /* the newest accepted v1 */
    assert_int_equal(len, strlen(v1b));
    assert_memory_equal(text, v1b, len);
    free(text);
    json_decref(m);

    m = pz_config_store_find(s, "@1", &text, &len, err, sizeof err);
    assert_non_null(m);
    assert_string_equal(text, v1);
    free(text);
    json_decref(m);

    m = pz_config_store_find(s, "@3", &text, NULL, err, sizeof err); /* a rejected record, by its id */
    assert_non_null(m);
    assert_string_equal(str(m, "status"), "rejected");
    assert_non_null(text);
    free(text);
    json_decref(m);

    assert_null(pz_config_store_find(s, "v9", NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "no accepted configuration with version 'v9'"));
    assert_null(pz_config_store_find(s, "@99", NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "no record @99"));
    pz_config_store_close(s);
}

static void test_keeps_the_newest_of_each_status(void **state)
{
    (void)state;
    pz_config_store *s;
    char err[256], text[200];
    assert_int_equal(pz_config_store_open(dir, 3, true, &s, err, sizeof err), 0);
    for (int i = 1; i <= 5; i++) {
        char v[16];
        snprintf(v, sizeof v, "v%d", i);
        doc(text, sizeof text, v);
        record(s, text, "file", i * 1000);
        record(s, "{", "file", i * 1000 + 1); /* rejected */
    }
    json_t *list = pz_config_store_list(s, 0, err, sizeof err);
    assert_int_equal(json_array_size(list), 6);
    int accepted = 0;
    size_t i;
    json_t *r;
    json_array_foreach (list, i, r) {
        if (strcmp(str(r, "status"), "accepted") == 0)
            accepted++;
    }
    assert_int_equal(accepted, 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 5), "id")), 5); /* v3 */
    json_decref(list);
    assert_null(pz_config_store_find(s, "v2", NULL, NULL, err, sizeof err)); /* pruned */
    pz_config_store_close(s);

    /* reopened: the ids go on where they stopped, the index is read from disk */
    assert_int_equal(pz_config_store_open(dir, 3, false, &s, err, sizeof err), 0);
    doc(text, sizeof text, "v5");
    assert_int_equal(record(s, text, "file", 9000), 9); /* unchanged: the newest accepted is v5 (@9) */
    doc(text, sizeof text, "v6");
    assert_int_equal(record(s, text, "file", 9001), 11);
    pz_config_store_close(s);
}

static void test_a_second_reader_sees_new_records(void **state)
{
    (void)state;
    pz_config_store *writer, *reader;
    char err[256], text[200];
    assert_int_equal(pz_config_store_open(dir, 10, true, &writer, err, sizeof err), 0);
    assert_int_equal(pz_config_store_open(dir, 10, false, &reader, err, sizeof err), 0);
    doc(text, sizeof text, "late");
    record(writer, text, "file", 1000);
    json_t *m = pz_config_store_find(reader, "late", NULL, NULL, err, sizeof err);
    assert_non_null(m);
    json_decref(m);
    pz_config_store_close(reader);
    pz_config_store_close(writer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_records_accepted_and_rejected, setup),
        cmocka_unit_test_setup(test_find_by_id_and_version, setup),
        cmocka_unit_test_setup(test_keeps_the_newest_of_each_status, setup),
        cmocka_unit_test_setup(test_a_second_reader_sees_new_records, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
