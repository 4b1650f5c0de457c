/* Experiment buckets: the deterministic, sticky part of A/B assignment (spec §7.4, issue #14).
 *
 * A user's bucket is a pure function of (salt, feature, userId):
 *
 *   h      = MurmurHash64A(salt || 0x00 || feature || 0x00 || userId, seed 0)   (server/core/hash.h)
 *   bucket = ((h >> 32) * PZ_BUCKETS) >> 32                                     (0 .. PZ_BUCKETS-1)
 *
 * so it is the same on every instance, after every restart and whichever protocol asked. The
 * variations of an experiment cover consecutive bucket ranges in configuration order, sized by
 * weight: variation i holds [start_i, start_{i+1}) with
 *
 *   start_i = floor(PZ_BUCKETS * (w_0 + ... + w_{i-1}) / (w_0 + ... + w_{n-1}))
 *
 * A user's bucket never changes; only the ranges do when weights change, so a weight change moves
 * exactly the users whose bucket now falls in another variation's range (e.g. 50/50 -> 40/60 moves
 * buckets 4000..4999 from the first variation to the second and no one else). A variation of
 * weight 0 has an empty range. Pure; any thread.
 */
#ifndef PZ_BUCKET_H
#define PZ_BUCKET_H

#include <stddef.h>
#include <stdint.h>

/* Buckets per experiment: weights resolve to 0.01 % steps. */
#define PZ_BUCKETS 10000u

/* The bucket of a user (all three strings required; "" is a valid salt). */
uint32_t pz_bucket_of(const char *salt, const char *feature, const char *user_id);

/* The first bucket of each of the n variations (starts[0..n)) plus starts[n] = PZ_BUCKETS, from
 * weights[0..n) (>= 0, not all 0; NULL = equal weights). */
void pz_bucket_ranges(const double *weights, size_t n, uint32_t *starts);

/* The variation whose range holds `bucket`: the i with starts[i] <= bucket < starts[i + 1]. */
size_t pz_bucket_variation(const uint32_t *starts, size_t n, uint32_t bucket);

#endif
