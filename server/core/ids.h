/* Identifiers the server mints: random version-4 UUIDs (event ids) and recommendation ids.
 * Randomness comes from getrandom(2); out of entropy is fatal. Any thread. */
#ifndef PZ_IDS_H
#define PZ_IDS_H

#include "server/core/mem.h"

/* Bytes of a UUID string with its NUL: "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx". */
#define PZ_UUID_SIZE 37

/* Fills buf (PZ_UUID_SIZE bytes) with a random version-4 UUID in lower-case hex. */
void pz_uuid4(char *buf);

/* A new recommendation id, "RID-" followed by a UUID, in the arena. */
char *pz_recommendation_id_new(pz_arena *arena);

#endif
