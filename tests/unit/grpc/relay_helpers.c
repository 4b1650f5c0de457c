#include "tests/unit/grpc/relay_helpers.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include <string.h>
#include <sys/socket.h>

void relay_pair(int *a, int *b)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    *a = sv[0];
    *b = sv[1];
}

size_t relay_drain(int fd, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
        if (n <= 0)
            return got;
        got += (size_t)n;
    }
}

void relay_small_buffers(int a, int b)
{
    int small = 4096;
    setsockopt(a, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    setsockopt(b, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
}

size_t relay_frame(uint8_t *out, uint8_t type, uint8_t flags, uint32_t stream, uint32_t len)
{
    uint8_t h[9] = {(uint8_t)(len >> 16),    (uint8_t)(len >> 8),     (uint8_t)len,           type,           flags,
                    (uint8_t)(stream >> 24), (uint8_t)(stream >> 16), (uint8_t)(stream >> 8), (uint8_t)stream};
    memcpy(out, h, sizeof h);
    memset(out + sizeof h, 0, len);
    return sizeof h + len;
}

size_t relay_rst_frames(uint8_t *out, int count)
{
    size_t len = 0;
    for (int i = 0; i < count; i++) {
        uint8_t id = (uint8_t)(2 * i + 1);
        const uint8_t rst[13] = {0, 0, 4, 3, 0, 0, 0, 0, id, 0, 0, 0, 8}; /* length 4, type 3, CANCEL */
        memcpy(out + len, rst, sizeof rst);
        len += sizeof rst;
    }
    return len;
}
