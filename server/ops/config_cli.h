/* `personalization-server config ...`: the configuration history, offline or against a running
 * server.
 *
 *   config history [--data-dir D | --admin URL] [--limit N] [--json]
 *       the records, newest first: id, status, version, when, hash, source; `*` marks the one
 *       being served. --json prints one JSON object per line.
 *   config show VERSION [--data-dir D | --admin URL]
 *       the document of a record. Offline it is printed byte for byte as it was loaded; the admin
 *       API answers it with secrets redacted.
 *   config rollback VERSION (--config PATH [--data-dir D] | --admin URL)
 *       --admin: the running server validates the record's document and applies it (an ordinary
 *       reload, recorded in the history). Offline: the document is validated and written over the
 *       configuration file PATH (atomically), which a running server picks up as a change and a
 *       restart serves.
 *
 * VERSION is a document `version` (its newest accepted record) or @ID for a record by its id.
 * --data-dir defaults to ./pz-data, as for the server. --admin takes the admin API's base URL
 * (http://127.0.0.1:9464). Exit status: 0 done, 1 failed (nothing changed), 2 usage error.
 */
#ifndef PZ_CONFIG_CLI_H
#define PZ_CONFIG_CLI_H

#include <stdio.h>

/* argv[0] is "config". Output goes to out, problems to err. */
int pz_config_cli_main(int argc, char **argv, FILE *out, FILE *err);

#endif
