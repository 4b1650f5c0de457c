/* Tests for server/core/netaddr.c: addresses, CIDR blocks, and the client behind trusted proxies
 * (X-Forwarded-For, Forwarded, several headers, hidden hops, the hop bound). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/core/netaddr.h"

static pz_ip ip(const char *s)
{
    pz_ip out;
    if (!pz_ip_parse(s, strlen(s), &out))
        fail_msg("'%s' is no address", s);
    return out;
}

static const char *text(const pz_ip *a)
{
    static char buf[PZ_IP_TEXT_SIZE];
    pz_ip_format(a, buf);
    return buf;
}

static void test_addresses(void **state)
{
    (void)state;
    pz_ip a = ip("192.0.2.1");
    assert_false(a.v6);
    assert_string_equal(text(&a), "192.0.2.1");
    a = ip("[2001:db8::1]");
    assert_true(a.v6);
    assert_string_equal(text(&a), "2001:db8::1");
    a = ip("::ffff:198.51.100.7"); /* IPv4-mapped: the IPv4 address */
    assert_false(a.v6);
    assert_string_equal(text(&a), "198.51.100.7");
    const char *bad[] = {
        "",           "1.2.3",   "1.2.3.4.5",
        "256.1.1.1",  "::g",     "[::1",
        "1.2.3.4:80", "unknown", "0123456789012345678901234567890123456789012345678901234567890123456789"};
    pz_ip out;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(pz_ip_parse(bad[i], strlen(bad[i]), &out));

    assert_true(pz_ip_parse_peer("192.0.2.1:5678", 14, &out));
    assert_string_equal(text(&out), "192.0.2.1");
    assert_true(pz_ip_parse_peer("[::1]:80", 8, &out));
    assert_string_equal(text(&out), "::1");
    assert_true(pz_ip_parse_peer("2001:db8::2", 11, &out)); /* many colons: no port */
    assert_string_equal(text(&out), "2001:db8::2");
    assert_false(pz_ip_parse_peer("[::1]x", 6, &out));
}

static bool cidr(const char *s, pz_cidr *out)
{
    return pz_cidr_parse(s, strlen(s), out);
}

static void test_cidr(void **state)
{
    (void)state;
    pz_cidr c;
    assert_true(cidr("10.0.0.0/8", &c));
    pz_ip a = ip("10.200.1.2"), b = ip("11.0.0.1"), v6 = ip("::a00:1");
    assert_true(pz_cidr_contains(&c, &a));
    assert_false(pz_cidr_contains(&c, &b));
    assert_false(pz_cidr_contains(&c, &v6)); /* families never mix */
    assert_true(cidr("172.16.0.0/12", &c));  /* a prefix that splits a byte */
    a = ip("172.31.255.255");
    b = ip("172.32.0.0");
    assert_true(pz_cidr_contains(&c, &a));
    assert_false(pz_cidr_contains(&c, &b));
    assert_true(cidr("192.0.2.7", &c)); /* a bare address is a /32 */
    assert_int_equal(c.prefix, 32);
    assert_true(cidr("::/0", &c));
    assert_true(pz_cidr_contains(&c, &v6));
    assert_true(cidr("2001:db8::/32", &c));
    a = ip("2001:db8:ffff::1");
    assert_true(pz_cidr_contains(&c, &a));
    const char *bad[] = {"10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/abc",
                         "::/129",     "garbage/8",   "/8",        "10.0.0.0/0008"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cidr(bad[i], &c))
            fail_msg("'%s' parsed", bad[i]);
    }
}

/* The client of a request from `peer` with headers name/value pairs (NULL-terminated), behind the
 * trusted blocks 10.0.0.0/8 and fd00::/8; "ip via header". */
static const char *client(const char *peer, const char *const *headers)
{
    static char out[128];
    pz_header hs[40];
    size_t n = 0;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i += 2)
        hs[n++] = (pz_header){headers[i], strlen(headers[i]), headers[i + 1], strlen(headers[i + 1])};
    pz_cidr trusted[2];
    assert_true(cidr("10.0.0.0/8", &trusted[0]));
    assert_true(cidr("fd00::/8", &trusted[1]));
    pz_ip p = ip(peer), c;
    const char *via;
    assert_true(pz_client_ip(&p, hs, n, trusted, 2, &c, &via));
    snprintf(out, sizeof out, "%s via %s", text(&c), via ? via : "socket");
    return out;
}

