/* A prepared response: a finished inference response in the forms the fronts send, made once and
 * shared by reference count between the response cache and every request it answers.
 *
 *   protobuf   the packed response message (what a gRPC front sends, no re-encoding)
 *   json       the same message rendered as the REST body (NULL when it was not rendered)
 *   etag       the strong, quoted, content-derived ETag of the protobuf bytes (server/core/etag.h)
 *
 * Immutable once created; one allocation. Any thread may ref/unref; the last unref frees it.
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

#include "server/core/etag.h"
#include "server/core/mem.h"

/* A front's wire form of a prepared response; `free` releases it when the response is freed. */
typedef struct pz_prepared_front pz_prepared_front;
struct pz_prepared_front {
    void (*free)(pz_prepared_front *self);
};

/* The fronts' slots. */
typedef enum pz_prepared_slot { PZ_PREPARED_SLOT_GRPC, PZ_PREPARED_SLOTS } pz_prepared_slot;

typedef struct pz_prepared_response {
    const uint8_t *protobuf;
    size_t protobuf_len;
    const char *json; /* NUL-terminated; NULL when not rendered */
    size_t json_len;
    char etag[PZ_ETAG_SIZE];
    size_t bytes;     /* total allocation, for cache accounting */
    atomic_long refs; /* use pz_prepared_ref/unref */
    _Atomic(pz_prepared_front *) fronts[PZ_PREPARED_SLOTS];
} pz_prepared_response;

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
