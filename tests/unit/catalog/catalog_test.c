/* Tests for server/catalog/catalog.c and catalog_load.c: loading (bad lines, empty input, duplicates,
 * unicode, the size cap, gzip, strict vs lenient), atomic publish under concurrent readers, failed
 * loads keeping the old generation (a bad line, a full map), edits. Real LMDB in $TEST_TMPDIR. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "server/catalog/catalog.h"
#include "server/catalog/catalog_load.h"
#include "server/catalog/item_meta.h"
#include "server/core/prerendered.h"

typedef struct fixture {
    char dir[512];
    pz_catalog *c;
    pz_arena arena;
} fixture;

static void make_dir_name(char *out, size_t len, const char *what)
{
    static int n;
    const char *tmp = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
    snprintf(out, len, "%s/catalog_test_%s_%d_%d", tmp, what, (int)getpid(), n++);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    make_dir_name(f->dir, sizeof f->dir, "db");
    char err[256];
    assert_int_equal(pz_catalog_open(f->dir, NULL, &f->c, err, sizeof err), 0);
    pz_arena_init(&f->arena);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pz_catalog_close(f->c);
    pz_arena_destroy(&f->arena);
    free(f);
    return 0;
}

/* ---- helpers ---- */

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, len, fp), len);
    fclose(fp);
}

static void file_path(const fixture *f, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", f->dir, name);
}

typedef struct bad_lines {
    size_t n;
    size_t line[16];
    char reason[16][300];
} bad_lines;

static void record_bad(void *ctx, size_t line_no, const char *reason)
{
    bad_lines *b = ctx;
    if (b->n < 16) {
        b->line[b->n] = line_no;
        snprintf(b->reason[b->n], sizeof b->reason[b->n], "%s", reason);
    }
    b->n++;
}

static int load_text(fixture *f, const char *ns, const char *text, bool lenient, bad_lines *bad,
                     pz_catalog_load_result *res, char *err, size_t errlen)
{
    pz_catalog_load_options o = {.lenient = lenient, .on_bad_line = record_bad, .ctx = bad};
    return pz_catalog_load_buffer(f->c, ns, text, strlen(text), &o, res, err, errlen);
}

/* The metadata of an item as a Struct, or NULL when absent. */
static Google__Protobuf__Struct *get(fixture *f, const char *ns, const char *id)
{
    pz_catalog_view v;
    char err[256];
    assert_int_equal(pz_catalog_view_begin(f->c, ns, &v, err, sizeof err), 0);
    const void *value;
    size_t len;
    Google__Protobuf__Struct *s = NULL;
    int found = pz_catalog_view_get(&v, id, strlen(id), &value, &len);
    assert_true(found >= 0);
    if (found == 1) {
        s = pz_prerendered_expand(pz_item_meta_to_struct(value, len, NULL, 0, &f->arena), &f->arena);
        assert_non_null(s);
    }
    pz_catalog_view_end(&v);
    return s;
}

static const Google__Protobuf__Value *field(const Google__Protobuf__Struct *s, const char *key)
{
    for (size_t i = 0; i < s->n_fields; i++)
        if (strcmp(s->fields[i]->key, key) == 0)
            return s->fields[i]->value;
    return NULL;
}

static const char *str_field(const Google__Protobuf__Struct *s, const char *key)
{
    const Google__Protobuf__Value *v = field(s, key);
    assert_non_null(v);
    assert_int_equal(v->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE);
    return v->string_value;
}

static pz_catalog_info info(fixture *f, const char *ns)
{
    pz_catalog_info i;
    char err[256];
    assert_int_equal(pz_catalog_info_get(f->c, ns, &i, err, sizeof err), 0);
    return i;
}

/* ---- loading ---- */

