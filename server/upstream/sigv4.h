/* AWS Signature Version 4 (AWS4-HMAC-SHA256) for non-S3 services, computed here (OpenSSL
 * libcrypto) instead of by libcurl's CURLOPT_AWS_SIGV4, with the derived signing key cached.
 *
 * The canonical request follows botocore's SigV4Auth (the reference the tests check against):
 *   - method, upper case as given;
 *   - canonical URI: the URL's path as sent (already percent-encoded), dot segments and empty
 *     segments removed, then URI-encoded once more (every byte but A-Z a-z 0-9 - _ . ~ /), so an
 *     encoded "%3A" signs as "%253A" (non-S3 services canonicalize the path twice); "" is "/";
 *   - canonical query: the URL's query as sent, split on '&' into key[=value] pairs sorted by key
 *     then value, each written "key=value" and joined with '&' (not re-encoded);
 *   - canonical headers: every header of the request plus host, x-amz-date and, with a session
 *     token, x-amz-security-token, names lower case, values trimmed with inner runs of spaces
 *     collapsed, sorted by name; all of them are signed;
 *   - payload: the hex SHA-256 of the body (it is not sent as x-amz-content-sha256).
 * The signing key HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region), service), "aws4_request")
 * is derived once per (secret, date, region, service) and thread (a small per-thread cache), so a
 * request costs two SHA-256 and one HMAC, not five HMACs.
 */
#ifndef PZ_SIGV4_H
#define PZ_SIGV4_H

#include <stddef.h>
#include <time.h>

typedef struct pz_sigv4_request {
    const char *method;         /* "GET", "POST", ... */
    const char *url;            /* scheme://host[:port]/path[?query], exactly as it will be sent */
    const char *const *headers; /* "Name: value" lines, all signed; must not include Host,
                                   X-Amz-Date or X-Amz-Security-Token (see session_token) */
    size_t n_headers;
    const void *body; /* may be NULL with body_len 0 */
    size_t body_len;
    const char *region;  /* e.g. "us-east-1" */
    const char *service; /* signing name, e.g. "personalize" */
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* temporary credentials' token; NULL or "": none. Signed, and sent
                                  as out->security_token */
    time_t now;                /* signing time (seconds since the epoch, UTC) */
} pz_sigv4_request;

/* The header lines to send along with the request's own headers, unchanged. */
typedef struct pz_sigv4_headers {
    char security_token[2100]; /* "X-Amz-Security-Token: ..." with a session token, else "" */
    char host[320];            /* "Host: host[:port]" (the URL's authority, as signed) */
    char amz_date[32];         /* "X-Amz-Date: YYYYMMDDTHHMMSSZ" */
    char authorization[1024];  /* "Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." */
} pz_sigv4_headers;

/* Signs r into out. Returns 0, or -1 when the request cannot be signed (no host in the URL, too
 * many or malformed headers, a field too long). Any thread. */
int pz_sigv4_sign(const pz_sigv4_request *r, pz_sigv4_headers *out);

/* Signing keys derived so far in the process (all threads): lets tests check the cache. */
unsigned long pz_sigv4_key_derivations(void);

#endif
