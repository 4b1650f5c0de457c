/* Tests for gateway/transcode*.c: the four REST uses, every field type (tests/unit/gateway/
 * transcode_test_types*.proto), presence and defaults, Struct, UTF-8, number formatting, limits,
 * and every error path with its message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "gateway/transcode.h"
#include "google/protobuf/struct.pb-c.h"
#include "personalization/v1/personalization.pb-c.h"
#include "tests/unit/gateway/transcode_test_types.pb-c.h"
#include "tests/unit/gateway/transcode_test_types3.pb-c.h"

static pz_arena arena;

static int setup(void **state)
{
    (void)state;
    pz_arena_init(&arena);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pz_arena_destroy(&arena);
    return 0;
}

/* The message as JSON, arena-owned. */
static const char *to_json(const void *msg)
{
    pz_buf b;
    pz_buf_init(&b, 1 << 24);
    assert_int_equal(pz_message_to_json(msg, &b), 0);
    char *s = pz_arena_strndup(&arena, b.data, b.len);
    pz_buf_free(&b);
    return s;
}

static void *parse_ok(const ProtobufCMessageDescriptor *desc, const char *json)
{
    ProtobufCMessage *m = NULL;
    pz_transcode_error err = {0};
    pz_status st = pz_json_to_message(desc, json, strlen(json), &arena, &m, &err);
    if (st != PZ_OK)
        fail_msg("parse of %s failed: %s", json, err.message);
    assert_non_null(m);
    return m;
}

static void expect_parse_error(const ProtobufCMessageDescriptor *desc, const char *json, bool is_syntax,
                               const char *message)
{
    ProtobufCMessage *m = NULL;
    pz_transcode_error err = {0};
    assert_int_equal(pz_json_to_message(desc, json, strlen(json), &arena, &m, &err), PZ_INVALID_ARGUMENT);
    assert_non_null(err.message);
    assert_string_equal(err.message, message);
    assert_int_equal(err.is_syntax, is_syntax);
}

/* Parses json and checks that writing it back gives `expected` (json itself when NULL). */
static void round_trip(const ProtobufCMessageDescriptor *desc, const char *json, const char *expected)
{
    assert_string_equal(to_json(parse_ok(desc, json)), expected != NULL ? expected : json);
}

#define PUT_EVENTS (&personalization__v1__put_events_request__descriptor)
#define ALL (&pztest__all_types__descriptor)

/* ---- names ---- */

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

/* ---- REST use 1: the POST /events body ---- */

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
    expect_parse_error(PUT_EVENTS, "{\"sessionId\":1}", false, "invalid value for field 'sessionId': expected a string");
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

/* ---- REST use 2: the POST rerank body ---- */

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

static pz_status set_json(void *msg, const char *name, const char *json, pz_transcode_error *err)
{
    return pz_message_set_field_from_json(msg, name, json, strlen(json), &arena, err);
}

static void test_set_field_from_json_other_shapes(void **state)
{
    (void)state;
    Pztest__AllTypes m = PZTEST__ALL_TYPES__INIT;
    pz_transcode_error err = {0};
    assert_int_equal(set_json(&m, "fInner", "{\"name\":\"x\"}", &err), PZ_OK);
    assert_string_equal(m.f_inner->name, "x");
    assert_int_equal(set_json(&m, "fInner", "null", &err), PZ_OK);
    assert_null(m.f_inner);
    assert_int_equal(set_json(&m, "fInt32", "5", &err), PZ_OK);
    assert_true(m.has_f_int32 && m.f_int32 == 5);
    assert_int_equal(set_json(&m, "fInt32", "null", &err), PZ_OK);
    assert_false(m.has_f_int32);
    assert_int_equal(set_json(&m, "intDefault", "null", &err), PZ_OK);
    assert_int_equal(m.int_default, 7);
    assert_int_equal(set_json(&m, "withDefault", "\"w\"", &err), PZ_OK);
    assert_int_equal(set_json(&m, "withDefault", "null", &err), PZ_OK);
    assert_string_equal(m.with_default, "hello");
    assert_int_equal(set_json(&m, "cString", "\"s\"", &err), PZ_OK);
    assert_int_equal(m.choice_case, PZTEST__ALL_TYPES__CHOICE_C_STRING);
    assert_int_equal(set_json(&m, "cString", "null", &err), PZ_OK);
    assert_int_equal(m.choice_case, PZTEST__ALL_TYPES__CHOICE__NOT_SET);
    assert_int_equal(set_json(&m, "mInt32", "{\"1\":\"a\"}", &err), PZ_OK);
    assert_int_equal(set_json(&m, "mInt32", "{\"2\":\"b\"}", &err), PZ_OK);
    assert_int_equal(m.n_m_int32, 1); /* replaced, not merged */
    assert_int_equal(set_json(&m, "fInt32", "\"x\"", &err), PZ_INVALID_ARGUMENT);
    assert_string_equal(err.message, "invalid value for field 'fInt32': expected an integer");
    assert_int_equal(set_json(&m, "rInner", "[{}, {\"n\":\"q\"}]", &err),
                     PZ_INVALID_ARGUMENT);
    assert_string_equal(err.message, "invalid value for field 'n' at $.rInner[1]: expected an integer");
    assert_int_equal(set_json(&m, "rInt32", "[1, 2.5]", &err),
                     PZ_INVALID_ARGUMENT);
    assert_string_equal(err.message, "expected a JSON array of integers for 'rInt32'");
}

