/* The response cache stage of the inference pipeline (server/core/inference.h): cache policy,
 * validators (ETag, If-None-Match) and the in-process cache (server/core/cache.h) around the
 * recommender call.
 *
 * What is cacheable (spec §4.1, §4.4): a GET-style inference whose selected cache class
 * (noUserSpecified without a user, syntheticUserSpecified with a synthetic user, userSpecified
 * otherwise) has maxAge > 0. Those responses, and only those, get a strong content ETag and
 * honour If-None-Match; the in-process cache keeps them for maxAge seconds.
 *
 * Privacy rule: the cache key contains the user id (and everything else that changes a response,
 * see build_key in response_cache.c), so a user's response is only ever served to requests
 * naming that same user, whatever the policy's directives say (`private` or `public`). A shared
 * cache outside the process (CDN, browser) is governed by the Cache-Control directives the
 * configuration sets; headers consulted by automatic context are in the key and listed in `Vary`
 * (req->hints.vary).
 *
 * Staleness windows per class: `staleWhileRevalidate` (default PZ_DEFAULT_STALE_WHILE_REVALIDATE:
 * the class's maxAge) and `staleIfError` (default PZ_DEFAULT_STALE_IF_ERROR_S). Explicit values
 * are also appended to Cache-Control as `stale-while-revalidate=N` / `stale-if-error=N`; the
 * defaults only govern the in-process cache. A stale entry within stale-while-revalidate is
 * served at once while one background refresh (a copy of the request, run through the same
 * pipeline) replaces it. Within stale-if-error it is served only when the new call fails with a
 * server-side error (500, 502, 503, 504).
 *
 * Invalidation: an accepted event for user U makes U's entries in its namespace stale
 * (pz_response_cache_purge_user, called by the events handler); a configuration reload drops
 * every entry (the snapshot generation is in the key); a catalog reload should call
 * pz_cache_purge_namespace on the pz_cache (decorated responses depend on the catalog).
 *
 * Threads: any. Outcomes are counted in pz_cache stats plus the counters here, and recorded per
 * request in req->hints.cache for the access log.
 */
#ifndef PZ_RESPONSE_CACHE_H
#define PZ_RESPONSE_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "server/core/buf.h"
#include "server/core/cache.h"
#include "server/core/inference.h"

/* stale-while-revalidate when a class does not set it: its maxAge (so an entry is at most
 * 2 x maxAge old, and only while its refresh runs). */
#define PZ_DEFAULT_STALE_WHILE_REVALIDATE (-1)
#define PZ_DEFAULT_STALE_IF_ERROR_S 300
/* A request whose key would be larger is answered uncached ("bypass"). */
#define PZ_RESPONSE_CACHE_MAX_KEY_BYTES (256u * 1024)
/* A response whose JSON body would be larger is not stored (and a REST front answers 500). */
#define PZ_RESPONSE_CACHE_MAX_JSON_BYTES (16u << 20)

/* Renders a response message as the REST JSON body (gateway/transcode.h pz_message_to_json
 * fits). Returns 0, or -1 when out's cap is exceeded. */
typedef int (*pz_render_json_fn)(const ProtobufCMessage *msg, pz_buf *out);

typedef struct pz_response_cache pz_response_cache;

typedef struct pz_response_cache_options {
    pz_cache *cache;               /* the in-process cache, not owned; NULL = none (ETags, 304s and
                                    * not_modified still work) */
    pz_render_json_fn render_json; /* required for storing: a cache hit is sent as prepared bytes,
                                    * so the JSON is rendered once when the response is made */
    int64_t (*now_ms)(void);       /* wall clock in ms; NULL = pz_now_ms */
} pz_response_cache_options;

/* Never NULL. */
pz_response_cache *pz_response_cache_create(const pz_response_cache_options *opts);
/* Waits until background refreshes in progress have completed, then frees. */
void pz_response_cache_destroy(pz_response_cache *rc);

/* Pipeline stage after resolve (inf->variation chosen, hints set). Returns true when it took the
 * request over: answered from the cache (fresh or stale), or queued behind an identical call in
 * progress, in which case it is completed, maybe on another thread, when that call finishes.
 * Returns false when the caller must call the recommender; the outcome then goes to
 * pz_response_cache_store or pz_response_cache_failed. rc may be NULL (nothing cached). */
bool pz_response_cache_lookup(pz_response_cache *rc, pz_inference *inf);

/* Pipeline stage after the response is built and decorated (inf->response): prepares it (packed
 * protobuf, JSON, ETag) into req->prepared and hints.etag, stores it and answers the calls queued
 * on it, and applies If-None-Match (hints.not_modified; inf->response becomes the empty
 * not_modified message). No-op for uncacheable responses. The caller completes the request. */
void pz_response_cache_store(pz_inference *inf);

/* The recommender failed with err. Returns true when a stale entry answered the request
 * (stale-if-error: the request is completed); false when the caller must complete it with err.
 * Calls queued on this one are answered either way. */
bool pz_response_cache_failed(pz_inference *inf, const pz_error *err);

/* An accepted event for (ns, user): the user's entries are stale from now on. rc may be NULL. */
void pz_response_cache_purge_user(pz_response_cache *rc, const char *ns, const char *user);

/* Appends the counters as a JSON object (GET /admin/cache/stats). Returns 0 or -1 (cap). */
int pz_response_cache_stats_json(pz_response_cache *rc, pz_buf *out);

#endif
