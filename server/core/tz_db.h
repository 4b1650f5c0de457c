/* The time zone database: IANA zone names ("Europe/Berlin", the CloudFront-Viewer-Time-Zone
 * header's values) to parsed zones (server/core/tz.h), read from the compiled zone files of a
 * directory (Debian's tzdata: /usr/share/zoneinfo) and cached per zone for the life of the
 * database.
 *
 * Names are checked before any file is opened (pz_tz_name_valid): letters, digits and "/_+-.",
 * 1..PZ_TZ_MAX_NAME_LEN bytes, no empty, "." or ".." component, no leading '/', and not under
 * right/ (clocks that count leap seconds). "UTC", "Etc/UTC" and "GMT" resolve even when the
 * directory lacks them, so the default zone works on a machine without tzdata.
 *
 * Bounds: at most PZ_TZ_DB_MAX_ZONES parsed zones are kept (tzdata has about 1,200 names with
 * its links; a name past the bound is treated as unknown, with one warning) and at most
 * PZ_TZ_DB_MAX_UNKNOWN names remembered as unknown, so a stream of made-up names costs one
 * failed open(2) each once that bound is reached, and no memory.
 *
 * Threads: any. A lookup of a cached zone takes a read lock; the first lookup of a name reads
 * one small file (under 4 KiB) on the caller's thread.
 */
#ifndef PZ_TZ_DB_H
#define PZ_TZ_DB_H

#include <stdbool.h>
#include <stddef.h>

#include "server/core/tz.h"

#define PZ_TZ_MAX_NAME_LEN 64
#define PZ_TZ_DB_MAX_ZONES 2048
#define PZ_TZ_DB_MAX_UNKNOWN 1024
#define PZ_TZ_DEFAULT_DIR "/usr/share/zoneinfo"

typedef struct pz_tz_db pz_tz_db;

/* A database over the zone files in `dir` (NULL: $TZDIR, else PZ_TZ_DEFAULT_DIR). Never NULL; a
 * missing directory only makes every name but the UTC ones unknown. */
pz_tz_db *pz_tz_db_create(const char *dir);
void pz_tz_db_destroy(pz_tz_db *db);

/* True when name[0..len) is acceptable as a zone name (see above). */
bool pz_tz_name_valid(const char *name, size_t len);

/* The zone named name[0..len), or NULL when the name is invalid, no valid zone file has it, or
 * the cache is full. The zone lives as long as the database. */
const pz_tz_zone *pz_tz_db_zone(pz_tz_db *db, const char *name, size_t len);

/* How many zones are cached and how many names are remembered as unknown (tests, stats). */
void pz_tz_db_counts(pz_tz_db *db, size_t *zones, size_t *unknown);

#endif
