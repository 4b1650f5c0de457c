/* The embedded demo: configuration, catalog and a seeded event history compiled into the binary
 * (from tests/data/demo/), so `--demo` serves real recommendations with nothing else. */
#ifndef PZ_DEMO_H
#define PZ_DEMO_H

#include <stddef.h>
#include <stdint.h>

#include "server/recommenders/builtin.h"

/* The demo configuration document (JSON text, NUL-terminated). */
const char *pz_demo_config(size_t *len);
/* The demo catalog (JSON Lines, NUL-terminated). */
const char *pz_demo_items(size_t *len);

/* Feeds the seeded event history into namespace `ns` of the builtin recommender, shifted in time so
 * that the newest event happened at now_ms. Does nothing when the namespace already has data (so
 * restarts keep what was learned). Returns the number of events loaded, or -1 with err. Blocking. */
long pz_demo_seed(pz_builtin *b, const char *ns, int64_t now_ms, char *err, size_t errlen);

#endif
