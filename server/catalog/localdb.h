/* The `localdb` item metadata back-end (server/core/decorate.h): decorates a response's items
 * from the namespace's LMDB catalog (catalog.h), in this process, inline.
 *
 * Each item found in the catalog gets `metadata` (a google.protobuf.Struct: a JSON object over
 * REST): the stored item without its id, in the order of the loaded line, limited to the namespace
 * block's `itemColumns` when given. Items not in the catalog keep their place and get no
 * `metadata`; order, scores and duplicates are untouched (a duplicated id is decorated at every
 * position). A namespace with no catalog loaded yet is served undecorated (as upstream with a
 * missing DBM file). All reads of one response come from one catalog generation. No JSON is
 * parsed: values are stored prepared (item_meta.h).
 */
#ifndef PZ_LOCALDB_H
#define PZ_LOCALDB_H

#include <stddef.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/catalog/catalog.h"
#include "server/core/decorate.h"

/* The back-end over catalog (not owned; it must outlive the service). */
pz_decorator_backend pz_localdb_backend(pz_catalog *catalog);

/* The decoration step alone: decorates items[0..n) from the catalog of namespace ns, keeping only
 * the top-level keys in columns[0..n_columns) when columns is not NULL. Metadata is built in the
 * arena. records (may be NULL): what the rules' field reader (pz_localdb_fields) read of these
 * items, aligned with them: when every item has one, no view is opened and the catalog is not read
 * again (the response shows what the rules ranked on); otherwise they are used only when the view
 * is of the revision they were read from, so a response's items always come from one revision.
 * Returns PZ_OK, or an error status with *err filled (catalog read failure, corrupt value); items
 * may then be partly decorated. Any thread. */
pz_status pz_localdb_decorate(pz_catalog *catalog, const char *ns, Personalization__V1__PredictedItem *const *items,
                              size_t n, const pz_item_records *records, const char *const *columns, size_t n_columns,
                              pz_arena *arena, pz_error *err);

/* The field reader of the back-end (pz_decorator_backend.fields) for the post-ranking rules: fills
 * job->values from the catalog of job->ns in one view, and job->records (when given) with a copy
 * of each item's stored value and job->version with the catalog's revision, for decoration to
 * reuse. Returns PZ_OK, or an error status with *err (catalog read failure, corrupt value). Any
 * thread. */
pz_status pz_localdb_fields(pz_catalog *catalog, pz_field_lookup *job, pz_error *err);

#endif
