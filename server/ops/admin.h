/* The admin API's handlers (module prefix pz_admin): every AdminService RPC
 * (proto/personalization/v1/admin.proto), whichever admin front it came through (REST under /admin
 * on --admin-port, gRPC on --admin-grpc-port). A pz_handle_fn: the fronts hand it decoded request
 * messages and it completes them with response messages or errors, like the core's service.
 *
 * Operations may wait on disk (history files, catalog writes, the outbox) or parse a 16 MiB
 * document, so they run one at a time on the admin's own worker thread, never on a front's loop;
 * the fronts get the completion back through the usual contract (server/core/request.h).
 *
 * What it reaches:
 *   - configuration: the holder (active document, ordinary validated reloads for apply and
 *     rollback: pz_config_holder_apply, recorded in the history by the holder's listener) and the
 *     history (server/ops/config_store.h). Documents leave with secrets redacted, problems with
 *     URLs redacted (server/core/redact.h);
 *   - the response cache: its counters (a callback) and its purges (server/core/cache.h);
 *   - the catalog and the event outbox through the callbacks of pz_admin_catalog and
 *     pz_admin_events, which main.c fills from those packages (this package does not depend on
 *     them). Their JSON answers become google.protobuf.Struct messages.
 *
 * Admission: `admit` (when set) decides each request before anything runs; main.c sets the core's
 * pz_service_admit_admin, so under an `auth` policy every AdminService call needs the `admin`
 * scope (server/core/access.h), as the admin REST port's local rows do. Besides, the admin
 * listeners are protected by where they listen (loopback by default) and by refusing browsers (the
 * REST front's refuse_browsers).
 */
#ifndef PZ_ADMIN_H
#define PZ_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "server/core/buf.h"
#include "server/core/cache.h"
#include "server/core/config.h"
#include "server/core/request.h"
#include "server/core/status.h"
#include "server/ops/config_store.h"

/* The largest admin request body (a configuration document, or items to upsert). */
#define PZ_ADMIN_MAX_BODY_BYTES PZ_CONFIG_STORE_DOCUMENT_MAX
/* Requests waiting for the worker; more are refused with RESOURCE_EXHAUSTED. */
#define PZ_ADMIN_MAX_QUEUED 64
/* ListDeadLetters without a limit, and its most. */
#define PZ_ADMIN_DEFAULT_DEAD_LETTERS 100
#define PZ_ADMIN_MAX_DEAD_LETTERS 10000
/* A JSON answer of a back-end (stats, dead letters with their records) is at most this big. */
#define PZ_ADMIN_MAX_ANSWER_BYTES (64u << 20)

/* Back-end callbacks: each writes a JSON object to out and returns PZ_OK, or returns an error
 * status with a message in err (PZ_INVALID_ARGUMENT for bad input, PZ_NOT_FOUND for unknown
 * names, PZ_INTERNAL or PZ_UNAVAILABLE for storage failures). Called on the admin's worker. */
typedef struct pz_admin_catalog {
    void *ctx;
    pz_status (*status)(void *ctx, const char *ns, pz_buf *out, char *err, size_t errlen);
    pz_status (*upsert)(void *ctx, const char *ns, const char *jsonl, size_t len, pz_buf *out, char *err,
                        size_t errlen);
    pz_status (*remove)(void *ctx, const char *ns, const char *const *ids, size_t n, pz_buf *out, char *err,
                        size_t errlen);
} pz_admin_catalog;

typedef struct pz_admin_events {
    void *ctx;
    pz_status (*stats)(void *ctx, pz_buf *out, char *err, size_t errlen);
    /* {"deadLetters": [...]}; target NULL: every target */
    pz_status (*dead_letters)(void *ctx, const char *target, size_t limit, pz_buf *out, char *err, size_t errlen);
    /* {"requeued": N}; target NULL: every target (seq 0); seq 0: every dead letter of the target */
    pz_status (*replay)(void *ctx, const char *target, uint64_t seq, pz_buf *out, char *err, size_t errlen);
} pz_admin_events;

typedef struct pz_admin_options {
    pz_config_holder *config;                   /* required */
    pz_config_store *history;                   /* required */
    pz_cache *cache;                            /* may be NULL (no cache: purges purge nothing) */
    int (*cache_stats)(void *ctx, pz_buf *out); /* the response cache's counters as JSON; may be NULL */
    void *cache_stats_ctx;
    pz_admin_catalog catalog; /* zeroed callbacks answer UNAVAILABLE */
    pz_admin_events events;
    /* Admission: completes req exactly once, inline or on another thread, with PZ_OK and no
     * response (the request may run: it is then queued for the worker) or with the error to answer
     * (PZ_UNAUTHENTICATED, PZ_PERMISSION_DENIED, PZ_RESOURCE_EXHAUSTED). It sees req with the
     * admin's own completion in on_done/front_data and must leave them be. NULL: every request
     * runs. */
    void (*admit)(void *ctx, pz_request *req);
    void *admit_ctx;
} pz_admin_options;

typedef struct pz_admin pz_admin;

/* Starts the worker. Never NULL. */
pz_admin *pz_admin_create(const pz_admin_options *opts);
/* A pz_handle_fn (ctx: the pz_admin): queues the request for the worker. Any thread. */
void pz_admin_handle(void *admin, pz_request *req);
/* Stops accepting (later requests fail with UNAVAILABLE) and returns once every queued request is
 * answered. Call before stopping the admin fronts, as pz_service_shutdown for the public ones. */
void pz_admin_shutdown(pz_admin *a);
/* Stops the worker and frees. After pz_admin_shutdown and the fronts' stop. NULL is a no-op. */
void pz_admin_destroy(pz_admin *a);

#endif
