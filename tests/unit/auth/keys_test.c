/* Tests for server/auth/digest.c and keys_file.c: SHA-256, the key lookup over sorted hashes, and a
 * keys file that reloads when it changes and keeps its keys when a new version does not parse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/auth/digest.h"
#include "server/auth/keys_file.h"

static void hex(const unsigned char *d, char *out)
{
    for (int i = 0; i < PZ_SHA256_LEN; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha256_known_answer(void **state)
{
    (void)state;
    unsigned char d[PZ_SHA256_LEN];
    char h[2 * PZ_SHA256_LEN + 1];
    pz_sha256("abc", 3, d);
    hex(d, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_lookup_over_sorted_hashes(void **state)
{
    (void)state;
    pz_api_key keys[300];
    memset(keys, 0, sizeof keys);
    for (int i = 0; i < 300; i++) {
        keys[i].sha256[0] = (unsigned char)(i / 2); /* pairs share their first bytes */
        keys[i].sha256[31] = (unsigned char)i;
    }
    for (int i = 0; i < 300; i++)
        assert_ptr_equal(pz_api_key_lookup(keys, 300, keys[i].sha256), &keys[i]);
    unsigned char absent[PZ_SHA256_LEN] = {0};
    absent[31] = 0xff;
    assert_null(pz_api_key_lookup(keys, 300, absent));
    assert_null(pz_api_key_lookup(keys, 0, absent));
}

static void write_file(const char *path, const char *text)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    fputs(text, f);
    fclose(f);
    rename(tmp, path); /* a new inode: the change is seen whatever the clock's resolution */
}

static void key_entry(char *out, size_t len, const char *name, const char *key)
{
    unsigned char d[PZ_SHA256_LEN];
    char h[2 * PZ_SHA256_LEN + 1];
    pz_sha256(key, strlen(key), d);
    hex(d, h);
    snprintf(out, len, "{\"name\":\"%s\",\"sha256\":\"%s\",\"namespaces\":[\"*\"],\"scopes\":[\"inference\"]}", name,
             h);
}

static const pz_api_key *find(pz_keys_file *f, const char *key, pz_keys_snapshot **held)
{
    unsigned char d[PZ_SHA256_LEN];
    pz_sha256(key, strlen(key), d);
    *held = pz_keys_file_acquire(f);
    return pz_keys_snapshot_lookup(*held, d);
}

static void test_keys_file_reloads_and_keeps_good_keys(void **state)
{
    (void)state;
    char dir[] = "/tmp/pz-keys-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], doc[1024], e1[300], e2[300];
    snprintf(path, sizeof path, "%s/keys.json", dir);
    pz_keys_file *f = pz_keys_file_open(path); /* missing: no keys, said once */
    pz_keys_snapshot *snap;
    assert_null(find(f, "k1", &snap));
    pz_keys_snapshot_release(snap);
    key_entry(e1, sizeof e1, "one", "k1");
    snprintf(doc, sizeof doc, "{\"apiKeys\":[%s]}", e1);
    write_file(path, doc);
    assert_true(pz_keys_file_poll(f));
    assert_false(pz_keys_file_poll(f)); /* unchanged */
    const pz_api_key *k = find(f, "k1", &snap);
    assert_non_null(k);
    assert_string_equal(k->name, "one");
    key_entry(e2, sizeof e2, "two", "k2");
    snprintf(doc, sizeof doc, "{\"apiKeys\":[%s]}", e2);
    write_file(path, doc);
    assert_true(pz_keys_file_poll(f));
    assert_string_equal(k->name, "one"); /* a held snapshot stays valid across the reload */
    pz_keys_snapshot_release(snap);
    assert_null(find(f, "k1", &snap));
    pz_keys_snapshot_release(snap);
    write_file(path, "{\"apiKeys\":[{\"name\":\"broken\"}]}");
    assert_false(pz_keys_file_poll(f));
    assert_non_null(find(f, "k2", &snap)); /* kept */
    assert_int_equal(pz_keys_snapshot_count(snap), 1);
    pz_keys_snapshot_release(snap);
    pz_keys_file_close(f);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_known_answer),
        cmocka_unit_test(test_lookup_over_sorted_hashes),
        cmocka_unit_test(test_keys_file_reloads_and_keeps_good_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
