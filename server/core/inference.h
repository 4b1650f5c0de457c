/* The inference sequencer: the one place that knows the order in which an inference call
 * (RecommendItems, RelatedItems, RerankItems) is served. Each call is a small state machine that
 * runs these stages in order (the table STAGES in inference.c):
 *
 *   authenticate  read the query; the credential under the namespace's auth policy (server/core/
 *              access.h, through the authenticator port; asynchronous when a signing key must be
 *              fetched) and the rate limits: 401 / 429 before anything else is said
 *   resolve    validate the query (server/core/query.h), namespace -> recommender
 *   authorize  scopes, the API key's namespaces, a token's own user only: 403
 *   assign     pick the variation (an experiment's, server/core/experiment.h, else the first),
 *              the cache class, Cache-Control and the variation and experiment hints
 *   context    automatic context and dynamic filter values (server/core/context.h, viewer.h)
 *              merged into the query's context and filterValues; Vary
 *   cache      response cache lookup (server/core/response_cache.h): a hit or stale entry
 *              answers at once, an identical call in progress is waited for, a miss goes on
 *   recommend  the recommender port (server/core/recommender.h), asynchronous
 *   build      the response message from the items (with matchedExperiment)
 *   decorate   item metadata (server/core/decorate.h), asynchronous
 *   store      prepared bytes, ETag, If-None-Match, the cache entry and the waiting calls
 *
 * then completes the request. Every successful answer to a user an experiment decided for (cache
 * hits, stale and coalesced answers and 304s included; background refreshes not) records one
 * exposure through the event sink's `expose`, which never waits.
 *
 * Asynchronous stages hand their completion to one continuation
 * (resume in inference.c), which runs the next stages on whatever thread completed them. A
 * failure at any stage goes through one failure path: a stale entry within stale-if-error
 * answers when there is one, else the error.
 *
 * An `explain` request gets the explain object (server/core/explain.h) on its own copy of the
 * response, which is never stored or validated and is sent with Cache-Control: no-store; the
 * cache still serves and stores the plain response as usual.
 *
 * A stale entry served within stale-while-revalidate starts a background refresh here: a copy of
 * the request (its headers, client address and receipt time, so automatic context resolves as it
 * did), run through the same stages, that takes over the flight, replaces the entry and answers
 * nobody.
 *
 * The inference lives in the request's arena and holds a reference on the configuration snapshot
 * until it completes, so stages may run after a reload swapped the snapshot.
 */
#ifndef PZ_INFERENCE_H
#define PZ_INFERENCE_H

#include <stdint.h>

#include "server/core/authenticator.h"
#include "server/core/config.h"
#include "server/core/decorate.h"
#include "server/core/event_sink.h"
#include "server/core/recommender.h"
#include "server/core/request.h"
#include "server/core/response_cache.h"
#include "server/core/viewer.h"

typedef struct pz_inference_pipeline pz_inference_pipeline;

typedef struct pz_inference_options {
    pz_recommender_port recommender;   /* required */
    pz_decorator *decorator;           /* required; not owned */
    pz_response_cache *response_cache; /* required; not owned */
    pz_authenticator authenticator;    /* zeroed: no policy may require credentials */
    pz_event_sink events;              /* its `expose` records exposures; NULL expose = not kept */
    const pz_viewer_env *viewer;       /* required; not owned: automatic context's inputs */
} pz_inference_options;

/* Never NULL. */
pz_inference_pipeline *pz_inference_pipeline_create(const pz_inference_options *opts);
/* Waits until the background refreshes in progress have completed, then frees. */
void pz_inference_pipeline_destroy(pz_inference_pipeline *p);

/* Serves req (an inference RPC) with snapshot cfg, whose reference it takes over. Completes req
 * exactly once, inline or on another thread. Any thread; never blocks. */
void pz_inference_start(pz_inference_pipeline *p, pz_request *req, pz_config *cfg);

#endif
