/* The response cache policy and store: which responses are cacheable and for how long, the key
 * that identifies a response, prepared responses (packed protobuf, JSON, ETag) and the in-process
 * cache (server/core/cache.h) behind them. It answers "key + policy -> hit / stale / miss / wait"
 * and stores prepared bytes; it starts nothing: the inference sequencer
 * (server/core/inference.h) decides what happens on each outcome, including the background
 * refresh of a stale entry.
 *
 * What is cacheable (spec §4.1, §4.4): a GET-style inference whose cache class (see
 * pz_cache_class) has maxAge > 0. Those responses, and only those, get a strong content ETag and
 * honour If-None-Match; the in-process cache keeps them for maxAge seconds.
 *
 * Privacy rule: the key contains the user id (and everything else that changes a response, see
 * build_key in response_cache.c), so a user's response is only ever served to requests naming
 * that same user, whatever the policy's directives say (`private` or `public`). A shared cache
 * outside the process (CDN, browser) is governed by the Cache-Control directives the
 * configuration sets. Automatic context enters the key as the values it resolved to (the query's
 * context and filterValues after the sequencer's context stage), never as raw headers: requests
 * whose headers resolve alike share an entry. The headers it consulted are sent as `Vary`
 * (req->hints.vary) for caches outside the process.
 *
 * Staleness windows per class: `staleWhileRevalidate` (default PZ_DEFAULT_STALE_WHILE_REVALIDATE:
 * the class's maxAge) and `staleIfError` (default PZ_DEFAULT_STALE_IF_ERROR_S). Explicit values
 * are also appended to Cache-Control as `stale-while-revalidate=N` / `stale-if-error=N`; the
 * defaults only govern the in-process cache. A stale entry within stale-while-revalidate is
 * served at once while one background refresh replaces it. Within stale-if-error it is served
 * only when the new call fails with a server-side error (500, 502, 503, 504).
 *
 * Invalidation: an accepted event for user U makes U's entries in its namespace stale
 * (pz_response_cache_purge_user, called by the events handler); a configuration reload drops
 * every entry (the snapshot generation is in the key); a catalog change calls
 * pz_cache_purge_namespace on the pz_cache (decorated responses depend on the catalog).
 *
 * Threads: any. Outcomes are counted in pz_cache stats plus the counters here.
 */
#ifndef PZ_RESPONSE_CACHE_H
#define PZ_RESPONSE_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "server/core/buf.h"
#include "server/core/cache.h"
#include "server/core/metrics.h"
#include "server/core/query.h"
#include "server/core/request.h"

/* stale-while-revalidate when a class does not set it: its maxAge (so an entry is at most
 * 2 x maxAge old, and only while its refresh runs). */
#define PZ_DEFAULT_STALE_WHILE_REVALIDATE (-1)
#define PZ_DEFAULT_STALE_IF_ERROR_S 300
/* A request whose key would be larger is answered uncached ("bypass"). */
#define PZ_RESPONSE_CACHE_MAX_KEY_BYTES (256u * 1024)
/* A response whose JSON body would be larger is not stored (and a REST front answers 500). */
#define PZ_RESPONSE_CACHE_MAX_JSON_BYTES (16u << 20)

/* ---- policy (pure) ---- */

/* The cache class (spec §4.1) of query q under variation v's inherited cacheControl:
 * noUserSpecified without a user, syntheticUserSpecified with a synthetic user, userSpecified
 * otherwise. NULL when the configuration sets no such class. */
const pz_cache_policy *pz_cache_class(const pz_query *q, const pz_variation *v);

/* True when responses of class p are cached and validated (maxAge > 0). p may be NULL. */
bool pz_cache_class_cacheable(const pz_cache_policy *p);

/* The freshness windows of class p (which must be cacheable). */
pz_cache_ttl pz_cache_class_ttl(const pz_cache_policy *p);

/* The Cache-Control header value for class p (pz_cache_policy.header, rendered at load); NULL
 * means no header (p NULL, or no directives and no max-age). */
const char *pz_cache_control_value(const pz_cache_policy *p);

