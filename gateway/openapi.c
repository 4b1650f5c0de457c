#include "gateway/openapi.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/transcode.h"
#include "google/protobuf/struct.pb-c.h"
#include "personalization/v1/personalization.pb-c.h"
#include "server/core/event_validation.h"
#include "server/core/query.h"
#include "server/core/response_cache.h"

/* info defaults, as upstream's generator (spec §10). */
#define DEFAULT_TITLE "Personalization APIs"
#define DEFAULT_DESCRIPTION                                                                                            \
    "Real-time recommendations, related items, reranking and events for the namespaces and recommenders of the "       \
    "current configuration."
/* info.version is required; a document without a `version` gets this. */
#define UNVERSIONED "unversioned"
#define SERVER_TAG "Server"
/* The example path values: any user or item id is accepted (an unknown one gets popular or empty
 * results, never an error), so the examples work against any configuration. */
#define EXAMPLE_USER_ID "user-0001"
#define EXAMPLE_ITEM_ID "sku-00248"
#define EXAMPLE_ITEM_IDS "sku-00632,sku-00248,sku-00165"
/* Longest operationId, tag or path prefix we build from config keys (keys are short identifiers). */
#define NAME_MAX_LEN 1024
/* A path: a prefix and the templated tail. */
#define PATH_MAX_LEN (2 * NAME_MAX_LEN)

typedef struct gen {
    json_t *schemas; /* components.schemas */
    bool failed;     /* an allocation failed: the document is incomplete */
    bool versioned;  /* the configuration has a `version` (echoed in a header) */
} gen;

/* ---- jansson helpers that remember a failure instead of checking at every call ---- */

static json_t *set(gen *g, json_t *obj, const char *key, json_t *val)
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

static json_t *push(gen *g, json_t *arr, json_t *val)
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

static json_t *str(const char *s)
{
    return json_string(s != NULL ? s : "");
}

static json_t *obj_with(gen *g, const char *key, json_t *val)
{
    json_t *o = json_object();
    set(g, o, key, val);
    return o;
}

static json_t *ref(gen *g, const char *kind, const char *name)
{
    char buf[NAME_MAX_LEN];
    snprintf(buf, sizeof buf, "#/components/%s/%s", kind, name);
    return obj_with(g, "$ref", json_string(buf));
}

static json_t *type_schema(gen *g, const char *type)
{
    return obj_with(g, "type", json_string(type));
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

static void apply_limits(gen *g, const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f, json_t *schema,
                         json_t *required, const char *json_name)
{
    for (size_t i = 0; i < sizeof FIELD_LIMITS / sizeof FIELD_LIMITS[0]; i++) {
        if (FIELD_LIMITS[i].message != d || strcmp(FIELD_LIMITS[i].field, f->name) != 0)
            continue;
        /* A repeated string's length limits apply to its elements. */
        json_t *target = f->label == PROTOBUF_C_LABEL_REPEATED ? json_object_get(schema, "items") : schema;
        if (FIELD_LIMITS[i].min_len >= 0)
            set(g, target, "minLength", json_integer(FIELD_LIMITS[i].min_len));
        if (FIELD_LIMITS[i].max_len >= 0)
            set(g, target, "maxLength", json_integer(FIELD_LIMITS[i].max_len));
        if (FIELD_LIMITS[i].max_items >= 0)
            set(g, schema, "maxItems", json_integer(FIELD_LIMITS[i].max_items));
        if (FIELD_LIMITS[i].required)
            push(g, required, json_string(json_name));
    }
}

static json_t *message_schema_ref(gen *g, const ProtobufCMessageDescriptor *d, bool input, const char *skip_field);

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
static json_t *scalar_schema(gen *g, const ProtobufCFieldDescriptor *f, bool input)
{
    json_t *s;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        s = type_schema(g, "integer");
        set(g, s, "format", json_string("int32"));
        return s;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        s = type_schema(g, "integer");
        set(g, s, "minimum", json_integer(0));
        return s;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        /* proto3 JSON writes 64-bit integers as strings (JavaScript numbers lose precision). */
        s = type_schema(g, "string");
        set(g, s, "format", json_string("int64"));
        set(g, s, "pattern", json_string("^-?[0-9]+$"));
        return s;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        s = type_schema(g, "number");
        set(g, s, "format", json_string(f->type == PROTOBUF_C_TYPE_FLOAT ? "float" : "double"));
        return s;
    case PROTOBUF_C_TYPE_BOOL: return type_schema(g, "boolean");
    case PROTOBUF_C_TYPE_STRING: return type_schema(g, "string");
    case PROTOBUF_C_TYPE_BYTES:
        s = type_schema(g, "string");
        set(g, s, "format", json_string("byte"));
        return s;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        s = type_schema(g, "string");
        json_t *names = set(g, s, "enum", json_array());
        for (unsigned i = 0; i < e->n_values; i++)
            push(g, names, json_string(e->values[i].name));
        return s;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *m = f->descriptor;
        if (m == &google__protobuf__struct__descriptor) {
            s = type_schema(g, "object");
            set(g, s, "additionalProperties", json_true());
            return s;
        }
        if (m == &google__protobuf__value__descriptor)
            return json_object(); /* any JSON value */
        if (m == &google__protobuf__list_value__descriptor) {
            s = type_schema(g, "array");
            set(g, s, "items", json_object());
            return s;
        }
        return message_schema_ref(g, m, input, NULL);
    }
    }
    return json_object();
}

