/* What the machine gives this process: memory and CPUs, for budgets and thread counts that size
 * themselves from it. */
#ifndef PZ_MACHINE_H
#define PZ_MACHINE_H

#include <stddef.h>

/* The cgroup files that may limit the memory of a process in a container: cgroup v2's memory.max
 * ("max" or bytes) and cgroup v1's memory.limit_in_bytes (bytes; a huge number when unlimited). */
#define PZ_CGROUP_V2_MEMORY_MAX "/sys/fs/cgroup/memory.max"
#define PZ_CGROUP_V1_MEMORY_LIMIT "/sys/fs/cgroup/memory/memory.limit_in_bytes"

/* The memory this process may use, in bytes: physical memory, or less when a cgroup limits it (a
 * container sees the host's physical memory, and its limit only in the cgroup files). SIZE_MAX
 * when nothing can be read. Any thread; reads a few files, so not for hot paths. */
size_t pz_machine_memory(void);

/* pz_machine_memory with its inputs given: physical bytes (0 = unknown) and n limit files, each
 * holding a byte count or "max" (missing, unreadable or unparsable files are ignored). */
size_t pz_machine_memory_from(size_t physical, const char *const *limit_files, size_t n);

/* cgroup v2's CPU bandwidth limit: "max PERIOD" or "QUOTA PERIOD" (microseconds). */
#define PZ_CGROUP_V2_CPU_MAX "/sys/fs/cgroup/cpu.max"

/* The CPUs this process may use, at least 1: the CPUs it may run on (its affinity mask), or fewer
 * when a cgroup quota allows less CPU time (a container's --cpus), rounded up. Any thread; reads
 * a file, so not for hot paths. */
int pz_machine_cpus(void);

/* pz_machine_cpus with its inputs given: the CPUs of the affinity mask (<= 0 = unknown: 1) and a
 * cpu.max file (missing, unreadable, "max" or unparsable: no quota). */
int pz_machine_cpus_from(int affinity, const char *cpu_max_file);

#endif
