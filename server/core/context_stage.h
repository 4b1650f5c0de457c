/* The sequencer's `context` stage and `explain` (issue #13), in one module so that the sequencer
 * (server/core/inference.c) only calls in and other stages can be added there without touching
 * this code.
 *
 * pz_context_stage_run: the variation's autoContext and the applying filter's
 * autoDynamicFilterValues (spec §6), resolved against what the request shows (server/core/viewer.h)
 * and merged under the request's own `context` and `filterValues` (server/core/context_apply.h).
 * The query then holds what the recommender receives and what the response cache keys on:
 * resolved values, not raw headers, so two requests that resolve alike share an entry. The
 * headers consulted become the request's Vary hint. Nothing runs, and nothing is allocated, when
 * neither has a field: a request without automatic context pays nothing.
 *
 * pz_context_stage_explain: the explain object (server/core/explain.h) on a response message that
 * belongs to this request alone; the request's hints then say it is not to be stored or
 * revalidated (Cache-Control: no-store, no ETag, no 304, no prepared body).
 *
 * Everything lives in the request's arena; one thread at a time per request.
 */
#ifndef PZ_CONTEXT_STAGE_H
#define PZ_CONTEXT_STAGE_H

#include <protobuf-c/protobuf-c.h>

#include "server/core/config.h"
#include "server/core/prepared.h"
#include "server/core/query.h"
#include "server/core/request.h"
#include "server/core/viewer.h"

typedef struct pz_context_stage pz_context_stage;

/* Resolves and merges into q (see above). Returns what the rules saw and resolved (for explain),
 * or NULL when no automatic field applies. */
pz_context_stage *pz_context_stage_run(const pz_viewer_env *env, const pz_config *config, const pz_variation *variation,
                                       pz_query *q, pz_request *req);

/* Sets `explain` on response (a RecommendationResponse or RerankResponse of this request) from q,
 * the stage's state (NULL: no automatic field applied) and the request's hints, and marks the
 * hints as above. */
void pz_context_stage_explain(const pz_context_stage *cs, const pz_query *q, const pz_variation *variation,
                              pz_request *req, ProtobufCMessage *response);

/* The message of a prepared response for q's action, unpacked into the arena (a cached answer
 * to be explained). */
ProtobufCMessage *pz_context_stage_unpack(const pz_query *q, const pz_prepared_response *res, pz_arena *arena);

#endif
