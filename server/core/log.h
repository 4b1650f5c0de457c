/* Logging to stderr: leveled lines with a UTC timestamp, one write(2) per line so lines from
 * different threads never interleave. Two formats (pz_log_set_format):
 *   text  2026-01-02T03:04:05.678Z info  message
 *   json  {"time":"2026-01-02T03:04:05.678Z","level":"info","msg":"message"}, one object per line
 *         (JSON Lines); structured lines (pz_log_json: the access log) add their own fields.
 * Whatever text a client put in a message, a line is always one event: control characters
 * (newlines included) are written as \xNN in text and escaped as JSON in json. URLs in messages
 * and text fields have their credentials and query values redacted (server/core/redact.h).
 * Any thread. */
#ifndef PZ_LOG_H
#define PZ_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum pz_log_level {
    PZ_LOG_DEBUG = 0,
    PZ_LOG_INFO,
    PZ_LOG_WARN,
    PZ_LOG_ERROR,
} pz_log_level;

typedef enum pz_log_format {
    PZ_LOG_TEXT = 0,
    PZ_LOG_JSON,
} pz_log_format;

/* Lines below `level` are dropped. Default PZ_LOG_INFO. */
void pz_log_set_level(pz_log_level level);
/* Parses "debug", "info", "warn", "error". Returns 0, or -1 on an unknown name. */
int pz_log_level_parse(const char *name, pz_log_level *out);

/* Default PZ_LOG_TEXT. Set before threads start. */
void pz_log_set_format(pz_log_format format);
pz_log_format pz_log_get_format(void);
/* Parses "text", "json". Returns 0, or -1 on an unknown name. */
int pz_log_format_parse(const char *name, pz_log_format *out);
/* True when lines of `level` are written: a caller with costly arguments checks it first, so that
 * nothing is formatted for a line that would be dropped. */
bool pz_log_enabled(pz_log_level level);

void pz_log(pz_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A structured line in the JSON format: {"time":...,"level":...,"msg":msg, then `fields` (the
 * members of a JSON object without braces, "" for none: `"a":1,"b":"x"`)}. In the text format
 * the same line is written as `msg` followed by `text_fields`. */
void pz_log_json(pz_log_level level, const char *msg, const char *fields, size_t fields_len, const char *text_fields,
                 size_t text_len);

#define pz_debug(...) pz_log(PZ_LOG_DEBUG, __VA_ARGS__)
#define pz_info(...) pz_log(PZ_LOG_INFO, __VA_ARGS__)
#define pz_warn(...) pz_log(PZ_LOG_WARN, __VA_ARGS__)
#define pz_error_log(...) pz_log(PZ_LOG_ERROR, __VA_ARGS__)

#endif
