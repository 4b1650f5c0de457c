/* libFuzzer target for catalog item lines (server/catalog/catalog_load.c): each line of the input
 * goes through pz_catalog_prepare_item, as the loader and the import folder do with every line
 * of a JSON Lines file. Checked: no crash, leak or UB; a bad line has a non-empty valid UTF-8
 * reason; a good one has an id of 1..PZ_CATALOG_MAX_ID_LEN bytes, NUL-terminated at its length.
 * Built and run by tests/fuzz/run.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/catalog/catalog.h"
#include "server/catalog/catalog_load.h"
#include "server/core/buf.h"
#include "server/core/json_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    const char *p = (const char *)bytes, *end = p + size;
    pz_buf value;
    pz_buf_init(&value, 1u << 24);
    while (p <= end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl != NULL ? nl : end) - p);
        char id[PZ_CATALOG_MAX_ID_LEN + 1];
        size_t id_len = 0;
        char reason[256] = "";
        if (pz_catalog_prepare_item(p, len, id, &id_len, &value, reason, sizeof reason) == 0) {
            if (id_len == 0 || id_len > PZ_CATALOG_MAX_ID_LEN || id[id_len] != '\0')
                abort();
        } else if (reason[0] == '\0' || !pz_utf8_valid(reason, strlen(reason))) {
            abort();
        }
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    pz_buf_free(&value);
    return 0;
}
