/* GeoIP: the geolocation port (server/core/geo.h) over a MaxMind-format database (GeoIP2 or
 * GeoLite2 City/Country, DB-IP and others in the .mmdb format), read with libmaxminddb.
 *
 * The file is memory-mapped once at start-up (--geoip-db PATH) and never written: lookups are
 * lock-free and safe from any thread, and cost a walk of the search tree, no I/O after the pages
 * are resident. A new database takes a restart.
 *
 * Where each field is read (GeoIP2 City layout): country.iso_code, country.names.en,
 * subdivisions[0].iso_code, subdivisions[0].names.en, city.names.en, postal.code,
 * location.metro_code, location.time_zone, location.latitude/longitude. A Country database has
 * only the country; other fields read as absent (NULL).
 */
#ifndef PZ_GEOIP_H
#define PZ_GEOIP_H

#include <stddef.h>

#include "server/core/geo.h"

typedef struct pz_geoip pz_geoip;

/* Opens the database at path. Returns 0 and *out, or -1 with a reason in err. */
int pz_geoip_open(const char *path, pz_geoip **out, char *err, size_t errlen);
/* Unmaps the database; no lookup may be running. NULL is a no-op. */
void pz_geoip_close(pz_geoip *g);

/* The port for the core. */
pz_geo_port pz_geoip_port(pz_geoip *g);

/* The database's type as its metadata says (e.g. "GeoIP2-City"), for the start-up log. */
const char *pz_geoip_type(const pz_geoip *g);

#endif
