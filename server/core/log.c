#include "server/core/log.h"

#include "server/core/buf.h"
#include "server/core/json_text.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "server/core/redact.h"

static volatile pz_log_level log_level = PZ_LOG_INFO;
static pz_log_format log_format = PZ_LOG_TEXT;

/* A line is cut to this many bytes (one write, however long the message): room for a message of
 * 4 KiB with every byte escaped, and the access log's fields. */
#define LINE_MAX_BYTES 32768

/* Each thread formats its lines in its own buffer, kept between lines (no allocation per line)
 * and freed when the thread exits. */
static pthread_key_t line_key;
static pthread_once_t line_once = PTHREAD_ONCE_INIT;

static void free_line(void *p)
{
    pz_buf_free(p);
    free(p);
}

static void make_line_key(void)
{
    if (pthread_key_create(&line_key, free_line) != 0)
        abort();
}

static pz_buf *thread_line(void)
{
    pthread_once(&line_once, make_line_key);
    pz_buf *b = pthread_getspecific(line_key);
    if (b == NULL) {
        b = calloc(1, sizeof *b);
        if (b == NULL)
            abort();
        pz_buf_init(b, LINE_MAX_BYTES);
        pthread_setspecific(line_key, b);
    }
    pz_buf_clear(b);
    return b;
}

/* A message's text before redaction and escaping; longer messages are cut. */
#define LOG_LINE_MAX 4096

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

void pz_log_set_format(pz_log_format format)
{
    log_format = format;
}

pz_log_format pz_log_get_format(void)
{
    return log_format;
}

int pz_log_format_parse(const char *name, pz_log_format *out)
{
    if (strcasecmp(name, "text") == 0)
        *out = PZ_LOG_TEXT;
    else if (strcasecmp(name, "json") == 0)
        *out = PZ_LOG_JSON;
    else
        return -1;
    return 0;
}

bool pz_log_enabled(pz_log_level level)
{
    return level >= log_level;
}

/* "2026-01-02T03:04:05.678Z" into out (at least 32 bytes); returns its length. */
static size_t timestamp(char *out, size_t len)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    return (size_t)snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
}

static void write_line(pz_buf *line)
{
    if (line->data == NULL)
        return;
    if (line->len > 0 && line->data[line->len - 1] != '\n')
        line->data[line->len++] = '\n'; /* the buffer always keeps room for its NUL: the newline takes it */
    ssize_t w = write(STDERR_FILENO, line->data, line->len);
    (void)w;
}

/* The start of a line: the text prefix, or the JSON object up to the message. */
static void begin_line(pz_buf *line, pz_log_level level)
{
    char ts[40];
    size_t n = timestamp(ts, sizeof ts);
    if (log_format == PZ_LOG_JSON) {
        pz_buf_append_str(line, "{\"time\":\"");
        pz_buf_append(line, ts, n);
        pz_buf_printf(line, "\",\"level\":\"%s\",\"msg\":", level_names[level]);
    } else {
        pz_buf_append(line, ts, n);
        pz_buf_printf(line, " %-5s ", level_names[level]);
    }
}

/* Appends text[0..len) to a text-format line: control characters (a client's method path,
 * header or id can carry a newline) are written as \xNN, so one event is always one line and
 * nobody can forge a log line. */
static void append_escaped(pz_buf *line, const char *text, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c != 0x7f)
            continue;
        pz_buf_append(line, text + run, i - run);
        char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
        pz_buf_append(line, esc, sizeof esc);
        run = i + 1;
    }
    pz_buf_append(line, text + run, len - run);
}

/* Appends a message or free text: URL credentials and query values redacted, whoever formatted
 * it (redact.h), then escaped for the line's format (JSON string, or \xNN in text). */
static void append_text(pz_buf *line, const char *text, size_t len, bool json)
{
    char redacted[LOG_LINE_MAX]; /* cut to fit, like the message itself */
    if (len > LOG_LINE_MAX - 1)
        len = LOG_LINE_MAX - 1;
    if (memmem(text, len, "://", 3) != NULL) {
        len = pz_redact_urls(text, len, redacted, sizeof redacted);
        text = redacted;
    }
    if (json)
        pz_json_write_string(line, text, len);
    else
        append_escaped(line, text, len);
}

void pz_log(pz_log_level level, const char *fmt, ...)
{
    if (level < log_level)
        return;
    char msg[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t mlen = m < 0 ? 0 : (size_t)m >= sizeof msg ? sizeof msg - 1 : (size_t)m;
    pz_buf *line = thread_line();
    begin_line(line, level);
    append_text(line, msg, mlen, log_format == PZ_LOG_JSON);
    if (log_format == PZ_LOG_JSON)
        pz_buf_append_char(line, '}');
    write_line(line);
}

void pz_log_json(pz_log_level level, const char *msg, const char *fields, size_t fields_len, const char *text_fields,
                 size_t text_len)
{
    if (level < log_level)
        return;
    pz_buf *line = thread_line();
    begin_line(line, level);
    if (log_format == PZ_LOG_JSON) {
        append_text(line, msg, strlen(msg), true);
        if (fields_len > 0 && pz_buf_append_char(line, ',') == 0 && pz_buf_append(line, fields, fields_len) != 0)
            pz_buf_append_str(line, "\"cut\":true"); /* a shorter line, still JSON */
        pz_buf_append_char(line, '}');
    } else {
        append_text(line, msg, strlen(msg), false);
        if (text_len > 0) {
            pz_buf_append_char(line, ' ');
            append_text(line, text_fields, text_len, false);
        }
    }
    write_line(line);
}