static void test_load_and_read(void **state)
{
    fixture *f = *state;
    pz_catalog_load_result r;
    bad_lines bad = {0};
    char err[256];
    assert_false(info(f, "shop").present);
    assert_null(get(f, "shop", "a")); /* no catalog yet: nothing found, no error */
    assert_int_equal(load_text(f, "shop",
                               "{\"id\":\"a\",\"name\":\"Apple\",\"price\":1.5,\"tags\":[\"x\",2,true,null],"
                               "\"dims\":{\"w\":1,\"h\":{\"deep\":false}}}\n"
                               "{\"name\":\"Banana\",\"id\":\"b\"}\n\n   \n{\"id\":\"c\"}",
                               false, &bad, &r, err, sizeof err),
                     0);
    assert_true(r.published);
    assert_int_equal(r.items, 3);
    assert_int_equal(r.lines, 5);
    assert_int_equal(r.bad_lines, 0);
    assert_int_equal(bad.n, 0);
    pz_catalog_info i = info(f, "shop");
    assert_true(i.present);
    assert_int_equal(i.generation, 1);
    assert_int_equal(i.items, 3);
    Google__Protobuf__Struct *a = get(f, "shop", "a");
    assert_int_equal(a->n_fields, 4); /* id left out, order kept */
    assert_string_equal(a->fields[0]->key, "name");
    assert_string_equal(a->fields[3]->key, "dims");
    assert_string_equal(str_field(a, "name"), "Apple");
    assert_true(field(a, "price")->number_value == 1.5);
    const Google__Protobuf__ListValue *tags = field(a, "tags")->list_value;
    assert_int_equal(tags->n_values, 4);
    assert_int_equal(tags->values[2]->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE);
    assert_int_equal(tags->values[3]->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE);
    const Google__Protobuf__Struct *h = field(field(a, "dims")->struct_value, "h")->struct_value;
    assert_false(field(h, "deep")->bool_value);
    assert_string_equal(str_field(get(f, "shop", "b"), "name"), "Banana");
    assert_int_equal(get(f, "shop", "c")->n_fields, 0); /* an item with nothing but its id */
    assert_null(get(f, "shop", "zzz"));
    assert_null(get(f, "other", "a")); /* namespaces are separate */
}

static const char BAD_INPUT[] = "{\"id\":\"ok1\"}\n"
                                "not json\n"
                                "[1,2]\n"
                                "{\"name\":\"no id\"}\n"
                                "{\"id\":42}\n"
                                "{\"id\":\"\"}\n"
                                "{\"id\":\"d\",\"a\":1,\"a\":2}\n"
                                "{\"id\":\"n\",\"s\":\"nul\\u0000here\"}\n"
                                "{\"id\":\"ok2\"}\n";

static void test_bad_lines_strict(void **state)
{
    fixture *f = *state;
    pz_catalog_load_result r;
    bad_lines bad = {0};
    char err[256];
    assert_int_equal(load_text(f, "shop", BAD_INPUT, false, &bad, &r, err, sizeof err), -1);
    assert_false(r.published);
    assert_int_equal(bad.n, 1); /* strict stops at the first bad line */
    assert_int_equal(bad.line[0], 2);
    assert_non_null(strstr(err, "line 2: invalid JSON"));
    assert_non_null(strstr(err, "nothing was published"));
    assert_false(info(f, "shop").present);
    assert_null(get(f, "shop", "ok1"));
}

static void test_bad_lines_lenient(void **state)
{
    fixture *f = *state;
    pz_catalog_load_result r;
    bad_lines bad = {0};
    char err[256];
    assert_int_equal(load_text(f, "shop", BAD_INPUT, true, &bad, &r, err, sizeof err), 0);
    assert_int_equal(r.items, 2);
    assert_int_equal(r.bad_lines, 7);
    assert_int_equal(bad.n, 7);
    static const char *const reasons[] = {"invalid JSON",     "expected a JSON object", "missing \"id\"",
                                          "must be a string", "must be 1 to 256 bytes", "duplicate object key",
                                          "invalid JSON"};
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(bad.line[i], i + 2);
        if (strstr(bad.reason[i], reasons[i]) == NULL)
            fail_msg("line %zu: '%s' does not say '%s'", bad.line[i], bad.reason[i], reasons[i]);
    }
    assert_non_null(get(f, "shop", "ok1"));
    assert_non_null(get(f, "shop", "ok2"));
    assert_null(get(f, "shop", "d"));
}

