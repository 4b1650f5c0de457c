/* Interaction histories: JSON Lines (PutEvents bodies) and Personalize interactions CSV
 * (history.h). */
#include "server/recommenders/history.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/core/line_reader.h"
#include "server/core/mem.h"
#include "server/recommenders/builtin.h"

#define MAX_ID PZ_BUILTIN_MAX_ID_LEN

/* The CSV columns we read; the header maps them to positions. */
enum { COL_USER, COL_ITEM, COL_TIME, COL_TYPE, COL_VALUE, N_COLS };
static const struct {
    const char *name;
    bool required;
} COLUMNS[N_COLS] = {
    [COL_USER] = {"USER_ID", true},     [COL_ITEM] = {"ITEM_ID", true},       [COL_TIME] = {"TIMESTAMP", true},
    [COL_TYPE] = {"EVENT_TYPE", false}, [COL_VALUE] = {"EVENT_VALUE", false},
};

struct pz_history {
    pz_line_reader *reader;
    pz_history_format format;
    uint64_t line_no;
    char *pending; /* a first line read to tell the format, returned by the next read */
    size_t pending_len;
    bool has_pending;
    int col[N_COLS]; /* CSV: position of each column, -1 when absent */
    size_t n_header_cols;
    char *fields; /* CSV: the line's unquoted fields, NUL-separated */
    const char **field;
    size_t field_cap;
    json_t *json; /* JSON Lines: the line's document, alive until the next read */
    pz_interaction *events;
    size_t events_cap;
    char error[512];
};

static bool has_suffix(const char *s, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    return n >= m && strncasecmp(s + n - m, suffix, m) == 0;
}

