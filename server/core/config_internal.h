/* Private to the config module (config*.c, the files named in each section below): the
 * snapshot layout and the validation context shared by the document walker. Not for other
 * modules: include server/core/config.h instead.
 *
 * The walker validates and builds in one pass: every parse function checks its JSON subtree,
 * appends problems at precise JSON paths, and fills arena-allocated structures as far as the
 * input allows. The result is kept only when no error was reported.
 */
#ifndef PZ_CONFIG_INTERNAL_H
#define PZ_CONFIG_INTERNAL_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "server/core/config.h"
#include "server/core/mem.h"

/* A namespace plus its lookup indexes; pz_namespace pointers handed out always point into one. */
typedef struct cfg_namespace {
    pz_namespace pub;
    const pz_recommender **sorted[PZ_ACTION__COUNT]; /* by key, for bsearch */
    pz_action action_order[PZ_ACTION__COUNT];        /* actions in document order */
    size_t n_action_order;
} cfg_namespace;

struct pz_config {
    atomic_size_t refs;
    unsigned long long generation;
    pz_arena arena; /* everything below lives in it */
    const char *version;
    const char *description;
    const char *title;
    const char *text; /* the document as parsed */
    size_t text_len;
    const pz_cidr *trusted_proxies;
    size_t n_trusted_proxies;
    const pz_auth_policy *auth; /* never NULL */
    cfg_namespace *namespaces;  /* document order */
    size_t n_namespaces;
    const cfg_namespace **sorted_namespaces;
};

/* ---- validation context (config_check.c) ---- */

#define CFG_PATH_MAX 1024

typedef struct cfg_ctx {
    pz_arena *arena;
    pz_config_problems *problems;
    char path[CFG_PATH_MAX];
    size_t path_len;
} cfg_ctx;

/* Appends ".key" (or ["key"] when the key needs quoting) to the path; returns the previous length
 * for cfg_pop. Overlong paths are truncated with "...". */
size_t cfg_push_key(cfg_ctx *c, const char *key);
size_t cfg_push_index(cfg_ctx *c, size_t index);
void cfg_pop(cfg_ctx *c, size_t mark);