static json_t *field_schema(gen *g, const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f,
                            bool input)
{
    if (pz_json_field_is_map(parent, f)) {
        const ProtobufCMessageDescriptor *entry = f->descriptor;
        json_t *s = type_schema(g, "object");
        set(g, s, "additionalProperties", scalar_schema(g, &entry->fields[1], input));
        return s;
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        json_t *s = type_schema(g, "array");
        set(g, s, "items", scalar_schema(g, f, input));
        return s;
    }
    return scalar_schema(g, f, input);
}

/* Adds the schema of message d to components.schemas (once) and returns a $ref to it. Output
 * schemas follow the REST writer's rules; input schemas accept the fields the transcoder reads
 * (unknown ones are an error: additionalProperties false) minus skip_field (bound by the path). */
static json_t *message_schema_ref(gen *g, const ProtobufCMessageDescriptor *d, bool input, const char *skip_field)
{
    if (json_object_get(g->schemas, d->short_name) != NULL)
        return ref(g, "schemas", d->short_name);
    json_t *s = type_schema(g, "object");
    set(g, g->schemas, d->short_name, s); /* before the fields: a message may refer to itself */
    json_t *props = set(g, s, "properties", json_object());
    json_t *required = json_array();
    bool open = false;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (skip_field != NULL && strcmp(f->name, skip_field) == 0)
            continue;
        char name[NAME_MAX_LEN];
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
                push(g, required, json_string(name));
        }
        json_t *fs = set(g, props, name, field_schema(g, d, f, input));
        apply_limits(g, d, f, fs, required, name);
    }
    if (json_array_size(required) > 0)
        set(g, s, "required", required);
    else
        json_decref(required);
    set(g, s, "additionalProperties", open ? json_true() : json_false());
    return ref(g, "schemas", d->short_name);
}

