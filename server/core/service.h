/* The service: the one place that handles every PersonalizationService call, whichever front it
 * came from. It resolves namespace -> recommender -> variation in the current configuration
 * snapshot, validates the request, calls the recommender, and completes the request context
 * (server/core/request.h) with the response and its hints.
 *
 * Seams for later work live here: auth (before resolve), automatic context, filters and
 * experiments (in resolve), the response cache (around the recommender call), decoration (after
 * it) and the event pipeline (PutEvents).
 */
#ifndef PZ_SERVICE_H
#define PZ_SERVICE_H

#include "server/core/config.h"
#include "server/core/request.h"
#include "server/core/response_cache.h"
#include "server/recommenders/builtin.h"

typedef struct pz_service pz_service;

typedef struct pz_service_options {
    pz_config_holder *config;   /* required; not owned */
    pz_builtin *builtin;        /* required; not owned */
    /* Where accepted events go (server/events/pipeline.h); required; not owned. The service drains
     * it on shutdown; its owner destroys it after the service. */
    struct pz_event_pipeline *events;
    struct pz_catalog *catalog; /* item catalog for localdb decoration; may be NULL; not owned */
    /* The in-process response cache (server/core/response_cache.h); may be NULL; not owned.
     * render_json renders a response as the REST body once, when it is prepared; without it
     * nothing is stored (ETags and 304s still work). */
    pz_cache *cache;
    pz_render_json_fn render_json;
    int64_t (*now_ms)(void);    /* the response cache's clock; NULL = pz_now_ms (tests inject one) */
    /* Limits of the remote recommenders' upstream engine (server/recommenders/upstream.h); NULL:
     * the defaults. */
    const struct pz_upstream_options *upstream;
} pz_service_options;

/* Creates the service. Never NULL. */
pz_service *pz_service_create(const pz_service_options *opts);

/* Handles one request; completes it exactly once (see request.h). Any thread; never blocks on
 * disk or network. After pz_service_shutdown, requests fail with PZ_UNAVAILABLE. */
void pz_service_handle(pz_service *svc, pz_request *req);

/* Stops accepting requests and waits until every accepted event is written and its request
 * completed. Call after the fronts stopped accepting and before destroying them. */
void pz_service_shutdown(pz_service *svc);
void pz_service_destroy(pz_service *svc);

/* Appends the response cache counters as JSON (GET /admin/cache/stats). Returns 0 or -1 (cap). */
int pz_service_cache_stats(pz_service *svc, pz_buf *out);

/* The current configuration snapshot (a reference the caller must pz_config_unref). */
pz_config *pz_service_config(pz_service *svc);

#endif
