#include "server/core/viewer.h"

#include <pthread.h>
#include <string.h>

#define TIME_ZONE_HEADER "cloudfront-viewer-time-zone"

void pz_viewer_init(pz_viewer *v, const pz_viewer_env *env, const pz_header *headers, size_t n_headers,
                    const char *peer, int64_t received_ms, const pz_cidr *trusted, size_t n_trusted, pz_arena *arena)
{
    *v = (pz_viewer){.env = env,
                     .headers = headers,
                     .n_headers = n_headers,
                     .peer = peer,
                     .trusted = trusted,
                     .n_trusted = n_trusted,
                     .now_ms = env->has_fixed_now ? env->fixed_now_ms : received_ms,
                     .arena = arena};
}

static void consult(pz_viewer *v, const char *lname)
{
    size_t len = strlen(lname);
    for (size_t i = 0; i < v->n_consulted; i++) {
        /* names mostly come from the configuration: the same pointer when it is the same name */
        if (v->consulted[i] == lname || (v->consulted_len[i] == len && memcmp(v->consulted[i], lname, len) == 0))
            return;
    }
    if (v->n_consulted == v->cap_consulted) {
        size_t cap = v->cap_consulted ? v->cap_consulted * 2 : 8;
        const char **grown = pz_arena_alloc(v->arena, cap * sizeof *grown);
        size_t *grown_len = pz_arena_alloc(v->arena, cap * sizeof *grown_len);
        if (v->n_consulted > 0) {
            memcpy(grown, v->consulted, v->n_consulted * sizeof *grown);
            memcpy(grown_len, v->consulted_len, v->n_consulted * sizeof *grown_len);
        }
        v->consulted = grown;
        v->consulted_len = grown_len;
        v->cap_consulted = cap;
    }
    v->consulted_len[v->n_consulted] = len;
    v->consulted[v->n_consulted++] = lname;
}

/* ---- derivations ---- */

static const pz_device *device(pz_viewer *v)
{
    if (!v->device_done) {
        v->device_done = true;
        const pz_header *ua = pz_headers_find(v->headers, v->n_headers, "user-agent");
        pz_useragent_classify(ua != NULL ? ua->value : NULL, ua != NULL ? ua->value_len : 0, &v->device);
    }
    consult(v, "user-agent");
    return &v->device;
}

static bool client(pz_viewer *v)
{
    if (!v->client_done) {
        v->client_done = true;
        pz_ip peer;
        bool has_peer = v->peer != NULL && pz_ip_parse_peer(v->peer, strlen(v->peer), &peer);
        v->has_client = has_peer && pz_client_ip(&peer, v->headers, v->n_headers, v->trusted, v->n_trusted, &v->client,
                                                 &v->client_via);
    }
    if (v->client_via != NULL)
        consult(v, v->client_via);
    return v->has_client;
}

static const pz_geo_record *geo(pz_viewer *v)
{
    if (v->env->geo.find == NULL || !client(v))
        return NULL;
    if (!v->geo_done) {
        v->geo_done = true;
        v->has_geo = v->env->geo.find(v->env->geo.self, &v->client, &v->geo);
    }
    return v->has_geo ? &v->geo : NULL;
}

typedef enum device_flag { IS_DESKTOP, IS_MOBILE, IS_TABLET, IS_SMART_TV, IS_ANDROID, IS_IOS } device_flag;

static const char *device_header(pz_viewer *v, int which)
{
    const pz_device *d = device(v);
    const bool flags[] = {[IS_DESKTOP] = d->desktop,   [IS_MOBILE] = d->mobile,   [IS_TABLET] = d->tablet,
                          [IS_SMART_TV] = d->smart_tv, [IS_ANDROID] = d->android, [IS_IOS] = d->ios};
    return flags[which] ? "true" : "false";
}

static const char *geo_header(pz_viewer *v, int which)
{
    const pz_geo_record *rec = geo(v);
    if (rec == NULL)
        return NULL;
    if ((v->geo_fields_done & (1u << which)) == 0) {
        v->geo_fields_done |= 1u << which;
        v->geo_fields[which] = v->env->geo.field(v->env->geo.self, rec, (pz_geo_field)which, v->arena);
    }
    return v->geo_fields[which];
}

static const char *address_header(pz_viewer *v, int which)
{
    (void)which;
    if (!client(v))
        return NULL;
    if (v->client_via == NULL) /* the socket peer: with its port, as CloudFront writes it */
        return v->peer;
    char text[PZ_IP_TEXT_SIZE];
    pz_ip_format(&v->client, text);
    return pz_arena_strdup(v->arena, text);
}

