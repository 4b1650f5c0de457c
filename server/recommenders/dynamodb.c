#include "server/recommenders/dynamodb.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/log.h"
#include "server/recommenders/struct_json.h"
#include "server/upstream/arn.h"

/* ---- DynamoDB AttributeValue -> google.protobuf.Value ---- */

static Google__Protobuf__Value *new_value(pz_arena *arena, Google__Protobuf__Value__KindCase kind)
{
    Google__Protobuf__Value *v =
        (Google__Protobuf__Value *)pz_arena_new_message(arena, &google__protobuf__value__descriptor);
    v->kind_case = kind;
    return v;
}

static Google__Protobuf__Value *number_value(const char *text, pz_arena *arena)
{
    char *end = NULL;
    double d = text != NULL ? strtod(text, &end) : NAN;
    if (text == NULL || end == text || *end != '\0' || !isfinite(d))
        return NULL;
    Google__Protobuf__Value *v = new_value(arena, GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE);
    v->number_value = d; /* rendered without a fraction when whole */
    return v;
}

static Google__Protobuf__Value *string_value(const json_t *s, pz_arena *arena)
{
    if (!json_is_string(s))
        return NULL;
    Google__Protobuf__Value *v = new_value(arena, GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE);
    v->string_value = pz_arena_strndup(arena, json_string_value(s), json_string_length(s));
    return v;
}

static Google__Protobuf__Value *attribute_value(const json_t *av, pz_arena *arena, int depth);

static Google__Protobuf__Struct *attribute_map(const json_t *m, const char *skip, pz_arena *arena, int depth)
{
    if (!json_is_object(m) || depth > PZ_STRUCT_JSON_MAX_DEPTH)
        return NULL;
    Google__Protobuf__Struct *s =
        (Google__Protobuf__Struct *)pz_arena_new_message(arena, &google__protobuf__struct__descriptor);
    size_t n = json_object_size(m);
    s->fields = pz_arena_calloc(arena, n ? n : 1, sizeof *s->fields);
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *)m, key, value) {
        if (skip != NULL && strcmp(key, skip) == 0)
            continue;
        Google__Protobuf__Struct__FieldsEntry *e = (Google__Protobuf__Struct__FieldsEntry *)pz_arena_new_message(
            arena, &google__protobuf__struct__fields_entry__descriptor);
        e->key = pz_arena_strdup(arena, key);
        e->value = attribute_value(value, arena, depth);
        if (e->value == NULL)
            return NULL;
        s->fields[s->n_fields++] = e;
    }
    return s;
}

/* SS, NS, BS and L: a list of converted members. */
static Google__Protobuf__Value *list_value(const json_t *a, char member, pz_arena *arena, int depth)
{
    if (!json_is_array(a) || depth + 1 > PZ_STRUCT_JSON_MAX_DEPTH)
        return NULL;
    Google__Protobuf__ListValue *l =
        (Google__Protobuf__ListValue *)pz_arena_new_message(arena, &google__protobuf__list_value__descriptor);
    size_t n = json_array_size(a);
    l->values = pz_arena_calloc(arena, n ? n : 1, sizeof *l->values);
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(a, i);
        Google__Protobuf__Value *v = member == 'N'   ? number_value(json_string_value(m), arena)
                                     : member == 'S' ? string_value(m, arena)
                                                     : attribute_value(m, arena, depth + 1);
        if (v == NULL)
            return NULL;
        l->values[l->n_values++] = v;
    }
    Google__Protobuf__Value *v = new_value(arena, GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE);
    v->list_value = l;
    return v;
}

