/* URL templates of `http` variations (spec §3.4.4, defect §14 #21 fixed): "{name}" placeholders
 * filled from the request and URL-encoded.
 *
 * Placeholders (all of them, in any part of the URL):
 *   {namespace} {recommender}            the path keys
 *   {user_id} {userId}                   the user ("" when none)
 *   {item_id} {itemId}                   related-items: the item ("" otherwise)
 *   {itemIds}                            rerank-items: the ids, comma-separated ("" otherwise)
 *   {numResults}                         how many items to fetch (look-ahead applied)
 *   {filter} {filterValues} {context}    as given (the maps as JSON objects; "" when absent)
 *   {decorateItems} {syntheticUser}      "1" or "0"
 *   {feature}                            as given ("" when absent)
 * Substituted values are percent-encoded: everything but RFC 3986 unreserved characters
 * (A-Z a-z 0-9 - . _ ~) becomes %XX, so a value never changes the URL's structure.
 */
#ifndef PZ_URL_TEMPLATE_H
#define PZ_URL_TEMPLATE_H

#include <stddef.h>

#include "server/core/buf.h"

/* Checks that every placeholder is one of the names above and every '{' is closed. Returns 0, or
 * -1 with a message naming the problem in err. Any thread. */
int pz_url_template_check(const char *tmpl, char *err, size_t errlen);

/* Returns the value of placeholder `name` (NUL-terminated) or NULL for "". */
typedef const char *(*pz_url_template_lookup)(void *ctx, const char *name);

/* Appends the expanded template to out. Returns 0, or -1 when a placeholder is unknown or out's
 * cap would be crossed. */
int pz_url_template_expand(const char *tmpl, pz_url_template_lookup lookup, void *ctx, pz_buf *out);

/* Appends s percent-encoded as above. Returns 0 or -1 when out's cap would be crossed. */
int pz_url_encode(const char *s, pz_buf *out);

#endif
