#include "server/geoip/geoip.h"

#include <math.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/mem.h"

struct pz_geoip {
    MMDB_s mmdb;
};

int pz_geoip_open(const char *path, pz_geoip **out, char *err, size_t errlen)
{
    pz_geoip *g = pz_calloc(1, sizeof *g);
    int status = MMDB_open(path, MMDB_MODE_MMAP, &g->mmdb);
    if (status != MMDB_SUCCESS) {
        snprintf(err, errlen, "cannot open the GeoIP database %s: %s", path, MMDB_strerror(status));
        free(g);
        return -1;
    }
    *out = g;
    return 0;
}

void pz_geoip_close(pz_geoip *g)
{
    if (g == NULL)
        return;
    MMDB_close(&g->mmdb);
    free(g);
}

const char *pz_geoip_type(const pz_geoip *g)
{
    return g->mmdb.metadata.database_type != NULL ? g->mmdb.metadata.database_type : "unknown";
}

_Static_assert(sizeof(MMDB_entry_s) <= sizeof(((pz_geo_record *)0)->opaque), "a record holds an MMDB entry");

/* The GeoIP2 City path of each field. */
static const char *const *const PATHS[PZ_GEO__COUNT] = {
    [PZ_GEO_COUNTRY] = (const char *const[]){"country", "iso_code", NULL},
    [PZ_GEO_COUNTRY_NAME] = (const char *const[]){"country", "names", "en", NULL},
    [PZ_GEO_REGION] = (const char *const[]){"subdivisions", "0", "iso_code", NULL},
    [PZ_GEO_REGION_NAME] = (const char *const[]){"subdivisions", "0", "names", "en", NULL},
    [PZ_GEO_CITY] = (const char *const[]){"city", "names", "en", NULL},
    [PZ_GEO_POSTAL_CODE] = (const char *const[]){"postal", "code", NULL},
    [PZ_GEO_METRO_CODE] = (const char *const[]){"location", "metro_code", NULL},
    [PZ_GEO_TIME_ZONE] = (const char *const[]){"location", "time_zone", NULL},
    [PZ_GEO_LATITUDE] = (const char *const[]){"location", "latitude", NULL},
    [PZ_GEO_LONGITUDE] = (const char *const[]){"location", "longitude", NULL},
};

static bool find(void *self, const pz_ip *ip, pz_geo_record *rec)
{
    pz_geoip *g = self;
    struct sockaddr_storage ss = {0};
    if (ip->v6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, ip->bytes, 16);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, ip->bytes, 4);
    }
    int mmdb_error = MMDB_SUCCESS;
    MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&g->mmdb, (const struct sockaddr *)&ss, &mmdb_error);
    if (mmdb_error != MMDB_SUCCESS || !r.found_entry)
        return false;
    memcpy(rec->opaque, &r.entry, sizeof r.entry);
    return true;
}

/* Decimal digits of v before p (which points past the end of a buffer); returns the start. */
static char *digits_before(char *p, unsigned long long v)
{
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    return p;
}

/* A coordinate as CloudFront writes it, with five decimals ("-33.86785"); without printf, which
 * would cost more than the lookup. */
static const char *coordinate_text(double d, pz_arena *arena)
{
    if (!isfinite(d) || d > 1e6 || d < -1e6)
        return NULL;
    char buf[32], *p = buf + sizeof buf;
    bool negative = d < 0;
    unsigned long long scaled = (unsigned long long)((negative ? -d : d) * 100000.0 + 0.5);
    *--p = '\0';
    for (int i = 0; i < 5; i++, scaled /= 10)
        *--p = (char)('0' + scaled % 10);
    *--p = '.';
    p = digits_before(p, scaled);
    if (negative)
        *--p = '-';
    return pz_arena_strdup(arena, p);
}

static const char *field(void *self, const pz_geo_record *rec, pz_geo_field f, pz_arena *arena)
{
    (void)self;
    MMDB_entry_s entry;
    memcpy(&entry, rec->opaque, sizeof entry);
    MMDB_entry_data_s data;
    if ((unsigned)f >= PZ_GEO__COUNT || MMDB_aget_value(&entry, &data, PATHS[f]) != MMDB_SUCCESS || !data.has_data)
        return NULL;
    char buf[24] = {0}; /* the integers are written backwards from its NUL */
    switch (data.type) {
    case MMDB_DATA_TYPE_UTF8_STRING:
        return data.data_size > 0 ? pz_arena_strndup(arena, data.utf8_string, data.data_size) : NULL;
    case MMDB_DATA_TYPE_DOUBLE: return coordinate_text(data.double_value, arena);
    case MMDB_DATA_TYPE_FLOAT: return coordinate_text(data.float_value, arena);
    case MMDB_DATA_TYPE_UINT16: return pz_arena_strdup(arena, digits_before(buf + sizeof buf - 1, data.uint16));
    case MMDB_DATA_TYPE_UINT32: return pz_arena_strdup(arena, digits_before(buf + sizeof buf - 1, data.uint32));
    default: return NULL;
    }
}

pz_geo_port pz_geoip_port(pz_geoip *g)
{
    return (pz_geo_port){g, find, field};
}
