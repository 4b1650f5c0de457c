/* What the in-process benchmarks share (module prefix pz_bench): the clock they time calls with, a
 * completion counter for requests that finish inline on the calling thread, and a median.
 *
 * Thread CPU time (pz_bench_thread_cpu_s) is what a call costs whatever else runs on the shared
 * cores; wall time (CLOCK_MONOTONIC) is what a caller waits. Single-threaded use. */
#ifndef PZ_BENCH_CORE_BENCH_H
#define PZ_BENCH_CORE_BENCH_H

#include <stddef.h>
#include <time.h>

#include "server/core/request.h"

/* Seconds on `clock`. */
double pz_bench_now_s(clockid_t clock);

/* Seconds of this thread's CPU time. */
double pz_bench_thread_cpu_s(void);

/* A pz_request.on_done that counts the requests finished (pz_bench_done). */
void pz_bench_count_done(pz_request *req);
int pz_bench_done(void);

/* The median of v[0..n) (n > 0; the mean of the middle two when n is even). Sorts v. */
double pz_bench_median(double *v, size_t n);

#endif
