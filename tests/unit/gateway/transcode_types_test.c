/* Tests for gateway/transcode*.c with the test-only messages (transcode_test_types*.proto): every
 * field type and its error messages, set_field_* on every shape, required fields, oneofs, proto3
 * presence, number formatting, string escaping and UTF-8, and the nesting limit. */
#include <math.h>

#include "tests/unit/gateway/transcode_test_util.h"

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
    assert_int_equal(set_json(&m, "rInner", "[{}, {\"n\":\"q\"}]", &err), PZ_INVALID_ARGUMENT);
    assert_string_equal(err.message, "invalid value for field 'n' at $.rInner[1]: expected an integer");
    assert_int_equal(set_json(&m, "rInt32", "[1, 2.5]", &err), PZ_INVALID_ARGUMENT);
    assert_string_equal(err.message, "expected a JSON array of integers for 'rInt32'");
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
    expect_text_error(&m, "fUint32", "-1", false,
                      "invalid value for parameter 'fUint32': integer out of range for uint32");
    assert_int_equal(set_text(&m, "fEnum", "GREEN", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(m.f_enum, PZTEST__COLOR__GREEN);
    assert_int_equal(set_text(&m, "fEnum", "-1", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(m.f_enum, PZTEST__COLOR__MINUS_ONE);
    expect_text_error(&m, "fEnum", "PURPLE", false,
                      "invalid value for parameter 'fEnum': unknown value 'PURPLE' for enum pztest.Color");
    assert_int_equal(set_text(&m, "fDouble", "-1.5e3", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_true(m.f_double == -1500.0);
    assert_int_equal(set_text(&m, "fFloat", "Infinity", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_true(isinf(m.f_float));
    expect_text_error(&m, "fDouble", "1e999", false, "invalid value for parameter 'fDouble': expected a number");
    expect_text_error(&m, "fDouble", "0x10", false, "invalid value for parameter 'fDouble': expected a number");
    expect_text_error(&m, "fFloat", "1e39", false,
                      "invalid value for parameter 'fFloat': number out of range for float");
    assert_int_equal(set_text(&m, "fBytes", "aGk", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(m.f_bytes.len, 2);
    assert_memory_equal(m.f_bytes.data, "hi", 2);
    expect_text_error(&m, "fBytes", "a", false, "invalid value for parameter 'fBytes': expected base64");
    assert_int_equal(set_text(&m, "rInt32", "1,-2,3", PZ_TEXT_SPLIT_COMMAS, &err), PZ_OK);
    assert_int_equal(m.n_r_int32, 3);
    assert_int_equal(m.r_int32[1], -2);
    expect_text_error(&m, "rInt32", "4,5,x", false,
                      "invalid value for parameter 'rInt32': expected an integer at index 2");
    assert_int_equal(m.n_r_int32, 3);
    assert_int_equal(set_text(&m, "fInner", "{\"name\":\"a\"}", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(set_text(&m, "fInner", "{\"n\":2}", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_string_equal(to_json(m.f_inner), "{\"name\":\"a\",\"n\":2}"); /* merged */
    expect_text_error(&m, "fInner", "{\"q\":1}", false,
                      "invalid value for parameter 'fInner': unknown field 'q' at $.fInner");
    expect_text_error(
        &m, "fInner", "{\"n\":true}", false,
        "invalid value for parameter 'fInner': invalid value for field 'n' at $.fInner: expected an integer");
    assert_int_equal(set_text(&m, "rInner", "{\"n\":1}", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(set_text(&m, "rInner", "[{\"n\":2},{\"n\":3}]", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(m.n_r_inner, 3);
    assert_int_equal(m.r_inner[2]->n, 3);
    assert_int_equal(set_text(&m, "fValue", "[1,\"a\"]", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_string_equal(to_json(m.f_value), "[1,\"a\"]");
    /* null: nothing to set, except for a Value, where null is a value */
    assert_int_equal(set_text(&m, "fInner", "null", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_non_null(m.f_inner);
    assert_int_equal(set_text(&m, "rInner", "null", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(m.n_r_inner, 3);
    assert_int_equal(set_text(&m, "mValue", "null", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(m.n_m_value, 0);
    assert_int_equal(set_text(&m, "fValue", "null", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_string_equal(to_json(m.f_value), "null");
    assert_int_equal(set_text(&m, "mValue", "{\"a\":null}", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_int_equal(set_text(&m, "mValue", "{\"b\":{\"c\":[]},\"a\":1}", PZ_TEXT_PLAIN, &err), PZ_OK);
    assert_string_equal(to_json(&m.base), "{\"fInt64\":\"-9223372036854775808\",\"fUint64\":\"18446744073709551615\","
                                          "\"fFloat\":\"Infinity\",\"fDouble\":-1500,\"fBytes\":\"aGk=\","
                                          "\"fEnum\":\"MINUS_ONE\",\"fInner\":{\"name\":\"a\",\"n\":2},"
                                          "\"rInt32\":[1,-2,3],\"rInner\":[{\"n\":1},{\"n\":2},{\"n\":3}],"
                                          "\"mValue\":{\"a\":1,\"b\":{\"c\":[]}},\"fValue\":null}");
    expect_text_error(&m, "mInt32", "{\"01\":\"x\"}", false,
                      "invalid value for parameter 'mInt32': map key '01' is not a canonical decimal integer");
    expect_text_error(&m, "fValue", "{", true,
                      "invalid value for parameter 'fValue': expected JSON (string or '}' expected near end of file: "
                      "line 1 column 1 (char 1))");
}

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
    assert_string_equal(to_json(m),
                        "{\"fInt32\":-12,\"fInt64\":\"12\",\"fUint32\":3,\"fUint64\":\"10000000000000000000\","
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
        {"{\"fUint64\":\"18446744073709551616\"}",
         "invalid value for field 'fUint64': integer out of range for uint64"},
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
        {"{\"rEnum\":[\"RED\",\"X\"]}",
         "invalid value for field 'rEnum': unknown value 'X' for enum pztest.Color at index 1"},
        {"{\"rFloat\":[1,null]}", "invalid value for field 'rFloat': expected a number at index 1"},
        {"{\"mInt32\":{\"x\":\"a\"}}",
         "invalid value for field 'mInt32': map key 'x' is not a canonical decimal integer"},
        {"{\"mInt32\":{\"-0\":\"a\"}}",
         "invalid value for field 'mInt32': map key '-0' is not a canonical decimal integer"},
        {"{\"mInt32\":{\"2147483648\":\"a\"}}",
         "invalid value for field 'mInt32': integer out of range for int32 for key '2147483648'"},
        {"{\"mUint32\":{\"-1\":\"a\"}}",
         "invalid value for field 'mUint32': integer out of range for uint32 for key '-1'"},
        {"{\"mInt64\":{\"99999999999999999999\":\"a\"}}",
         "invalid value for field 'mInt64': map key '99999999999999999999' is out of range for int64"},
        {"{\"mBool\":{\"yes\":1}}", "invalid value for field 'mBool': map key 'yes' is not true or false"},
        {"{\"mInt32\":{\"1\":null}}", "invalid value for field 'mInt32': expected a string for key '1'"},
        {"{\"mInt32\":[]}", "invalid value for field 'mInt32': expected an object"},
        {"{\"mInner\":{\"k\":{\"z\":1}}}", "unknown field 'z' at $.mInner[\"k\"]"},
        {"{\"mInner\":{\"k\":1}}", "invalid value for field 'mInner': expected an object for key 'k'"},
        {"{\"mEnum\":{\"k\":\"BLUE\"}}",
         "invalid value for field 'mEnum': unknown value 'BLUE' for enum pztest.Color for key 'k'"},
        {"{\"cInt\":1,\"cString\":\"a\"}", "fields 'cInt' and 'cString' at $ are of the same oneof"},
        {"{\"fInner\":{\"children\":[{\"children\":[{\"bad\":0}]}]}}",
         "unknown field 'bad' at $.fInner.children[0].children[0]"},
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
    round_trip(p3,
               "{\"i\":0,\"s\":\"\",\"b\":\"\",\"r\":[],\"d\":0,\"flag\":false,\"mood\":\"MOOD_UNSPECIFIED\",\"f\":0,"
               "\"u\":\"0\"}",
               "{}");
    round_trip(p3,
               "{\"i\":1,\"s\":\"a\",\"b\":\"AA==\",\"m\":{},\"r\":[0],\"os\":\"\",\"d\":-0.0,\"flag\":true,"
               "\"mood\":\"HAPPY\",\"f\":0.5,\"u\":\"1\"}",
               "{\"i\":1,\"s\":\"a\",\"b\":\"AA==\",\"m\":{},\"r\":[0],\"os\":\"\",\"d\":-0.0,\"flag\":true,"
               "\"mood\":\"HAPPY\",\"f\":0.5,\"u\":\"1\"}");
    round_trip(p3, "{\"oi\":\"0\"}", NULL);
    Pztest3__P3 m = PZTEST3__P3__INIT;
    assert_string_equal(to_json(&m), "{}");
}

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

static void test_string_escaping(void **state)
{
    (void)state;
    pz_buf b;
    pz_buf_init(&b, 1024);
    const char in[] = "a\"b\\c\n\r\t\b\f\x01\x1f\x7f/\xC3\xA9\xE2\x80\xA8\xE2\x80\xA9\xF0\x9F\x98\x80";
    assert_int_equal(pz_json_write_string(&b, in, sizeof in - 1), 0);
    assert_string_equal(b.data,
                        "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\x7f/\xC3\xA9\\u2028\\u2029\xF0\x9F\x98\x80\"");
    pz_buf_clear(&b);
    /* invalid UTF-8 (lone continuation, truncated, overlong, surrogate, > U+10FFFF) -> U+FFFD each byte */
    const char bad[] = "x\x80y\xC3z\xC0\xAF\xED\xA0\x80\xF4\x90\x80\x80";
    assert_int_equal(pz_json_write_string(&b, bad, sizeof bad - 1), 0);
    assert_string_equal(b.data,
                        "\"x\xEF\xBF\xBDy\xEF\xBF\xBDz\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
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
    expect_parse_error(PUT_EVENTS, "{\"sessionId\":\"\xFF\"}", true,
                       "unable to decode byte 0xff near '\"': line 1 column 14 (char 14)");
    expect_parse_error(PUT_EVENTS, "{\"sessionId\":\"\xC0\xAF\"}", true,
                       "unable to decode byte 0xc0 near '\"': line 1 column 14 (char 14)");
    expect_parse_error(PUT_EVENTS, "{\"sessionId\":\"\\ud800\"}", true,
                       "invalid Unicode '\\uD800' near '\"\\ud800\"': line 1 column 21 (char 21)");
    /* jansson quotes the bytes near a syntax error; control characters among them are replaced */
    expect_parse_error(PUT_EVENTS, "[1\x7f]", true, "']' expected near '?': line 1 column 3 (char 3)");
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
        Google__Protobuf__ListValue *l =
            (Google__Protobuf__ListValue *)pz_arena_new_message(&arena, &google__protobuf__list_value__descriptor);
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
    Google__Protobuf__ListValue *top =
        (Google__Protobuf__ListValue *)pz_arena_new_message(&arena, &google__protobuf__list_value__descriptor);
    top->n_values = 1;
    top->values = &v;
    pz_buf_clear(&b);
    pz_buf_append_str(&b, "prefix");
    assert_int_equal(pz_message_to_json(&top->base, &b), -1);
    assert_string_equal(b.data, "prefix");
    pz_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_set_field_from_json_other_shapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_other_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_types_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_types_input_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_types_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_required_and_oneof, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proto3_presence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_number_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_string_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_utf8_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
