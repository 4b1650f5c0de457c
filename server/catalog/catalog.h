/* The item catalog: per-namespace item metadata in LMDB, for decoration (server/core/decorate.h).
 *
 * Layout: one LMDB environment in the directory given to pz_catalog_open (the server uses
 * `<data-dir>/catalog/`). Keys are item ids (1 to PZ_CATALOG_MAX_ID_LEN bytes); values are opaque
 * to this module (the loader stores prepared values, server/catalog/item_meta.h).
 *   - named DB "meta": per namespace, the current-generation record {generation, slot, revision,
 *     items, published_ms};
 *   - named DBs "items/<ns>/0" and "items/<ns>/1": the two slots a namespace's generations live in.
 *     Generation g is built in the slot the current record does not point to.
 *
 * Full replace (pz_catalog_build_*): a build empties the spare slot, fills it in batched write
 * transactions, then publishes by rewriting the namespace's record and emptying the old slot in
 * ONE write transaction. A reader reads the record and the items in one read transaction, so it
 * sees the old generation or the new one, never a mix; a failed or abandoned build never touches
 * the record, so the old generation keeps serving. Two slots rather than one DB per generation
 * keep the number of LMDB handles bounded however many loads a server sees.
 *
 * Several processes may use one directory at once (the CLI loads while the server serves): LMDB
 * serializes writers and readers never wait. Builds and edits of a namespace are serialized across
 * processes by a lock file `<dir>/<ns>.lock` (flock): a second build fails at once, an edit waits
 * for a running build to publish and then applies on top of it.
 *
 * Memory: nothing per item is kept in process memory; reads are served from the map (page cache).
 * A build holds one batch of dirty pages (PZ_CATALOG_BUILD_BATCH items) at a time.
 *
 * Threads: every function may be called from any thread, concurrently. Views (reads) never block
 * on writers and do no disk writes: safe on event loops. Builds and edits do disk I/O and may wait
 * for LMDB's writer lock and the namespace lock: never call them from an event loop.
 */
#ifndef PZ_CATALOG_H
#define PZ_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PZ_CATALOG_MAX_NS_LEN 64        /* namespace names: [A-Za-z0-9_-], 1..64 characters */
#define PZ_CATALOG_MAX_ID_LEN 256       /* item ids: 1..256 bytes (the API's id limit) */
#define PZ_CATALOG_MAX_NAMESPACES 256   /* namespaces one process can read or write */
#define PZ_CATALOG_BUILD_BATCH 5000     /* items per write transaction while building */
#define PZ_CATALOG_DEFAULT_MAP_MB 16384 /* LMDB map size (address space, not memory or disk) */

typedef struct pz_catalog pz_catalog;

typedef struct pz_catalog_options {
    size_t map_size_mb; /* 0: PZ_CATALOG_DEFAULT_MAP_MB */
} pz_catalog_options;

/* Opens (creating when missing) the catalog in directory dir (created if needed). opts may be
 * NULL. A process may open a directory only once (an LMDB rule). Returns 0 and *out, or -1 with a
 * message in err. */
int pz_catalog_open(const char *dir, const pz_catalog_options *opts, pz_catalog **out, char *err, size_t errlen);
/* Closes the catalog. No view, build or edit may be in progress. NULL is a no-op. */
void pz_catalog_close(pz_catalog *c);

/* True when ns is a valid namespace name for the catalog (see PZ_CATALOG_MAX_NS_LEN). */
bool pz_catalog_valid_namespace(const char *ns);

/* What the current-generation record of a namespace says. */
typedef struct pz_catalog_info {
    bool present;         /* false: the namespace has no catalog (never loaded) */
    uint64_t generation;  /* 1 for the first full load or edit, +1 per full load */
    uint64_t revision;    /* +1 per change of any kind (load, upsert, delete): for cache keys */
    uint64_t items;       /* items in the current generation */
    int64_t published_ms; /* wall clock of the last change */
} pz_catalog_info;

