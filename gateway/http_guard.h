/* Checks of the REST front on what h2o 2.2.5 lets through (issue 19), as pure functions so they are
 * tested without a server.
 *
 * - Host: h2o serves an HTTP/1.1 request without Host as if it named the default host; RFC 9112
 *   §3.2 requires a 400.
 * - Request framing (HTTP/1.x): h2o parses Content-Length and Transfer-Encoding itself and keeps
 *   neither in the request's headers; with both it silently uses the chunked body, with two
 *   different Content-Length values the first. Either is how request smuggling starts between a
 *   proxy and a server that disagree, so the front re-reads the raw request head and answers 400
 *   and closes the connection.
 * - Content types: a web page may POST cross-origin without a CORS preflight when the body has no
 *   Content-Type or a CORS-safelisted one (text/plain, application/x-www-form-urlencoded,
 *   multipart/form-data; Fetch standard, "CORS-safelisted request-header"), so CORS "*" would not
 *   stop any page from posting events from a visitor's browser. The front refuses such a body when
 *   the request also carries Origin (browsers always send it on a POST); any other type forces a
 *   preflight first.
 */
#ifndef PZ_HTTP_GUARD_H
#define PZ_HTTP_GUARD_H

#include <stdbool.h>
#include <stddef.h>

typedef enum pz_http1_framing {
    PZ_FRAMING_OK = 0,
    PZ_FRAMING_LENGTH_AND_CHUNKED,  /* both Content-Length and Transfer-Encoding */
    PZ_FRAMING_CONFLICTING_LENGTHS, /* Content-Length given twice with different values */
    PZ_FRAMING_MISSING_HOST,        /* HTTP/1.1 without Host (RFC 9112 §3.2: 400) */
} pz_http1_framing;

/* Reads a raw HTTP/1.x request head (the request line, then header lines up to the empty line or
 * `len`). Header names are matched case-insensitively; values compared after trimming spaces and
 * tabs. */
pz_http1_framing pz_http1_check_framing(const char *head, size_t len);

/* The message of a framing verdict, for the 400 body. */
const char *pz_http1_framing_message(pz_http1_framing f);

/* True when a browser sends a body with this Content-Type value (NULL: no Content-Type) cross-origin
 * without a CORS preflight: none, or a CORS-safelisted type (its essence, case-insensitive, is
 * text/plain, application/x-www-form-urlencoded or multipart/form-data; at most 128 bytes and none
 * of the bytes the Fetch standard calls CORS-unsafe). */
bool pz_cors_simple_body_type(const char *value, size_t len);

#endif
