/* Configuration: the upstream JSON document (spec §3) as a superset, validated, with inheritance
 * resolved (root -> namespace -> recommender -> variation, spec §3.12) and compiled into an
 * immutable snapshot.
 *
 * A pz_config is immutable once pz_config_parse returns it and is shared between threads by
 * reference count. Every pointer inside it (strings, arrays, inherited views) is owned by the
 * snapshot and valid until the last pz_config_unref.
 *
 * Inherited views: for each of cacheControl, autoContext, filters, inferenceItemMetadata and rules, a
 * child whose own key is missing or null takes its parent's value (shallow, whole object). The
 * `*_view` pointers below are the result: NULL only when no level of the chain sets the key.
 *
 * Our additions to the upstream document (all optional):
 *   - root `title` (OpenAPI title; upstream's generator reads it, §14 #23)
 *   - root `trustedProxies`: CIDR blocks of the proxies trusted to name the client (automatic
 *     context derives geolocation from the client address)
 *   - variation type `builtin` (the embedded recommender) with `strategy`:
 *       recommend-items: "personalized" (default) or "popular"; related-items: "co-occurrence"
 *       (default) or "popular"; rerank-items: "affinity" (default)
 *     and optional `excludeSeen` (bool, default true for personalized recommend-items)
 *   - variation type `function` accepted as a synonym of `lambda` (§14 #2)
 *   - variation `timeoutMs` (upstream call timeout, 1..60000, default 5000) and `fallback` (a variation key
 *     of the same recommender used when this one fails)
 *   - personalize-*, lambda and sagemaker variations: `endpointUrl` (the service endpoint, overriding
 *     AWS_ENDPOINT_URL_<SERVICE>) and `region`; personalize-*: `promotions` (passed through to
 *     GetRecommendations); http: the URL template's placeholders are the request's values, and
 *     any other name its query parameter (url_template.h)
 *   - experiments `method: "local"` with optional `weights` {variationKey: number} (equal when
 *     absent, also applied to `evidently` experiments, which are evaluated locally) and `salt` (§7.4)
 *   - event target types `builtin` (feeds the embedded recommender), `http` (`url`, optional
 *     `headers`), `file` (`path`); optional `endpointUrl` and `region` on the AWS event targets
 *   - rule type `season` accepted for `season-of-year`, operator `start-with` for `starts-with`
 *   - autoContext field types `number` and `boolean`; booleans as `value`, `mapTo` and `default`
 *   - cache policies: `staleWhileRevalidate` and `staleIfError` (seconds) next to `maxAge`
 *   - `auth` at the root and per namespace (spec §11 [ours]): API keys, JWT bearer tokens, rate
 *     limits; a namespace's block replaces the root's whole (an empty block serves it without
 *     authentication). Parsed by config_auth.c; enforced by server/core/access.h through the
 *     authenticator port (server/core/authenticator.h).
 *   - `rules` (namespace, recommender or variation; inherited): post-ranking rules (pz_rules)
 */
#ifndef PZ_CONFIG_H
#define PZ_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/kafka_settings.h"
#include "server/core/netaddr.h"

typedef enum pz_action {
    PZ_ACTION_RECOMMEND_ITEMS = 0, /* "recommend-items" */
    PZ_ACTION_RELATED_ITEMS,       /* "related-items" */
    PZ_ACTION_RERANK_ITEMS,        /* "rerank-items" */
    PZ_ACTION__COUNT
} pz_action;

/* "recommend-items" etc. */
const char *pz_action_name(pz_action a);

/* A JSON scalar from the config: a string, a number or (our addition, for autoContext `value`,
 * `mapTo` and `default`) a boolean. */
typedef struct pz_scalar {
    bool is_number;
    double number; /* when is_number */
    bool is_bool;
    bool boolean;       /* when is_bool */
    const char *string; /* when neither; never NULL then */
} pz_scalar;

