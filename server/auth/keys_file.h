/* An API keys file ({"apiKeys": [...]}, the `apiKeys` rules of the configuration): loaded when
 * opened, re-read when it changes (pz_keys_file_poll, called by the auth package's watcher every
 * second), and kept as it was when a new version does not parse (logged, never half-applied).
 * Readers take a reference on the current set, so a reload never pulls keys from under a request.
 * Any thread. */
#ifndef PZ_AUTH_KEYS_FILE_H
#define PZ_AUTH_KEYS_FILE_H

#include <stdbool.h>

#include "server/core/config.h"

typedef struct pz_keys_file pz_keys_file;
typedef struct pz_keys_snapshot pz_keys_snapshot;

/* Opens and loads path (a missing or bad file leaves no keys and is logged). Never NULL. */
pz_keys_file *pz_keys_file_open(const char *path);
void pz_keys_file_close(pz_keys_file *f);
const char *pz_keys_file_path(const pz_keys_file *f);

/* Re-reads the file when its inode, size or mtime changed. Returns true when new keys were
 * loaded. */
bool pz_keys_file_poll(pz_keys_file *f);

/* The current keys (never NULL; possibly empty), to release with pz_keys_snapshot_release. */
pz_keys_snapshot *pz_keys_file_acquire(pz_keys_file *f);
void pz_keys_snapshot_release(void *snapshot);
/* The key whose hash is digest (digest.h's constant-time lookup), or NULL. Valid while the
 * snapshot is held. */
const pz_api_key *pz_keys_snapshot_lookup(const pz_keys_snapshot *s, const unsigned char digest[PZ_SHA256_LEN]);
size_t pz_keys_snapshot_count(const pz_keys_snapshot *s);

#endif