static void test_long_id_and_depth(void **state)
{
    fixture *f = *state;
    char line[2048], id[PZ_CATALOG_MAX_ID_LEN + 2];
    memset(id, 'i', sizeof id - 1);
    id[sizeof id - 1] = '\0'; /* 257 bytes: one over */
    snprintf(line, sizeof line, "{\"id\":\"%s\"}\n{\"id\":\"%.*s\"}\n", id, PZ_CATALOG_MAX_ID_LEN, id);
    pz_catalog_load_result r;
    bad_lines bad = {0};
    char err[256];
    assert_int_equal(load_text(f, "shop", line, true, &bad, &r, err, sizeof err), 0);
    assert_int_equal(bad.n, 1);
    assert_int_equal(bad.line[0], 1);
    assert_int_equal(r.items, 1); /* exactly 256 bytes is fine */

    /* nesting: the item's object is level 1; PZ_ITEM_META_MAX_DEPTH levels are fine, one more is not */
    char deep[512] = "{\"id\":\"ok\",\"v\":", deeper[512] = "{\"id\":\"no\",\"v\":";
    for (int i = 1; i < PZ_ITEM_META_MAX_DEPTH; i++)
        strcat(deep, "[");
    for (int i = 1; i < PZ_ITEM_META_MAX_DEPTH; i++)
        strcat(deep, "]");
    strcat(deep, "}\n");
    for (int i = 0; i < PZ_ITEM_META_MAX_DEPTH; i++)
        strcat(deeper, "[");
    for (int i = 0; i < PZ_ITEM_META_MAX_DEPTH; i++)
        strcat(deeper, "]");
    strcat(deeper, "}\n");
    char both[1024];
    snprintf(both, sizeof both, "%s%s", deep, deeper);
    memset(&bad, 0, sizeof bad);
    assert_int_equal(load_text(f, "deep", both, true, &bad, &r, err, sizeof err), 0);
    assert_int_equal(r.items, 1);
    assert_int_equal(bad.n, 1);
    assert_int_equal(bad.line[0], 2);
    assert_non_null(strstr(bad.reason[0], "deeper than 32"));
    assert_non_null(get(f, "deep", "ok"));
}

static void test_empty_input_publishes_nothing(void **state)
{
    fixture *f = *state;
    pz_catalog_load_result r;
    bad_lines bad = {0};
    char err[256];
    assert_int_equal(load_text(f, "shop", "{\"id\":\"keep\"}\n", false, &bad, &r, err, sizeof err), 0);
    const char *inputs[] = {"", "\n\n  \r\n", "oops\n"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(load_text(f, "shop", inputs[i], true, &bad, &r, err, sizeof err), -1);
        assert_non_null(strstr(err, "no items"));
        assert_false(r.published);
    }
    char path[600];
    file_path(f, "empty.jsonl", path, sizeof path);
    write_file(path, "", 0);
    assert_int_equal(pz_catalog_load_file(f->c, "shop", path, NULL, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "no items"));
    assert_int_equal(info(f, "shop").generation, 1); /* the old catalog still serves */
    assert_non_null(get(f, "shop", "keep"));
}

static void test_duplicates_last_wins(void **state)
{
    fixture *f = *state;
    pz_catalog_load_result r;
    bad_lines bad = {0};
    char err[256];
    assert_int_equal(load_text(f, "shop",
                               "{\"id\":\"a\",\"v\":\"first\"}\n{\"id\":\"b\",\"v\":\"only\"}\n"
                               "{\"id\":\"a\",\"v\":\"second\"}\n{\"id\":\"a\",\"v\":\"third\",\"extra\":1}\n",
                               false, &bad, &r, err, sizeof err),
                     0);
    assert_int_equal(r.items, 2);
    assert_int_equal(r.duplicates, 2);
    Google__Protobuf__Struct *a = get(f, "shop", "a");
    assert_string_equal(str_field(a, "v"), "third");
    assert_int_equal(a->n_fields, 2);
    assert_int_equal(info(f, "shop").items, 2);

    /* ids in order take the append path; a repeat of the last id, or a shorter prefix, do not */
    assert_int_equal(load_text(f, "sorted",
                               "{\"id\":\"a\",\"v\":\"1\"}\n{\"id\":\"ab\",\"v\":\"1\"}\n"
                               "{\"id\":\"ab\",\"v\":\"2\"}\n{\"id\":\"a\",\"v\":\"2\"}\n"
                               "{\"id\":\"b\",\"v\":\"1\"}\n{\"id\":\"aa\",\"v\":\"1\"}\n",
                               false, &bad, &r, err, sizeof err),
                     0);
    assert_int_equal(r.items, 4);
    assert_int_equal(r.duplicates, 2);
    assert_string_equal(str_field(get(f, "sorted", "a"), "v"), "2");
    assert_string_equal(str_field(get(f, "sorted", "ab"), "v"), "2");
    assert_string_equal(str_field(get(f, "sorted", "aa"), "v"), "1");
    assert_string_equal(str_field(get(f, "sorted", "b"), "v"), "1");
}

