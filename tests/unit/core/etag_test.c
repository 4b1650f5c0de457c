/* Tests for server/core/etag.c, hash.c, prepared.c and the arena clean-up hook they rely on
 * (pz_arena_defer in mem.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/core/etag.h"
#include "server/core/hash.h"
#include "server/core/prepared.h"

static bool inm(const char *header, const char *etag)
{
    return pz_etag_none_match(header, strlen(header), etag);
}

static void test_etag_is_strong_quoted_and_content_derived(void **state)
{
    (void)state;
    char a[PZ_ETAG_SIZE], b[PZ_ETAG_SIZE], c[PZ_ETAG_SIZE];
    pz_etag_of("hello", 5, a);
    pz_etag_of("hello", 5, b);
    pz_etag_of("hellp", 5, c);
    assert_int_equal(strlen(a), 18);
    assert_int_equal(a[0], '"');
    assert_int_equal(a[17], '"');
    for (int i = 1; i < 17; i++)
        assert_non_null(strchr("0123456789abcdef", a[i]));
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    /* stable across builds and machines: instances behind one CDN must agree */
    assert_int_equal(pz_hash64("", 0, 0), pz_hash64("", 0, 0));
    assert_true(pz_hash64("abcdefgh", 8, 1) != pz_hash64("abcdefgh", 8, 2));
    pz_etag_of("", 0, a); /* an empty message still gets a tag */
    assert_int_equal(strlen(a), 18);
    /* pinned: a change of hash would change every ETag clients and CDNs hold */
    assert_true(pz_hash64("personalization", 15, 0) == 0x248f77385e6f64d8ULL);
}

static void test_hash_covers_every_byte(void **state)
{
    (void)state;
    unsigned char buf[33];
    memset(buf, 7, sizeof buf);
    uint64_t base = pz_hash64(buf, sizeof buf, 42);
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] ^= 1;
        assert_true(pz_hash64(buf, sizeof buf, 42) != base);
        buf[i] ^= 1;
    }
    for (size_t len = 0; len < sizeof buf; len++)
        assert_true(pz_hash64(buf, len, 42) != pz_hash64(buf, len + 1, 42));
}

static void test_if_none_match_forms(void **state)
{
    (void)state;
    const char *tag = "\"0123456789abcdef\"";
    assert_true(inm("\"0123456789abcdef\"", tag));
    assert_true(inm("W/\"0123456789abcdef\"", tag));        /* weak comparison */
    assert_true(inm("\"aaa\", \"0123456789abcdef\"", tag)); /* a list */
    assert_true(inm("\"aaa\",W/\"0123456789abcdef\" , \"b\"", tag));
    assert_true(inm("  \"0123456789abcdef\"  ", tag));
    assert_true(inm("*", tag));
    assert_true(inm(" * ", tag));
    assert_true(inm("0123456789abcdef", tag)); /* unquoted, accepted leniently */
    assert_true(inm("\"x\", 0123456789abcdef", tag));
    assert_false(inm("\"0123456789abcdee\"", tag));
    assert_false(inm("\"0123456789abcdef0\"", tag));
    assert_false(inm("\"0123456789ABCDEF\"", tag));   /* opaque tags compare exactly */
    assert_false(inm("w/\"0123456789abcdef\"", tag)); /* W/ is case-sensitive */
    assert_false(inm("", tag));
    assert_false(inm(",,, ,", tag));
    assert_false(inm("W/", tag));
    assert_false(inm("**", tag));
}

