/* The schemas of the OpenAPI document derived from the protobuf-c descriptors (openapi_internal.h),
 * and the jansson helpers the generator builds with. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "gateway/openapi_internal.h"
#include "gateway/transcode.h"
#include "google/protobuf/struct.pb-c.h"
#include "personalization/v1/personalization.pb-c.h"
#include "server/core/event_validation.h"

json_t *pz_oa_set(pz_oa_gen *g, json_t *obj, const char *key, json_t *val)
{
    if (val == NULL || obj == NULL) {
        json_decref(val);
        g->failed = true;
        return NULL;
    }
    if (json_object_set_new(obj, key, val) != 0) /* it took val's reference either way */
        g->failed = true;
    return val;
}

json_t *pz_oa_push(pz_oa_gen *g, json_t *arr, json_t *val)
{
    if (val == NULL || arr == NULL) {
        json_decref(val);
        g->failed = true;
        return NULL;
    }
    if (json_array_append_new(arr, val) != 0)
        g->failed = true;
    return val;
}

json_t *pz_oa_str(const char *s)
{
    return json_string(s != NULL ? s : "");
}

json_t *pz_oa_obj_with(pz_oa_gen *g, const char *key, json_t *val)
{
    json_t *o = json_object();
    pz_oa_set(g, o, key, val);
    return o;
}

json_t *pz_oa_ref(pz_oa_gen *g, const char *kind, const char *name)
{
    char buf[PZ_OA_NAME_MAX];
    snprintf(buf, sizeof buf, "#/components/%s/%s", kind, name);
    return pz_oa_obj_with(g, "$ref", json_string(buf));
}

json_t *pz_oa_type(pz_oa_gen *g, const char *type)
{
    return pz_oa_obj_with(g, "type", json_string(type));
}

/* ---- schemas from the protobuf descriptors ---- */

/* The constraints the core enforces on request messages (server/core/query.h, event_validation.h),
 * per message field; -1 leaves a keyword out. `required`: the core refuses the message without it. */
static const struct {
    const ProtobufCMessageDescriptor *message;
    const char *field;
    long min_len, max_len, max_items;
    bool required;
} FIELD_LIMITS[] = {
    {&personalization__v1__put_events_request__descriptor, "event_list", -1, -1, PZ_EVENTS_MAX_PER_CALL, false},
    {&personalization__v1__put_events_request__descriptor, "session_id", 1, PZ_EVENTS_MAX_ID_LEN, -1, false},
    {&personalization__v1__put_events_request__descriptor, "user_id", 1, PZ_EVENTS_MAX_ID_LEN, -1, false},
    {&personalization__v1__event__descriptor, "event_type", 1, PZ_EVENTS_MAX_ID_LEN, -1, true},
    {&personalization__v1__event__descriptor, "event_id", 1, PZ_EVENTS_MAX_ID_LEN, -1, false},
    {&personalization__v1__event__descriptor, "item_id", 1, PZ_EVENTS_MAX_ID_LEN, -1, false},
    {&personalization__v1__event__descriptor, "impression", -1, -1, PZ_EVENTS_MAX_IMPRESSIONS, false},
    {&personalization__v1__event__descriptor, "properties", -1, PZ_EVENTS_MAX_PROPERTIES_LEN, -1, false},
    {&personalization__v1__experiment_conversion__descriptor, "recommender", 1, -1, -1, true},
};

static void apply_limits(pz_oa_gen *g, const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f,
                         json_t *schema, json_t *required, const char *json_name)
{
    for (size_t i = 0; i < sizeof FIELD_LIMITS / sizeof FIELD_LIMITS[0]; i++) {
        if (FIELD_LIMITS[i].message != d || strcmp(FIELD_LIMITS[i].field, f->name) != 0)
            continue;
        /* A repeated string's length limits apply to its elements. */
        json_t *target = f->label == PROTOBUF_C_LABEL_REPEATED ? json_object_get(schema, "items") : schema;
        if (FIELD_LIMITS[i].min_len >= 0)
            pz_oa_set(g, target, "minLength", json_integer(FIELD_LIMITS[i].min_len));
        if (FIELD_LIMITS[i].max_len >= 0)
            pz_oa_set(g, target, "maxLength", json_integer(FIELD_LIMITS[i].max_len));
        if (FIELD_LIMITS[i].max_items >= 0)
            pz_oa_set(g, schema, "maxItems", json_integer(FIELD_LIMITS[i].max_items));
        if (FIELD_LIMITS[i].required)
            pz_oa_push(g, required, json_string(json_name));
    }
}

/* Response fields a REST body never carries although the writer would write them: gRPC's 304 marker
 * is set only on a match, which REST answers with a bodiless 304 (gateway/http_server.c). */
static const struct {
    const ProtobufCMessageDescriptor *message;
    const char *field;
} GRPC_ONLY[] = {
    {&personalization__v1__recommendation_response__descriptor, "not_modified"},
    {&personalization__v1__rerank_response__descriptor, "not_modified"},
};

static bool grpc_only(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f)
{
    for (size_t i = 0; i < sizeof GRPC_ONLY / sizeof GRPC_ONLY[0]; i++)
        if (GRPC_ONLY[i].message == d && strcmp(GRPC_ONLY[i].field, f->name) == 0)
            return true;
    return false;
}

