/* `personalization-server import-events`: bootstraps the builtin recommender of a namespace from
 * historical interactions (server/recommenders/history.h: JSON Lines of PutEvents bodies, or an
 * Amazon Personalize interactions CSV; plain or gzip), with a progress bar on a terminal and a
 * summary per file.
 *
 * Exactly once: a file is known by the SHA-256 of its (uncompressed) content and the namespace; its
 * lines are applied as a learner stream numbered by line (server/core/learner.h), so the store
 * records how far each file got, durably with the statistics. Running the same file again applies
 * nothing; a run that was interrupted resumes after the last line written. A changed file is a new
 * file. Bad lines are reported with their numbers and skipped.
 *
 * The store must not be open in a running server (it is locked: stop the server first).
 */
#ifndef PZ_IMPORT_CLI_H
#define PZ_IMPORT_CLI_H

#include <stdbool.h>
#include <stdio.h>

bool pz_import_cli_is_command(const char *arg);
/* argv[0] is the program, argv[1] "import-events". Progress and bad lines go to err (the bar only
 * when err is a terminal), the summary to out. Returns the exit status: 0 when every line was
 * imported (or had been), 1 when some lines were bad or the import failed, 2 on a usage error. */
int pz_import_cli_main(int argc, char **argv, FILE *out, FILE *err);

#endif
