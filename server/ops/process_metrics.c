/* Process metrics from /proc (process_metrics.h). */
#include "server/ops/process_metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* /proc/self/stat fields after the command name (field 3 is the state), 1-based as in proc(5). */
#define STAT_UTIME 14
#define STAT_STIME 15
#define STAT_THREADS 20
#define STAT_STARTTIME 22
#define STAT_VSIZE 23
#define STAT_RSS 24

static int read_stat(unsigned long long fields[STAT_RSS + 1])
{
    char buf[2048];
    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (p == NULL)
        return -1;
    char *save = NULL;
    if (strtok_r(p + 1, " ", &save) == NULL) /* field 3, the state */
        return -1;
    for (int i = 4; i <= STAT_RSS; i++) {
        char *tok = strtok_r(NULL, " ", &save);
        if (tok == NULL)
            return -1;
        fields[i] = strtoull(tok, NULL, 10);
    }
    return 0;
}

static long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static long long max_fds(void)
{
    FILE *f = fopen("/proc/self/limits", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long long soft = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "Max open files", 14) == 0) {
            soft = strtoll(line + 14, NULL, 10);
            break;
        }
    }
    fclose(f);
    return soft;
}

static long long boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long long btime = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "btime ", 6) == 0) {
            btime = strtoll(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return btime;
}

void pz_process_metrics_collect(void *ctx, pz_metrics_writer *w)
{
    (void)ctx;
    unsigned long long st[STAT_RSS + 1] = {0};
    double ticks = (double)sysconf(_SC_CLK_TCK);
    double page = (double)sysconf(_SC_PAGESIZE);
    if (read_stat(st) == 0) {
        pz_metrics_write_single(w, "process_cpu_seconds_total", PZ_METRIC_COUNTER,
                                "Total user and system CPU time spent in seconds.",
                                (double)(st[STAT_UTIME] + st[STAT_STIME]) / ticks);
        pz_metrics_write_single(w, "process_resident_memory_bytes", PZ_METRIC_GAUGE, "Resident memory size in bytes.",
                                (double)st[STAT_RSS] * page);
        pz_metrics_write_single(w, "process_virtual_memory_bytes", PZ_METRIC_GAUGE, "Virtual memory size in bytes.",
                                (double)st[STAT_VSIZE]);
        pz_metrics_write_single(w, "process_threads", PZ_METRIC_GAUGE, "Threads of the process.",
                                (double)st[STAT_THREADS]);
        long long btime = boot_time();
        if (btime > 0)
            pz_metrics_write_single(w, "process_start_time_seconds", PZ_METRIC_GAUGE,
                                    "Start time of the process since unix epoch in seconds.",
                                    (double)btime + (double)st[STAT_STARTTIME] / ticks);
    }
    long fds = count_fds();
    if (fds >= 0)
        pz_metrics_write_single(w, "process_open_fds", PZ_METRIC_GAUGE, "Number of open file descriptors.",
                                (double)fds);
    long long max = max_fds();
    if (max > 0)
        pz_metrics_write_single(w, "process_max_fds", PZ_METRIC_GAUGE, "Maximum number of open file descriptors.",
                                (double)max);
}
