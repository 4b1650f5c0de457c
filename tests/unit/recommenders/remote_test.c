/* Tests for the remote recommenders' pure parts: error mapping (remote.c), response parsing,
 * payloads and items as JSON (remote_json.c), Personalize request building (personalize.c), the
 * Lambda path (lambda.c), http URL templating (http.c), DynamoDB conversion (dynamodb.c), the
 * post-processor (postprocess.c) and Struct <-> JSON (struct_json.c). No network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/core/buf.h"
#include "server/recommenders/dynamodb.h"
#include "server/recommenders/http.h"
#include "server/recommenders/lambda.h"
#include "server/recommenders/personalize.h"
#include "server/recommenders/postprocess.h"
#include "server/recommenders/remote.h"
#include "server/recommenders/struct_json.h"

#define ARN_CN "arn:aws-cn:personalize:cn-north-1:111122223333:"
static const char CONFIG[] =
    "{'namespaces':{'shop':{'recommenders':{"
    " 'recommend-items':{'r':{"
    "   'responsePostProcessor':{'type':'lambda','arn':'arn:aws:lambda:us-east-1:111122223333:function:post',"
    "                            'lookAheadMultiplier':2.5,'lookAheadMaximumValue':40},"
    "   'variations':{"
    "    'camp':{'type':'personalize-campaign','arn':'" ARN_CN "campaign/c1',"
    "            'filters':[{'arn':'" ARN_CN "filter/needs-user','condition':'user-required'},"
    "                       {'arn':'" ARN_CN "filter/any'}],"
    "            'promotions':[{'name':'deals','percentPromotedItems':20,'filterArn':'" ARN_CN "filter/deals'}]},"
    "    'rec':{'type':'personalize-recommender','arn':'arn:aws:personalize:us-east-1:111122223333:recommender/r1',"
    "           'inferenceItemMetadata':{'type':'personalize','itemColumns':['TITLE','GENRE']}},"
    "    'fn':{'type':'lambda','arn':'arn:aws:lambda:us-west-2:111122223333:function:recs:live'},"
    "    'h':{'type':'http','url':'http://h.example/{namespace}/{recommender}/{userId}?n={numResults}"
    "&ids={itemIds}&f={filter}&fv={filterValues}&c={context}&d={decorateItems}&s={syntheticUser}&x={feature}"
    "&u2={user_id}&i2={item_id}&i3={itemId}'}}}},"
    " 'rerank-items':{'k':{'variations':{"
    "    'rk':{'type':'personalize-campaign','arn':'" ARN_CN "campaign/rank',"
    "          'inferenceItemMetadata':{'type':'personalize','itemColumns':['TITLE']}}}}}}}}}";

static pz_config *config;

static int setup(void **state)
{
    (void)state;
    char *doc = strdup(CONFIG);
    for (char *p = doc; *p; p++)
        if (*p == '\'')
            *p = '"';
    pz_config_problems p;
    pz_config_problems_init(&p);
    config = pz_config_parse(doc, strlen(doc), &p);
    for (size_t i = 0; i < p.n; i++)
        fprintf(stderr, "%s: %s\n", p.items[i].path, p.items[i].message);
    pz_config_problems_free(&p);
    free(doc);
    return config == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    pz_config_unref(config);
    return 0;
}

static const pz_recommender *recommender(pz_action action, const char *key)
{
    return pz_config_recommender(pz_config_namespace(config, "shop"), action, key);
}

/* A recommender call as the sequencer hands it over: the query, the variation, the answer. */
typedef struct test_inference {
    pz_query q;
    pz_recommend_call rec;
    const pz_variation *variation;
} test_inference;

static test_inference *inference(pz_arena *a, pz_action action, const char *rec, const char *var)
{
    test_inference *inf = pz_arena_calloc(a, 1, sizeof *inf);
    inf->q.action = action;
    inf->q.namespace_ = "shop";
    inf->q.ns = pz_config_namespace(config, "shop");
    inf->q.recommender = recommender(action, rec);
    inf->q.recommender_key = rec;
    inf->variation = pz_config_variation(inf->q.recommender, var);
    inf->q.num_results = 10;
    inf->q.decorate_items = true;
    inf->rec = (pz_recommend_call){.query = &inf->q, .variation = inf->variation, .arena = a};
    return inf;
}

static pz_string_entry **entries(pz_arena *a, size_t n, const char *const *kv)
{
    pz_string_entry **e = pz_arena_calloc(a, n, sizeof *e);
    for (size_t i = 0; i < n; i++) {
        e[i] = pz_arena_calloc(a, 1, sizeof **e);
        e[i]->key = (char *)kv[2 * i];
        e[i]->value = (char *)kv[2 * i + 1];
    }
    return e;
}

/* Serializes a JSON document with sorted keys for comparison (consumes doc). */
static char *dump_sorted(json_t *doc)
{
    char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    json_decref(doc);
    return s;
}

static void assert_json(json_t *doc, const char *expected)
{
    char *s = dump_sorted(doc);
    if (strcmp(s, expected) != 0)
        fprintf(stderr, "got      %s\nexpected %s\n", s, expected);
    assert_string_equal(s, expected);
    free(s);
}

