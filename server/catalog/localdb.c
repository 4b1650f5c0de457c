#include "server/catalog/localdb.h"

#include <stdio.h>
#include <string.h>

#include "server/catalog/item_meta.h"
#include "server/core/log.h"

/* Whether every item has a record the rules read. */
static bool all_known(const pz_item_records *records, size_t n)
{
    if (records == NULL || records->items == NULL || records->n < n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!records->items[i].known)
            return false;
    return true;
}

pz_status pz_localdb_decorate(pz_catalog *catalog, const char *ns, Personalization__V1__PredictedItem *const *items,
                              size_t n, const pz_item_records *records, const char *const *columns, size_t n_columns,
                              pz_arena *arena, pz_error *err)
{
    char msg[512];
    /* Items the rules read come from their reading: no view when that is all of them (one read per
     * item per request). Otherwise a view, and the records only when they are of its revision:
     * every item of a response comes from one catalog revision. */
    bool reuse = all_known(records, n);
    pz_catalog_view view = {.info.present = reuse};
    if (!reuse) {
        if (pz_catalog_view_begin(catalog, ns, &view, msg, sizeof msg) != 0) {
            pz_error_log("decoration of namespace '%s' failed: %s", ns, msg);
            return pz_error_setf(err, arena, PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "ItemMetadataFailed", "%s", msg);
        }
        reuse =
            records != NULL && records->items != NULL && view.info.present && view.info.revision == records->version;
    }
    pz_status status = PZ_OK;
    for (size_t i = 0; view.info.present && i < n && status == PZ_OK; i++) {
        const char *id = items[i]->item_id;
        const void *value;
        size_t len;
        int found;
        const pz_item_record *r = reuse && i < records->n && records->items[i].known ? &records->items[i] : NULL;
        if (r != NULL) {
            found = r->found;
            value = r->data;
            len = r->len;
        } else {
            found = id != NULL ? pz_catalog_view_get(&view, id, strlen(id), &value, &len) : 0;
        }
        if (found == 1) {
            items[i]->metadata = pz_item_meta_to_struct(value, len, columns, n_columns, arena);
            if (items[i]->metadata != NULL)
                continue;
            snprintf(msg, sizeof msg, "the catalog of namespace '%s' holds a corrupt value for item '%s'", ns, id);
        } else if (found == 0) {
            continue;
        } else {
            snprintf(msg, sizeof msg, "cannot read the catalog of namespace '%s'", ns);
        }
        pz_error_log("decoration failed: %s", msg);
        status = pz_error_setf(err, arena, PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "ItemMetadataFailed", "%s", msg);
    }
    pz_catalog_view_end(&view);
    return status;
}

static void decorate(void *self, pz_decoration *job)
{
    pz_error err;
    pz_status s = pz_localdb_decorate(self, job->query->namespace_, job->items, job->n_items, job->records,
                                      job->im->item_columns, job->im->n_item_columns, job->arena, &err);
    job->done(job, s == PZ_OK ? NULL : &err);
}

pz_status pz_localdb_fields(pz_catalog *catalog, pz_field_lookup *job, pz_error *err)
{
    char msg[512];
    pz_catalog_view view;
    if (pz_catalog_view_begin(catalog, job->ns, &view, msg, sizeof msg) != 0) {
        pz_error_log("rules: reading the catalog of namespace '%s' failed: %s", job->ns, msg);
        return pz_error_setf(err, job->arena, PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "ItemMetadataFailed", "%s", msg);
    }
    job->version = view.info.revision;
    pz_status status = PZ_OK;
    for (size_t i = 0; view.info.present && i < job->n_ids && status == PZ_OK; i++) {
        const char *id = job->ids[i];
        const void *value;
        size_t len;
        int found = pz_catalog_view_get(&view, id, strlen(id), &value, &len);
        if (found == 1 && pz_item_meta_fields(value, len, job->fields, job->n_fields, &job->values[i * job->n_fields],
                                              job->arena) < 0)
            found = -2;
        if (found >= 0) {
            if (job->records != NULL && found == 1) { /* copied: decoration reads them after the view */
                void *copy = pz_arena_alloc(job->arena, len ? len : 1);
                memcpy(copy, value, len);
                job->records[i] = (pz_item_record){.known = true, .found = true, .data = copy, .len = len};
            } else if (job->records != NULL) {
                job->records[i] = (pz_item_record){.known = true};
            }
            continue;
        }
        snprintf(msg, sizeof msg,
                 found == -2 ? "the catalog of namespace '%s' holds a corrupt value for item '%s'"
                             : "cannot read the catalog of namespace '%s' (item '%s')",
                 job->ns, id);
        pz_error_log("rules: %s", msg);
        status = pz_error_setf(err, job->arena, PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "ItemMetadataFailed", "%s", msg);
    }
    pz_catalog_view_end(&view);
    return status;
}

static pz_status fields(void *self, pz_field_lookup *job, pz_error *err)
{
    return pz_localdb_fields(self, job, err);
}

pz_decorator_backend pz_localdb_backend(pz_catalog *catalog)
{
    return (pz_decorator_backend){.self = catalog, .decorate = decorate, .fields = fields};
}
