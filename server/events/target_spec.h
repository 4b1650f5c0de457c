/* Event target identity and specification.
 *
 * Every configured event target (spec §3.11 plus ours) is identified by
 *   "<namespace>/<type>"            builtin, experiments (the experiment store's, never configured)
 *   "<namespace>/<type>/<name>"     name = trackingId, streamName, url or path, or for kafka
 *                                   "<topic>@<brokers>"
 * and described by a canonical JSON spec (type, namespace and the target's keys), which the
 * outbox stores with the target's cursor so delivery never needs the configuration that accepted
 * the events. Two configured targets with the same id are the same target (its latest spec wins).
 * Pure; any thread.
 */
#ifndef PZ_TARGET_SPEC_H
#define PZ_TARGET_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "server/core/config.h"

typedef struct pz_target_spec {
    pz_event_target_type type;
    char *ns;
    char *id;
    char *tracking_id;   /* personalize-event-tracker */
    char *stream_name;   /* kinesis-stream, kinesis-firehose */
    char *url;           /* http */
    char **header_names; /* http */
    char **header_values;
    size_t n_headers;
    char *path;                   /* file */
    char *endpoint_url;           /* AWS targets, optional */
    char *region;                 /* AWS targets, optional */
    char *kafka[PZ_KAFKA__COUNT]; /* kafka: brokers, topic, security (server/core/kafka_settings.h) */
} pz_target_spec;

/* The form of a target id that is shown or logged (stats, logs, the CLI): the tracking id of a
 * personalize-event-tracker target masked, the URL of an http target redacted (server/core/
 * redact.h); other ids as they are. The stored id (outbox, registry) stays the full one: it is
 * the target's identity across restarts, on local disk next to the configuration that holds the
 * same secrets. Malloc'ed (caller frees). */
char *pz_target_display_id(const char *id);

/* A spec JSON as shown (the CLI's stats): trackingId masked, URLs redacted, header values
 * hidden. Malloc'ed (caller frees). */
char *pz_target_spec_display_json(const char *spec_json);

/* True when `given` names the target with stored id `id`: the full id or its display form (so an
 * operator can pass back what the stats or the CLI showed). */
bool pz_target_id_matches(const char *id, const char *given);

/* "personalize-event-tracker", "kinesis-stream", ... */
const char *pz_target_type_name(pz_event_target_type t);

/* The id and canonical spec JSON of a configured target of namespace ns (malloc'ed, caller
 * frees both). */
void pz_target_spec_render(const char *ns, const pz_event_target *t, char **id, char **spec_json);

/* Parses a spec JSON into *out (strings owned by *out; pz_target_spec_free). Returns 0, or -1
 * with err when the JSON is not a spec. */
int pz_target_spec_parse(const char *spec_json, pz_target_spec *out, char *err, size_t errlen);
void pz_target_spec_free(pz_target_spec *s);

#endif
