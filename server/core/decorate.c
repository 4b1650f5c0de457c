#include "server/core/decorate.h"

#include <stdlib.h>

#include "server/core/mem.h"

/* Metadata type names as the configuration spells them, for messages. */
static const char *const TYPE_NAMES[PZ_ITEM_METADATA__COUNT] = {
    [PZ_ITEM_METADATA_PERSONALIZE] = "personalize",
    [PZ_ITEM_METADATA_LOCALDB] = "localdb",
    [PZ_ITEM_METADATA_DYNAMODB] = "dynamodb",
};

struct pz_decorator {
    pz_decorator_backend backends[PZ_ITEM_METADATA__COUNT];
};

pz_decorator *pz_decorator_create(void)
{
    return pz_calloc(1, sizeof(pz_decorator));
}

void pz_decorator_destroy(pz_decorator *d)
{
    free(d);
}

void pz_decorator_set_backend(pz_decorator *d, pz_item_metadata_type type, const pz_decorator_backend *backend)
{
    if ((unsigned)type < PZ_ITEM_METADATA__COUNT)
        d->backends[type] = *backend;
}

/* Fails the job for a metadata type no backend serves. */
static void not_available(pz_decoration *job, const char *where)
{
    const pz_query *q = job->query;
    pz_error e;
    pz_error_setf(&e, job->arena, PZ_UNIMPLEMENTED, PZ_ERRTYPE_CONFIGURATION, "ItemMetadataNotAvailable",
                  "%s decorates items with inferenceItemMetadata type '%s', which this server does not serve yet; use "
                  "type 'localdb' in namespace '%s' (load items with `personalization-server load-items`), or send "
                  "decorateItems=false",
                  where, TYPE_NAMES[job->im->type], q->namespace_);
    job->done(job, &e);
}

/* Which metadata block applies, and how to name it in messages; NULL when nothing applies. */
static const pz_item_metadata *select_block(const pz_decoration *job, const char **where)
{
    const pz_query *q = job->query;
    const pz_item_metadata *own = job->variation != NULL ? job->variation->item_metadata_view : NULL;
    if (own != NULL && own->type == PZ_ITEM_METADATA_PERSONALIZE) {
        *where =
            pz_arena_printf(job->arena, "variation '%s' of recommender '%s'", job->variation->key, q->recommender_key);
        return own;
    }
    const pz_item_metadata *im = q->ns != NULL ? q->ns->item_metadata_view : NULL;
    /* A namespace-level "personalize" overridden below by a sidecar type has no sidecar here. */
    if (im == NULL || im->type == PZ_ITEM_METADATA_PERSONALIZE)
        return NULL;
    *where = pz_arena_printf(job->arena, "namespace '%s'", q->namespace_);
    return im;
}

void pz_decorate(pz_decorator *d, pz_decoration *job)
{
    const char *where = NULL;
    const pz_item_metadata *im = job->query->decorate_items && job->n_items > 0 ? select_block(job, &where) : NULL;
    if (im == NULL) {
        job->done(job, NULL);
        return;
    }
    job->im = im;
    const pz_decorator_backend *b = &d->backends[im->type];
    if (b->decorate != NULL) {
        b->decorate(b->self, job);
        return;
    }
    if (im->type == PZ_ITEM_METADATA_LOCALDB) { /* no catalog in this process: served undecorated */
        job->done(job, NULL);
        return;
    }
    not_available(job, where);
}

pz_status pz_decorator_fields(pz_decorator *d, const pz_query *q, pz_field_lookup *job, pz_error *err)
{
    const pz_item_metadata *im = q->ns != NULL ? q->ns->item_metadata_view : NULL;
    if (im == NULL || job->n_ids == 0 || job->n_fields == 0)
        return PZ_OK;
    const pz_decorator_backend *b = &d->backends[im->type];
    return b->fields != NULL ? b->fields(b->self, job, err) : PZ_OK;
}
