/* Connection admission for the fronts: a cap on open connections in total and per client address,
 * and a penalty box that refuses an address for a while after it was caught abusing a connection.
 *
 * Both fronts ask before they serve an accepted socket (pz_conn_limits_admit) and give the slot
 * back when the connection closes (pz_conn_limits_release). Addresses are compared without their
 * port; an IPv4-mapped IPv6 address counts as its IPv4 address. Thread-safe: one table may be
 * shared by every loop of a front.
 */
#ifndef PZ_NET_CONN_LIMITS_H
#define PZ_NET_CONN_LIMITS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct pz_conn_limits pz_conn_limits;

typedef enum pz_conn_verdict {
    PZ_CONN_ADMITTED = 0,
    PZ_CONN_OVER_TOTAL,    /* max_total connections are open */
    PZ_CONN_OVER_PER_ADDR, /* this address has max_per_addr open */
    PZ_CONN_PENALIZED,     /* this address is in the penalty box */
} pz_conn_verdict;

/* max_total / max_per_addr: 0 means no cap. */
pz_conn_limits *pz_conn_limits_create(size_t max_total, size_t max_per_addr);
void pz_conn_limits_destroy(pz_conn_limits *l);

/* Counts the connection in when admitted; now_ms is any monotonic clock (the penalty box's). */
pz_conn_verdict pz_conn_limits_admit(pz_conn_limits *l, const struct sockaddr *peer, int64_t now_ms);
/* Gives back the slot of an admitted connection from peer. */
void pz_conn_limits_release(pz_conn_limits *l, const struct sockaddr *peer);
/* Refuses new connections from peer's address until now_ms + for_ms. */
void pz_conn_limits_penalize(pz_conn_limits *l, const struct sockaddr *peer, int64_t now_ms, int64_t for_ms);

/* Open connections in total / from peer's address. */
size_t pz_conn_limits_open(pz_conn_limits *l);
size_t pz_conn_limits_open_from(pz_conn_limits *l, const struct sockaddr *peer);

/* A short name for a verdict, for logs ("total", "per-address", "penalized"). */
const char *pz_conn_verdict_str(pz_conn_verdict v);

#endif
