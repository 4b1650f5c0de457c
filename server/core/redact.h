/* Redaction of secrets in text that is shown or logged (issue 19): webhook URLs carry credentials
 * (https://user:pass@host/..., ?token=...), and event tracker ids let anyone send events into a
 * Personalize dataset. One helper for every place that shows or logs them: the log writer
 * (server/core/log.c) passes every line through pz_redact_urls, and event target ids are shown
 * through their display form (server/events/target_spec.h), which uses both functions here.
 * Pure; any thread.
 *
 * Rules, for each URL found in the text (a scheme of letters, digits, '+', '-', '.' followed by
 * "://", up to the next space, quote, '<', '>' or control character):
 *   - userinfo ("user:pass@") becomes "***@";
 *   - every query parameter keeps its name and its value becomes "***" ("?token=***&page=***"),
 *     since any parameter name may hold a key;
 *   - a fragment becomes "#***".
 * Scheme, host, port and path are kept, so an operator still sees which endpoint is meant.
 *
 * Documents (pz_redact_json: a configuration as the admin API shows it), besides the URLs in every
 * string:
 *   - every value of a `headers` object (webhook event targets send them as credentials);
 *   - the value of any member whose name contains, case-insensitively, "secret", "password",
 *     "token", "apikey", "api_key", "credential" or "authorization" (every scalar inside, when it
 *     is an object or an array; keys are kept);
 *   - a `trackingId` shown as pz_redact_token shows it.
 */
#ifndef PZ_REDACT_H
#define PZ_REDACT_H

#include <stddef.h>

#include <jansson.h>

/* What replaces a secret. */
#define PZ_REDACTED "***"

/* Writes in[0..len) to out (capacity cap >= 1, always NUL-terminated, cut to fit) with the URLs
 * redacted. Returns the length written. */
size_t pz_redact_urls(const char *in, size_t len, char *out, size_t cap);

/* The same into a malloc'ed string (caller frees). */
char *pz_redact_urls_dup(const char *in);

/* Redacts a JSON document in place (see above). */
void pz_redact_json(json_t *doc);

/* A secret token shown by its last 4 characters only ("***1b2c"); tokens of 8 characters or
 * fewer are hidden whole. Malloc'ed (caller frees). */
char *pz_redact_token(const char *token);

#endif