static void test_client_behind_proxies(void **state)
{
    (void)state;
    const char *xff[] = {"x-forwarded-for", "203.0.113.5, 10.0.0.2", NULL};
    /* an untrusted peer's forwarding headers are ignored: anyone can send them */
    assert_string_equal(client("198.51.100.1", xff), "198.51.100.1 via socket");
    assert_string_equal(client("10.0.0.1", xff), "203.0.113.5 via x-forwarded-for");
    assert_string_equal(client("10.0.0.1", NULL), "10.0.0.1 via socket");
    /* a spoofed entry to the left of the real client does not count */
    const char *spoofed[] = {"x-forwarded-for", "1.1.1.1, 203.0.113.5, 10.0.0.2", NULL};
    assert_string_equal(client("10.0.0.1", spoofed), "203.0.113.5 via x-forwarded-for");
    /* every hop trusted: the leftmost */
    const char *internal[] = {"x-forwarded-for", "10.1.1.1,10.0.0.2", NULL};
    assert_string_equal(client("10.0.0.1", internal), "10.1.1.1 via x-forwarded-for");
    /* a hop that is no address ends the walk at the nearest address right of it */
    const char *hidden[] = {"x-forwarded-for", "203.0.113.5, unknown, 10.0.0.2", NULL};
    assert_string_equal(client("10.0.0.1", hidden), "10.0.0.2 via x-forwarded-for");
    const char *garbage[] = {"x-forwarded-for", "garbage", NULL};
    assert_string_equal(client("10.0.0.1", garbage), "10.0.0.1 via socket");
    /* several headers make one list; ports are allowed */
    const char *several[] = {"x-forwarded-for", "203.0.113.9:5555", "X-Forwarded-For", "10.0.0.3", NULL};
    assert_string_equal(client("10.0.0.1", several), "203.0.113.9 via x-forwarded-for");
    /* Forwarded wins over X-Forwarded-For, with quotes, ports, IPv6 and other parameters */
    const char *fwd[] = {"x-forwarded-for", "198.51.100.99", "forwarded",
                         "for=\"[2001:db8:cafe::17]:4711\";proto=https, For=10.2.3.4;by=10.0.0.1", NULL};
    assert_string_equal(client("fd00::1", fwd), "2001:db8:cafe::17 via forwarded");
    const char *fwd_hidden[] = {"forwarded", "for=203.0.113.5, for=_proxy1;proto=http, for=10.0.0.5", NULL};
    assert_string_equal(client("10.0.0.1", fwd_hidden), "10.0.0.5 via forwarded");
    const char *fwd_no_for[] = {"forwarded", "proto=http;by=10.0.0.1", NULL};
    assert_string_equal(client("10.0.0.1", fwd_no_for), "10.0.0.1 via socket");
    const char *fwd_quoted_comma[] = {"forwarded", "for=\"203.0.113.8\";host=\"a,b\"", NULL};
    assert_string_equal(client("10.0.0.1", fwd_quoted_comma), "203.0.113.8 via forwarded");
}

/* Only the rightmost PZ_MAX_FORWARDED_HOPS hops are read. */
static void test_hop_bound(void **state)
{
    (void)state;
    char list[2048] = "203.0.113.1";
    for (int i = 0; i < PZ_MAX_FORWARDED_HOPS; i++)
        strcat(list, ", 10.0.0.9");
    const char *long_chain[] = {"x-forwarded-for", list, NULL};
    /* 33 hops: the client is one past the bound, so the leftmost trusted hop read stands */
    assert_string_equal(client("10.0.0.1", long_chain), "10.0.0.9 via x-forwarded-for");
    char shorter[2048] = "203.0.113.1";
    for (int i = 0; i < PZ_MAX_FORWARDED_HOPS - 1; i++)
        strcat(shorter, ", 10.0.0.9");
    const char *within[] = {"x-forwarded-for", shorter, NULL};
    assert_string_equal(client("10.0.0.1", within), "203.0.113.1 via x-forwarded-for");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_client_behind_proxies),
        cmocka_unit_test(test_hop_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
