/* A tiny threaded HTTP/1.1 server on 127.0.0.1 for the unit tests of the upstream engine and the
 * blocking client: keep-alive, one thread per connection, Content-Length bodies. Routes:
 *   /ok                 200 "ok"
 *   /slow/<ms>          waits <ms> then 200 "slow"
 *   /status/<code>      answers <code> with body "status"
 *   /flaky/<key>        503 the first time <key> is seen, then 200 "recovered"
 *   /big/<bytes>        200 with <bytes> of 'x'
 *   /auth               200 with the request's Authorization header as the body
 *   /echo               200 with the request body
 *   /etag/<tag>         200 "tagged <METHOD>" with ETag "<tag>"; 304 when If-None-Match is "<tag>"
 *   /amzn-error/<type>  400 with "X-Amzn-ErrorType: <type>:http://..." and {"message":"refused"}
 * It counts requests and accepted connections.
 */
#ifndef PZ_TEST_HTTP_SERVER_H
#define PZ_TEST_HTTP_SERVER_H

typedef struct test_http_server test_http_server;

/* Starts on a free port. Never NULL (aborts on failure). */
test_http_server *test_http_start(void);
void test_http_stop(test_http_server *s);
int test_http_port(const test_http_server *s);
int test_http_requests(test_http_server *s);
int test_http_connections(test_http_server *s);

#endif