static void error_schema(gen *g)
{
    json_t *s = type_schema(g, "object");
    set(g, s, "description",
        json_string("Every error, in upstream's shape. `code` says what went wrong (each response lists the codes "
                    "it may carry); `message` is for people."));
    json_t *req = set(g, s, "required", json_array());
    json_t *props = set(g, s, "properties", json_object());
    static const char *const fields[][2] = {
        {"type", "The kind of failure: Validation, Routing, Configuration, Upstream, Unhandled, ..."},
        {"code", "A stable code, e.g. ValidationError, NamespaceNotFound"},
        {"message", "What happened, in words"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        json_t *p = set(g, props, fields[i][0], type_schema(g, "string"));
        set(g, p, "description", json_string(fields[i][1]));
        push(g, req, json_string(fields[i][0]));
    }
    set(g, s, "additionalProperties", json_false());
    set(g, g->schemas, "Error", s);
}

/* The server's own JSON answers are documented as open objects: they are for operators and grow. */
static void open_object_schema(gen *g, const char *name, const char *description)
{
    json_t *s = type_schema(g, "object");
    set(g, s, "description", json_string(description));
    set(g, s, "additionalProperties", json_true());
    set(g, g->schemas, name, s);
}

/* ---- responses, headers, parameters ---- */

/* Codes per HTTP status for each kind of route: what the core and the front return (the status
 * mapping is server/core/status.c). */
typedef struct error_row {
    int status;
    const char *codes;
} error_row;

static const error_row INFERENCE_ERRORS[] = {
    {400, "ValidationError, InvalidContextParameter, InvalidFilterParameter"},
    {404, "NamespaceNotFound, RecommenderNotConfigured"},
    {429, "UpstreamQueueFull, ThrottlingException"},
    {500, "InternalError"},
    {502, "UpstreamError, InvalidUpstreamResponse, UpstreamResponseTooLarge, FunctionInvokeError, RecommenderFailed"},
    {503, "UpstreamUnavailable, CircuitOpen, ShuttingDown"},
    {504, "UpstreamTimeout, DeadlineExceeded"},
    {0, NULL},
};
static const error_row RERANK_POST_ERRORS[] = {
    {400, "ValidationError, InvalidRequestPayload, InvalidJSONRequestPayload, InvalidContextParameter, "
          "InvalidFilterParameter"},
    {404, "NamespaceNotFound, RecommenderNotConfigured"},
    {415, "UnsupportedMediaType (a browser POST without Content-Type: application/json)"},
    {429, "UpstreamQueueFull, ThrottlingException"},
    {500, "InternalError"},
    {502, "UpstreamError, InvalidUpstreamResponse, UpstreamResponseTooLarge, FunctionInvokeError, RecommenderFailed"},
    {503, "UpstreamUnavailable, CircuitOpen, ShuttingDown"},
    {504, "UpstreamTimeout, DeadlineExceeded"},
    {0, NULL},
};
static const error_row EVENTS_ERRORS[] = {
    {400, "ValidationError, InvalidJSONRequestPayload, UserIdRequired, InvalidExperimentConversions"},
    {404, "NamespaceNotFound, NamespaceEventTargetsNotFound"},
    {415, "UnsupportedMediaType (a browser POST without Content-Type: application/json)"},
    {500, "InternalError"},
    {503, "EventStoreUnavailable (the outbox is full), ShuttingDown"},
    {0, NULL},
};
static const error_row EXPERIMENT_ERRORS[] = {
    {404, "NamespaceNotFound, ExperimentNotFound"},
    {500, "InternalError"},
    {503, "ExperimentStoreUnavailable"},
    {0, NULL},
};

static const char *reason_of(int status)
{
    static const struct {
        int status;
        const char *reason;
    } REASONS[] = {
        {400, "Bad Request"},
        {404, "Not Found"},
        {415, "Unsupported Media Type"},
        {429, "Too Many Requests"},
        {500, "Internal Server Error"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
    };
    for (size_t i = 0; i < sizeof REASONS / sizeof REASONS[0]; i++)
        if (REASONS[i].status == status)
            return REASONS[i].reason;
    return "Error";
}

static void add_errors(gen *g, json_t *responses, const error_row *rows)
{
    for (const error_row *r = rows; r->status != 0; r++) {
        char key[8], desc[NAME_MAX_LEN];
        snprintf(key, sizeof key, "%d", r->status);
        snprintf(desc, sizeof desc, "%s. Codes: %s.", reason_of(r->status), r->codes);
        json_t *resp = set(g, responses, key, obj_with(g, "description", json_string(desc)));
        json_t *content = set(g, resp, "content", json_object());
        set(g, content, "application/json", obj_with(g, "schema", ref(g, "schemas", "Error")));
    }
}

/* Which responses carry a header. */
enum { ON_GET = 1, ON_304 = 2, ON_POST = 4 };
/* When a header is sure to be there (OpenAPI `required`). */
typedef enum when {
    SOMETIMES,    /* not required */
    ALWAYS,       /* on every response it is listed for */
    IF_CACHEABLE, /* when every request of the route has a cache policy with maxAge > 0 */
    IF_VERSIONED, /* when the configuration has a `version` */
} when;

/* Response headers: what the REST front sends (gateway/http_server.c) on a GET 200, a 304 and a
 * POST 200, from the hints the core sets (server/core/inference.c, response_cache.h). */
static const struct {
    const char *name;
    unsigned on;
    when required;
    const char *description;
} HEADERS[] = {
    {"ETag", ON_GET | ON_304, IF_CACHEABLE,
     "Strong validator derived from the response content, on responses with a cache policy (maxAge > 0); send "
     "it back in If-None-Match to get a 304"},
    {"Cache-Control", ON_GET | ON_304 | ON_POST, IF_CACHEABLE,
     "From the recommender's cacheControl policy for the request's class (user, synthetic user, no user); "
     "no-store for POST"},
    {"Vary", ON_GET | ON_POST, SOMETIMES,
     "Accept-Encoding when the body is compressed; the headers automatic context reads"},
    {"X-Personalization-Config-Version", ON_GET | ON_304 | ON_POST, IF_VERSIONED,
     "The `version` of the configuration that answered"},
    {"X-Personalization-Variation", ON_GET | ON_POST, ALWAYS, "The variation that answered"},
    {"X-Personalization-Experiment", ON_GET | ON_POST, SOMETIMES,
     "The experiment that chose the variation, when one did"},
    {"X-Personalization-Fallback", ON_GET | ON_POST, SOMETIMES,
     "The variation that failed, when its fallback answered"},
};

/* Whether every GET of r answers with ETag and Cache-Control: each variation's cache class has a
 * policy with maxAge > 0 (pz_cache_class) for every class the route can reach. Recommend and rerank
 * requests always name a user (userSpecified, or syntheticUserSpecified with syntheticUser); a
 * related-items request may not (noUserSpecified too). */
static bool always_validated(const pz_recommender *r, pz_action a)
{
    for (size_t i = 0; i < r->n_variations; i++) {
        const pz_cache_control *cc = r->variations[i].cache_control_view;
        if (cc == NULL || !pz_cache_class_cacheable(&cc->user_specified) ||
            !pz_cache_class_cacheable(&cc->synthetic_user_specified) ||
            (a == PZ_ACTION_RELATED_ITEMS && !pz_cache_class_cacheable(&cc->no_user_specified)))
            return false;
    }
    return r->n_variations > 0;
}

/* The headers of one response. cacheable, versioned: what IF_CACHEABLE and IF_VERSIONED hold to. */
static json_t *response_headers(gen *g, unsigned on, bool cacheable, bool versioned)
{
    json_t *hs = json_object();
    for (size_t i = 0; i < sizeof HEADERS / sizeof HEADERS[0]; i++) {
        if (!(HEADERS[i].on & on))
            continue;
        json_t *h = set(g, hs, HEADERS[i].name, obj_with(g, "description", json_string(HEADERS[i].description)));
        bool required = HEADERS[i].required == ALWAYS || (HEADERS[i].required == IF_CACHEABLE && cacheable) ||
                        (HEADERS[i].required == IF_VERSIONED && versioned);
        /* a 304 is only ever sent with the ETag it matched */
        if (on == ON_304 && strcmp(HEADERS[i].name, "ETag") == 0)
            required = true;
        /* POST answers are never cached: Cache-Control is always no-store there */
        if (on == ON_POST && strcmp(HEADERS[i].name, "Cache-Control") == 0)
            required = true;
        if (required)
            set(g, h, "required", json_true());
        set(g, h, "schema", type_schema(g, "string"));
    }
    return hs;
}

static json_t *json_response(gen *g, const char *description, json_t *schema_ref, json_t *headers)
{
    json_t *r = obj_with(g, "description", json_string(description));
    if (headers != NULL)
        set(g, r, "headers", headers);
    json_t *content = set(g, r, "content", json_object());
    set(g, content, "application/json", obj_with(g, "schema", schema_ref));
    return r;
}

/* A field's declared default in RecommendItemsRequest (the transcoder starts every request message
 * from these). */
static const void *proto_default(const char *field)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
        &personalization__v1__recommend_items_request__descriptor, field);
    return f != NULL ? f->default_value : NULL;
}

