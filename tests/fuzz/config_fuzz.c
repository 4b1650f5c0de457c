/* libFuzzer target for the configuration loader (server/core/config*.c): any bytes as a document.
 * Checked: no crash, leak or UB; a rejected document has at least one error; every problem has a
 * JSON path starting with '$' and a non-empty, valid UTF-8 message; an accepted document answers
 * its lookups (each namespace by key, its recommenders of every action) and its version fits the
 * limit. Built and run by tests/fuzz/run.sh (`tests/fuzz/run.sh 60 config`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/config.h"
#include "server/core/json_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    pz_config_problems p;
    pz_config_problems_init(&p);
    pz_config *c = pz_config_parse((const char *)bytes, size, &p);
    if (c == NULL && p.n_errors == 0)
        abort();
    for (size_t i = 0; i < p.n; i++) {
        const pz_config_problem *q = &p.items[i];
        if (q->path == NULL || q->path[0] != '$' || q->message == NULL || q->message[0] == '\0' ||
            !pz_utf8_valid(q->message, strlen(q->message)))
            abort();
    }
    if (c != NULL) {
        const char *v = pz_config_version(c);
        if (v != NULL && strlen(v) > PZ_CONFIG_MAX_VERSION_LEN)
            abort();
        for (size_t i = 0; i < pz_config_namespace_count(c); i++) {
            const pz_namespace *ns = pz_config_namespace_at(c, i);
            if (pz_config_namespace(c, ns->key) != ns)
                abort();
            for (int a = 0; a < PZ_ACTION__COUNT; a++)
                (void)pz_config_recommender(ns, (pz_action)a, "r");
        }
        pz_config_unref(c);
    }
    pz_config_problems_free(&p);
    return 0;
}