/* ---- error mapping ---- */

typedef struct map_case {
    const pz_remote_kind *kind;
    pz_upstream_outcome outcome;
    long status;
    const char *error_type; /* X-Amzn-ErrorType */
    const char *function_error;
    const char *body;
    pz_status want;
    const char *code;
    const char *in_message;
} map_case;

static void test_error_mapping(void **state)
{
    (void)state;
    static const map_case CASES[] = {
        {&PZ_REMOTE_PERSONALIZE, PZ_UPSTREAM_RESPONSE, 429, "ThrottlingException:http://x", NULL,
         "{\"message\":\"Rate exceeded\"}", PZ_RESOURCE_EXHAUSTED, "ThrottlingException", "Rate exceeded"},
        {&PZ_REMOTE_DYNAMODB, PZ_UPSTREAM_RESPONSE, 400, NULL, NULL,
         "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException\",\"message\":\"x\"}",
         PZ_RESOURCE_EXHAUSTED, "ProvisionedThroughputExceededException", "throttled"},
        {&PZ_REMOTE_PERSONALIZE, PZ_UPSTREAM_RESPONSE, 400, "InvalidInputException", NULL,
         "{\"message\":\"bad filter\"}", PZ_INVALID_ARGUMENT, "InvalidInputException", "bad filter"},
        {&PZ_REMOTE_PERSONALIZE, PZ_UPSTREAM_RESPONSE, 404, "ResourceNotFoundException", NULL, "{}",
         PZ_INVALID_ARGUMENT, "ResourceNotFoundException", "HTTP 404"},
        {&PZ_REMOTE_PERSONALIZE, PZ_UPSTREAM_RESPONSE, 403, "AccessDeniedException", NULL,
         "{\"Message\":\"not authorized\"}", PZ_UPSTREAM_FAILED, "AccessDeniedException", "not authorized"},
        {&PZ_REMOTE_LAMBDA, PZ_UPSTREAM_RESPONSE, 400, "InvalidRequestContentException", NULL, "{}", PZ_UPSTREAM_FAILED,
         "InvalidRequestContentException", "HTTP 400"},
        {&PZ_REMOTE_DYNAMODB, PZ_UPSTREAM_RESPONSE, 400, NULL, NULL,
         "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException\"}", PZ_UPSTREAM_FAILED,
         "ResourceNotFoundException", "HTTP 400"},
        {&PZ_REMOTE_SAGEMAKER, PZ_UPSTREAM_RESPONSE, 424, "ModelError", NULL, "{\"message\":\"model died\"}",
         PZ_UPSTREAM_FAILED, "ModelError", "model died"},
        {&PZ_REMOTE_HTTP, PZ_UPSTREAM_RESPONSE, 503, NULL, NULL, "<html>Service Unavailable</html>", PZ_UPSTREAM_FAILED,
         "UpstreamError", "<html>Service Unavailable"},
        {&PZ_REMOTE_LAMBDA, PZ_UPSTREAM_RESPONSE, 200, NULL, "Unhandled",
         "{\"errorMessage\":\"boom\",\"errorType\":\"KeyError\"}", PZ_UPSTREAM_FAILED, "FunctionInvokeError", "boom"},
        {&PZ_REMOTE_LAMBDA, PZ_UPSTREAM_RESPONSE, 429, "TooManyRequestsException", NULL, "{}", PZ_RESOURCE_EXHAUSTED,
         "TooManyRequestsException", "throttled"},
        {&PZ_REMOTE_HTTP, PZ_UPSTREAM_TIMEOUT, 0, NULL, NULL, "", PZ_DEADLINE_EXCEEDED, "UpstreamTimeout",
         "did not answer"},
        {&PZ_REMOTE_HTTP, PZ_UPSTREAM_CONNECT_FAILED, 0, NULL, NULL, "", PZ_UPSTREAM_FAILED, "UpstreamUnavailable",
         "could not be reached"},
        {&PZ_REMOTE_HTTP, PZ_UPSTREAM_QUEUE_FULL, 0, NULL, NULL, "", PZ_RESOURCE_EXHAUSTED, "UpstreamQueueFull",
         "was not called"},
        {&PZ_REMOTE_HTTP, PZ_UPSTREAM_CIRCUIT_OPEN, 0, NULL, NULL, "", PZ_UNAVAILABLE, "CircuitOpen",
         "circuit breaker"},
        {&PZ_REMOTE_HTTP, PZ_UPSTREAM_TOO_LARGE, 0, NULL, NULL, "", PZ_UPSTREAM_FAILED, "UpstreamResponseTooLarge",
         "size"},
        {&PZ_REMOTE_HTTP, PZ_UPSTREAM_SHUTDOWN, 0, NULL, NULL, "", PZ_UNAVAILABLE, "ShuttingDown", "shutting down"},
    };
    pz_arena a;
    pz_arena_init(&a);
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const map_case *c = &CASES[i];
        pz_upstream_response res = {.outcome = c->outcome,
                                    .status = c->status,
                                    .body = c->body,
                                    .body_len = strlen(c->body),
                                    .amzn_error_type = c->error_type,
                                    .function_error = c->function_error,
                                    .detail = c->outcome == PZ_UPSTREAM_TOO_LARGE  ? "over its size limit"
                                              : c->outcome == PZ_UPSTREAM_SHUTDOWN ? "the server is shutting down"
                                                                                   : "detail"};
        pz_error err;
        assert_true(pz_remote_map_error(c->kind, &res, "x variation 'v' of recommender 'r'", &a, &err));
        if (err.status != c->want || strcmp(err.code, c->code) != 0 || strstr(err.message, c->in_message) == NULL)
            fprintf(stderr, "case %zu: %d %s %s\n", i, err.status, err.code, err.message);
        assert_int_equal(err.status, c->want);
        assert_string_equal(err.code, c->code);
        assert_string_equal(err.type, c->kind->error_type);
        assert_non_null(strstr(err.message, c->in_message));
        assert_non_null(strstr(err.message, "variation 'v' of recommender 'r'")); /* names the variation */
    }
    pz_upstream_response ok = {.outcome = PZ_UPSTREAM_RESPONSE, .status = 200, .body = "{}", .body_len = 2};
    pz_error err;
    assert_false(pz_remote_map_error(&PZ_REMOTE_PERSONALIZE, &ok, "w", &a, &err));
    pz_arena_destroy(&a);
}

