#include "server/core/decorate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/item_meta.h"
#include "server/core/log.h"

struct pz_decorator {
    pz_catalog *catalog;
    pz_decorator_backend backends[3]; /* by pz_item_metadata_type; localdb's slot is unused */
};

pz_decorator *pz_decorator_create(pz_catalog *catalog)
{
    pz_decorator *d = pz_calloc(1, sizeof *d);
    d->catalog = catalog;
    return d;
}

void pz_decorator_destroy(pz_decorator *d)
{
    free(d);
}

void pz_decorator_set_backend(pz_decorator *d, pz_item_metadata_type type, const pz_decorator_backend *backend)
{
    if (type != PZ_ITEM_METADATA_LOCALDB && (unsigned)type < sizeof d->backends / sizeof d->backends[0])
        d->backends[type] = *backend;
}

static pz_status set_error(pz_error *err, pz_arena *arena, pz_status status, const char *type, const char *code,
                           const char *message)
{
    *err = (pz_error){status, type, code, pz_arena_strdup(arena, message)};
    return status;
}

pz_status pz_decorate_from_catalog(pz_catalog *catalog, const char *ns,
                                   Personalization__V1__PredictedItem *const *items, size_t n,
                                   const char *const *columns, size_t n_columns, pz_arena *arena, pz_error *err)
{
    char msg[512];
    pz_catalog_view view;
    if (pz_catalog_view_begin(catalog, ns, &view, msg, sizeof msg) != 0) {
        pz_error_log("decoration of namespace '%s' failed: %s", ns, msg);
        return set_error(err, arena, PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "ItemMetadataFailed", msg);
    }
    pz_status status = PZ_OK;
    for (size_t i = 0; view.info.present && i < n && status == PZ_OK; i++) {
        const char *id = items[i]->item_id;
        const void *value;
        size_t len;
        int found = id != NULL ? pz_catalog_view_get(&view, id, strlen(id), &value, &len) : 0;
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
        status = set_error(err, arena, PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "ItemMetadataFailed", msg);
    }
    pz_catalog_view_end(&view);
    return status;
}

/* Fails inf for a metadata type whose backend is not built yet. */
static void not_available(pz_inference *inf, const char *type_name, const char *where)
{
    pz_arena *arena = inf->req->arena;
    pz_error e = {PZ_UNIMPLEMENTED, PZ_ERRTYPE_CONFIGURATION, "ItemMetadataNotAvailable",
                  pz_arena_printf(arena,
                                  "%s decorates items with inferenceItemMetadata type '%s', which this server does "
                                  "not serve yet; use type 'localdb' in namespace '%s' (load items with "
                                  "`personalization-server load-items`), or send decorateItems=false",
                                  where, type_name, inf->namespace_)};
    pz_inference_decorated(inf, &e);
}

static void run_backend(pz_decorator *d, pz_inference *inf, const pz_item_metadata *im, const char *type_name,
                        const char *where)
{
    const pz_decorator_backend *b = d != NULL ? &d->backends[im->type] : NULL;
    if (b == NULL || b->decorate == NULL) {
        not_available(inf, type_name, where);
        return;
    }
    b->decorate(b->ctx, inf, im);
}

void pz_decorate(pz_decorator *d, pz_inference *inf)
{
    if (!inf->decorate_items || inf->n_response_items == 0) {
        pz_inference_decorated(inf, NULL);
        return;
    }
    pz_arena *arena = inf->req->arena;
    const pz_item_metadata *own = inf->variation != NULL ? inf->variation->item_metadata_view : NULL;
    if (own != NULL && own->type == PZ_ITEM_METADATA_PERSONALIZE) {
        run_backend(
            d, inf, own, "personalize",
            pz_arena_printf(arena, "variation '%s' of recommender '%s'", inf->variation->key, inf->recommender_key));
        return;
    }
    const pz_item_metadata *im = inf->ns != NULL ? inf->ns->item_metadata_view : NULL;
    if (im == NULL) {
        pz_inference_decorated(inf, NULL);
        return;
    }
    if (im->type == PZ_ITEM_METADATA_DYNAMODB) {
        run_backend(d, inf, im, "dynamodb", pz_arena_printf(arena, "namespace '%s'", inf->namespace_));
        return;
    }
    /* A namespace-level "personalize" overridden below by a sidecar type has no sidecar here. */
    if (im->type != PZ_ITEM_METADATA_LOCALDB || d == NULL || d->catalog == NULL) {
        pz_inference_decorated(inf, NULL);
        return;
    }
    pz_error err;
    pz_status s = pz_decorate_from_catalog(d->catalog, inf->namespace_, inf->response_items, inf->n_response_items,
                                           im->item_columns, im->n_item_columns, arena, &err);
    pz_inference_decorated(inf, s == PZ_OK ? NULL : &err);
}