static long proto_default_int(const char *field)
{
    const int32_t *v = proto_default(field);
    return v != NULL ? *v : 0;
}

static bool proto_default_bool(const char *field)
{
    const protobuf_c_boolean *v = proto_default(field);
    return v != NULL && *v;
}

/* Query parameters (components.parameters), with the core's limits and the proto's defaults. */
static void parameter_components(gen *g, json_t *params)
{
    char desc[NAME_MAX_LEN];
    json_t *p, *s;

    p = set(g, params, "numResults", json_object());
    set(g, p, "name", str("numResults"));
    set(g, p, "in", str("query"));
    snprintf(desc, sizeof desc, "How many items to return. Above %d it is clamped to %d; 0 answers an empty list.",
             PZ_MAX_NUM_RESULTS, PZ_MAX_NUM_RESULTS);
    set(g, p, "description", str(desc));
    s = set(g, p, "schema", type_schema(g, "integer"));
    set(g, s, "minimum", json_integer(0));
    set(g, s, "default", json_integer(proto_default_int("num_results")));

    p = set(g, params, "filter", json_object());
    set(g, p, "name", str("filter"));
    set(g, p, "in", str("query"));
    set(g, p, "description", str("A filter name or ARN the recommender knows. Sent empty, it is absent."));
    set(g, p, "schema", type_schema(g, "string"));

    static const struct {
        const char *name;
        int key_max;
        const char *what;
    } MAPS[] = {
        {"filterValues", PZ_MAX_FILTER_VALUE_KEY_LEN, "Values for the filter's placeholders"},
        {"context", PZ_MAX_CONTEXT_KEY_LEN, "Contextual metadata (e.g. {\"DEVICE\":\"Phone\"})"},
    };
    for (size_t i = 0; i < sizeof MAPS / sizeof MAPS[0]; i++) {
        p = set(g, params, MAPS[i].name, json_object());
        set(g, p, "name", str(MAPS[i].name));
        set(g, p, "in", str("query"));
        snprintf(desc, sizeof desc,
                 "%s, as a JSON object of strings: keys up to %d characters, values up to %d. Sent empty, it is "
                 "absent.",
                 MAPS[i].what, MAPS[i].key_max, PZ_MAX_MAP_VALUE_LEN);
        set(g, p, "description", str(desc));
        json_t *content = set(g, p, "content", json_object());
        json_t *media = set(g, content, "application/json", json_object());
        s = set(g, media, "schema", type_schema(g, "object"));
        json_t *v = set(g, s, "additionalProperties", type_schema(g, "string"));
        set(g, v, "maxLength", json_integer(PZ_MAX_MAP_VALUE_LEN));
        /* what "Try it out" sends unless edited: nothing (Swagger UI would make up keys) */
        set(g, media, "example", json_object());
    }

    static const struct {
        const char *name, *field;
        const char *description;
    } BOOLS[] = {
        {"decorateItems", "decorate_items",
         "Add item metadata to each item (1, yes and true are true; anything else false)"},
        {"syntheticUser", "synthetic_user",
         "The user id is synthetic: the syntheticUserSpecified cache policy applies"},
    };
    for (size_t i = 0; i < sizeof BOOLS / sizeof BOOLS[0]; i++) {
        p = set(g, params, BOOLS[i].name, json_object());
        set(g, p, "name", str(BOOLS[i].name));
        set(g, p, "in", str("query"));
        set(g, p, "description", str(BOOLS[i].description));
        s = set(g, p, "schema", type_schema(g, "boolean"));
        set(g, s, "default", json_boolean(proto_default_bool(BOOLS[i].field)));
    }

    p = set(g, params, "feature", json_object());
    set(g, p, "name", str("feature"));
    set(g, p, "in", str("query"));
    set(g, p, "description", str("The experiment feature to evaluate, when the recommender has several"));
    set(g, p, "schema", type_schema(g, "string"));

    p = set(g, params, "userId", json_object());
    set(g, p, "name", str("userId"));
    set(g, p, "in", str("query"));
    set(g, p, "description", str("The user, to personalize the cache policy and exclusions"));
    s = set(g, p, "schema", type_schema(g, "string"));
    set(g, s, "maxLength", json_integer(PZ_MAX_ID_LEN));
}

