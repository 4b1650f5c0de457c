/* Entity tags (RFC 9110 §8.8.3) and If-None-Match (§13.1.2), with upstream defect §14 #12 fixed:
 * our ETags are strong, quoted and derived from the response content (a 64-bit hash of the
 * packed protobuf bytes), so REST and gRPC carry the same tag for the same response; the
 * If-None-Match parser accepts lists, weak validators (W/) and "*", and never fails: a value it
 * cannot read simply does not match. Pure; any thread. */
#ifndef PZ_ETAG_H
#define PZ_ETAG_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes of an ETag as we emit it, NUL included: a quote, 16 lower-case hex digits, a quote. */
#define PZ_ETAG_SIZE 19

/* Writes the strong ETag of content[0..len) to out, e.g. "\"5f0e3a1c9b2d4e68\"". */
void pz_etag_of(const void *content, size_t len, char out[PZ_ETAG_SIZE]);

/* An encoded representation of the same content (a content coding such as gzip) is another
 * representation, so it gets its own strong tag (RFC 9110 §8.8.3): ours with "-<coding>" inside
 * the quotes, e.g. "\"5f0e3a1c9b2d4e68-gzip\"". Codings are 1 to PZ_ETAG_CODING_MAX lower-case
 * letters and digits. */
#define PZ_ETAG_CODING_MAX 15
#define PZ_ETAG_CODING_SIZE (PZ_ETAG_SIZE + 1 + PZ_ETAG_CODING_MAX)
/* Writes etag (as from pz_etag_of) with coding appended inside its quotes; returns false (out = etag)
 * when coding is not a valid coding name. */
bool pz_etag_with_coding(const char *etag, const char *coding, char out[PZ_ETAG_CODING_SIZE]);

/* True when the If-None-Match field value `inm` (len bytes, need not be NUL-terminated) matches
 * `etag` (quoted, as from pz_etag_of) by the weak comparison RFC 9110 prescribes for
 * If-None-Match: "*" matches any current representation; otherwise the value is a comma-separated
 * list of entity-tags, each optionally prefixed with W/, and one whose opaque part equals etag's,
 * or etag's with a coding (pz_etag_with_coding: the client holds an encoded representation of the
 * same content, still current), matches. Unquoted members are accepted leniently (upstream
 * clients sent them). A member that cannot be read (unbalanced quote, control characters) is
 * skipped; an empty or absent value never matches. */
bool pz_etag_none_match(const char *inm, size_t len, const char *etag);

#endif
