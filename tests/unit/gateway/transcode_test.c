/* Tests for gateway/transcode*.c with the service's own messages: the four REST uses (POST /events
 * body, POST rerank body, query parameters and path segments, responses), Struct, presence and
 * defaults, merge, output buffer caps, big arrays and the decoding arena budget. Field types the
 * service does not use are in transcode_types_test.c. */
#include <math.h>

#include "tests/unit/gateway/transcode_test_util.h"

static void test_json_name(void **state)
{
    (void)state;
    char out[32];
    pz_json_name("user_id", out, sizeof out);
    assert_string_equal(out, "userId");
    pz_json_name("item_list", out, sizeof out);
    assert_string_equal(out, "itemList");
    pz_json_name("field_2_name", out, sizeof out);
    assert_string_equal(out, "field2Name");
    pz_json_name("foo__bar_", out, sizeof out);
    assert_string_equal(out, "fooBar");
    pz_json_name("Already", out, sizeof out);
    assert_string_equal(out, "Already");
    pz_json_name("recommendation_id", out, 6);
    assert_string_equal(out, "recom");
    out[0] = 'x';
    pz_json_name("a", out, 0);
    assert_int_equal(out[0], 'x');
}

static void test_put_events_body(void **state)
{
    (void)state;
    const char *body = "{\"namespace\":\"ns\",\"sessionId\":\"s1\",\"userId\":\"u1\",\"eventList\":["
                       "{\"eventType\":\"click\",\"eventValue\":4.5,\"itemId\":\"i1\","
                       "\"impression\":[\"i1\",\"i2\"],\"properties\":\"{\\\"a\\\":1}\",\"sentAt\":1700000000,"
                       "\"metricAttribution\":{\"eventAttributionSource\":\"src\"}},"
                       "{\"eventType\":\"view\"}],"
                       "\"experimentConversions\":[{\"recommender\":\"r\",\"value\":2}]}";
    Personalization__V1__PutEventsRequest *r = parse_ok(PUT_EVENTS, body);
    assert_string_equal(r->namespace_, "ns");
    assert_string_equal(r->session_id, "s1");
    assert_int_equal(r->n_event_list, 2);
    Personalization__V1__Event *e = r->event_list[0];
    assert_string_equal(e->event_type, "click");
    assert_true(e->has_event_value);
    assert_true(e->event_value == 4.5);
    assert_true(e->has_sent_at && e->sent_at == 1700000000.0);
    assert_int_equal(e->n_impression, 2);
    assert_string_equal(e->impression[1], "i2");
    assert_string_equal(e->properties, "{\"a\":1}");
    assert_string_equal(e->metric_attribution->event_attribution_source, "src");
    assert_false(r->event_list[1]->has_event_value);
    assert_null(r->event_list[1]->item_id);
    assert_int_equal(r->n_experiment_conversions, 1);
    assert_true(r->experiment_conversions[0]->value == 2.0);
    assert_string_equal(to_json(r), body);

    r = parse_ok(PUT_EVENTS, "{\"session_id\":\"s2\",\"event_list\":[{\"event_type\":\"x\"}]}");
    assert_string_equal(r->session_id, "s2");
    assert_string_equal(r->event_list[0]->event_type, "x");
    /* null means absent; an empty body is an empty request */
    r = parse_ok(PUT_EVENTS, "{\"sessionId\":null,\"eventList\":null}");
    assert_null(r->session_id);
    assert_int_equal(r->n_event_list, 0);
    assert_string_equal(to_json(parse_ok(PUT_EVENTS, " { } ")), "{}");
}

