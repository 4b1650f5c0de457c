/* The server's event delivery, assembled (runtime.h). */
#include "server/events/runtime.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "server/core/mem.h"

struct pz_events_runtime {
    pz_event_pipeline *pipeline;
};

int pz_events_runtime_start(const char *data_dir, size_t outbox_map_mb, pz_learner learner,
                            pz_experiment_store experiments, pz_config_holder *config, pz_aws *aws,
                            pz_events_runtime **out, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/outbox", data_dir) >= (int)sizeof dir) {
        snprintf(err, errlen, "the data directory path is too long");
        return -1;
    }
    pz_events_runtime *rt = pz_calloc(1, sizeof *rt);
    pz_event_pipeline_options opts = {.outbox_dir = dir,
                                      .outbox_map_mb = outbox_map_mb,
                                      .learner = learner,
                                      .experiments = experiments,
                                      .aws = aws,
                                      .config = config};
    if (pz_event_pipeline_open(&opts, &rt->pipeline, err, errlen) != 0) {
        free(rt);
        return -1;
    }
    *out = rt;
    return 0;
}

pz_event_sink pz_events_runtime_sink(pz_events_runtime *rt)
{
    return pz_event_pipeline_sink(rt->pipeline);
}

int pz_events_runtime_stats(void *rt, pz_buf *out)
{
    pz_event_pipeline_stats_json(((pz_events_runtime *)rt)->pipeline, out);
    return 200;
}

void pz_events_runtime_stop(pz_events_runtime *rt)
{
    if (rt == NULL)
        return;
    pz_event_pipeline_destroy(rt->pipeline);
    free(rt);
}