/* ---- cacheControl (§3.8, §4.1) ---- */
typedef struct pz_cache_policy {
    bool present; /* the class object exists in the config */
    bool has_max_age;
    int max_age;            /* seconds, >= 0 */
    const char *directives; /* NULL when absent */
    /* Our additions (optional, seconds >= 0): how long past maxAge the in-process response cache
     * may serve an entry while one refresh runs / when the refresh fails (RFC 5861). When set they
     * are also sent as Cache-Control directives; absent, server/core/response_cache.h defaults
     * apply to the in-process cache only. */
    bool has_stale_while_revalidate;
    int stale_while_revalidate;
    bool has_stale_if_error;
    int stale_if_error;
    /* The Cache-Control value the class sends, rendered once at load (so the hit path formats
     * nothing): spec §4.1 with defect §14 #13 fixed (directives that already hold max-age are sent
     * as given); for a cacheable class (max-age > 0) explicit staleness windows are appended as
     * stale-while-revalidate=N / stale-if-error=N (RFC 5861). NULL: no header. */
    const char *header;
} pz_cache_policy;

typedef struct pz_cache_control {
    bool auto_provision; /* default true */
    pz_cache_policy user_specified;
    pz_cache_policy synthetic_user_specified;
    pz_cache_policy no_user_specified;
} pz_cache_control;

/* ---- autoContext (§3.9, §6) ---- */

/* Personalize's limits on context and filterValues (spec §2.6): explicit request values over them
 * are a 400; autoContext field names and autoDynamicFilterValues parameter names over them are
 * configuration errors; automatic values over PZ_MAX_MAP_VALUE_LEN are left out. */
#define PZ_MAX_FILTER_VALUE_KEY_LEN 50
#define PZ_MAX_CONTEXT_KEY_LEN 150
#define PZ_MAX_MAP_VALUE_LEN 1000
typedef enum pz_rule_type {
    PZ_RULE_HEADER_VALUE,
    PZ_RULE_HOUR_OF_DAY,
    PZ_RULE_DAY_OF_WEEK,
    PZ_RULE_SEASON_OF_YEAR, /* also spelled "season" */
} pz_rule_type;

typedef enum pz_mapping_op {
    PZ_OP_EQUALS,
    PZ_OP_LESS_THAN,
    PZ_OP_GREATER_THAN,
    PZ_OP_CONTAINS,
    PZ_OP_STARTS_WITH, /* also spelled "start-with" */
    PZ_OP_ENDS_WITH,
} pz_mapping_op;

typedef struct pz_value_mapping {
    pz_mapping_op op;
    pz_scalar value;
    pz_scalar map_to;
} pz_value_mapping;

typedef struct pz_context_rule {
    pz_rule_type type;
    const char *header; /* header-value: the header name, lower-cased; else NULL */
    bool has_value_mappings;
    const pz_value_mapping *value_mappings;
    size_t n_value_mappings;
} pz_context_rule;

/* How a field's values are rendered (§6.3): `string` fields join their values, the others send
 * their first value. `number` and `boolean` are our additions. */
typedef enum pz_field_type {
    PZ_FIELD_STRING,
    PZ_FIELD_INTEGER,
    PZ_FIELD_LONG,
    PZ_FIELD_FLOAT,
    PZ_FIELD_NUMBER,
    PZ_FIELD_BOOLEAN,
} pz_field_type;

typedef struct pz_context_field {
    const char *name; /* e.g. "deviceType" */
    pz_field_type type;
    const char *description; /* NULL when absent */
    bool evaluate_all;       /* default false */
    bool has_default;
    pz_scalar default_value;
    const pz_context_rule *rules;
    size_t n_rules;
} pz_context_field;

/* A set of auto-context (or autoDynamicFilterValues) fields, in document order. */
typedef struct pz_auto_context {
    const pz_context_field *fields;
    size_t n_fields;
} pz_auto_context;

/* ---- filters (§3.5) ---- */
typedef struct pz_filter {
    const char *arn;
    bool user_required;                                /* condition: "user-required" */
    const pz_auto_context *auto_dynamic_filter_values; /* NULL when absent */
} pz_filter;

typedef struct pz_filters {
    const pz_filter *items;
    size_t n;
} pz_filters;

/* ---- inferenceItemMetadata (§3.10) ---- */
typedef enum pz_item_metadata_type {
    PZ_ITEM_METADATA_PERSONALIZE,
    PZ_ITEM_METADATA_LOCALDB,
    PZ_ITEM_METADATA_DYNAMODB,
} pz_item_metadata_type;

typedef struct pz_item_metadata {
    pz_item_metadata_type type;
    const char *const *item_columns; /* personalize (and optionally localdb): column names */
    size_t n_item_columns;
    int sync_interval;        /* localdb: seconds, 5..3600, default 300 */
    bool auto_provision;      /* dynamodb: default true */
    const char *billing_mode; /* dynamodb: "PAY_PER_REQUEST" (default) or "PROVISIONED" */
    int read_capacity_units;  /* dynamodb PROVISIONED */
    int write_capacity_units;
} pz_item_metadata;

