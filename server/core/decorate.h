/* Decoration: item metadata on the items of an inference response (spec §5), after the
 * recommender answered and before the response is cached and sent (server/core/inference.h).
 *
 * Per request, unless decorateItems is false (then nothing happens):
 *   1. the variation's inherited inferenceItemMetadata has type "personalize": Personalize returns
 *      the metadata with the recommendations (metadataColumns). That needs a backend registered
 *      for PZ_ITEM_METADATA_PERSONALIZE (issue #6); without one the request fails.
 *   2. otherwise the namespace's inferenceItemMetadata decides (the sidecar types act at namespace
 *      level, spec §3.10/§3.12):
 *        - absent: no decoration;
 *        - "localdb": the namespace's catalog (server/core/catalog.h), in this process, inline;
 *        - "dynamodb": a backend registered for PZ_ITEM_METADATA_DYNAMODB (issue #6: BatchGetItem);
 *          without one the request fails.
 *   A type without a backend fails with 501 / UNIMPLEMENTED, type "Configuration", code
 *   "ItemMetadataNotAvailable", and a message naming `localdb` as the working alternative: never a
 *   silent skip.
 *
 * localdb: each item of inf->response_items found in the catalog gets `metadata` (a
 * google.protobuf.Struct: a JSON object over REST): the stored item without its id, in the order
 * of the loaded line, limited to the namespace block's `itemColumns` when given. Items not in the
 * catalog keep their place and get no `metadata`; order, scores and duplicates are untouched
 * (a duplicated id is decorated at every position). A namespace with no catalog loaded yet is
 * served undecorated (as upstream with a missing DBM file). All reads of one response come from
 * one catalog generation. No JSON is parsed: values are stored prepared (server/core/item_meta.h).
 */
#ifndef PZ_DECORATE_H
#define PZ_DECORATE_H

#include <stddef.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/catalog.h"
#include "server/core/config.h"
#include "server/core/inference.h"

typedef struct pz_decorator pz_decorator;

/* A decoration backend for a type served elsewhere (issue #6). `decorate` attaches metadata to
 * inf->response_items as `im` (the view that selected the type) says, then calls
 * pz_inference_decorated(inf, err) exactly once, inline or from any thread, never blocking. */
typedef struct pz_decorator_backend {
    void (*decorate)(void *ctx, pz_inference *inf, const pz_item_metadata *im);
    void *ctx;
} pz_decorator_backend;

/* catalog: the localdb catalog (not owned; NULL: localdb namespaces are served undecorated).
 * Never NULL. */
pz_decorator *pz_decorator_create(pz_catalog *catalog);
void pz_decorator_destroy(pz_decorator *d);
/* Registers the backend of a remote type (PZ_ITEM_METADATA_DYNAMODB or _PERSONALIZE; localdb is
 * built in). Call before the decorator serves requests. */
void pz_decorator_set_backend(pz_decorator *d, pz_item_metadata_type type, const pz_decorator_backend *backend);

/* Decorates inf's response (see the top of this file), then calls pz_inference_decorated(inf,
 * err) exactly once: inline for localdb and every error. Any thread; never blocks. */
void pz_decorate(pz_decorator *d, pz_inference *inf);

/* The localdb step alone: decorates items[0..n) from the catalog of namespace ns, keeping only
 * the top-level keys in columns[0..n_columns) when columns is not NULL. Metadata is built in the
 * arena. Returns PZ_OK, or an error status with *err filled (catalog read failure, corrupt value);
 * items may then be partly decorated. Any thread. */
pz_status pz_decorate_from_catalog(pz_catalog *catalog, const char *ns,
                                   Personalization__V1__PredictedItem *const *items, size_t n,
                                   const char *const *columns, size_t n_columns, pz_arena *arena, pz_error *err);

#endif
