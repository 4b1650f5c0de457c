/* One error space for the whole server, mapped once to gRPC status codes and once to HTTP
 * statuses (the google.api.http table), plus the upstream REST error shape {type, code, message}.
 */
#ifndef PZ_STATUS_H
#define PZ_STATUS_H

typedef enum pz_status {
    PZ_OK = 0,
    PZ_INVALID_ARGUMENT,   /* malformed input: 400 / INVALID_ARGUMENT */
    PZ_NOT_FOUND,          /* unknown namespace, recommender, route: 404 / NOT_FOUND */
    PZ_UNAUTHENTICATED,    /* 401 / UNAUTHENTICATED */
    PZ_PERMISSION_DENIED,  /* 403 / PERMISSION_DENIED */
    PZ_RESOURCE_EXHAUSTED, /* throttled, queue full, over a limit: 429 / RESOURCE_EXHAUSTED */
    PZ_UNAVAILABLE,        /* shutting down, recommender unavailable: 503 / UNAVAILABLE */
    PZ_DEADLINE_EXCEEDED,  /* 504 / DEADLINE_EXCEEDED */
    PZ_UPSTREAM_FAILED,    /* a remote recommender failed: 502 / UNAVAILABLE */
    PZ_UNIMPLEMENTED,      /* 501 / UNIMPLEMENTED */
    PZ_INTERNAL,           /* bugs, storage failures, config inconsistencies: 500 / INTERNAL */
    PZ_STATUS__COUNT
} pz_status;

/* Short constant name, e.g. "INVALID_ARGUMENT". Never NULL. */
const char *pz_status_str(pz_status s);
/* HTTP status for s (200 for PZ_OK). */
int pz_status_http(pz_status s);
/* Numeric grpc_status_code for s (0 for PZ_OK); kept free of grpc headers on purpose. */
int pz_status_grpc(pz_status s);

/* An error as the upstream REST API reports it. All strings are static or owned by the request
 * arena that produced the error. */
typedef struct pz_error {
    pz_status status;
    const char *type;    /* upstream category: "Validation", "Configuration", "Unhandled", ... */
    const char *code;    /* upstream error code: "ValidationError", "RecommenderNotConfigured", ... */
    const char *message; /* human-readable, names the offending field or key */
} pz_error;

struct pz_arena;

/* Fills *err (message printf-formatted into the arena) and returns status. */
pz_status pz_error_setf(pz_error *err, struct pz_arena *arena, pz_status status, const char *type, const char *code,
                        const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Upstream error categories. */
#define PZ_ERRTYPE_VALIDATION "Validation"
#define PZ_ERRTYPE_CONFIGURATION "Configuration"
#define PZ_ERRTYPE_UNHANDLED "Unhandled"
#define PZ_ERRTYPE_SERVICE "Service"

#endif
