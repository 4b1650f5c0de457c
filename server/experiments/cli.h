/* `personalization-server experiments ...`: the experiment store from the command line.
 *
 *   experiments list --data-dir D [--namespace NS]
 *       one JSON line per experiment with stored results: {"namespace", "recommender", "feature",
 *       "firstEventMs", "lastEventMs"}
 *   experiments delete --data-dir D --namespace NS --recommender R --feature F
 *       deletes the experiment's stored results (its counts and users). For an experiment removed
 *       from the configuration, its results stop being listed; for a running one, counting starts
 *       again from zero.
 *
 * Safe while the server runs (LMDB is multi-process). Exit status 0, 1 on errors (deleting
 * something that is not stored is an error), 2 on usage.
 */
#ifndef PZ_EXPERIMENTS_CLI_H
#define PZ_EXPERIMENTS_CLI_H

#include <stdio.h>

/* argv[0] is "experiments". Output goes to out, problems to err. */
int pz_experiments_cli_main(int argc, char **argv, FILE *out, FILE *err);

#endif
