/* Statistics of an A/B test (issue #14), pure and deterministic (no sampling, so no randomness to
 * inject): for each variation the conversion rate with a 95 % interval, and against the control
 * (the first variation) the relative lift, a two-sided p-value and the Bayesian probability to
 * beat the control.
 *
 * A variation's sample is n users exposed, of whom x converted (x <= n): a proportion.
 *   - rate           x / n
 *   - 95 % interval  Wilson score interval (good at small n and near 0 or 1, unlike x/n +- 1.96 se)
 *   - lift           (rate_B - rate_A) / rate_A                        (undefined when rate_A = 0)
 *   - p-value        two-proportion z-test with the pooled rate p = (x_A + x_B) / (n_A + n_B):
 *                    z = (rate_B - rate_A) / sqrt(p (1 - p) (1/n_A + 1/n_B)), p-value = erfc(|z| / sqrt 2)
 *                    (undefined when either n is 0 or p is 0 or 1)
 *   - P(B beats A)   P(q_B > q_A) for q ~ Beta(1 + x, 1 + n - x) (uniform prior), computed exactly
 *                    (Evan Miller's closed form, summed over the smaller side) while that side has
 *                    at most PZ_STATS_EXACT_MAX_TERMS terms, else by the normal approximation of
 *                    both posteriors (then accurate to well under 0.1 %).
 * Any thread.
 */
#ifndef PZ_EXPERIMENT_STATS_H
#define PZ_EXPERIMENT_STATS_H

#include <stdbool.h>
#include <stdint.h>

/* The two-sided 95 % normal quantile. */
#define PZ_STATS_Z95 1.959963984540054
/* The exact probability to beat sums this many terms at most (a few ms). */
#define PZ_STATS_EXACT_MAX_TERMS 100000
/* A verdict needs every variation to have this many users exposed... */
#define PZ_STATS_MIN_USERS 100
/* ...and the metric this many converted users over all variations. */
#define PZ_STATS_MIN_CONVERTED 10
/* "B beats A" needs this probability (or A beats B: 1 minus it). */
#define PZ_STATS_DECISIVE 0.95

/* x / n; 0 when n is 0. */
double pz_stats_rate(uint64_t x, uint64_t n);
/* The Wilson 95 % interval of x / n; [0, 0] when n is 0. */
void pz_stats_wilson(uint64_t x, uint64_t n, double *low, double *high);
/* Relative lift of B over A. False when undefined. */
bool pz_stats_lift(uint64_t xa, uint64_t na, uint64_t xb, uint64_t nb, double *lift);
/* Two-sided p-value of the two-proportion z-test. False when undefined. */
bool pz_stats_p_value(uint64_t xa, uint64_t na, uint64_t xb, uint64_t nb, double *p);
/* P(rate of B > rate of A) under independent Beta(1 + x, 1 + n - x) posteriors. */
double pz_stats_prob_beat(uint64_t xa, uint64_t na, uint64_t xb, uint64_t nb);

#endif
