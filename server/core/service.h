/* The service: the one place that handles every PersonalizationService call, whichever front it
 * came from. Inference calls go to the sequencer (server/core/inference.h); PutEvents calls are
 * authenticated and authorized (server/core/access.h), validated (server/core/event_validation.h),
 * get the namespace's automatic context in each event's properties (server/core/context_apply.h),
 * purge the user's cached responses and go to the event sink; ListExperiments and
 * GetExperimentResults read the experiment store (server/core/experiment_results.h), with the
 * `admin` scope. Everything outside the core reaches it through ports that main.c wires: the
 * recommender port (server/core/recommender.h), the authenticator (server/core/authenticator.h),
 * the decorator back-ends (server/core/decorate.h), the event sink (server/core/event_sink.h), the
 * experiment store, the geolocation port (server/core/geo.h) and the JSON renderer of the response
 * cache.
 */
#ifndef PZ_SERVICE_H
#define PZ_SERVICE_H

#include "server/core/authenticator.h"
#include "server/core/config.h"
#include "server/core/decorate.h"
#include "server/core/event_sink.h"
#include "server/core/experiment_store.h"
#include "server/core/user_history.h"
#include "server/core/recommender.h"
#include "server/core/request.h"
#include "server/core/response_cache.h"
#include "server/core/viewer.h"

/* How long shutdown lets recommender calls in flight finish before failing them (503). */
#define PZ_SERVICE_DRAIN_GRACE_MS 5000

typedef struct pz_service pz_service;

typedef struct pz_service_options {
    pz_config_holder *config;        /* required; not owned */
    pz_recommender_port recommender; /* required */
    /* Checks credentials and rate limits (server/core/authenticator.h); zeroed: a configuration
     * whose policy requires credentials refuses every request with 401. */
    pz_authenticator authenticator;
    pz_event_sink events; /* required; drained by pz_service_shutdown */
    /* The experiment store (server/core/experiment_store.h) the results read; zeroed = none (every
     * configured experiment shows zero counts). */
    pz_experiment_store experiments;
    /* Item metadata back-ends by type (server/core/decorate.h); a zeroed slot has none. */
    pz_decorator_backend item_metadata[PZ_ITEM_METADATA__COUNT];
    /* Users' history for the excludeSeen rule (server/core/user_history.h); zeroed = none kept. */
    pz_history_port history;
    /* Budget of the lists kept for pagination (server/core/page_store.h); 0: the default. */
    size_t page_store_bytes;
    /* The in-process response cache (server/core/response_cache.h); may be NULL; not owned.
     * render_json renders a response as the REST body once, when it is prepared; without it
     * nothing is stored (ETags and 304s still work). */
    pz_cache *cache;
    pz_render_json_fn render_json;
    int64_t (*now_ms)(void); /* the response cache's clock; NULL = pz_now_ms (tests inject one) */
    /* Automatic context's inputs (server/core/viewer.h): the geolocation port, the time zone
     * database (NULL: the service opens the default one and owns it), the default zone and the
     * --context-time instant. Copied. */
    pz_viewer_env viewer;
} pz_service_options;

/* Creates the service. Never NULL. */
pz_service *pz_service_create(const pz_service_options *opts);

/* Handles one request; completes it exactly once (see request.h). Any thread; never blocks on
 * disk or network. After pz_service_shutdown, requests fail with PZ_UNAVAILABLE. */
void pz_service_handle(pz_service *svc, pz_request *req);

/* Whether req may reach the operators' endpoints (/admin/...): authenticates it under the root's
 * auth policy and checks the `admin` scope. Completes req exactly once with PZ_OK and no response,
 * or with the 401/403/429 error; inline or on another thread. The front answers the endpoint itself
 * after an OK. */
void pz_service_admit_admin(pz_service *svc, pz_request *req);

/* Stops accepting requests, drains the recommender port (PZ_SERVICE_DRAIN_GRACE_MS) and the event
 * sink: returns once every accepted request is completed. Call after the fronts stopped accepting
 * and before destroying them. */
void pz_service_shutdown(pz_service *svc);
/* Waits for background cache refreshes, then frees. */
void pz_service_destroy(pz_service *svc);

/* Appends the response cache counters as JSON (GET /admin/cache/stats). Returns 0 or -1 (cap). */
int pz_service_cache_stats(pz_service *svc, pz_buf *out);

/* A metrics collector (server/core/metrics.h; ctx: the service): the response cache's
 * (pz_response_cache_collect_metrics). */
void pz_service_collect_metrics(void *svc, pz_metrics_writer *w);

/* Makes a user's cached responses of namespace ns stale, as an accepted event does (any thread):
 * for events that reach the model another way (the namespace event log, issue 18). */
void pz_service_purge_user(pz_service *svc, const char *ns, const char *user_id);

/* The current configuration snapshot (a reference the caller must pz_config_unref). */
pz_config *pz_service_config(pz_service *svc);

#endif
