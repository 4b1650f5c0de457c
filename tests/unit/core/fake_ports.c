#include "tests/unit/core/fake_ports.h"

#include <stdio.h>
#include <string.h>

static void answer_inline(fake_recommender *f, pz_recommend_call *call)
{
    const pz_query *q = call->query;
    if (q->action == PZ_ACTION_RERANK_ITEMS) {
        size_t n = q->n_item_ids;
        call->items = pz_arena_calloc(call->arena, n ? n : 1, sizeof *call->items);
        for (size_t k = 0; k < n; k++) {
            call->items[k].item_id = q->item_ids[n - 1 - k];
            call->items[k].has_score = k + 1 < n;
            call->items[k].score = (double)(n - k);
        }
        call->n_items = n;
    } else {
        size_t n = (size_t)q->num_results + f->extra_items;
        call->items = pz_arena_calloc(call->arena, n, sizeof *call->items);
        for (size_t k = 0; k < n; k++) {
            call->items[k].item_id = pz_arena_printf(call->arena, "%s%zu", f->prefix ? f->prefix : "item-", k);
            call->items[k].has_score = true;
            call->items[k].score = (double)(n - k);
        }
        call->n_items = n;
    }
    if (f->served != NULL) {
        call->fallback_from = call->variation->key;
        call->served = f->served;
    }
    call->done(call, NULL);
}

static void invoke(void *self, pz_recommend_call *call)
{
    fake_recommender *f = self;
    f->calls++;
    f->last = call;
    if (f->hold) {
        if (f->n_pending < FAKE_MAX_PENDING)
            f->pending[f->n_pending++] = call;
        return;
    }
    if (f->fail_with != NULL) {
        call->done(call, f->fail_with);
        return;
    }
    answer_inline(f, call);
}

static void drain(void *self, int grace_ms)
{
    (void)grace_ms;
    ((fake_recommender *)self)->drains++;
}

pz_recommender_port fake_recommender_port(fake_recommender *f)
{
    return (pz_recommender_port){.self = f, .invoke = invoke, .drain = drain};
}

void fake_recommender_answer(pz_recommend_call *call, const char *const *ids, size_t n)
{
    call->items = pz_arena_calloc(call->arena, n ? n : 1, sizeof *call->items);
    for (size_t k = 0; k < n; k++)
        call->items[k] = (pz_scored_item){ids[k], true, (double)(n - k)};
    call->n_items = n;
    call->done(call, NULL);
}

void fake_recommender_fail(pz_recommend_call *call, const pz_error *err)
{
    call->done(call, err);
}

static void submit(void *self, pz_event_submission *s)
{
    fake_event_sink *f = self;
    f->submissions++;
    f->events += s->events->n_event_list;
    f->conversions += s->n_conversions;
    snprintf(f->last_ns_buf, sizeof f->last_ns_buf, "%s", s->ns->key);
    f->last_ns = f->last_ns_buf;
    f->last_raw = s->raw != NULL;
    snprintf(f->last_raw_json, sizeof f->last_raw_json, "%.*s", s->raw != NULL ? (int)s->raw->len : 0,
             s->raw != NULL ? s->raw->json : "");
    f->last_raw_events = s->raw != NULL ? s->raw->n_events : 0;
    snprintf(f->last_user, sizeof f->last_user, "%s", s->events->user_id != NULL ? s->events->user_id : "");
    s->done(s, f->fail_with);
}

static void expose(void *self, const pz_exposure *e)
{
    fake_event_sink *f = self;
    f->exposures++;
    snprintf(f->last_exposure, sizeof f->last_exposure, "%s/%s/%s", e->experiment->feature, e->variation->key,
             e->user_id);
}

static void sink_drain(void *self)
{
    ((fake_event_sink *)self)->drains++;
}

pz_event_sink fake_event_sink_port(fake_event_sink *f)
{
    return (pz_event_sink){.self = f, .submit = submit, .expose = expose, .drain = sink_drain};
}

static void decorate(void *self, pz_decoration *job)
{
    fake_decorator *f = self;
    f->calls++;
    for (size_t i = 0; i < job->n_items; i++) {
        Google__Protobuf__Struct *s =
            (Google__Protobuf__Struct *)pz_arena_new_message(job->arena, &google__protobuf__struct__descriptor);
        Google__Protobuf__Struct__FieldsEntry *e = (Google__Protobuf__Struct__FieldsEntry *)pz_arena_new_message(
            job->arena, &google__protobuf__struct__fields_entry__descriptor);
        Google__Protobuf__Value *v =
            (Google__Protobuf__Value *)pz_arena_new_message(job->arena, &google__protobuf__value__descriptor);
        v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
        v->string_value = (char *)f->name;
        e->key = "decoratedBy";
        e->value = v;
        s->n_fields = 1;
        s->fields = pz_arena_calloc(job->arena, 1, sizeof *s->fields);
        s->fields[0] = e;
        job->items[i]->metadata = s;
    }
    job->done(job, NULL);
}

pz_decorator_backend fake_decorator_backend(fake_decorator *f)
{
    return (pz_decorator_backend){.self = f, .decorate = decorate};
}