static void test_put_events_errors(void **state)
{
    (void)state;
    expect_parse_error(PUT_EVENTS, "{\"eventList\":[{\"eventType\":\"a\",\"foo\":1}]}", false,
                       "unknown field 'foo' at $.eventList[0]");
    expect_parse_error(PUT_EVENTS, "{\"bar\":1}", false, "unknown field 'bar' at $");
    expect_parse_error(PUT_EVENTS, "{\"eventList\":[{},{\"metricAttribution\":{\"x\":1}}]}", false,
                       "unknown field 'x' at $.eventList[1].metricAttribution");
    expect_parse_error(PUT_EVENTS, "{\"sessionId\":\"a\",\"session_id\":\"b\"}", false,
                       "field 'sessionId' given twice at $");
    expect_parse_error(PUT_EVENTS, "{\"sessionId\":\"a\",\"sessionId\":\"b\"}", true,
                       "duplicate object key near '\"sessionId\"': line 1 column 28 (char 28)");
    expect_parse_error(PUT_EVENTS, "{\"sessionId\":1}", false,
                       "invalid value for field 'sessionId': expected a string");
    expect_parse_error(PUT_EVENTS, "{\"eventList\":[{},{\"eventValue\":\"x\"}]}", false,
                       "invalid value for field 'eventValue' at $.eventList[1]: expected a number");
    expect_parse_error(PUT_EVENTS, "{\"eventList\":[{\"impression\":[\"a\",2]}]}", false,
                       "invalid value for field 'impression' at $.eventList[0]: expected a string at index 1");
    expect_parse_error(PUT_EVENTS, "{\"eventList\":{}}", false,
                       "invalid value for field 'eventList': expected an array");
    expect_parse_error(PUT_EVENTS, "{\"eventList\":[1]}", false,
                       "invalid value for field 'eventList': expected an object at index 0");
    expect_parse_error(PUT_EVENTS, "{\"eventList\":[null]}", false,
                       "invalid value for field 'eventList': expected an object at index 0");
    expect_parse_error(PUT_EVENTS, "[]", false, "expected an object at $");
    expect_parse_error(PUT_EVENTS, "", true, "unexpected token near end of file: line 1 column 1 (char 0)");
    expect_parse_error(PUT_EVENTS, "{\"a\":", true, "unexpected token near end of file: line 1 column 5 (char 5)");
    expect_parse_error(PUT_EVENTS, "{}\n x", true, "end of file expected near 'x': line 2 column 2 (char 5)");
    expect_parse_error(PUT_EVENTS, "{\"sessionId\":\"\\u0000\"}", true,
                       "\\u0000 is not allowed without JSON_ALLOW_NUL near '\"\\u0000\"': line 1 column 21 (char 21)");
}

static void expect_rerank_error(const char *body, bool is_syntax, const char *message)
{
    Personalization__V1__RerankItemsRequest r = PERSONALIZATION__V1__RERANK_ITEMS_REQUEST__INIT;
    pz_transcode_error err = {0};
    assert_int_equal(pz_message_set_field_from_json(&r.base, "itemIds", body, strlen(body), &arena, &err),
                     PZ_INVALID_ARGUMENT);
    assert_string_equal(err.message, message);
    assert_int_equal(err.is_syntax, is_syntax);
    assert_int_equal(r.n_item_ids, 0);
}

