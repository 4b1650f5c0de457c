/* The text rule every request string meets, whichever front decoded it (issue 19): each string
 * field of a request message, at any depth (ids, map keys and values, Struct text), is well-formed
 * UTF-8 (server/core/json_text.h) and holds no NUL character. The service applies it to every
 * request before anything else reads the message; a violation is a 400 / INVALID_ARGUMENT naming
 * the field ("eventList[0].itemId"), and nothing is stored or served.
 *
 * Why two entry points: protobuf-c decodes a string into a NUL-terminated C string, so an
 * embedded NUL ("a\0b" on the wire) decodes into a shorter string ("a") and cannot be seen in the
 * decoded message. A front that decodes protobuf bytes (gRPC) hands the core those bytes too
 * (pz_request.wire), and the check reads the strings there with their wire lengths. A front that
 * builds the message from another encoding (REST: JSON, where a NUL cannot reach a C string: the
 * JSON parser refuses \u0000 and percent-decoding refuses %00) has the decoded message checked.
 * Pure; any thread.
 */
#ifndef PZ_MESSAGE_CHECK_H
#define PZ_MESSAGE_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "server/core/mem.h"
#include "server/core/status.h"

/* Messages nested deeper than this (google.protobuf.Struct in Struct ...) are refused; it bounds
 * the check's recursion and is well above what the JSON nesting limit lets REST build. */
#define PZ_MESSAGE_MAX_DEPTH 200

/* Checks the protobuf encoding data[0..len) of a message of type d. Malformed encodings are left
 * to the decoder (this only runs on bytes that decoded). Returns PZ_OK, or PZ_INVALID_ARGUMENT with
 * *err (ValidationError, message in the arena). */
pz_status pz_message_check_wire(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len, pz_arena *arena,
                                pz_error *err);

/* The same rule over a decoded message (NUL cannot be seen there, see above). */
pz_status pz_message_check_strings(const ProtobufCMessage *m, pz_arena *arena, pz_error *err);

#endif