/* ---- response parsing ---- */

static void test_parse_personalize_response(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    test_inference *inf = inference(&a, PZ_ACTION_RECOMMEND_ITEMS, "r", "camp");
    const char *body = "{\"itemList\":[{\"itemId\":\"a\",\"score\":0.5,\"promotionName\":\"deals\","
                       "\"reason\":[\"Promoted item\"],\"metadata\":{\"title\":\"A\",\"price\":\"9.5\"}},"
                       "{\"itemId\":\"b\"},{\"itemId\":\"c\",\"score\":null,\"extra\":1}],"
                       "\"recommendationId\":\"RID-1\"}";
    pz_error err;
    assert_true(pz_remote_parse_items(body, strlen(body), "w", "Personalize", false, &inf->rec, &err));
    assert_int_equal(inf->rec.n_items, 3);
    assert_string_equal(inf->rec.items[0].item_id, "a");
    assert_true(inf->rec.items[0].has_score);
    assert_true(inf->rec.items[0].score == 0.5);
    assert_false(inf->rec.items[1].has_score);
    assert_false(inf->rec.items[2].has_score);
    assert_non_null(inf->rec.extras);
    assert_string_equal(inf->rec.extras[0].promotion_name, "deals");
    assert_int_equal(inf->rec.extras[0].n_reason, 1);
    assert_string_equal(inf->rec.extras[0].reason[0], "Promoted item");
    assert_int_equal(inf->rec.extras[0].metadata->n_fields, 2);
    assert_string_equal(inf->rec.extras[0].metadata->fields[0]->key, "title");
    assert_null(inf->rec.extras[1].metadata);
    assert_string_equal(inf->rec.recommendation_id, "RID-1");

    test_inference *rr = inference(&a, PZ_ACTION_RERANK_ITEMS, "k", "rk");
    body = "{\"personalizedRanking\":[{\"itemId\":\"x\",\"score\":1},{\"itemId\":\"y\",\"score\":0}]}";
    assert_true(pz_remote_parse_items(body, strlen(body), "w", "Personalize", false, &rr->rec, &err));
    assert_int_equal(rr->rec.n_items, 2);
    assert_null(rr->rec.extras); /* nothing beyond id and score */
    assert_null(rr->rec.recommendation_id);
    pz_arena_destroy(&a);
}

static const Google__Protobuf__Value *struct_get(const Google__Protobuf__Struct *s, const char *key)
{
    for (size_t i = 0; s != NULL && i < s->n_fields; i++)
        if (strcmp(s->fields[i]->key, key) == 0)
            return s->fields[i]->value;
    return NULL;
}

/* Lambda, SageMaker and http answers are passed through: fields the messages do not name are kept
 * (per item and top level, first value of a repeated key); Personalize's are not. An empty reason
 * list is kept as given. */