/* The schema of one value of field f (an element, for a repeated field). */
static json_t *scalar_schema(pz_oa_gen *g, const ProtobufCFieldDescriptor *f, bool input)
{
    json_t *s;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        s = pz_oa_type(g, "integer");
        pz_oa_set(g, s, "format", json_string("int32"));
        return s;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        s = pz_oa_type(g, "integer");
        pz_oa_set(g, s, "minimum", json_integer(0));
        return s;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        /* proto3 JSON writes 64-bit integers as strings (JavaScript numbers lose precision). */
        s = pz_oa_type(g, "string");
        pz_oa_set(g, s, "format", json_string("int64"));
        pz_oa_set(g, s, "pattern", json_string("^-?[0-9]+$"));
        return s;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        s = pz_oa_type(g, "number");
        pz_oa_set(g, s, "format", json_string(f->type == PROTOBUF_C_TYPE_FLOAT ? "float" : "double"));
        return s;
    case PROTOBUF_C_TYPE_BOOL: return pz_oa_type(g, "boolean");
    case PROTOBUF_C_TYPE_STRING: return pz_oa_type(g, "string");
    case PROTOBUF_C_TYPE_BYTES:
        s = pz_oa_type(g, "string");
        pz_oa_set(g, s, "format", json_string("byte"));
        return s;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        s = pz_oa_type(g, "string");
        json_t *names = pz_oa_set(g, s, "enum", json_array());
        for (unsigned i = 0; i < e->n_values; i++)
            pz_oa_push(g, names, json_string(e->values[i].name));
        return s;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *m = f->descriptor;
        if (m == &google__protobuf__struct__descriptor) {
            s = pz_oa_type(g, "object");
            pz_oa_set(g, s, "additionalProperties", json_true());
            return s;
        }
        if (m == &google__protobuf__value__descriptor)
            return json_object(); /* any JSON value */
        if (m == &google__protobuf__list_value__descriptor) {
            s = pz_oa_type(g, "array");
            pz_oa_set(g, s, "items", json_object());
            return s;
        }
        return pz_oa_message_ref(g, m, input, NULL);
    }
    }
    return json_object();
}

static json_t *field_schema(pz_oa_gen *g, const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f,
                            bool input)
{
    if (pz_json_field_is_map(parent, f)) {
        const ProtobufCMessageDescriptor *entry = f->descriptor;
        json_t *s = pz_oa_type(g, "object");
        pz_oa_set(g, s, "additionalProperties", scalar_schema(g, &entry->fields[1], input));
        return s;
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        json_t *s = pz_oa_type(g, "array");
        pz_oa_set(g, s, "items", scalar_schema(g, f, input));
        return s;
    }
    return scalar_schema(g, f, input);
}

/* Adds the schema of message d to components.schemas (once) and returns a $ref to it. Output
 * schemas follow the REST writer's rules; input schemas accept the fields the transcoder reads
 * (unknown ones are an error: additionalProperties false) minus skip_field (bound by the path). */
json_t *pz_oa_message_ref(pz_oa_gen *g, const ProtobufCMessageDescriptor *d, bool input, const char *skip_field)
{
    if (json_object_get(g->schemas, d->short_name) != NULL)
        return pz_oa_ref(g, "schemas", d->short_name);
    json_t *s = pz_oa_type(g, "object");
    pz_oa_set(g, g->schemas, d->short_name, s); /* before the fields: a message may refer to itself */
    json_t *props = pz_oa_set(g, s, "properties", json_object());
    json_t *required = json_array();
    bool open = false;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (skip_field != NULL && strcmp(f->name, skip_field) == 0)
            continue;
        char name[PZ_OA_NAME_MAX];
        pz_json_name(f->name, name, sizeof name);
        if (!input) {
            const char *flag = NULL;
            pz_json_emit rule = pz_json_field_emit(d, f, &flag);
            if (rule == PZ_JSON_EMIT_NEVER || grpc_only(d, f))
                continue;
            if (rule == PZ_JSON_EMIT_INLINE) {
                open = true; /* the Struct's members sit among the named fields */
                continue;
            }
            if (rule == PZ_JSON_EMIT_ALWAYS)
                pz_oa_push(g, required, json_string(name));
        }
        json_t *fs = pz_oa_set(g, props, name, field_schema(g, d, f, input));
        apply_limits(g, d, f, fs, required, name);
    }
    if (json_array_size(required) > 0)
        pz_oa_set(g, s, "required", required);
    else
        json_decref(required);
    pz_oa_set(g, s, "additionalProperties", open ? json_true() : json_false());
    return pz_oa_ref(g, "schemas", d->short_name);
}

void pz_oa_error_schema(pz_oa_gen *g)
{
    json_t *s = pz_oa_type(g, "object");
    pz_oa_set(
        g, s, "description",
        json_string("Every error, in upstream's shape. `code` says what went wrong (each response lists the codes "
                    "it may carry); `message` is for people."));
    json_t *req = pz_oa_set(g, s, "required", json_array());
    json_t *props = pz_oa_set(g, s, "properties", json_object());
    static const char *const fields[][2] = {
        {"type", "The kind of failure: Validation, Routing, Configuration, Upstream, Unhandled, ..."},
        {"code", "A stable code, e.g. ValidationError, NamespaceNotFound"},
        {"message", "What happened, in words"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        json_t *p = pz_oa_set(g, props, fields[i][0], pz_oa_type(g, "string"));
        pz_oa_set(g, p, "description", json_string(fields[i][1]));
        pz_oa_push(g, req, json_string(fields[i][0]));
    }
    pz_oa_set(g, s, "additionalProperties", json_false());
    pz_oa_set(g, g->schemas, "Error", s);
}

void pz_oa_open_schema(pz_oa_gen *g, const char *name, const char *description)
{
    json_t *s = pz_oa_type(g, "object");
    pz_oa_set(g, s, "description", json_string(description));
    pz_oa_set(g, s, "additionalProperties", json_true());
    pz_oa_set(g, g->schemas, name, s);
}
