/* The builtin recommender's popularity in memory (builtin_internal.h): L per item id, the
 * namespaces, and each namespace's most popular items. Rebuilt at open from `byid`; kept current by
 * the learner; read by queries without waiting for it.
 *
 * The top list stays exact although it holds only PZB_TOP_KEEP items: L only ever grows (decay is
 * in the encoding, not applied over time), so an item outside the list can only enter it when it
 * is updated, and every update is offered to the list. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/recommenders/builtin_internal.h"

#define CHUNK_SIZE (1u << PZB_POP_CHUNK_BITS)
#define CHUNK_MASK (CHUNK_SIZE - 1)

/* ---- L per item ---- */

/* L is stored as its bit pattern so a reader sees either the old or the new value, whole. */
double pzb_pop_get(const pz_builtin *b, uint32_t id)
{
    double *chunk = atomic_load_explicit(&((pz_builtin *)b)->pop[id >> PZB_POP_CHUNK_BITS], memory_order_acquire);
    if (chunk == NULL)
        return -INFINITY;
    uint64_t bits = atomic_load_explicit((_Atomic uint64_t *)&chunk[id & CHUNK_MASK], memory_order_relaxed);
    double L;
    memcpy(&L, &bits, sizeof L);
    return L;
}

void pzb_pop_set(pz_builtin *b, uint32_t id, double L)
{
    double *chunk = atomic_load_explicit(&b->pop[id >> PZB_POP_CHUNK_BITS], memory_order_relaxed);
    if (chunk == NULL) {
        chunk = pz_malloc(CHUNK_SIZE * sizeof *chunk);
        for (size_t i = 0; i < CHUNK_SIZE; i++)
            chunk[i] = -INFINITY;
        atomic_store_explicit(&b->pop[id >> PZB_POP_CHUNK_BITS], chunk, memory_order_release);
    }
    uint64_t bits;
    memcpy(&bits, &L, sizeof bits);
    atomic_store_explicit((_Atomic uint64_t *)&chunk[id & CHUNK_MASK], bits, memory_order_relaxed);
}

/* ---- namespaces ---- */

/* Namespaces are appended, fully built, before n_ns is raised (release): a reader that sees the
 * count sees the entries. */
pzb_ns *pzb_ns_find(pz_builtin *b, const char *name)
{
    size_t n = atomic_load_explicit(&b->n_ns, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(b->ns[i]->name, name) == 0)
            return b->ns[i];
    }
    return NULL;
}

pzb_ns *pzb_ns_by_no(pz_builtin *b, uint32_t no)
{
    size_t n = atomic_load_explicit(&b->n_ns, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        if (b->ns[i]->no == no)
            return b->ns[i];
    }
    return NULL;
}

pzb_ns *pzb_ns_add(pz_builtin *b, const char *name, uint32_t no)
{
    size_t n = atomic_load_explicit(&b->n_ns, memory_order_relaxed);
    if (n >= PZ_BUILTIN_MAX_NAMESPACES)
        return NULL;
    pzb_ns *ns = pz_calloc(1, sizeof *ns);
    ns->name = pz_strdup(name);
    ns->no = no;
    pthread_mutex_init(&ns->lock, NULL);
    atomic_init(&ns->items, 0);
    b->ns[n] = ns;
    atomic_store_explicit(&b->n_ns, n + 1, memory_order_release);
    return ns;
}

void pzb_pop_free(pz_builtin *b)
{
    size_t n = atomic_load(&b->n_ns);
    for (size_t i = 0; i < n; i++) {
        pzb_ns *ns = b->ns[i];
        for (size_t k = 0; k < ns->n_top; k++)
            free(ns->top[k].name);
        free(ns->top);
        pthread_mutex_destroy(&ns->lock);
        free(ns->name);
        free(ns);
    }
    for (size_t i = 0; i < PZB_POP_CHUNKS; i++)
        free(atomic_load(&b->pop[i]));
}

/* ---- the top list ---- */

/* True when (L, name) ranks before the item: higher L, or equal L and a smaller name. */
static bool ranks_before(double L, const char *name, size_t len, const pzb_top_item *t)
{
    if (L != t->L)
        return L > t->L;
    int c = memcmp(name, t->name, len < t->len ? len : t->len);
    return c != 0 ? c < 0 : len < t->len;
}

void pzb_top_update(pzb_ns *ns, uint32_t id, double L, const char *name, size_t len)
{
    pthread_mutex_lock(&ns->lock);
    /* A full list's members only grow, so they all rank before its last entry's old value: an
     * item that does not cannot be a member, and does not get in. */
    if (ns->n_top == PZB_TOP_KEEP && !ranks_before(L, name, len, &ns->top[PZB_TOP_KEEP - 1])) {
        pthread_mutex_unlock(&ns->lock);
        return;
    }
    size_t at = ns->n_top;
    for (size_t i = 0; i < ns->n_top; i++) {
        if (ns->top[i].id == id) {
            at = i;
            break;
        }
    }
    pzb_top_item item;
    if (at < ns->n_top) { /* known: it only moves up */
        item = ns->top[at];
        item.L = L;
    } else if (ns->n_top < PZB_TOP_KEEP) {
        if (ns->n_top == ns->cap_top) { /* grows with the namespace: most namespaces are small */
            ns->cap_top = ns->cap_top ? ns->cap_top * 2 : 16;
            ns->top = pz_realloc(ns->top, ns->cap_top * sizeof *ns->top);
        }
        item = (pzb_top_item){.id = id, .L = L, .name = pz_strndup(name, len), .len = len};
        at = ns->n_top++;
    } else { /* ranks before the last (checked above): takes its place */
        at = PZB_TOP_KEEP - 1;
        free(ns->top[at].name);
        item = (pzb_top_item){.id = id, .L = L, .name = pz_strndup(name, len), .len = len};
    }
    size_t pos = at;
    while (pos > 0 && ranks_before(item.L, item.name, item.len, &ns->top[pos - 1]))
        pos--;
    memmove(&ns->top[pos + 1], &ns->top[pos], (at - pos) * sizeof *ns->top);
    ns->top[pos] = item;
    pthread_mutex_unlock(&ns->lock);
}

void pzb_top_each(pzb_ns *ns, size_t want, bool (*skip)(void *ctx, uint32_t id),
                  void (*take)(void *ctx, const pzb_top_item *item), void *ctx)
{
    pthread_mutex_lock(&ns->lock);
    size_t taken = 0;
    for (size_t i = 0; i < ns->n_top && taken < want; i++) {
        if (skip != NULL && skip(ctx, ns->top[i].id))
            continue;
        take(ctx, &ns->top[i]);
        taken++;
    }
    pthread_mutex_unlock(&ns->lock);
}
