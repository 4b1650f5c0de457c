#include "server/core/prepared.h"

#include <stdlib.h>
#include <string.h>

pz_prepared_response *pz_prepared_create(const uint8_t *protobuf, size_t protobuf_len, const char *json,
                                         size_t json_len)
{
    size_t bytes = sizeof(pz_prepared_response) + protobuf_len + (json != NULL ? json_len + 1 : 0);
    pz_prepared_response *p = pz_malloc(bytes);
    unsigned char *data = (unsigned char *)(p + 1);
    memcpy(data, protobuf, protobuf_len);
    p->protobuf = data;
    p->protobuf_len = protobuf_len;
    p->json = NULL;
    p->json_len = 0;
    if (json != NULL) {
        char *j = (char *)data + protobuf_len;
        memcpy(j, json, json_len);
        j[json_len] = '\0';
        p->json = j;
        p->json_len = json_len;
    }
    pz_etag_of(data, protobuf_len, p->etag);
    p->bytes = bytes;
    atomic_init(&p->refs, 1);
    for (size_t i = 0; i < PZ_PREPARED_SLOTS; i++)
        atomic_init(&p->fronts[i], NULL);
    return p;
}

pz_prepared_front *pz_prepared_front_get(const pz_prepared_response *p, pz_prepared_slot slot)
{
    return atomic_load_explicit(&((pz_prepared_response *)p)->fronts[slot], memory_order_acquire);
}

pz_prepared_front *pz_prepared_front_set(const pz_prepared_response *p, pz_prepared_slot slot, pz_prepared_front *f)
{
    pz_prepared_front *none = NULL;
    if (atomic_compare_exchange_strong_explicit(&((pz_prepared_response *)p)->fronts[slot], &none, f,
                                                memory_order_acq_rel, memory_order_acquire))
        return f;
    f->free(f); /* another thread attached its own first */
    return none;
}

const pz_prepared_response *pz_prepared_ref(const pz_prepared_response *p)
{
    atomic_fetch_add_explicit(&((pz_prepared_response *)p)->refs, 1, memory_order_relaxed);
    return p;
}

void pz_prepared_unref(const pz_prepared_response *p)
{
    if (p == NULL || atomic_fetch_sub_explicit(&((pz_prepared_response *)p)->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < PZ_PREPARED_SLOTS; i++) {
        pz_prepared_front *f = atomic_load_explicit(&((pz_prepared_response *)p)->fronts[i], memory_order_acquire);
        if (f != NULL)
            f->free(f);
    }
    free((void *)p);
}

static void unref_deferred(void *p)
{
    pz_prepared_unref(p);
}

const pz_prepared_response *pz_prepared_attach(const pz_prepared_response *p, pz_arena *arena)
{
    pz_arena_defer(arena, unref_deferred, (void *)p);
    return p;
}