static void test_unicode_bom_and_crlf(void **state)
{
    fixture *f = *state;
    pz_catalog_load_result r;
    bad_lines bad = {0};
    char err[256];
    assert_int_equal(load_text(f, "shop",
                               "\xEF\xBB\xBF{\"id\":\"caf\xC3\xA9\",\"name\":\"Caf\\u00e9 \xF0\x9F\x8D\xB5\","
                               "\"\xE5\x93\x81\xE5\x90\x8D\":\"\xE8\x8C\xB6\"}\r\n"
                               "{\"id\":\"esc\",\"q\":\"a\\\"b\\\\c\\n\\t\\u2028\"}\r\n",
                               false, &bad, &r, err, sizeof err),
                     0);
    assert_int_equal(r.items, 2);
    Google__Protobuf__Struct *s = get(f, "shop", "caf\xC3\xA9");
    assert_non_null(s);
    assert_string_equal(str_field(s, "name"), "Caf\xC3\xA9 \xF0\x9F\x8D\xB5");
    assert_string_equal(str_field(s, "\xE5\x93\x81\xE5\x90\x8D"), "\xE8\x8C\xB6");
    assert_string_equal(str_field(get(f, "shop", "esc"), "q"), "a\"b\\c\n\t\xE2\x80\xA8");
}

/* A line of exactly `len` bytes: {"id":"<id>","pad":"xxx..."} */
static char *padded_line(const char *id, size_t len)
{
    char *s = malloc(len + 2);
    int head = snprintf(s, len + 1, "{\"id\":\"%s\",\"pad\":\"", id);
    memset(s + head, 'x', len - (size_t)head - 2);
    memcpy(s + len - 2, "\"}", 2);
    s[len] = '\n';
    s[len + 1] = '\0';
    return s;
}

static void test_item_size_cap(void **state)
{
    fixture *f = *state;
    char *at_cap = padded_line("at", PZ_CATALOG_MAX_ITEM_BYTES);
    char *over = padded_line("over", PZ_CATALOG_MAX_ITEM_BYTES + 1);
    char *huge = padded_line("huge", 5 * PZ_CATALOG_MAX_ITEM_BYTES); /* longer than the read buffer */
    size_t n = strlen(at_cap) + strlen(over) + strlen(huge) + 32;
    char *text = malloc(n);
    snprintf(text, n, "%s%s%s{\"id\":\"after\"}\n", at_cap, over, huge);
    pz_catalog_load_result r;
    bad_lines bad = {0};
    char err[256];
    assert_int_equal(load_text(f, "shop", text, true, &bad, &r, err, sizeof err), 0);
    assert_int_equal(r.items, 2);
    assert_int_equal(bad.n, 2);
    assert_int_equal(bad.line[0], 2);
    assert_non_null(strstr(bad.reason[0], "65536"));
    assert_int_equal(bad.line[1], 3);
    assert_non_null(strstr(bad.reason[1], "longer than 65536"));
    Google__Protobuf__Struct *s = get(f, "shop", "at");
    assert_int_equal(strlen(str_field(s, "pad")), PZ_CATALOG_MAX_ITEM_BYTES - strlen("{\"id\":\"at\",\"pad\":\"\"}"));
    assert_non_null(get(f, "shop", "after")); /* the reader resynchronized after the huge line */
    assert_null(get(f, "shop", "over"));
    free(at_cap);
    free(over);
    free(huge);
    free(text);
}

static void write_gzip(const char *path, const char *text)
{
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, text, (unsigned)strlen(text)), (int)strlen(text));
    gzclose(gz);
}

