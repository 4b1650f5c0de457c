/* Decoration: item metadata on the items of an inference response (spec §5), after the
 * recommender answered and before the response is cached and sent. This module decides which
 * kind of metadata applies and hands the work to the backend registered for it; the backends live
 * with what they read (the LMDB catalog in server/catalog/, DynamoDB and Personalize in
 * server/recommenders/) and main.c registers them.
 *
 * Per request, unless decorateItems is false or there are no items (then nothing happens):
 *   1. the variation's inherited inferenceItemMetadata has type "personalize": Personalize returns
 *      the metadata with the recommendations (metadataColumns); its backend checks that the
 *      variation that served could do so;
 *   2. otherwise the namespace's inferenceItemMetadata decides (the sidecar types act at namespace
 *      level, spec §3.10/§3.12):
 *        - absent: no decoration;
 *        - "localdb": the namespace's catalog; with no localdb backend registered (no catalog in
 *          this process) the response is served undecorated, as upstream does with a missing file;
 *        - "dynamodb": BatchGetItem from the namespace's table.
 *   "personalize" or "dynamodb" without a backend fails with 501 / UNIMPLEMENTED, type
 *   "Configuration", code "ItemMetadataNotAvailable", and a message naming `localdb` as the
 *   working alternative: never a silent skip.
 *
 * A backend attaches `metadata` (a google.protobuf.Struct: a JSON object over REST) to the items it
 * finds, keeping order, scores and duplicates, then calls job->done(job, err) exactly once, inline
 * or from any thread, never blocking the caller. Until then it may allocate from job->arena.
 */
#ifndef PZ_DECORATE_H
#define PZ_DECORATE_H

#include <stddef.h>
#include <stdint.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/config.h"
#include "server/core/query.h"
#include "server/core/request.h"

/* The number of pz_item_metadata_type values (config.h): back-ends are registered per type. */
#define PZ_ITEM_METADATA__COUNT (PZ_ITEM_METADATA_DYNAMODB + 1)

typedef struct pz_decoration pz_decoration;

/* One item as a back-end's field reader read it (opaque to the core): kept by the rules so that
 * decoration reads each item of a request once. */
typedef struct pz_item_record {
    bool known;       /* false: not read (decoration reads the item itself) */
    bool found;       /* the back-end holds the item; data/len are its stored bytes (arena) */
    const void *data; /* NULL when not found */
    size_t len;
} pz_item_record;

/* What the rules read, aligned with the items of the response: items[i] for item i (the first n). */
typedef struct pz_item_records {
    const pz_item_record *items; /* NULL: nothing read */
    size_t n;
    uint64_t version; /* the back-end's version of what it read (the catalog's revision) */
} pz_item_records;

struct pz_decoration {
    const pz_query *query;
    const pz_variation *variation; /* the variation that served */
    const pz_item_metadata *im;    /* the block that selected the backend */
    Personalization__V1__PredictedItem *const *items;
    size_t n_items;
    /* optional: what the rules read for these items (aligned); a back-end that understands it
     * (localdb) uses it instead of reading them again */
    const pz_item_records *records;
    int64_t deadline_ms; /* the client's absolute deadline, 0 = none */
    pz_arena *arena;
    pz_upstream_timing *timing; /* where upstream calls account their time */
    void (*done)(pz_decoration *job, const pz_error *err);
    void *done_ctx; /* the caller's */
};

/* A metadata field's value as the post-ranking rules (server/core/rules.h) compare it. */
typedef enum pz_field_kind {
    PZ_FIELD_ABSENT = 0, /* the item is not in the catalog, or lacks the field */
    PZ_FIELD_STR,        /* a JSON string: text/len, unescaped */
    PZ_FIELD_NUM,        /* a JSON number: num */
    PZ_FIELD_OTHER,      /* true, false, null, an array or an object: text/len is its compact JSON */
} pz_field_kind;

typedef struct pz_field_value {
    pz_field_kind kind;
    const char *text; /* STR, OTHER: arena-owned, NUL-terminated */
    size_t len;
    double num;
} pz_field_value;

/* Reading top-level metadata fields of a list of items, for the rules: values[i * n_fields + f] is
 * field f of item ids[i], zeroed (ABSENT) when unknown. */
typedef struct pz_field_lookup {
    const char *ns;
    const char *const *ids;
    size_t n_ids;
    const char *const *fields;
    size_t n_fields;
    pz_field_value *values; /* n_ids * n_fields, zeroed by the caller */
    pz_arena *arena;
    /* optional, n_ids zeroed entries: filled with each item's stored bytes, and version with what
     * they were read from, for decoration to reuse (pz_decoration.records) */
    pz_item_record *records;
    uint64_t version;
} pz_field_lookup;

typedef struct pz_decorator_backend {
    void *self;
    void (*decorate)(void *self, pz_decoration *job);
    /* Optional: fills job->values inline (never waits on the network). Returns PZ_OK or an error
     * status with *err. Back-ends without it give the rules no fields. */
    pz_status (*fields)(void *self, pz_field_lookup *job, pz_error *err);
} pz_decorator_backend;

typedef struct pz_decorator pz_decorator;

/* An empty decorator (no backend: see above). Never NULL. */
pz_decorator *pz_decorator_create(void);
void pz_decorator_destroy(pz_decorator *d);
/* Registers the backend for one metadata type. Call before the decorator serves requests. */
void pz_decorator_set_backend(pz_decorator *d, pz_item_metadata_type type, const pz_decorator_backend *backend);

/* Decorates job->items as the top of this file says; job->im is set here. Completes through
 * job->done exactly once (inline for "nothing to do" and every error). Any thread; never blocks. */
void pz_decorate(pz_decorator *d, pz_decoration *job);

/* Reads metadata fields for the rules from the back-end of the namespace's inferenceItemMetadata
 * (the same choice as decoration, whatever decorateItems says): today the `localdb` catalog. With
 * no such back-end (no block, dynamodb, personalize) nothing is filled and PZ_OK is returned: the
 * rules then see only the metadata the recommender returned on the items. Inline; any thread. */
pz_status pz_decorator_fields(pz_decorator *d, const pz_query *q, pz_field_lookup *job, pz_error *err);

#endif
