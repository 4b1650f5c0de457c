/* Dead letters as JSON, and their replay by target id (dead_letters.h). */
#include "server/events/dead_letters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/json_text.h"
#include "server/core/mem.h"
#include "server/core/redact.h"
#include "server/events/record.h"
#include "server/events/target_spec.h"

typedef struct each_ctx {
    const char *target;
    long limit;
    long passed;
    pz_dead_letter_fn fn;
    void *ctx;
} each_ctx;

static int render_one(void *arg, const pz_outbox_dead *d)
{
    each_ctx *c = arg;
    if (c->target != NULL && !pz_target_id_matches(d->target_id, c->target))
        return 0;
    if (c->limit >= 0 && c->passed >= c->limit)
        return 1;
    pz_evrec_view v;
    pz_buf b;
    pz_buf_init(&b, PZ_DEAD_LETTER_JSON_MAX);
    pz_buf_append_str(&b, "{\"target\":");
    char *shown = pz_target_display_id(d->target_id); /* no tracking id or URL secret leaves (redact.h) */
    pz_json_write_string(&b, shown, strlen(shown));
    free(shown);
    pz_buf_printf(&b, ",\"number\":%u,\"seq\":%llu,\"attempts\":%u,\"deadLetteredAt\":%lld,\"reason\":", d->number,
                  (unsigned long long)d->seq, d->attempts, (long long)d->at_ms);
    char *reason = pz_redact_urls_dup(d->reason);
    pz_json_write_string(&b, reason, strlen(reason));
    free(reason);
    pz_buf_append_str(&b, ",\"record\":");
    if (pz_evrec_decode(d->record, d->record_len, &v) == 0)
        pz_buf_append(&b, v.json, v.json_len);
    else
        pz_buf_append_str(&b, "null");
    pz_buf_append_str(&b, "}");
    int stop = c->fn(c->ctx, b.data, b.len);
    pz_buf_free(&b);
    c->passed++;
    return stop;
}

long pz_dead_letters_each(pz_outbox *ob, const char *target, long limit, pz_dead_letter_fn fn, void *ctx, char *err,
                          size_t errlen)
{
    each_ctx c = {target, limit, 0, fn, ctx};
    if (pz_outbox_dead_letters(ob, 0, render_one, &c, err, errlen) < 0)
        return -1;
    return c.passed;
}

typedef struct find_ctx {
    const char *id;
    uint32_t number;
} find_ctx;

static void find_target(void *arg, const pz_outbox_target *t)
{
    find_ctx *f = arg;
    if (pz_target_id_matches(t->id, f->id))
        f->number = t->number;
}

long pz_dead_letters_replay(pz_outbox *ob, const char *target, uint64_t seq, char *err, size_t errlen)
{
    find_ctx f = {target, 0};
    if (target != NULL) {
        if (pz_outbox_targets(ob, find_target, &f, err, errlen) < 0)
            return -1;
        if (f.number == 0) {
            snprintf(err, errlen, "no registered target '%s' (see the event stats for the ids)", target);
            return -2;
        }
    }
    return pz_outbox_requeue_dead(ob, f.number, target != NULL ? seq : 0, err, errlen);
}
