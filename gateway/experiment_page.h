/* The A/B results as pages (issue #14): what the REST front sends for GET /experiments/... when
 * the client asks for text/html (a browser). Rendered on the server from the same response
 * message the JSON and gRPC clients get, into one self-contained document: inline CSS and an inline
 * SVG chart, no script, nothing fetched from anywhere else (no CDN), so it works offline and
 * behind any proxy. The page reloads itself every PZ_PAGE_REFRESH_S seconds: results are live.
 *
 *   list     GET /experiments/{namespace}: every experiment with its status, users exposed and
 *            verdict, each linking to its results
 *   results  GET /experiments/{namespace}/{recommender}/{feature}: the verdict in plain words,
 *            then per metric a chart of each variation's conversion rate with its 95 % interval
 *            and a table of the figures (users exposed, exposures, conversions, rate, lift,
 *            p-value, probability to beat the control)
 *
 * Pure; any thread. Every string from the message is HTML-escaped.
 */
#ifndef PZ_EXPERIMENT_PAGE_H
#define PZ_EXPERIMENT_PAGE_H

#include <protobuf-c/protobuf-c.h>

#include "server/core/buf.h"

#define PZ_PAGE_REFRESH_S 30

/* Each appends a whole HTML document for a ListExperimentsResponse / ExperimentResults. Return 0,
 * or -1 when out's cap is reached. */
int pz_page_experiment_list(const ProtobufCMessage *msg, pz_buf *out);
int pz_page_experiment_results(const ProtobufCMessage *msg, pz_buf *out);

#endif
