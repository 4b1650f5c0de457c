/* The viewer: what automatic-context rules (server/core/context.h) see of one request, with or
 * without a CDN in front.
 *
 * Headers. A rule's header is the request's own when present: real CloudFront headers (or any
 * CDN's that uses the same names) always win. When a CloudFront viewer header is absent the
 * viewer fills it from what the server can see, so upstream configurations work unchanged behind
 * any proxy or none:
 *   CloudFront-Is-{Desktop,Mobile,Tablet,SmartTV,Android,IOS}-Viewer   "true"/"false" from
 *       User-Agent (server/core/useragent.h);
 *   CloudFront-Viewer-{Country,Country-Name,Country-Region,Country-Region-Name,City,Postal-Code,
 *       Metro-Code,Latitude,Longitude,Time-Zone}   from the client address through the geo port
 *       (server/core/geo.h; nothing when there is no database or the address is not in it);
 *   CloudFront-Viewer-Address   the client address ("ip:port" from the socket, "ip" from a
 *       forwarding header).
 * The client address is the socket peer, or the forwarding headers' when the peer is a trusted
 * proxy (server/core/netaddr.h, pz_client_ip). Derivations run only when a rule asks, once per
 * request.
 *
 * Time. "Now" is the request's receipt time, or the fixed instant of --context-time (a testing
 * aid; it changes what time rules see and nothing else). The wall clock is the viewer's zone from
 * CloudFront-Viewer-Time-Zone (real or derived), else the default zone (--default-time-zone,
 * UTC by default), DST included (server/core/tz.h).
 *
 * Vary. Every header a rule consulted is recorded, present or not (a CDN adding it later changes
 * the answer), plus the headers a derived value came from (User-Agent, X-Forwarded-For or
 * Forwarded); pz_viewer_vary lists them for the `Vary` response header.
 *
 * A pz_viewer lives in one request's arena and is used by one thread at a time.
 */
#ifndef PZ_VIEWER_H
#define PZ_VIEWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/context.h"
#include "server/core/geo.h"
#include "server/core/netaddr.h"
#include "server/core/request.h"
#include "server/core/tz.h"
#include "server/core/tz_db.h"
#include "server/core/useragent.h"

#define PZ_DEFAULT_TIME_ZONE "UTC"

/* Process-wide settings, created by main.c and shared by every request (read-only). */
typedef struct pz_viewer_env {
    pz_geo_port geo;          /* find NULL: no geolocation */
    pz_tz_db *tz;             /* required */
    const char *default_zone; /* the zone when the viewer's is unknown; NULL = PZ_DEFAULT_TIME_ZONE */
    bool has_fixed_now;       /* --context-time */
    int64_t fixed_now_ms;
} pz_viewer_env;

typedef struct pz_viewer {
    const pz_viewer_env *env;
    const pz_header *headers;
    size_t n_headers;
    const char *peer; /* the socket peer as the front wrote it, or NULL */
    const pz_cidr *trusted;
    size_t n_trusted;
    int64_t now_ms;
    pz_arena *arena;

    /* derived once, on first use */
    bool device_done, client_done, geo_done, time_done;
    pz_device device;
    bool has_client;
    pz_ip client;
    const char *client_via; /* the forwarding header the client came from, or NULL */
    bool has_geo;
    pz_geo_record geo;
    unsigned geo_fields_done; /* bit per pz_geo_field read */
    const char *geo_fields[PZ_GEO__COUNT];
    pz_civil_time local;
    const char *zone; /* the zone name the wall clock is in */

    const char **consulted; /* header names for Vary, first-seen order */
    size_t *consulted_len;
    size_t n_consulted, cap_consulted;
} pz_viewer;

/* Sets v up for one request. received_ms is the request's receipt time; the arena holds what
 * the viewer derives. trusted[0..n_trusted) are the configuration's trustedProxies. */
void pz_viewer_init(pz_viewer *v, const pz_viewer_env *env, const pz_header *headers, size_t n_headers,
                    const char *peer, int64_t received_ms, const pz_cidr *trusted, size_t n_trusted, pz_arena *arena);

/* The rule engine's view of v. */
pz_context_source pz_viewer_source(pz_viewer *v);

/* The value the rules see for header `lname` (lower case): the request's, else derived, else
 * NULL. Records the consultation for Vary. */
const char *pz_viewer_header(pz_viewer *v, const char *lname);

/* The consulted headers as a Vary value ("cloudfront-is-mobile-viewer, user-agent"), in the
 * arena, or NULL when no header was consulted. */
const char *pz_viewer_vary(const pz_viewer *v);

#endif