static void test_rerank_body(void **state)
{
    (void)state;
    Personalization__V1__RerankItemsRequest r = PERSONALIZATION__V1__RERANK_ITEMS_REQUEST__INIT;
    pz_transcode_error err = {0};
    const char *body = "[\"a\", \"b\", \"\", \"a\"]";
    assert_int_equal(pz_message_set_field_from_json(&r.base, "itemIds", body, strlen(body), &arena, &err), PZ_OK);
    assert_int_equal(r.n_item_ids, 4);
    assert_string_equal(r.item_ids[0], "a");
    assert_string_equal(r.item_ids[2], "");
    /* replaces, by either name */
    assert_int_equal(pz_message_set_field_from_json(&r.base, "item_ids", "[\"z\"]", 5, &arena, &err), PZ_OK);
    assert_int_equal(r.n_item_ids, 1);
    assert_string_equal(r.item_ids[0], "z");
    assert_int_equal(pz_message_set_field_from_json(&r.base, "itemIds", "[]", 2, &arena, &err), PZ_OK);
    assert_int_equal(r.n_item_ids, 0);
    assert_int_equal(pz_message_set_field_from_json(&r.base, "nope", "[]", 2, &arena, &err), PZ_NOT_FOUND);
    assert_string_equal(err.message, "unknown field 'nope'");

    expect_rerank_error("{\"itemIds\":[\"a\"]}", false, "expected a JSON array of strings for 'itemIds'");
    expect_rerank_error("\"a\"", false, "expected a JSON array of strings for 'itemIds'");
    expect_rerank_error("null", false, "expected a JSON array of strings for 'itemIds'");
    expect_rerank_error("[\"a\", 1]", false, "expected a JSON array of strings for 'itemIds'");
    expect_rerank_error("[\"a\", null]", false, "expected a JSON array of strings for 'itemIds'");
    expect_rerank_error("[\"a\",", true, "']' expected near end of file: line 1 column 5 (char 5)");
    expect_rerank_error("[a]", true, "invalid token near 'a': line 1 column 2 (char 2)");
}

