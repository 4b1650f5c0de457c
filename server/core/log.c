#include "server/core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile pz_log_level log_level = PZ_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* U+0001-U+001F and U+007F (strcspn stops at the NUL that ends the text anyway). */
static const char CONTROL_CHARS[] = "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12"
                                    "\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f";

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

void pz_log(pz_log_level level, const char *fmt, ...)
{
    if (level < log_level)
        return;
    char line[4096];
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
    /* One event, one line: control characters in logged values (a request's, an upstream's) are
     * written as \xNN, so nothing a client or an upstream sends can forge a log line. */
    line[len] = '\0';
    char escaped[sizeof line * 4 + 1];
    char *out = line;
    if (strcspn(line + n, CONTROL_CHARS) < len - (size_t)n) {
        size_t k = 0;
        for (size_t i = 0; i < len; i++) {
            unsigned char ch = (unsigned char)line[i];
            if (i >= (size_t)n && (ch < 0x20 || ch == 0x7f))
                k += (size_t)snprintf(escaped + k, sizeof escaped - k, "\\x%02x", ch);
            else
                escaped[k++] = (char)ch;
        }
        out = escaped;
        len = k;
    }
    out[len++] = '\n'; /* one write per line: lines of concurrent threads never interleave */
    ssize_t w = write(STDERR_FILENO, out, len);
    (void)w;
}