static void test_parse_keeps_custom_fields_and_empty_reason(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    const char *body = "{\"itemList\":[{\"itemId\":\"a\",\"reason\":[],\"badge\":\"new\",\"rank\":{\"n\":1},"
                       "\"badge\":\"second\"},{\"itemId\":\"b\",\"score\":2}],\"recommendationId\":\"RID-9\","
                       "\"matchedExperiment\":{\"x\":1},\"page\":3,\"cursor\":\"c1\"}";
    test_inference *inf = inference(&a, PZ_ACTION_RECOMMEND_ITEMS, "r", "camp");
    pz_error err;
    assert_true(pz_remote_parse_items(body, strlen(body), "w", "Function", true, &inf->rec, &err));
    const pz_item_extra *x = inf->rec.extras;
    assert_non_null(x);
    assert_non_null(x[0].reason); /* given, empty */
    assert_int_equal(x[0].n_reason, 0);
    assert_null(x[1].reason);
    assert_int_equal(x[0].custom_fields->n_fields, 2);
    assert_string_equal(struct_get(x[0].custom_fields, "badge")->string_value, "new");
    assert_non_null(struct_get(x[0].custom_fields, "rank")->struct_value);
    assert_null(struct_get(x[0].custom_fields, "reason")); /* named fields are not custom */
    assert_null(x[1].custom_fields);
    assert_int_equal(inf->rec.custom_fields->n_fields, 2); /* page, cursor; not matchedExperiment */
    assert_true(struct_get(inf->rec.custom_fields, "page")->number_value == 3);
    assert_string_equal(struct_get(inf->rec.custom_fields, "cursor")->string_value, "c1");
    assert_null(struct_get(inf->rec.custom_fields, "matchedExperiment"));

    test_inference *p = inference(&a, PZ_ACTION_RECOMMEND_ITEMS, "r", "camp");
    assert_true(pz_remote_parse_items(body, strlen(body), "w", "Personalize", false, &p->rec, &err));
    assert_null(p->rec.custom_fields);
    assert_null(p->rec.extras[0].custom_fields);
    assert_non_null(p->rec.extras[0].reason);

    /* at most PZ_REMOTE_MAX_CUSTOM_FIELDS per item and per response */
    for (int over = 0; over <= 1; over++) {
        for (int top = 0; top <= 1; top++) {
            pz_buf b;
            pz_buf_init(&b, 1 << 16);
            pz_buf_append_str(&b, top ? "{\"itemList\":[{\"itemId\":\"a\"}]" : "{\"itemList\":[{\"itemId\":\"a\"");
            for (int i = 0; i < PZ_REMOTE_MAX_CUSTOM_FIELDS + over; i++)
                pz_buf_printf(&b, ",\"f%d\":%d", i, i);
            pz_buf_append_str(&b, top ? "}" : "}]}");
            test_inference *c = inference(&a, PZ_ACTION_RECOMMEND_ITEMS, "r", "camp");
            bool ok = pz_remote_parse_items(b.data, b.len, "w", "Http", true, &c->rec, &err);
            assert_int_equal(ok, !over);
            if (over)
                assert_non_null(strstr(err.message, "more than 64 other fields"));
            else
                assert_int_equal(top ? c->rec.custom_fields->n_fields : c->rec.extras[0].custom_fields->n_fields,
                                 PZ_REMOTE_MAX_CUSTOM_FIELDS);
            pz_buf_free(&b);
        }
    }
    pz_arena_destroy(&a);
}

static void test_parse_rejects_malformed_responses(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *why;
    } CASES[] = {
        {"{not json", "not JSON"},
        {"[1,2]", "expected a JSON object"},
        {"{\"items\":[]}", "neither itemList nor personalizedRanking"},
        {"{\"itemList\":{}}", "itemList is not an array"},
        {"{\"itemList\":[7]}", "itemList[0] is not an object"},
        {"{\"itemList\":[{\"score\":1}]}", "itemList[0].itemId must be a string"},
        {"{\"itemList\":[{\"itemId\":\"\"}]}", "itemList[0].itemId must be a string"},
        {"{\"itemList\":[{\"itemId\":\"a\",\"score\":\"high\"}]}", "itemList[0].score must be a number"},
        {"{\"itemList\":[{\"itemId\":\"a\",\"metadata\":[1]}]}", "itemList[0].metadata must be an object"},
        {"{\"itemList\":[{\"itemId\":\"a\",\"reason\":[1]}]}", "itemList[0].reason[0] must be a string"},
        {"{\"itemList\":[{\"itemId\":\"a\",\"promotionName\":3}]}", "promotionName must be a string"},
        {"{\"itemList\":[],\"recommendationId\":5}", "recommendationId must be a string"},
        /* JSON may carry NUL inside a string; as C text it would cut the id short (the fuzzer's find). */
        {"{\"itemList\":[{\"itemId\":\"\\u0000a\"}]}",
         "itemList[0].itemId must be a string of 1 to 256 characters without NUL"},
        {"{\"itemList\":[{\"itemId\":\"a\",\"promotionName\":\"p\\u0000\"}]}",
         "promotionName must be a string without NUL"},
        {"{\"itemList\":[{\"itemId\":\"a\",\"reason\":[\"r\\u0000\"]}]}", "reason[0] must be a string without NUL"},
        {"{\"itemList\":[],\"recommendationId\":\"x\\u0000\"}",
         "recommendationId must be a string of at most 256 characters without NUL"},
    };
    pz_arena a;
    pz_arena_init(&a);
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        test_inference *inf = inference(&a, PZ_ACTION_RECOMMEND_ITEMS, "r", "camp");
        pz_error err;
        assert_false(
            pz_remote_parse_items(CASES[i].body, strlen(CASES[i].body), "w", "SageMaker", true, &inf->rec, &err));
        assert_int_equal(err.status, PZ_UPSTREAM_FAILED);
        assert_string_equal(err.code, "InvalidUpstreamResponse");
        assert_string_equal(err.type, "SageMaker");
        if (strstr(err.message, CASES[i].why) == NULL)
            fprintf(stderr, "case %zu: %s\n", i, err.message);
        assert_non_null(strstr(err.message, CASES[i].why));
        assert_int_equal(inf->rec.n_items, 0); /* nothing used */
    }
    /* limits: 500 items at most, ids at most 256 characters, metadata nesting */
    pz_buf big;
    pz_buf_init(&big, 1 << 20);
    pz_buf_append_str(&big, "{\"itemList\":[");
    for (int i = 0; i < 501; i++)
        pz_buf_printf(&big, "%s{\"itemId\":\"i%d\"}", i ? "," : "", i);
    pz_buf_append_str(&big, "]}");
    test_inference *inf = inference(&a, PZ_ACTION_RECOMMEND_ITEMS, "r", "camp");
    pz_error err;
    assert_false(pz_remote_parse_items(big.data, big.len, "w", "Http", true, &inf->rec, &err));
    assert_non_null(strstr(err.message, "501 items; at most 500"));
    pz_buf_clear(&big);
    pz_buf_append_str(&big, "{\"itemList\":[{\"itemId\":\"");
    for (int i = 0; i < PZ_MAX_ID_LEN + 1; i++)
        pz_buf_append_char(&big, 'x');
    pz_buf_append_str(&big, "\"}]}");
    assert_false(pz_remote_parse_items(big.data, big.len, "w", "Http", true, &inf->rec, &err));
    pz_buf_clear(&big);
    pz_buf_append_str(&big, "{\"itemList\":[{\"itemId\":\"a\",\"metadata\":");
    for (int i = 0; i < PZ_STRUCT_JSON_MAX_DEPTH + 1; i++)
        pz_buf_append_str(&big, "{\"k\":");
    pz_buf_append_str(&big, "1");
    for (int i = 0; i < PZ_STRUCT_JSON_MAX_DEPTH + 1; i++)
        pz_buf_append_char(&big, '}');
    pz_buf_append_str(&big, "}]}");
    assert_false(pz_remote_parse_items(big.data, big.len, "w", "Http", true, &inf->rec, &err));
    assert_non_null(strstr(err.message, "nested")); /* too deep for the reader or for a Struct */
    pz_buf_clear(&big);                             /* at most 32 reasons per item */
    pz_buf_append_str(&big, "{\"itemList\":[{\"itemId\":\"a\",\"reason\":[");
    for (int i = 0; i < 33; i++)
        pz_buf_printf(&big, "%s\"r%d\"", i ? "," : "", i);
    pz_buf_append_str(&big, "]}]}");
    assert_false(pz_remote_parse_items(big.data, big.len, "w", "Http", true, &inf->rec, &err));
    assert_non_null(strstr(err.message, "at most 32 strings"));
    pz_buf_free(&big);
    pz_arena_destroy(&a);
}

