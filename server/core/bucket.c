#include "server/core/bucket.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/hash.h"
#include "server/core/mem.h"
#include "server/core/num.h"

/* User ids are at most 256 bytes and salts and features are short configuration strings, so a
 * stack buffer of this size holds every key in practice; a longer one goes to the heap. */
#define KEY_STACK_BYTES 1024

uint32_t pz_bucket_of(const char *salt, const char *feature, const char *user_id)
{
    size_t ls = strlen(salt), lf = strlen(feature), lu = strlen(user_id);
    size_t len = ls + 1 + lf + 1 + lu;
    char stack[KEY_STACK_BYTES];
    char *key = len <= KEY_STACK_BYTES ? stack : pz_malloc(len);
    memcpy(key, salt, ls);
    key[ls] = '\0';
    memcpy(key + ls + 1, feature, lf);
    key[ls + 1 + lf] = '\0';
    memcpy(key + ls + 1 + lf + 1, user_id, lu);
    uint64_t h = pz_hash64(key, len, 0);
    if (key != stack)
        free(key);
    return (uint32_t)(((h >> 32) * (uint64_t)PZ_BUCKETS) >> 32);
}

void pz_bucket_ranges(const double *weights, size_t n, uint32_t *starts)
{
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += weights != NULL ? weights[i] : 1.0;
    double cum = 0;
    for (size_t i = 0; i < n; i++) {
        double s = total > 0 ? floor((double)PZ_BUCKETS * cum / total) : 0;
        /* weights each finite, but their sum may not be (1e308 + 1e308): NaN and inf clamp too */
        starts[i] = (uint32_t)pz_double_to_i64(s, 0, PZ_BUCKETS);
        cum += weights != NULL ? weights[i] : 1.0;
    }
    starts[n] = PZ_BUCKETS;
}

size_t pz_bucket_variation(const uint32_t *starts, size_t n, uint32_t bucket)
{
    /* Variations are few (a handful): a linear scan beats a binary search's branches. */
    for (size_t i = 0; i + 1 < n; i++) {
        if (bucket < starts[i + 1])
            return i;
    }
    return n > 0 ? n - 1 : 0;
}
