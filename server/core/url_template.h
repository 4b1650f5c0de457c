/* URL templates of `http` variations (spec §3.4.4, defect §14 #21 fixed): "{name}" placeholders
 * filled from the request and URL-encoded.
 *
 * The server's placeholders (all of them, in any part of the URL):
 *   {namespace} {recommender}            the path keys
 *   {user_id} {userId}                   the user ("" when none)
 *   {item_id} {itemId}                   related-items: the item ("" otherwise)
 *   {itemIds}                            rerank-items: the ids, comma-separated ("" otherwise)
 *   {numResults}                         how many items to fetch (look-ahead applied)
 *   {filter} {filterValues} {context}    as given (the maps as JSON objects; "" when absent)
 *   {decorateItems} {syntheticUser}      "1" or "0"
 *   {feature}                            as given ("" when absent)
 * Any other {name} (1 to PZ_URL_TEMPLATE_MAX_NAME - 1 characters, no braces) is filled from the
 * request's query parameter of that exact name, as upstream fills every placeholder ("" when the
 * request has none; gRPC requests have no query string).
 * Substituted values are percent-encoded: everything but RFC 3986 unreserved characters
 * (A-Z a-z 0-9 - . _ ~) becomes %XX, so a value never changes the URL's structure.
 */
#ifndef PZ_URL_TEMPLATE_H
#define PZ_URL_TEMPLATE_H

#include <stddef.h>

#include "server/core/buf.h"

#include <stdbool.h>

/* The longest placeholder name, NUL included. */
#define PZ_URL_TEMPLATE_MAX_NAME 64

/* Checks that every '{' is closed by a '}' before the next '{', that no '}' closes nothing and that
 * every name is 1 to PZ_URL_TEMPLATE_MAX_NAME - 1 characters. Returns 0, or -1 with a message
 * naming the problem in err. Any thread. */
int pz_url_template_check(const char *tmpl, char *err, size_t errlen);

/* True when name[0..len) is one of the server's placeholders (above). */
bool pz_url_template_builtin(const char *name, size_t len);

/* Calls visit for each placeholder of a checked template, in order (repeats included). */
typedef void (*pz_url_template_visit)(void *ctx, const char *name, size_t len);
void pz_url_template_each(const char *tmpl, pz_url_template_visit visit, void *ctx);

/* Returns the value of placeholder `name` (NUL-terminated) or NULL for "": the server's
 * placeholders from the request, any other from its query parameter. */
typedef const char *(*pz_url_template_lookup)(void *ctx, const char *name);

/* Appends the expanded template to out. Returns 0, or -1 when the template is malformed or out's
 * cap would be crossed. */
int pz_url_template_expand(const char *tmpl, pz_url_template_lookup lookup, void *ctx, pz_buf *out);

/* Appends s percent-encoded as above. Returns 0 or -1 when out's cap would be crossed. */
int pz_url_encode(const char *s, pz_buf *out);

#endif
