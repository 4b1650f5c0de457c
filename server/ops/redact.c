/* Redaction of configuration documents (redact.h). */
#include "server/ops/redact.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Member names whose values are secrets (case-insensitive substrings). */
static const char *const SECRET_NAMES[] = {"secret",  "password",   "token",        "apikey",
                                           "api_key", "credential", "authorization"};

static bool secret_name(const char *key)
{
    for (size_t i = 0; i < sizeof SECRET_NAMES / sizeof SECRET_NAMES[0]; i++) {
        if (strcasestr(key, SECRET_NAMES[i]) != NULL)
            return true;
    }
    return false;
}

/* "scheme://user:pass@host..." -> "scheme://[REDACTED]@host..."; NULL when s has no user info. */
static char *without_userinfo(const char *s)
{
    const char *scheme_end = strstr(s, "://");
    if (scheme_end == NULL)
        return NULL;
    const char *authority = scheme_end + 3;
    size_t authority_len = strcspn(authority, "/?#");
    const char *at = memchr(authority, '@', authority_len);
    if (at == NULL)
        return NULL;
    size_t n = (size_t)(authority - s) + sizeof PZ_REDACTED + strlen(at) + 1;
    char *out = malloc(n);
    if (out != NULL)
        snprintf(out, n, "%.*s%s%s", (int)(authority - s), s, PZ_REDACTED, at);
    return out;
}

static void redact_value(json_t *v, bool all);

static void redact_member(json_t *obj, const char *key, json_t *v, bool all)
{
    if (all || secret_name(key)) {
        if (json_is_object(v) || json_is_array(v))
            redact_value(v, true);
        else
            json_object_set_new(obj, key, json_string(PZ_REDACTED));
        return;
    }
    if (strcmp(key, "headers") == 0 && json_is_object(v)) {
        redact_value(v, true);
        return;
    }
    redact_value(v, false);
}

/* all: every scalar inside v is a secret. */
static void redact_value(json_t *v, bool all)
{
    if (json_is_object(v)) {
        const char *key;
        json_t *member;
        void *tmp;
        json_object_foreach_safe (v, tmp, key, member) {
            redact_member(v, key, member, all);
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *item = json_array_get(v, i);
            if (all && !json_is_object(item) && !json_is_array(item))
                json_array_set_new(v, i, json_string(PZ_REDACTED));
            else
                redact_value(item, all);
        }
    } else if (json_is_string(v)) {
        char *clean = without_userinfo(json_string_value(v));
        if (clean != NULL) {
            json_string_set(v, clean);
            free(clean);
        }
    }
}

void pz_redact_config(json_t *doc)
{
    redact_value(doc, false);
}
