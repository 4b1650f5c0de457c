/* Secrets out of a configuration document before it leaves the server through the admin API
 * (module prefix pz_redact). Replaced by PZ_REDACTED, keys kept:
 *   - every value of a `headers` object (webhook event targets send them as credentials);
 *   - the value of any member whose name contains, case-insensitively, "secret", "password",
 *     "token", "apikey", "api_key", "credential" or "authorization" (the whole value, when it is
 *     an object or an array);
 *   - the user information of URLs ("https://user:pass@host/..." keeps "https://[REDACTED]@host/...").
 * Pure; any thread. */
#ifndef PZ_REDACT_H
#define PZ_REDACT_H

#include <jansson.h>

#define PZ_REDACTED "[REDACTED]"

/* Redacts doc in place (see above). */
void pz_redact_config(json_t *doc);

#endif
