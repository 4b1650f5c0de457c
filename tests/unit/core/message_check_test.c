/* Tests for server/core/message_check.c: one text rule (UTF-8, no NUL) for every string of a
 * request, read from the protobuf bytes (gRPC) or the decoded message (REST), and the service
 * applying it before anything else (issue 19: gRPC served "a\0b" as "a" and stored event ids
 * changed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "personalization/v1/personalization.pb-c.h"
#include "server/core/mem.h"
#include "server/core/message_check.h"

/* Packs m, then replaces the first occurrence of `marker` in the bytes with `with` (same length). */
static uint8_t *pack_patched(const ProtobufCMessage *m, const char *marker, const char *with, size_t with_len,
                             size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len);
    protobuf_c_message_pack(m, buf);
    assert_int_equal(strlen(marker), with_len);
    for (size_t i = 0; i + with_len <= *len; i++) {
        if (memcmp(buf + i, marker, with_len) == 0) {
            memcpy(buf + i, with, with_len);
            return buf;
        }
    }
    fail_msg("marker %s not found", marker);
    return NULL;
}

static Personalization__V1__PutEventsRequest *events(pz_arena *a, const char *item1)
{
    Personalization__V1__PutEventsRequest *m =
        (void *)pz_arena_new_message(a, &personalization__v1__put_events_request__descriptor);
    m->namespace_ = "ns";
    m->session_id = "s";
    m->n_event_list = 2;
    m->event_list = pz_arena_calloc(a, 2, sizeof *m->event_list);
    for (size_t i = 0; i < 2; i++) {
        Personalization__V1__Event *e = (void *)pz_arena_new_message(a, &personalization__v1__event__descriptor);
        e->event_type = "click";
        e->item_id = i == 1 ? (char *)item1 : "first";
        m->event_list[i] = e;
    }
    return m;
}

static void expect_invalid(pz_status s, const pz_error *err, const char *message)
{
    assert_int_equal(s, PZ_INVALID_ARGUMENT);
    assert_string_equal(err->code, "ValidationError");
    assert_string_equal(err->message, message);
}

static void test_wire_nul_in_nested_repeated_field(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    pz_error err;
    size_t len;
    uint8_t *wire = pack_patched(&events(&a, "aXb")->base, "aXb", "a\0b", 3, &len);
    /* The decoder hides it: the decoded id is "a". */
    Personalization__V1__PutEventsRequest *dec = personalization__v1__put_events_request__unpack(NULL, len, wire);
    assert_string_equal(dec->event_list[1]->item_id, "a");
    personalization__v1__put_events_request__free_unpacked(dec, NULL);
    expect_invalid(pz_message_check_wire(&personalization__v1__put_events_request__descriptor, wire, len, &a, &err),
                   &err, "eventList[1].itemId holds a NUL character");
    free(wire);

    /* The same bytes without the NUL pass. */
    wire = pack_patched(&events(&a, "aXb")->base, "aXb", "a-b", 3, &len);
    assert_int_equal(pz_message_check_wire(&personalization__v1__put_events_request__descriptor, wire, len, &a, &err),
                     PZ_OK);
    free(wire);
    pz_arena_destroy(&a);
}

static void test_wire_invalid_utf8_top_level_and_map(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    pz_error err;
    Personalization__V1__RecommendItemsRequest *m =
        (void *)pz_arena_new_message(&a, &personalization__v1__recommend_items_request__descriptor);
    m->namespace_ = "ns";
    m->recommender = "r";
    m->user_id = "uXXu";
    m->num_results = 5;
    size_t len;
    uint8_t *wire = pack_patched(&m->base, "uXXu", "u\xc3\x28u", 4, &len); /* a broken 2-byte sequence */
    expect_invalid(
        pz_message_check_wire(&personalization__v1__recommend_items_request__descriptor, wire, len, &a, &err), &err,
        "userId is not valid UTF-8");
    free(wire);

    m->user_id = "u";
    Personalization__V1__RecommendItemsRequest__ContextEntry e1 =
        PERSONALIZATION__V1__RECOMMEND_ITEMS_REQUEST__CONTEXT_ENTRY__INIT;
    Personalization__V1__RecommendItemsRequest__ContextEntry e2 =
        PERSONALIZATION__V1__RECOMMEND_ITEMS_REQUEST__CONTEXT_ENTRY__INIT;
    e1.key = "device";
    e1.value = "phone";
    e2.key = "kXy";
    e2.value = "v";
    Personalization__V1__RecommendItemsRequest__ContextEntry *entries[] = {&e1, &e2};
    m->context = entries;
    m->n_context = 2;
    wire = pack_patched(&m->base, "kXy", "k\xffy", 3, &len);
    expect_invalid(
        pz_message_check_wire(&personalization__v1__recommend_items_request__descriptor, wire, len, &a, &err), &err,
        "context[1].key is not valid UTF-8");
    free(wire);

    /* Valid multi-byte text passes, and so does a message with no strings at all. */
    e2.key = "k\xc3\xa9y";
    wire = pack_patched(&m->base, "phone", "phone", 5, &len);
    assert_int_equal(
        pz_message_check_wire(&personalization__v1__recommend_items_request__descriptor, wire, len, &a, &err), PZ_OK);
    free(wire);
    assert_int_equal(
        pz_message_check_wire(&personalization__v1__recommend_items_request__descriptor, NULL, 0, &a, &err), PZ_OK);
    pz_arena_destroy(&a);
}

/* Truncated or garbage bytes are the decoder's to refuse: the check never reads past the end. */
static void test_wire_malformed_is_left_to_the_decoder(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    pz_error err;
    const uint8_t cases[][6] = {
        {0x0a, 0x7f, 'a', 'b', 0, 0},         /* a length past the end */
        {0x0a, 0xff, 0xff, 0xff, 0xff, 0xff}, /* an unterminated varint length */
        {0x0b, 0x00, 0x00, 0x00, 0x00, 0x00}, /* a group */
        {0x09, 0x01, 0x02, 0x03, 0x04, 0x05}, /* fixed64 cut short */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(
            pz_message_check_wire(&personalization__v1__put_events_request__descriptor, cases[i], 6, &a, &err), PZ_OK);
    pz_arena_destroy(&a);
}

static void test_decoded_form(void **state)
{
    (void)state;
    pz_arena a;
    pz_arena_init(&a);
    pz_error err;
    Personalization__V1__PutEventsRequest *m = events(&a, "ok");
    assert_int_equal(pz_message_check_strings(&m->base, &a, &err), PZ_OK);
    m->event_list[1]->item_id = "bad\xed\xa0\x80"; /* an encoded surrogate */
    expect_invalid(pz_message_check_strings(&m->base, &a, &err), &err, "eventList[1].itemId is not valid UTF-8");
    m->event_list[1]->item_id = "ok";
    char *impressions[] = {"i1", "\xc0\xaf"}; /* an overlong '/' */
    m->event_list[0]->impression = impressions;
    m->event_list[0]->n_impression = 2;
    expect_invalid(pz_message_check_strings(&m->base, &a, &err), &err, "eventList[0].impression[1] is not valid UTF-8");
    assert_int_equal(pz_message_check_strings(NULL, &a, &err), PZ_OK);
    pz_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_nul_in_nested_repeated_field),
        cmocka_unit_test(test_wire_invalid_utf8_top_level_and_map),
        cmocka_unit_test(test_wire_malformed_is_left_to_the_decoder),
        cmocka_unit_test(test_decoded_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
