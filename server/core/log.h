/* Logging to stderr: leveled lines with a UTC timestamp, one write(2) per line so lines from
 * different threads never interleave. Control characters in a message (newlines included) are
 * written as \xNN: a line is always one event, whatever text a client put in it. Any thread. */
#ifndef PZ_LOG_H
#define PZ_LOG_H

#include <stdbool.h>

typedef enum pz_log_level {
    PZ_LOG_DEBUG = 0,
    PZ_LOG_INFO,
    PZ_LOG_WARN,
    PZ_LOG_ERROR,
} pz_log_level;

/* Lines below `level` are dropped. Default PZ_LOG_INFO. */
void pz_log_set_level(pz_log_level level);
/* Parses "debug", "info", "warn", "error". Returns 0, or -1 on an unknown name. */
int pz_log_level_parse(const char *name, pz_log_level *out);

void pz_log(pz_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when lines of `level` are written: a caller with costly arguments checks it first, so that
 * nothing is formatted for a line that would be dropped. */
bool pz_log_enabled(pz_log_level level);

#define pz_debug(...) pz_log(PZ_LOG_DEBUG, __VA_ARGS__)
#define pz_info(...) pz_log(PZ_LOG_INFO, __VA_ARGS__)
#define pz_warn(...) pz_log(PZ_LOG_WARN, __VA_ARGS__)
#define pz_error_log(...) pz_log(PZ_LOG_ERROR, __VA_ARGS__)

#endif
