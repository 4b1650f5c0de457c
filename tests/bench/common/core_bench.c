#include "tests/bench/common/core_bench.h"

#include <stdlib.h>

static int done_count;

double pz_bench_now_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double pz_bench_thread_cpu_s(void)
{
    return pz_bench_now_s(CLOCK_THREAD_CPUTIME_ID);
}

void pz_bench_count_done(pz_request *req)
{
    (void)req;
    done_count++;
}

int pz_bench_done(void)
{
    return done_count;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double pz_bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, compare_doubles);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
