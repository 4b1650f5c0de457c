/* The server's event delivery, assembled (runtime.h). */
#include "server/events/runtime.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "server/core/clock.h"
#include "server/core/mem.h"
#include "server/events/dead_letters.h"

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

pz_status pz_events_runtime_stats(void *rt, pz_buf *out, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    pz_event_pipeline_stats_json(((pz_events_runtime *)rt)->pipeline, out);
    return PZ_OK;
}

typedef struct array_ctx {
    pz_buf *out;
    size_t n;
    int rc;
} array_ctx;

static int append_item(void *ctx, const char *json, size_t len)
{
    array_ctx *a = ctx;
    if ((a->n++ > 0 && pz_buf_append_char(a->out, ',') != 0) || pz_buf_append(a->out, json, len) != 0) {
        a->rc = -1;
        return 1;
    }
    return 0;
}

pz_status pz_events_runtime_dead_letters(void *rt, const char *target, size_t limit, pz_buf *out, char *err,
                                         size_t errlen)
{
    pz_outbox *ob = pz_event_pipeline_outbox(((pz_events_runtime *)rt)->pipeline);
    array_ctx a = {out, 0, 0};
    pz_buf_append_str(out, "{\"deadLetters\":[");
    if (pz_dead_letters_each(ob, target, (long)limit, append_item, &a, err, errlen) < 0)
        return PZ_INTERNAL;
    if (a.rc != 0 || pz_buf_append_str(out, "]}") != 0) {
        snprintf(err, errlen, "the dead letters do not fit one answer: ask for fewer (limit)");
        return PZ_RESOURCE_EXHAUSTED;
    }
    return PZ_OK;
}

pz_status pz_events_runtime_replay(void *rt, const char *target, uint64_t seq, pz_buf *out, char *err, size_t errlen)
{
    pz_outbox *ob = pz_event_pipeline_outbox(((pz_events_runtime *)rt)->pipeline);
    long n = pz_dead_letters_replay(ob, target, seq, err, errlen);
    if (n == -2)
        return PZ_NOT_FOUND;
    if (n < 0)
        return PZ_INTERNAL;
    pz_buf_printf(out, "{\"requeued\":%ld}", n);
    return PZ_OK;
}

void pz_events_runtime_collect_metrics(void *rt, pz_metrics_writer *w)
{
    pz_event_pipeline_collect_metrics(((pz_events_runtime *)rt)->pipeline, w, pz_now_ms());
}

void pz_events_runtime_stop(pz_events_runtime *rt)
{
    if (rt == NULL)
        return;
    pz_event_pipeline_destroy(rt->pipeline);
    free(rt);
}