static json_t *id_path_param(gen *g, const char *name, const char *description, const char *example)
{
    json_t *p = json_object();
    set(g, p, "name", str(name));
    set(g, p, "in", str("path"));
    set(g, p, "required", json_true());
    set(g, p, "description", str(description));
    json_t *s = set(g, p, "schema", type_schema(g, "string"));
    set(g, s, "minLength", json_integer(1));
    set(g, s, "maxLength", json_integer(PZ_MAX_ID_LEN));
    set(g, p, "example", str(example));
    return p;
}

static json_t *item_ids_path_param(gen *g)
{
    json_t *p = json_object();
    set(g, p, "name", str("item_ids"));
    set(g, p, "in", str("path"));
    set(g, p, "required", json_true());
    char desc[NAME_MAX_LEN];
    snprintf(desc, sizeof desc, "The items to rank, comma-separated: 1 to %d ids of 1 to %d characters",
             PZ_MAX_RERANK_ITEMS, PZ_MAX_ID_LEN);
    set(g, p, "description", str(desc));
    set(g, p, "style", str("simple"));
    set(g, p, "explode", json_false());
    json_t *s = set(g, p, "schema", type_schema(g, "array"));
    set(g, s, "minItems", json_integer(1));
    set(g, s, "maxItems", json_integer(PZ_MAX_RERANK_ITEMS));
    json_t *items = set(g, s, "items", type_schema(g, "string"));
    set(g, items, "minLength", json_integer(1));
    set(g, items, "maxLength", json_integer(PZ_MAX_ID_LEN));
    json_t *ex = set(g, p, "example", json_array());
    /* the example as an array: the elements of EXAMPLE_ITEM_IDS */
    char ids[] = EXAMPLE_ITEM_IDS;
    for (char *save = NULL, *t = strtok_r(ids, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save))
        push(g, ex, json_string(t));
    return p;
}

static void add_param_refs(gen *g, json_t *params, const char *const *names)
{
    for (; *names != NULL; names++)
        push(g, params, ref(g, "parameters", *names));
}

/* ---- operations ---- */

static const char *const RECOMMEND_PARAMS[] = {"numResults",    "filter",        "filterValues", "context",
                                               "decorateItems", "syntheticUser", "feature",      NULL};
static const char *const RELATED_PARAMS[] = {
    "userId", "numResults", "filter", "filterValues", "context", "decorateItems", "syntheticUser", "feature", NULL};
static const char *const RERANK_PARAMS[] = {"filter",        "filterValues", "context", "decorateItems",
                                            "syntheticUser", "feature",      NULL};

static const char *const ACTION_TITLES[PZ_ACTION__COUNT] = {
    [PZ_ACTION_RECOMMEND_ITEMS] = "Recommend Items",
    [PZ_ACTION_RELATED_ITEMS] = "Related Items",
    [PZ_ACTION_RERANK_ITEMS] = "Rerank Items",
};

/* operationId: a prefix and the keys, with anything but letters and digits as '_'. */
static json_t *operation_id(const char *prefix, const char *ns, const char *rec)
{
    char buf[NAME_MAX_LEN];
    snprintf(buf, sizeof buf, "%s_%s_%s", prefix, ns, rec != NULL ? rec : "");
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '_')
        buf[--n] = '\0';
    for (char *p = buf; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    return json_string(buf);
}

static void ns_tag(const pz_namespace *ns, const char *what, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s: %s", ns->name != NULL ? ns->name : ns->key, what);
}

/* A path segment from a config key: keys are literal in the paths, so '/', '{' and '}' (which
 * would change the template) are percent-encoded, as a client must send them. */
static void append_segment(char *out, size_t outlen, const char *key)
{
    size_t n = strlen(out);
    for (const char *p = key; *p != '\0' && n + 4 < outlen; p++) {
        if (*p == '/' || *p == '{' || *p == '}' || *p == '%' || *p == '?' || *p == '#' || *p == ' ')
            n += (size_t)snprintf(out + n, outlen - n, "%%%02X", (unsigned char)*p);
        else
            out[n++] = *p;
    }
    out[n] = '\0';
}

static void append_lit(char *out, size_t outlen, const char *s)
{
    size_t n = strlen(out);
    snprintf(out + n, outlen - n, "%s", s);
}

static json_t *operation(gen *g, const char *tag, json_t *op_id, const char *summary, const char *description)
{
    json_t *op = json_object();
    json_t *tags = set(g, op, "tags", json_array());
    push(g, tags, json_string(tag));
    set(g, op, "operationId", op_id);
    set(g, op, "summary", str(summary));
    if (description != NULL)
        set(g, op, "description", str(description));
    return op;
}

