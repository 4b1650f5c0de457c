/* Dead letters for people (module prefix pz_dead_letters): each one as a JSON object, and their
 * replay by target id, shared by the `events` CLI (server/events/cli.h, its own outbox handle) and
 * the admin API (through the events runtime, the server's handle).
 *
 * A dead letter's JSON: {"target", "number", "seq", "attempts", "deadLetteredAt", "reason",
 * "record": <the upstream envelope>}, the target in its display form and the reason with URLs
 * redacted (server/events/target_spec.h, server/core/redact.h). A target is named by its stored id
 * or its display form (pz_target_id_matches). Any thread; reads are one outbox snapshot each, a replay one
 * write transaction. */
#ifndef PZ_DEAD_LETTERS_H
#define PZ_DEAD_LETTERS_H

#include <stdint.h>

#include "server/core/buf.h"
#include "server/events/outbox.h"

/* A dead letter rendered bigger than this is cut (its record is at most PZ_EVREC_MAX_BYTES). */
#define PZ_DEAD_LETTER_JSON_MAX (4u << 20)

/* Calls fn with each dead letter's JSON (in key order: by target number, then seq), those of
 * target `target` only when it is not NULL, at most `limit` of them (< 0: all), until fn returns
 * non-zero. Returns how many were passed to fn, or -1 with err. */
typedef int (*pz_dead_letter_fn)(void *ctx, const char *json, size_t len);
long pz_dead_letters_each(pz_outbox *ob, const char *target, long limit, pz_dead_letter_fn fn, void *ctx, char *err,
                          size_t errlen);

/* Queues dead letters for redelivery: every target's (target NULL), or target's (seq 0: all of
 * them; else that record's only). Returns how many, -1 with err on a storage failure, or -2 with
 * err when no target has that id. */
long pz_dead_letters_replay(pz_outbox *ob, const char *target, uint64_t seq, char *err, size_t errlen);

#endif
