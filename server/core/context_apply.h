/* How resolved automatic values are used (spec §6.3): merged into an inference's `context` and
 * `filterValues`, and into each event's `properties`. Explicit values always win.
 *
 *   context (inference)       the request's entries first, then each resolved field the request
 *                             does not name, as the text of its first value (the string map
 *                             Personalize takes; Lambda, SageMaker and http get the same map).
 *   filterValues (inference)  the request's entries first, then each parameter of the chosen
 *                             filter's autoDynamicFilterValues the request does not name: a
 *                             `string` field as "v1","v2" (each value in double quotes, comma-
 *                             joined; a value holding a double quote is left out, as it could
 *                             not be told apart from the list's own quotes), other types as the
 *                             text of the first value.
 *   properties (events)       keys already in the event's properties win; each other resolved
 *                             field is added as a JSON string: a `string` field's values joined
 *                             with '|', other types the text of the first value. The result is
 *                             re-serialised as the JSON text PutEvents takes.
 *
 * An automatic value that is not valid UTF-8 (a header may carry any bytes) is left out.
 * Limits (Personalize's): an automatic value over PZ_MAX_MAP_VALUE_LEN characters is left out (a
 * `string` filter parameter keeps the values that fit); a property that would take the
 * properties text over the limit given is left out. Pure: any thread.
 */
#ifndef PZ_CONTEXT_APPLY_H
#define PZ_CONTEXT_APPLY_H

#include <stddef.h>

#include "server/core/context.h"
#include "server/core/mem.h"
#include "server/core/query.h"

/* A string map (explicit entries, then automatic ones), arena-owned. */
typedef struct pz_string_map {
    pz_string_entry **entries;
    size_t n;
} pz_string_map;

/* The effective `context` of an inference. */
pz_string_map pz_context_merge(pz_string_entry **explicit_entries, size_t n_explicit,
                               const pz_resolved_context *resolved, pz_arena *arena);

/* The effective `filterValues` of an inference whose chosen filter resolved to `resolved`. */
pz_string_map pz_filter_values_merge(pz_string_entry **explicit_entries, size_t n_explicit,
                                     const pz_resolved_context *resolved, pz_arena *arena);

/* One resolved field as a filter value ("\"a\",\"b\"" or "5"), or NULL when nothing fits. */
const char *pz_filter_value_text(const pz_resolved_field *f, pz_arena *arena);

/* One resolved field as an event property value ("a|b" or "5"). */
const char *pz_property_value_text(const pz_resolved_field *f, pz_arena *arena);

/* An event's properties (a JSON object as text, or NULL for none) with the resolved fields added
 * (see above), at most max_len bytes. Returns the new text in the arena, or `properties` itself
 * when nothing was added. properties must be a valid JSON object (event validation checks it). */
const char *pz_properties_enrich(const char *properties, const pz_resolved_context *resolved, size_t max_len,
                                 pz_arena *arena);

#endif
