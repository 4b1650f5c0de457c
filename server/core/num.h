/* Range-checked float -> integer conversion. Converting a double that does not fit the integer
 * type (or a NaN) is undefined behaviour in C, and UBSan's float-cast-overflow check (on in
 * --config=asan) aborts on it; every such conversion in the tree goes through here, or sits right
 * after its own range check. Any thread. */
#ifndef PZ_NUM_H
#define PZ_NUM_H

#include <stdint.h>

/* v truncated toward zero, clamped into [lo, hi]; NaN gives lo. lo <= hi. */
static inline int64_t pz_double_to_i64(double v, int64_t lo, int64_t hi)
{
    if (!(v > (double)lo)) /* NaN too */
        return lo;
    if (v >= (double)hi) /* (double)INT64_MAX rounds up to 2^63: >= keeps the cast below in range */
        return hi;
    int64_t i = (int64_t)v;
    return i < lo ? lo : i > hi ? hi : i;
}

/* Epoch seconds (a client's sentAt) as epoch milliseconds, clamped into [0, PZ_EPOCH_MS_MAX]. */
#define PZ_EPOCH_MS_MAX ((int64_t)1 << 53)
static inline int64_t pz_epoch_s_to_ms(double seconds)
{
    return pz_double_to_i64(seconds * 1000.0, 0, PZ_EPOCH_MS_MAX);
}

/* An event's sentAt (epoch seconds) as the learner's epoch milliseconds, never later than now_ms.
 * PutEvents validation already refuses times past the allowed clock skew
 * (server/core/event_validation.h); this also covers records stored before that check existed, so
 * no stored record can date an event in the future of the decayed statistics. */
static inline int64_t pz_event_time_ms(double sent_at, int64_t now_ms)
{
    int64_t ms = pz_epoch_s_to_ms(sent_at);
    return ms > now_ms ? now_ms : ms;
}

#endif
