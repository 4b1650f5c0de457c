/* libFuzzer target for PutEvents input, both encodings: the first byte picks protobuf (even: the
 * rest are the bytes a gRPC client sends) or JSON (odd: a REST body). The message goes through
 * what the core does with it: the string check (server/core/message_check.c; wire bytes for
 * protobuf, the decoded message for JSON), event validation (server/core/event_validation.c)
 * against a namespace with a Personalize tracker, a builtin target and a recommender, then the
 * outbox record (server/events/record.c), which is decoded back. Checked: no crash, leak or UB;
 * errors are INVALID_ARGUMENT with a non-empty valid UTF-8 message; an accepted call has every
 * event id and time filled, times within the accepted window, and a record whose envelope is
 * JSON. Built and run by tests/fuzz/run.sh. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/transcode.h"
#include "server/core/event_validation.h"
#include "server/core/json_text.h"
#include "server/core/message_check.h"
#include "server/core/num.h"
#include "server/events/record.h"

#define NOW_MS 1800000000000LL

static const char CONFIG[] =
    "{\"namespaces\":{\"shop\":{\"recommenders\":{\"recommend-items\":{\"r\":{\"variations\":{\"v\":{\"type\":"
    "\"builtin\"}}}}},\"eventTargets\":[{\"type\":\"builtin\"},{\"type\":\"personalize-event-tracker\","
    "\"trackingId\":\"t\"}]}}}";

static void check_error(pz_status s, const pz_error *err)
{
    if (s == PZ_OK)
        return;
    if (s != PZ_INVALID_ARGUMENT || err->message == NULL || err->message[0] == '\0' ||
        !pz_utf8_valid(err->message, strlen(err->message))) {
        fprintf(stderr, "bad error: status %d message %s\n", (int)s, err->message ? err->message : "(null)");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    static pz_config *cfg;
    if (cfg == NULL && (cfg = pz_config_parse(CONFIG, sizeof CONFIG - 1, NULL)) == NULL)
        abort();
    if (size == 0)
        return 0;
    pz_arena arena;
    pz_arena_init(&arena);
    const ProtobufCMessageDescriptor *d = &personalization__v1__put_events_request__descriptor;
    Personalization__V1__PutEventsRequest *in = NULL;
    pz_error err = {0};
    pz_status s;
    if (bytes[0] % 2 == 0) {
        in = (void *)protobuf_c_message_unpack(d, &arena.pb, size - 1, bytes + 1);
        s = in != NULL ? pz_message_check_wire(d, bytes + 1, size - 1, &arena, &err) : PZ_INVALID_ARGUMENT;
    } else {
        ProtobufCMessage *m = NULL;
        pz_transcode_error terr;
        s = pz_json_to_message(d, (const char *)bytes + 1, size - 1, &arena, &m, &terr);
        in = (void *)m;
        if (s == PZ_OK)
            s = pz_message_check_strings(m, &arena, &err);
        else
            s = PZ_INVALID_ARGUMENT, err.message = "json";
    }
    if (s == PZ_OK && in != NULL) {
        pz_conversion *conv = NULL;
        s = pz_events_validate(in, pz_config_namespace(cfg, "shop"), NOW_MS, &arena, &conv, &err);
        check_error(s, &err);
    }
    if (s == PZ_OK && in != NULL) {
        for (size_t i = 0; i < in->n_event_list; i++) {
            const Personalization__V1__Event *e = in->event_list[i];
            if (e->event_id == NULL || !e->has_sent_at || e->sent_at > NOW_MS / 1000.0 + PZ_EVENTS_MAX_CLOCK_SKEW_S ||
                pz_event_time_ms(e->sent_at, NOW_MS) > NOW_MS)
                abort();
        }
        uint8_t *rec;
        size_t len;
        char why[256];
        if (pz_evrec_render(in, "shop", NULL, 0, 2, "0123456789abcdef0123456789abcdef", &arena, &rec, &len, why,
                            sizeof why) == 0) {
            pz_evrec_view v;
            if (pz_evrec_decode(rec, len, &v) != 0 || v.n_targets != 2 || v.n_events != in->n_event_list)
                abort();
            json_t *env = json_loadb(v.json, v.json_len, 0, NULL);
            if (env == NULL)
                abort();
            json_decref(env);
        }
    }
    pz_arena_destroy(&arena);
    return 0;
}