static void test_gzip(void **state)
{
    fixture *f = *state;
    char path[600], err[256];
    pz_catalog_load_result r;
    pz_buf text;
    pz_buf_init(&text, 1 << 24);
    for (int i = 0; i < 20000; i++)
        pz_buf_printf(&text, "{\"id\":\"item-%05d\",\"name\":\"Item %d\",\"n\":%d}\n", i, i, i);
    file_path(f, "items.jsonl.gz", path, sizeof path);
    write_gzip(path, text.data);
    assert_int_equal(pz_catalog_load_file(f->c, "shop", path, NULL, &r, err, sizeof err), 0);
    assert_int_equal(r.items, 20000);
    assert_string_equal(str_field(get(f, "shop", "item-19999"), "name"), "Item 19999");
    file_path(f, "items.gzip", path, sizeof path); /* the other suffix */
    write_gzip(path, "{\"id\":\"g\"}\n");
    assert_int_equal(pz_catalog_load_file(f->c, "gz2", path, NULL, &r, err, sizeof err), 0);
    assert_int_equal(r.items, 1);

    /* a truncated gzip stream fails the load: nothing published */
    file_path(f, "items.jsonl.gz", path, sizeof path);
    FILE *fp = fopen(path, "rb");
    char *bytes = malloc(1 << 20);
    size_t n = fread(bytes, 1, 1 << 20, fp);
    fclose(fp);
    file_path(f, "cut.jsonl.gz", path, sizeof path);
    write_file(path, bytes, n / 2);
    free(bytes);
    assert_int_equal(pz_catalog_load_file(f->c, "shop", path, NULL, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "gzip"));
    assert_int_equal(info(f, "shop").generation, 1);
    assert_int_equal(info(f, "shop").items, 20000);

    file_path(f, "missing.jsonl", path, sizeof path);
    assert_int_equal(pz_catalog_load_file(f->c, "shop", path, NULL, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
    pz_buf_free(&text);
}

static void test_reload_replaces_and_failed_load_keeps_old(void **state)
{
    fixture *f = *state;
    pz_catalog_load_result r;
    bad_lines bad = {0};
    char err[256];
    assert_int_equal(
        load_text(f, "shop", "{\"id\":\"a\",\"v\":\"1\"}\n{\"id\":\"gone\"}\n", false, &bad, &r, err, sizeof err), 0);
    assert_int_equal(
        load_text(f, "shop", "{\"id\":\"a\",\"v\":\"2\"}\n{\"id\":\"new\"}\n", false, &bad, &r, err, sizeof err), 0);
    assert_int_equal(r.info.generation, 2);
    assert_string_equal(str_field(get(f, "shop", "a"), "v"), "2");
    assert_null(get(f, "shop", "gone")); /* a load is a full replace */
    assert_int_equal(load_text(f, "shop", "{\"id\":\"a\",\"v\":\"3\"}\n{broken\n", false, &bad, &r, err, sizeof err),
                     -1);
    assert_string_equal(str_field(get(f, "shop", "a"), "v"), "2");
    assert_int_equal(info(f, "shop").generation, 2);
    /* the next load after a failure starts clean (no leftovers of the failed one) */
    assert_int_equal(load_text(f, "shop", "{\"id\":\"z\"}\n", false, &bad, &r, err, sizeof err), 0);
    assert_int_equal(info(f, "shop").items, 1);
    assert_null(get(f, "shop", "a"));
}

/* Disk full: a map too small for the new generation fails the load; the old one keeps serving. */
static void test_map_full_keeps_old(void **state)
{
    (void)state;
    char dir[512], err[256];
    make_dir_name(dir, sizeof dir, "small");
    pz_catalog *c;
    assert_int_equal(pz_catalog_open(dir, &(pz_catalog_options){.map_size_mb = 1}, &c, err, sizeof err), 0);
    pz_catalog_load_result r;
    const char *small = "{\"id\":\"a\",\"v\":\"old\"}\n";
    assert_int_equal(pz_catalog_load_buffer(c, "shop", small, strlen(small), NULL, &r, err, sizeof err), 0);
    pz_buf big;
    pz_buf_init(&big, 1 << 24);
    for (int i = 0; i < 4000; i++)
        pz_buf_printf(&big, "{\"id\":\"item-%d\",\"text\":\"%0500d\"}\n", i, i);
    assert_int_equal(pz_catalog_load_buffer(c, "shop", big.data, big.len, NULL, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "map is full"));
    pz_catalog_view v;
    assert_int_equal(pz_catalog_view_begin(c, "shop", &v, err, sizeof err), 0);
    assert_int_equal(v.info.generation, 1);
    const void *value;
    size_t len;
    assert_int_equal(pz_catalog_view_get(&v, "a", 1, &value, &len), 1);
    assert_int_equal(pz_catalog_view_get(&v, "item-1", 6, &value, &len), 0);
    pz_catalog_view_end(&v);
    /* the space of the failed build was given back: a small load still fits */
    assert_int_equal(pz_catalog_load_buffer(c, "shop", small, strlen(small), NULL, &r, err, sizeof err), 0);
    pz_buf_free(&big);
    pz_catalog_close(c);
}

/* ---- atomic publish ---- */

#define READER_IDS 2000

typedef struct reader_state {
    pz_catalog *c;
    atomic_bool *stop;
    long views, mixed, wrong_generation, errors;
    bool seen[2];
} reader_state;

static void *reader(void *arg)
{
    reader_state *s = arg;
    pz_arena arena;
    pz_arena_init(&arena);
    unsigned seed = (unsigned)(uintptr_t)arg;
    uint64_t last_generation = 0;
    while (!atomic_load(s->stop)) {
        pz_catalog_view v;
        char err[256];
        if (pz_catalog_view_begin(s->c, "shop", &v, err, sizeof err) != 0) {
            s->errors++;
            continue;
        }
        char first = 0;
        for (int i = 0; i < 40; i++) {
            char id[32];
            snprintf(id, sizeof id, "item-%d", rand_r(&seed) % READER_IDS);
            const void *value;
            size_t len;
            if (pz_catalog_view_get(&v, id, strlen(id), &value, &len) != 1) {
                s->errors++; /* every generation holds every id */
                continue;
            }
            Google__Protobuf__Struct *m = pz_item_meta_to_struct(value, len, NULL, 0, &arena);
            m = m != NULL ? pz_prerendered_expand(m, &arena) : NULL;
            char g = m != NULL && m->n_fields == 1 ? m->fields[0]->value->string_value[0] : '?';
            if (first == 0)
                first = g;
            else if (g != first)
                s->mixed++;
        }
        /* generation 1, 3, 5... hold "A"; 2, 4, 6... hold "B"; generations never go back */
        if (first != (v.info.generation % 2 == 1 ? 'A' : 'B') || v.info.generation < last_generation)
            s->wrong_generation++;
        last_generation = v.info.generation;
        s->seen[first == 'B'] = true;
        s->views++;
        pz_catalog_view_end(&v);
        pz_arena_reset(&arena);
    }
    pz_arena_destroy(&arena);
    return NULL;
}

static char *generation_text(char letter)
{
    pz_buf b;
    pz_buf_init(&b, 1 << 22);
    for (int i = 0; i < READER_IDS; i++)
        pz_buf_printf(&b, "{\"id\":\"item-%d\",\"g\":\"%c-%d\"}\n", i, letter, i);
    size_t len;
    return pz_buf_take(&b, &len);
}

static void test_atomic_publish_under_concurrent_readers(void **state)
{
    fixture *f = *state;
    char *text[2] = {generation_text('A'), generation_text('B')};
    pz_catalog_load_result r;
    char err[256];
    assert_int_equal(pz_catalog_load_buffer(f->c, "shop", text[0], strlen(text[0]), NULL, &r, err, sizeof err), 0);
    atomic_bool stop;
    atomic_init(&stop, false);
    enum { READERS = 3 };
    reader_state states[READERS];
    pthread_t threads[READERS];
    for (int i = 0; i < READERS; i++) {
        states[i] = (reader_state){.c = f->c, .stop = &stop};
        assert_int_equal(pthread_create(&threads[i], NULL, reader, &states[i]), 0);
    }
    for (int g = 2; g <= 13; g++)
        assert_int_equal(pz_catalog_load_buffer(f->c, "shop", text[(g - 1) % 2], strlen(text[(g - 1) % 2]), NULL, &r,
                                                err, sizeof err),
                         0);
    atomic_store(&stop, true);
    long views = 0;
    bool seen_a = false, seen_b = false;
    for (int i = 0; i < READERS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(states[i].mixed, 0);
        assert_int_equal(states[i].wrong_generation, 0);
        assert_int_equal(states[i].errors, 0);
        views += states[i].views;
        seen_a = seen_a || states[i].seen[0];
        seen_b = seen_b || states[i].seen[1];
    }
    assert_true(views > 0);
    assert_true(seen_a && seen_b); /* the readers really ran across publishes */
    assert_int_equal(info(f, "shop").generation, 13);
    free(text[0]);
    free(text[1]);
}

/* A view keeps reading its generation while a newer one is published. */
static void test_open_view_keeps_its_generation(void **state)
{
    fixture *f = *state;
    pz_catalog_load_result r;
    bad_lines bad = {0};
    char err[256];
    assert_int_equal(load_text(f, "shop", "{\"id\":\"a\",\"v\":\"old\"}\n", false, &bad, &r, err, sizeof err), 0);
    pz_catalog_view old;
    assert_int_equal(pz_catalog_view_begin(f->c, "shop", &old, err, sizeof err), 0);
    assert_int_equal(load_text(f, "shop", "{\"id\":\"a\",\"v\":\"new\"}\n", false, &bad, &r, err, sizeof err), 0);
    const void *value;
    size_t len;
    assert_int_equal(pz_catalog_view_get(&old, "a", 1, &value, &len), 1);
    assert_string_equal(
        str_field(pz_prerendered_expand(pz_item_meta_to_struct(value, len, NULL, 0, &f->arena), &f->arena), "v"),
        "old");
    pz_catalog_view_end(&old);
    assert_string_equal(str_field(get(f, "shop", "a"), "v"), "new");
}

static void test_one_build_per_namespace(void **state)
{
    fixture *f = *state;
    char err[256];
    pz_catalog_build *b1, *b2, *b3;
    assert_int_equal(pz_catalog_build_begin(f->c, "shop", &b1, err, sizeof err), 0);
    assert_int_equal(pz_catalog_build_begin(f->c, "shop", &b2, err, sizeof err), PZ_CATALOG_BUSY);
    assert_non_null(strstr(err, "in progress"));
    pz_catalog_load_result r;
    assert_int_equal(pz_catalog_load_buffer(f->c, "shop", "{\"id\":\"a\"}", 10, NULL, &r, err, sizeof err),
                     PZ_CATALOG_BUSY);
    assert_int_equal(pz_catalog_build_begin(f->c, "other", &b3, err, sizeof err), 0);
    assert_int_equal(pz_catalog_build_put(b1, "x", 1, "v", 1, NULL, err, sizeof err), 0);
    assert_int_equal(pz_catalog_build_put(b1, "", 0, "v", 1, NULL, err, sizeof err), -1);
    pz_catalog_build_abort(b1); /* nothing published */
    pz_catalog_build_abort(b3);
    assert_false(info(f, "shop").present);
    assert_int_equal(pz_catalog_build_begin(f->c, "shop", &b2, err, sizeof err), 0); /* the lock was released */
    pz_catalog_build_abort(b2);
}

static void test_invalid_namespace(void **state)
{
    fixture *f = *state;
    char err[256];
    pz_catalog_view v;
    pz_catalog_build *b;
    const char *bad[] = {"", "a/b", "../x", "sp ace", "n\xC3\xA9"};
    for (size_t i = 0; i < 5; i++) {
        assert_false(pz_catalog_valid_namespace(bad[i]));
        assert_int_equal(pz_catalog_view_begin(f->c, bad[i], &v, err, sizeof err), -1);
        assert_int_equal(pz_catalog_build_begin(f->c, bad[i], &b, err, sizeof err), -1);
        assert_non_null(strstr(err, "invalid namespace"));
    }
    char longest[PZ_CATALOG_MAX_NS_LEN + 2];
    memset(longest, 'n', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    assert_false(pz_catalog_valid_namespace(longest));
    longest[PZ_CATALOG_MAX_NS_LEN] = '\0';
    assert_true(pz_catalog_valid_namespace(longest));
    assert_true(pz_catalog_valid_namespace("Shop_2-x"));
}

/* ---- edits ---- */

static pz_catalog_edit upsert(const char *id, const char *json, pz_buf *value)
{
    char reason[256], idbuf[PZ_CATALOG_MAX_ID_LEN + 1];
    size_t id_len;
    assert_int_equal(pz_catalog_prepare_item(json, strlen(json), idbuf, &id_len, value, reason, sizeof reason), 0);
    assert_string_equal(idbuf, id);
    return (pz_catalog_edit){.id = id, .id_len = strlen(id), .value = value->data, .len = value->len};
}

static void test_upsert_and_delete(void **state)
{
    fixture *f = *state;
    char err[256];
    pz_buf v1, v2;
    pz_buf_init(&v1, 1 << 16);
    pz_buf_init(&v2, 1 << 16);
    size_t missing;
    /* into a namespace with no catalog: generation 1 holding the upserts */
    pz_catalog_edit e1[] = {upsert("a", "{\"id\":\"a\",\"v\":\"1\"}", &v1), upsert("b", "{\"id\":\"b\"}", &v2)};
    assert_int_equal(pz_catalog_apply(f->c, "shop", e1, 2, &missing, err, sizeof err), 0);
    pz_catalog_info i = info(f, "shop");
    assert_int_equal(i.generation, 1);
    assert_int_equal(i.items, 2);
    assert_int_equal(i.revision, 1);
    pz_catalog_edit e2[] = {
        upsert("a", "{\"v\":\"2\",\"id\":\"a\"}", &v1), {.id = "b", .id_len = 1}, {.id = "nope", .id_len = 4}};
    assert_int_equal(pz_catalog_apply(f->c, "shop", e2, 3, &missing, err, sizeof err), 0);
    assert_int_equal(missing, 1);
    assert_string_equal(str_field(get(f, "shop", "a"), "v"), "2");
    assert_null(get(f, "shop", "b"));
    i = info(f, "shop");
    assert_int_equal(i.items, 1);
    assert_int_equal(i.revision, 2);
    /* an invalid id changes nothing */
    pz_catalog_edit bad[] = {upsert("c", "{\"id\":\"c\"}", &v2), {.id = "", .id_len = 0}};
    assert_int_equal(pz_catalog_apply(f->c, "shop", bad, 2, &missing, err, sizeof err), -1);
    assert_null(get(f, "shop", "c"));
    assert_int_equal(info(f, "shop").revision, 2);
    /* after a full load, edits apply to the new generation */
    pz_catalog_load_result r;
    bad_lines bl = {0};
    assert_int_equal(load_text(f, "shop", "{\"id\":\"x\"}\n", false, &bl, &r, err, sizeof err), 0);
    pz_catalog_edit e3[] = {upsert("c", "{\"id\":\"c\",\"k\":\"v\"}", &v2)};
    assert_int_equal(pz_catalog_apply(f->c, "shop", e3, 1, NULL, err, sizeof err), 0);
    assert_non_null(get(f, "shop", "x"));
    assert_string_equal(str_field(get(f, "shop", "c"), "k"), "v");
    assert_int_equal(info(f, "shop").generation, 2);
    assert_int_equal(info(f, "shop").items, 2);
    pz_buf_free(&v1);
    pz_buf_free(&v2);
}

/* Another handle on the same directory (another process in production) sees published changes. */
static void test_second_handle_sees_changes(void **state)
{
    fixture *f = *state;
    pz_catalog_load_result r;
    bad_lines bad = {0};
    char err[256];
    assert_int_equal(load_text(f, "shop", "{\"id\":\"a\",\"v\":\"1\"}\n", false, &bad, &r, err, sizeof err), 0);
    assert_string_equal(str_field(get(f, "shop", "a"), "v"), "1");
    pid_t pid = fork();
    if (pid == 0) { /* a separate process, like the CLI next to a server */
        pz_catalog *c2;
        char e[256];
        const char *t = "{\"id\":\"a\",\"v\":\"2\"}\n";
        pz_catalog_load_result rr;
        int ok = pz_catalog_open(f->dir, NULL, &c2, e, sizeof e) == 0 &&
                 pz_catalog_load_buffer(c2, "shop", t, strlen(t), NULL, &rr, e, sizeof e) == 0;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(status, 0);
    assert_string_equal(str_field(get(f, "shop", "a"), "v"), "2");
    assert_int_equal(info(f, "shop").generation, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_and_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_lines_strict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_lines_lenient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_id_and_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_input_publishes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates_last_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unicode_bom_and_crlf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_item_size_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_replaces_and_failed_load_keeps_old, setup, teardown),
        cmocka_unit_test(test_map_full_keeps_old),
        cmocka_unit_test_setup_teardown(test_atomic_publish_under_concurrent_readers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_view_keeps_its_generation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_build_per_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upsert_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_handle_sees_changes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
