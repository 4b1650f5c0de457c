/* Configuration history (module prefix pz_config_store): every document the server loaded, kept
 * in the data directory so an operator can see what ran when, and roll back to it.
 *
 * Layout, in `dir` (the server uses `<data-dir>/config/history/`):
 *   NNNNNNNNNNNN.json       the document exactly as it was read (absent when it could not be read)
 *   NNNNNNNNNNNN.meta.json  {"id", "status": "accepted"|"rejected", "version" (the document's, or
 *                           null), "hash" ("sha256:<hex>" of the document), "loadedAt" (RFC 3339
 *                           UTC), "loadedAtMs", "source" (e.g. "file:/etc/pz.json"), "bytes",
 *                           "errors": [{"path", "message"}], "warnings": [...], "problemsDropped"}
 * Ids increase by one per record and are never reused. Each file is written to a temporary name,
 * flushed and renamed, the meta file last: a record is complete once its meta file exists. Files
 * are 0600, since documents may hold secrets (webhook headers).
 *
 * What is kept: every accepted document (the newest `keep` of them) and every rejected attempt
 * with its errors (the newest `keep` of those). An accepted document identical to the newest
 * accepted record (same hash: a restart, a SIGHUP without a change) adds nothing. The newest
 * accepted record is the configuration being served.
 *
 * Referring to a record (pz_config_store_find): "@N" is record N; anything else is a document
 * `version` (what X-Personalization-Config-Version shows), meaning its newest accepted record.
 *
 * Threads: one writer (the config holder's listener, serialized by the holder) and any number of
 * readers, in this process or another (the `config` CLI while a server runs): readers only see
 * complete records. A record pruned while a reader lists is skipped.
 */
#ifndef PZ_CONFIG_STORE_H
#define PZ_CONFIG_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/config.h"

#define PZ_CONFIG_HISTORY_DEFAULT 50             /* records of each status kept */
#define PZ_CONFIG_HISTORY_MAX 10000              /* the most --config-history accepts */
#define PZ_CONFIG_STORE_MAX_PROBLEMS 200         /* problems kept per record; the rest are counted */
#define PZ_CONFIG_STORE_DOCUMENT_MAX (16u << 20) /* the largest document a record holds */

typedef struct pz_config_store pz_config_store;

/* Opens (creating it when `create`) the history directory and reads its index. keep: records of
 * each status kept (1..PZ_CONFIG_HISTORY_MAX; 0 = PZ_CONFIG_HISTORY_DEFAULT). Returns 0 and
 * *out, or -1 with err (a missing directory when !create says so). */
int pz_config_store_open(const char *dir, size_t keep, bool create, pz_config_store **out, char *err, size_t errlen);
void pz_config_store_close(pz_config_store *s);

/* Records one load attempt at now_ms (see the top for what is kept). *id (may be NULL) gets the
 * new record's id, or the id of the newest accepted record when the document is unchanged.
 * Returns 0, or -1 with err (disk errors). The writer's thread. */
int pz_config_store_record(pz_config_store *s, const pz_config_load *load, int64_t now_ms, unsigned long long *id,
                           char *err, size_t errlen);

/* A pz_config_listener (server/core/config.h) that records every attempt; ctx is the store.
 * Disk errors are logged: a failing history never stops a reload. */
void pz_config_store_listener(void *ctx, const pz_config_load *load);

/* The records' meta objects (see the top), newest first, at most `limit` (0 = all); the newest
 * accepted one has "active": true. A new reference the caller json_decref's; NULL with err on a
 * read error. Any thread. */
json_t *pz_config_store_list(pz_config_store *s, size_t limit, char *err, size_t errlen);

/* Finds the record `ref` names (see the top). Returns its meta object (a new reference) and, when
 * text is non-NULL, the document in *text (malloc'ed, NUL-terminated, caller frees; NULL when the
 * record has none) and *len. NULL with err when there is no such record. Any thread. */
json_t *pz_config_store_find(pz_config_store *s, const char *ref, char **text, size_t *len, char *err, size_t errlen);

/* The newest record of that status (accepted or rejected) whose hash is `hash` (NULL: any hash);
 * the newest accepted record is the configuration being served. Its meta object (a new reference;
 * "active": true when it is that one), or NULL when there is none. Any thread. */
json_t *pz_config_store_newest(pz_config_store *s, const char *hash, bool accepted);

/* "sha256:" and the hex SHA-256 of data: out must hold PZ_CONFIG_HASH_SIZE bytes. */
#define PZ_CONFIG_HASH_SIZE (7 + 64 + 1)
void pz_config_hash(const void *data, size_t len, char *out);

#endif