/* ---- rules (ours, issue #20): post-ranking rules, applied by server/core/rules.h ---- */

/* Which items a pin, boost or bury applies to: the ids listed, or the items whose metadata field
 * `field` (a top-level key) equals one of `values` (a string equals a string, a number a number). */
typedef struct pz_rule_match {
    const char *const *item_ids; /* NULL when by field */
    size_t n_item_ids;
    const char *field; /* NULL when by ids */
    const pz_scalar *values;
    size_t n_values;
    size_t field_index; /* by field: the index of `field` in pz_rules.fields */
} pz_rule_match;

typedef struct pz_rule_pin {
    pz_rule_match match; /* by one id (`itemId`), or by field: the best-ranked matching item */
    int position;        /* 1-based */
} pz_rule_pin;

typedef struct pz_rule_boost {
    pz_rule_match match;
    double weight; /* > 0: multiplies the item's ranking value */
} pz_rule_boost;

typedef enum pz_diversity_method {
    PZ_DIVERSITY_NONE,
    PZ_DIVERSITY_CAP, /* at most max_per_value items per value of the field */
    PZ_DIVERSITY_MMR, /* maximal marginal relevance over the field (same value = similar) */
} pz_diversity_method;

/* Limits of the rules block (each a load error beyond it). */
#define PZ_RULES_MAX_ENTRIES 50               /* pins, boosts, buries: entries per list */
#define PZ_RULES_MAX_IDS 500                  /* itemIds per boost or bury */
#define PZ_RULES_MAX_VALUES 100               /* values per field condition */
#define PZ_RULES_MAX_EVENT_TYPES 20           /* excludeSeen.eventTypes */
#define PZ_RULES_MAX_FVI 10                   /* filterValuesFromItem parameters */
#define PZ_RULES_MAX_FIELD_LEN 256            /* metadata field names */
#define PZ_RULES_MAX_WINDOW_SECONDS 315360000 /* excludeSeen.windowSeconds: ten years */
#define PZ_RULES_MAX_POSITION 500             /* pin positions, maxPerValue */
#define PZ_RULES_MAX_LOOK_AHEAD 500           /* lookAheadMaximumValue (and its default) */
#define PZ_RULES_DEFAULT_LOOK_AHEAD 2         /* lookAheadMultiplier when rules remove or move items */
#define PZ_RULES_DEFAULT_PAGE_ITEMS 100       /* pagination.maxItems: the list pages are cut from */
#define PZ_RULES_DEFAULT_PAGE_TTL 1800        /* pagination.ttlSeconds: how long a list is kept */
#define PZ_RULES_MAX_PAGE_TTL 86400

typedef struct pz_rules {
    bool exclude_seen;
    const char *const *seen_event_types; /* NULL: any event type */
    size_t n_seen_event_types;
    int seen_window_seconds; /* 0: the whole history kept */

    pz_diversity_method diversity;
    const char *diversity_field;
    int max_per_value; /* CAP */
    double mmr_lambda; /* MMR: weight of relevance against novelty, 0..1, default 0.5 */

    const pz_rule_pin *pins; /* sorted by position */
    size_t n_pins;
    const pz_rule_boost *boosts;
    size_t n_boosts;
    const pz_rule_match *buries;
    size_t n_buries;

    /* related-items: filterValues[params[i]] = the current item's catalog field fields[i] */
    const char *const *fvi_params;
    const char *const *fvi_fields;
    size_t n_fvi;

    /* pagination: the first page ranks up to page_max_items items and keeps them for
     * page_ttl_seconds (server/core/page_store.h); nextPageToken/pageToken walk them */
    bool paginate;
    int page_max_items;
    int page_ttl_seconds;

    double look_ahead_multiplier; /* >= 1 */
    int look_ahead_maximum;       /* 1..500 */

    /* every metadata field the ranking rules read (diversity, pins, boosts, buries), each once */
    const char *const *fields;
    size_t n_fields;
} pz_rules;

/* ---- variations (§3.4) ---- */
typedef enum pz_variation_type {
    PZ_VARIATION_BUILTIN,
    PZ_VARIATION_PERSONALIZE_CAMPAIGN,
    PZ_VARIATION_PERSONALIZE_RECOMMENDER,
    PZ_VARIATION_LAMBDA, /* "lambda" or "function" */
    PZ_VARIATION_SAGEMAKER,
    PZ_VARIATION_HTTP,
} pz_variation_type;

