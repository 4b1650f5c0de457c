#include "server/recommenders/builtin_names.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    uint64_t instance; /* 0: empty */
    uint32_t id;
    uint8_t len;
    char name[PZB_NAMES_MAX_LEN + 1];
} entry;

_Static_assert(sizeof(entry) == 64, "one cache line per entry");

static atomic_uint_fast64_t next_instance = 1;
static pthread_key_t table_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static _Thread_local entry *table; /* this thread's, or NULL before its first put */

static void make_key(void)
{
    pthread_key_create(&table_key, free); /* frees a thread's table when it ends */
}

uint64_t pzb_names_instance(void)
{
    return atomic_fetch_add(&next_instance, 1);
}

static entry *slot(uint64_t instance, uint32_t id)
{
    /* Fibonacci hashing: consecutive ids (as the store assigns them) spread over the table */
    uint64_t h = ((uint64_t)id ^ (instance << 32)) * 0x9e3779b97f4a7c15ULL;
    return &table[h >> (64 - 11)];
}

_Static_assert(PZB_NAMES_SLOTS == 1 << 11, "slot() takes the hash's top 11 bits");

bool pzb_names_get(uint64_t instance, uint32_t id, const char **name, size_t *len)
{
    if (table == NULL)
        return false;
    const entry *e = slot(instance, id);
    if (e->instance != instance || e->id != id)
        return false;
    *name = e->name;
    *len = e->len;
    return true;
}

void pzb_names_put(uint64_t instance, uint32_t id, const char *name, size_t len)
{
    if (len > PZB_NAMES_MAX_LEN)
        return;
    if (table == NULL) {
        pthread_once(&key_once, make_key);
        table = calloc(PZB_NAMES_SLOTS, sizeof *table);
        if (table == NULL)
            return;
        pthread_setspecific(table_key, table);
    }
    entry *e = slot(instance, id);
    e->instance = instance;
    e->id = id;
    e->len = (uint8_t)len;
    memcpy(e->name, name, len);
    e->name[len] = '\0';
}
