/* Amazon Resource Names (arn.h). */
#include "server/upstream/arn.h"

#include <stddef.h>
#include <string.h>

/* Copies the field at *p (up to the next ':') into out and moves *p past its ':'. Returns 0, or -1
 * when there is no ':' after it or it does not fit. */
static int take_field(const char **p, char *out, size_t cap)
{
    const char *colon = strchr(*p, ':');
    if (colon == NULL || (size_t)(colon - *p) >= cap)
        return -1;
    memcpy(out, *p, (size_t)(colon - *p));
    out[colon - *p] = '\0';
    *p = colon + 1;
    return 0;
}

int pz_arn_parse(const char *arn, pz_arn *out)
{
    memset(out, 0, sizeof *out);
    if (arn == NULL || strncmp(arn, "arn:", 4) != 0)
        return -1;
    const char *p = arn + 4;
    struct {
        char *field;
        size_t cap;
    } const FIELDS[] = {
        {out->partition, sizeof out->partition},
        {out->service, sizeof out->service},
        {out->region, sizeof out->region},
        {out->account, sizeof out->account},
    };
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
        if (take_field(&p, FIELDS[i].field, FIELDS[i].cap) != 0) {
            memset(out, 0, sizeof *out);
            return -1;
        }
    }
    out->resource = p;
    return 0;
}