static void test_if_none_match_garbage_never_matches_or_crashes(void **state)
{
    (void)state;
    const char *tag = "\"0123456789abcdef\"";
    /* upstream's own ETag format (adler-epoch-maxAge) is not ours */
    assert_false(inm("2839011-1700000000000-10", tag));
    assert_false(inm("\"0123456789abcdef", tag));     /* unterminated */
    assert_false(inm("\"0123456789abcdef\"x", tag));  /* junk after the tag */
    assert_false(inm("\"0123456789ab\tcdef\"", tag)); /* control character inside */
    assert_false(inm("\"", tag));
    assert_false(inm("W/\"", tag));
    /* an unreadable member does not hide a good one after it */
    assert_true(inm("\"bad\"junk, \"0123456789abcdef\"", tag));
    /* a stray quote pairs with the next one: what follows is junk, not a member */
    assert_false(inm("\"unterminated, \"0123456789abcdef\"", tag));
    /* not NUL-terminated: only len bytes are read */
    const char buf[] = "\"0123456789abcdef\"";
    assert_false(pz_etag_none_match(buf, sizeof buf - 2, tag));
    assert_true(pz_etag_none_match(buf, sizeof buf - 1, tag));
    assert_false(pz_etag_none_match(NULL, 0, tag));
    /* every prefix of a tricky value is handled without reading past the end */
    const char tricky[] = "W/\"a\", * ,\"0123456789abcdef\" , W/x";
    for (size_t n = 0; n <= sizeof tricky - 1; n++)
        (void)pz_etag_none_match(tricky, n, tag);
}

static void test_prepared_response(void **state)
{
    (void)state;
    const uint8_t pb[] = {0x0a, 0x03, 'a', 'b', 'c'};
    pz_prepared_response *p = pz_prepared_create(pb, sizeof pb, "{\"x\":1}", 7);
    assert_memory_equal(p->protobuf, pb, sizeof pb);
    assert_int_equal(p->protobuf_len, sizeof pb);
    assert_string_equal(p->json, "{\"x\":1}");
    assert_int_equal(p->json_len, 7);
    char want[PZ_ETAG_SIZE];
    pz_etag_of(pb, sizeof pb, want);
    assert_string_equal(p->etag, want); /* the tag is of the protobuf bytes, shared by both fronts */
    assert_true(p->bytes >= sizeof *p + sizeof pb + 7);
    pz_prepared_ref(p);
    pz_prepared_unref(p);
    pz_prepared_unref(p); /* freed here: ASan reports a leak or double free otherwise */

    pz_prepared_response *q = pz_prepared_create(pb, sizeof pb, NULL, 0);
    assert_null(q->json);
    pz_arena arena;
    pz_arena_init(&arena);
    pz_prepared_attach(q, &arena); /* the arena's reference is dropped with the arena */
    pz_arena_destroy(&arena);
}

/* An encoded representation has its own strong tag, and a client holding it gets 304 for the same
 * content (issue 12: compressed responses). */
static void test_coding_tags(void **state)
{
    (void)state;
    char tag[PZ_ETAG_SIZE], coded[PZ_ETAG_CODING_SIZE];
    pz_etag_of("abc", 3, tag);
    assert_true(pz_etag_with_coding(tag, "gzip", coded));
    assert_int_equal(strlen(coded), strlen(tag) + 5);
    assert_memory_equal(coded, tag, strlen(tag) - 1);
    assert_string_equal(coded + strlen(tag) - 1, "-gzip\"");
    assert_true(pz_etag_with_coding(tag, "br", coded));
    assert_false(pz_etag_with_coding(tag, "GZIP", coded)); /* not a coding name: the tag unchanged */
    assert_string_equal(coded, tag);
    assert_false(pz_etag_with_coding(tag, "abcdefghijklmnop", coded)); /* 16 > PZ_ETAG_CODING_MAX */
    assert_true(pz_etag_with_coding(tag, "abcdefghijklmno", coded));   /* 15: the longest */
    char inm[64];
    snprintf(inm, sizeof inm, "W/%.17s-br\", \"x\"", tag);
    assert_true(pz_etag_none_match(inm, strlen(inm), tag));
    snprintf(inm, sizeof inm, "%.17s-\"", tag); /* an empty coding */
    assert_false(pz_etag_none_match(inm, strlen(inm), tag));
    snprintf(inm, sizeof inm, "%.16s-gzip\"", tag); /* another tag's prefix */
    assert_false(pz_etag_none_match(inm, strlen(inm), tag));
}

static size_t encode_calls;

