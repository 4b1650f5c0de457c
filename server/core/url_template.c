#include "server/core/url_template.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *const NAMES[] = {"namespace", "recommender",   "user_id",       "userId", "item_id",
                                    "itemId",    "itemIds",       "numResults",    "filter", "filterValues",
                                    "context",   "decorateItems", "syntheticUser", "feature"};

bool pz_url_template_builtin(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        if (strlen(NAMES[i]) == len && memcmp(NAMES[i], name, len) == 0)
            return true;
    return false;
}

int pz_url_template_check(const char *tmpl, char *err, size_t errlen)
{
    for (const char *p = tmpl; *p != '\0'; p++) {
        if (*p == '}') {
            snprintf(err, errlen, "'}' at offset %zu closes no placeholder", (size_t)(p - tmpl));
            return -1;
        }
        if (*p != '{')
            continue;
        const char *end = strchr(p + 1, '}');
        const char *next_open = strchr(p + 1, '{');
        if (end == NULL || (next_open != NULL && next_open < end)) {
            snprintf(err, errlen, "placeholder at offset %zu is not closed with '}'", (size_t)(p - tmpl));
            return -1;
        }
        size_t len = (size_t)(end - p - 1);
        if (len == 0 || len >= PZ_URL_TEMPLATE_MAX_NAME) {
            snprintf(err, errlen, "placeholder at offset %zu must name 1 to %d characters", (size_t)(p - tmpl),
                     PZ_URL_TEMPLATE_MAX_NAME - 1);
            return -1;
        }
        p = end;
    }
    return 0;
}

void pz_url_template_each(const char *tmpl, pz_url_template_visit visit, void *ctx)
{
    for (const char *p = strchr(tmpl, '{'); p != NULL; p = strchr(p, '{')) {
        const char *end = strchr(p + 1, '}');
        if (end == NULL)
            return;
        visit(ctx, p + 1, (size_t)(end - p - 1));
        p = end + 1;
    }
}

int pz_url_encode(const char *s, pz_buf *out)
{
    static const char HEX[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        unsigned char ch = *p;
        bool unreserved = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                          ch == '-' || ch == '.' || ch == '_' || ch == '~';
        if (unreserved) {
            if (pz_buf_append_char(out, (char)ch) != 0)
                return -1;
        } else {
            char enc[3] = {'%', HEX[ch >> 4], HEX[ch & 15]};
            if (pz_buf_append(out, enc, 3) != 0)
                return -1;
        }
    }
    return 0;
}

int pz_url_template_expand(const char *tmpl, pz_url_template_lookup lookup, void *ctx, pz_buf *out)
{
    const char *p = tmpl;
    while (*p != '\0') {
        const char *open = strchr(p, '{');
        if (open == NULL)
            return pz_buf_append_str(out, p);
        if (pz_buf_append(out, p, (size_t)(open - p)) != 0)
            return -1;
        const char *end = strchr(open + 1, '}');
        size_t len = end != NULL ? (size_t)(end - open - 1) : 0;
        if (end == NULL || len == 0 || len >= PZ_URL_TEMPLATE_MAX_NAME || memchr(open + 1, '{', len) != NULL)
            return -1;
        char name[PZ_URL_TEMPLATE_MAX_NAME];
        memcpy(name, open + 1, len);
        name[len] = '\0';
        const char *value = lookup(ctx, name);
        if (value != NULL && pz_url_encode(value, out) != 0)
            return -1;
        p = end + 1;
    }
    if (out->data == NULL)
        return pz_buf_append(out, "", 0);
    return 0;
}
