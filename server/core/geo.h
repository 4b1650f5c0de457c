/* The geolocation port: where a client address is, as CloudFront reports it in its
 * CloudFront-Viewer-* headers, for servers that run without CloudFront in front
 * (server/core/viewer.h fills those headers from it when they are absent). server/geoip/
 * implements it over a MaxMind-format database (--geoip-db); without one the port is empty and
 * nothing is derived from the address.
 *
 * Two steps, so that a request pays only for the fields its rules read: `find` locates the
 * address's record once, `field` reads one field of it as the text CloudFront would send.
 */
#ifndef PZ_GEO_H
#define PZ_GEO_H

#include <stdbool.h>
#include <stdint.h>

#include "server/core/mem.h"
#include "server/core/netaddr.h"

/* The fields, each with the CloudFront header it stands for. */
typedef enum pz_geo_field {
    PZ_GEO_COUNTRY,      /* ISO 3166-1 alpha-2, e.g. "US" (CloudFront-Viewer-Country) */
    PZ_GEO_COUNTRY_NAME, /* English name (CloudFront-Viewer-Country-Name) */
    PZ_GEO_REGION,       /* ISO 3166-2 subdivision code without the country, e.g. "WA"
                            (CloudFront-Viewer-Country-Region) */
    PZ_GEO_REGION_NAME,  /* English name (CloudFront-Viewer-Country-Region-Name) */
    PZ_GEO_CITY,         /* English name (CloudFront-Viewer-City) */
    PZ_GEO_POSTAL_CODE,  /* CloudFront-Viewer-Postal-Code */
    PZ_GEO_METRO_CODE,   /* US DMA code, decimal (CloudFront-Viewer-Metro-Code) */
    PZ_GEO_TIME_ZONE,    /* IANA zone name (CloudFront-Viewer-Time-Zone) */
    PZ_GEO_LATITUDE,     /* degrees with five decimals, "-33.86785" (CloudFront-Viewer-Latitude) */
    PZ_GEO_LONGITUDE,    /* the same (CloudFront-Viewer-Longitude) */
    PZ_GEO__COUNT
} pz_geo_field;

/* A located record; its contents belong to the implementation. */
typedef struct pz_geo_record {
    uint64_t opaque[4];
} pz_geo_record;

typedef struct pz_geo_port {
    void *self;
    /* Locates ip: true and *rec, or false when the address is not in the database. NULL: no
     * database. Any thread; never blocks on the network. */
    bool (*find)(void *self, const pz_ip *ip, pz_geo_record *rec);
    /* One field of a located record as text in the arena, or NULL when the record lacks it. Any
     * thread. */
    const char *(*field)(void *self, const pz_geo_record *rec, pz_geo_field field, pz_arena *arena);
} pz_geo_port;

#endif
