/* pz_conn_limits: caps in total and per address, release, the penalty box and its expiry,
 * IPv4-mapped addresses counted as IPv4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "server/net/conn_limits.h"

static struct sockaddr_storage v4(const char *ip, int port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &in->sin_addr);
    return ss;
}

static struct sockaddr_storage v6(const char *ip, int port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    inet_pton(AF_INET6, ip, &in6->sin6_addr);
    return ss;
}

#define SA(x) ((struct sockaddr *)&(x))

static void per_address_cap_ignores_ports(void **state)
{
    (void)state;
    pz_conn_limits *l = pz_conn_limits_create(0, 2);
    struct sockaddr_storage a1 = v4("10.0.0.1", 1000), a2 = v4("10.0.0.1", 1001), a3 = v4("10.0.0.1", 1002);
    struct sockaddr_storage b = v4("10.0.0.2", 1000);
    assert_int_equal(pz_conn_limits_admit(l, SA(a1), 0), PZ_CONN_ADMITTED);
    assert_int_equal(pz_conn_limits_admit(l, SA(a2), 0), PZ_CONN_ADMITTED);
    assert_int_equal(pz_conn_limits_admit(l, SA(a3), 0), PZ_CONN_OVER_PER_ADDR);
    assert_int_equal(pz_conn_limits_admit(l, SA(b), 0), PZ_CONN_ADMITTED);
    assert_int_equal(pz_conn_limits_open_from(l, SA(a3)), 2);
    pz_conn_limits_release(l, SA(a1));
    assert_int_equal(pz_conn_limits_admit(l, SA(a3), 0), PZ_CONN_ADMITTED);
    assert_int_equal(pz_conn_limits_open(l), 3);
    pz_conn_limits_destroy(l);
}

static void total_cap(void **state)
{
    (void)state;
    pz_conn_limits *l = pz_conn_limits_create(2, 0);
    struct sockaddr_storage a = v4("10.0.0.1", 1), b = v4("10.0.0.2", 1), c = v4("10.0.0.3", 1);
    assert_int_equal(pz_conn_limits_admit(l, SA(a), 0), PZ_CONN_ADMITTED);
    assert_int_equal(pz_conn_limits_admit(l, SA(b), 0), PZ_CONN_ADMITTED);
    assert_int_equal(pz_conn_limits_admit(l, SA(c), 0), PZ_CONN_OVER_TOTAL);
    pz_conn_limits_release(l, SA(b));
    assert_int_equal(pz_conn_limits_admit(l, SA(c), 0), PZ_CONN_ADMITTED);
    assert_string_equal(pz_conn_verdict_str(PZ_CONN_OVER_TOTAL), "total");
    pz_conn_limits_destroy(l);
}

static void penalty_box_expires(void **state)
{
    (void)state;
    pz_conn_limits *l = pz_conn_limits_create(0, 0);
    struct sockaddr_storage a = v4("10.0.0.1", 1), other = v4("10.0.0.9", 1);
    assert_int_equal(pz_conn_limits_admit(l, SA(a), 1000), PZ_CONN_ADMITTED);
    pz_conn_limits_penalize(l, SA(a), 1000, 500);
    assert_int_equal(pz_conn_limits_admit(l, SA(a), 1499), PZ_CONN_PENALIZED);
    assert_int_equal(pz_conn_limits_admit(l, SA(other), 1499), PZ_CONN_ADMITTED);
    pz_conn_limits_release(l, SA(a)); /* the penalty outlives the connection */
    assert_int_equal(pz_conn_limits_admit(l, SA(a), 1499), PZ_CONN_PENALIZED);
    assert_int_equal(pz_conn_limits_admit(l, SA(a), 1500), PZ_CONN_ADMITTED);
    pz_conn_limits_destroy(l);
}

static void v4_mapped_counts_as_v4(void **state)
{
    (void)state;
    pz_conn_limits *l = pz_conn_limits_create(0, 1);
    struct sockaddr_storage a = v4("192.0.2.7", 1), mapped = v6("::ffff:192.0.2.7", 2), real6 = v6("2001:db8::7", 3);
    assert_int_equal(pz_conn_limits_admit(l, SA(a), 0), PZ_CONN_ADMITTED);
    assert_int_equal(pz_conn_limits_admit(l, SA(mapped), 0), PZ_CONN_OVER_PER_ADDR);
    assert_int_equal(pz_conn_limits_admit(l, SA(real6), 0), PZ_CONN_ADMITTED);
    pz_conn_limits_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(per_address_cap_ignores_ports),
        cmocka_unit_test(total_cap),
        cmocka_unit_test(penalty_box_expires),
        cmocka_unit_test(v4_mapped_counts_as_v4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
