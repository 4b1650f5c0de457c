/* Private to gateway/openapi*.c: the generator's state, the jansson helpers it builds with, and the
 * schemas derived from the protobuf descriptors (openapi_schema.c), the security schemes
 * (openapi_security.c). Not part of the contract. */
#ifndef PZ_OPENAPI_INTERNAL_H
#define PZ_OPENAPI_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <protobuf-c/protobuf-c.h>

#include "server/core/config.h"

/* Longest operationId, tag or path prefix built from config keys (keys are short identifiers). */
#define PZ_OA_NAME_MAX 1024

typedef struct pz_oa_gen {
    json_t *schemas;   /* components.schemas */
    json_t *responses; /* components.responses */
    json_t *headers;   /* components.headers */
    bool failed;       /* an allocation failed: the document is incomplete */
    bool versioned;    /* the configuration has a `version` (echoed in a header) */
} pz_oa_gen;

/* jansson helpers that remember a failure in g instead of checking at every call: each takes
 * val's reference, and returns val (borrowed) or NULL. */
json_t *pz_oa_set(pz_oa_gen *g, json_t *obj, const char *key, json_t *val);
json_t *pz_oa_push(pz_oa_gen *g, json_t *arr, json_t *val);
json_t *pz_oa_str(const char *s); /* NULL is "" */
json_t *pz_oa_obj_with(pz_oa_gen *g, const char *key, json_t *val);
json_t *pz_oa_ref(pz_oa_gen *g, const char *kind, const char *name); /* {"$ref": "#/components/KIND/NAME"} */
json_t *pz_oa_type(pz_oa_gen *g, const char *type);                  /* {"type": TYPE} */

/* Adds the schema of message d to components.schemas (once) and returns a $ref to it. Output
 * schemas describe what the REST writer sends (transcode.h pz_json_field_emit); input schemas what
 * the transcoder reads (unknown fields refused) minus skip_field (bound by the path), with the
 * core's limits. */
json_t *pz_oa_message_ref(pz_oa_gen *g, const ProtobufCMessageDescriptor *d, bool input, const char *skip_field);
/* components.schemas.Error: the {type, code, message} shape. */
void pz_oa_error_schema(pz_oa_gen *g);
/* An open object schema (the server's own JSON answers, for operators, which grow). */
void pz_oa_open_schema(pz_oa_gen *g, const char *name, const char *description);

/* components.securitySchemes (openapi_security.c): `apiKey` (header x-api-key) when the root or a
 * namespace policy accepts API keys, `bearerJwt` (HTTP bearer, JWT) when one accepts tokens; absent
 * when no policy requires credentials. */
void pz_oa_security_schemes(pz_oa_gen *g, const pz_config *cfg, json_t *components);
/* An operation's `security` under policy: one alternative per scheme it accepts when it requires
 * credentials, else [] (no requirement). NULL policy: a public route, []. */
json_t *pz_oa_security(pz_oa_gen *g, const pz_auth_policy *policy);

#endif
