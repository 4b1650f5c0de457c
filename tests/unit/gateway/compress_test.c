/* Tests for gateway/compress.c: the coding a client gets for its Accept-Encoding, and encoders
 * whose output decodes back to the input (zlib, libbrotli's decoder) and that stop at the cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <brotli/decode.h>
#include <zlib.h>

#include "gateway/compress.h"

static int coding_for(const char *ae)
{
    return pz_coding_for(ae, ae != NULL ? strlen(ae) : 0, PZ_CODING_BR);
}

static void test_accept_encoding(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        int want;
    } CASES[] = {
        {NULL, -1},
        {"", -1},
        {"identity", -1},
        {"gzip", PZ_CODING_GZIP},
        {"GZip", PZ_CODING_GZIP},
        {"x-gzip", PZ_CODING_GZIP},
        {"br", PZ_CODING_BR},
        {"gzip, deflate, br", PZ_CODING_BR}, /* a tie: the caller's choice (br here) */
        {"gzip;q=1.0, br;q=0.5", PZ_CODING_GZIP},
        {"br;q=0, gzip", PZ_CODING_GZIP},
        {"gzip;q=0", -1},
        {"*", PZ_CODING_BR}, /* a tie too */
        {"*;q=0.1, gzip;q=0.2", PZ_CODING_GZIP},
        {"*;q=0, gzip", PZ_CODING_GZIP},
        {"*;q=0", -1},
        {"deflate, compress", -1},
        {"gzip;q=2", -1},      /* a malformed qvalue: the member is ignored */
        {"gzip;q=0.0001", -1}, /* more than three decimals */
        {"gzip ; q=0.5 , br ; q=0.4", PZ_CODING_GZIP},
        {",,, gzip ,", PZ_CODING_GZIP},
        {"gzip;level=9", PZ_CODING_GZIP}, /* other parameters ignored */
        {"gzipx, brr", -1},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        int got = coding_for(CASES[i].value);
        if (got != CASES[i].want)
            fprintf(stderr, "case %zu '%s': got %d, want %d\n", i, CASES[i].value ? CASES[i].value : "(null)", got,
                    CASES[i].want);
        assert_int_equal(got, CASES[i].want);
    }
    /* the caller names who wins a tie, and only a tie */
    assert_int_equal(pz_coding_for("gzip, deflate, br", 17, PZ_CODING_GZIP), PZ_CODING_GZIP);
    assert_int_equal(pz_coding_for("*", 1, PZ_CODING_GZIP), PZ_CODING_GZIP);
    assert_int_equal(pz_coding_for("gzip;q=0.5, br", 14, PZ_CODING_GZIP), PZ_CODING_BR);
    assert_int_equal(pz_coding_for("br", 2, PZ_CODING_GZIP), PZ_CODING_BR);
    assert_string_equal(pz_coding_name(PZ_CODING_GZIP), "gzip");
    assert_string_equal(pz_coding_name(PZ_CODING_BR), "br");
}

/* A JSON-like body of n bytes. */
static char *body(size_t n)
{
    char *b = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        b[i] = "{\"itemId\":\"sku-00123\",\"score\":0.125}, "[i % 37];
    b[n] = '\0';
    return b;
}

static void test_gzip_round_trip(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 200000; n = n * 4 + 1000) {
        char *in = body(n);
        pz_buf out;
        pz_buf_init(&out, n + 1024);
        assert_int_equal(pz_compress((void *)(intptr_t)PZ_CODING_GZIP, in, n, &out), 0);
        assert_true(out.len > 10);
        assert_int_equal((unsigned char)out.data[0], 0x1f); /* the gzip magic */
        assert_int_equal((unsigned char)out.data[1], 0x8b);
        if (n > 2048)
            assert_true(out.len < n / 4);
        char *back = malloc(n + 1);
        z_stream z = {0};
        assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
        z.next_in = (Bytef *)out.data;
        z.avail_in = (uInt)out.len;
        z.next_out = (Bytef *)back;
        z.avail_out = (uInt)n + 1;
        assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
        assert_int_equal(z.total_out, n);
        assert_memory_equal(back, in, n);
        inflateEnd(&z);
        free(back);
        pz_buf_free(&out);
        free(in);
    }
}

static void test_br_round_trip(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 200000; n = n * 4 + 1000) {
        char *in = body(n);
        pz_buf out;
        pz_buf_init(&out, n + 1024);
        assert_int_equal(pz_compress((void *)(intptr_t)PZ_CODING_BR, in, n, &out), 0);
        if (n > 2048)
            assert_true(out.len < n / 4);
        char *back = malloc(n + 1);
        size_t back_len = n + 1;
        assert_int_equal(BrotliDecoderDecompress(out.len, (const uint8_t *)out.data, &back_len, (uint8_t *)back),
                         BROTLI_DECODER_RESULT_SUCCESS);
        assert_int_equal(back_len, n);
        assert_memory_equal(back, in, n);
        free(back);
        pz_buf_free(&out);
        free(in);
    }
}

/* Output that would pass the cap fails (a coding that saves nothing is not used), and the
 * per-thread gzip state is usable again afterwards. */
static void test_cap_stops_the_encoder(void **state)
{
    (void)state;
    char noise[4096];
    unsigned x = 12345;
    for (size_t i = 0; i < sizeof noise; i++) {
        x = x * 1103515245u + 12345u;
        noise[i] = (char)(x >> 16);
    }
    for (int c = 0; c < PZ_CODING__COUNT; c++) {
        pz_buf out;
        pz_buf_init(&out, sizeof noise - 1);
        assert_int_equal(pz_compress((void *)(intptr_t)c, noise, sizeof noise, &out), -1);
        pz_buf_free(&out);
    }
    char *in = body(5000);
    pz_buf out;
    pz_buf_init(&out, 5000);
    assert_int_equal(pz_compress((void *)(intptr_t)PZ_CODING_GZIP, in, 5000, &out), 0);
    pz_buf_free(&out);
    free(in);
    pz_buf_init(&out, 100);
    assert_int_equal(pz_compress((void *)(intptr_t)PZ_CODING__COUNT, "x", 1, &out), -1); /* not a coding */
    pz_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_encoding),
        cmocka_unit_test(test_gzip_round_trip),
        cmocka_unit_test(test_br_round_trip),
        cmocka_unit_test(test_cap_stops_the_encoder),
    };
    return cmocka_run_group_tests_name("gateway_compress", tests, NULL, NULL);
}
