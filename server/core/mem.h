/* Memory: fatal out-of-memory allocation wrappers and per-request arenas.
 *
 * Out-of-memory is fatal (as in h2o): pz_malloc and friends never return NULL, they print a
 * message and abort, so call sites carry no malloc-failure plumbing.
 *
 * A pz_arena hands out memory that lives until pz_arena_reset/pz_arena_destroy; nothing is freed
 * individually. A request's allocations (decoded protobuf messages, responses, strings) come from
 * its arena and die with it. An arena is not thread-safe: one thread at a time.
 */
#ifndef PZ_MEM_H
#define PZ_MEM_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

void *pz_malloc(size_t size);
void *pz_calloc(size_t count, size_t size);
void *pz_realloc(void *ptr, size_t size);
char *pz_strdup(const char *s);
char *pz_strndup(const char *s, size_t len);
/* Prints "fatal: <msg>" to stderr and aborts. */
void pz_fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

typedef struct pz_arena_chunk pz_arena_chunk;
typedef struct pz_arena_cleanup pz_arena_cleanup;

typedef struct pz_arena {
    pz_arena_chunk *chunks;
    pz_arena_cleanup *cleanups; /* pz_arena_defer callbacks, newest first */
    size_t used;                /* bytes used in the newest chunk */
    size_t total;               /* bytes handed out since init/reset, for budgets and tests */
    ProtobufCAllocator pb;      /* protobuf-c allocator backed by this arena (free is a no-op) */
} pz_arena;

/* Initializes an empty arena (no allocation until first use). */
void pz_arena_init(pz_arena *a);
/* Runs the deferred callbacks (newest first), then frees every chunk; the arena is empty and
 * reusable afterwards. */
void pz_arena_reset(pz_arena *a);
/* Same as reset, but keeps the first (smallest) chunk for the next use: for a context reused
 * request after request, whose first chunk usually holds a whole request. */
void pz_arena_recycle(pz_arena *a);
/* Same as reset; for symmetry with init. */
void pz_arena_destroy(pz_arena *a);
/* Returns `size` bytes aligned for any type; never NULL. */
void *pz_arena_alloc(pz_arena *a, size_t size);
/* Zeroed allocation. */
void *pz_arena_calloc(pz_arena *a, size_t count, size_t size);
char *pz_arena_strdup(pz_arena *a, const char *s);
char *pz_arena_strndup(pz_arena *a, const char *s, size_t len);
char *pz_arena_printf(pz_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Registers fn(arg) to run when the arena is reset or destroyed (newest first), e.g. to drop a
 * reference the arena's owner holds. The record lives in the arena itself. */
void pz_arena_defer(pz_arena *a, void (*fn)(void *arg), void *arg);
/* Allocates and initializes an empty protobuf-c message of the given type in the arena. */
ProtobufCMessage *pz_arena_new_message(pz_arena *a, const ProtobufCMessageDescriptor *desc);

#endif
