#include "server/core/tz_db.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/core/hash.h"
#include "server/core/log.h"
#include "server/core/mem.h"

#define N_BUCKETS 512

typedef struct entry {
    struct entry *next;
    pz_tz_zone *zone; /* NULL: a name known to be unknown */
    char name[];
} entry;

struct pz_tz_db {
    char *dir;
    pthread_rwlock_t lock;
    entry *buckets[N_BUCKETS];
    size_t n_zones, n_unknown;
    bool warned_full;
    pz_tz_zone *utc; /* for the UTC names when the directory lacks them */
};

/* Names that mean UTC whether or not the directory has them. */
static const char *const UTC_NAMES[] = {"UTC", "Etc/UTC", "GMT", "Etc/GMT"};

pz_tz_db *pz_tz_db_create(const char *dir)
{
    pz_tz_db *db = pz_calloc(1, sizeof *db);
    const char *env = getenv("TZDIR");
    db->dir = pz_strdup(dir != NULL ? dir : env != NULL && env[0] != '\0' ? env : PZ_TZ_DEFAULT_DIR);
    pthread_rwlock_init(&db->lock, NULL);
    db->utc = pz_tz_zone_fixed(0);
    return db;
}

void pz_tz_db_destroy(pz_tz_db *db)
{
    if (db == NULL)
        return;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        for (entry *e = db->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            pz_tz_zone_free(e->zone);
            free(e);
        }
    }
    pz_tz_zone_free(db->utc);
    pthread_rwlock_destroy(&db->lock);
    free(db->dir);
    free(db);
}

static bool name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '_' ||
           c == '+' || c == '-' || c == '.';
}

bool pz_tz_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > PZ_TZ_MAX_NAME_LEN || name[0] == '/' || (len >= 6 && memcmp(name, "right/", 6) == 0))
        return false;
    size_t component_start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || name[i] == '/') {
            size_t n = i - component_start;
            /* no empty components, and none starting with '.' ("..", ".", hidden files) */
            if (n == 0 || name[component_start] == '.')
                return false;
            component_start = i + 1;
        } else if (!name_char(name[i])) {
            return false;
        }
    }
    return true;
}

static entry **bucket_of(pz_tz_db *db, const char *name, size_t len)
{
    return &db->buckets[pz_hash64(name, len, 0) % N_BUCKETS];
}

static entry *find(pz_tz_db *db, const char *name, size_t len)
{
    for (entry *e = *bucket_of(db, name, len); e != NULL; e = e->next) {
        if (strlen(e->name) == len && memcmp(e->name, name, len) == 0)
            return e;
    }
    return NULL;
}

/* Reads and parses the zone file for a valid name; NULL when there is none or it is not TZif. */
static pz_tz_zone *load(pz_tz_db *db, const char *name, size_t len)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%.*s", db->dir, (int)len, name) >= (int)sizeof path)
        return NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    pz_tz_zone *zone = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && st.st_size <= (off_t)PZ_TZIF_MAX_BYTES) {
        size_t size = (size_t)st.st_size, got = 0;
        unsigned char *data = pz_malloc(size);
        while (got < size) {
            ssize_t n = read(fd, data + got, size - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        char err[160];
        if (got == size && (zone = pz_tzif_parse(data, size, err, sizeof err)) == NULL)
            pz_debug("time zone %s: %s", path, err);
        free(data);
    }
    close(fd);
    return zone;
}

static pz_tz_zone *builtin_utc(pz_tz_db *db, const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof UTC_NAMES / sizeof UTC_NAMES[0]; i++) {
        if (strlen(UTC_NAMES[i]) == len && memcmp(UTC_NAMES[i], name, len) == 0)
            return db->utc;
    }
    return NULL;
}

const pz_tz_zone *pz_tz_db_zone(pz_tz_db *db, const char *name, size_t len)
{
    if (!pz_tz_name_valid(name, len))
        return NULL;
    pthread_rwlock_rdlock(&db->lock);
    entry *e = find(db, name, len);
    const pz_tz_zone *found = e != NULL ? e->zone : NULL;
    pthread_rwlock_unlock(&db->lock);
    if (e != NULL)
        return found != NULL ? found : builtin_utc(db, name, len);

    pz_tz_zone *zone = load(db, name, len); /* outside the lock: two first lookups may both read */
    pthread_rwlock_wrlock(&db->lock);
    e = find(db, name, len);
    if (e != NULL) { /* another thread was first */
        pz_tz_zone_free(zone);
        zone = e->zone;
    } else if ((zone != NULL && db->n_zones >= PZ_TZ_DB_MAX_ZONES) ||
               (zone == NULL && db->n_unknown >= PZ_TZ_DB_MAX_UNKNOWN)) {
        if (zone != NULL && !db->warned_full) {
            db->warned_full = true;
            pz_warn("time zones: more than %d zones in use; further zones are treated as unknown", PZ_TZ_DB_MAX_ZONES);
        }
        pz_tz_zone_free(zone);
        zone = NULL;
    } else {
        e = pz_malloc(sizeof *e + len + 1);
        memcpy(e->name, name, len);
        e->name[len] = '\0';
        e->zone = zone;
        entry **b = bucket_of(db, name, len);
        e->next = *b;
        *b = e;
        if (zone != NULL)
            db->n_zones++;
        else
            db->n_unknown++;
    }
    pthread_rwlock_unlock(&db->lock);
    return zone != NULL ? zone : builtin_utc(db, name, len);
}

void pz_tz_db_counts(pz_tz_db *db, size_t *zones, size_t *unknown)
{
    pthread_rwlock_rdlock(&db->lock);
    *zones = db->n_zones;
    *unknown = db->n_unknown;
    pthread_rwlock_unlock(&db->lock);
}
