/* Delivery policy for one target (delivery.h). */
#include "server/events/delivery.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/mem.h"

int64_t pz_backoff_delay_ms(const pz_backoff_policy *p, unsigned attempts, double r)
{
    int64_t d = p->base_ms;
    for (unsigned i = 1; i < attempts && d < p->cap_ms; i++)
        d *= 2;
    if (d > p->cap_ms)
        d = p->cap_ms;
    if (r < 0)
        r = 0;
    if (r >= 1)
        r = 0.999999;
    return d / 2 + (int64_t)((double)(d - d / 2) * r);
}

void pz_delivery_init(pz_delivery_window *w, size_t cap)
{
    memset(w, 0, sizeof *w);
    w->entries = pz_calloc(cap ? cap : 1, sizeof *w->entries);
    w->cap = cap ? cap : 1;
}

void pz_delivery_free(pz_delivery_window *w)
{
    for (size_t i = 0; i < w->count; i++)
        free(w->entries[i].record);
    free(w->entries);
    memset(w, 0, sizeof *w);
}

bool pz_delivery_full(const pz_delivery_window *w)
{
    return w->count >= w->cap;
}

pz_delivery_entry *pz_delivery_push(pz_delivery_window *w, uint64_t seq, const void *record, size_t len)
{
    if (w->count >= w->cap)
        return NULL;
    pz_delivery_entry *e = &w->entries[w->count];
    memset(e, 0, sizeof *e);
    e->record = pz_malloc(len ? len : 1);
    memcpy(e->record, record, len);
    e->record_len = len;
    if (pz_evrec_decode(e->record, len, &e->view) != 0) {
        free(e->record);
        return NULL;
    }
    e->seq = seq;
    e->cost = len;
    e->events = e->view.n_events;
    e->state = PZ_ENTRY_PENDING;
    w->count++;
    return e;
}

uint64_t pz_delivery_hash(const void *data, size_t len, uint64_t seed)
{
    uint64_t h = 1469598103934665603ULL ^ seed;
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h ? h : 1;
}

/* Keys blocked during one pick: a small open-addressing set of hashes. A collision only blocks
 * a record that could have gone (ordering is never broken by it). */
typedef struct key_set {
    uint64_t *slots;
    size_t mask;
} key_set;

static void set_init(key_set *s, size_t n)
{
    size_t cap = 64;
    while (cap < n * 2)
        cap *= 2;
    s->slots = pz_calloc(cap, sizeof *s->slots);
    s->mask = cap - 1;
}

static bool set_has(const key_set *s, uint64_t h)
{
    for (size_t i = h & s->mask;; i = (i + 1) & s->mask) {
        if (s->slots[i] == h)
            return true;
        if (s->slots[i] == 0)
            return false;
    }
}

static void set_add(key_set *s, uint64_t h)
{
    for (size_t i = h & s->mask;; i = (i + 1) & s->mask) {
        if (s->slots[i] == h)
            return;
        if (s->slots[i] == 0) {
            s->slots[i] = h;
            return;
        }
    }
}

size_t pz_delivery_pick(pz_delivery_window *w, const pz_delivery_limits *lim, int64_t now_ms, pz_delivery_entry **batch,
                        size_t cap)
{
    if (now_ms < w->paused_until_ms)
        return 0;
    size_t n = 0, bytes = 0;
    unsigned events = 0;
    uint64_t group = 0;
    bool closed = false; /* an isolated record went in: nothing may join it */
    key_set blocked;
    set_init(&blocked, w->count);
    size_t max_records = lim->max_records < cap ? lim->max_records : cap;
    for (size_t i = 0; i < w->count && n < max_records && !closed; i++) {
        pz_delivery_entry *e = &w->entries[i];
        if (e->state == PZ_ENTRY_DONE || e->state == PZ_ENTRY_DEAD)
            continue;
        bool key_free = e->key_hash == 0 || !set_has(&blocked, e->key_hash);
        bool take = e->state == PZ_ENTRY_PENDING && e->next_attempt_ms <= now_ms && key_free;
        if (take && e->record_len > lim->max_record_bytes) {
            e->state = PZ_ENTRY_DEAD;
            pz_reason_printf(e->reason, sizeof e->reason, "the record is %zu bytes; the target accepts at most %zu",
                             e->record_len, lim->max_record_bytes);
            continue; /* finished: it no longer holds its key back */
        }
        if (take && e->isolate && n > 0)
            take = false;
        if (take && n > 0 && bytes + e->cost > lim->max_bytes)
            take = false;
        if (take && n > 0 && lim->max_events != 0 && events + e->events > lim->max_events)
            take = false;
        if (take && n > 0 && lim->one_group && e->group_hash != group)
            take = false;
        if (!take) {
            if (e->key_hash != 0)
                set_add(&blocked, e->key_hash);
            continue;
        }
        e->state = PZ_ENTRY_INFLIGHT;
        batch[n++] = e;
        bytes += e->cost;
        events += e->events;
        group = e->group_hash;
        closed = e->isolate;
        if (!lim->atomic && e->key_hash != 0)
            set_add(&blocked, e->key_hash);
    }
    free(blocked.slots);
    return n;
}