static Google__Protobuf__Value *attribute_value(const json_t *av, pz_arena *arena, int depth)
{
    if (!json_is_object(av) || json_object_size(av) != 1)
        return NULL;
    const char *type = json_object_iter_key(json_object_iter((json_t *)av));
    const json_t *x = json_object_get(av, type);
    if (strcmp(type, "S") == 0 || strcmp(type, "B") == 0)
        return string_value(x, arena);
    if (strcmp(type, "N") == 0)
        return number_value(json_string_value(x), arena);
    if (strcmp(type, "BOOL") == 0) {
        if (!json_is_boolean(x))
            return NULL;
        Google__Protobuf__Value *v = new_value(arena, GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE);
        v->bool_value = json_is_true(x);
        return v;
    }
    if (strcmp(type, "NULL") == 0) {
        Google__Protobuf__Value *v = new_value(arena, GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE);
        v->null_value = GOOGLE__PROTOBUF__NULL_VALUE__NULL_VALUE;
        return v;
    }
    if (strcmp(type, "M") == 0) {
        Google__Protobuf__Value *v = new_value(arena, GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE);
        v->struct_value = attribute_map(x, NULL, arena, depth + 1);
        return v->struct_value != NULL ? v : NULL;
    }
    if (strcmp(type, "L") == 0)
        return list_value(x, 'L', arena, depth);
    if (strcmp(type, "SS") == 0 || strcmp(type, "BS") == 0)
        return list_value(x, 'S', arena, depth);
    if (strcmp(type, "NS") == 0)
        return list_value(x, 'N', arena, depth);
    return NULL;
}

Google__Protobuf__Struct *pz_dynamodb_item_metadata(const json_t *item, pz_arena *arena)
{
    const json_t *attrs = json_object_get(item, "attributes");
    if (attrs != NULL) {
        const json_t *m = json_object_get(attrs, "M");
        return json_object_size(attrs) == 1 ? attribute_map(m, NULL, arena, 1) : NULL;
    }
    return attribute_map(item, "id", arena, 1);
}

json_t *pz_dynamodb_batch_request(const char *table, const char *const *ids, size_t n)
{
    json_t *keys = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(keys, json_pack("{s:{s:s}}", "id", "S", ids[i]));
    json_t *doc = json_object();
    json_t *items = json_object();
    json_object_set_new(items, table, json_pack("{s:o}", "Keys", keys));
    json_object_set_new(doc, "RequestItems", items);
    return doc;
}

/* ---- the decoration stage ---- */

typedef struct ddb_state ddb_state;

typedef struct ddb_chunk {
    ddb_state *s;
    int tries;
} ddb_chunk;