/* The CloudFront viewer headers the server derives when a request lacks them. */
static const struct {
    const char *name;
    const char *(*derive)(pz_viewer *v, int which);
    int which;
} DERIVED[] = {
    {"cloudfront-is-desktop-viewer", device_header, IS_DESKTOP},
    {"cloudfront-is-mobile-viewer", device_header, IS_MOBILE},
    {"cloudfront-is-tablet-viewer", device_header, IS_TABLET},
    {"cloudfront-is-smarttv-viewer", device_header, IS_SMART_TV},
    {"cloudfront-is-android-viewer", device_header, IS_ANDROID},
    {"cloudfront-is-ios-viewer", device_header, IS_IOS},
    {"cloudfront-viewer-country", geo_header, PZ_GEO_COUNTRY},
    {"cloudfront-viewer-country-name", geo_header, PZ_GEO_COUNTRY_NAME},
    {"cloudfront-viewer-country-region", geo_header, PZ_GEO_REGION},
    {"cloudfront-viewer-country-region-name", geo_header, PZ_GEO_REGION_NAME},
    {"cloudfront-viewer-city", geo_header, PZ_GEO_CITY},
    {"cloudfront-viewer-postal-code", geo_header, PZ_GEO_POSTAL_CODE},
    {"cloudfront-viewer-metro-code", geo_header, PZ_GEO_METRO_CODE},
    {"cloudfront-viewer-time-zone", geo_header, PZ_GEO_TIME_ZONE},
    {"cloudfront-viewer-latitude", geo_header, PZ_GEO_LATITUDE},
    {"cloudfront-viewer-longitude", geo_header, PZ_GEO_LONGITUDE},
    {"cloudfront-viewer-address", address_header, 0},
};

#define CLOUDFRONT_PREFIX "cloudfront-"
#define CLOUDFRONT_PREFIX_LEN (sizeof CLOUDFRONT_PREFIX - 1)

#define N_DERIVED (sizeof DERIVED / sizeof DERIVED[0])
static size_t derived_len[N_DERIVED];
static pthread_once_t derived_once = PTHREAD_ONCE_INIT;

static void derived_index(void)
{
    for (size_t i = 0; i < N_DERIVED; i++)
        derived_len[i] = strlen(DERIVED[i].name);
}

const char *pz_viewer_header(pz_viewer *v, const char *lname)
{
    consult(v, lname);
    const pz_header *h = pz_headers_find(v->headers, v->n_headers, lname);
    if (h != NULL)
        return pz_arena_strndup(v->arena, h->value, h->value_len);
    if (strncmp(lname, CLOUDFRONT_PREFIX, CLOUDFRONT_PREFIX_LEN) != 0)
        return NULL;
    pthread_once(&derived_once, derived_index);
    size_t len = strlen(lname);
    for (size_t i = 0; i < N_DERIVED; i++) {
        if (derived_len[i] == len && memcmp(DERIVED[i].name, lname, len) == 0)
            return DERIVED[i].derive(v, DERIVED[i].which);
    }
    return NULL;
}

/* ---- time ---- */

static const pz_civil_time *local_time(pz_viewer *v)
{
    if (!v->time_done) {
        v->time_done = true;
        const char *name = pz_viewer_header(v, TIME_ZONE_HEADER);
        const pz_tz_zone *zone = name != NULL ? pz_tz_db_zone(v->env->tz, name, strlen(name)) : NULL;
        if (zone == NULL) {
            name = v->env->default_zone != NULL ? v->env->default_zone : PZ_DEFAULT_TIME_ZONE;
            zone = pz_tz_db_zone(v->env->tz, name, strlen(name));
        }
        if (zone == NULL) { /* the default is checked at start-up; this is the last resort */
            name = PZ_DEFAULT_TIME_ZONE;
            zone = pz_tz_db_zone(v->env->tz, name, strlen(name));
        }
        v->zone = name;
        int64_t now_s = v->now_ms >= 0 ? v->now_ms / 1000 : -((-v->now_ms + 999) / 1000);
        pz_tz_local(zone, now_s, &v->local);
    }
    return &v->local;
}

static const char *source_header(void *self, const char *lname)
{
    return pz_viewer_header(self, lname);
}

static const pz_civil_time *source_local_time(void *self)
{
    return local_time(self);
}

pz_context_source pz_viewer_source(pz_viewer *v)
{
    return (pz_context_source){v, source_header, source_local_time};
}

const char *pz_viewer_vary(const pz_viewer *v)
{
    if (v->n_consulted == 0)
        return NULL;
    size_t len = 0;
    for (size_t i = 0; i < v->n_consulted; i++)
        len += v->consulted_len[i] + 2;
    char *out = pz_arena_alloc(v->arena, len + 1);
    char *p = out;
    for (size_t i = 0; i < v->n_consulted; i++) {
        size_t n = v->consulted_len[i];
        if (i > 0) {
            memcpy(p, ", ", 2);
            p += 2;
        }
        memcpy(p, v->consulted[i], n);
        p += n;
    }
    *p = '\0';
    return out;
}