void pz_delivery_settle(pz_delivery_entry *e, const pz_outcome *o, size_t batch_size, const pz_backoff_policy *p,
                        int64_t now_ms, double r)
{
    switch (o->kind) {
    case PZ_OUTCOME_OK: e->state = PZ_ENTRY_DONE; return;
    case PZ_OUTCOME_RETRY:
        e->attempts++;
        e->state = PZ_ENTRY_PENDING;
        if (!o->call_level)
            e->record_failures++;
        e->next_attempt_ms = o->call_level ? now_ms : now_ms + pz_backoff_delay_ms(p, e->record_failures, r);
        break;
    case PZ_OUTCOME_REJECT:
        e->attempts++;
        if (o->call_level && batch_size > 1) {
            /* Which record offended is unknown: resend each alone at once. */
            e->state = PZ_ENTRY_PENDING;
            e->isolate = true;
            e->next_attempt_ms = now_ms;
        } else {
            e->state = PZ_ENTRY_DEAD;
        }
        break;
    }
    pz_reason_printf(e->reason, sizeof e->reason, "%s", o->reason);
}

int64_t pz_delivery_settle_call(pz_delivery_window *w, pz_delivery_entry *const *batch, size_t n, const pz_outcome *out,
                                const pz_backoff_policy *p, int64_t now_ms, double r)
{
    bool call_failed = n > 0;
    for (size_t i = 0; i < n; i++) {
        pz_delivery_settle(batch[i], &out[i], n, p, now_ms, r);
        call_failed = call_failed && out[i].kind == PZ_OUTCOME_RETRY && out[i].call_level;
    }
    if (!call_failed) {
        w->call_failures = 0;
        w->paused_until_ms = 0;
        return 0;
    }
    w->call_failures++;
    int64_t pause = pz_backoff_delay_ms(p, w->call_failures, r);
    w->paused_until_ms = now_ms + pause;
    return pause;
}

int64_t pz_delivery_next_due(const pz_delivery_window *w)
{
    /* A record behind an unfinished one of its key is due when that one is done, not before. */
    int64_t due = INT64_MAX;
    key_set behind;
    set_init(&behind, w->count);
    for (size_t i = 0; i < w->count; i++) {
        const pz_delivery_entry *e = &w->entries[i];
        if (e->state == PZ_ENTRY_DONE || e->state == PZ_ENTRY_DEAD)
            continue;
        bool blocked = e->key_hash != 0 && set_has(&behind, e->key_hash);
        if (!blocked && e->state == PZ_ENTRY_PENDING && e->next_attempt_ms < due)
            due = e->next_attempt_ms;
        if (e->key_hash != 0)
            set_add(&behind, e->key_hash);
    }
    free(behind.slots);
    return due != INT64_MAX && due < w->paused_until_ms ? w->paused_until_ms : due;
}

uint64_t pz_delivery_advance(pz_delivery_window *w, uint64_t scan_next, pz_delivery_dead_fn on_dead, void *ctx)
{
    size_t k = 0;
    while (k < w->count && (w->entries[k].state == PZ_ENTRY_DONE || w->entries[k].state == PZ_ENTRY_DEAD)) {
        if (w->entries[k].state == PZ_ENTRY_DEAD && on_dead != NULL)
            on_dead(ctx, &w->entries[k]);
        free(w->entries[k].record);
        k++;
    }
    if (k > 0) {
        memmove(w->entries, w->entries + k, (w->count - k) * sizeof *w->entries);
        w->count -= k;
        /* Views point into the records, which did not move. */
    }
    return w->count > 0 ? w->entries[0].seq : scan_next;
}

void pz_reason_printf(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}
