/* Commit times of outbox records, per second (commit_clock.h). */
#include "server/events/commit_clock.h"

#define MS_PER_SECOND 1000

void pz_commit_clock_init(pz_commit_clock *c, uint64_t next_seq, int64_t now_ms)
{
    pthread_mutex_init(&c->lock, NULL);
    c->first = 0;
    c->n = 1;
    c->marks[0] = (pz_commit_mark){next_seq, now_ms};
}

void pz_commit_clock_destroy(pz_commit_clock *c)
{
    pthread_mutex_destroy(&c->lock);
}

static pz_commit_mark *mark_at(pz_commit_clock *c, size_t i)
{
    return &c->marks[(c->first + i) % PZ_COMMIT_CLOCK_MARKS];
}

void pz_commit_clock_note(pz_commit_clock *c, uint64_t first_seq, int64_t now_ms)
{
    pthread_mutex_lock(&c->lock);
    pz_commit_mark *last = mark_at(c, c->n - 1);
    if (now_ms / MS_PER_SECOND != last->at_ms / MS_PER_SECOND && first_seq > last->seq) {
        if (c->n == PZ_COMMIT_CLOCK_MARKS)
            c->first = (c->first + 1) % PZ_COMMIT_CLOCK_MARKS; /* the oldest goes */
        else
            c->n++;
        *mark_at(c, c->n - 1) = (pz_commit_mark){first_seq, now_ms};
    }
    pthread_mutex_unlock(&c->lock);
}

int64_t pz_commit_clock_time_of(pz_commit_clock *c, uint64_t seq)
{
    pthread_mutex_lock(&c->lock);
    /* the last mark with mark.seq <= seq: marks are in seq order */
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (mark_at(c, mid)->seq <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    int64_t at = mark_at(c, lo > 0 ? lo - 1 : 0)->at_ms;
    pthread_mutex_unlock(&c->lock);
    return at;
}