/* Appends a problem at the current path (or the current path + key). */
void cfg_error(cfg_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cfg_warn(cfg_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cfg_error_at(cfg_ctx *c, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cfg_warn_at(cfg_ctx *c, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Appends a problem with an explicit path (used for "$" and I/O errors). */
void cfg_problem_add(pz_config_problems *p, bool is_warning, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
size_t cfg_error_count(const cfg_ctx *c);

/* "object", "array", "string", "number", "boolean" or "null". */
const char *cfg_type_name(const json_t *v);

/* Checks that `v` is an object, reporting at the current path otherwise. */
bool cfg_expect_object(cfg_ctx *c, json_t *v, const char *what);

/* ---- declared members (config_check.c) ----
 * Every config object declares its members once, as rows (key, kind, range, presence). The
 * unknown-key check derives its allow-list from the rows, in row order, and the readers below take
 * a row instead of re-spelling its key. Objects whose members depend on a `type` (variations,
 * event targets, item metadata, rules) mark the rows that apply to some types only. The readers
 * assert that a row's kind and presence fit them, so a row that disagrees with its reader fails
 * the tests. */

typedef enum cfg_kind {
    CFG_ANY,     /* shape checked by the walker: a string or a number (pz_scalar) */
    CFG_STRING,  /* also the enums (cfg_enum) */
    CFG_NUMBER,  /* >= min */
    CFG_INTEGER, /* from min to max; an integral real (10.0) counts */
    CFG_BOOL,
    CFG_OBJECT, /* read by the walker with cfg_get, which reports its own shape errors */
    CFG_ARRAY,  /* likewise */
} cfg_kind;

typedef enum cfg_presence {
    CFG_OPTIONAL = 0,
    CFG_REQUIRED,    /* missing is an error wherever the member applies; the readers report it */
    CFG_REQUIRED_IF, /* required in some cases only (strict level, a method, a billing mode): the walker
                      * checks, with a message saying when */
} cfg_presence;

typedef struct cfg_member {
    const char *key;
    cfg_kind kind;
    cfg_presence presence;
    double min, max; /* CFG_INTEGER: the range; CFG_NUMBER: min; CFG_STRING: max is the most bytes
                      * (0: no limit) */
    unsigned only;   /* 0: a member of every variant; else CFG_VARIANT bits of the variants it is one of */
    /* CFG_STRING: informational text that reaches no header, URL or log line (names,
     * descriptions): control characters allowed. Every other string is refused with one (CR, LF,
     * TAB, any C0, DEL): it could split a header, change a URL or forge a log line. */
    bool free_text;
} cfg_member;

/* The bit of variant v (a type enum value) for cfg_member.only and cfg_check_members. */
#define CFG_VARIANT(v) (1u << (unsigned)(v))

/* Reports every key of `obj` that is not one of the n `members` applying to `variant` (a
 * CFG_VARIANT bit, or 0 for an object without variants): as an error when `strict`, else as a
 * warning that the key is ignored. The message lists the members in row order; `what` names the
 * object. */
void cfg_check_members(cfg_ctx *c, json_t *obj, const cfg_member *const *members, size_t n, unsigned variant,
                       bool strict, const char *what);

/* obj[m->key], or NULL when missing; cfg_get_nonnull also treats null as missing (the inherited
 * keys, spec §3.12). No problem is reported. */
json_t *cfg_get(json_t *obj, const cfg_member *m);
json_t *cfg_get_nonnull(json_t *obj, const cfg_member *m);

/* Typed readers. A missing member yields false / NULL / -1, reported only when the member is
 * CFG_REQUIRED; a wrong type, a range violation, an empty required string or a control character
 * in a string that is not free_text is reported at path.key. `expected` describes the value in
 * messages (required strings and enums). */
const char *cfg_string(cfg_ctx *c, json_t *obj, const cfg_member *m, const char *expected);
/* cfg_string for a CFG_REQUIRED_IF member whose condition holds: missing is an error. */
const char *cfg_string_required(cfg_ctx *c, json_t *obj, const cfg_member *m, const char *expected);
bool cfg_bool(cfg_ctx *c, json_t *obj, const cfg_member *m, bool dflt);
bool cfg_int(cfg_ctx *c, json_t *obj, const cfg_member *m, int *out);
bool cfg_number(cfg_ctx *c, json_t *obj, const cfg_member *m, double *out);
/* A string or number (autoContext default/value/mapTo). */
bool cfg_scalar(cfg_ctx *c, json_t *obj, const cfg_member *m, pz_scalar *out);

typedef struct cfg_name_value {
    const char *name;
    int value;
} cfg_name_value;

/* Reads a string member as one of `table`'s names. Reports a missing (when required), mistyped or
 * unknown value, listing `expected` in the message. Returns the value, or -1 when absent or
 * invalid. */
int cfg_enum(cfg_ctx *c, json_t *obj, const cfg_member *m, const cfg_name_value *table, size_t n, const char *expected);

/* The offset of the first control character (U+0000-U+001F, U+007F) in s[0..len), or -1. */
long cfg_control_char_at(const char *s, size_t len);
/* Reports, at the current path + key, that a value holds a control character at byte `at`. */
void cfg_error_control_char(cfg_ctx *c, const char *key, const char *s, long at);

/* Patterns, matched against the whole string. */
bool cfg_is_path_key(const char *s);    /* ^[a-zA-Z0-9_-]+$ (namespace/recommender/variation) */
bool cfg_is_alnum_key(const char *s);   /* ^[a-zA-Z0-9]+$ (autoContext field) */
bool cfg_is_feature_key(const char *s); /* ^[-a-zA-Z0-9._]*$ */
bool cfg_is_http_token(const char *s);  /* an HTTP header field name (RFC 9110 token) */
bool cfg_is_http_url(const char *s);    /* http:// or https:// followed by a host */
bool cfg_is_region(const char *s);      /* an AWS region code, e.g. us-east-1 */

/* ARNs: arn:{partition}:{service}:{region}:{12-digit account}:{resource}. Returns the resource
 * part (pointing into s) when the ARN is well formed for `service`, else NULL. */
const char *cfg_arn_resource(const char *s, const char *service);
/* Personalize campaign/recommender ARN; sets *is_recommender from the resource prefix. */
bool cfg_is_personalize_arn(const char *s, bool *is_recommender);
bool cfg_is_personalize_filter_arn(const char *s);
bool cfg_is_lambda_arn(const char *s);

/* ---- reusable blocks (config_blocks.c) ----
 * Each returns an arena-allocated block or NULL when `v` is missing/null or malformed. `strict`
 * is true at root and namespace level (upstream's schema applies: unknown keys are errors, every
 * cache class is required), false inside recommenders (unknown keys warn, partial blocks allowed). */
const pz_cache_control *cfg_parse_cache_control(cfg_ctx *c, json_t *v, bool strict);
/* key_is_field_name: autoContext fields (^[a-zA-Z0-9]+$) vs filter parameters (^[a-zA-Z0-9_-]+$). */
const pz_auto_context *cfg_parse_auto_context(cfg_ctx *c, json_t *v, bool strict, bool key_is_field_name);
const pz_filters *cfg_parse_filters(cfg_ctx *c, json_t *v);
/* at_namespace: false warns that the sidecar types only take effect at namespace level. */
const pz_item_metadata *cfg_parse_item_metadata(cfg_ctx *c, json_t *v, bool strict, bool at_namespace);

/* The `rules` block (config_rules.c): NULL when v is missing or has errors. */
const pz_rules *cfg_parse_rules(cfg_ctx *c, json_t *v);
/* ---- auth (config_auth.c) ---- */

/* The policy of a document or namespace without `auth`: nothing is required. */
extern const pz_auth_policy cfg_auth_none;
/* Parses an `auth` block (root or namespace; NULL when v is missing or malformed). Secrets and key
 * hashes are never quoted in problems. */
const pz_auth_policy *cfg_parse_auth(cfg_ctx *c, json_t *v);

/* ---- Kafka settings (config_kafka.c, issue 18) ---- */
/* The members of a {"type": "kafka", ...} event target (type already read). */
void cfg_parse_kafka_target(cfg_ctx *c, json_t *v, pz_event_target *t);
/* A namespace's `eventLog` (v NULL when absent): sets ns->event_log and appends the log to the
 * namespace's event targets (call after they are parsed). */
void cfg_parse_event_log(cfg_ctx *c, json_t *v, pz_namespace *ns);

/* ---- the document (config_parse.c) ---- */

/* "description": free text, at every level of the document. */
extern const cfg_member CFG_DESCRIPTION;
/* The variation of vars with this key, or NULL. */
const pz_variation *cfg_find_variation(const pz_variation *vars, size_t n, const char *key);
/* A recommender's `experiments` (config_experiments.c; v not NULL, the path at its key), checked
 * against r's variations (parsed first) and stored in r. */
void cfg_parse_experiments(cfg_ctx *c, json_t *v, const char *ns_key, pz_recommender *r);
/* A namespace's `eventTargets` (config_targets.c; v not NULL, the path at its key), stored in ns. */
void cfg_parse_event_targets(cfg_ctx *c, json_t *v, pz_namespace *ns);

/* Validates and builds the whole document into `cfg` (whose arena is initialized). Problems go to
 * c->problems; the caller discards cfg when any error was reported. */
void cfg_parse_document(cfg_ctx *c, json_t *root, pz_config *cfg);

/* ---- the text (config_text.c) ---- */

/* Warns about every key given twice in one object of the document text (which jansson accepted):
 * the last value wins, as in upstream's Python loader, and the warning names the path. */
void cfg_warn_duplicate_keys(cfg_ctx *c, const char *text, size_t len);
/* Errors for what no value may hold, wherever it is: a control character in a key (keys name
 * objects in every message and log line) and a NUL in a string (C strings end there). */
void cfg_check_characters(cfg_ctx *c, json_t *root);

#endif
