/* The import folder: JSON Lines files dropped into `<import-dir>/<namespace>/` (the upstream S3
 * `import/{namespace}/` convention, spec §5.2) are loaded into that namespace's catalog by the
 * running server, each as a full replace (server/catalog/catalog_load.h, strict mode).
 *
 * A file is taken once it is complete: names starting with '.' or ending in .tmp or .part are
 * never taken (write under such a name, then rename), and a file must be seen with the same size,
 * modification time and inode on two consecutive scans. Files of one folder are taken in name
 * order. After the load the file moves to `<namespace>/done/`, or to `<namespace>/failed/` next to
 * a `<name>.error` text file that says why (the reason, then each bad line with its number). A
 * name already taken in done/ or failed/ gets a `.<epoch-ms>` suffix. Subfolders whose name is
 * not a valid namespace are ignored. A file whose namespace is being loaded or edited by someone
 * else (the CLI) stays where it is and is taken by a later scan.
 *
 * Threads: pz_catalog_import_scan does the work (disk I/O, loads) on the calling thread (the
 * server's catalog watcher, server/items_runtime.c, calls it every --import-poll-ms). One thread at
 * a time.
 */
#ifndef PZ_CATALOG_IMPORT_H
#define PZ_CATALOG_IMPORT_H

#include <stdint.h>

#include "server/catalog/catalog.h"

#define PZ_CATALOG_IMPORT_MAX_TRACKED 256     /* files watched for completeness at once */
#define PZ_CATALOG_IMPORT_MAX_ERROR_LINES 100 /* bad lines listed in a .error file */

typedef struct pz_catalog_import pz_catalog_import;

/* Watches import_dir (created if missing) for catalog (not owned). Never NULL. */
pz_catalog_import *pz_catalog_import_create(pz_catalog *catalog, const char *import_dir);
/* Frees. NULL is a no-op. */
void pz_catalog_import_destroy(pz_catalog_import *im);

/* One scan: loads every complete file (see above). Returns the number of files loaded or failed. */
int pz_catalog_import_scan(pz_catalog_import *im);

/* Counters since create: files published / files that failed. */
void pz_catalog_import_stats(pz_catalog_import *im, uint64_t *loaded, uint64_t *failed);

#endif
