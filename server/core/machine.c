/* Machine resources (machine.h). */
#include "server/core/machine.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The byte count in path, or SIZE_MAX when it holds "max" or cannot be read. */
static size_t read_limit(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return SIZE_MAX;
    char text[64] = "";
    bool ok = fgets(text, sizeof text, f) != NULL;
    fclose(f);
    if (!ok)
        return SIZE_MAX;
    text[strcspn(text, "\n")] = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v == 0)
        return SIZE_MAX;
    return v > SIZE_MAX ? SIZE_MAX : (size_t)v;
}

size_t pz_machine_memory_from(size_t physical, const char *const *limit_files, size_t n)
{
    size_t least = physical > 0 ? physical : SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t limit = read_limit(limit_files[i]);
        if (limit < least)
            least = limit;
    }
    return least;
}

size_t pz_machine_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    size_t physical = pages > 0 && page > 0 ? (size_t)pages * (size_t)page : 0;
    static const char *const LIMITS[] = {PZ_CGROUP_V2_MEMORY_MAX, PZ_CGROUP_V1_MEMORY_LIMIT};
    return pz_machine_memory_from(physical, LIMITS, sizeof LIMITS / sizeof LIMITS[0]);
}

int pz_machine_cpus_from(int affinity, const char *cpu_max_file)
{
    int cpus = affinity > 0 ? affinity : 1;
    FILE *f = fopen(cpu_max_file, "r");
    if (f == NULL)
        return cpus;
    long long quota = 0, period = 0;
    int got = fscanf(f, "%lld %lld", &quota, &period); /* "max 100000" reads no quota */
    fclose(f);
    if (got != 2 || quota <= 0 || period <= 0)
        return cpus;
    long long allowed = (quota + period - 1) / period;
    return allowed < cpus ? (int)allowed : cpus;
}

int pz_machine_cpus(void)
{
    cpu_set_t set;
    int affinity = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    return pz_machine_cpus_from(affinity, PZ_CGROUP_V2_CPU_MAX);
}
