#include "gateway/openapi.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/openapi_internal.h"
#include "personalization/v1/personalization.pb-c.h"
#include "server/core/query.h"
#include "server/core/response_cache.h"

/* info defaults, as upstream's generator has them. */
#define DEFAULT_TITLE "Personalization APIs"
#define DEFAULT_DESCRIPTION                                                                                            \
    "Real-time recommendations, related items, reranking and events for the namespaces and recommenders of the "       \
    "current configuration."
/* info.version is required; a document without a `version` gets this. */
#define UNVERSIONED "unversioned"
#define SERVER_TAG "Server"
/* The admin listener at its default address (--admin-host, --admin-port). */
#define DEFAULT_ADMIN_URL "http://127.0.0.1:9464"
/* The example path values: any user or item id is accepted (an unknown one gets popular or empty
 * results, never an error), so the examples work against any configuration. */
#define EXAMPLE_USER_ID "user-0001"
#define EXAMPLE_ITEM_ID "sku-00248"
#define EXAMPLE_ITEM_IDS "sku-00632,sku-00248,sku-00165"
/* A path: a prefix and the templated tail. */
#define PATH_MAX_LEN (2 * PZ_OA_NAME_MAX)

/* ---- responses, headers, parameters ---- */

/* Codes per HTTP status for each kind of route: what the core and the front return (the status
 * mapping is server/core/status.c). */
typedef struct error_row {
    int status;
    const char *codes;
} error_row;

