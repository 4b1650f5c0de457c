/* Clocks: wall-clock milliseconds for timestamps and deadlines, monotonic microseconds for
 * durations. Code that makes decisions from time (cache expiry, context rules, experiments) takes
 * `now` as a parameter instead of calling these, so tests can inject it. Any thread. */
#ifndef PZ_CLOCK_H
#define PZ_CLOCK_H

#include <stdint.h>

/* Wall-clock milliseconds since the epoch (CLOCK_REALTIME). */
int64_t pz_now_ms(void);
/* CLOCK_MONOTONIC in microseconds: only differences mean anything. */
int64_t pz_mono_us(void);

#endif