static json_t *path_item(gen *g, json_t *paths, const char *path)
{
    json_t *item = json_object_get(paths, path);
    return item != NULL ? item : set(g, paths, path, json_object());
}

static void recommender_paths(gen *g, json_t *paths, const pz_namespace *ns, pz_action action, const pz_recommender *r,
                              const char *tag)
{
    char path[NAME_MAX_LEN] = "/";
    append_lit(path, sizeof path, pz_action_name(action));
    append_lit(path, sizeof path, "/");
    append_segment(path, sizeof path, ns->key);
    append_lit(path, sizeof path, "/");
    append_segment(path, sizeof path, r->key);
    char summary[NAME_MAX_LEN];
    snprintf(summary, sizeof summary, "%s: %s", ACTION_TITLES[action], r->name != NULL ? r->name : r->key);
    const char *desc = r->description;

    char full[PATH_MAX_LEN];
    json_t *op, *params, *responses;
    static const char *const OP_PREFIX[PZ_ACTION__COUNT] = {"recommendItems", "relatedItems", "rerankItems"};
    const ProtobufCMessageDescriptor *out_msg = action == PZ_ACTION_RERANK_ITEMS
                                                    ? &personalization__v1__rerank_response__descriptor
                                                    : &personalization__v1__recommendation_response__descriptor;
    snprintf(full, sizeof full, "%s%s", path,
             action == PZ_ACTION_RELATED_ITEMS  ? "/{item_id}"
             : action == PZ_ACTION_RERANK_ITEMS ? "/{user_id}/{item_ids}"
                                                : "/{user_id}");
    op = set(g, path_item(g, paths, full), "get",
             operation(g, tag, operation_id(OP_PREFIX[action], ns->key, r->key), summary, desc));
    params = set(g, op, "parameters", json_array());
    if (action == PZ_ACTION_RELATED_ITEMS) {
        push(g, params, id_path_param(g, "item_id", "The item to find related items for", EXAMPLE_ITEM_ID));
        add_param_refs(g, params, RELATED_PARAMS);
    } else if (action == PZ_ACTION_RERANK_ITEMS) {
        push(g, params, id_path_param(g, "user_id", "The user", EXAMPLE_USER_ID));
        push(g, params, item_ids_path_param(g));
        add_param_refs(g, params, RERANK_PARAMS);
    } else {
        push(g, params, id_path_param(g, "user_id", "The user", EXAMPLE_USER_ID));
        add_param_refs(g, params, RECOMMEND_PARAMS);
    }
    responses = set(g, op, "responses", json_object());
    bool cacheable = always_validated(r, action);
    set(g, responses, "200",
        json_response(g, "The items", message_schema_ref(g, out_msg, false, NULL),
                      response_headers(g, ON_GET, cacheable, g->versioned)));
    json_t *not_modified =
        set(g, responses, "304", obj_with(g, "description", str("Not Modified: If-None-Match matched the ETag")));
    set(g, not_modified, "headers", response_headers(g, ON_304, cacheable, g->versioned));
    add_errors(g, responses, INFERENCE_ERRORS);

    if (action != PZ_ACTION_RERANK_ITEMS)
        return;
    /* POST rerank: the ids in a JSON array body, never cached. */
    snprintf(full, sizeof full, "%s/{user_id}", path);
    op = set(g, path_item(g, paths, full), "post",
             operation(g, tag, operation_id("rerankItemsPost", ns->key, r->key), summary, desc));
    params = set(g, op, "parameters", json_array());
    push(g, params, id_path_param(g, "user_id", "The user", EXAMPLE_USER_ID));
    add_param_refs(g, params, RERANK_PARAMS);
    json_t *body = set(g, op, "requestBody", json_object());
    set(g, body, "required", json_true());
    set(g, body, "description", str("The items to rank"));
    json_t *s = type_schema(g, "array");
    set(g, s, "minItems", json_integer(1));
    set(g, s, "maxItems", json_integer(PZ_MAX_RERANK_ITEMS));
    json_t *items = set(g, s, "items", type_schema(g, "string"));
    set(g, items, "minLength", json_integer(1));
    set(g, items, "maxLength", json_integer(PZ_MAX_ID_LEN));
    json_t *media = set(g, set(g, body, "content", json_object()), "application/json", obj_with(g, "schema", s));
    json_t *ex = set(g, media, "example", json_array());
    char ids[] = EXAMPLE_ITEM_IDS;
    for (char *save = NULL, *t = strtok_r(ids, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save))
        push(g, ex, json_string(t));
    responses = set(g, op, "responses", json_object());
    set(g, responses, "200",
        json_response(g, "The items, ranked", message_schema_ref(g, out_msg, false, NULL),
                      response_headers(g, ON_POST, false, g->versioned)));
    add_errors(g, responses, RERANK_POST_ERRORS);
}

static bool has_experiments(const pz_namespace *ns)
{
    for (int a = 0; a < PZ_ACTION__COUNT; a++)
        for (size_t i = 0; i < ns->n_recommenders[a]; i++)
            if (ns->recommenders[a][i].n_experiments > 0)
                return true;
    return false;
}