static pz_history_format format_from_name(const char *path)
{
    size_t n = strlen(path);
    if (has_suffix(path, n, ".gz"))
        n -= 3;
    else if (has_suffix(path, n, ".gzip"))
        n -= 5;
    if (has_suffix(path, n, ".csv"))
        return PZ_HISTORY_CSV;
    if (has_suffix(path, n, ".jsonl") || has_suffix(path, n, ".ndjson") || has_suffix(path, n, ".json"))
        return PZ_HISTORY_JSONL;
    return PZ_HISTORY_AUTO;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

static int bad(pz_history *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(pz_history *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->error, sizeof h->error, fmt, ap);
    va_end(ap);
    return -1;
}

static pz_interaction *event_slot(pz_history *h, size_t i)
{
    if (i >= h->events_cap) {
        h->events_cap = h->events_cap ? h->events_cap * 2 : 16;
        h->events = pz_realloc(h->events, h->events_cap * sizeof *h->events);
    }
    memset(&h->events[i], 0, sizeof h->events[i]);
    return &h->events[i];
}

/* A time in epoch seconds: finite, >= 0, not milliseconds by mistake. Returns 0 or -1 with h->error. */
static int check_time(pz_history *h, const char *what, double seconds, int64_t *ms)
{
    if (!isfinite(seconds) || seconds < 0)
        return bad(h, "%s must be epoch seconds, 0 or more", what);
    if (seconds > PZ_HISTORY_MAX_SECONDS)
        return bad(h, "%s %.0f is after the year 5000: milliseconds? give epoch seconds", what, seconds);
    *ms = (int64_t)llround(seconds * 1000.0);
    return 0;
}

static bool id_ok(const char *s, size_t len)
{
    return s != NULL && len >= 1 && len <= MAX_ID;
}

/* ---- CSV ---- */

/* Splits line into unquoted fields (h->field). Returns the count, or -1 with h->error. */
static long split_csv(pz_history *h, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--; /* CRLF line ends */
    h->fields = pz_realloc(h->fields, len + 1);
    char *out = h->fields;
    size_t n = 0, i = 0;
    for (;;) {
        if (n == h->field_cap) {
            h->field_cap = h->field_cap ? h->field_cap * 2 : 16;
            h->field = pz_realloc(h->field, h->field_cap * sizeof *h->field);
        }
        h->field[n++] = out;
        if (i < len && line[i] == '"') { /* quoted: "" is a quote, the field ends at the closing one */
            for (i++;; i++) {
                if (i >= len)
                    return bad(h, "unterminated quoted field (a field cannot span lines)");
                if (line[i] == '"' && i + 1 < len && line[i + 1] == '"')
                    *out++ = line[i++];
                else if (line[i] == '"')
                    break;
                else
                    *out++ = line[i];
            }
            i++; /* the closing quote */
            if (i < len && line[i] != ',')
                return bad(h, "text after a closing quote in field %zu", n);
        } else {
            while (i < len && line[i] != ',')
                *out++ = line[i++];
        }
        *out++ = '\0';
        if (i >= len)
            return (long)n;
        i++; /* the comma */
    }
}

static void trim(const char **s)
{
    while (**s == ' ' || **s == '\t')
        (*s)++;
}

static int read_header(pz_history *h, const char *line, size_t len, char *err, size_t errlen)
{
    long n = split_csv(h, line, len);
    if (n < 0) {
        snprintf(err, errlen, "line %llu (the header): %s", (unsigned long long)h->line_no, h->error);
        return -1;
    }
    for (int c = 0; c < N_COLS; c++)
        h->col[c] = -1;
    for (long i = 0; i < n; i++) {
        const char *name = h->field[i];
        trim(&name);
        size_t nlen = strlen(name);
        while (nlen > 0 && (name[nlen - 1] == ' ' || name[nlen - 1] == '\t'))
            nlen--;
        for (int c = 0; c < N_COLS; c++) {
            if (strlen(COLUMNS[c].name) == nlen && strncasecmp(name, COLUMNS[c].name, nlen) == 0)
                h->col[c] = (int)i;
        }
    }
    for (int c = 0; c < N_COLS; c++) {
        if (COLUMNS[c].required && h->col[c] < 0) {
            snprintf(err, errlen,
                     "line %llu (the header): no %s column; a Personalize interactions CSV has USER_ID, ITEM_ID, "
                     "TIMESTAMP and optionally EVENT_TYPE, EVENT_VALUE",
                     (unsigned long long)h->line_no, COLUMNS[c].name);
            return -1;
        }
    }
    h->n_header_cols = (size_t)n;
    return 0;
}

static const char *column(pz_history *h, int c)
{
    return h->col[c] >= 0 ? h->field[h->col[c]] : NULL;
}

static int parse_number(const char *s, double *out)
{
    trim(&s);
    char *end;
    *out = strtod(s, &end);
    while (*end == ' ' || *end == '\t')
        end++;
    return end != s && *end == '\0' && isfinite(*out) ? 0 : -1;
}

static int csv_line(pz_history *h, const char *line, size_t len, pz_history_line *out)
{
    long n = split_csv(h, line, len);
    if (n < 0)
        return -1;
    if ((size_t)n != h->n_header_cols)
        return bad(h, "%ld fields; the header has %zu", n, h->n_header_cols);
    const char *user = column(h, COL_USER), *item = column(h, COL_ITEM), *type = column(h, COL_TYPE);
    const char *value = column(h, COL_VALUE);
    if (!id_ok(user, strlen(user)))
        return bad(h, "USER_ID must be 1 to %d characters", MAX_ID);
    if (!id_ok(item, strlen(item)))
        return bad(h, "ITEM_ID must be 1 to %d characters", MAX_ID);
    if (type != NULL && strlen(type) > MAX_ID)
        return bad(h, "EVENT_TYPE must be at most %d characters", MAX_ID);
    double seconds;
    pz_interaction *e = event_slot(h, 0);
    if (parse_number(column(h, COL_TIME), &seconds) != 0)
        return bad(h, "TIMESTAMP is not a number: \"%.40s\"", column(h, COL_TIME));
    if (check_time(h, "TIMESTAMP", seconds, &e->sent_at_ms) != 0)
        return -1;
    if (value != NULL && value[0] != '\0') {
        if (parse_number(value, &e->event_value) != 0)
            return bad(h, "EVENT_VALUE is not a number: \"%.40s\"", value);
        e->has_event_value = true;
    }
    e->user_id = user;
    e->item_id = item;
    e->event_type = type != NULL && type[0] != '\0' ? type : NULL;
    out->events = h->events;
    out->n = 1;
    return 0;
}

/* ---- JSON Lines ---- */

static int json_string_field(pz_history *h, json_t *obj, const char *key, const char *where, bool required,
                             const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (required)
            return bad(h, "%s%s is required", where, key);
        return 0;
    }
    if (!json_is_string(v) || !id_ok(json_string_value(v), json_string_length(v)) ||
        strlen(json_string_value(v)) != json_string_length(v))
        return bad(h, "%s%s must be a string of 1 to %d characters", where, key, MAX_ID);
    *out = json_string_value(v);
    return 0;
}

