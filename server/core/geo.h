/* The geolocation port: where a client address is, as CloudFront reports it in its
 * CloudFront-Viewer-* headers, for servers that run without CloudFront in front
 * (server/core/viewer.h fills those headers from it when they are absent). server/geoip/
 * implements it over a MaxMind-format database (--geoip-db); without one the port is empty and
 * nothing is derived from the address.
 */
#ifndef PZ_GEO_H
#define PZ_GEO_H

#include <stdbool.h>

#include "server/core/mem.h"
#include "server/core/netaddr.h"

/* What is known about an address. Strings are NULL when unknown; they live in the arena the
 * lookup was given. */
typedef struct pz_geo_location {
    const char *country;      /* ISO 3166-1 alpha-2, e.g. "US" (CloudFront-Viewer-Country) */
    const char *country_name; /* English name (CloudFront-Viewer-Country-Name) */
    const char *region;       /* ISO 3166-2 subdivision code without the country, e.g. "WA"
                                 (CloudFront-Viewer-Country-Region) */
    const char *region_name;  /* English name (CloudFront-Viewer-Country-Region-Name) */
    const char *city;         /* English name (CloudFront-Viewer-City) */
    const char *postal_code;  /* CloudFront-Viewer-Postal-Code */
    const char *metro_code;   /* US DMA code (CloudFront-Viewer-Metro-Code) */
    const char *time_zone;    /* IANA zone name (CloudFront-Viewer-Time-Zone) */
    bool has_coordinates;
    double latitude, longitude; /* CloudFront-Viewer-Latitude / -Longitude */
} pz_geo_location;

typedef struct pz_geo_port {
    void *self;
    /* Fills *out for ip and returns true, or returns false when the address is not in the
     * database. Any thread; never blocks on the network. NULL lookup: no database. */
    bool (*lookup)(void *self, const pz_ip *ip, pz_arena *arena, pz_geo_location *out);
} pz_geo_port;

#endif