/* ---- Personalize requests ---- */

static void test_personalize_request_recommend(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    test_inference *inf = inference(&a, PZ_ACTION_RECOMMEND_ITEMS, "r", "camp");
    inf->q.user_id = "u1";
    static const char *const CTX[] = {"DEVICE", "Phone"};
    static const char *const FV[] = {"CAT", "\"shoes\""};
    inf->q.context = entries(&a, 1, CTX);
    inf->q.n_context = 1;
    inf->q.filter_values = entries(&a, 1, FV);
    inf->q.n_filter_values = 1;
    const char *problem;
    /* user present: the user-required filter applies first */
    assert_json(pz_personalize_request(&inf->q, inf->variation, 25, &a, &problem),
                "{\"campaignArn\":\"" ARN_CN "campaign/c1\",\"context\":{\"DEVICE\":\"Phone\"},"
                "\"filterArn\":\"" ARN_CN "filter/needs-user\",\"filterValues\":{\"CAT\":\"\\\"shoes\\\"\"},"
                "\"numResults\":25,\"promotions\":[{\"filterArn\":\"" ARN_CN "filter/deals\",\"name\":\"deals\","
                "\"percentPromotedItems\":20}],\"userId\":\"u1\"}");
    /* a filter name from the request becomes an ARN in the variation's partition, region, account */
    inf->q.filter = "recent";
    assert_string_equal(pz_personalize_choose_filter(&inf->q, inf->variation, &a), ARN_CN "filter/recent");
    /* an ARN is passed through (§14 #4) */
    inf->q.filter = "arn:aws:personalize:us-east-1:999999999999:filter/theirs";
    assert_string_equal(pz_personalize_choose_filter(&inf->q, inf->variation, &a), inf->q.filter);
    pz_arena_destroy(&a);
}

static void test_personalize_request_related_without_user(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    test_inference *inf = inference(&a, PZ_ACTION_RECOMMEND_ITEMS, "r", "camp");
    inf->q.action = PZ_ACTION_RELATED_ITEMS; /* same variation, related-items shape */
    inf->q.item_id = "i9";
    static const char *const FV[] = {"CAT", "x"};
    inf->q.filter_values = entries(&a, 1, FV);
    inf->q.n_filter_values = 1;
    const char *problem;
    /* no user: the user-required filter is skipped; filterValues go with the filter that applies */
    assert_json(pz_personalize_request(&inf->q, inf->variation, 7, &a, &problem),
                "{\"campaignArn\":\"" ARN_CN "campaign/c1\",\"filterArn\":\"" ARN_CN "filter/any\","
                "\"filterValues\":{\"CAT\":\"x\"},\"itemId\":\"i9\",\"numResults\":7,"
                "\"promotions\":[{\"filterArn\":\"" ARN_CN "filter/deals\",\"name\":\"deals\","
                "\"percentPromotedItems\":20}]}");
    pz_arena_destroy(&a);
}

