/* The HTTP/2 frame guard (server/grpc/h2_guard.h) run inside grpc core's own socket reads, for
 * plaintext gRPC connections: grpc core reads the client's TCP socket itself, and every byte a
 * read returns passes the connection's guard before grpc core's HTTP/2 parser sees it.
 *
 * Why: grpc core 1.51 offers no hook between its socket reads and its parser, and the guard must
 * see every client byte first (issue 19). The relay (server/grpc/relay.h) gives it one by putting
 * a socketpair between the client and grpc core, at the cost of a thread hop, two wake-ups and a
 * copy per piece: a bare grpc-core server behind it ran at 0.87x its own speed (issue 21). This
 * module gets the same check for the price of reading 9-byte frame headers, by defining the libc
 * socket calls grpc core makes (recvmsg, sendmsg, close): libgrpc resolves them from the dynamic
 * symbol table, where the executable's own definitions come first (ELF symbol interposition; the
 * same mechanism malloc replacements use). Each definition calls the next one (libc's, or a
 * sanitizer's interceptor) for every descriptor; only descriptors attached here are checked.
 * TLS connections keep the relay: there the guard must see decrypted bytes.
 *
 * - recvmsg: the bytes read from an attached descriptor pass its guard. Once the client crosses a
 *   limit, the read fails with ECONNRESET (the bytes are dropped) and so does every later one;
 *   grpc core then closes the connection, and SO_LINGER 0 (set here) makes that close a TCP reset.
 * - sendmsg: the first write on an attached descriptor is grpc core's SETTINGS (RFC 9113 §3.4):
 *   the guard counts the client's SETTINGS acknowledgements from then on.
 * - close: closing an attached descriptor detaches it first and calls its on_closed (on the
 *   closing thread), so the owner learns when grpc core is done with the connection, and a
 *   descriptor number reused later is not checked against the old connection's state.
 * - lifetime (optional, per descriptor): the reads and writes also tell when the connection was
 *   last active and how many streams are open, and pz_read_guard_tend asks an idle or old
 *   connection to go away (conn_lifetime.h): a GOAWAY written between two of grpc core's frames
 *   (its writes to the descriptor and ours take turns under a per-connection lock; what the socket
 *   did not take of ours is written before grpc core's next bytes, which wait with EAGAIN until
 *   it is), then a shutdown. grpc core's per-call filter for the same limits is then not needed.
 *
 * Contract with the caller: grpc core reads an attached descriptor from one thread at a time and
 * never while closing it (grpc's endpoint holds a reference through each read); a descriptor is
 * closed with close(2), not dup2 or close_range (grpc core does so). Descriptors at or above
 * PZ_READ_GUARD_MAX_FD cannot be attached.
 */
#ifndef PZ_GRPC_READ_GUARD_H
#define PZ_GRPC_READ_GUARD_H

#include <stdint.h>

#include "server/grpc/conn_lifetime.h"
#include "server/grpc/h2_guard.h"

/* Descriptors below this can be attached (1024 chunks of 1024 slots, allocated as needed). */
#define PZ_READ_GUARD_MAX_FD (1 << 20)

/* Called once per attached descriptor, when it is closed or detached, with what its guard saw
 * (guard->verdict says whether the client crossed a limit). Must not close descriptors attached
 * here. */
typedef void (*pz_read_guard_closed_fn)(void *ctx, const pz_h2_guard *guard);

/* Checks every byte read from fd from now on (a socket whose client bytes start with the HTTP/2
 * connection preface, not read yet). Returns 0, or -1 when fd >= PZ_READ_GUARD_MAX_FD or is
 * attached already. */
int pz_read_guard_attach(int fd, const pz_h2_guard_limits *limits, const pz_conn_lifetime_limits *lifetime,
                         int64_t now_ms, pz_read_guard_closed_fn on_closed, void *ctx);

/* Keeps fd's lifetime (attached with `lifetime`; see conn_lifetime.h): sends its GOAWAY when it is
 * idle or old enough, and shuts its socket down once its streams are done or the grace period
 * ended. Returns what it did (PZ_LIFE_WAIT: nothing; also for a descriptor not attached, or
 * attached without `lifetime`). Call it every few hundred ms per connection, from one thread, and
 * only while holding the lock that fd's on_closed takes: the guard cannot be freed meanwhile. */
pz_life_action pz_read_guard_tend(int fd, int64_t now_ms);

/* Forgets fd's guard as if fd were closed (on_closed runs here) without closing it; nothing when
 * fd is not attached. For an owner shutting down while grpc core may still hold the descriptor:
 * the guard's memory is kept (a read in progress may still use it). */
void pz_read_guard_detach(int fd);

/* Descriptors attached now. */
long pz_read_guard_attached(void);

#endif
