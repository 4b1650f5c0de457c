/* Private to the target adapters (targets.c, target_aws.c). */
#ifndef PZ_EVENT_TARGETS_INTERNAL_H
#define PZ_EVENT_TARGETS_INTERNAL_H

#include "server/events/file_sink.h"
#include "server/events/target_kafka.h"
#include "server/events/targets.h"
#include "server/upstream/blocking_call.h"

struct pz_target {
    pz_target_spec spec;
    pz_target_env env;
    pz_delivery_limits limits;
    pz_blocking_client *http; /* AWS and http targets */
    pz_file_sink *file;       /* file targets */
    char **header_lines;      /* http targets: "Name: value", NULL-terminated */
    const char *stream;       /* builtin targets: the learner stream */
    pz_kafka_producer *kafka; /* kafka targets */
};

/* Sends to a Personalize event tracker, a Kinesis stream or a Firehose stream. */
void pz_target_send_aws(pz_target *t, pz_delivery_entry *const *batch, size_t n, pz_outcome *out);

#endif
