#include "server/core/useragent.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

typedef enum device_class {
    CLASS_SMART_TV,
    CLASS_TABLET,
    CLASS_MOBILE,
} device_class;

/* One row per token: a User-Agent containing `token` (lower case) is of `class`, unless it also
 * contains `unless`. Rows are tried in order; the first match decides. */
static const struct {
    const char *token;
    const char *unless;
    device_class cls;
} DEVICE_RULES[] = {
    {"smart-tv", NULL, CLASS_SMART_TV},   {"smarttv", NULL, CLASS_SMART_TV},   {"smart tv", NULL, CLASS_SMART_TV},
    {"googletv", NULL, CLASS_SMART_TV},   {"google tv", NULL, CLASS_SMART_TV}, {"androidtv", NULL, CLASS_SMART_TV},
    {"android tv", NULL, CLASS_SMART_TV}, {"appletv", NULL, CLASS_SMART_TV},   {"apple tv", NULL, CLASS_SMART_TV},
    {"hbbtv", NULL, CLASS_SMART_TV},      {"crkey", NULL, CLASS_SMART_TV},     {"roku", NULL, CLASS_SMART_TV},
    {"aftb", NULL, CLASS_SMART_TV},       {"aftm", NULL, CLASS_SMART_TV},      {"afts", NULL, CLASS_SMART_TV},
    {"aftt", NULL, CLASS_SMART_TV},       {"aftka", NULL, CLASS_SMART_TV},     {"aftkm", NULL, CLASS_SMART_TV},
    {"bravia", NULL, CLASS_SMART_TV},     {"netcast", NULL, CLASS_SMART_TV},   {"web0s", NULL, CLASS_SMART_TV},
    {"ipad", NULL, CLASS_TABLET},         {"tablet", NULL, CLASS_TABLET},      {"kindle", NULL, CLASS_TABLET},
    {"silk/", NULL, CLASS_TABLET},        {"playbook", NULL, CLASS_TABLET},    {"nexus 7", NULL, CLASS_TABLET},
    {"nexus 9", NULL, CLASS_TABLET},      {"nexus 10", NULL, CLASS_TABLET},    {"sm-t", NULL, CLASS_TABLET},
    {"android", "mobile", CLASS_TABLET},  {"mobile", NULL, CLASS_MOBILE},      {"iphone", NULL, CLASS_MOBILE},
    {"ipod", NULL, CLASS_MOBILE},         {"android", NULL, CLASS_MOBILE},     {"windows phone", NULL, CLASS_MOBILE},
    {"blackberry", NULL, CLASS_MOBILE},   {"bb10", NULL, CLASS_MOBILE},        {"opera mini", NULL, CLASS_MOBILE},
    {"iemobile", NULL, CLASS_MOBILE},     {"kaios", NULL, CLASS_MOBILE},       {"symbian", NULL, CLASS_MOBILE},
};

#define N_RULES (sizeof DEVICE_RULES / sizeof DEVICE_RULES[0])
_Static_assert(N_RULES <= 64, "a row is one bit of a uint64_t");

/* Rows by the first two bytes of their token (hashed into PAIR_BUCKETS), so one pass over the
 * User-Agent finds every token and most positions cost one table load. */
#define PAIR_BUCKETS 1024
static uint64_t rows_by_pair[PAIR_BUCKETS];
static uint8_t token_len[N_RULES];
static uint64_t unless_mask[N_RULES]; /* the rows of each rule's `unless` token */
static uint64_t ios_mask, android_mask, windows_phone_mask;
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

/* The rows whose token is `token` (tokens may appear in several rows). */
static uint64_t rows_of(const char *token)
{
    uint64_t m = 0;
    for (size_t i = 0; i < N_RULES; i++) {
        if (strcmp(DEVICE_RULES[i].token, token) == 0)
            m |= UINT64_C(1) << i;
    }
    return m;
}

static unsigned pair_bucket(unsigned char a, unsigned char b)
{
    return ((unsigned)a * 31u + b) % PAIR_BUCKETS;
}

static void build_index(void)
{
    for (size_t i = 0; i < N_RULES; i++) {
        const char *t = DEVICE_RULES[i].token;
        token_len[i] = (uint8_t)strlen(t);
        rows_by_pair[pair_bucket((unsigned char)t[0], (unsigned char)t[1])] |= UINT64_C(1) << i;
        unless_mask[i] = DEVICE_RULES[i].unless != NULL ? rows_of(DEVICE_RULES[i].unless) : 0;
    }
    ios_mask = rows_of("iphone") | rows_of("ipad") | rows_of("ipod");
    android_mask = rows_of("android");
    windows_phone_mask = rows_of("windows phone");
}

static unsigned char lower(char c)
{
    return (unsigned char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
}

/* Whether ua starts with the lower-case token, ignoring the case of ua. */
static bool starts_with_token(const char *ua, const char *token, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        if (lower(ua[k]) != (unsigned char)token[k])
            return false;
    }
    return true;
}

/* The rows whose token occurs in ua[0..n), compared case-insensitively (tokens are lower case). */
static uint64_t tokens_seen(const char *ua, size_t n)
{
    uint64_t seen = 0;
    unsigned char next = n > 0 ? lower(ua[0]) : 0;
    for (size_t i = 0; i + 1 < n; i++) {
        unsigned char c = next;
        next = lower(ua[i + 1]);
        uint64_t m = rows_by_pair[pair_bucket(c, next)] & ~seen;
        for (; m != 0; m &= m - 1) {
            int row = __builtin_ctzll(m);
            if (token_len[row] <= n - i && starts_with_token(ua + i, DEVICE_RULES[row].token, token_len[row]))
                seen |= UINT64_C(1) << row;
        }
    }
    return seen;
}

void pz_useragent_classify(const char *ua, size_t len, pz_device *out)
{
    pthread_once(&index_once, build_index);
    *out = (pz_device){0};
    uint64_t seen = tokens_seen(ua, len < PZ_UA_MAX_SCAN ? len : PZ_UA_MAX_SCAN);

    bool classified = false;
    for (size_t i = 0; i < N_RULES && !classified; i++) {
        if ((seen >> i & 1) == 0 || (seen & unless_mask[i]) != 0)
            continue;
        classified = true;
        switch (DEVICE_RULES[i].cls) {
        case CLASS_SMART_TV: out->smart_tv = true; break;
        case CLASS_TABLET: out->tablet = true; break;
        case CLASS_MOBILE: out->mobile = true; break;
        }
    }
    out->desktop = !classified;
    out->ios = (seen & ios_mask) != 0;
    out->android = (seen & android_mask) != 0 && (seen & windows_phone_mask) == 0;
}