typedef enum pz_builtin_strategy {
    PZ_STRATEGY_DEFAULT, /* per action: personalized / co-occurrence / affinity */
    PZ_STRATEGY_PERSONALIZED,
    PZ_STRATEGY_POPULAR,
    PZ_STRATEGY_CO_OCCURRENCE,
    PZ_STRATEGY_AFFINITY,
} pz_builtin_strategy;

typedef struct pz_variation {
    const char *key;
    pz_variation_type type;    /* personalize-*: taken from the ARN (campaign/ or recommender/), as
                                  upstream dispatches; a type that disagrees only warns */
    const char *type_name;     /* as written in the config, e.g. "function" */
    const char *arn;           /* personalize-*, lambda: NULL when absent */
    const char *endpoint_name; /* sagemaker */
    const char *url;           /* http: the URL template */
    /* http: the placeholders of `url` that are not the server's, each once: filled from the
     * request's query parameters (server/core/url_template.h), so their values are part of the
     * response cache key. */
    const char *const *query_params;
    size_t n_query_params;
    pz_builtin_strategy strategy; /* builtin: resolved per action, never PZ_STRATEGY_DEFAULT once parsed */
    bool exclude_seen;            /* builtin */
    int timeout_ms;               /* default 5000 */
    const char *fallback;         /* variation key or NULL */
    const char *endpoint_url;     /* personalize-*, lambda, sagemaker: `endpointUrl` or NULL */
    const char *region;           /* personalize-*, lambda, sagemaker: `region` or NULL */
    const char *promotions_json;  /* personalize-*: `promotions` as compact JSON, or NULL */
    /* inherited views (variation -> recommender -> namespace -> root) */
    const pz_cache_control *cache_control_view;
    const pz_auto_context *auto_context_view;
    const pz_filters *filters_view;
    const pz_item_metadata *item_metadata_view;
    const pz_rules *rules_view;
    const char *json; /* the variation object as compact JSON, with inherited keys */
} pz_variation;

/* ---- experiments (§3.7, §7) ---- */
typedef struct pz_metric {
    const char *name;
    bool track_exposures;      /* default true */
    const char *entity_id_key; /* dotted path */
    const char *value_key;     /* dotted path */
} pz_metric;

/* Both methods are evaluated by the built-in engine (server/core/bucket.h): Evidently was shut
 * down in October 2025, so `evidently` experiments are assigned locally too (a load warning says
 * so) and keep their upstream `matchedExperiment.type`. */
typedef struct pz_experiment {
    const char *feature;
    const char *method;  /* "evidently" or "local" */
    const char *project; /* evidently (informational now); NULL when absent */
    const char *description;
    const pz_metric *metrics;
    size_t n_metrics;
    const double *weights; /* one per variation, in variation order; NULL = equal weights */
    /* Ours: `salt` (string), the first input of the user's bucket hash; default
     * "<namespace>/<recommender>", so the same feature in two recommenders splits users
     * independently. Changing it reshuffles every user. */
    const char *salt;
    const uint32_t *bucket_starts; /* n_variations + 1 bucket boundaries (bucket.h) */
} pz_experiment;

/* ---- responsePostProcessor (§3.6) ---- */
typedef struct pz_post_processor {
    const char *type; /* "lambda" */
    const char *arn;
    double look_ahead_multiplier;    /* >= 1, 0 when absent */
    double look_ahead_maximum_value; /* >= 1, 0 when absent */
} pz_post_processor;

typedef struct pz_recommender {
    const char *key;
    pz_action action;
    const char *name; /* NULL when absent */
    const char *description;
    const pz_variation *variations; /* document order: the first is the default */
    size_t n_variations;
    const pz_experiment *experiments;
    size_t n_experiments;
    const pz_post_processor *post_processor; /* NULL when absent */
    const pz_cache_control *cache_control_view;
    const pz_auto_context *auto_context_view;
    const pz_filters *filters_view;
    const pz_item_metadata *item_metadata_view;
    const pz_rules *rules_view;
    const char *json; /* the recommender object as compact JSON, with inherited keys */
} pz_recommender;

