#include "server/core/prepared.h"

#include <stdlib.h>
#include <stdbool.h>
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
    for (size_t i = 0; i < PZ_PREPARED_MAX_VARIANTS; i++)
        atomic_init(&p->variants[i], NULL);
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

static atomic_ulong variants_encoded;

unsigned long pz_prepared_variants_encoded(void)
{
    return atomic_load_explicit(&variants_encoded, memory_order_relaxed);
}

const pz_prepared_variant *pz_prepared_variant_get(const pz_prepared_response *p, size_t slot, const char *coding,
                                                   pz_prepared_encode_fn encode, void *ctx)
{
    if (p->json == NULL || slot >= PZ_PREPARED_MAX_VARIANTS)
        return NULL;
    pz_prepared_response *mp = (pz_prepared_response *)p;
    pz_prepared_variant *v = atomic_load_explicit(&mp->variants[slot], memory_order_acquire);
    if (v != NULL)
        return v;
    atomic_fetch_add_explicit(&variants_encoded, 1, memory_order_relaxed);
    pz_buf out;
    pz_buf_init(&out, p->json_len); /* an encoding that does not fit is no smaller: not used */
    bool smaller = encode(ctx, p->json, p->json_len, &out) == 0 && out.len > 0 && out.len < p->json_len;
    v = pz_malloc(sizeof *v + (smaller ? out.len : 0));
    v->data = smaller ? memcpy(v + 1, out.data, out.len) : NULL;
    v->len = smaller ? out.len : 0;
    pz_etag_with_coding(p->etag, coding, v->etag);
    pz_buf_free(&out);
    pz_prepared_variant *expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(&mp->variants[slot], &expected, v, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        free(v); /* another thread kept its own first */
        return expected;
    }
    return v;
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
    pz_prepared_response *mp = (pz_prepared_response *)p;
    for (size_t i = 0; i < PZ_PREPARED_SLOTS; i++) {
        pz_prepared_front *f = atomic_load_explicit(&mp->fronts[i], memory_order_acquire);
        if (f != NULL)
            f->free(f);
    }
    for (size_t i = 0; i < PZ_PREPARED_MAX_VARIANTS; i++)
        free(atomic_load_explicit(&mp->variants[i], memory_order_acquire));
    free(mp);
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