/* RFC 5861: stale-if-error covers 500, 502, 503 and 504. */
bool pz_cache_stale_if_error_applies(pz_status s);

/* ---- the cache ---- */

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
void pz_response_cache_destroy(pz_response_cache *rc);

/* The response cache's clock (the injected one in tests). */
int64_t pz_response_cache_now(const pz_response_cache *rc);

/* What identifies a response besides the query: the variation chosen, the query parameters named
 * in `params` (their values are in the key) and the configuration generation. */
typedef struct pz_response_key {
    const pz_query *query;
    const char *variation_key;
    const char *const *params; /* query parameters the variation reads (an http URL's), or NULL */
    size_t n_params;
    unsigned long long generation;
} pz_response_key;

/* Looks a cacheable response up. Outcomes (cache.h pz_cache_result):
 *   HIT    *found is a fresh response (a reference the caller owns);
 *   STALE  *found is within stale-while-revalidate (a reference); *flight non-NULL when the caller
 *          must refresh it (run the call and finish the flight);
 *   MISS   *flight non-NULL when the caller leads the call and must finish the flight with
 *          pz_response_cache_complete / _fail / _abandon; NULL: call uncoalesced, nothing stored
 *          (also when there is no cache, no renderer, or the key is too large: *outcome says);
 *   WAIT   queued behind an identical call in progress: w->ready runs once, maybe already did,
 *          on the thread that finishes it; the caller must not touch what owns w again.
 * *outcome is the access-log word: "hit", "stale", "miss", "bypass", or NULL when there is no
 * cache. Key bytes are built in `arena`. */
pz_cache_result pz_response_cache_lookup(pz_response_cache *rc, const pz_response_key *key, pz_arena *arena,
                                         pz_cache_waiter *w, const pz_prepared_response **found,
                                         pz_cache_flight **flight, const char **outcome);

/* Packs msg and renders its JSON once (left out when it crosses PZ_RESPONSE_CACHE_MAX_JSON_BYTES
 * or there is no renderer). Returns a new prepared response with one reference. */
pz_prepared_response *pz_response_cache_prepare(pz_response_cache *rc, const ProtobufCMessage *msg);

/* Finishes a flight with res (borrowed): stored for ttl when keep and res has JSON (a hit must be
 * sendable by both fronts), handed to every waiter either way. */
void pz_response_cache_complete(pz_response_cache *rc, pz_cache_flight *flight, const pz_prepared_response *res,
                                const pz_cache_ttl *ttl, bool keep);

/* Finishes a flight whose call failed with err. Returns a stale entry (a reference) when
 * stale-if-error applies and one is there, which every waiter gets too; else NULL and every waiter
 * gets err. */
const pz_prepared_response *pz_response_cache_fail(pz_response_cache *rc, pz_cache_flight *flight, const pz_error *err);

/* Finishes a flight whose call ended without an answer for it (its request was completed some
 * other way): the waiters get 500 CoalescedCallFailed and the key is free again. */
void pz_response_cache_abandon(pz_response_cache *rc, pz_cache_flight *flight);

/* If-None-Match (RFC 9110 weak comparison, lists, "*") against etag; counts the matches. NULL
 * if_none_match never matches. */
bool pz_response_cache_not_modified(pz_response_cache *rc, const char *if_none_match, const char *etag);

/* Counts a background refresh whose call failed. */
void pz_response_cache_refresh_failed(pz_response_cache *rc);

/* An accepted event for (ns, user): the user's entries are stale from now on. rc may be NULL. */
void pz_response_cache_purge_user(pz_response_cache *rc, const char *ns, const char *user);

/* Appends the counters as a JSON object (GET /admin/cache/stats). Returns 0 or -1 (cap). */
int pz_response_cache_stats_json(pz_response_cache *rc, pz_buf *out);
/* Writes the same counters as metrics (server/core/metrics.h): pz_cache_lookups_total{outcome},
 * stores, evictions, purges, refreshes, 304s, and the entries and bytes held. Any thread. */
void pz_response_cache_collect_metrics(pz_response_cache *rc, pz_metrics_writer *w);

#endif
