/* AWS SigV4 signing with a cached signing key (sigv4.h). */
#include "server/upstream/sigv4.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAX_HEADERS 16
#define MAX_QUERY_PAIRS 32
#define CANONICAL_MAX 16384
#define KEY_CACHE_SLOTS 4

/* ---- a bounded string builder ---- */

typedef struct sb {
    char *p;
    size_t len, cap;
    bool overflow;
} sb;

static void sb_add(sb *b, const char *s, size_t n)
{
    if (b->overflow || n >= b->cap - b->len) {
        b->overflow = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sb *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void hex(const unsigned char *d, size_t n, char *out)
{
    static const char H[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = H[d[i] >> 4];
        out[2 * i + 1] = H[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static void sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char d[32];
    unsigned int dlen = 0;
    EVP_Digest(data, n, d, &dlen, EVP_sha256(), NULL);
    hex(d, 32, out);
}

static void hmac(const unsigned char *key, size_t keylen, const char *msg, size_t n, unsigned char out[32])
{
    unsigned int olen = 0;
    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, n, out, &olen);
}

/* ---- the signing key cache (per thread: no locking) ---- */

typedef struct key_slot {
    char secret[160], date[9], region[64], service[64];
    unsigned char key[32];
    bool used;
} key_slot;

static _Thread_local key_slot key_cache[KEY_CACHE_SLOTS];
static _Thread_local unsigned key_next;
static atomic_ulong derivations;

unsigned long pz_sigv4_key_derivations(void)
{
    return atomic_load(&derivations);
}

static int fits(const char *s, size_t cap)
{
    return strlen(s) < cap;
}

/* The signing key for (secret, date, region, service); NULL when a field is too long to cache. */
static const unsigned char *signing_key(const char *secret, const char *date, const char *region, const char *service)
{
    for (int i = 0; i < KEY_CACHE_SLOTS; i++) {
        key_slot *s = &key_cache[i];
        if (s->used && strcmp(s->date, date) == 0 && strcmp(s->secret, secret) == 0 && strcmp(s->region, region) == 0 &&
            strcmp(s->service, service) == 0)
            return s->key;
    }
    key_slot *s = &key_cache[key_next++ % KEY_CACHE_SLOTS];
    if (!fits(secret, sizeof s->secret - 4) || !fits(region, sizeof s->region) || !fits(service, sizeof s->service))
        return NULL;
    char k0[sizeof s->secret];
    int n0 = snprintf(k0, sizeof k0, "AWS4%s", secret);
    unsigned char k[32];
    hmac((const unsigned char *)k0, (size_t)n0, date, 8, k);
    hmac(k, 32, region, strlen(region), k);
    hmac(k, 32, service, strlen(service), k);
    hmac(k, 32, "aws4_request", 12, s->key);
    snprintf(s->secret, sizeof s->secret, "%s", secret);
    snprintf(s->date, sizeof s->date, "%s", date);
    snprintf(s->region, sizeof s->region, "%s", region);
    snprintf(s->service, sizeof s->service, "%s", service);
    s->used = true;
    atomic_fetch_add(&derivations, 1);
    return s->key;
}

/* ---- canonical request parts ---- */

typedef struct span {
    const char *p;
    size_t n;
} span;

static int span_cmp(span a, span b)
{
    int c = memcmp(a.p, b.p, a.n < b.n ? a.n : b.n);
    return c != 0 ? c : (a.n > b.n) - (a.n < b.n);
}

static bool unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

/* The path with dot and empty segments removed, URI-encoded once more (botocore's
 * quote(remove_dot_segments(path), safe='/~')). */
static void canonical_uri(sb *b, const char *path, size_t n)
{
    if (n == 0) {
        sb_str(b, "/");
        return;
    }
    span seg[64];
    size_t nseg = 0;
    for (size_t i = 0; i <= n;) {
        size_t j = i;
        while (j < n && path[j] != '/')
            j++;
        span s = {path + i, j - i};
        if (s.n == 2 && memcmp(s.p, "..", 2) == 0) {
            if (nseg > 0)
                nseg--;
        } else if (s.n > 0 && !(s.n == 1 && s.p[0] == '.')) {
            if (nseg == sizeof seg / sizeof seg[0]) {
                b->overflow = true;
                return;
            }
            seg[nseg++] = s;
        }
        i = j + 1;
    }
    if (path[0] == '/')
        sb_str(b, "/");
    for (size_t k = 0; k < nseg; k++) {
        if (k > 0)
            sb_str(b, "/");
        for (size_t i = 0; i < seg[k].n; i++) {
            unsigned char c = (unsigned char)seg[k].p[i];
            char enc[4];
            if (unreserved(c))
                sb_add(b, (const char *)&c, 1);
            else {
                snprintf(enc, sizeof enc, "%%%02X", c);
                sb_add(b, enc, 3);
            }
        }
    }
    if (path[n - 1] == '/' && nseg > 0)
        sb_str(b, "/");
}

/* The query's key[=value] pairs sorted by key then value, "key=value" joined with '&'. */
static void canonical_query(sb *b, const char *q, size_t n)
{
    if (n == 0)
        return;
    span key[MAX_QUERY_PAIRS], val[MAX_QUERY_PAIRS];
    size_t np = 0;
    for (size_t i = 0; i <= n;) {
        size_t j = i;
        while (j < n && q[j] != '&')
            j++;
        if (np == MAX_QUERY_PAIRS) {
            b->overflow = true;
            return;
        }
        const char *eq = memchr(q + i, '=', j - i);
        key[np] = (span){q + i, eq != NULL ? (size_t)(eq - (q + i)) : j - i};
        val[np] = eq != NULL ? (span){eq + 1, (size_t)(q + j - eq - 1)} : (span){"", 0};
        /* insertion sort: few pairs */
        size_t k = np++;
        for (; k > 0; k--) {
            int c = span_cmp(key[k - 1], key[k]);
            if (c < 0 || (c == 0 && span_cmp(val[k - 1], val[k]) <= 0))
                break;
            span tk = key[k], tv = val[k];
            key[k] = key[k - 1], val[k] = val[k - 1];
            key[k - 1] = tk, val[k - 1] = tv;
        }
        i = j + 1;
    }
    for (size_t k = 0; k < np; k++) {
        if (k > 0)
            sb_str(b, "&");
        sb_add(b, key[k].p, key[k].n);
        sb_str(b, "=");
        sb_add(b, val[k].p, val[k].n);
    }
}

typedef struct header {
    char name[64]; /* lower case */
    span value;    /* untrimmed */
} header;

/* value trimmed, inner runs of spaces collapsed to one */
static void trimall(sb *b, span v)
{
    bool space = false, started = false;
    for (size_t i = 0; i < v.n; i++) {
        char c = v.p[i];
        if (c == ' ' || c == '\t') {
            space = started;
            continue;
        }
        if (space)
            sb_str(b, " ");
        sb_add(b, &c, 1);
        space = false;
        started = true;
    }
}

static int add_header(header *h, size_t *n, const char *name, size_t name_len, span value)
{
    if (*n == MAX_HEADERS || name_len == 0 || name_len >= sizeof h->name)
        return -1;
    header x = {.value = value};
    for (size_t i = 0; i < name_len; i++)
        x.name[i] = (char)tolower((unsigned char)name[i]);
    size_t k = (*n)++;
    for (; k > 0 && strcmp(h[k - 1].name, x.name) > 0; k--) /* stable insertion sort */
        h[k] = h[k - 1];
    h[k] = x;
    return 0;
}

/* ---- signing ---- */

int pz_sigv4_sign(const pz_sigv4_request *r, pz_sigv4_headers *out)
{
    /* the URL: authority, path, query */
    const char *p = strstr(r->url, "://");
    if (p == NULL)
        return -1;
    p += 3;
    size_t auth_len = strcspn(p, "/?#");
    const char *at = memchr(p, '@', auth_len);
    if (at != NULL) {
        auth_len -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (auth_len == 0)
        return -1;
    const char *path = p + auth_len;
    size_t path_len = strcspn(path, "?#");
    const char *query = path[path_len] == '?' ? path + path_len + 1 : path + path_len;
    size_t query_len = strcspn(query, "#");

    struct tm tm;
    gmtime_r(&r->now, &tm);
    char amz_date[17], date[9];
    strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &tm);
    memcpy(date, amz_date, 8);
    date[8] = '\0';

    header h[MAX_HEADERS];
    size_t nh = 0;
    if (add_header(h, &nh, "host", 4, (span){p, auth_len}) != 0 ||
        add_header(h, &nh, "x-amz-date", 10, (span){amz_date, 16}) != 0)
        return -1;
    for (size_t i = 0; i < r->n_headers; i++) {
        const char *line = r->headers[i];
        const char *colon = strchr(line, ':');
        if (colon == NULL ||
            add_header(h, &nh, line, (size_t)(colon - line), (span){colon + 1, strlen(colon + 1)}) != 0)
            return -1;
    }
    const char *token = r->session_token != NULL ? r->session_token : "";
    if (token[0] != '\0' && add_header(h, &nh, "x-amz-security-token", 20, (span){token, strlen(token)}) != 0)
        return -1;

    char buf[CANONICAL_MAX], signed_buf[512];
    sb cr = {buf, 0, sizeof buf, false}, sh = {signed_buf, 0, sizeof signed_buf, false};
    sb_str(&cr, r->method);
    sb_str(&cr, "\n");
    canonical_uri(&cr, path, path_len);
    sb_str(&cr, "\n");
    canonical_query(&cr, query, query_len);
    sb_str(&cr, "\n");
    for (size_t i = 0; i < nh; i++) {
        bool repeat = i > 0 && strcmp(h[i - 1].name, h[i].name) == 0;
        if (repeat) {
            sb_str(&cr, ","); /* a repeated header: values joined with ',' */
        } else {
            if (i > 0) {
                sb_str(&cr, "\n");
                sb_str(&sh, ";");
            }
            sb_str(&cr, h[i].name);
            sb_str(&cr, ":");
            sb_str(&sh, h[i].name);
        }
        trimall(&cr, h[i].value);
    }
    sb_str(&cr, "\n\n");
    sb_str(&cr, signed_buf);
    sb_str(&cr, "\n");
    char payload[65];
    sha256_hex(r->body != NULL ? r->body : "", r->body_len, payload);
    sb_str(&cr, payload);
    if (cr.overflow || sh.overflow)
        return -1;

    char scope[160], sts[320], cr_hash[65];
    if (snprintf(scope, sizeof scope, "%s/%s/%s/aws4_request", date, r->region, r->service) >= (int)sizeof scope)
        return -1;
    sha256_hex(cr.p, cr.len, cr_hash);
    int sts_len = snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, cr_hash);
    const unsigned char *key = signing_key(r->secret_access_key, date, r->region, r->service);
    if (key == NULL || sts_len >= (int)sizeof sts)
        return -1;
    unsigned char sig[32];
    char sig_hex[65];
    hmac(key, 32, sts, (size_t)sts_len, sig);
    hex(sig, 32, sig_hex);

    if (snprintf(out->host, sizeof out->host, "Host: %.*s", (int)auth_len, p) >= (int)sizeof out->host ||
        snprintf(out->authorization, sizeof out->authorization,
                 "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s", r->access_key_id,
                 scope, signed_buf, sig_hex) >= (int)sizeof out->authorization)
        return -1;
    snprintf(out->amz_date, sizeof out->amz_date, "X-Amz-Date: %s", amz_date);
    out->security_token[0] = '\0';
    if (token[0] != '\0' && snprintf(out->security_token, sizeof out->security_token, "X-Amz-Security-Token: %s",
                                     token) >= (int)sizeof out->security_token)
        return -1;
    return 0;
}
