/* When each outbox record was committed, to the second (module prefix pz_commit_clock): the event
 * targets' lag in seconds is the age of the oldest record a target has not finished, and records
 * carry no timestamp of their own. The writer notes each commit's first seq; a mark is kept per
 * second in which commits happened, the newest PZ_COMMIT_CLOCK_MARKS of them (over two hours of
 * steady traffic), so the age of an older record is a lower bound: the age of the oldest mark.
 * Records from before the process started count from its start.
 *
 * Time is a parameter (tests never sleep). Thread-safe: the writer notes, any thread asks. */
#ifndef PZ_COMMIT_CLOCK_H
#define PZ_COMMIT_CLOCK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define PZ_COMMIT_CLOCK_MARKS 8192

typedef struct pz_commit_mark {
    uint64_t seq; /* the first seq committed in that second */
    int64_t at_ms;
} pz_commit_mark;

typedef struct pz_commit_clock {
    pthread_mutex_t lock;
    pz_commit_mark marks[PZ_COMMIT_CLOCK_MARKS]; /* a ring, oldest at `first` */
    size_t first, n;
} pz_commit_clock;

/* Starts with one mark: everything from next_seq on (and, as a lower bound, before) is as old as
 * now_ms. */
void pz_commit_clock_init(pz_commit_clock *c, uint64_t next_seq, int64_t now_ms);
void pz_commit_clock_destroy(pz_commit_clock *c);
/* A commit that stored records from first_seq on, at now_ms. */
void pz_commit_clock_note(pz_commit_clock *c, uint64_t first_seq, int64_t now_ms);
/* When record seq was committed (ms since the epoch): the time of the last mark at or before it,
 * or of the oldest mark when seq is older than every mark. */
int64_t pz_commit_clock_time_of(pz_commit_clock *c, uint64_t seq);

#endif