/* ---- eventTargets (§3.11) ---- */
typedef enum pz_event_target_type {
    PZ_TARGET_PERSONALIZE_EVENT_TRACKER,
    PZ_TARGET_KINESIS_STREAM,
    PZ_TARGET_KINESIS_FIREHOSE,
    PZ_TARGET_BUILTIN,
    PZ_TARGET_HTTP,
    PZ_TARGET_FILE,
    PZ_TARGET_KAFKA, /* issue 18: a Kafka topic (librdkafka producer) */
    /* Never configured: the experiment store's own target, which the event pipeline adds to every
     * namespace's experiment records (server/events/pipeline.h). */
    PZ_TARGET_EXPERIMENTS,
} pz_event_target_type;

typedef struct pz_event_target {
    pz_event_target_type type;
    const char *tracking_id;         /* personalize-event-tracker */
    const char *stream_name;         /* kinesis-* */
    const char *url;                 /* http */
    const char *const *header_names; /* http: extra headers */
    const char *const *header_values;
    size_t n_headers;
    const char *path; /* file */
    /* personalize-event-tracker, kinesis-*: our optional `endpointUrl` (http(s) URL, e.g. a VPC
     * endpoint; wins over AWS_ENDPOINT_URL_<SERVICE>) and `region` (wins over AWS_REGION); NULL when
     * absent. */
    const char *endpoint_url;
    const char *region;
    /* kafka: brokers, topic and security options (server/core/kafka_settings.h). */
    pz_kafka_settings kafka;
    /* kafka: this target is the namespace's `eventLog` (it takes the PutEvents shape, since every
     * instance's builtin recommender learns from what it carries). */
    bool event_log;
} pz_event_target;

/* ---- auth (ours, spec §11) ---- */

/* What a request does, for scopes: the route classes. */
typedef enum pz_access {
    PZ_ACCESS_INFERENCE = 0, /* recommend-items, related-items, rerank-items */
    PZ_ACCESS_EVENTS,        /* PutEvents */
    PZ_ACCESS_ADMIN,         /* everything under /admin */
    PZ_ACCESS__COUNT
} pz_access;
#define PZ_ACCESS_BIT(a) (1u << (unsigned)(a))

/* "inference", "events", "admin". */
const char *pz_access_name(pz_access a);

/* A token bucket: `per_second` tokens added per second up to `burst`; per_second 0 = no limit. */
typedef struct pz_rate_limit {
    double per_second;
    double burst;
} pz_rate_limit;

/* JWS algorithms a JWT policy may allow: asymmetric only (RFC 8725 §3.1, §3.2). */
typedef enum pz_jwt_alg { PZ_JWT_RS256 = 0, PZ_JWT_ES256, PZ_JWT_ALG__COUNT } pz_jwt_alg;

#define PZ_SHA256_LEN 32

typedef struct pz_jwt_policy {
    const char *jwks_url; /* exactly one of jwks_url and jwks_file */
    const char *jwks_file;
    const char *issuer;        /* `iss` must equal it */
    const char *audience;      /* NULL: `aud` not checked; else `aud` (string or array) must hold it */
    const char *client_id;     /* NULL: not checked; else `client_id` must equal it (Cognito access tokens) */
    const char *token_use;     /* NULL: not checked; default "access" when the issuer is a Cognito user pool */
    const char *user_id_claim; /* NULL: tokens act for any user; else the claim naming the one user */
    int leeway_seconds;        /* clock skew allowed on exp/nbf/iat; default 60 */
    unsigned algorithms;       /* bits (1 << pz_jwt_alg); default RS256 and ES256 */
    /* Scopes (the token's `scope`/`scp`) that grant each route class, any one of them suffices.
     * A class without an entry: inference and events need none (any valid token, like upstream's
     * edge), admin is never granted to tokens. */
    bool has_required_scopes[PZ_ACCESS__COUNT];
    const char *const *required_scopes[PZ_ACCESS__COUNT];
    size_t n_required_scopes[PZ_ACCESS__COUNT];
    int jwks_min_refresh_seconds; /* an unknown kid refetches the JWKS at most this often; default 60 */
    int jwks_max_age_seconds;     /* keys older than this are refreshed in the background; default 3600 */
} pz_jwt_policy;

