/* `personalization-server create-api-key`: makes a new API key from 32 random bytes (OpenSSL's
 * RAND_bytes), prints it once, and stores only its SHA-256: appended to a keys file (written
 * atomically, mode 0600; a running server picks it up within a second), or printed as the entry to
 * put in the configuration's auth.apiKeys. The entry is checked by the configuration's own rules
 * before anything is written.
 *
 *   personalization-server create-api-key --name NAME --scopes inference[,events][,admin]
 *       [--namespaces NS[,NS...] | --namespaces '*'] [--expires 2027-01-01T00:00:00Z]
 *       [--rate-limit RPS[:BURST]] [--keys-file PATH]
 *
 * stdout: the key on the first line (and, without --keys-file, the entry as JSON on the second);
 * messages go to stderr. */
#ifndef PZ_AUTH_CLI_H
#define PZ_AUTH_CLI_H

#include <stdio.h>

#define PZ_AUTH_CLI_COMMAND "create-api-key"

/* argv[0] is the command's name. Returns the process exit status (0, 1 on failure, 2 on usage). */
int pz_auth_cli_main(int argc, char **argv, FILE *out, FILE *err);

#endif
