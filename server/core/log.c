#include "server/core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "server/core/redact.h"

static volatile pz_log_level log_level = PZ_LOG_INFO;

/* A line's text before escaping; longer messages are cut. */
#define LOG_LINE_MAX 4096
/* A control character is written as the 4 bytes "\xNN". */
#define ESCAPED_BYTES_MAX 4

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void pz_log_set_level(pz_log_level level)
{
    log_level = level;
}

int pz_log_level_parse(const char *name, pz_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (pz_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(name, "warning") == 0) {
        *out = PZ_LOG_WARN;
        return 0;
    }
    return -1;
}

bool pz_log_enabled(pz_log_level level)
{
    return level >= log_level;
}

void pz_log(pz_log_level level, const char *fmt, ...)
{
    if (level < log_level)
        return;
    char line[LOG_LINE_MAX];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000), level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len] = '\0';
    /* No URL credentials or query values in the log, whoever formatted the line (redact.h). */
    char redacted[sizeof line];
    if (memmem(line + n, len - (size_t)n, "://", 3) != NULL) {
        len = (size_t)n + pz_redact_urls(line + n, len - (size_t)n, redacted, sizeof redacted - (size_t)n - 1);
        memcpy(line + n, redacted, len - (size_t)n);
    }
    /* One event, one line: control characters in the message (a client's method path, header or
     * id can carry a newline) are written as \xNN, so nobody can forge a log line. */
    char out[LOG_LINE_MAX * ESCAPED_BYTES_MAX + 1];
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o++] = '\n';
    ssize_t w = write(STDERR_FILENO, out, o);
    (void)w;
}