static int json_event(pz_history *h, json_t *ev, size_t i, pz_interaction *e)
{
    char where[48];
    snprintf(where, sizeof where, "eventList[%zu].", i);
    if (!json_is_object(ev))
        return bad(h, "eventList[%zu] is not an object", i);
    if (json_string_field(h, ev, "eventType", where, true, &e->event_type) != 0 ||
        json_string_field(h, ev, "itemId", where, true, &e->item_id) != 0)
        return -1;
    json_t *sent = json_object_get(ev, "sentAt");
    if (!json_is_number(sent))
        return bad(h, "%ssentAt is required (epoch seconds)", where);
    char what[64];
    snprintf(what, sizeof what, "%ssentAt", where);
    if (check_time(h, what, json_number_value(sent), &e->sent_at_ms) != 0)
        return -1;
    json_t *value = json_object_get(ev, "eventValue");
    if (value != NULL && !json_is_null(value)) {
        if (!json_is_number(value))
            return bad(h, "%seventValue must be a number", where);
        e->has_event_value = true;
        e->event_value = json_number_value(value);
    }
    return 0;
}

static int json_line(pz_history *h, const char *line, size_t len, pz_history_line *out)
{
    json_error_t jerr;
    h->json = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (h->json == NULL)
        return bad(h, "invalid JSON at column %d: %s", jerr.column, jerr.text);
    json_t *body = h->json;
    if (!json_is_object(body))
        return bad(h, "expected a PutEvents body (a JSON object with eventList)");
    if (json_object_get(body, "eventList") == NULL && json_is_object(json_object_get(body, "body")))
        body = json_object_get(body, "body"); /* a file target's envelope */
    json_t *list = json_object_get(body, "eventList");
    if (!json_is_array(list) || json_array_size(list) == 0)
        return bad(h, "eventList must be a non-empty array");
    const char *session, *user;
    if (json_string_field(h, body, "sessionId", "", false, &session) != 0 ||
        json_string_field(h, body, "userId", "", false, &user) != 0)
        return -1;
    size_t n = json_array_size(list);
    for (size_t i = 0; i < n; i++) {
        pz_interaction *e = event_slot(h, i);
        if (json_event(h, json_array_get(list, i), i, e) != 0)
            return -1;
        e->user_id = user;
        e->session_id = session;
    }
    out->events = h->events;
    out->n = n;
    return 0;
}

/* ---- reading ---- */

