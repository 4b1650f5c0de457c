/* Tests for server/core/useragent.c: real User-Agents of each device class and OS, the
 * precedence of the rules, case, the scan bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/core/useragent.h"

/* "desktop", "mobile", "tablet" or "tv", then "+android" / "+ios". */
static const char *classify(const char *ua)
{
    static char out[32];
    pz_device d;
    pz_useragent_classify(ua, ua != NULL ? strlen(ua) : 0, &d);
    assert_int_equal(d.desktop + d.mobile + d.tablet + d.smart_tv, 1); /* exactly one class */
    snprintf(out, sizeof out, "%s%s%s",
             d.desktop  ? "desktop"
             : d.mobile ? "mobile"
             : d.tablet ? "tablet"
                        : "tv",
             d.android ? "+android" : "", d.ios ? "+ios" : "");
    return out;
}

static void test_real_user_agents(void **state)
{
    (void)state;
    static const struct {
        const char *ua, *expect;
    } CASES[] = {
        {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
         "Safari/537.36",
         "desktop"},
        {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
         "Safari/605.1.15",
         "desktop"},
        {"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "desktop"},
        {"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "desktop"},
        {"curl/7.88.1", "desktop"},
        {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.0 Mobile/15E148 Safari/604.1",
         "mobile+ios"},
        {"Mozilla/5.0 (iPod touch; CPU iPhone OS 12_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Mobile/15E148",
         "mobile+ios"},
        {"Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 "
         "Mobile/15E148 Safari/604.1",
         "tablet+ios"},
        {"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile "
         "Safari/537.36",
         "mobile+android"},
        {"Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
         "Safari/537.36",
         "tablet+android"},
        {"Mozilla/5.0 (Linux; Android 9; KFMAWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/120.3.1 like "
         "Chrome/120.0.6099.230 Safari/537.36",
         "tablet+android"},
        {"Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/6.0 TV "
         "Safari/537.36",
         "tv"},
        {"Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 "
         "Safari/537.36 WebAppManager",
         "tv"},
        {"Mozilla/5.0 (Linux; Android 9; AFTKA Build/PS7633.3445N; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Version/4.0 Chrome/120.0 Mobile Safari/537.36",
         "tv+android"},
        {"Mozilla/5.0 (X11; Linux armv7l) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0 Safari/537.36 "
         "CrKey/1.56.500000",
         "tv"},
        {"Roku/DVP-9.10 (519.10E04111A)", "tv"},
        {"AppleTV11,1/11.1", "tv"},
        {"Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like "
         "Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.14977",
         "mobile"},
        {"Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54",
         "mobile"},
        {"Mozilla/5.0 (Mobile; LYF/F300B/LYF-F300B-001-01-15-130718-i;Android; rv:48.0) Gecko/48.0 Firefox/48.0 "
         "KAIOS/2.5",
         "mobile+android"},
        {"MOZILLA/5.0 (IPHONE; CPU IPHONE OS 17_0 LIKE MAC OS X) MOBILE", "mobile+ios"}, /* case-insensitive */
        {"", "desktop"},
        {NULL, "desktop"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const char *got = classify(CASES[i].ua);
        if (strcmp(got, CASES[i].expect) != 0)
            fail_msg("'%s': %s, expected %s", CASES[i].ua ? CASES[i].ua : "(null)", got, CASES[i].expect);
    }
}

/* Tokens past the scan bound are not read; a NUL inside the value hides nothing before it. */
static void test_scan_bound(void **state)
{
    (void)state;
    char ua[PZ_UA_MAX_SCAN + 16];
    memset(ua, 'x', sizeof ua);
    memcpy(ua + PZ_UA_MAX_SCAN - 6, "iPhone", 6); /* ends exactly at the bound: seen */
    ua[sizeof ua - 1] = '\0';
    assert_string_equal(classify(ua), "mobile+ios");
    memset(ua, 'x', sizeof ua);
    memcpy(ua + PZ_UA_MAX_SCAN - 5, "iPhone", 6); /* crosses the bound: not seen */
    ua[sizeof ua - 1] = '\0';
    assert_string_equal(classify(ua), "desktop");
    pz_device d;
    pz_useragent_classify("iPad\0Android Mobile", 19, &d);
    assert_true(d.tablet);
    assert_true(d.ios);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_user_agents),
        cmocka_unit_test(test_scan_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
