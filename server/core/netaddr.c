#include "server/core/netaddr.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

/* Longer text is no address (an IPv6 address with a port and brackets is under 64 bytes). */
#define MAX_ADDRESS_TEXT 63

static const uint8_t V4_MAPPED_PREFIX[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool pz_ip_parse(const char *s, size_t len, pz_ip *out)
{
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    if (len == 0 || len > MAX_ADDRESS_TEXT)
        return false;
    char text[MAX_ADDRESS_TEXT + 1];
    memcpy(text, s, len);
    text[len] = '\0';
    *out = (pz_ip){0};
    if (memchr(text, ':', len) == NULL)
        return inet_pton(AF_INET, text, out->bytes) == 1;
    if (inet_pton(AF_INET6, text, out->bytes) != 1)
        return false;
    if (memcmp(out->bytes, V4_MAPPED_PREFIX, sizeof V4_MAPPED_PREFIX) == 0) {
        memmove(out->bytes, out->bytes + 12, 4);
        memset(out->bytes + 4, 0, 12);
    } else {
        out->v6 = true;
    }
    return true;
}

bool pz_ip_parse_peer(const char *s, size_t len, pz_ip *out)
{
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return false;
        size_t rest = len - (size_t)(close + 1 - s);
        if (rest > 0 && close[1] != ':')
            return false;
        return pz_ip_parse(s + 1, (size_t)(close - s - 1), out);
    }
    const char *colon = memchr(s, ':', len);
    if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) == NULL)
        len = (size_t)(colon - s); /* one colon: IPv4 with a port */
    return pz_ip_parse(s, len, out);
}

bool pz_cidr_parse(const char *s, size_t len, pz_cidr *out)
{
    const char *slash = memchr(s, '/', len);
    size_t addr_len = slash != NULL ? (size_t)(slash - s) : len;
    if (!pz_ip_parse(s, addr_len, &out->net))
        return false;
    int max = out->net.v6 ? 128 : 32;
    out->prefix = max;
    if (slash != NULL) {
        size_t digits = len - addr_len - 1;
        if (digits == 0 || digits > 3)
            return false;
        int prefix = 0;
        for (size_t i = 0; i < digits; i++) {
            char c = slash[1 + i];
            if (c < '0' || c > '9')
                return false;
            prefix = prefix * 10 + (c - '0');
        }
        if (prefix > max)
            return false;
        out->prefix = prefix;
    }
    for (int bit = out->prefix; bit < max; bit++) { /* host bits must be zero */
        if (out->net.bytes[bit / 8] & (0x80 >> (bit % 8)))
            return false;
    }
    return true;
}

bool pz_cidr_contains(const pz_cidr *c, const pz_ip *ip)
{
    if (c->net.v6 != ip->v6)
        return false;
    int full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->net.bytes, ip->bytes, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->net.bytes[full] & mask) == (ip->bytes[full] & mask);
}

void pz_ip_format(const pz_ip *ip, char *out)
{
    if (inet_ntop(ip->v6 ? AF_INET6 : AF_INET, ip->bytes, out, PZ_IP_TEXT_SIZE) == NULL)
        out[0] = '\0';
}

/* ---- forwarding headers ---- */

typedef struct hop {
    bool valid;
    pz_ip ip;
} hop;

/* The rightmost PZ_MAX_FORWARDED_HOPS hops, in a ring. */
typedef struct hops {
    hop ring[PZ_MAX_FORWARDED_HOPS];
    size_t count;
} hops;

static void add_hop(hops *h, const char *s, size_t len)
{
    hop *slot = &h->ring[h->count++ % PZ_MAX_FORWARDED_HOPS];
    slot->valid = pz_ip_parse_peer(s, len, &slot->ip);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && is_space(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && is_space((*s)[*len - 1]))
        (*len)--;
}

/* X-Forwarded-For: comma-separated addresses, optionally with ports. */
static void read_x_forwarded_for(hops *h, const char *v, size_t len)
{
    size_t i = 0;
    while (i <= len) {
        size_t end = i;
        while (end < len && v[end] != ',')
            end++;
        const char *item = v + i;
        size_t n = end - i;
        trim(&item, &n);
        if (n > 0)
            add_hop(h, item, n);
        i = end + 1;
    }
}

/* The end of a Forwarded list element or pair starting at i: the next `sep` outside quotes. */
static size_t skip_to(const char *v, size_t len, size_t i, char sep)
{
    bool quoted = false;
    for (; i < len; i++) {
        if (quoted && v[i] == '\\' && i + 1 < len)
            i++;
        else if (v[i] == '"')
            quoted = !quoted;
        else if (!quoted && v[i] == sep)
            break;
    }
    return i;
}

/* One Forwarded element ("for=...;proto=...;by=..."): its for= value is the hop. */
static void read_forwarded_element(hops *h, const char *e, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t end = skip_to(e, len, i, ';');
        const char *pair = e + i;
        size_t n = end - i;
        trim(&pair, &n);
        if (n > 4 && strncasecmp(pair, "for=", 4) == 0) {
            const char *value = pair + 4;
            size_t vlen = n - 4;
            if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
                value++;
                vlen -= 2;
            }
            add_hop(h, value, vlen);
            return;
        }
        i = end + 1;
    }
    add_hop(h, "", 0); /* an element that hides its client */
}

static void read_forwarded(hops *h, const char *v, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t end = skip_to(v, len, i, ',');
        const char *element = v + i;
        size_t n = end - i;
        trim(&element, &n);
        if (n > 0)
            read_forwarded_element(h, element, n);
        i = end + 1;
    }
}

static bool is_trusted(const pz_ip *ip, const pz_cidr *trusted, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (pz_cidr_contains(&trusted[i], ip))
            return true;
    }
    return false;
}

bool pz_client_ip(const pz_ip *peer, const pz_header *headers, size_t n_headers, const pz_cidr *trusted,
                  size_t n_trusted, pz_ip *out, const char **via)
{
    *via = NULL;
    if (peer == NULL)
        return false;
    *out = *peer;
    if (!is_trusted(peer, trusted, n_trusted))
        return true;
    const char *header = pz_headers_find(headers, n_headers, "forwarded") != NULL ? "forwarded" : "x-forwarded-for";
    hops h = {.count = 0};
    for (size_t i = 0; i < n_headers; i++) {
        const pz_header *hd = &headers[i];
        if (hd->name_len != strlen(header) || strncasecmp(hd->name, header, hd->name_len) != 0)
            continue;
        if (header[0] == 'f')
            read_forwarded(&h, hd->value, hd->value_len);
        else
            read_x_forwarded_for(&h, hd->value, hd->value_len);
    }
    size_t oldest = h.count > PZ_MAX_FORWARDED_HOPS ? h.count - PZ_MAX_FORWARDED_HOPS : 0;
    for (size_t i = h.count; i > oldest; i--) {
        const hop *hp = &h.ring[(i - 1) % PZ_MAX_FORWARDED_HOPS];
        if (!hp->valid)
            return true; /* nothing left of this can be believed: the nearest address stands */
        *out = hp->ip;
        *via = header;
        if (!is_trusted(&hp->ip, trusted, n_trusted))
            return true;
    }
    return true;
}