static void test_personalize_request_metadata_clamps_to_50(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    test_inference *inf = inference(&a, PZ_ACTION_RECOMMEND_ITEMS, "r", "rec");
    inf->q.user_id = "u1";
    static const char *const FV[] = {"CAT", "x"};
    inf->q.filter_values = entries(&a, 1, FV); /* no filter applies: discarded */
    inf->q.n_filter_values = 1;
    const char *problem;
    assert_json(pz_personalize_request(&inf->q, inf->variation, 200, &a, &problem),
                "{\"metadataColumns\":{\"ITEMS\":[\"TITLE\",\"GENRE\"]},\"numResults\":50,"
                "\"recommenderArn\":\"arn:aws:personalize:us-east-1:111122223333:recommender/r1\",\"userId\":\"u1\"}");
    inf->q.decorate_items = false; /* no metadata asked: no clamp */
    assert_json(pz_personalize_request(&inf->q, inf->variation, 200, &a, &problem),
                "{\"numResults\":200,\"recommenderArn\":\"arn:aws:personalize:us-east-1:111122223333:recommender/r1\","
                "\"userId\":\"u1\"}");
    pz_arena_destroy(&a);
}

static void test_personalize_request_rerank(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    test_inference *inf = inference(&a, PZ_ACTION_RERANK_ITEMS, "k", "rk");
    inf->q.user_id = "u1";
    char *ids[60];
    for (int i = 0; i < 60; i++)
        ids[i] = pz_arena_printf(&a, "i%d", i);
    inf->q.item_ids = ids;
    inf->q.n_item_ids = 2;
    const char *problem;
    assert_json(pz_personalize_request(&inf->q, inf->variation, 2, &a, &problem),
                "{\"campaignArn\":\"" ARN_CN "campaign/rank\",\"inputList\":[\"i0\",\"i1\"],"
                "\"metadataColumns\":{\"ITEMS\":[\"TITLE\"]},\"userId\":\"u1\"}");
    inf->q.n_item_ids = 51; /* over Personalize's limit with metadata: a clear 400, not a silent drop */
    assert_null(pz_personalize_request(&inf->q, inf->variation, 51, &a, &problem));
    assert_non_null(strstr(problem, "at most 50"));
    inf->q.decorate_items = false;
    json_t *doc = pz_personalize_request(&inf->q, inf->variation, 51, &a, &problem);
    assert_non_null(doc);
    assert_int_equal(json_array_size(json_object_get(doc, "inputList")), 51);
    json_decref(doc);
    pz_arena_destroy(&a);
}

/* ---- Lambda, http, payloads ---- */

static void test_lambda_function_path(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    const char *path;
    assert_int_equal(pz_lambda_function_path("arn:aws:lambda:us-east-1:111122223333:function:my-fn", &a, &path), 0);
    assert_string_equal(path, "/2015-03-31/functions/my-fn/invocations");
    assert_int_equal(pz_lambda_function_path("arn:aws:lambda:us-east-1:111122223333:function:my-fn:live", &a, &path),
                     0);
    assert_string_equal(path, "/2015-03-31/functions/my-fn/invocations?Qualifier=live");
    assert_int_equal(pz_lambda_function_path("arn:aws:lambda:us-east-1:111122223333:function:f:$LATEST", &a, &path), 0);
    assert_string_equal(path, "/2015-03-31/functions/f/invocations");
    assert_int_equal(pz_lambda_function_path("arn:aws:lambda:us-east-1:111122223333:function/f", &a, &path), 0);
    assert_string_equal(path, "/2015-03-31/functions/f/invocations");
    assert_int_equal(pz_lambda_function_path("arn:aws:lambda:us-east-1:111122223333:layer:f", &a, &path), -1);
    assert_int_equal(pz_lambda_function_path("arn:aws:lambda:us-east-1:111122223333:function:a%2Fb", &a, &path), -1);
    pz_arena_destroy(&a);
}

static void test_http_url_fills_every_placeholder(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    test_inference *inf = inference(&a, PZ_ACTION_RECOMMEND_ITEMS, "r", "h");
    inf->q.user_id = "a b&c";
    inf->q.filter = "f/1";
    inf->q.feature = "home";
    inf->q.synthetic_user = true;
    static const char *const CTX[] = {"DEVICE", "Phone"};
    inf->q.context = entries(&a, 1, CTX);
    inf->q.n_context = 1;
    const char *url;
    assert_int_equal(pz_http_build_url(&inf->q, inf->variation, 30, &a, &url), 0);
    assert_string_equal(url,
                        "http://h.example/shop/r/a%20b%26c?n=30&ids=&f=f%2F1&fv=&c=%7B%22DEVICE%22%3A%22Phone%22%7D"
                        "&d=1&s=1&x=home&u2=a%20b%26c&i2=&i3=");
    /* rerank ids, comma-joined and encoded */
    char *ids[] = {"x1", "y,2"};
    inf->q.item_ids = ids;
    inf->q.n_item_ids = 2;
    assert_int_equal(pz_http_build_url(&inf->q, inf->variation, 2, &a, &url), 0);
    assert_non_null(strstr(url, "ids=x1%2Cy%2C2&"));
    /* a URL over the limit is refused */
    char *long_id = pz_arena_alloc(&a, 4000);
    memset(long_id, '/', 3999);
    long_id[3999] = '\0';
    inf->q.user_id = long_id; /* 3 x 3999 x 3 bytes encoded */
    assert_int_equal(pz_http_build_url(&inf->q, inf->variation, 2, &a, &url), -1);
    pz_arena_destroy(&a);
}

