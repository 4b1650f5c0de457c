#include "tests/unit/grpc/fake_core.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "personalization/v1/personalization.pb-c.h"

void fake_core_init(fake_core *f, int delay_ms, int hold_ms)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    f->delay_ms = delay_ms;
    f->hold_ms = hold_ms;
}

void fake_core_destroy(fake_core *f)
{
    pthread_mutex_lock(&f->mu);
    int n = f->n_threads;
    f->n_threads = 0;
    pthread_mutex_unlock(&f->mu);
    for (int i = 0; i < n; i++)
        pthread_join(f->threads[i], NULL);
    pz_prepared_unref(f->prepared);
    pthread_mutex_destroy(&f->mu);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

static void record(fake_core *f, pz_request *req)
{
    pthread_mutex_lock(&f->mu);
    f->calls++;
    f->deadline_ms = req->deadline_ms;
    f->received_ms = req->received_ms;
    copy_str(f->if_none_match, sizeof f->if_none_match, req->if_none_match);
    copy_str(f->x_test, sizeof f->x_test, pz_request_header(req, "x-test"));
    copy_str(f->client_addr, sizeof f->client_addr, pz_request_client_addr(req));
    copy_str(f->protocol, sizeof f->protocol, req->protocol);
    f->saw_binary_header = false;
    f->saw_uppercase_header = false;
    for (size_t i = 0; i < req->n_headers; i++) {
        const pz_header *h = &req->headers[i];
        if (h->name_len >= 4 && memcmp(h->name + h->name_len - 4, "-bin", 4) == 0)
            f->saw_binary_header = true;
        for (size_t k = 0; k < h->name_len; k++)
            f->saw_uppercase_header |= h->name[k] >= 'A' && h->name[k] <= 'Z';
    }
    pthread_mutex_unlock(&f->mu);
}

static Personalization__V1__PredictedItem *item(pz_arena *a, const char *id, double score)
{
    Personalization__V1__PredictedItem *it =
        (Personalization__V1__PredictedItem *)pz_arena_new_message(a, &personalization__v1__predicted_item__descriptor);
    it->item_id = pz_arena_strdup(a, id);
    it->has_score = 1;
    it->score = score;
    return it;
}

/* As the response cache answers a hit: the same prepared response, attached to the request. */
static void recommend_prepared(fake_core *f, pz_request *req, const char *variation)
{
    pthread_mutex_lock(&f->mu);
    if (f->prepared == NULL) {
        Personalization__V1__RecommendationResponse rs = PERSONALIZATION__V1__RECOMMENDATION_RESPONSE__INIT;
        Personalization__V1__PredictedItem it = PERSONALIZATION__V1__PREDICTED_ITEM__INIT, *items[] = {&it};
        it.item_id = "cached-item";
        rs.n_item_list = 1;
        rs.item_list = items;
        rs.recommendation_id = "rid-cached";
        size_t len = protobuf_c_message_get_packed_size(&rs.base);
        uint8_t buf[256];
        protobuf_c_message_pack(&rs.base, buf);
        f->prepared = pz_prepared_create(buf, len, NULL, 0);
    }
    req->prepared = pz_prepared_attach(pz_prepared_ref(f->prepared), req->arena);
    pthread_mutex_unlock(&f->mu);
    req->hints.config_version = "cfg-7";
    req->hints.cache_control = "max-age=60";
    req->hints.etag = req->prepared->etag;
    req->hints.variation = variation;
    req->status = PZ_OK;
    req->on_done(req);
}

static void recommend(pz_request *req)
{
    pz_arena *a = req->arena;
    Personalization__V1__RecommendationResponse *rs =
        (Personalization__V1__RecommendationResponse *)pz_arena_new_message(
            a, &personalization__v1__recommendation_response__descriptor);
    rs->n_item_list = 2;
    rs->item_list = pz_arena_calloc(a, 2, sizeof *rs->item_list);
    rs->item_list[0] = item(a, "item-1", 0.9);
    rs->item_list[1] = item(a, "item-2", 0.5);
    rs->recommendation_id = pz_arena_strdup(a, "rid-1");
    req->hints.config_version = "cfg-7";
    req->hints.cache_control = "max-age=60";
    req->hints.etag = "\"etag-1\"";
    req->hints.variation = "control";
    pz_request_succeed(req, &rs->base);
}

typedef struct late_completion {
    pz_request *req;
    int delay_ms;
    fake_core *f;
} late_completion;

static void *complete_put_events(void *arg)
{
    late_completion lc = *(late_completion *)arg;
    pz_request *req = lc.req;
    struct timespec ts = {lc.delay_ms / 1000, (long)(lc.delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    const Personalization__V1__PutEventsRequest *in = (const Personalization__V1__PutEventsRequest *)req->message;
    Personalization__V1__PutEventsResponse *rs = (Personalization__V1__PutEventsResponse *)pz_arena_new_message(
        req->arena, &personalization__v1__put_events_response__descriptor);
    rs->n_event_ids = in->n_event_list;
    rs->event_ids = pz_arena_calloc(req->arena, in->n_event_list, sizeof *rs->event_ids);
    for (size_t i = 0; i < in->n_event_list; i++)
        rs->event_ids[i] = pz_arena_printf(req->arena, "ev-%zu", i + 1);
    pthread_mutex_lock(&lc.f->mu);
    lc.f->completed_late++;
    pthread_mutex_unlock(&lc.f->mu);
    pz_request_succeed(req, &rs->base);
    return NULL;
}

static void put_events(fake_core *f, pz_request *req)
{
    const Personalization__V1__PutEventsRequest *in = (const Personalization__V1__PutEventsRequest *)req->message;
    bool hold = in->namespace_ != NULL && strcmp(in->namespace_, "hold") == 0;
    /* The argument lives in the request arena: the thread copies it before anything else. */
    late_completion *lc = pz_arena_alloc(req->arena, sizeof *lc);
    *lc = (late_completion){req, hold ? f->hold_ms : f->delay_ms, f};
    pthread_mutex_lock(&f->mu);
    if (f->n_threads == FAKE_MAX_THREADS) {
        pthread_mutex_unlock(&f->mu);
        pz_request_fail(req, PZ_RESOURCE_EXHAUSTED, PZ_ERRTYPE_SERVICE, "TooManyRequests", "fake core is busy");
        return;
    }
    if (pthread_create(&f->threads[f->n_threads], NULL, complete_put_events, lc) != 0)
        pz_fatal("fake core: pthread_create");
    f->n_threads++;
    pthread_mutex_unlock(&f->mu);
}

void fake_core_handle(void *ctx, pz_request *req)
{
    fake_core *f = ctx;
    switch (req->rpc) {
    case PZ_RPC_RECOMMEND_ITEMS: {
        record(f, req);
        const char *user = ((const Personalization__V1__RecommendItemsRequest *)req->message)->user_id;
        if (user != NULL && strncmp(user, "prepared-", 9) == 0)
            recommend_prepared(f, req, user + 9);
        else
            recommend(req);
        break;
    }
    case PZ_RPC_RELATED_ITEMS:
        record(f, req);
        pz_request_succeed(req,
                           pz_arena_new_message(req->arena, &personalization__v1__recommendation_response__descriptor));
        break;
    case PZ_RPC_RERANK_ITEMS: {
        const Personalization__V1__RerankItemsRequest *in =
            (const Personalization__V1__RerankItemsRequest *)req->message;
        pz_request_fail(req, PZ_NOT_FOUND, PZ_ERRTYPE_CONFIGURATION, "RecommenderNotConfigured",
                        "recommender %s is not configured in namespace %s", in->recommender ? in->recommender : "",
                        in->namespace_ ? in->namespace_ : "");
        break;
    }
    case PZ_RPC_PUT_EVENTS: put_events(f, req); break;
    default: pz_request_fail(req, PZ_UNIMPLEMENTED, NULL, NULL, "not implemented"); break;
    }
}
