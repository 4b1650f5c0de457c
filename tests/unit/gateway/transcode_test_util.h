/* Helpers shared by the transcoder tests (transcode_test.c, transcode_types_test.c): one arena per
 * test, JSON in and out of messages with failures reported by cmocka. */
#ifndef PZ_TRANSCODE_TEST_UTIL_H
#define PZ_TRANSCODE_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gateway/transcode.h"
#include "google/protobuf/struct.pb-c.h"
#include "personalization/v1/personalization.pb-c.h"
#include "tests/unit/gateway/transcode_test_types.pb-c.h"
#include "tests/unit/gateway/transcode_test_types3.pb-c.h"

#define PUT_EVENTS (&personalization__v1__put_events_request__descriptor)
#define ALL (&pztest__all_types__descriptor)

static pz_arena arena;

static inline int setup(void **state)
{
    (void)state;
    pz_arena_init(&arena);
    return 0;
}

static inline int teardown(void **state)
{
    (void)state;
    pz_arena_destroy(&arena);
    return 0;
}

/* The message as JSON, arena-owned. */
static inline const char *to_json(const void *msg)
{
    pz_buf b;
    pz_buf_init(&b, 1 << 24);
    assert_int_equal(pz_message_to_json(msg, &b), 0);
    char *s = pz_arena_strndup(&arena, b.data, b.len);
    pz_buf_free(&b);
    return s;
}

static inline void *parse_ok(const ProtobufCMessageDescriptor *desc, const char *json)
{
    ProtobufCMessage *m = NULL;
    pz_transcode_error err = {0};
    pz_status st = pz_json_to_message(desc, json, strlen(json), &arena, &m, &err);
    if (st != PZ_OK)
        fail_msg("parse of %s failed: %s", json, err.message);
    assert_non_null(m);
    return m;
}

static inline void expect_parse_error(const ProtobufCMessageDescriptor *desc, const char *json, bool is_syntax,
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
static inline void round_trip(const ProtobufCMessageDescriptor *desc, const char *json, const char *expected)
{
    assert_string_equal(to_json(parse_ok(desc, json)), expected != NULL ? expected : json);
}

static inline pz_status set_json(void *msg, const char *name, const char *json, pz_transcode_error *err)
{
    return pz_message_set_field_from_json(msg, name, json, strlen(json), &arena, err);
}

static inline pz_status set_text(void *msg, const char *name, const char *text, pz_text_mode mode,
                                 pz_transcode_error *err)
{
    return pz_message_set_field_from_text(msg, name, text, strlen(text), mode, &arena, err);
}

static inline void expect_text_error(void *msg, const char *name, const char *text, bool is_syntax, const char *message)
{
    pz_transcode_error err = {0};
    assert_int_equal(set_text(msg, name, text, PZ_TEXT_SPLIT_COMMAS, &err), PZ_INVALID_ARGUMENT);
    assert_string_equal(err.message, message);
    assert_int_equal(err.is_syntax, is_syntax);
}

static inline Google__Protobuf__Value *value_new(Google__Protobuf__Value__KindCase kind)
{
    Google__Protobuf__Value *v =
        (Google__Protobuf__Value *)pz_arena_new_message(&arena, &google__protobuf__value__descriptor);
    v->kind_case = kind;
    return v;
}

static inline Google__Protobuf__Struct *struct_new(size_t n, const char *const *keys, Google__Protobuf__Value **values)
{
    Google__Protobuf__Struct *s =
        (Google__Protobuf__Struct *)pz_arena_new_message(&arena, &google__protobuf__struct__descriptor);
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

#endif
