#include "server/net/conn_limits.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/hash.h"
#include "server/core/mem.h"

/* An address without its port: 4 bytes (IPv4) or 16 (IPv6), tagged by length. */
#define ADDR_MAX 16
#define IPV4_LEN 4
#define IPV6_LEN 16
/* ::ffff:a.b.c.d carries an IPv4 address in its last 4 bytes. */
#define V4MAPPED_PREFIX_LEN 12

typedef struct addr_key {
    uint8_t len;
    uint8_t bytes[ADDR_MAX];
} addr_key;

/* One address seen: its open connections and until when it is refused. An entry with neither is
 * removed, so the table holds at most (open connections + penalized addresses) entries. */
typedef struct addr_entry {
    addr_key key;
    size_t open;
    int64_t penalized_until_ms;
    struct addr_entry *next;
} addr_entry;

/* Buckets of the address table: a power of two; chains stay short up to tens of thousands of
 * distinct addresses, and the table costs 32 KiB. */
#define N_BUCKETS 4096

struct pz_conn_limits {
    pthread_mutex_t mu;
    size_t max_total, max_per_addr;
    size_t open;
    addr_entry *buckets[N_BUCKETS];
};

static bool key_of(const struct sockaddr *sa, addr_key *k)
{
    memset(k, 0, sizeof *k);
    if (sa->sa_family == AF_INET) {
        k->len = IPV4_LEN;
        memcpy(k->bytes, &((const struct sockaddr_in *)sa)->sin_addr, IPV4_LEN);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            k->len = IPV4_LEN;
            memcpy(k->bytes, a->s6_addr + V4MAPPED_PREFIX_LEN, IPV4_LEN);
        } else {
            k->len = IPV6_LEN;
            memcpy(k->bytes, a->s6_addr, IPV6_LEN);
        }
        return true;
    }
    return false; /* unix sockets and the like: no address to count by */
}

static addr_entry **slot_of(pz_conn_limits *l, const addr_key *k)
{
    uint64_t h = pz_hash64(k->bytes, k->len, 0);
    addr_entry **p = &l->buckets[h & (N_BUCKETS - 1)];
    while (*p != NULL && !((*p)->key.len == k->len && memcmp((*p)->key.bytes, k->bytes, k->len) == 0))
        p = &(*p)->next;
    return p;
}

static addr_entry *get_or_add(addr_entry **slot, const addr_key *k)
{
    if (*slot == NULL) {
        *slot = pz_calloc(1, sizeof **slot);
        (*slot)->key = *k;
    }
    return *slot;
}

static void drop_if_unused(addr_entry **slot, int64_t now_ms)
{
    addr_entry *e = *slot;
    if (e != NULL && e->open == 0 && e->penalized_until_ms <= now_ms) {
        *slot = e->next;
        free(e);
    }
}

pz_conn_limits *pz_conn_limits_create(size_t max_total, size_t max_per_addr)
{
    pz_conn_limits *l = pz_calloc(1, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    l->max_total = max_total;
    l->max_per_addr = max_per_addr;
    return l;
}

void pz_conn_limits_destroy(pz_conn_limits *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        while (l->buckets[i] != NULL) {
            addr_entry *e = l->buckets[i];
            l->buckets[i] = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&l->mu);
    free(l);
}

pz_conn_verdict pz_conn_limits_admit(pz_conn_limits *l, const struct sockaddr *peer, int64_t now_ms)
{
    addr_key k;
    bool has_addr = key_of(peer, &k);
    pz_conn_verdict v = PZ_CONN_ADMITTED;
    pthread_mutex_lock(&l->mu);
    addr_entry **slot = has_addr ? slot_of(l, &k) : NULL;
    addr_entry *e = slot != NULL ? *slot : NULL;
    if (e != NULL && e->penalized_until_ms > now_ms)
        v = PZ_CONN_PENALIZED;
    else if (l->max_total > 0 && l->open >= l->max_total)
        v = PZ_CONN_OVER_TOTAL;
    else if (l->max_per_addr > 0 && e != NULL && e->open >= l->max_per_addr)
        v = PZ_CONN_OVER_PER_ADDR;
    if (v == PZ_CONN_ADMITTED) {
        l->open++;
        if (slot != NULL)
            get_or_add(slot, &k)->open++;
    } else if (slot != NULL) {
        drop_if_unused(slot, now_ms); /* an expired penalty leaves nothing behind */
    }
    pthread_mutex_unlock(&l->mu);
    return v;
}

void pz_conn_limits_release(pz_conn_limits *l, const struct sockaddr *peer)
{
    addr_key k;
    bool has_addr = key_of(peer, &k);
    pthread_mutex_lock(&l->mu);
    if (l->open > 0)
        l->open--;
    if (has_addr) {
        addr_entry **slot = slot_of(l, &k);
        if (*slot != NULL && (*slot)->open > 0)
            (*slot)->open--;
        /* a penalty still running keeps the entry; admit drops it once it expired */
        if (*slot != NULL && (*slot)->open == 0 && (*slot)->penalized_until_ms == 0)
            drop_if_unused(slot, 0);
    }
    pthread_mutex_unlock(&l->mu);
}

void pz_conn_limits_penalize(pz_conn_limits *l, const struct sockaddr *peer, int64_t now_ms, int64_t for_ms)
{
    addr_key k;
    if (!key_of(peer, &k))
        return;
    pthread_mutex_lock(&l->mu);
    addr_entry *e = get_or_add(slot_of(l, &k), &k);
    if (e->penalized_until_ms < now_ms + for_ms)
        e->penalized_until_ms = now_ms + for_ms;
    pthread_mutex_unlock(&l->mu);
}

size_t pz_conn_limits_open(pz_conn_limits *l)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->open;
    pthread_mutex_unlock(&l->mu);
    return n;
}

size_t pz_conn_limits_open_from(pz_conn_limits *l, const struct sockaddr *peer)
{
    addr_key k;
    if (!key_of(peer, &k))
        return 0;
    pthread_mutex_lock(&l->mu);
    addr_entry *e = *slot_of(l, &k);
    size_t n = e != NULL ? e->open : 0;
    pthread_mutex_unlock(&l->mu);
    return n;
}

const char *pz_conn_verdict_str(pz_conn_verdict v)
{
    static const char *const names[] = {
        [PZ_CONN_ADMITTED] = "admitted",
        [PZ_CONN_OVER_TOTAL] = "total",
        [PZ_CONN_OVER_PER_ADDR] = "per-address",
        [PZ_CONN_PENALIZED] = "penalized",
    };
    return (size_t)v < sizeof names / sizeof names[0] ? names[v] : "?";
}
