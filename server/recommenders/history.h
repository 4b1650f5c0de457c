/* Interaction histories for the builtin recommender: a file (plain or gzip) read line by line into
 * pz_interaction events, each line checked on its own so a bad line is reported with its number and
 * the rest still read. Formats:
 *
 *   JSON Lines, one PutEvents body per line (what POST /events takes):
 *     {"sessionId": "s", "userId": "u", "eventList": [{"eventType": "click", "itemId": "i",
 *      "sentAt": 1700000000, "eventValue": 1.5}, ...]}
 *   or the envelope the `file` event target writes ({"body": {...PutEvents...}, ...}), so a file
 *   target's output can be replayed. Per event: eventType and itemId 1..PZ_EVENTS_MAX_ID_LEN
 *   characters, sentAt required (epoch seconds, >= 0), eventValue optional (a number); sessionId and
 *   userId optional, at most PZ_EVENTS_MAX_ID_LEN characters.
 *
 *   CSV, the Amazon Personalize interactions dataset: a header line naming the columns (any order,
 *   any case; other columns are ignored): USER_ID, ITEM_ID, TIMESTAMP (epoch seconds) required,
 *   EVENT_TYPE and EVENT_VALUE optional. Fields may be quoted ("a,b", "say ""hi"""); a quoted field
 *   cannot span lines.
 *
 * A time above PZ_HISTORY_MAX_SECONDS is refused as milliseconds given for seconds. The format is
 * taken from the name (.jsonl/.ndjson/.json, .csv, before an optional .gz) or, failing that, from
 * the first character ('{' is JSON Lines).
 */
#ifndef PZ_HISTORY_H
#define PZ_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/learner.h"

/* The longest line read (a PutEvents body is at most 1 MiB). */
#define PZ_HISTORY_MAX_LINE (1u << 20)
/* Epoch seconds beyond the year 5000 are milliseconds by mistake. */
#define PZ_HISTORY_MAX_SECONDS 95617584000.0

typedef enum pz_history_format { PZ_HISTORY_AUTO, PZ_HISTORY_JSONL, PZ_HISTORY_CSV } pz_history_format;

typedef struct pz_history pz_history;

/* One line read: its events, or why it is bad. Pointers are valid until the next read. */
typedef struct pz_history_line {
    uint64_t number; /* 1-based, counting every line of the file (the CSV header too) */
    const pz_interaction *events;
    size_t n;          /* 0 for a blank line */
    const char *error; /* non-NULL: the line is bad and has no events */
} pz_history_line;

/* Opens a file (a CSV file's header is read and checked here). Returns NULL with err. */
pz_history *pz_history_open(const char *path, pz_history_format format, char *err, size_t errlen);
/* The same over data[0..len) (borrowed), for tests. */
pz_history *pz_history_memory(const char *data, size_t len, pz_history_format format, char *err, size_t errlen);
void pz_history_close(pz_history *h);

/* Reads the next line: 1 with *line, 0 at the end, -1 on a read error (err). */
int pz_history_next(pz_history *h, pz_history_line *line, char *err, size_t errlen);
/* Bytes of the file consumed (compressed bytes for gzip), for progress. */
uint64_t pz_history_offset(const pz_history *h);
pz_history_format pz_history_format_of(const pz_history *h);

#endif