static void events_path(gen *g, json_t *paths, const pz_namespace *ns, const char *tag)
{
    char path[NAME_MAX_LEN] = "/events/";
    append_segment(path, sizeof path, ns->key);
    json_t *op = set(g, path_item(g, paths, path), "post",
                     operation(g, tag, operation_id("putEvents", ns->key, NULL), "Send events",
                               "Interactions (Personalize PutEvents shape) and experiment conversions. Stored "
                               "durably before the 200, then delivered to the namespace's event targets."));
    json_t *body = set(g, op, "requestBody", json_object());
    set(g, body, "required", json_true());
    json_t *media =
        set(g, set(g, body, "content", json_object()), "application/json",
            obj_with(g, "schema",
                     message_schema_ref(g, &personalization__v1__put_events_request__descriptor, true, "namespace")));
    json_t *ex = set(g, media, "example", json_object());
    set(g, ex, "sessionId", str("s-1"));
    set(g, ex, "userId", str(EXAMPLE_USER_ID));
    json_t *list = set(g, ex, "eventList", json_array());
    json_t *ev = push(g, list, json_object());
    set(g, ev, "eventType", str("click"));
    set(g, ev, "itemId", str(EXAMPLE_ITEM_ID));
    json_t *responses = set(g, op, "responses", json_object());
    json_t *ok = set(g, responses, "200", obj_with(g, "description", str("Stored (the body is empty)")));
    json_t *content = set(g, ok, "content", json_object());
    json_t *plain = set(g, content, "text/plain", json_object());
    json_t *s = set(g, plain, "schema", type_schema(g, "string"));
    set(g, s, "maxLength", json_integer(0));
    add_errors(g, responses, EVENTS_ERRORS);
}

static void experiment_paths(gen *g, json_t *paths, const pz_namespace *ns, const char *tag)
{
    char path[NAME_MAX_LEN] = "/experiments/";
    append_segment(path, sizeof path, ns->key);
    json_t *op = set(g, path_item(g, paths, path), "get",
                     operation(g, tag, operation_id("listExperiments", ns->key, NULL), "List the A/B experiments",
                               "With Accept: text/html, a page."));
    json_t *responses = set(g, op, "responses", json_object());
    set(g, responses, "200",
        json_response(g, "The experiments",
                      message_schema_ref(g, &personalization__v1__list_experiments_response__descriptor, false, NULL),
                      NULL));
    add_errors(g, responses, EXPERIMENT_ERRORS);
    for (int a = 0; a < PZ_ACTION__COUNT; a++) {
        for (size_t i = 0; i < ns->n_recommenders[a]; i++) {
            const pz_recommender *r = &ns->recommenders[a][i];
            for (size_t e = 0; e < r->n_experiments; e++) {
                char full[PATH_MAX_LEN];
                snprintf(full, sizeof full, "%s/", path);
                append_segment(full, sizeof full, r->key);
                append_lit(full, sizeof full, "/");
                append_segment(full, sizeof full, r->experiments[e].feature);
                char id_rec[NAME_MAX_LEN];
                snprintf(id_rec, sizeof id_rec, "%s_%s", r->key, r->experiments[e].feature);
                char summary[NAME_MAX_LEN];
                snprintf(summary, sizeof summary, "Results of experiment %s on %s", r->experiments[e].feature, r->key);
                op = set(g, path_item(g, paths, full), "get",
                         operation(g, tag, operation_id("experimentResults", ns->key, id_rec), summary,
                                   r->experiments[e].description));
                responses = set(g, op, "responses", json_object());
                set(g, responses, "200",
                    json_response(
                        g, "Live results (with Accept: text/html, a page)",
                        message_schema_ref(g, &personalization__v1__experiment_results__descriptor, false, NULL),
                        NULL));
                add_errors(g, responses, EXPERIMENT_ERRORS);
            }
        }
    }
}

static void server_paths(gen *g, json_t *paths)
{
    static const struct {
        const char *path, *op_id, *summary, *schema;
    } ROWS[] = {
        {"/healthz", "health", "Health: the configuration version and reload counters", "Health"},
        {"/admin/cache/stats", "cacheStats", "Response cache counters", "CacheStats"},
        {"/admin/events/stats", "eventsStats", "Event delivery per target: lag, delivered, retried, dead-lettered",
         "EventsStats"},
        {"/openapi.json", "openapi", "This document (regenerated on every configuration reload)", NULL},
    };
    for (size_t i = 0; i < sizeof ROWS / sizeof ROWS[0]; i++) {
        json_t *op = set(g, path_item(g, paths, ROWS[i].path), "get",
                         operation(g, SERVER_TAG, json_string(ROWS[i].op_id), ROWS[i].summary, NULL));
        json_t *responses = set(g, op, "responses", json_object());
        json_t *schema = ROWS[i].schema != NULL ? ref(g, "schemas", ROWS[i].schema) : type_schema(g, "object");
        set(g, responses, "200", json_response(g, "OK", schema, NULL));
    }
    json_t *op = set(g, path_item(g, paths, PZ_OPENAPI_PROTO_PATH), "get",
                     operation(g, SERVER_TAG, json_string("protoFile"),
                               "The gRPC contract (the same service over gRPC, with server reflection)", NULL));
    json_t *responses = set(g, op, "responses", json_object());
    json_t *ok = set(g, responses, "200", obj_with(g, "description", str("The .proto file")));
    json_t *content = set(g, ok, "content", json_object());
    set(g, set(g, content, "text/plain", json_object()), "schema", type_schema(g, "string"));
}