/* ---- REST use 3: query parameters and path segments ---- */

static pz_status set_text(void *msg, const char *name, const char *text, pz_text_mode mode, pz_transcode_error *err)
{
    return pz_message_set_field_from_text(msg, name, text, strlen(text), mode, &arena, err);
}

static void expect_text_error(void *msg, const char *name, const char *text, bool is_syntax, const char *message)
{
    pz_transcode_error err = {0};
    assert_int_equal(set_text(msg, name, text, PZ_TEXT_SPLIT_COMMAS, &err), PZ_INVALID_ARGUMENT);
    assert_string_equal(err.message, message);
    assert_int_equal(err.is_syntax, is_syntax);
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
    expect_text_error(&r, "context", "{\"a\":1}", false, "invalid value for parameter 'context': expected a string for key 'a'");
    expect_text_error(&r, "filterValues", "{\"k\":{}}", false,
                      "invalid value for parameter 'filterValues': expected a string for key 'k'");
    expect_text_error(&r, "context", "[\"a\"]", false, "invalid value for parameter 'context': expected an object");
    assert_int_equal(set_text(&r, "context", "null", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(r.n_context, 3);

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

static void test_text_other_types(void **state)
{
    (void)state;
    Pztest__AllTypes m = PZTEST__ALL_TYPES__INIT;
    pz_transcode_error err = {0};
    assert_int_equal(set_text(&m, "fInt64", "-9223372036854775808", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_true(m.f_int64 == INT64_MIN);
    assert_int_equal(set_text(&m, "fUint64", "18446744073709551615", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_true(m.f_uint64 == UINT64_MAX);
    expect_text_error(&m, "fUint32", "-1", false, "invalid value for parameter 'fUint32': integer out of range for uint32");
    assert_int_equal(set_text(&m, "fEnum", "GREEN", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(m.f_enum, PZTEST__COLOR__GREEN);
    assert_int_equal(set_text(&m, "fEnum", "-1", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(m.f_enum, PZTEST__COLOR__MINUS_ONE);
    expect_text_error(&m, "fEnum", "PURPLE", false, "invalid value for parameter 'fEnum': unknown value 'PURPLE' for enum pztest.Color");
    assert_int_equal(set_text(&m, "fDouble", "-1.5e3", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_true(m.f_double == -1500.0);
    assert_int_equal(set_text(&m, "fFloat", "Infinity", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_true(isinf(m.f_float));
    expect_text_error(&m, "fDouble", "1e999", false, "invalid value for parameter 'fDouble': expected a number");
    expect_text_error(&m, "fDouble", "0x10", false, "invalid value for parameter 'fDouble': expected a number");
    expect_text_error(&m, "fFloat", "1e39", false, "invalid value for parameter 'fFloat': number out of range for float");
    assert_int_equal(set_text(&m, "fBytes", "aGk", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(m.f_bytes.len, 2);
    assert_memory_equal(m.f_bytes.data, "hi", 2);
    expect_text_error(&m, "fBytes", "a", false, "invalid value for parameter 'fBytes': expected base64");
    assert_int_equal(set_text(&m, "rInt32", "1,-2,3", PZ_TEXT_SPLIT_COMMAS, &err), PZ_OK);
    assert_int_equal(m.n_r_int32, 3);
    assert_int_equal(m.r_int32[1], -2);
    expect_text_error(&m, "rInt32", "4,5,x", false, "invalid value for parameter 'rInt32': expected an integer at index 2");
    assert_int_equal(m.n_r_int32, 3);
    assert_int_equal(set_text(&m, "fInner", "{\"name\":\"a\"}", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(set_text(&m, "fInner", "{\"n\":2}", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_string_equal(to_json(m.f_inner), "{\"name\":\"a\",\"n\":2}"); /* merged */
    expect_text_error(&m, "fInner", "{\"q\":1}", false, "invalid value for parameter 'fInner': unknown field 'q' at $.fInner");
    expect_text_error(&m, "fInner", "{\"n\":true}", false,
                      "invalid value for parameter 'fInner': invalid value for field 'n' at $.fInner: expected an integer");
    assert_int_equal(set_text(&m, "rInner", "{\"n\":1}", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(set_text(&m, "rInner", "[{\"n\":2},{\"n\":3}]", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(m.n_r_inner, 3);
    assert_int_equal(m.r_inner[2]->n, 3);
    assert_int_equal(set_text(&m, "fValue", "[1,\"a\"]", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_string_equal(to_json(m.f_value), "[1,\"a\"]");
    expect_text_error(&m, "mInt32", "{\"01\":\"x\"}", false,
                      "invalid value for parameter 'mInt32': map key '01' is not a canonical decimal integer");
    expect_text_error(&m, "fValue", "{", true,
                      "invalid value for parameter 'fValue': expected JSON (string or '}' expected near end of file: "
                      "line 1 column 1 (char 1))");
}

/* ---- REST use 4: responses ---- */

static Google__Protobuf__Value *value_new(Google__Protobuf__Value__KindCase kind)
{
    Google__Protobuf__Value *v = (Google__Protobuf__Value *)pz_arena_new_message(&arena, &google__protobuf__value__descriptor);
    v->kind_case = kind;
    return v;
}

static Google__Protobuf__Struct *struct_new(size_t n, const char *const *keys, Google__Protobuf__Value **values)
{
    Google__Protobuf__Struct *s = (Google__Protobuf__Struct *)pz_arena_new_message(&arena, &google__protobuf__struct__descriptor);
    s->n_fields = n;
    s->fields = pz_arena_alloc(&arena, n * sizeof *s->fields);
    for (size_t i = 0; i < n; i++) {
        s->fields[i] = (Google__Protobuf__Struct__FieldsEntry *)pz_arena_new_message(
            &arena, &google__protobuf__struct__fields_entry__descriptor);
        s->fields[i]->key = (char *)keys[i];
        s->fields[i]->value = values[i];
    }
    return s;
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
    assert_string_equal(to_json(&rr), "{}");
    rr.n_personalized_ranking = 1;
    rr.personalized_ranking = items + 1;
    assert_string_equal(to_json(&rr), "{\"personalizedRanking\":[{\"itemId\":\"i2\"}]}");
    char *ids[] = {"e1", "e\"2"};
    Personalization__V1__PutEventsResponse pr = PERSONALIZATION__V1__PUT_EVENTS_RESPONSE__INIT;
    pr.n_event_ids = 2;
    pr.event_ids = ids;
    assert_string_equal(to_json(&pr), "{\"eventIds\":[\"e1\",\"e\\\"2\"]}");
}

/* ---- Struct ---- */

static void test_struct(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *resp = &personalization__v1__recommendation_response__descriptor;
    const char *json = "{\"itemList\":[{\"itemId\":\"i\",\"metadata\":{\"n\":null,\"num\":-1.25,\"big\":1e+300,"
                       "\"s\":\"\\u00e9\\n\",\"t\":true,\"f\":false,\"o\":{\"deep\":{\"er\":[1,[2,[]],{}]}},"
                       "\"l\":[null,\"x\",0]}}]}";
    round_trip(resp, json, "{\"itemList\":[{\"itemId\":\"i\",\"metadata\":{\"n\":null,\"num\":-1.25,\"big\":1e+300,"
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

/* ---- every field type ---- */

static void test_all_types_round_trip(void **state)
{
    (void)state;
    const char *json =
        "{\"fInt32\":-2147483648,\"fInt64\":\"-9223372036854775808\",\"fUint32\":4294967295,"
        "\"fUint64\":\"18446744073709551615\",\"fSint32\":-5,\"fSint64\":\"-6\",\"fFixed32\":7,\"fFixed64\":\"8\","
        "\"fSfixed32\":-9,\"fSfixed64\":\"-10\",\"fFloat\":1.5,\"fDouble\":0.1,\"fBool\":true,\"fString\":\"s\","
        "\"fBytes\":\"AP8=\",\"fEnum\":\"RED\",\"fInner\":{\"name\":\"n\",\"children\":[{\"n\":1}]},"
        "\"rInt32\":[1,-1],\"rInt64\":[\"1\",\"-1\"],\"rUint64\":[\"0\"],\"rFloat\":[0.25,\"NaN\"],"
        "\"rDouble\":[\"Infinity\",\"-Infinity\",-0.5],\"rBool\":[false,true],\"rString\":[\"\",\"b\"],"
        "\"rBytes\":[\"\",\"YQ==\",\"YWI=\",\"YWJj\"],\"rEnum\":[\"GREEN\",\"MINUS_ONE\",5],"
        "\"rInner\":[{},{\"name\":\"x\"}],\"rSint32\":[-1,2],\"mInt32\":{\"-1\":\"a\",\"2\":\"b\"},"
        "\"mInt64\":{\"9223372036854775807\":\"c\"},\"mUint32\":{\"4294967295\":\"d\"},"
        "\"mBool\":{\"true\":1,\"false\":0},\"mInner\":{\"k\":{\"n\":3}},\"mEnum\":{\"e\":\"RED\"},"
        "\"mSint64\":{\"-3\":\"AQI=\"},\"mDouble\":{\"x\":\"NaN\",\"y\":2.5},\"withDefault\":\"hello\","
        "\"intDefault\":7,\"cInt\":0,\"field2Name\":1}";
    round_trip(ALL, json, NULL);
    Pztest__AllTypes *m = parse_ok(ALL, json);
    assert_true(m->f_uint64 == UINT64_MAX);
    assert_int_equal(m->f_bytes.len, 2);
    assert_int_equal(m->f_bytes.data[1], 0xFF);
    assert_int_equal(m->r_enum[2], 5);
    assert_int_equal(m->n_m_bool, 2);
    assert_true(m->m_bool[0]->key && m->m_bool[0]->has_value);
    assert_int_equal(m->choice_case, PZTEST__ALL_TYPES__CHOICE_C_INT);
    assert_true(m->with_default != pztest__all_types__with_default__default_value);
}

static void test_all_types_input_forms(void **state)
{
    (void)state;
    Pztest__AllTypes *m = parse_ok(ALL, "{\"f_int32\":\"-12\",\"fInt64\":12,\"fUint64\":1e19,\"fUint32\":3.0,"
                                        "\"fDouble\":\"1e2\",\"fFloat\":3,\"fEnum\":2,\"fBytes\":\"-_8\","
                                        "\"rBytes\":[\"+/8=\",\"+/8\"],\"cInner\":{}}");
    assert_int_equal(m->f_int32, -12);
    assert_true(m->f_int64 == 12);
    assert_true(m->f_uint64 == 10000000000000000000ULL);
    assert_int_equal(m->f_uint32, 3);
    assert_true(m->f_double == 100.0);
    assert_int_equal(m->f_enum, PZTEST__COLOR__GREEN);
    assert_int_equal(m->f_bytes.len, 2);
    assert_memory_equal(m->f_bytes.data, "\xfb\xff", 2);
    assert_memory_equal(m->r_bytes[0].data, "\xfb\xff", 2);
    assert_memory_equal(m->r_bytes[1].data, "\xfb\xff", 2);
    assert_string_equal(to_json(m), "{\"fInt32\":-12,\"fInt64\":\"12\",\"fUint32\":3,\"fUint64\":\"10000000000000000000\","
                                    "\"fFloat\":3,\"fDouble\":100,\"fBytes\":\"+/8=\",\"fEnum\":\"GREEN\","
                                    "\"rBytes\":[\"+/8=\",\"+/8=\"],\"cInner\":{}}");
    m = parse_ok(ALL, "{\"fInt64\":\"9223372036854775807\",\"fSint64\":-9223372036854775808,\"fFloat\":\"-Infinity\"}");
    assert_true(m->f_int64 == INT64_MAX);
    assert_true(m->f_sint64 == INT64_MIN);
    assert_string_equal(to_json(m), "{\"fInt64\":\"9223372036854775807\",\"fSint64\":\"-9223372036854775808\","
                                    "\"fFloat\":\"-Infinity\"}");
}

static void test_all_types_errors(void **state)
{
    (void)state;
    static const struct {
        const char *json, *message;
    } cases[] = {
        {"{\"fInt32\":2147483648}", "invalid value for field 'fInt32': integer out of range for int32"},
        {"{\"fInt32\":-2147483649}", "invalid value for field 'fInt32': integer out of range for int32"},
        {"{\"fInt32\":1.5}", "invalid value for field 'fInt32': expected an integer"},
        {"{\"fInt32\":\"1.0\"}", "invalid value for field 'fInt32': expected an integer"},
        {"{\"fInt32\":true}", "invalid value for field 'fInt32': expected an integer"},
        {"{\"fUint32\":-1}", "invalid value for field 'fUint32': integer out of range for uint32"},
        {"{\"fUint64\":\"-1\"}", "invalid value for field 'fUint64': integer out of range for uint64"},
        {"{\"fUint64\":\"18446744073709551616\"}", "invalid value for field 'fUint64': integer out of range for uint64"},
        {"{\"fUint64\":2e19}", "invalid value for field 'fUint64': integer out of range for uint64"},
        {"{\"fInt64\":\"9223372036854775808\"}", "invalid value for field 'fInt64': integer out of range for int64"},
        {"{\"fSfixed64\":1e19}", "invalid value for field 'fSfixed64': integer out of range for sfixed64"},
        {"{\"fFixed32\":\" 1\"}", "invalid value for field 'fFixed32': expected an integer"},
        {"{\"fFloat\":1e39}", "invalid value for field 'fFloat': number out of range for float"},
        {"{\"fDouble\":\"nan\"}", "invalid value for field 'fDouble': expected a number"},
        {"{\"fDouble\":\"1e999\"}", "invalid value for field 'fDouble': expected a number"},
        {"{\"fDouble\":[]}", "invalid value for field 'fDouble': expected a number"},
        {"{\"fBool\":\"true\"}", "invalid value for field 'fBool': expected true or false"},
        {"{\"fBool\":1}", "invalid value for field 'fBool': expected true or false"},
        {"{\"fBytes\":\"a\"}", "invalid value for field 'fBytes': expected a base64 string"},
        {"{\"fBytes\":\"a===\"}", "invalid value for field 'fBytes': expected a base64 string"},
        {"{\"fBytes\":\"YQ=\"}", "invalid value for field 'fBytes': expected a base64 string"},
        {"{\"fBytes\":\"Y Q==\"}", "invalid value for field 'fBytes': expected a base64 string"},
        {"{\"fBytes\":1}", "invalid value for field 'fBytes': expected a base64 string"},
        {"{\"fEnum\":\"PURPLE\"}", "invalid value for field 'fEnum': unknown value 'PURPLE' for enum pztest.Color"},
        {"{\"fEnum\":1.5}", "invalid value for field 'fEnum': expected an enum name or number"},
        {"{\"fEnum\":4294967296}", "invalid value for field 'fEnum': integer out of range for enum"},
        {"{\"fInner\":[]}", "invalid value for field 'fInner': expected an object"},
        {"{\"fInner\":{\"children\":[{},{\"n\":\"x\"}]}}",
         "invalid value for field 'n' at $.fInner.children[1]: expected an integer"},
        {"{\"rEnum\":[\"RED\",\"X\"]}", "invalid value for field 'rEnum': unknown value 'X' for enum pztest.Color at index 1"},
        {"{\"rFloat\":[1,null]}", "invalid value for field 'rFloat': expected a number at index 1"},
        {"{\"mInt32\":{\"x\":\"a\"}}", "invalid value for field 'mInt32': map key 'x' is not a canonical decimal integer"},
        {"{\"mInt32\":{\"-0\":\"a\"}}", "invalid value for field 'mInt32': map key '-0' is not a canonical decimal integer"},
        {"{\"mInt32\":{\"2147483648\":\"a\"}}", "invalid value for field 'mInt32': integer out of range for int32 for key '2147483648'"},
        {"{\"mUint32\":{\"-1\":\"a\"}}", "invalid value for field 'mUint32': integer out of range for uint32 for key '-1'"},
        {"{\"mInt64\":{\"99999999999999999999\":\"a\"}}",
         "invalid value for field 'mInt64': map key '99999999999999999999' is out of range for int64"},
        {"{\"mBool\":{\"yes\":1}}", "invalid value for field 'mBool': map key 'yes' is not true or false"},
        {"{\"mInt32\":{\"1\":null}}", "invalid value for field 'mInt32': expected a string for key '1'"},
        {"{\"mInt32\":[]}", "invalid value for field 'mInt32': expected an object"},
        {"{\"mInner\":{\"k\":{\"z\":1}}}", "unknown field 'z' at $.mInner[\"k\"]"},
        {"{\"mInner\":{\"k\":1}}", "invalid value for field 'mInner': expected an object for key 'k'"},
        {"{\"mEnum\":{\"k\":\"BLUE\"}}", "invalid value for field 'mEnum': unknown value 'BLUE' for enum pztest.Color for key 'k'"},
        {"{\"cInt\":1,\"cString\":\"a\"}", "fields 'cInt' and 'cString' at $ are of the same oneof"},
        {"{\"fInner\":{\"children\":[{\"children\":[{\"bad\":0}]}]}}", "unknown field 'bad' at $.fInner.children[0].children[0]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_parse_error(ALL, cases[i].json, false, cases[i].message);
    expect_parse_error(ALL, "{\"fUint64\":18446744073709551615}", true,
                       "too big integer near '18446744073709551615': line 1 column 31 (char 31)");
}

static void test_required_and_oneof(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *req = &pztest__with_required__descriptor;
    round_trip(req, "{\"id\":\"a\",\"inner\":{},\"count\":0}", NULL);
    expect_parse_error(req, "{\"id\":\"a\",\"inner\":{}}", false, "missing required field 'count' at $");
    expect_parse_error(req, "{\"count\":1,\"inner\":{}}", false, "missing required field 'id' at $");
    pz_transcode_error err = {0};
    Pztest__WithRequired w = PZTEST__WITH_REQUIRED__INIT;
    assert_int_equal(pz_json_merge_into_message(&w.base, "{\"id\":\"x\"}", 10, &arena, &err), PZ_INVALID_ARGUMENT);
    assert_string_equal(err.message, "missing required field 'inner' at $");
    assert_int_equal(pz_json_merge_into_message(&w.base, "{\"inner\":{}}", 12, &arena, &err), PZ_OK);

    /* oneof: switching members through merges */
    Pztest__AllTypes m = PZTEST__ALL_TYPES__INIT;
    assert_int_equal(pz_json_merge_into_message(&m.base, "{\"cString\":\"s\"}", 15, &arena, &err), PZ_OK);
    assert_int_equal(pz_json_merge_into_message(&m.base, "{\"cInner\":{\"n\":1}}", 18, &arena, &err), PZ_OK);
    assert_string_equal(to_json(&m), "{\"cInner\":{\"n\":1}}");
    assert_int_equal(pz_json_merge_into_message(&m.base, "{\"cInner\":{\"name\":\"q\"}}", 23, &arena, &err), PZ_OK);
    assert_string_equal(to_json(&m), "{\"cInner\":{\"name\":\"q\",\"n\":1}}");
}

static void test_proto3_presence(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *p3 = &pztest3__p3__descriptor;
    round_trip(p3, "{\"i\":0,\"s\":\"\",\"b\":\"\",\"r\":[],\"d\":0,\"flag\":false,\"mood\":\"MOOD_UNSPECIFIED\",\"f\":0,\"u\":\"0\"}",
               "{}");
    round_trip(p3, "{\"i\":1,\"s\":\"a\",\"b\":\"AA==\",\"m\":{},\"r\":[0],\"os\":\"\",\"d\":-0.0,\"flag\":true,"
                   "\"mood\":\"HAPPY\",\"f\":0.5,\"u\":\"1\"}",
               "{\"i\":1,\"s\":\"a\",\"b\":\"AA==\",\"m\":{},\"r\":[0],\"os\":\"\",\"d\":-0.0,\"flag\":true,"
               "\"mood\":\"HAPPY\",\"f\":0.5,\"u\":\"1\"}");
    round_trip(p3, "{\"oi\":\"0\"}", NULL);
    Pztest3__P3 m = PZTEST3__P3__INIT;
    assert_string_equal(to_json(&m), "{}");
}

static void test_defaults_and_presence(void **state)
{
    (void)state;
    Personalization__V1__RecommendItemsRequest r = PERSONALIZATION__V1__RECOMMEND_ITEMS_REQUEST__INIT;
    assert_string_equal(to_json(&r), "{}"); /* declared defaults are not emitted */
    Personalization__V1__RecommendItemsRequest *p = parse_ok(&personalization__v1__recommend_items_request__descriptor, "{}");
    assert_false(p->has_num_results);
    assert_int_equal(p->num_results, 25);
    assert_true(p->decorate_items);
    p = parse_ok(&personalization__v1__recommend_items_request__descriptor,
                 "{\"numResults\":25,\"decorateItems\":true,\"syntheticUser\":false,\"filter\":\"\"}");
    assert_string_equal(to_json(p), "{\"numResults\":25,\"filter\":\"\",\"decorateItems\":true,\"syntheticUser\":false}");
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
    Personalization__V1__PutEventsRequest *r = parse_ok(PUT_EVENTS, "{\"sessionId\":\"a\",\"eventList\":[{\"eventType\":\"x\"}]}");
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

/* ---- numbers ---- */

static const char *double_json(double d)
{
    Pztest__AllTypes m = PZTEST__ALL_TYPES__INIT;
    m.has_f_double = 1;
    m.f_double = d;
    const char *s = to_json(&m);
    assert_int_equal(strncmp(s, "{\"fDouble\":", 11), 0);
    return pz_arena_strndup(&arena, s + 11, strlen(s) - 12);
}

static const char *float_json(float f)
{
    Pztest__AllTypes m = PZTEST__ALL_TYPES__INIT;
    m.has_f_float = 1;
    m.f_float = f;
    const char *s = to_json(&m);
    return pz_arena_strndup(&arena, s + 10, strlen(s) - 11);
}

static void test_number_format(void **state)
{
    (void)state;
    assert_string_equal(double_json(1.0), "1");
    assert_string_equal(double_json(0.1), "0.1");
    assert_string_equal(double_json(-2.5), "-2.5");
    assert_string_equal(double_json(1.0 / 3), "0.3333333333333333");
    assert_string_equal(double_json(0.1 + 0.2), "0.30000000000000004");
    assert_string_equal(double_json(1e21), "1e+21");
    assert_string_equal(double_json(1e15), "1e+15");
    assert_string_equal(double_json(123456789012.0), "123456789012");
    assert_string_equal(double_json(5e-324), "4.94065645841247e-324");
    assert_string_equal(double_json(1.7976931348623157e308), "1.7976931348623157e+308");
    assert_string_equal(double_json(-0.0), "-0.0");
    assert_string_equal(float_json(-0.0f), "-0.0");
    assert_string_equal(float_json(0.0f), "0");
    assert_string_equal(double_json(NAN), "\"NaN\"");
    assert_string_equal(double_json(-INFINITY), "\"-Infinity\"");
    assert_string_equal(float_json(0.1f), "0.1");
    assert_string_equal(float_json(3.4028235e38f), "3.4028235e+38");
    assert_string_equal(float_json(16777216.0f), "16777216");
    assert_string_equal(float_json(INFINITY), "\"Infinity\"");
    /* every printed double reads back exactly */
    double samples[] = {0.1, 1e-7, 2.0 / 3, 1234.5678, 9007199254740993.0, 6.02214076e23, 1e-300};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
        assert_true(strtod(double_json(samples[i]), NULL) == samples[i]);
}

/* ---- strings and UTF-8 ---- */

static void test_string_escaping(void **state)
{
    (void)state;
    pz_buf b;
    pz_buf_init(&b, 1024);
    const char in[] = "a\"b\\c\n\r\t\b\f\x01\x1f\x7f/\xC3\xA9\xE2\x80\xA8\xE2\x80\xA9\xF0\x9F\x98\x80";
    assert_int_equal(pz_json_write_string(&b, in, sizeof in - 1), 0);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\x7f/\xC3\xA9\\u2028\\u2029\xF0\x9F\x98\x80\"");
    pz_buf_clear(&b);
    /* invalid UTF-8 (lone continuation, truncated, overlong, surrogate, > U+10FFFF) -> U+FFFD each byte */
    const char bad[] = "x\x80y\xC3z\xC0\xAF\xED\xA0\x80\xF4\x90\x80\x80";
    assert_int_equal(pz_json_write_string(&b, bad, sizeof bad - 1), 0);
    assert_string_equal(b.data, "\"x\xEF\xBF\xBDy\xEF\xBF\xBDz\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                                "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
    pz_buf_clear(&b);
    assert_int_equal(pz_json_write_string(&b, "", 0), 0);
    assert_string_equal(b.data, "\"\"");
    pz_buf_free(&b);
    pz_buf_init(&b, 4);
    assert_int_equal(pz_json_write_string(&b, "abcdef", 6), -1);
    pz_buf_free(&b);
}

static void test_utf8_input(void **state)
{
    (void)state;
    Personalization__V1__PutEventsRequest *r =
        parse_ok(PUT_EVENTS, "{\"sessionId\":\"\\ud83d\\ude00 \xE2\x82\xAC \\u2028\"}");
    assert_string_equal(r->session_id, "\xF0\x9F\x98\x80 \xE2\x82\xAC \xE2\x80\xA8");
    assert_string_equal(to_json(r), "{\"sessionId\":\"\xF0\x9F\x98\x80 \xE2\x82\xAC \\u2028\"}");
    expect_parse_error(PUT_EVENTS, "{\"sessionId\":\"\xFF\"}", true, "unable to decode byte 0xff near '\"': line 1 column 14 (char 14)");
    expect_parse_error(PUT_EVENTS, "{\"sessionId\":\"\xC0\xAF\"}", true, "unable to decode byte 0xc0 near '\"': line 1 column 14 (char 14)");
    expect_parse_error(PUT_EVENTS, "{\"sessionId\":\"\\ud800\"}", true,
                       "invalid Unicode '\\uD800' near '\"\\ud800\"': line 1 column 21 (char 21)");
    /* an invalid byte inside an unknown key never reaches the error message */
    ProtobufCMessage *m = NULL;
    pz_transcode_error err = {0};
    const char *body = "{\"a\xE9\":1}";
    assert_int_equal(pz_json_to_message(PUT_EVENTS, body, strlen(body), &arena, &m, &err), PZ_INVALID_ARGUMENT);
    assert_null(strchr(err.message, '\xE9'));
    /* long keys are cut at a character boundary */
    char key[300];
    memset(key, 'k', sizeof key);
    memcpy(key + 62, "\xE2\x82\xAC", 3);
    snprintf(key + 200, 100, "\":1}");
    char json[320];
    snprintf(json, sizeof json, "{\"%s", key);
    assert_int_equal(pz_json_to_message(PUT_EVENTS, json, strlen(json), &arena, &m, &err), PZ_INVALID_ARGUMENT);
    assert_string_equal(err.message,
                        "unknown field 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk' at $");
}

/* ---- limits ---- */

static char *nested(size_t depth, const char *inner)
{
    size_t len = strlen("{\"fValue\":") + depth * 2 + strlen(inner) + 2;
    char *s = pz_arena_alloc(&arena, len + 1);
    size_t n = 0;
    n += (size_t)sprintf(s + n, "{\"fValue\":");
    for (size_t i = 0; i < depth; i++)
        s[n++] = '[';
    n += (size_t)sprintf(s + n, "%s", inner);
    for (size_t i = 0; i < depth; i++)
        s[n++] = ']';
    s[n++] = '}';
    s[n] = '\0';
    return s;
}

static void test_depth_limit(void **state)
{
    (void)state;
    /* the body object is one level: 63 arrays inside make 64 */
    round_trip(ALL, nested(PZ_JSON_MAX_DEPTH - 1, "\"[{\""), NULL);
    ProtobufCMessage *m = NULL;
    pz_transcode_error err = {0};
    char *deep = nested(PZ_JSON_MAX_DEPTH, "1");
    assert_int_equal(pz_json_to_message(ALL, deep, strlen(deep), &arena, &m, &err), PZ_INVALID_ARGUMENT);
    assert_string_equal(err.message, "JSON nested deeper than 64 levels: line 1 column 74 (char 73)");
    assert_false(err.is_syntax);
    deep = nested(100000, "1");
    assert_int_equal(pz_json_to_message(ALL, deep, strlen(deep), &arena, &m, &err), PZ_INVALID_ARGUMENT);

    /* output refuses to nest deeper than input accepts, and leaves the buffer as it was */
    Google__Protobuf__Value *v = value_new(GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE);
    for (int i = 0; i < PZ_JSON_MAX_DEPTH; i++) {
        Google__Protobuf__ListValue *l = (Google__Protobuf__ListValue *)pz_arena_new_message(
            &arena, &google__protobuf__list_value__descriptor);
        l->n_values = 1;
        l->values = pz_arena_alloc(&arena, sizeof *l->values);
        l->values[0] = v;
        v = value_new(GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE);
        v->list_value = l;
    }
    pz_buf b;
    pz_buf_init(&b, 1 << 20);
    pz_buf_append_str(&b, "prefix");
    assert_int_equal(pz_message_to_json(&v->base, &b), 0);
    assert_int_equal(b.len, 6 + 2 * PZ_JSON_MAX_DEPTH + 1);
    Google__Protobuf__ListValue *top = (Google__Protobuf__ListValue *)pz_arena_new_message(
        &arena, &google__protobuf__list_value__descriptor);
    top->n_values = 1;
    top->values = &v;
    pz_buf_clear(&b);
    pz_buf_append_str(&b, "prefix");
    assert_int_equal(pz_message_to_json(&top->base, &b), -1);
    assert_string_equal(b.data, "prefix");
    pz_buf_free(&b);
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
    const char *body = "{\"sessionId\":\"s\",\"userId\":\"u\",\"eventList\":[{\"eventType\":\"click\",\"itemId\":\"i1\"},"
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
        cmocka_unit_test_setup_teardown(test_set_field_from_json_other_shapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_other_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recommendation_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_struct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_types_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_types_input_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_types_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_required_and_oneof, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proto3_presence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults_and_presence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_number_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_string_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_utf8_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffer_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_arrays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arena_budget, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