static void test_lambda_payload_per_action(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    test_inference *inf = inference(&a, PZ_ACTION_RECOMMEND_ITEMS, "r", "fn");
    inf->q.user_id = "u1";
    json_t *doc = pz_remote_payload(&inf->q, inf->variation, 25);
    assert_string_equal(json_string_value(json_object_get(doc, "version")), "1.0");
    assert_string_equal(json_string_value(json_object_get(doc, "action")), "recommend-items");
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "recommender"), "path")), "r");
    json_t *cfg = json_object_get(json_object_get(doc, "recommender"), "config");
    assert_non_null(json_object_get(cfg, "responsePostProcessor")); /* the full recommender config */
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "variation"), "type")), "lambda");
    assert_string_equal(json_string_value(json_object_get(doc, "userId")), "u1");
    assert_int_equal(json_integer_value(json_object_get(doc, "numResults")), 25);
    assert_null(json_object_get(doc, "context")); /* only when one resolved */
    json_decref(doc);

    inf->q.action = PZ_ACTION_RELATED_ITEMS;
    inf->q.user_id = NULL;
    inf->q.item_id = "i1";
    static const char *const CTX[] = {"DEVICE", "Phone"};
    inf->q.context = entries(&a, 1, CTX);
    inf->q.n_context = 1;
    doc = pz_remote_payload(&inf->q, inf->variation, 5);
    assert_string_equal(json_string_value(json_object_get(doc, "itemId")), "i1");
    assert_string_equal(json_string_value(json_object_get(doc, "userId")), ""); /* upstream sends "" */
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "context"), "DEVICE")), "Phone");
    json_decref(doc);

    inf->q.action = PZ_ACTION_RERANK_ITEMS;
    inf->q.user_id = "u2";
    char *ids[] = {"a", "b"};
    inf->q.item_ids = ids;
    inf->q.n_item_ids = 2;
    doc = pz_remote_payload(&inf->q, inf->variation, 2);
    assert_int_equal(json_array_size(json_object_get(doc, "itemList")), 2);
    assert_null(json_object_get(doc, "numResults"));
    json_decref(doc);
    pz_arena_destroy(&a);
}

/* ---- post-processor ---- */

static void test_look_ahead_count(void **state)
{
    (void)state;
    const pz_post_processor *pp = recommender(PZ_ACTION_RECOMMEND_ITEMS, "r")->post_processor;
    assert_int_equal(pz_postprocess_count(NULL, 10), 10);
    assert_int_equal(pz_postprocess_count(pp, 10), 25);   /* 10 x 2.5 */
    assert_int_equal(pz_postprocess_count(pp, 5), 13);    /* 12.5 rounded */
    assert_int_equal(pz_postprocess_count(pp, 30), 40);   /* capped by lookAheadMaximumValue */
    assert_int_equal(pz_postprocess_count(pp, 100), 100); /* never below numResults */
    pz_post_processor big = {.look_ahead_multiplier = 10};
    assert_int_equal(pz_postprocess_count(&big, 400), 500); /* never above 500 */
}

static void test_post_processor_payload(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    test_inference *inf = inference(&a, PZ_ACTION_RECOMMEND_ITEMS, "r", "camp");
    inf->q.user_id = "u1";
    const char *body = "{\"itemList\":[{\"itemId\":\"a\",\"score\":0.25,\"metadata\":{\"n\":2,\"t\":\"x\"}},"
                       "{\"itemId\":\"b\",\"reason\":[\"r\"]}],\"recommendationId\":\"RID-9\"}";
    pz_error err;
    assert_true(pz_remote_parse_items(body, strlen(body), "w", "Personalize", false, &inf->rec, &err));
    json_t *doc = pz_postprocess_payload(&inf->rec, inf->variation);
    json_t *resp = json_incref(json_object_get(doc, "response"));
    assert_string_equal(json_string_value(json_object_get(doc, "userId")), "u1");
    assert_null(json_object_get(doc, "itemId"));
    json_decref(doc);
    assert_json(resp, "{\"itemList\":[{\"itemId\":\"a\",\"metadata\":{\"n\":2,\"t\":\"x\"},\"score\":0.25},"
                      "{\"itemId\":\"b\",\"reason\":[\"r\"]}],\"recommendationId\":\"RID-9\"}");
    pz_arena_destroy(&a);
}

/* ---- DynamoDB ---- */