/* Reads the first non-blank line when the format must be told from it, and the CSV header. */
static int start(pz_history *h, const char *path, pz_history_format format, char *err, size_t errlen)
{
    h->format = format != PZ_HISTORY_AUTO ? format : format_from_name(path);
    if (h->format == PZ_HISTORY_JSONL)
        return 0;
    const char *line = NULL;
    size_t len = 0;
    bool too_long;
    int rc;
    while ((rc = pz_line_reader_next(h->reader, &line, &len, &too_long)) == 1) {
        h->line_no++;
        if (too_long || !blank(line, len))
            break;
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s", pz_line_reader_error(h->reader));
        return -1;
    }
    if (rc == 0) { /* empty: nothing to read, whatever the format */
        h->format = h->format == PZ_HISTORY_AUTO ? PZ_HISTORY_JSONL : h->format;
        if (h->format == PZ_HISTORY_CSV) {
            snprintf(err, errlen, "empty: a CSV history starts with its header");
            return -1;
        }
        return 0;
    }
    const char *p = line;
    while (p < line + len && (*p == ' ' || *p == '\t'))
        p++;
    if (h->format == PZ_HISTORY_AUTO)
        h->format = !too_long && p < line + len && *p == '{' ? PZ_HISTORY_JSONL : PZ_HISTORY_CSV;
    if (h->format == PZ_HISTORY_JSONL) { /* keep it: it is data */
        h->pending = pz_malloc(len + 1);
        memcpy(h->pending, line, len);
        h->pending_len = len;
        h->has_pending = true;
        return 0;
    }
    if (too_long) {
        snprintf(err, errlen, "line %llu (the header) is longer than %u bytes", (unsigned long long)h->line_no,
                 PZ_HISTORY_MAX_LINE);
        return -1;
    }
    return read_header(h, line, len, err, errlen);
}

static pz_history *history_new(pz_line_reader *r)
{
    pz_history *h = pz_calloc(1, sizeof *h);
    h->reader = r;
    return h;
}

pz_history *pz_history_open(const char *path, pz_history_format format, char *err, size_t errlen)
{
    pz_line_reader *r = pz_line_reader_open(path, PZ_HISTORY_MAX_LINE, err, errlen);
    if (r == NULL)
        return NULL;
    pz_history *h = history_new(r);
    if (start(h, path, format, err, errlen) != 0) {
        pz_history_close(h);
        return NULL;
    }
    return h;
}

pz_history *pz_history_memory(const char *data, size_t len, pz_history_format format, char *err, size_t errlen)
{
    pz_history *h = history_new(pz_line_reader_memory(data, len, PZ_HISTORY_MAX_LINE));
    if (start(h, "(memory)", format, err, errlen) != 0) {
        pz_history_close(h);
        return NULL;
    }
    return h;
}

void pz_history_close(pz_history *h)
{
    if (h == NULL)
        return;
    pz_line_reader_close(h->reader);
    json_decref(h->json);
    free(h->pending);
    free(h->fields);
    free(h->field);
    free(h->events);
    free(h);
}

int pz_history_next(pz_history *h, pz_history_line *out, char *err, size_t errlen)
{
    json_decref(h->json);
    h->json = NULL;
    const char *line;
    size_t len;
    bool too_long = false;
    if (h->has_pending) {
        line = h->pending;
        len = h->pending_len;
        h->has_pending = false;
    } else {
        int rc = pz_line_reader_next(h->reader, &line, &len, &too_long);
        if (rc <= 0) {
            if (rc < 0)
                snprintf(err, errlen, "%s", pz_line_reader_error(h->reader));
            return rc;
        }
        h->line_no++;
    }
    *out = (pz_history_line){.number = h->line_no};
    if (too_long) {
        snprintf(h->error, sizeof h->error, "longer than %u bytes", PZ_HISTORY_MAX_LINE);
        out->error = h->error;
        return 1;
    }
    if (blank(line, len))
        return 1;
    int rc = h->format == PZ_HISTORY_CSV ? csv_line(h, line, len, out) : json_line(h, line, len, out);
    if (rc != 0) {
        out->events = NULL;
        out->n = 0;
        out->error = h->error;
    }
    return 1;
}

uint64_t pz_history_offset(const pz_history *h)
{
    return pz_line_reader_offset(h->reader);
}

pz_history_format pz_history_format_of(const pz_history *h)
{
    return h->format;
}
