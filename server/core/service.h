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
#include "server/recommenders/builtin.h"

typedef struct pz_service pz_service;

typedef struct pz_service_options {
    pz_config_holder *config;   /* required; not owned */
    pz_builtin *builtin;        /* required; not owned */
} pz_service_options;

/* Creates the service and starts its event writer thread. Never NULL. */
pz_service *pz_service_create(const pz_service_options *opts);

/* Handles one request; completes it exactly once (see request.h). Any thread; never blocks on
 * disk or network. After pz_service_shutdown, requests fail with PZ_UNAVAILABLE. */
void pz_service_handle(pz_service *svc, pz_request *req);

/* Stops accepting requests and waits until every accepted event is written and its request
 * completed. Call after the fronts stopped accepting and before destroying them. */
void pz_service_shutdown(pz_service *svc);
void pz_service_destroy(pz_service *svc);

/* The current configuration snapshot (a reference the caller must pz_config_unref). */
pz_config *pz_service_config(pz_service *svc);

#endif
