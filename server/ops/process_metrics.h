/* The process's own figures as Prometheus metrics (module prefix pz_process_metrics), read from
 * /proc at scrape time with the names the Prometheus client libraries use: process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds, process_max_fds,
 * process_start_time_seconds, plus process_threads. A figure that cannot be read is left out.
 * Linux only; any thread. */
#ifndef PZ_PROCESS_METRICS_H
#define PZ_PROCESS_METRICS_H

#include "server/core/metrics.h"

/* A pz_metrics_collect_fn; ctx is unused. */
void pz_process_metrics_collect(void *ctx, pz_metrics_writer *w);

#endif
