/* `personalization-server events ...`: inspect the outbox and replay dead letters.
 *
 *   events stats --data-dir D
 *       the outbox (records, seqs, size) and each target's cursor, lag and dead letters, as JSON
 *   events dead-letters --data-dir D [--target ID] [--limit N]
 *       one JSON line per dead letter: {"target", "number", "seq", "attempts", "deadLetteredAt",
 *       "reason", "record": <the upstream envelope>}
 *   events replay --data-dir D (--all | --target ID [--seq N])
 *       queues dead letters for redelivery to the target that rejected them; a running server
 *       picks them up within a second (and a stopped one at its next start)
 *
 * Safe while the server runs (LMDB is multi-process). Exit status 0, 1 on errors, 2 on usage.
 */
#ifndef PZ_EVENTS_CLI_H
#define PZ_EVENTS_CLI_H

#include <stdio.h>

/* argv[0] is "events". Output goes to out, problems to err. */
int pz_events_cli_main(int argc, char **argv, FILE *out, FILE *err);

#endif
