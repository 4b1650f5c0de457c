/* The embedded demo data set, compiled into the binary from tests/data/demo/ so that `--demo`
 * serves real recommendations with nothing else: the configuration (main.c serves it), the item
 * catalog (server/catalog loads it) and a recorded event history (the builtin recommender is
 * seeded with it, server/recommenders/builtin_seed.h). Data only; each text ends with a NUL. */
#ifndef PZ_DEMO_H
#define PZ_DEMO_H

#include <stddef.h>

/* The demo configuration document (JSON). */
const char *pz_demo_config(size_t *len);
/* The demo catalog (JSON Lines). */
const char *pz_demo_items(size_t *len);
/* The demo event history (JSON Lines). */
const char *pz_demo_events(size_t *len);

#endif
