/* What the relay tests (plaintext and TLS) share: socketpairs, reading what a socket has, small
 * socket buffers to make a side slow, and raw RST_STREAM frames. */
#ifndef PZ_TESTS_RELAY_HELPERS_H
#define PZ_TESTS_RELAY_HELPERS_H

#include <stddef.h>
#include <stdint.h>

/* A non-blocking AF_UNIX stream socketpair. */
void relay_pair(int *a, int *b);
/* Reads what is there (non-blocking) into buf; returns the count. */
size_t relay_drain(int fd, uint8_t *buf, size_t cap);
/* 4 KiB buffers: `a` receives and `b` sends slowly. */
void relay_small_buffers(int a, int b);
/* A frame header (RFC 9113 §4.1) and `len` zero bytes of payload into out; returns the length. */
size_t relay_frame(uint8_t *out, uint8_t type, uint8_t flags, uint32_t stream, uint32_t len);
/* `count` RST_STREAM(CANCEL) frames on streams 1, 3, 5, ... into out (13 bytes each); returns the
 * length. */
size_t relay_rst_frames(uint8_t *out, int count);

#endif
