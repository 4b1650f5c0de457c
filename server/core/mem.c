#include "server/core/mem.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pz_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fatal: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

void *pz_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        pz_fatal("out of memory allocating %zu bytes", size);
    return p;
}

void *pz_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL)
        pz_fatal("out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *pz_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        pz_fatal("out of memory reallocating %zu bytes", size);
    return p;
}

char *pz_strdup(const char *s)
{
    return pz_strndup(s, strlen(s));
}

char *pz_strndup(const char *s, size_t len)
{
    char *p = pz_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* Chunks grow geometrically from 4 KiB; a request usually fits in the first one or two. */
#define ARENA_FIRST_CHUNK 4096
#define ARENA_ALIGN 16

struct pz_arena_cleanup {
    pz_arena_cleanup *next;
    void (*fn)(void *arg);
    void *arg;
};

struct pz_arena_chunk {
    pz_arena_chunk *next;
    size_t size;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

static void *arena_pb_alloc(void *data, size_t size)
{
    return pz_arena_alloc(data, size);
}

static void arena_pb_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr; /* freed with the arena */
}

void pz_arena_init(pz_arena *a)
{
    a->chunks = NULL;
    a->cleanups = NULL;
    a->used = 0;
    a->total = 0;
    a->pb.alloc = arena_pb_alloc;
    a->pb.free = arena_pb_free;
    a->pb.allocator_data = a;
}

/* Runs the deferred callbacks, then frees the chunks, all of them or all but the first. */
static void arena_clear(pz_arena *a, bool keep_first)
{
    /* A callback may allocate from or defer into the arena: take the list first, repeat. */
    while (a->cleanups != NULL) {
        pz_arena_cleanup *list = a->cleanups;
        a->cleanups = NULL;
        for (; list != NULL; list = list->next)
            list->fn(list->arg);
    }
    pz_arena_chunk *c = a->chunks;
    while (c != NULL && !(keep_first && c->next == NULL)) { /* the list is newest first */
        pz_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->chunks = c; /* NULL, or the first chunk, whose next is NULL */
    a->used = 0;
    a->total = 0;
}

void pz_arena_reset(pz_arena *a)
{
    arena_clear(a, false);
}

void pz_arena_recycle(pz_arena *a)
{
    arena_clear(a, true);
}

void pz_arena_destroy(pz_arena *a)
{
    pz_arena_reset(a);
}

void *pz_arena_alloc(pz_arena *a, size_t size)
{
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (size == 0)
        size = ARENA_ALIGN;
    if (a->chunks == NULL || a->chunks->size - a->used < size) {
        size_t chunk_size = a->chunks != NULL ? a->chunks->size * 2 : ARENA_FIRST_CHUNK;
        while (chunk_size < size)
            chunk_size *= 2;
        pz_arena_chunk *c = pz_malloc(sizeof(*c) + chunk_size);
        c->size = chunk_size;
        c->next = a->chunks;
        a->chunks = c;
        a->used = 0;
    }
    void *p = a->chunks->data + a->used;
    a->used += size;
    a->total += size;
    return p;
}

void *pz_arena_calloc(pz_arena *a, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        pz_fatal("arena allocation overflow");
    void *p = pz_arena_alloc(a, count * size);
    memset(p, 0, count * size);
    return p;
}

char *pz_arena_strdup(pz_arena *a, const char *s)
{
    return pz_arena_strndup(a, s, strlen(s));
}

char *pz_arena_strndup(pz_arena *a, const char *s, size_t len)
{
    char *p = pz_arena_alloc(a, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *pz_arena_printf(pz_arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *p = pz_arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void pz_arena_defer(pz_arena *a, void (*fn)(void *arg), void *arg)
{
    pz_arena_cleanup *c = pz_arena_alloc(a, sizeof *c);
    c->fn = fn;
    c->arg = arg;
    c->next = a->cleanups;
    a->cleanups = c;
}

ProtobufCMessage *pz_arena_new_message(pz_arena *a, const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = pz_arena_alloc(a, desc->sizeof_message);
    desc->message_init(m);
    return m;
}
