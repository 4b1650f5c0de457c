#include "server/core/ids.h"

#include <stdio.h>
#include <sys/random.h>
#include <sys/types.h>

void pz_uuid4(char *buf)
{
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        pz_fatal("getrandom failed");
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(buf, PZ_UUID_SIZE, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

char *pz_recommendation_id_new(pz_arena *arena)
{
    char uuid[PZ_UUID_SIZE];
    pz_uuid4(uuid);
    return pz_arena_printf(arena, "RID-%s", uuid);
}
