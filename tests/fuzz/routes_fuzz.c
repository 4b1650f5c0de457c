/* libFuzzer target for REST request parsing (gateway/routes.c): the input is
 *   METHOD '\n' PATH ['?' QUERY] '\n' BODY
 * (missing parts are empty). Route matching (percent-decoding of path segments), against the public
 * rows and then the admin listener's, and request building (query parameters through the
 * transcoder, the body as JSON) run on it; a built request then goes through the core's
 * validation, as the REST front hands it to the core: the string check
 * (server/core/message_check.h) and, for the inference RPCs, the query rules (server/core/query.h).
 * Checked: no crash, leak or UB; every error has a status of INVALID_ARGUMENT and a non-empty valid
 * UTF-8 message; a route's params are all bound. Built and run by tests/fuzz/run.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/routes.h"
#include "server/core/json_text.h"
#include "server/core/message_check.h"
#include "server/core/query.h"

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

static const char *next_line(const char *p, const char *end, size_t *len)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    *len = (size_t)((nl != NULL ? nl : end) - p);
    return nl != NULL ? nl + 1 : end;
}

/* Matches and builds the request against one API's rows (the public listener's or the admin one's). */
static void run_api(pz_api api, const char *method, size_t method_len, const char *target, size_t path_len,
                    const char *query, size_t query_len, const char *body, size_t body_len, pz_arena *arena)
{
    const pz_route *route = NULL;
    pz_route_params params;
    char allow[64];
    pz_route_match_result m =
        pz_route_match(api, method, method_len, target, path_len, arena, &route, &params, allow, sizeof allow);
    if (m == PZ_ROUTE_MATCHED && route->local == PZ_LOCAL_NONE) {
        for (size_t i = 0; i < params.n; i++) {
            if (params.names[i] == NULL || params.values[i] == NULL)
                abort();
        }
        ProtobufCMessage *msg = NULL;
        pz_error err = {0};
        pz_status s = pz_route_build_request(route, &params, query, query_len, body, body_len, arena, &msg, &err);
        check_error(s, &err);
        if (s == PZ_OK) {
            s = pz_message_check_strings(msg, arena, &err);
            check_error(s, &err);
            if (s == PZ_OK && (route->rpc == PZ_RPC_RECOMMEND_ITEMS || route->rpc == PZ_RPC_RELATED_ITEMS ||
                               route->rpc == PZ_RPC_RERANK_ITEMS)) {
                pz_query query_view;
                pz_query_read(&query_view, route->rpc, msg);
                check_error(pz_query_validate(&query_view, arena, &err), &err);
            }
        }
    } else if (m == PZ_ROUTE_WRONG_METHOD && allow[0] == '\0') {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    const char *p = (const char *)bytes, *end = p + size;
    size_t method_len, target_len;
    const char *method = p;
    p = next_line(p, end, &method_len);
    const char *target = p;
    p = next_line(p, end, &target_len);
    const char *body = p;
    size_t body_len = (size_t)(end - p);
    const char *q = memchr(target, '?', target_len);
    size_t path_len = q != NULL ? (size_t)(q - target) : target_len;
    const char *query = q != NULL ? q + 1 : "";
    size_t query_len = q != NULL ? target_len - path_len - 1 : 0;

    pz_arena arena;
    pz_arena_init(&arena);
    run_api(PZ_API_PUBLIC, method, method_len, target, path_len, query, query_len, body, body_len, &arena);
    run_api(PZ_API_ADMIN, method, method_len, target, path_len, query, query_len, body, body_len, &arena);
    pz_arena_destroy(&arena);
    return 0;
}