/* Reads the record of ns. Returns 0 (out->present says whether there is a catalog), or -1 with
 * err. */
int pz_catalog_info_get(pz_catalog *c, const char *ns, pz_catalog_info *out, char *err, size_t errlen);

/* ---- reads ---- */

/* A consistent read of one namespace's current generation. Lives on the stack of one thread;
 * values it returns stay valid until pz_catalog_view_end. Keep views short: an open view pins
 * the pages of its generation. */
typedef struct pz_catalog_view {
    void *txn; /* the LMDB read transaction, NULL when the namespace has no catalog */
    unsigned dbi;
    pz_catalog_info info;
} pz_catalog_view;

/* Begins a view of ns. Returns 0 (v->info.present false when the namespace has no catalog: every
 * get then finds nothing), or -1 with err (invalid namespace, LMDB failure). Call
 * pz_catalog_view_end after a 0 return. */
int pz_catalog_view_begin(pz_catalog *c, const char *ns, pz_catalog_view *v, char *err, size_t errlen);
/* Looks an item up: 1 and *value, *len (pointing into the map, valid until the view ends) when
 * found, 0 when not, -1 on an LMDB failure. */
int pz_catalog_view_get(const pz_catalog_view *v, const char *id, size_t id_len, const void **value, size_t *len);
void pz_catalog_view_end(pz_catalog_view *v);

/* ---- full replace ---- */

typedef struct pz_catalog_build pz_catalog_build;

/* What pz_catalog_build_begin (and the loaders) return when another build or edit of the
 * namespace holds its lock: try again later. */
#define PZ_CATALOG_BUSY (-2)

/* Starts building a new generation of ns: takes the namespace lock, empties the spare slot.
 * Returns 0 and *out; PZ_CATALOG_BUSY with err at once when another build or edit holds the lock;
 * or -1 with err. */
int pz_catalog_build_begin(pz_catalog *c, const char *ns, pz_catalog_build **out, char *err, size_t errlen);
/* Adds or replaces (the last put of an id wins) an item of the generation being built.
 * *replaced (may be NULL) says whether the id was already put. Commits every
 * PZ_CATALOG_BUILD_BATCH items. Returns 0, or -1 with err (invalid id, value too large for LMDB,
 * map full, disk errors); after -1 the build can only be aborted. */
int pz_catalog_build_put(pz_catalog_build *b, const char *id, size_t id_len, const void *value, size_t len,
                         bool *replaced, char *err, size_t errlen);
/* Items put so far (distinct ids). */
uint64_t pz_catalog_build_count(const pz_catalog_build *b);
/* Publishes the generation (see the top of this file), releases the lock and frees b. Returns 0
 * and *info (may be NULL) of the new generation, or -1 with err: nothing was published, b is
 * freed and the old generation keeps serving. */
int pz_catalog_build_publish(pz_catalog_build *b, pz_catalog_info *info, char *err, size_t errlen);
/* Abandons the build: nothing is published, the spare slot is emptied, b is freed. NULL is a
 * no-op. */
void pz_catalog_build_abort(pz_catalog_build *b);

/* ---- incremental edits ---- */

typedef struct pz_catalog_edit {
    const char *id;
    size_t id_len;
    const void *value; /* NULL: delete the item */
    size_t len;
} pz_catalog_edit;

/* Applies edits to the current generation of ns in one write transaction (all or nothing): puts
 * replace, deletes remove. A namespace without a catalog gets generation 1 holding the upserts.
 * Waits for a running build of ns to finish first. *n_missing (may be NULL) counts deletes of ids
 * that were not there (not an error). Returns 0, or -1 with err and nothing changed. */
int pz_catalog_apply(pz_catalog *c, const char *ns, const pz_catalog_edit *edits, size_t n, size_t *n_missing,
                     char *err, size_t errlen);

#endif
