#include "server/geoip/geoip.h"

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

/* A UTF-8 string at path (NULL-terminated list of keys), copied into the arena; NULL when absent
 * or of another type. */
static const char *string_at(MMDB_entry_s *entry, pz_arena *arena, const char *const *path)
{
    MMDB_entry_data_s data;
    if (MMDB_aget_value(entry, &data, path) != MMDB_SUCCESS || !data.has_data ||
        data.type != MMDB_DATA_TYPE_UTF8_STRING || data.data_size == 0)
        return NULL;
    return pz_arena_strndup(arena, data.utf8_string, data.data_size);
}

static bool double_at(MMDB_entry_s *entry, const char *const *path, double *out)
{
    MMDB_entry_data_s data;
    if (MMDB_aget_value(entry, &data, path) != MMDB_SUCCESS || !data.has_data)
        return false;
    switch (data.type) {
    case MMDB_DATA_TYPE_DOUBLE: *out = data.double_value; return true;
    case MMDB_DATA_TYPE_FLOAT: *out = data.float_value; return true;
    default: return false;
    }
}

static const char *metro_code(MMDB_entry_s *entry, pz_arena *arena)
{
    static const char *const PATH[] = {"location", "metro_code", NULL};
    MMDB_entry_data_s data;
    if (MMDB_aget_value(entry, &data, PATH) != MMDB_SUCCESS || !data.has_data)
        return NULL;
    switch (data.type) {
    case MMDB_DATA_TYPE_UINT16: return pz_arena_printf(arena, "%u", (unsigned)data.uint16);
    case MMDB_DATA_TYPE_UINT32: return pz_arena_printf(arena, "%u", (unsigned)data.uint32);
    default: return NULL;
    }
}

/* The GeoIP2 City paths of each string field. */
static const char *const COUNTRY[] = {"country", "iso_code", NULL};
static const char *const COUNTRY_NAME[] = {"country", "names", "en", NULL};
static const char *const REGION[] = {"subdivisions", "0", "iso_code", NULL};
static const char *const REGION_NAME[] = {"subdivisions", "0", "names", "en", NULL};
static const char *const CITY[] = {"city", "names", "en", NULL};
static const char *const POSTAL_CODE[] = {"postal", "code", NULL};
static const char *const TIME_ZONE[] = {"location", "time_zone", NULL};
static const char *const LATITUDE[] = {"location", "latitude", NULL};
static const char *const LONGITUDE[] = {"location", "longitude", NULL};

static bool lookup(void *self, const pz_ip *ip, pz_arena *arena, pz_geo_location *out)
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
    *out = (pz_geo_location){
        .country = string_at(&r.entry, arena, COUNTRY),
        .country_name = string_at(&r.entry, arena, COUNTRY_NAME),
        .region = string_at(&r.entry, arena, REGION),
        .region_name = string_at(&r.entry, arena, REGION_NAME),
        .city = string_at(&r.entry, arena, CITY),
        .postal_code = string_at(&r.entry, arena, POSTAL_CODE),
        .metro_code = metro_code(&r.entry, arena),
        .time_zone = string_at(&r.entry, arena, TIME_ZONE),
    };
    out->has_coordinates =
        double_at(&r.entry, LATITUDE, &out->latitude) && double_at(&r.entry, LONGITUDE, &out->longitude);
    return true;
}

pz_geo_port pz_geoip_port(pz_geoip *g)
{
    return (pz_geo_port){g, lookup};
}
