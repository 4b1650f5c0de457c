/* What the machine gives this process: memory, for budgets that size themselves from it. */
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

#endif