/* A stand-in coding: every other byte. */
static int halve(void *ctx, const char *in, size_t len, pz_buf *out)
{
    (void)ctx;
    encode_calls++;
    for (size_t i = 0; i < len; i += 2)
        if (pz_buf_append_char(out, in[i]) != 0)
            return -1;
    return 0;
}

static int grow(void *ctx, const char *in, size_t len, pz_buf *out)
{
    (void)ctx;
    encode_calls++;
    return pz_buf_append(out, in, len) | pz_buf_append(out, in, len); /* past the cap: fails */
}

/* Variants are made once, on demand, kept with the response and freed with it. */
static void test_prepared_variants_are_made_once(void **state)
{
    (void)state;
    const uint8_t pb[] = {1, 2, 3};
    pz_prepared_response *p = pz_prepared_create(pb, sizeof pb, "0123456789", 10);
    encode_calls = 0;
    unsigned long encoded_before = pz_prepared_variants_encoded();
    const pz_prepared_variant *v = pz_prepared_variant_get(p, 0, "gzip", halve, NULL);
    assert_non_null(v);
    assert_int_equal(v->len, 5);
    assert_memory_equal(v->data, "02468", 5);
    char coded[PZ_ETAG_CODING_SIZE];
    pz_etag_with_coding(p->etag, "gzip", coded);
    assert_string_equal(v->etag, coded);
    assert_ptr_equal(pz_prepared_variant_get(p, 0, "gzip", halve, NULL), v); /* kept: no work */
    assert_int_equal(encode_calls, 1);
    /* an encoding that is not smaller is kept as "send the body as it is" */
    const pz_prepared_variant *w = pz_prepared_variant_get(p, 1, "br", grow, NULL);
    assert_non_null(w);
    assert_null(w->data);
    assert_ptr_equal(pz_prepared_variant_get(p, 1, "br", grow, NULL), w);
    assert_int_equal(encode_calls, 2);
    assert_int_equal(pz_prepared_variants_encoded(), encoded_before + 2); /* the stats' codedBodies */
    assert_null(pz_prepared_variant_get(p, PZ_PREPARED_MAX_VARIANTS, "gzip", halve, NULL));
    pz_prepared_unref(p); /* frees the variants: ASan reports a leak otherwise */
    pz_prepared_response *q = pz_prepared_create(pb, sizeof pb, NULL, 0);
    assert_null(pz_prepared_variant_get(q, 0, "gzip", halve, NULL)); /* no JSON, no variant */
    pz_prepared_unref(q);
}

static int order[8];
static int n_order;

static void record(void *arg)
{
    order[n_order++] = (int)(intptr_t)arg;
}

static pz_arena *nested_arena;

static void defer_more(void *arg)
{
    record(arg);
    pz_arena_defer(nested_arena, record, (void *)(intptr_t)99); /* deferring during clean-up still runs */
}

static void test_arena_defer_runs_newest_first_once(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    n_order = 0;
    pz_arena_defer(&a, record, (void *)1);
    (void)pz_arena_alloc(&a, 100000); /* callbacks survive chunk growth */
    pz_arena_defer(&a, record, (void *)2);
    nested_arena = &a;
    pz_arena_defer(&a, defer_more, (void *)3);
    pz_arena_reset(&a);
    assert_int_equal(n_order, 4);
    assert_int_equal(order[0], 3);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 1);
    assert_int_equal(order[3], 99);
    pz_arena_destroy(&a); /* nothing runs twice */
    assert_int_equal(n_order, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etag_is_strong_quoted_and_content_derived),
        cmocka_unit_test(test_hash_covers_every_byte),
        cmocka_unit_test(test_if_none_match_forms),
        cmocka_unit_test(test_if_none_match_garbage_never_matches_or_crashes),
        cmocka_unit_test(test_prepared_response),
        cmocka_unit_test(test_coding_tags),
        cmocka_unit_test(test_prepared_variants_are_made_once),
        cmocka_unit_test(test_arena_defer_runs_newest_first_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
