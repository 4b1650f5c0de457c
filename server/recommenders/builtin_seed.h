/* Seeding the builtin recommender with a recorded history, e.g. the embedded demo's
 * (server/demo/demo.h): JSON Lines of {userId, sessionId, itemId, eventType, sentAt (seconds)}. */
#ifndef PZ_BUILTIN_SEED_H
#define PZ_BUILTIN_SEED_H

#include <stddef.h>
#include <stdint.h>

#include "server/recommenders/builtin.h"

/* Feeds the history jsonl[0..len) into namespace `ns`, shifted in time so that its newest event
 * happened at now_ms. Does nothing when the namespace already has data (so restarts keep what was
 * learned). Returns the number of events loaded, or -1 with err (a bad line, a storage failure).
 * Blocking: it writes to disk. */
long pz_builtin_seed(pz_builtin *b, const char *ns, const char *jsonl, size_t len, int64_t now_ms, char *err,
                     size_t errlen);

#endif