static const error_row INFERENCE_ERRORS[] = {
    {400, "ValidationError, InvalidContextParameter, InvalidFilterParameter, InvalidPageToken, PageTokenExpired "
          "(pageToken)"},
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

/* What access control adds to every route under a policy that requires credentials
 * (server/core/access.c): merged into the route's own rows by status. */
static const error_row AUTH_ERRORS[] = {
    {401, "MissingCredentials, InvalidApiKey, ApiKeyExpired, InvalidToken, TokenExpired, TokenNotYetValid, "
          "InvalidIssuer, InvalidAudience, InvalidTokenUse, UnsupportedAlgorithm, UnknownKeyId, InvalidSignature, "
          "TokenTooLarge, AmbiguousCredentials (type Authentication; WWW-Authenticate names the accepted schemes)"},
    {403, "InsufficientScope, NamespaceNotAllowed, UserMismatch (type Authorization)"},
    {429, "TooManyRequests (type Throttling, a rate limit of the auth block; Retry-After says when to retry)"},
    {503, "SigningKeysUnavailable (type Authentication, bearer tokens only: the JWKS cannot be fetched and no "
          "copy of it is kept)"},
    {0, NULL},
};
static const error_row NO_ERRORS[] = {{0, NULL}};

static const char *reason_of(int status)
{
    static const struct {
        int status;
        const char *reason;
    } REASONS[] = {
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
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

/* responses[status] = a $ref to components.responses.<prefix><status>, defined once with both
 * lists of codes (codes2 may be NULL). */
static void add_error(pz_oa_gen *g, json_t *responses, const char *prefix, int status, const char *codes,
                      const char *codes2)
{
    char key[8], name[64], desc[2 * PZ_OA_NAME_MAX];
    snprintf(key, sizeof key, "%d", status);
    snprintf(name, sizeof name, "%s%d", prefix, status);
    if (json_object_get(g->responses, name) == NULL) {
        snprintf(desc, sizeof desc, "%s. Codes: %s%s%s.", reason_of(status), codes, codes2 != NULL ? "; " : "",
                 codes2 != NULL ? codes2 : "");
        json_t *resp = pz_oa_set(g, g->responses, name, pz_oa_obj_with(g, "description", json_string(desc)));
        json_t *content = pz_oa_set(g, resp, "content", json_object());
        pz_oa_set(g, content, "application/json", pz_oa_obj_with(g, "schema", pz_oa_ref(g, "schemas", "Error")));
    }
    pz_oa_set(g, responses, key, pz_oa_ref(g, "responses", name));
}

/* The error responses of a kind of route, each defined once in components.responses as
 * <kind><status> and referred to by every operation (a document with many recommenders stays small).
 * Under a policy that requires credentials, the 401/403/429 of access control are added (Auth<status>,
 * or <kind>Auth<status> where the route has its own codes for that status). The operation's
 * `security` is set from the same policy; NULL policy: a public route. */
static void add_errors(pz_oa_gen *g, json_t *op, json_t *responses, const char *kind, const error_row *rows,
                       const pz_auth_policy *policy)
{
    pz_oa_set(g, op, "security", pz_oa_security(g, policy));
    const error_row *r = rows, *a = policy != NULL && policy->enabled ? AUTH_ERRORS : NO_ERRORS;
    char merged[64];
    snprintf(merged, sizeof merged, "%sAuth", kind);
    /* both tables are sorted by status: a merge keeps the responses in order */
    while (r->status != 0 || a->status != 0) {
        if (a->status == 0 || (r->status != 0 && r->status < a->status)) {
            add_error(g, responses, kind, r->status, r->codes, NULL);
            r++;
        } else if (r->status == 0 || a->status < r->status) {
            add_error(g, responses, "Auth", a->status, a->codes, NULL);
            a++;
        } else {
            add_error(g, responses, merged, r->status, r->codes, a->codes);
            r++;
            a++;
        }
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

/* The headers of one response, as references to components.headers: each header is defined once
 * as <name> (not required) and once as <name>Required (required), when used. cacheable,
 * versioned: what IF_CACHEABLE and IF_VERSIONED hold to. */
static json_t *response_headers(pz_oa_gen *g, unsigned on, bool cacheable, bool versioned)
{
    json_t *hs = json_object();
    for (size_t i = 0; i < sizeof HEADERS / sizeof HEADERS[0]; i++) {
        if (!(HEADERS[i].on & on))
            continue;
        bool required = HEADERS[i].required == ALWAYS || (HEADERS[i].required == IF_CACHEABLE && cacheable) ||
                        (HEADERS[i].required == IF_VERSIONED && versioned);
        /* a 304 is only ever sent with the ETag it matched */
        if (on == ON_304 && strcmp(HEADERS[i].name, "ETag") == 0)
            required = true;
        /* POST answers are never cached: Cache-Control is always no-store there */
        if (on == ON_POST && strcmp(HEADERS[i].name, "Cache-Control") == 0)
            required = true;
        char name[64];
        snprintf(name, sizeof name, "%s%s", HEADERS[i].name, required ? "Required" : "");
        if (json_object_get(g->headers, name) == NULL) {
            json_t *h =
                pz_oa_set(g, g->headers, name, pz_oa_obj_with(g, "description", json_string(HEADERS[i].description)));
            if (required)
                pz_oa_set(g, h, "required", json_true());
            pz_oa_set(g, h, "schema", pz_oa_type(g, "string"));
        }
        pz_oa_set(g, hs, HEADERS[i].name, pz_oa_ref(g, "headers", name));
    }
    return hs;
}

static json_t *json_response(pz_oa_gen *g, const char *description, json_t *schema_ref, json_t *headers)
{
    json_t *r = pz_oa_obj_with(g, "description", json_string(description));
    if (headers != NULL)
        pz_oa_set(g, r, "headers", headers);
    json_t *content = pz_oa_set(g, r, "content", json_object());
    pz_oa_set(g, content, "application/json", pz_oa_obj_with(g, "schema", schema_ref));
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
static void parameter_components(pz_oa_gen *g, json_t *params)
{
    char desc[PZ_OA_NAME_MAX];
    json_t *p, *s;

    p = pz_oa_set(g, params, "numResults", json_object());
    pz_oa_set(g, p, "name", pz_oa_str("numResults"));
    pz_oa_set(g, p, "in", pz_oa_str("query"));
    snprintf(desc, sizeof desc, "How many items to return. Above %d it is clamped to %d; 0 answers an empty list.",
             PZ_MAX_NUM_RESULTS, PZ_MAX_NUM_RESULTS);
    pz_oa_set(g, p, "description", pz_oa_str(desc));
    s = pz_oa_set(g, p, "schema", pz_oa_type(g, "integer"));
    pz_oa_set(g, s, "minimum", json_integer(0));
    pz_oa_set(g, s, "default", json_integer(proto_default_int("num_results")));

    p = pz_oa_set(g, params, "filter", json_object());
    pz_oa_set(g, p, "name", pz_oa_str("filter"));
    pz_oa_set(g, p, "in", pz_oa_str("query"));
    pz_oa_set(g, p, "description", pz_oa_str("A filter name or ARN the recommender knows. Sent empty, it is absent."));
    pz_oa_set(g, p, "schema", pz_oa_type(g, "string"));

    static const struct {
        const char *name;
        int key_max;
        const char *what;
    } MAPS[] = {
        {"filterValues", PZ_MAX_FILTER_VALUE_KEY_LEN, "Values for the filter's placeholders"},
        {"context", PZ_MAX_CONTEXT_KEY_LEN, "Contextual metadata (e.g. {\"DEVICE\":\"Phone\"})"},
    };
    for (size_t i = 0; i < sizeof MAPS / sizeof MAPS[0]; i++) {
        p = pz_oa_set(g, params, MAPS[i].name, json_object());
        pz_oa_set(g, p, "name", pz_oa_str(MAPS[i].name));
        pz_oa_set(g, p, "in", pz_oa_str("query"));
        snprintf(desc, sizeof desc,
                 "%s, as a JSON object of strings: keys up to %d characters, values up to %d. Sent empty, it is "
                 "absent.",
                 MAPS[i].what, MAPS[i].key_max, PZ_MAX_MAP_VALUE_LEN);
        pz_oa_set(g, p, "description", pz_oa_str(desc));
        json_t *content = pz_oa_set(g, p, "content", json_object());
        json_t *media = pz_oa_set(g, content, "application/json", json_object());
        s = pz_oa_set(g, media, "schema", pz_oa_type(g, "object"));
        json_t *v = pz_oa_set(g, s, "additionalProperties", pz_oa_type(g, "string"));
        pz_oa_set(g, v, "maxLength", json_integer(PZ_MAX_MAP_VALUE_LEN));
        /* what "Try it out" sends unless edited: nothing (Swagger UI would make up keys) */
        pz_oa_set(g, media, "example", json_object());
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
        p = pz_oa_set(g, params, BOOLS[i].name, json_object());
        pz_oa_set(g, p, "name", pz_oa_str(BOOLS[i].name));
        pz_oa_set(g, p, "in", pz_oa_str("query"));
        pz_oa_set(g, p, "description", pz_oa_str(BOOLS[i].description));
        s = pz_oa_set(g, p, "schema", pz_oa_type(g, "boolean"));
        pz_oa_set(g, s, "default", json_boolean(proto_default_bool(BOOLS[i].field)));
    }

    p = pz_oa_set(g, params, "feature", json_object());
    pz_oa_set(g, p, "name", pz_oa_str("feature"));
    pz_oa_set(g, p, "in", pz_oa_str("query"));
    pz_oa_set(g, p, "description", pz_oa_str("The experiment feature to evaluate, when the recommender has several"));
    pz_oa_set(g, p, "schema", pz_oa_type(g, "string"));

    if (g->paged) { /* defined only where used: an unused component is a lint warning */
        p = pz_oa_set(g, params, "pageToken", json_object());
        pz_oa_set(g, p, "name", pz_oa_str("pageToken"));
        pz_oa_set(g, p, "in", pz_oa_str("query"));
        pz_oa_set(g, p, "description",
                  pz_oa_str("The next page of an earlier answer: its nextPageToken. Pages are cut from the list "
                            "ranked for the first page, so no item repeats; an expired token is a 400 "
                            "PageTokenExpired. Sent empty, it is absent."));
        s = pz_oa_set(g, p, "schema", pz_oa_type(g, "string"));
        pz_oa_set(g, s, "maxLength", json_integer(PZ_MAX_PAGE_TOKEN_LEN));
    }

    p = pz_oa_set(g, params, "userId", json_object());
    pz_oa_set(g, p, "name", pz_oa_str("userId"));
    pz_oa_set(g, p, "in", pz_oa_str("query"));
    pz_oa_set(g, p, "description", pz_oa_str("The user, to personalize the cache policy and exclusions"));
    s = pz_oa_set(g, p, "schema", pz_oa_type(g, "string"));
    pz_oa_set(g, s, "maxLength", json_integer(PZ_MAX_ID_LEN));
}

static json_t *id_path_param(pz_oa_gen *g, const char *name, const char *description, const char *example)
{
    json_t *p = json_object();
    pz_oa_set(g, p, "name", pz_oa_str(name));
    pz_oa_set(g, p, "in", pz_oa_str("path"));
    pz_oa_set(g, p, "required", json_true());
    pz_oa_set(g, p, "description", pz_oa_str(description));
    json_t *s = pz_oa_set(g, p, "schema", pz_oa_type(g, "string"));
    pz_oa_set(g, s, "minLength", json_integer(1));
    pz_oa_set(g, s, "maxLength", json_integer(PZ_MAX_ID_LEN));
    pz_oa_set(g, p, "example", pz_oa_str(example));
    return p;
}

static json_t *item_ids_path_param(pz_oa_gen *g)
{
    json_t *p = json_object();
    pz_oa_set(g, p, "name", pz_oa_str("item_ids"));
    pz_oa_set(g, p, "in", pz_oa_str("path"));
    pz_oa_set(g, p, "required", json_true());
    char desc[PZ_OA_NAME_MAX];
    snprintf(desc, sizeof desc, "The items to rank, comma-separated: 1 to %d ids of 1 to %d characters",
             PZ_MAX_RERANK_ITEMS, PZ_MAX_ID_LEN);
    pz_oa_set(g, p, "description", pz_oa_str(desc));
    pz_oa_set(g, p, "style", pz_oa_str("simple"));
    pz_oa_set(g, p, "explode", json_false());
    json_t *s = pz_oa_set(g, p, "schema", pz_oa_type(g, "array"));
    pz_oa_set(g, s, "minItems", json_integer(1));
    pz_oa_set(g, s, "maxItems", json_integer(PZ_MAX_RERANK_ITEMS));
    json_t *items = pz_oa_set(g, s, "items", pz_oa_type(g, "string"));
    pz_oa_set(g, items, "minLength", json_integer(1));
    pz_oa_set(g, items, "maxLength", json_integer(PZ_MAX_ID_LEN));
    json_t *ex = pz_oa_set(g, p, "example", json_array());
    /* the example as an array: the elements of EXAMPLE_ITEM_IDS */
    char ids[] = EXAMPLE_ITEM_IDS;
    for (char *save = NULL, *t = strtok_r(ids, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save))
        pz_oa_push(g, ex, json_string(t));
    return p;
}

static void add_param_refs(pz_oa_gen *g, json_t *params, const char *const *names)
{
    for (; *names != NULL; names++)
        pz_oa_push(g, params, pz_oa_ref(g, "parameters", *names));
}

/* ---- operations ---- */

static const char *const RECOMMEND_PARAMS[] = {"numResults",    "filter",        "filterValues", "context",
                                               "decorateItems", "syntheticUser", "feature",      NULL};
static const char *const RELATED_PARAMS[] = {
    "userId", "numResults", "filter", "filterValues", "context", "decorateItems", "syntheticUser", "feature", NULL};
static const char *const RERANK_PARAMS[] = {"filter",        "filterValues", "context", "decorateItems",
                                            "syntheticUser", "feature",      NULL};

/* Listed after the others on the recommenders whose rules paginate (a pageToken elsewhere is a 400). */
static const char *const PAGE_PARAMS[] = {"pageToken", NULL};

/* Whether any variation of r keeps pages (rules.pagination). */
static bool paginates(const pz_recommender *r)
{
    for (size_t i = 0; i < r->n_variations; i++)
        if (r->variations[i].rules_view != NULL && r->variations[i].rules_view->paginate)
            return true;
    return false;
}

static const char *const ACTION_TITLES[PZ_ACTION__COUNT] = {
    [PZ_ACTION_RECOMMEND_ITEMS] = "Recommend Items",
    [PZ_ACTION_RELATED_ITEMS] = "Related Items",
    [PZ_ACTION_RERANK_ITEMS] = "Rerank Items",
};

/* operationId: a prefix and the keys, with anything but letters and digits as '_'. */
static json_t *operation_id(const char *prefix, const char *ns, const char *rec)
{
    char buf[PZ_OA_NAME_MAX];
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

static json_t *operation(pz_oa_gen *g, const char *tag, json_t *op_id, const char *summary, const char *description)
{
    json_t *op = json_object();
    json_t *tags = pz_oa_set(g, op, "tags", json_array());
    pz_oa_push(g, tags, json_string(tag));
    pz_oa_set(g, op, "operationId", op_id);
    pz_oa_set(g, op, "summary", pz_oa_str(summary));
    if (description != NULL)
        pz_oa_set(g, op, "description", pz_oa_str(description));
    return op;
}

static json_t *path_item(pz_oa_gen *g, json_t *paths, const char *path)
{
    json_t *item = json_object_get(paths, path);
    return item != NULL ? item : pz_oa_set(g, paths, path, json_object());
}

static void recommender_paths(pz_oa_gen *g, json_t *paths, const pz_namespace *ns, pz_action action,
                              const pz_recommender *r, const char *tag)
{
    char path[PZ_OA_NAME_MAX] = "/";
    append_lit(path, sizeof path, pz_action_name(action));
    append_lit(path, sizeof path, "/");
    append_segment(path, sizeof path, ns->key);
    append_lit(path, sizeof path, "/");
    append_segment(path, sizeof path, r->key);
    char summary[PZ_OA_NAME_MAX];
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
    op = pz_oa_set(g, path_item(g, paths, full), "get",
                   operation(g, tag, operation_id(OP_PREFIX[action], ns->key, r->key), summary, desc));
    params = pz_oa_set(g, op, "parameters", json_array());
    if (action == PZ_ACTION_RELATED_ITEMS) {
        pz_oa_push(g, params, id_path_param(g, "item_id", "The item to find related items for", EXAMPLE_ITEM_ID));
        add_param_refs(g, params, RELATED_PARAMS);
    } else if (action == PZ_ACTION_RERANK_ITEMS) {
        pz_oa_push(g, params, id_path_param(g, "user_id", "The user", EXAMPLE_USER_ID));
        pz_oa_push(g, params, item_ids_path_param(g));
        add_param_refs(g, params, RERANK_PARAMS);
    } else {
        pz_oa_push(g, params, id_path_param(g, "user_id", "The user", EXAMPLE_USER_ID));
        add_param_refs(g, params, RECOMMEND_PARAMS);
    }
    if (action != PZ_ACTION_RERANK_ITEMS && paginates(r)) {
        add_param_refs(g, params, PAGE_PARAMS);
        g->paged = true;
    }
    responses = pz_oa_set(g, op, "responses", json_object());
    bool cacheable = always_validated(r, action);
    pz_oa_set(g, responses, "200",
              json_response(g, "The items", pz_oa_message_ref(g, out_msg, false, NULL),
                            response_headers(g, ON_GET, cacheable, g->versioned)));
    json_t *not_modified =
        pz_oa_set(g, responses, "304",
                  pz_oa_obj_with(g, "description", pz_oa_str("Not Modified: If-None-Match matched the ETag")));
    pz_oa_set(g, not_modified, "headers", response_headers(g, ON_304, cacheable, g->versioned));
    add_errors(g, op, responses, "Inference", INFERENCE_ERRORS, ns->auth_view);

    if (action != PZ_ACTION_RERANK_ITEMS)
        return;
    /* POST rerank: the ids in a JSON array body, never cached. */
    snprintf(full, sizeof full, "%s/{user_id}", path);
    op = pz_oa_set(g, path_item(g, paths, full), "post",
                   operation(g, tag, operation_id("rerankItemsPost", ns->key, r->key), summary, desc));
    params = pz_oa_set(g, op, "parameters", json_array());
    pz_oa_push(g, params, id_path_param(g, "user_id", "The user", EXAMPLE_USER_ID));
    add_param_refs(g, params, RERANK_PARAMS);
    json_t *body = pz_oa_set(g, op, "requestBody", json_object());
    pz_oa_set(g, body, "required", json_true());
    pz_oa_set(g, body, "description", pz_oa_str("The items to rank"));
    json_t *s = pz_oa_type(g, "array");
    pz_oa_set(g, s, "minItems", json_integer(1));
    pz_oa_set(g, s, "maxItems", json_integer(PZ_MAX_RERANK_ITEMS));
    json_t *items = pz_oa_set(g, s, "items", pz_oa_type(g, "string"));
    pz_oa_set(g, items, "minLength", json_integer(1));
    pz_oa_set(g, items, "maxLength", json_integer(PZ_MAX_ID_LEN));
    json_t *media =
        pz_oa_set(g, pz_oa_set(g, body, "content", json_object()), "application/json", pz_oa_obj_with(g, "schema", s));
    json_t *ex = pz_oa_set(g, media, "example", json_array());
    char ids[] = EXAMPLE_ITEM_IDS;
    for (char *save = NULL, *t = strtok_r(ids, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save))
        pz_oa_push(g, ex, json_string(t));
    responses = pz_oa_set(g, op, "responses", json_object());
    pz_oa_set(g, responses, "200",
              json_response(g, "The items, ranked", pz_oa_message_ref(g, out_msg, false, NULL),
                            response_headers(g, ON_POST, false, g->versioned)));
    add_errors(g, op, responses, "RerankPost", RERANK_POST_ERRORS, ns->auth_view);
}

static bool has_experiments(const pz_namespace *ns)
{
    for (int a = 0; a < PZ_ACTION__COUNT; a++)
        for (size_t i = 0; i < ns->n_recommenders[a]; i++)
            if (ns->recommenders[a][i].n_experiments > 0)
                return true;
    return false;
}

static void events_path(pz_oa_gen *g, json_t *paths, const pz_namespace *ns, const char *tag)
{
    char path[PZ_OA_NAME_MAX] = "/events/";
    append_segment(path, sizeof path, ns->key);
    json_t *op = pz_oa_set(g, path_item(g, paths, path), "post",
                           operation(g, tag, operation_id("putEvents", ns->key, NULL), "Send events",
                                     "Interactions (Personalize PutEvents shape) and experiment conversions. Stored "
                                     "durably before the 200, then delivered to the namespace's event targets."));
    json_t *body = pz_oa_set(g, op, "requestBody", json_object());
    pz_oa_set(g, body, "required", json_true());
    json_t *media = pz_oa_set(
        g, pz_oa_set(g, body, "content", json_object()), "application/json",
        pz_oa_obj_with(g, "schema",
                       pz_oa_message_ref(g, &personalization__v1__put_events_request__descriptor, true, "namespace")));
    json_t *ex = pz_oa_set(g, media, "example", json_object());
    pz_oa_set(g, ex, "sessionId", pz_oa_str("s-1"));
    pz_oa_set(g, ex, "userId", pz_oa_str(EXAMPLE_USER_ID));
    json_t *list = pz_oa_set(g, ex, "eventList", json_array());
    json_t *ev = pz_oa_push(g, list, json_object());
    pz_oa_set(g, ev, "eventType", pz_oa_str("click"));
    pz_oa_set(g, ev, "itemId", pz_oa_str(EXAMPLE_ITEM_ID));
    json_t *responses = pz_oa_set(g, op, "responses", json_object());
    json_t *ok =
        pz_oa_set(g, responses, "200", pz_oa_obj_with(g, "description", pz_oa_str("Stored (the body is empty)")));
    json_t *content = pz_oa_set(g, ok, "content", json_object());
    json_t *plain = pz_oa_set(g, content, "text/plain", json_object());
    json_t *s = pz_oa_set(g, plain, "schema", pz_oa_type(g, "string"));
    pz_oa_set(g, s, "maxLength", json_integer(0));
    add_errors(g, op, responses, "Events", EVENTS_ERRORS, ns->auth_view);
}

static void experiment_paths(pz_oa_gen *g, json_t *paths, const pz_namespace *ns, const char *tag)
{
    char path[PZ_OA_NAME_MAX] = "/experiments/";
    append_segment(path, sizeof path, ns->key);
    json_t *op = pz_oa_set(g, path_item(g, paths, path), "get",
                           operation(g, tag, operation_id("listExperiments", ns->key, NULL), "List the A/B experiments",
                                     "With Accept: text/html, a page."));
    json_t *responses = pz_oa_set(g, op, "responses", json_object());
    pz_oa_set(
        g, responses, "200",
        json_response(g, "The experiments",
                      pz_oa_message_ref(g, &personalization__v1__list_experiments_response__descriptor, false, NULL),
                      NULL));
    add_errors(g, op, responses, "Experiment", EXPERIMENT_ERRORS, ns->auth_view);
    for (int a = 0; a < PZ_ACTION__COUNT; a++) {
        for (size_t i = 0; i < ns->n_recommenders[a]; i++) {
            const pz_recommender *r = &ns->recommenders[a][i];
            for (size_t e = 0; e < r->n_experiments; e++) {
                char full[PATH_MAX_LEN];
                snprintf(full, sizeof full, "%s/", path);
                append_segment(full, sizeof full, r->key);
                append_lit(full, sizeof full, "/");
                append_segment(full, sizeof full, r->experiments[e].feature);
                char id_rec[PZ_OA_NAME_MAX];
                snprintf(id_rec, sizeof id_rec, "%s_%s", r->key, r->experiments[e].feature);
                char summary[PZ_OA_NAME_MAX];
                snprintf(summary, sizeof summary, "Results of experiment %s on %s", r->experiments[e].feature, r->key);
                op = pz_oa_set(g, path_item(g, paths, full), "get",
                               operation(g, tag, operation_id("experimentResults", ns->key, id_rec), summary,
                                         r->experiments[e].description));
                responses = pz_oa_set(g, op, "responses", json_object());
                pz_oa_set(g, responses, "200",
                          json_response(
                              g, "Live results (with Accept: text/html, a page)",
                              pz_oa_message_ref(g, &personalization__v1__experiment_results__descriptor, false, NULL),
                              NULL));
                add_errors(g, op, responses, "Experiment", EXPERIMENT_ERRORS, ns->auth_view);
            }
        }
    }
}

/* The admin listener's routes (the operators' statistics and the Prometheus scrape) live on
 * another port: their path items name it in their own `servers` (admin_url), and the root's policy
 * governs them. The other server routes are on this port and public. */
static void server_paths(pz_oa_gen *g, json_t *paths, const pz_auth_policy *admin_policy, const char *admin_url)
{
    static const struct {
        const char *path, *op_id, *summary, *schema;
        bool admin;
    } ROWS[] = {
        {"/healthz", "health", "Health: the configuration version and reload counters", "Health", false},
        {"/openapi.json", "openapi", "This document (regenerated on every configuration reload)", NULL, false},
        {"/metrics", "metrics", "Prometheus metrics (text exposition format 0.0.4)", NULL, true},
        {"/admin/cache/stats", "cacheStats", "Response cache counters", "CacheStats", true},
        {"/admin/events/stats", "eventsStats", "Event delivery per target: lag, delivered, retried, dead-lettered",
         "EventsStats", true},
        {"/admin/builtin/stats", "builtinStats", "The embedded recommender's store: state, sizes, writes, failures",
         "BuiltinStats", true},
        {"/admin/auth/stats", "authStats", "Authentication counters and each JWKS source's keys and fetches",
         "AuthStats", true},
    };
    for (size_t i = 0; i < sizeof ROWS / sizeof ROWS[0]; i++) {
        json_t *item = path_item(g, paths, ROWS[i].path);
        if (ROWS[i].admin) {
            json_t *server = pz_oa_push(g, pz_oa_set(g, item, "servers", json_array()),
                                        pz_oa_obj_with(g, "url", json_string(admin_url)));
            pz_oa_set(g, server, "description",
                      pz_oa_str("The admin listener (--admin-host, --admin-port), not the API's port"));
        }
        json_t *op =
            pz_oa_set(g, item, "get", operation(g, SERVER_TAG, json_string(ROWS[i].op_id), ROWS[i].summary, NULL));
        json_t *responses = pz_oa_set(g, op, "responses", json_object());
        if (strcmp(ROWS[i].path, "/metrics") == 0) {
            json_t *ok = pz_oa_set(g, responses, "200", pz_oa_obj_with(g, "description", pz_oa_str("The metrics")));
            json_t *content = pz_oa_set(g, ok, "content", json_object());
            pz_oa_set(g, pz_oa_set(g, content, "text/plain", json_object()), "schema", pz_oa_type(g, "string"));
        } else {
            json_t *schema = ROWS[i].schema != NULL ? pz_oa_ref(g, "schemas", ROWS[i].schema) : pz_oa_type(g, "object");
            pz_oa_set(g, responses, "200", json_response(g, "OK", schema, NULL));
        }
        add_errors(g, op, responses, "Admin", NO_ERRORS, ROWS[i].admin ? admin_policy : NULL);
    }
    json_t *op = pz_oa_set(g, path_item(g, paths, PZ_OPENAPI_PROTO_PATH), "get",
                           operation(g, SERVER_TAG, json_string("protoFile"),
                                     "The gRPC contract (the same service over gRPC, with server reflection)", NULL));
    json_t *responses = pz_oa_set(g, op, "responses", json_object());
    json_t *ok = pz_oa_set(g, responses, "200", pz_oa_obj_with(g, "description", pz_oa_str("The .proto file")));
    json_t *content = pz_oa_set(g, ok, "content", json_object());
    pz_oa_set(g, pz_oa_set(g, content, "text/plain", json_object()), "schema", pz_oa_type(g, "string"));
    pz_oa_set(g, op, "security", pz_oa_security(g, NULL));
}

static void add_tag(pz_oa_gen *g, json_t *tags, const char *name, const char *description)
{
    json_t *t = pz_oa_push(g, tags, pz_oa_obj_with(g, "name", json_string(name)));
    if (description != NULL && description[0] != '\0')
        pz_oa_set(g, t, "description", json_string(description));
}

/* A namespace+action tag's description: each recommender's description, one a line. */
static void action_tag(pz_oa_gen *g, json_t *tags, const pz_namespace *ns, pz_action a, const char *name)
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

int pz_openapi_write(const pz_config *cfg, const char *server_url, const char *admin_url, pz_buf *out)
{
    pz_oa_gen g = {.schemas = json_object(),
                   .responses = json_object(),
                   .headers = json_object(),
                   .failed = false,
                   .versioned = pz_config_version(cfg) != NULL};
    json_t *doc = json_object();
    pz_oa_set(&g, doc, "openapi", json_string(PZ_OPENAPI_VERSION));
    json_t *info = pz_oa_set(&g, doc, "info", json_object());
    const char *title = pz_config_title(cfg), *description = pz_config_description(cfg),
               *version = pz_config_version(cfg);
    pz_oa_set(&g, info, "title", pz_oa_str(title != NULL ? title : DEFAULT_TITLE));
    pz_oa_set(&g, info, "description", pz_oa_str(description != NULL ? description : DEFAULT_DESCRIPTION));
    pz_oa_set(&g, info, "version", pz_oa_str(version != NULL ? version : UNVERSIONED));
    json_t *servers = pz_oa_set(&g, doc, "servers", json_array());
    pz_oa_push(&g, servers, pz_oa_obj_with(&g, "url", json_string(server_url != NULL ? server_url : "/")));
    /* The root policy's requirement; every operation states its own (a namespace's `auth` replaces
     * the root's, and the public routes need nothing). */
    pz_oa_set(&g, doc, "security", pz_oa_security(&g, pz_config_auth(cfg)));
    json_t *tags = pz_oa_set(&g, doc, "tags", json_array());
    json_t *paths = pz_oa_set(&g, doc, "paths", json_object());
    for (size_t n = 0; n < pz_config_namespace_count(cfg); n++) {
        const pz_namespace *ns = pz_config_namespace_at(cfg, n);
        char tag[PZ_OA_NAME_MAX];
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
    add_tag(&g, tags, SERVER_TAG,
            "The server's own endpoints: health, this document; on the admin listener, "
            "metrics and operators' counters");
    server_paths(&g, paths, pz_config_auth(cfg), admin_url != NULL ? admin_url : DEFAULT_ADMIN_URL);

    json_t *components = pz_oa_set(&g, doc, "components", json_object());
    pz_oa_error_schema(&g);
    pz_oa_open_schema(&g, "Health", "status, configVersion, namespaces, configReloads, configRejected");
    pz_oa_open_schema(&g, "CacheStats", "The response cache's counters");
    pz_oa_open_schema(&g, "EventsStats", "Per event target: lag, delivered, retried, dead-lettered, state");
    pz_oa_open_schema(&g, "BuiltinStats",
                      "state, mapBytes, usedBytes, pendingBytes, pendingBudgetBytes, flushes, flushFailures, ...");
    pz_oa_open_schema(&g, "AuthStats", "Accepted, refused, remembered tokens, throttled; JWKS sources");
    pz_oa_set(&g, components, "schemas", g.schemas);
    pz_oa_set(&g, components, "responses", g.responses);
    pz_oa_set(&g, components, "headers", g.headers);
    parameter_components(&g, pz_oa_set(&g, components, "parameters", json_object()));
    pz_oa_security_schemes(&g, cfg, components);

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
