/* The outbox: durable storage of accepted events and of their delivery state, in one LMDB
 * environment (`<data-dir>/outbox/`).
 *
 * Databases:
 *   log      seq (u64 big-endian) -> record (server/events/record.h); append-only, seq increases by
 *            one per record and is never reused;
 *   targets  target id (e.g. "shop/kinesis-stream/clicks") -> u32 number, u64 cursor, spec JSON.
 *            The cursor is the first seq not yet delivered to the target: every record below it
 *            that names the target was delivered or dead-lettered;
 *   dead     u32 number (BE) + u64 seq (BE) -> a dead letter: a record a target permanently
 *            rejected, with the reason, kept until replayed;
 *   replay   same key and value as dead: dead letters queued for redelivery (by the CLI); the
 *            server's writer turns each into a new log record for that one target;
 *   meta     "next_target" -> u32; "instance" -> a UUID minted when the outbox is created, so that
 *            a recreated outbox (seqs and numbers starting over) is told from the old one.
 *
 * Space is reclaimed by deleting log records below the smallest cursor (pz_outbox_reclaim).
 *
 * Threads and processes: any number of readers, on any thread (MDB_NOTLS), never blocked by the
 * writer; write transactions are serialized by LMDB, across processes too (the CLI edits dead
 * letters while a server runs). A write transaction belongs to one thread. Commits are durable
 * (fsync) when they return.
 */
#ifndef PZ_OUTBOX_H
#define PZ_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default LMDB map size: the most the outbox can hold (records not yet delivered everywhere, plus
 * dead letters). A full outbox refuses new events (503) instead of losing any. */
#define PZ_OUTBOX_DEFAULT_MAP_MB 4096
/* A dead letter's reason is cut to this many bytes. */
#define PZ_OUTBOX_MAX_REASON 512

typedef struct pz_outbox pz_outbox;
typedef struct pz_outbox_txn pz_outbox_txn;

/* Opens (creating when missing) the environment in directory `dir` (created if needed).
 * Returns 0 and *out, or -1 with a message in err. */
int pz_outbox_open(const char *dir, size_t map_size_mb, pz_outbox **out, char *err, size_t errlen);
void pz_outbox_close(pz_outbox *ob);
/* The outbox's instance id (a UUID string), stable across opens. */
const char *pz_outbox_instance(const pz_outbox *ob);

typedef struct pz_outbox_target {
    const char *id;
    uint32_t number;
    uint64_t cursor;
    const char *spec; /* the target's configuration as JSON */
} pz_outbox_target;

typedef struct pz_outbox_dead {
    uint32_t number; /* the target */
    uint64_t seq;    /* the record's seq in the log when it was rejected */
    const char *target_id;
    uint32_t attempts;
    int64_t at_ms;      /* when it was dead-lettered */
    const char *reason; /* the target's answer */
    const void *record; /* the whole record (record.h) */
    size_t record_len;
} pz_outbox_dead;

typedef struct pz_outbox_info {
    uint64_t first_seq; /* the oldest record still stored (= next_seq when empty) */
    uint64_t next_seq;  /* the seq the next appended record gets */
    size_t records;
    size_t dead_letters;
    size_t replays_queued;
    size_t targets;
    size_t used_bytes; /* pages in use, in bytes */
    size_t map_bytes;
} pz_outbox_info;

/* ---- write transactions (one thread; all-or-nothing) ---- */

/* Begins a write transaction (waits for another process's writer). Returns 0, or -1 with err. */
int pz_outbox_begin(pz_outbox *ob, pz_outbox_txn **t, char *err, size_t errlen);
/* Commits durably; the transaction is gone either way. Returns 0, or -1 with err (e.g. the map is
 * full: the message names the map size). */
int pz_outbox_commit(pz_outbox_txn *t, char *err, size_t errlen);
void pz_outbox_abort(pz_outbox_txn *t);

/* Appends a record at the next seq (returned in *seq). 0 or -1 with err. */
int pz_outbox_append(pz_outbox_txn *t, const void *record, size_t len, uint64_t *seq, char *err, size_t errlen);
/* The seq the next append gets. */
uint64_t pz_outbox_txn_next_seq(pz_outbox_txn *t);
/* Creates or replaces a target entry / deletes it (missing is fine). 0 or -1 with err. */
int pz_outbox_put_target(pz_outbox_txn *t, const pz_outbox_target *target, char *err, size_t errlen);
int pz_outbox_delete_target(pz_outbox_txn *t, const char *id, char *err, size_t errlen);
/* A fresh target number (never reused). */
int pz_outbox_new_target_number(pz_outbox_txn *t, uint32_t *number, char *err, size_t errlen);
/* Stores a dead letter. 0 or -1 with err. */
int pz_outbox_put_dead(pz_outbox_txn *t, const pz_outbox_dead *d, char *err, size_t errlen);
/* Calls fn for up to `max` queued replays (oldest first) and deletes them. The pointers in *d are
 * valid during the call only. fn returns 0 to go on, -1 to abort (the transaction must then be
 * aborted). Returns the number taken, or -1 with err. */
typedef int (*pz_outbox_dead_fn)(void *ctx, const pz_outbox_dead *d);
long pz_outbox_take_replays(pz_outbox_txn *t, size_t max, pz_outbox_dead_fn fn, void *ctx, char *err, size_t errlen);
/* Deletes up to `max` log records with seq < below. Returns how many, or -1 with err. */
long pz_outbox_reclaim(pz_outbox_txn *t, uint64_t below, size_t max, char *err, size_t errlen);

/* ---- reads (any thread; each call is one consistent snapshot) ---- */

/* Calls fn(ctx, seq, data, len) for records with seq >= from, in order, until fn returns non-zero,
 * `max_records` were visited or `max_bytes` were exceeded (the record that crosses it is still
 * visited). data is valid during the call only. Returns the number visited, or -1 with err. */
typedef int (*pz_outbox_record_fn)(void *ctx, uint64_t seq, const void *data, size_t len);
long pz_outbox_read(pz_outbox *ob, uint64_t from, size_t max_records, size_t max_bytes, pz_outbox_record_fn fn,
                    void *ctx, char *err, size_t errlen);
/* Calls fn for every target entry (pointers valid during the call). Returns the count or -1. */
typedef void (*pz_outbox_target_fn)(void *ctx, const pz_outbox_target *t);
long pz_outbox_targets(pz_outbox *ob, pz_outbox_target_fn fn, void *ctx, char *err, size_t errlen);
/* Calls fn for dead letters (of target `number`, or all when number is 0), in key order, until fn
 * returns non-zero. Returns the count visited or -1. */
long pz_outbox_dead_letters(pz_outbox *ob, uint32_t number, pz_outbox_dead_fn fn, void *ctx, char *err, size_t errlen);
int pz_outbox_info_get(pz_outbox *ob, pz_outbox_info *info, char *err, size_t errlen);

/* ---- admin (any process, one write transaction) ---- */

/* Moves dead letters to the replay queue: those of target `number` (0 = every target) and, when
 * seq != 0, only that record. Returns how many were moved, or -1 with err. */
long pz_outbox_requeue_dead(pz_outbox *ob, uint32_t number, uint64_t seq, char *err, size_t errlen);

#endif