typedef struct pz_api_key {
    const char *name;
    unsigned char sha256[PZ_SHA256_LEN]; /* of the key as sent */
    bool all_namespaces;                 /* "namespaces": ["*"] */
    const char *const *namespaces;
    size_t n_namespaces;
    unsigned scopes;    /* PZ_ACCESS_BIT per class */
    int64_t expires_ms; /* 0 = never */
    bool has_rate_limit;
    pz_rate_limit rate_limit; /* overrides the policy's per_api_key */
} pz_api_key;

typedef struct pz_auth_policy {
    bool enabled;               /* a scheme is configured: requests need credentials */
    const pz_jwt_policy *jwt;   /* NULL: no bearer tokens */
    bool api_key_scheme;        /* apiKeys or apiKeysFile is set */
    const pz_api_key *api_keys; /* inline keys, sorted by sha256 (lookups binary-search them) */
    size_t n_api_keys;
    const char *api_keys_file; /* NULL or a keys file {"apiKeys": [...]}, hot-reloaded */
    pz_rate_limit per_api_key, per_subject, per_client_address;
    uint64_t fingerprint; /* differs between blocks that verify differently */
} pz_auth_policy;

typedef struct pz_namespace {
    const char *key;
    const char *name;
    const char *description;
    /* recommenders per action, document order; lookups by key use a sorted index */
    const pz_recommender *recommenders[PZ_ACTION__COUNT];
    size_t n_recommenders[PZ_ACTION__COUNT];
    bool has_event_targets; /* the key is present (even if empty) */
    const pz_event_target *event_targets;
    size_t n_event_targets;
    const pz_cache_control *cache_control_view;
    const pz_auto_context *auto_context_view;
    const pz_item_metadata *item_metadata_view;
    const pz_rules *rules_view;
    const pz_auth_policy *auth_view; /* its own `auth`, else the root's; never NULL */
    /* Ours (issue 18): the Kafka topic every instance produces the namespace's accepted events to
     * (it is also one of event_targets, with event_log set) and consumes into its builtin
     * recommender and response cache; NULL when absent. */
    const pz_kafka_settings *event_log;
} pz_namespace;

typedef struct pz_config pz_config;

/* Most bytes of the document's `version` (a config error beyond): it is echoed on every response
 * (X-Personalization-Config-Version, gRPC metadata) and in /healthz. */
#define PZ_CONFIG_MAX_VERSION_LEN 256

/* Read-only accessors; any thread, while holding a reference. */
const char *pz_config_version(const pz_config *c); /* NULL when the document has none */
/* A number that identifies this snapshot in the process: every snapshot parsed gets a larger one
 * than all before it (unlike `version`, which a reload may leave unchanged). */
unsigned long long pz_config_generation(const pz_config *c);
const char *pz_config_description(const pz_config *c);
const char *pz_config_title(const pz_config *c);
/* The document the snapshot was parsed from, byte for byte (NUL-terminated; *len may be NULL). */
const char *pz_config_text(const pz_config *c, size_t *len);
/* Root `trustedProxies` (ours): the CIDR blocks of the proxies whose X-Forwarded-For / Forwarded
 * headers name the client (server/core/netaddr.h); *n = 0 when absent. */
const pz_cidr *pz_config_trusted_proxies(const pz_config *c, size_t *n);

/* The root's auth policy: never NULL (a disabled policy when the document has no `auth`). */
const pz_auth_policy *pz_config_auth(const pz_config *c);

size_t pz_config_namespace_count(const pz_config *c);
const pz_namespace *pz_config_namespace_at(const pz_config *c, size_t i); /* document order */
/* NULL when unknown. O(log n). */
const pz_namespace *pz_config_namespace(const pz_config *c, const char *key);
/* NULL when the namespace has no such recommender under that action. O(log n). */
const pz_recommender *pz_config_recommender(const pz_namespace *ns, pz_action action, const char *key);
/* Searches every action; the last action holding the key wins (upstream, §3.3). NULL if none. */
const pz_recommender *pz_config_recommender_any_action(const pz_namespace *ns, const char *key);
/* NULL when the recommender has no variation with that key. */
const pz_variation *pz_config_variation(const pz_recommender *r, const char *key);

/* ---- parsing and validation ---- */

typedef struct pz_config_problem {
    bool is_warning; /* warnings (e.g. unknown keys inside recommenders) do not reject */
    char *path;      /* JSON path, e.g. "$.namespaces.retail.recommenders.recommend-items.for-you.variations.a.arn" */
    char *message;
} pz_config_problem;

typedef struct pz_config_problems {
    pz_config_problem *items;
    size_t n;
    size_t n_errors;
} pz_config_problems;

