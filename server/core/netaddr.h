/* Client addresses: IPv4/IPv6 addresses and CIDR blocks, and who the client of a request is when
 * it came through proxies.
 *
 * pz_client_ip: the socket peer is the client, unless the peer is a trusted proxy (in the
 * configuration's `trustedProxies` CIDR list). Then the forwarding headers are read: `Forwarded`
 * (RFC 7239, its `for=` parameters) when the request has one, else `X-Forwarded-For`; every
 * occurrence of the header, in order, makes one list of hops. The list is walked from the right
 * (the hop nearest to us): trusted addresses are skipped, and the first untrusted one is the
 * client. When every hop is trusted the leftmost one is the client. A hop that is not an address
 * ("unknown", an obfuscated "_name", garbage) ends the walk: the client is then the nearest
 * address to its right (a trusted proxy), as nothing further left can be believed. At most
 * PZ_MAX_FORWARDED_HOPS hops (the rightmost ones) are read.
 *
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are taken as the IPv4 address they carry.
 * Pure: any thread.
 */
#ifndef PZ_NETADDR_H
#define PZ_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core/request.h"

#define PZ_MAX_FORWARDED_HOPS 32
/* Longest text form, NUL included (INET6_ADDRSTRLEN). */
#define PZ_IP_TEXT_SIZE 46

typedef struct pz_ip {
    bool v6;
    uint8_t bytes[16]; /* IPv4 in the first four */
} pz_ip;

typedef struct pz_cidr {
    pz_ip net;
    int prefix; /* 0..32 (IPv4) or 0..128 (IPv6) */
} pz_cidr;

/* Parses an address: dotted IPv4 or IPv6 text, IPv6 optionally in brackets. Returns false on
 * anything else (ports are not accepted here). */
bool pz_ip_parse(const char *s, size_t len, pz_ip *out);

/* Parses a socket peer as the fronts write it: "a.b.c.d:port", "[v6]:port", or an address
 * without a port. */
bool pz_ip_parse_peer(const char *s, size_t len, pz_ip *out);

/* Parses "addr/prefix" or a bare address (a /32 or /128). Host bits set beyond the prefix are an
 * error (a likely typo). */
bool pz_cidr_parse(const char *s, size_t len, pz_cidr *out);

bool pz_cidr_contains(const pz_cidr *c, const pz_ip *ip);

/* Writes the canonical text form (inet_ntop) into out[PZ_IP_TEXT_SIZE]. */
void pz_ip_format(const pz_ip *ip, char *out);

/* Which address is the client's (see above). `peer` is the socket peer; headers hold lower-case
 * names. Returns true and *out, or false when the peer is unknown. *via is set to the forwarding
 * header's name ("forwarded" or "x-forwarded-for") when the client came from one, else NULL. */
bool pz_client_ip(const pz_ip *peer, const pz_header *headers, size_t n_headers, const pz_cidr *trusted,
                  size_t n_trusted, pz_ip *out, const char **via);

#endif