struct ddb_state {
    pz_remote_call *call;
    pthread_mutex_t mu; /* serializes chunk completions (engine thread, or inline rejections) */
    atomic_int pending; /* chunks in flight + 1 while submitting */
    const char *table;
    const char **ids; /* unique, sorted */
    size_t n_ids;
    Google__Protobuf__Struct **found; /* per unique id */
    bool failed;
    pz_error err;
    /* where and how to call (arena copies of the target) */
    const char *url;
    pz_aws_signing signing;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void submit_chunk(ddb_chunk *ch, const char *const *ids, size_t n, int64_t not_before_ms);

/* All chunks are in: attach what was found to the response items and continue. */
static void finish(ddb_state *s)
{
    pz_remote_call *call = s->call;
    pthread_mutex_destroy(&s->mu);
    if (s->failed) {
        call->done(call, &s->err);
        return;
    }
    pz_decoration *job = call->decoration;
    for (size_t i = 0; i < job->n_items; i++) {
        const char *id = job->items[i]->item_id;
        const char **hit = bsearch(&id, s->ids, s->n_ids, sizeof *s->ids, cmp_str);
        if (hit != NULL && s->found[hit - s->ids] != NULL)
            job->items[i]->metadata = s->found[hit - s->ids];
    }
    call->done(call, NULL);
}

static void chunk_done(ddb_state *s)
{
    if (atomic_fetch_sub(&s->pending, 1) == 1)
        finish(s);
}

static void record_error(ddb_state *s, const pz_error *err)
{
    if (!s->failed) {
        s->failed = true;
        s->err = *err;
    }
}

static void invalid(ddb_state *s, const char *why)
{
    pz_error e = {PZ_UPSTREAM_FAILED, PZ_REMOTE_DYNAMODB.error_type, "InvalidUpstreamResponse",
                  pz_arena_printf(s->call->arena, "%s returned an invalid response: %s", s->call->what, why)};
    record_error(s, &e);
}

/* Reads a 2xx BatchGetItem answer. Returns the unprocessed keys' ids (arena) in *retry. */
static void read_answer(ddb_state *s, const pz_upstream_response *res, const char ***retry, size_t *n_retry)
{
    pz_arena *arena = s->call->arena;
    json_t *doc = json_loadb(res->body, res->body_len, 0, NULL);
    json_t *responses = json_object_get(doc, "Responses");
    json_t *items = json_object_get(responses, s->table);
    if (!json_is_object(doc) || (responses != NULL && !json_is_object(responses)) ||
        (items != NULL && !json_is_array(items))) {
        invalid(s, "expected {\"Responses\": {table: [items]}, \"UnprocessedKeys\": {...}}");
        json_decref(doc);
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach (items, i, item) {
        const char *id = json_string_value(json_object_get(json_object_get(item, "id"), "S"));
        const char **hit = id != NULL ? bsearch(&id, s->ids, s->n_ids, sizeof *s->ids, cmp_str) : NULL;
        if (hit == NULL)
            continue; /* not asked for */
        s->found[hit - s->ids] = pz_dynamodb_item_metadata(item, arena);
        if (s->found[hit - s->ids] == NULL) {
            invalid(s, pz_arena_printf(arena, "item '%.100s' is not a valid DynamoDB item", id));
            break;
        }
    }
    json_t *keys = json_object_get(json_object_get(json_object_get(doc, "UnprocessedKeys"), s->table), "Keys");
    size_t n = json_array_size(keys);
    *retry = n > 0 ? pz_arena_calloc(arena, n, sizeof **retry) : NULL;
    *n_retry = 0;
    for (size_t k = 0; k < n; k++) {
        const char *id = json_string_value(json_object_get(json_object_get(json_array_get(keys, k), "id"), "S"));
        const char **hit = id != NULL ? bsearch(&id, s->ids, s->n_ids, sizeof *s->ids, cmp_str) : NULL;
        if (hit != NULL)
            (*retry)[(*n_retry)++] = *hit;
    }
    json_decref(doc);
}

static void on_chunk(void *ctx, const pz_upstream_response *res)
{
    ddb_chunk *ch = ctx;
    ddb_state *s = ch->s;
    const char **retry = NULL;
    size_t n_retry = 0;
    int64_t not_before = 0;
    pthread_mutex_lock(&s->mu);
    pz_upstream_timing_add(s->call->timing, res->upstream_us, res->end_us);
    pz_error err;
    if (pz_remote_map_error(&PZ_REMOTE_DYNAMODB, res, s->call->what, s->call->arena, &err)) {
        record_error(s, &err);
    } else {
        read_answer(s, res, &retry, &n_retry);
        if (n_retry > 0 && !s->failed && ch->tries < PZ_DYNAMODB_MAX_TRIES) {
            int64_t backoff = PZ_DYNAMODB_BACKOFF_MS;
            for (int t = 1; t < ch->tries && backoff < PZ_DYNAMODB_BACKOFF_CAP_MS; t++)
                backoff *= 2;
            if (backoff > PZ_DYNAMODB_BACKOFF_CAP_MS)
                backoff = PZ_DYNAMODB_BACKOFF_CAP_MS;
            not_before = pz_now_ms() + backoff;
            if (not_before >= s->call->deadline_ms)
                n_retry = 0; /* no time left: leave them undecorated, as upstream does */
        } else {
            n_retry = 0;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (n_retry > 0) {
        ch->tries++;
        submit_chunk(ch, retry, n_retry, not_before);
        return;
    }
    chunk_done(s);
}

/* Builds the body (in the arena: the caller holds s->mu or runs before any completion) and submits. */
static void submit_chunk(ddb_chunk *ch, const char *const *ids, size_t n, int64_t not_before_ms)
{
    ddb_state *s = ch->s;
    size_t len = 0;
    pthread_mutex_lock(&s->mu);
    const char *body = pz_remote_dump(pz_dynamodb_batch_request(s->table, ids, n), s->call->arena, &len);
    pthread_mutex_unlock(&s->mu);
    const char *headers[2] = {"Content-Type: application/x-amz-json-1.0",
                              "X-Amz-Target: DynamoDB_20120810.BatchGetItem"};
    pz_upstream_request req = {
        .method = "POST",
        .url = s->url,
        .headers = headers,
        .n_headers = 2,
        .body = body,
        .body_len = len,
        .signing = &s->signing,
        .breaker_key = s->url,
        .deadline_ms = s->call->deadline_ms,
        .not_before_ms = not_before_ms,
        .idempotent = true,
        .max_response_bytes = 17u << 20, /* BatchGetItem answers up to 16 MB */
    };
    pz_upstream_submit(s->call->env->upstream, &req, on_chunk, ch);
}

void pz_dynamodb_decorate(pz_remote_call *call)
{
    pz_decoration *job = call->decoration;
    pz_arena *arena = call->arena;
    size_t n = job->n_items;
    if (n == 0) {
        call->done(call, NULL);
        return;
    }
    ddb_state *s = pz_arena_calloc(arena, 1, sizeof *s);
    s->call = call;
    s->table = pz_arena_printf(arena, "%s%s", PZ_DYNAMODB_TABLE_PREFIX, call->q->namespace_);
    s->ids = pz_arena_calloc(arena, n, sizeof *s->ids);
    for (size_t i = 0; i < n; i++)
        s->ids[i] = job->items[i]->item_id;
    qsort(s->ids, n, sizeof *s->ids, cmp_str);
    for (size_t i = 0; i < n; i++)
        if (s->n_ids == 0 || strcmp(s->ids[s->n_ids - 1], s->ids[i]) != 0)
            s->ids[s->n_ids++] = s->ids[i];
    s->found = pz_arena_calloc(arena, s->n_ids, sizeof *s->found);

    /* Region: the environment's, else the serving variation's (its own key or its ARN's). */
    char region[64];
    pz_aws_region(call->env->aws, NULL, region, sizeof region);
    pz_arn arn;
    const char *hint = pz_arn_parse(call->variation->arn, &arn) == 0 ? arn.region : "";
    const char *use = region[0] != '\0' ? region : call->variation->region != NULL ? call->variation->region : hint;
    pz_aws_target t;
    pz_error err;
    if (pz_remote_aws_target(call->env, PZ_AWS_DYNAMODB, use, NULL, NULL, call->what, PZ_REMOTE_DYNAMODB.error_type,
                             arena, &t, &err) != 0) {
        call->done(call, &err);
        return;
    }
    s->url = pz_arena_printf(arena, "%s/", t.base_url);
    s->signing = t.signing;
    pthread_mutex_init(&s->mu, NULL);

    size_t n_chunks = (s->n_ids + PZ_DYNAMODB_BATCH_KEYS - 1) / PZ_DYNAMODB_BATCH_KEYS;
    ddb_chunk *chunks = pz_arena_calloc(arena, n_chunks, sizeof *chunks);
    atomic_init(&s->pending, (int)n_chunks + 1);
    for (size_t c = 0; c < n_chunks; c++) {
        size_t first = c * PZ_DYNAMODB_BATCH_KEYS;
        size_t n = s->n_ids - first < PZ_DYNAMODB_BATCH_KEYS ? s->n_ids - first : PZ_DYNAMODB_BATCH_KEYS;
        chunks[c] = (ddb_chunk){s, 1};
        submit_chunk(&chunks[c], s->ids + first, n, 0);
    }
    chunk_done(s); /* the submitter's own reference */
}