void pz_config_problems_init(pz_config_problems *p);
void pz_config_problems_free(pz_config_problems *p);

/* Parses, validates and compiles a document. Every problem found is appended to `problems`
 * (which may be NULL): all of them, not just the first. Returns a new snapshot with one
 * reference, or NULL when there is at least one error. Any thread. */
pz_config *pz_config_parse(const char *json, size_t len, pz_config_problems *problems);
/* Reads and parses a file; a read error is reported as a problem at path "$". */
pz_config *pz_config_load_file(const char *path, pz_config_problems *problems);

/* A keys file's content, parsed by the rules of `apiKeys` (config_auth.c). Owns its memory. */
typedef struct pz_api_key_set pz_api_key_set;
/* Parses a keys file {"apiKeys": [...]}; problems as for pz_config_parse, with paths from "$". NULL on errors. */
pz_api_key_set *pz_api_key_set_parse(const char *json, size_t len, pz_config_problems *problems);
void pz_api_key_set_free(pz_api_key_set *s);
/* The keys, sorted by sha256 like pz_auth_policy.api_keys. */
const pz_api_key *pz_api_key_set_keys(const pz_api_key_set *s, size_t *n);

/* Reference counting; any thread. unref frees the snapshot when the count reaches zero. */
pz_config *pz_config_ref(pz_config *c);
void pz_config_unref(pz_config *c);

/* ---- the live configuration: current snapshot, atomic swap, reload ---- */

typedef struct pz_config_holder pz_config_holder;

/* One attempt to load a document into the holder, as its listener sees it. */
typedef struct pz_config_load {
    const char *source;                 /* where it came from: "file:PATH", or what the caller of
                                         * pz_config_holder_apply named ("url:...", "admin", ...) */
    const char *text;                   /* the document as read; NULL when it could not be read */
    size_t len;                         /* bytes of text */
    pz_config *config;                  /* the new snapshot when accepted (borrowed), else NULL */
    const pz_config_problems *problems; /* every error and warning found */
} pz_config_load;

/* Told about every load attempt (accepted or rejected), after it was decided and before the
 * snapshot is swapped, under the holder's reload lock: attempts are reported one at a time and
 * in order. Must not call back into the holder's reload functions. */
typedef void (*pz_config_listener)(void *ctx, const pz_config_load *load);

/* Takes ownership of the initial snapshot. `path` (may be NULL for an embedded config or one that
 * comes from elsewhere, see pz_config_holder_apply) is what reloads read. */
pz_config_holder *pz_config_holder_create(pz_config *initial, const char *path);
void pz_config_holder_destroy(pz_config_holder *h);
/* Sets the listener (NULL: none). Call before the holder is shared between threads. */
void pz_config_holder_set_listener(pz_config_holder *h, pz_config_listener fn, void *ctx);
/* Returns the current snapshot with a reference the caller must pz_config_unref. Never NULL.
 * Any thread; never blocks on a reload in progress for longer than a pointer swap. */
pz_config *pz_config_holder_acquire(pz_config_holder *h);
/* Re-reads the file. On success swaps the snapshot (in-flight requests keep theirs) and returns 0;
 * on failure logs every problem, keeps the old snapshot and returns -1. Serialized internally. */
int pz_config_holder_reload(pz_config_holder *h);
/* An ordinary validated reload of a document that comes from elsewhere (a URL, the admin API, a
 * rollback): parses text[0..len), and on success swaps the snapshot and returns 0; on failure
 * keeps the old one and returns -1. Every problem is logged, reported to the listener and, when
 * `problems` is non-NULL, appended to it. `source` says where it came from (logs, listener).
 * Serialized with reloads. Any thread but the listener's. */
int pz_config_holder_apply(pz_config_holder *h, const char *text, size_t len, const char *source,
                           pz_config_problems *problems);
/* Starts a thread that reloads when the file's mtime, size or inode change (checked every
 * `interval_ms`). No-op without a path. Stopped by destroy. */
void pz_config_holder_watch(pz_config_holder *h, int interval_ms);
/* Counters for health/stats: successful reloads and rejected ones. */
void pz_config_holder_stats(pz_config_holder *h, unsigned long *reloads, unsigned long *rejected);
/* Wall-clock time (ms since the epoch) of the last successful swap, or of creation. */
int64_t pz_config_holder_loaded_ms(pz_config_holder *h);

#endif
