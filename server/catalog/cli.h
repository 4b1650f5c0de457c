/* Catalog subcommands of personalization-server, run instead of the server when the
 * first argument names one of them. They open `<data-dir>/catalog/` directly, so they work while
 * a server serves from the same data directory (it sees each change at its next request).
 *
 *   load-items  [--data-dir D] --namespace NS [--strict | --lenient] FILE
 *       Full replace of NS's catalog from JSON Lines (gzip when FILE ends in .gz/.gzip), published
 *       atomically. Strict (default): the first bad line fails the load, nothing is published.
 *       Lenient: bad lines are skipped. Bad lines go to stderr as FILE:LINE: reason.
 *   upsert-item [--data-dir D] --namespace NS JSON... | -
 *       Adds or replaces items given as JSON objects with "id" (one per argument, or JSON Lines on
 *       stdin with "-", at most PZ_CLI_MAX_EDITS), all in one transaction.
 *   delete-item [--data-dir D] --namespace NS ID...
 *       Removes items (ids not in the catalog are reported, not an error), in one transaction.
 *   catalog-info [--data-dir D] --namespace NS
 *       Prints the namespace's current generation as JSON.
 *
 * Exit status: 0 done, 1 failed (nothing changed), 2 usage error.
 */
#ifndef PZ_CATALOG_CLI_H
#define PZ_CATALOG_CLI_H

#include <stdbool.h>

#define PZ_CLI_MAX_EDITS 100000 /* items one upsert-item or delete-item call may change */

/* True when arg is one of the subcommands above. */
bool pz_catalog_cli_is_command(const char *arg);
/* Runs the subcommand argv[1] (argv[0] is the program); returns the exit status. */
int pz_catalog_cli_main(int argc, char **argv);

#endif