static void test_dynamodb_request_and_item_conversion(void **state)
{
    (void)state;
    const char *ids[] = {"a", "b\"c"};
    assert_json(pz_dynamodb_batch_request("PersonalizationApiItemMetadata_shop", ids, 2),
                "{\"RequestItems\":{\"PersonalizationApiItemMetadata_shop\":{\"Keys\":[{\"id\":{\"S\":\"a\"}},"
                "{\"id\":{\"S\":\"b\\\"c\"}}]}}}");
    pz_arena a;
    pz_arena_init(&a);
    json_t *item = json_loads(
        "{\"id\":{\"S\":\"a\"},\"version\":{\"S\":\"v\"},\"put_via\":{\"S\":\"bulk\"},\"attributes\":{\"M\":{"
        "\"name\":{\"S\":\"Tan Backpack\"},\"price\":{\"N\":\"90.99\"},\"stock\":{\"N\":\"12\"},"
        "\"onSale\":{\"BOOL\":true},\"note\":{\"NULL\":true},\"tags\":{\"SS\":[\"x\",\"y\"]},"
        "\"sizes\":{\"NS\":[\"1\",\"2.5\"]},\"dims\":{\"M\":{\"w\":{\"N\":\"3\"}}},"
        "\"list\":{\"L\":[{\"S\":\"s\"},{\"N\":\"4\"}]},\"blob\":{\"B\":\"aGk=\"}}}}",
        0, NULL);
    Google__Protobuf__Struct *s = pz_dynamodb_item_metadata(item, &a);
    assert_non_null(s);
    assert_json(pz_struct_to_json(s), "{\"blob\":\"aGk=\",\"dims\":{\"w\":3},\"list\":[\"s\",4],\"name\":\"Tan "
                                      "Backpack\",\"note\":null,\"onSale\":true,\"price\":90.99,\"sizes\":[1,2.5],"
                                      "\"stock\":12,\"tags\":[\"x\",\"y\"]}");
    json_decref(item);
    /* without the attributes wrapper: every attribute but the key */
    item = json_loads("{\"id\":{\"S\":\"a\"},\"title\":{\"S\":\"T\"}}", 0, NULL);
    assert_json(pz_struct_to_json(pz_dynamodb_item_metadata(item, &a)), "{\"title\":\"T\"}");
    json_decref(item);
    /* malformed values are refused, not guessed */
    static const char *const BAD[] = {
        "{\"attributes\":{\"M\":{\"x\":{\"N\":\"abc\"}}}}", "{\"attributes\":{\"M\":{\"x\":{\"Q\":\"1\"}}}}",
        "{\"attributes\":{\"M\":{\"x\":{\"S\":\"1\",\"N\":\"1\"}}}}", "{\"attributes\":{\"S\":\"flat\"}}"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        item = json_loads(BAD[i], 0, NULL);
        assert_null(pz_dynamodb_item_metadata(item, &a));
        json_decref(item);
    }
    pz_arena_destroy(&a);
}

/* ---- misc ---- */

static void test_struct_json_round_trip(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    const char *text = "{\"a\":1,\"b\":[true,null,\"s\",{\"c\":1.5}],\"d\":{}}";
    char err[128];
    const pz_jvalue *in = pz_json_read(text, strlen(text), 8, &a, err, sizeof err);
    Google__Protobuf__Struct *s = pz_struct_from_jvalue(in, &a);
    assert_json(pz_struct_to_json(s), text);
    assert_null(pz_struct_from_jvalue(pz_json_read("[1]", 3, 8, &a, err, sizeof err), &a)); /* not an object */
    pz_arena_destroy(&a);
}

static void test_invalid_utf8_is_named(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    test_inference *inf = inference(&a, PZ_ACTION_RECOMMEND_ITEMS, "r", "camp");
    inf->q.user_id = "caf\xc3\xa9";
    assert_null(pz_remote_invalid_utf8(&inf->q));
    inf->q.user_id = "bad\xc3";
    assert_string_equal(pz_remote_invalid_utf8(&inf->q), "userId");
    inf->q.user_id = "u";
    static const char *const CTX[] = {"K", "\xed\xa0\x80"}; /* a surrogate */
    inf->q.context = entries(&a, 1, CTX);
    inf->q.n_context = 1;
    assert_string_equal(pz_remote_invalid_utf8(&inf->q), "context");
    pz_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_mapping),
        cmocka_unit_test(test_parse_personalize_response),
        cmocka_unit_test(test_parse_keeps_custom_fields_and_empty_reason),
        cmocka_unit_test(test_parse_rejects_malformed_responses),
        cmocka_unit_test(test_personalize_request_recommend),
        cmocka_unit_test(test_personalize_request_related_without_user),
        cmocka_unit_test(test_personalize_request_metadata_clamps_to_50),
        cmocka_unit_test(test_personalize_request_rerank),
        cmocka_unit_test(test_lambda_function_path),
        cmocka_unit_test(test_http_url_fills_every_placeholder),
        cmocka_unit_test(test_lambda_payload_per_action),
        cmocka_unit_test(test_look_ahead_count),
        cmocka_unit_test(test_post_processor_payload),
        cmocka_unit_test(test_dynamodb_request_and_item_conversion),
        cmocka_unit_test(test_struct_json_round_trip),
        cmocka_unit_test(test_invalid_utf8_is_named),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
