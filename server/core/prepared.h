/* A prepared response: a finished inference response in the forms the fronts send, made once and
 * shared by reference count between the response cache and every request it answers.
 *
 *   protobuf   the packed response message (what a gRPC front sends, no re-encoding)
 *   json       the same message rendered as the REST body (NULL when it was not rendered)
 *   etag       the strong, quoted, content-derived ETag of the protobuf bytes (server/core/etag.h)
 *   variants   the JSON body in content codings (gzip, br), each made at most once, by the first
 *              request that wants it (pz_prepared_variant), then kept with the response: a cache
 *              hit never compresses, and neither misses nor gRPC calls pay for codings nobody
 *              asked for. The codings are the front's business (gateway/compress.h); the core
 *              only keeps their bytes, in slots the front numbers.
 *
 * Immutable once created, except that each variant slot and each front slot is filled at most once
 * (atomically). Any thread may ref/unref; the last unref frees it, its variants and its fronts' forms.
 *
 * A front may keep its own wire form of the response with it (the gRPC front: the body as a grpc
 * slice and the response metadata, made at its first send and reused by every later one): a
 * pz_prepared_front in the front's slot, set once, freed with the response. Not counted in
 * `bytes`.
 */
#ifndef PZ_PREPARED_H
#define PZ_PREPARED_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/buf.h"
#include "server/core/etag.h"
#include "server/core/mem.h"

/* A front's wire form of a prepared response; `free` releases it when the response is freed. */
typedef struct pz_prepared_front pz_prepared_front;
struct pz_prepared_front {
    void (*free)(pz_prepared_front *self);
};

/* The fronts' slots. */
typedef enum pz_prepared_slot { PZ_PREPARED_SLOT_GRPC, PZ_PREPARED_SLOTS } pz_prepared_slot;

/* Variant slots per response (content codings a front may keep). */
#define PZ_PREPARED_MAX_VARIANTS 4

/* The JSON body in one content coding. */
typedef struct pz_prepared_variant {
    const uint8_t *data; /* NULL when the coding did not make the body smaller: send it as it is */
    size_t len;
    char etag[PZ_ETAG_CODING_SIZE]; /* the response's ETag with the coding (pz_etag_with_coding) */
} pz_prepared_variant;

typedef struct pz_prepared_response {
    const uint8_t *protobuf;
    size_t protobuf_len;
    const char *json; /* NUL-terminated; NULL when not rendered */
    size_t json_len;
    char etag[PZ_ETAG_SIZE];
    size_t bytes;     /* total allocation at creation, for cache accounting (variants come later
                       * and are not counted: each is smaller than the JSON it encodes) */
    atomic_long refs; /* use pz_prepared_ref/unref */
    _Atomic(pz_prepared_front *) fronts[PZ_PREPARED_SLOTS];
    _Atomic(pz_prepared_variant *) variants[PZ_PREPARED_MAX_VARIANTS]; /* use pz_prepared_variant */
} pz_prepared_response;

/* Encodes in[0..len) into out (a content coding). Returns 0, or -1 on failure. */
typedef int (*pz_prepared_encode_fn)(void *ctx, const char *in, size_t len, pz_buf *out);

/* The JSON body of p in the content coding `coding` (e.g. "gzip"), kept in variant `slot` (the
 * caller's fixed number for that coding, < PZ_PREPARED_MAX_VARIANTS): encoded by `encode` (its
 * output capped at the body's length) on the first call, returned as kept on every later one; an
 * encoding that fails or is not smaller is kept as data NULL (send the body as it is). Any thread:
 * concurrent first calls may both encode; one result is kept, the other freed. NULL when p has no
 * JSON or slot is out of range. */
const pz_prepared_variant *pz_prepared_variant_get(const pz_prepared_response *p, size_t slot, const char *coding,
                                                   pz_prepared_encode_fn encode, void *ctx);

/* Variants encoded since the process started (kept or not): the work a cache hit must not do
 * again, for the cache stats. */
unsigned long pz_prepared_variants_encoded(void);

/* Copies the packed message and the JSON body (json may be NULL) into a new prepared response
 * with one reference held by the caller and its ETag computed. Never NULL. */
pz_prepared_response *pz_prepared_create(const uint8_t *protobuf, size_t protobuf_len, const char *json,
                                         size_t json_len);
/* Adds a reference; returns p. */
const pz_prepared_response *pz_prepared_ref(const pz_prepared_response *p);
/* Drops a reference; frees on the last. NULL is ignored. */
void pz_prepared_unref(const pz_prepared_response *p);
/* The wire form a front attached in slot, or NULL. */
pz_prepared_front *pz_prepared_front_get(const pz_prepared_response *p, pz_prepared_slot slot);
/* Attaches f in slot unless one is there already. Returns the one attached: f, or the one that was
 * there (then f has been freed). Any thread. */
pz_prepared_front *pz_prepared_front_set(const pz_prepared_response *p, pz_prepared_slot slot, pz_prepared_front *f);

/* Hands one reference the caller holds to the arena: it is dropped when the arena is destroyed
 * (pz_arena_defer). Returns p, valid for the arena's life. */
const pz_prepared_response *pz_prepared_attach(const pz_prepared_response *p, pz_arena *arena);

#endif