static void test_query_params(void **state)
{
    (void)state;
    Personalization__V1__RecommendItemsRequest r = PERSONALIZATION__V1__RECOMMEND_ITEMS_REQUEST__INIT;
    pz_transcode_error err = {0};
    assert_int_equal(r.num_results, 25);
    assert_int_equal(set_text(&r, "numResults", "12", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_true(r.has_num_results && r.num_results == 12);
    assert_int_equal(set_text(&r, "num_results", "-3", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(r.num_results, -3);
    expect_text_error(&r, "numResults", "abc", false, "invalid value for parameter 'numResults': expected an integer");
    expect_text_error(&r, "numResults", "", false, "invalid value for parameter 'numResults': expected an integer");
    expect_text_error(&r, "numResults", " 1", false, "invalid value for parameter 'numResults': expected an integer");
    expect_text_error(&r, "numResults", "1.5", false, "invalid value for parameter 'numResults': expected an integer");
    expect_text_error(&r, "numResults", "+1", false, "invalid value for parameter 'numResults': expected an integer");
    expect_text_error(&r, "numResults", "2147483648", false,
                      "invalid value for parameter 'numResults': integer out of range for int32");
    expect_text_error(&r, "numResults", "99999999999999999999999", false,
                      "invalid value for parameter 'numResults': integer out of range for int32");
    assert_int_equal(r.num_results, -3); /* failures change nothing */

    const char *truthy[] = {"yes", "YES", "True", "true", "1"};
    const char *falsy[] = {"0", "no", "false", "", "y", "2", "truee"};
    for (size_t i = 0; i < 5; i++) {
        r.decorate_items = 0;
        assert_int_equal(set_text(&r, "decorateItems", truthy[i], PZ_TEXT_PLAIN, &err), PZ_OK);
        assert_true(r.has_decorate_items && r.decorate_items);
    }
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(set_text(&r, "decorateItems", falsy[i], PZ_TEXT_PLAIN, &err), PZ_OK);
        assert_false(r.decorate_items);
    }

    assert_int_equal(set_text(&r, "context", "{\"DEVICE\":\"Phone\",\"a\":\"b\"}", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(r.n_context, 2);
    assert_string_equal(r.context[0]->key, "DEVICE");
    assert_string_equal(r.context[0]->value, "Phone");
    assert_int_equal(set_text(&r, "context", "{\"a\":\"c\",\"z\":\"\"}", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(r.n_context, 3); /* merged: 'a' replaced, 'z' added */
    assert_string_equal(r.context[1]->value, "c");
    assert_string_equal(to_json(&r), "{\"numResults\":-3,\"context\":{\"DEVICE\":\"Phone\",\"a\":\"c\",\"z\":\"\"},"
                                     "\"decorateItems\":false}");
    expect_text_error(&r, "context", "notjson", true,
                      "invalid value for parameter 'context': expected JSON (invalid token near 'notjson': line 1 "
                      "column 7 (char 7))");
    expect_text_error(&r, "context", "{\"a\":1}", false,
                      "invalid value for parameter 'context': expected a string for key 'a'");
    expect_text_error(&r, "filterValues", "{\"k\":{}}", false,
                      "invalid value for parameter 'filterValues': expected a string for key 'k'");
    expect_text_error(&r, "context", "[\"a\"]", false, "invalid value for parameter 'context': expected an object");
    assert_int_equal(set_text(&r, "context", "null", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(r.n_context, 3);
    /* an empty map parameter (`context=`, `filterValues=`) is no value, as upstream reads it */
    assert_int_equal(set_text(&r, "context", "", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(r.n_context, 3);
    assert_int_equal(set_text(&r, "filterValues", "", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(r.n_filter_values, 0);

    assert_int_equal(set_text(&r, "user_id", "u\xC3\xA9", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_string_equal(r.user_id, "u\xC3\xA9");
    expect_text_error(&r, "userId", "u\xC3", false, "invalid value for parameter 'userId': expected valid UTF-8 text");
    pz_transcode_error nul_err = {0};
    assert_int_equal(pz_message_set_field_from_text(&r.base, "userId", "a\0b", 3, PZ_TEXT_PLAIN, &arena, &nul_err),
                     PZ_INVALID_ARGUMENT);
    assert_string_equal(nul_err.message, "invalid value for parameter 'userId': text contains a NUL character");
    assert_int_equal(set_text(&r, "bogus", "1", PZ_TEXT_PLAIN, &err), PZ_NOT_FOUND);
    assert_string_equal(err.message, "unknown parameter 'bogus'");
}

static void test_path_segments(void **state)
{
    (void)state;
    Personalization__V1__RerankItemsRequest r = PERSONALIZATION__V1__RERANK_ITEMS_REQUEST__INIT;
    pz_transcode_error err = {0};
    assert_int_equal(set_text(&r, "item_ids", "a,b,,c", PZ_TEXT_SPLIT_COMMAS, &err), PZ_OK);
    assert_int_equal(r.n_item_ids, 4);
    assert_string_equal(r.item_ids[0], "a");
    assert_string_equal(r.item_ids[2], "");
    assert_string_equal(r.item_ids[3], "c");
    assert_int_equal(set_text(&r, "itemIds", "x,y", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(r.n_item_ids, 5);
    assert_string_equal(r.item_ids[4], "x,y");
    Personalization__V1__RerankItemsRequest r2 = PERSONALIZATION__V1__RERANK_ITEMS_REQUEST__INIT;
    assert_int_equal(set_text(&r2, "itemIds", ",", PZ_TEXT_SPLIT_COMMAS, &err), PZ_OK);
    assert_int_equal(r2.n_item_ids, 2);
    assert_int_equal(set_text(&r2, "namespace", "ns-1", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_string_equal(r2.namespace_, "ns-1");
}

static void test_recommendation_response(void **state)
{
    (void)state;
    Google__Protobuf__Value *name = value_new(GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE);
    name->string_value = "x";
    Google__Protobuf__Value *price = value_new(GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE);
    price->number_value = 9.5;
    Google__Protobuf__Value *tag = value_new(GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE);
    tag->string_value = "a";
    Google__Protobuf__ListValue list = GOOGLE__PROTOBUF__LIST_VALUE__INIT;
    list.n_values = 1;
    list.values = &tag;
    Google__Protobuf__Value *tags = value_new(GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE);
    tags->list_value = &list;
    const char *keys[] = {"name", "price", "tags"};
    Google__Protobuf__Value *values[] = {name, price, tags};

    Personalization__V1__PredictedItem item = PERSONALIZATION__V1__PREDICTED_ITEM__INIT;
    item.item_id = "i1";
    item.has_score = 1;
    item.score = 0.5;
    item.metadata = struct_new(3, keys, values);
    Personalization__V1__PredictedItem item2 = PERSONALIZATION__V1__PREDICTED_ITEM__INIT;
    item2.item_id = "i2";
    Personalization__V1__PredictedItem *items[] = {&item, &item2};
    Personalization__V1__RecommendationResponse resp = PERSONALIZATION__V1__RECOMMENDATION_RESPONSE__INIT;
    resp.n_item_list = 1;
    resp.item_list = items;
    resp.recommendation_id = "r1";
    assert_string_equal(to_json(&resp), "{\"itemList\":[{\"itemId\":\"i1\",\"score\":0.5,\"metadata\":{\"name\":\"x\","
                                        "\"price\":9.5,\"tags\":[\"a\"]}}],\"recommendationId\":\"r1\"}");
    resp.n_item_list = 2;
    item.metadata = NULL;
    item.score = 0;
    resp.has_not_modified = 1;
    Personalization__V1__MatchedExperiment exp = PERSONALIZATION__V1__MATCHED_EXPERIMENT__INIT;
    exp.type = "local";
    exp.details = struct_new(0, NULL, NULL);
    resp.matched_experiment = &exp;
    assert_string_equal(to_json(&resp), "{\"itemList\":[{\"itemId\":\"i1\",\"score\":0},{\"itemId\":\"i2\"}],"
                                        "\"recommendationId\":\"r1\",\"matchedExperiment\":{\"type\":\"local\","
                                        "\"details\":{}},\"notModified\":false}");
    round_trip(&personalization__v1__recommendation_response__descriptor, to_json(&resp), NULL);

    Personalization__V1__RerankResponse rr = PERSONALIZATION__V1__RERANK_RESPONSE__INIT;
    assert_string_equal(to_json(&rr), "{\"personalizedRanking\":[]}"); /* always written (test_emit_rules) */
    rr.n_personalized_ranking = 1;
    rr.personalized_ranking = items + 1;
    assert_string_equal(to_json(&rr), "{\"personalizedRanking\":[{\"itemId\":\"i2\"}]}");
    char *ids[] = {"e1", "e\"2"};
    Personalization__V1__PutEventsResponse pr = PERSONALIZATION__V1__PUT_EVENTS_RESPONSE__INIT;
    pr.n_event_ids = 2;
    pr.event_ids = ids;
    assert_string_equal(to_json(&pr), "{\"eventIds\":[\"e1\",\"e\\\"2\"]}");
}

/* The fields whose JSON is not the default rule (transcode.h, EMIT_RULES in transcode_write.c):
 * one assertion per row, so a row cannot change unnoticed. */
static void test_emit_rules(void **state)
{
    (void)state;
    /* default: an absent optional, an empty list, a NULL message are not written; a present zero is */
    Personalization__V1__PredictedItem item = PERSONALIZATION__V1__PREDICTED_ITEM__INIT;
    item.item_id = "a";
    assert_string_equal(to_json(&item), "{\"itemId\":\"a\"}");
    item.has_score = 1;
    assert_string_equal(to_json(&item), "{\"itemId\":\"a\",\"score\":0}");
    item.has_score = 0;

    /* RecommendationResponse.item_list / RerankResponse.personalized_ranking: always, [] when empty */
    Personalization__V1__RecommendationResponse resp = PERSONALIZATION__V1__RECOMMENDATION_RESPONSE__INIT;
    resp.recommendation_id = "r";
    assert_string_equal(to_json(&resp), "{\"itemList\":[],\"recommendationId\":\"r\"}");
    Personalization__V1__RerankResponse rr = PERSONALIZATION__V1__RERANK_RESPONSE__INIT;
    assert_string_equal(to_json(&rr), "{\"personalizedRanking\":[]}");

    /* PredictedItem.reason: when non-empty, or [] with empty_reason; empty_reason itself: never */
    char *reasons[] = {"Promoted"};
    item.n_reason = 1;
    item.reason = reasons;
    assert_string_equal(to_json(&item), "{\"itemId\":\"a\",\"reason\":[\"Promoted\"]}");
    item.n_reason = 0;
    item.has_empty_reason = 1;
    item.empty_reason = 0;
    assert_string_equal(to_json(&item), "{\"itemId\":\"a\"}");
    item.empty_reason = 1;
    assert_string_equal(to_json(&item), "{\"itemId\":\"a\",\"reason\":[]}");

    /* custom_fields (item and both responses): the members, into the enclosing object, last */
    Google__Protobuf__Value *badge = value_new(GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE);
    badge->string_value = "new";
    Google__Protobuf__Value *page = value_new(GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE);
    page->number_value = 2;
    Google__Protobuf__Value *empty = value_new(GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE);
    const char *item_keys[] = {"badge", "tags"};
    Google__Protobuf__Value *item_values[] = {badge, empty};
    item.custom_fields = struct_new(2, item_keys, item_values);
    item.has_score = 1;
    item.score = 0.5;
    assert_string_equal(to_json(&item), "{\"itemId\":\"a\",\"score\":0.5,\"reason\":[],\"badge\":\"new\",\"tags\":[]}");
    const char *resp_keys[] = {"page"};
    Google__Protobuf__Value *resp_values[] = {page};
    Personalization__V1__PredictedItem *items[] = {&item};
    resp.n_item_list = 1;
    resp.item_list = items;
    resp.custom_fields = struct_new(1, resp_keys, resp_values);
    assert_string_equal(to_json(&resp), "{\"itemList\":[{\"itemId\":\"a\",\"score\":0.5,\"reason\":[],\"badge\":"
                                        "\"new\",\"tags\":[]}],\"recommendationId\":\"r\",\"page\":2}");
    rr.custom_fields = struct_new(1, resp_keys, resp_values);
    assert_string_equal(to_json(&rr), "{\"personalizedRanking\":[],\"page\":2}");
    /* an empty Struct adds nothing */
    rr.custom_fields = struct_new(0, NULL, NULL);
    assert_string_equal(to_json(&rr), "{\"personalizedRanking\":[]}");
}

static void test_struct(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *resp = &personalization__v1__recommendation_response__descriptor;
    const char *json = "{\"itemList\":[{\"itemId\":\"i\",\"metadata\":{\"n\":null,\"num\":-1.25,\"big\":1e+300,"
                       "\"s\":\"\\u00e9\\n\",\"t\":true,\"f\":false,\"o\":{\"deep\":{\"er\":[1,[2,[]],{}]}},"
                       "\"l\":[null,\"x\",0]}}]}";
    round_trip(resp, json,
               "{\"itemList\":[{\"itemId\":\"i\",\"metadata\":{\"n\":null,\"num\":-1.25,\"big\":1e+300,"
               "\"s\":\"\xC3\xA9\\n\",\"t\":true,\"f\":false,\"o\":{\"deep\":{\"er\":[1,[2,[]],{}]}},"
               "\"l\":[null,\"x\",0]}}]}");
    Personalization__V1__RecommendationResponse *r = parse_ok(resp, json);
    Google__Protobuf__Struct *md = r->item_list[0]->metadata;
    assert_int_equal(md->n_fields, 8);
    assert_int_equal(md->fields[0]->value->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE);
    assert_int_equal(md->fields[6]->value->struct_value->fields[0]->value->kind_case,
                     GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE);
    expect_parse_error(resp, "{\"itemList\":[{\"metadata\":[]}]}", false,
                       "invalid value for field 'metadata' at $.itemList[0]: expected an object");
    expect_parse_error(resp, "{\"itemList\":[{\"metadata\":\"x\"}]}", false,
                       "invalid value for field 'metadata' at $.itemList[0]: expected an object");
    /* null for a Struct field is absent; inside it, a null value */
    r = parse_ok(resp, "{\"itemList\":[{\"metadata\":null}]}");
    assert_null(r->item_list[0]->metadata);

    /* top-level well-known types and their fields */
    round_trip(&google__protobuf__struct__descriptor, "{\"a\":{\"b\":[]}}", NULL);
    round_trip(&google__protobuf__list_value__descriptor, "[1,\"2\",{}]", NULL);
    round_trip(&google__protobuf__value__descriptor, "null", NULL);
    round_trip(&google__protobuf__value__descriptor, "\"s\"", NULL);
    round_trip(ALL, "{\"fStruct\":{},\"fValue\":null,\"fList\":[]}", NULL);
    round_trip(ALL, "{\"mValue\":{\"a\":null,\"b\":[]}}", NULL);
    round_trip(ALL, "{\"fNull\":null}", NULL); /* NullValue field: null is its value, not "absent" */
    expect_parse_error(&google__protobuf__list_value__descriptor, "{}", false, "expected an array at $");
    expect_parse_error(ALL, "{\"fList\":{}}", false, "invalid value for field 'fList': expected an array");

    /* values with no JSON form */
    Google__Protobuf__Value *nan = value_new(GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE);
    nan->number_value = NAN;
    assert_string_equal(to_json(nan), "null");
    Google__Protobuf__Value *unset = value_new(GOOGLE__PROTOBUF__VALUE__KIND__NOT_SET);
    assert_string_equal(to_json(unset), "null");
    Google__Protobuf__Value *empty = value_new(GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE);
    assert_string_equal(to_json(empty), "{}");
    const char *k[] = {"k"};
    Google__Protobuf__Value *null_value[] = {NULL};
    assert_string_equal(to_json(struct_new(1, k, null_value)), "{\"k\":null}");
}

static void test_defaults_and_presence(void **state)
{
    (void)state;
    Personalization__V1__RecommendItemsRequest r = PERSONALIZATION__V1__RECOMMEND_ITEMS_REQUEST__INIT;
    assert_string_equal(to_json(&r), "{}"); /* declared defaults are not emitted */
    Personalization__V1__RecommendItemsRequest *p =
        parse_ok(&personalization__v1__recommend_items_request__descriptor, "{}");
    assert_false(p->has_num_results);
    assert_int_equal(p->num_results, 25);
    assert_true(p->decorate_items);
    p = parse_ok(&personalization__v1__recommend_items_request__descriptor,
                 "{\"numResults\":25,\"decorateItems\":true,\"syntheticUser\":false,\"filter\":\"\"}");
    assert_string_equal(to_json(p),
                        "{\"numResults\":25,\"filter\":\"\",\"decorateItems\":true,\"syntheticUser\":false}");
    Pztest__AllTypes a = PZTEST__ALL_TYPES__INIT;
    assert_string_equal(to_json(&a), "{}");
    assert_string_equal(a.with_default, "hello");
    a.has_f_bytes = 1;
    a.f_int64 = 5; /* no has_: absent */
    assert_string_equal(to_json(&a), "{\"fBytes\":\"\"}");
}

static void test_merge(void **state)
{
    (void)state;
    pz_transcode_error err = {0};
    Personalization__V1__PutEventsRequest *r =
        parse_ok(PUT_EVENTS, "{\"sessionId\":\"a\",\"eventList\":[{\"eventType\":\"x\"}]}");
    const char *more = "{\"userId\":\"u\",\"sessionId\":\"b\",\"eventList\":[{\"eventType\":\"y\"}]}";
    assert_int_equal(pz_json_merge_into_message(&r->base, more, strlen(more), &arena, &err), PZ_OK);
    assert_string_equal(to_json(r), "{\"sessionId\":\"b\",\"userId\":\"u\",\"eventList\":[{\"eventType\":\"x\"},"
                                    "{\"eventType\":\"y\"}]}");
    Pztest__AllTypes *m = parse_ok(ALL, "{\"fInner\":{\"name\":\"a\"},\"mInt32\":{\"1\":\"a\",\"2\":\"b\"}}");
    const char *patch = "{\"fInner\":{\"n\":1},\"mInt32\":{\"2\":\"B\",\"3\":\"c\"},\"fInt32\":4}";
    assert_int_equal(pz_json_merge_into_message(&m->base, patch, strlen(patch), &arena, &err), PZ_OK);
    assert_string_equal(to_json(m), "{\"fInt32\":4,\"fInner\":{\"name\":\"a\",\"n\":1},"
                                    "\"mInt32\":{\"1\":\"a\",\"2\":\"B\",\"3\":\"c\"}}");
    assert_int_equal(pz_json_merge_into_message(&m->base, "[]", 2, &arena, &err), PZ_INVALID_ARGUMENT);
    assert_string_equal(err.message, "expected an object at $");
    assert_int_equal(pz_json_merge_into_message(&m->base, "{", 1, &arena, &err), PZ_INVALID_ARGUMENT);
    assert_true(err.is_syntax);
}

static void test_buffer_cap(void **state)
{
    (void)state;
    Personalization__V1__PutEventsRequest *r = parse_ok(PUT_EVENTS, "{\"sessionId\":\"0123456789\",\"userId\":\"u\"}");
    size_t full = strlen(to_json(r));
    for (size_t cap = 0; cap < full; cap++) {
        pz_buf b;
        pz_buf_init(&b, cap);
        assert_int_equal(pz_message_to_json(&r->base, &b), -1);
        assert_int_equal(b.len, 0);
        pz_buf_free(&b);
    }
    pz_buf b;
    pz_buf_init(&b, full);
    assert_int_equal(pz_message_to_json(&r->base, &b), 0);
    pz_buf_free(&b);
}

static void test_big_arrays(void **state)
{
    (void)state;
    enum { N = 20000 };
    pz_buf body;
    pz_buf_init(&body, 1 << 24);
    pz_buf_append_char(&body, '[');
    for (int i = 0; i < N; i++)
        pz_buf_printf(&body, "%s\"item-%d\"", i ? "," : "", i);
    pz_buf_append_char(&body, ']');
    Personalization__V1__RerankItemsRequest r = PERSONALIZATION__V1__RERANK_ITEMS_REQUEST__INIT;
    pz_transcode_error err = {0};
    assert_int_equal(pz_message_set_field_from_json(&r.base, "itemIds", body.data, body.len, &arena, &err), PZ_OK);
    assert_int_equal(r.n_item_ids, N);
    assert_string_equal(r.item_ids[N - 1], "item-19999");

    Personalization__V1__RerankResponse resp = PERSONALIZATION__V1__RERANK_RESPONSE__INIT;
    resp.n_personalized_ranking = N;
    resp.personalized_ranking = pz_arena_alloc(&arena, N * sizeof *resp.personalized_ranking);
    for (int i = 0; i < N; i++) {
        Personalization__V1__PredictedItem *it = pz_arena_alloc(&arena, sizeof *it);
        personalization__v1__predicted_item__init(it);
        it->item_id = r.item_ids[i];
        it->has_score = 1;
        it->score = i / 1000.0;
        resp.personalized_ranking[i] = it;
    }
    const char *json = to_json(&resp);
    round_trip(&personalization__v1__rerank_response__descriptor, json, NULL);
    pz_buf_free(&body);
}

/* A typical request decodes within a small arena budget (the REST hot path). */
static void test_arena_budget(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    const char *body =
        "{\"sessionId\":\"s\",\"userId\":\"u\",\"eventList\":[{\"eventType\":\"click\",\"itemId\":\"i1\"},"
        "{\"eventType\":\"view\",\"itemId\":\"i2\",\"impression\":[\"a\",\"b\",\"c\"]}]}";
    ProtobufCMessage *m = NULL;
    pz_transcode_error err = {0};
    assert_int_equal(pz_json_to_message(PUT_EVENTS, body, strlen(body), &a, &m, &err), PZ_OK);
    assert_true(a.total < 2048);
    pz_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_events_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_events_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rerank_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recommendation_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emit_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_struct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults_and_presence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffer_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_arrays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arena_budget, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