static void add_tag(gen *g, json_t *tags, const char *name, const char *description)
{
    json_t *t = push(g, tags, obj_with(g, "name", json_string(name)));
    if (description != NULL && description[0] != '\0')
        set(g, t, "description", json_string(description));
}

/* A namespace+action tag's description: each recommender's description, one a line. */
static void action_tag(gen *g, json_t *tags, const pz_namespace *ns, pz_action a, const char *name)
{
    size_t cap = 1;
    for (size_t i = 0; i < ns->n_recommenders[a]; i++) {
        const pz_recommender *r = &ns->recommenders[a][i];
        cap += strlen(r->key) + (r->description != NULL ? strlen(r->description) : 0) + 8;
    }
    char *desc = malloc(cap);
    if (desc == NULL) {
        g->failed = true;
        return;
    }
    size_t n = 0;
    desc[0] = '\0';
    for (size_t i = 0; i < ns->n_recommenders[a]; i++) {
        const pz_recommender *r = &ns->recommenders[a][i];
        if (r->description == NULL)
            continue;
        n += (size_t)snprintf(desc + n, cap - n, "%s**%s**: %s", n > 0 ? "\n\n" : "", r->key, r->description);
    }
    add_tag(g, tags, name, desc);
    free(desc);
}

int pz_openapi_write(const pz_config *cfg, const char *server_url, pz_buf *out)
{
    gen g = {.schemas = json_object(), .failed = false, .versioned = pz_config_version(cfg) != NULL};
    json_t *doc = json_object();
    set(&g, doc, "openapi", json_string(PZ_OPENAPI_VERSION));
    json_t *info = set(&g, doc, "info", json_object());
    const char *title = pz_config_title(cfg), *description = pz_config_description(cfg),
               *version = pz_config_version(cfg);
    set(&g, info, "title", str(title != NULL ? title : DEFAULT_TITLE));
    set(&g, info, "description", str(description != NULL ? description : DEFAULT_DESCRIPTION));
    set(&g, info, "version", str(version != NULL ? version : UNVERSIONED));
    json_t *servers = set(&g, doc, "servers", json_array());
    push(&g, servers, obj_with(&g, "url", json_string(server_url != NULL ? server_url : "/")));
    /* No authentication is configured: say so explicitly (an empty list: no requirement). */
    set(&g, doc, "security", json_array());
    json_t *tags = set(&g, doc, "tags", json_array());
    json_t *paths = set(&g, doc, "paths", json_object());
    for (size_t n = 0; n < pz_config_namespace_count(cfg); n++) {
        const pz_namespace *ns = pz_config_namespace_at(cfg, n);
        char tag[NAME_MAX_LEN];
        for (int a = 0; a < PZ_ACTION__COUNT; a++) {
            if (ns->n_recommenders[a] == 0)
                continue;
            ns_tag(ns, ACTION_TITLES[a], tag, sizeof tag);
            action_tag(&g, tags, ns, (pz_action)a, tag);
            for (size_t i = 0; i < ns->n_recommenders[a]; i++)
                recommender_paths(&g, paths, ns, (pz_action)a, &ns->recommenders[a][i], tag);
        }
        bool experiments = has_experiments(ns);
        if (ns->n_event_targets > 0 || experiments) {
            ns_tag(ns, "Events", tag, sizeof tag);
            add_tag(&g, tags, tag, ns->description);
            events_path(&g, paths, ns, tag);
        }
        if (experiments) {
            ns_tag(ns, "Experiments", tag, sizeof tag);
            add_tag(&g, tags, tag, "A/B experiments: assignment counts, conversions, intervals and a verdict");
            experiment_paths(&g, paths, ns, tag);
        }
    }
    add_tag(&g, tags, SERVER_TAG, "The server's own endpoints: health, operators' counters, this document");
    server_paths(&g, paths);

    json_t *components = set(&g, doc, "components", json_object());
    error_schema(&g);
    open_object_schema(&g, "Health", "status, configVersion, namespaces, configReloads, configRejected");
    open_object_schema(&g, "CacheStats", "The response cache's counters");
    open_object_schema(&g, "EventsStats", "Per event target: lag, delivered, retried, dead-lettered, state");
    set(&g, components, "schemas", g.schemas);
    parameter_components(&g, set(&g, components, "parameters", json_object()));

    int rc = -1;
    if (!g.failed) {
        char *text = json_dumps(doc, JSON_INDENT(2));
        if (text != NULL) {
            rc = pz_buf_append_str(out, text) == 0 && pz_buf_append_char(out, '\n') == 0 ? 0 : -1;
            free(text);
        }
    }
    json_decref(doc);
    return rc;
}
