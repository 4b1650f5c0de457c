#include "server/core/experiment_stats.h"

#include <math.h>

double pz_stats_rate(uint64_t x, uint64_t n)
{
    return n > 0 ? (double)x / (double)n : 0.0;
}

void pz_stats_wilson(uint64_t x, uint64_t n, double *low, double *high)
{
    if (n == 0) {
        *low = *high = 0;
        return;
    }
    const double z = PZ_STATS_Z95, z2 = z * z, nn = (double)n, p = pz_stats_rate(x, n);
    double denom = 1 + z2 / nn;
    double center = (p + z2 / (2 * nn)) / denom;
    double half = z * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / denom;
    *low = center - half < 0 ? 0 : center - half;
    *high = center + half > 1 ? 1 : center + half;
}

bool pz_stats_lift(uint64_t xa, uint64_t na, uint64_t xb, uint64_t nb, double *lift)
{
    if (na == 0 || nb == 0 || xa == 0)
        return false;
    double a = pz_stats_rate(xa, na);
    *lift = (pz_stats_rate(xb, nb) - a) / a;
    return true;
}

bool pz_stats_p_value(uint64_t xa, uint64_t na, uint64_t xb, uint64_t nb, double *p)
{
    if (na == 0 || nb == 0)
        return false;
    double pooled = (double)(xa + xb) / (double)(na + nb);
    double se = sqrt(pooled * (1 - pooled) * (1.0 / (double)na + 1.0 / (double)nb));
    if (!(se > 0))
        return false;
    double z = (pz_stats_rate(xb, nb) - pz_stats_rate(xa, na)) / se;
    *p = erfc(fabs(z) / M_SQRT2);
    return true;
}

static double log_beta(double a, double b)
{
    int sign;
    return lgamma_r(a, &sign) + lgamma_r(b, &sign) - lgamma_r(a + b, &sign);
}

/* P(q_B > q_A), q_A ~ Beta(aa, ba), q_B ~ Beta(ab, bb), integer parameters, summing ab terms:
 *   sum_{i=0}^{ab-1} B(aa + i, ba + bb) / ((bb + i) B(1 + i, bb) B(aa, ba))
 * Each term is the previous times (aa + i)(bb + i) / ((aa + ba + bb + i)(1 + i)), so only the
 * first needs log-gamma. The sum is kept as sum * e^scale, rescaled when a term outgrows it, so
 * neither a tiny first term nor large later ones leave the range of a double. */
#define RESCALE_LOG 600.0

static double beat_exact(double aa, double ba, double ab, double bb)
{
    double log_term = log_beta(aa, ba + bb) - log_beta(aa, ba);
    double scale = log_term, sum = 0;
    for (double i = 0; i < ab; i++) {
        if (log_term > scale + RESCALE_LOG) {
            sum *= exp(scale - log_term);
            scale = log_term;
        }
        sum += exp(log_term - scale);
        log_term += log((aa + i) * (bb + i) / ((aa + ba + bb + i) * (1 + i)));
    }
    double p = exp(scale + log(sum));
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

static double beat_normal(double aa, double ba, double ab, double bb)
{
    double ma = aa / (aa + ba), mb = ab / (ab + bb);
    double va = aa * ba / ((aa + ba) * (aa + ba) * (aa + ba + 1));
    double vb = ab * bb / ((ab + bb) * (ab + bb) * (ab + bb + 1));
    return 0.5 * erfc(-(mb - ma) / sqrt(2 * (va + vb)));
}

double pz_stats_prob_beat(uint64_t xa, uint64_t na, uint64_t xb, uint64_t nb)
{
    double aa = 1.0 + (double)xa, ba = 1.0 + (double)(na - xa);
    double ab = 1.0 + (double)xb, bb = 1.0 + (double)(nb - xb);
    if (ab <= aa && ab <= PZ_STATS_EXACT_MAX_TERMS)
        return beat_exact(aa, ba, ab, bb);
    if (aa <= PZ_STATS_EXACT_MAX_TERMS) /* P(B > A) = 1 - P(A > B): ties have probability 0 */
        return 1.0 - beat_exact(ab, bb, aa, ba);
    return beat_normal(aa, ba, ab, bb);
}
