/* The automatic-context rule engine (spec §3.9, §6.2): the fields of an `autoContext` (or a
 * filter's `autoDynamicFilterValues`) block resolved against one request's inputs.
 *
 * Per field, rules run in order. A rule yields a raw value:
 *   header-value    the named request header's value (a string); an absent header yields nothing.
 *                   Names match case-insensitively (§14 #11): the config lower-cases them and
 *                   the source looks them up in lower case.
 *   hour-of-day     0..23 (a number) on the viewer's wall clock,
 *   day-of-week     0..6, Monday = 0,
 *   season-of-year  0 spring, 1 summer, 2 fall, 3 winter by fixed dates (spring 3/21-6/20,
 *                   summer 6/21-9/22, fall 9/23-12/22, winter otherwise), shifted by two when
 *                   the `cloudfront-viewer-latitude` header parses as a number below 0 (§14 #7).
 * With `valueMappings` the first mapping whose operator matches decides the rule's value (its
 * `mapTo`); none matching yields nothing. Without them the raw value is the rule's value.
 *   equals               type-aware: a string equals an equal string, a number an equal number,
 *                        a boolean an equal boolean ("807" does not equal 807);
 *   less-than,           numeric: both sides as numbers (a string that is entirely a finite
 *   greater-than         number counts as one); anything else does not match (§14);
 *   contains,            on the text of both sides (numbers in their shortest form, booleans as
 *   starts-with,         true/false).
 *   ends-with
 * Only absence means "no value": 0, "" and false are values (§14 #9). evaluateAll false stops at
 * the first rule that yields a value; true runs every rule and keeps the distinct values in
 * first-seen order (§14 #10). With no value and a `default`, the default is the value.
 *
 * Time comes from the source (the viewer's zone and the injected clock: server/core/viewer.h),
 * so this module is pure: no clock, no I/O, any thread.
 */
#ifndef PZ_CONTEXT_H
#define PZ_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "server/core/config.h"
#include "server/core/mem.h"
#include "server/core/tz.h"

typedef enum pz_value_kind {
    PZ_VALUE_STRING,
    PZ_VALUE_NUMBER,
    PZ_VALUE_BOOL,
} pz_value_kind;

typedef struct pz_value {
    pz_value_kind kind;
    const char *string; /* PZ_VALUE_STRING */
    double number;      /* PZ_VALUE_NUMBER */
    bool boolean;       /* PZ_VALUE_BOOL */
} pz_value;

/* One field's resolution: {values, type} (§6.2 step 6). */
typedef struct pz_resolved_field {
    const char *name;
    pz_field_type type;
    const pz_value *values; /* at least one */
    size_t n_values;
} pz_resolved_field;

/* The fields that resolved to at least one value, in the block's order. */
typedef struct pz_resolved_context {
    const pz_resolved_field *fields;
    size_t n_fields;
} pz_resolved_context;

/* Where the rules read their inputs. */
typedef struct pz_context_source {
    void *self;
    /* The value of the request header `lname` (lower case) NUL-terminated, or NULL when absent. */
    const char *(*header)(void *self, const char *lname);
    /* The viewer's wall clock now. Called only when a time rule runs. */
    const pz_civil_time *(*local_time)(void *self);
} pz_context_source;

/* Resolves every field of ac (NULL: none) into *out; results live in the arena. */
void pz_context_resolve(const pz_auto_context *ac, const pz_context_source *src, pz_arena *arena,
                        pz_resolved_context *out);

/* The season (0..3) of date t, for a latitude header value (NULL or not a number: northern). */
int pz_context_season(const pz_civil_time *t, const char *latitude);

/* A config scalar as a value. */
pz_value pz_value_from_scalar(const pz_scalar *s);

/* The text of a value: strings as they are, numbers in their shortest round-trip form (5, 1.5),
 * booleans as true/false. In the arena (strings are not copied). */
const char *pz_value_text(const pz_value *v, pz_arena *arena);

/* Same kind and same value. */
bool pz_value_equal(const pz_value *a, const pz_value *b);

/* "string", "integer", "long", "float", "number" or "boolean". */
const char *pz_field_type_name(pz_field_type t);

#endif
