/* Delivery policy for one target, as pure functions (time and randomness are parameters):
 * the window of outbox records the target has not finished, how the next call's batch is picked
 * within the target API's limits, how each record's outcome is settled (delivered, retried with
 * exponential backoff and jitter, isolated, dead-lettered), and how far the cursor may advance.
 *
 * Ordering: records carry an ordering key (the Kinesis partition key, the Personalize session).
 * A record is never sent while an earlier record with the same key is unfinished, so a key's
 * records reach the target in outbox order even across retries. When the target may accept part
 * of a call (Kinesis PutRecords), a call holds at most one record per key; when calls are
 * all-or-nothing (`atomic`), a key's consecutive records may share a call.
 *
 * Failures, retried forever (nothing is dropped), with delays of
 * min(cap, base * 2^(n-1)) * (1/2 + r/2) ms, r in [0,1):
 *   - a whole call failing retryably (target down, 5xx, throttled, network, credentials) pauses the
 *     target: n counts the consecutive failed calls, and the first successful call ends the pause
 *     for every waiting record at once;
 *   - a record failing inside a successful call (Kinesis/Firehose per-record errors) waits alone:
 *     n counts its own such failures.
 * A permanent rejection of a whole call of several records isolates them (each is resent alone) so
 * only the record the target refuses is dead-lettered.
 *
 * Not thread-safe: a window belongs to its target's worker.
 */
#ifndef PZ_DELIVERY_H
#define PZ_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/events/record.h"

/* Defaults of the retry policy. */
#define PZ_DELIVERY_BACKOFF_BASE_MS 200
#define PZ_DELIVERY_BACKOFF_CAP_MS 30000
/* The most records a target keeps in memory ahead of its cursor. */
#define PZ_DELIVERY_WINDOW_RECORDS 2000
#define PZ_DELIVERY_MAX_REASON 240

typedef enum pz_entry_state {
    PZ_ENTRY_PENDING,  /* to send (now or at next_attempt_ms) */
    PZ_ENTRY_INFLIGHT, /* picked for the current call */
    PZ_ENTRY_DONE,     /* delivered */
    PZ_ENTRY_DEAD,     /* permanently rejected: goes to the dead letters */
} pz_entry_state;

typedef struct pz_delivery_entry {
    uint64_t seq;
    uint8_t *record; /* owned copy of the stored record */
    size_t record_len;
    pz_evrec_view view;  /* decoded from record */
    uint64_t key_hash;   /* ordering key; 0 = none */
    uint64_t group_hash; /* calls of `one_group` targets share one group (e.g. session+user) */
    size_t cost;         /* bytes counted against the call's limits */
    unsigned events;     /* events counted against max_events */
    pz_entry_state state;
    bool isolate;             /* send alone (its call was rejected as a whole) */
    unsigned attempts;        /* failed attempts so far, whatever failed */
    unsigned record_failures; /* failures of this record inside successful calls (its own backoff) */
    int64_t next_attempt_ms;
    char reason[PZ_DELIVERY_MAX_REASON]; /* the last failure */
} pz_delivery_entry;

typedef struct pz_delivery_limits {
    size_t max_records;      /* per call */
    size_t max_bytes;        /* per call, sum of costs */
    size_t max_record_bytes; /* a larger record is dead-lettered without being sent */
    unsigned max_events;     /* per call; 0 = no limit */
    bool atomic;             /* a call succeeds or fails as a whole */
    bool one_group;          /* every record of a call has the same group_hash */
} pz_delivery_limits;

typedef struct pz_backoff_policy {
    int64_t base_ms;
    int64_t cap_ms;
} pz_backoff_policy;

typedef enum pz_outcome_kind {
    PZ_OUTCOME_OK,
    PZ_OUTCOME_RETRY,  /* transient: try again later */
    PZ_OUTCOME_REJECT, /* permanent: the target will never accept this as sent */
} pz_outcome_kind;

typedef struct pz_outcome {
    pz_outcome_kind kind;
    bool call_level; /* the outcome is about the whole call, not this record in particular */
    char reason[PZ_DELIVERY_MAX_REASON];
} pz_outcome;

typedef struct pz_delivery_window {
    pz_delivery_entry *entries; /* in seq order */
    size_t count;
    size_t cap;
    unsigned call_failures;  /* consecutive calls that failed as a whole */
    int64_t paused_until_ms; /* no call before this time (0 = not paused) */
} pz_delivery_window;

/* Delay before retry number `attempts` (>= 1) with r in [0, 1). */
int64_t pz_backoff_delay_ms(const pz_backoff_policy *p, unsigned attempts, double r);

void pz_delivery_init(pz_delivery_window *w, size_t cap);
/* Frees the entries and their records. */
void pz_delivery_free(pz_delivery_window *w);
bool pz_delivery_full(const pz_delivery_window *w);
/* Appends a record (copied) with its seq, which must be greater than the last one's. Returns the
 * entry (key_hash, group_hash, cost and events for the caller to set), or NULL when the window is
 * full or the bytes are not a record. */
pz_delivery_entry *pz_delivery_push(pz_delivery_window *w, uint64_t seq, const void *record, size_t len);

/* Picks the next call's records (none while the window is paused): pending, due at now_ms, not
 * behind an unfinished record of the same key, within the limits, and marks them in flight. A record over
 * max_record_bytes is marked dead instead. Writes up to `cap` pointers to batch and returns how many. */
size_t pz_delivery_pick(pz_delivery_window *w, const pz_delivery_limits *lim, int64_t now_ms, pz_delivery_entry **batch,
                        size_t cap);
/* Settles one in-flight entry of a call of `batch_size` records. r in [0, 1) draws the jitter. A
 * call-level retry leaves the entry due at once (the window's pause, below, does the waiting). */
void pz_delivery_settle(pz_delivery_entry *e, const pz_outcome *o, size_t batch_size, const pz_backoff_policy *p,
                        int64_t now_ms, double r);
/* Settles a whole call (out[i] for batch[i]) and pauses the window when every record failed
 * retryably at the call level, or ends the pause otherwise. Returns the pause in ms (0 = none). */
int64_t pz_delivery_settle_call(pz_delivery_window *w, pz_delivery_entry *const *batch, size_t n, const pz_outcome *out,
                                const pz_backoff_policy *p, int64_t now_ms, double r);
/* The earliest next_attempt_ms among pending entries not held back behind an unfinished record of
 * their key, and not before the end of a pause; INT64_MAX when there is none. When
 * pz_delivery_pick finds nothing, nothing can be sent before this time. */
int64_t pz_delivery_next_due(const pz_delivery_window *w);
/* Removes the finished (done or dead) entries at the front, calling on_dead for each dead one
 * before it is freed. Returns the seq of the first unfinished entry, or `scan_next` when the
 * window is empty: the target's cursor. */
typedef void (*pz_delivery_dead_fn)(void *ctx, const pz_delivery_entry *e);
uint64_t pz_delivery_advance(pz_delivery_window *w, uint64_t scan_next, pz_delivery_dead_fn on_dead, void *ctx);

/* printf into a fixed-size reason buffer, cut to fit. */
void pz_reason_printf(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* 64-bit FNV-1a of bytes, never 0 (0 means "no key"). */
uint64_t pz_delivery_hash(const void *data, size_t len, uint64_t seed);

#endif
