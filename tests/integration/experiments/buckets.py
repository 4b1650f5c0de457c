"""An independent implementation of the experiment bucket scheme (server/core/bucket.h), for the
tests to check the server's assignments against: MurmurHash64A (seed 0) of
salt NUL feature NUL userId, then ((h >> 32) * 10000) >> 32, then the weighted ranges."""

import math

M = 0xC6A4A7935BD1E995
MASK = (1 << 64) - 1
BUCKETS = 10000


def murmur64a(data, seed=0):
    r = 47
    h = (seed ^ (len(data) * M)) & MASK
    n = len(data) // 8
    for i in range(n):
        k = int.from_bytes(data[8 * i:8 * i + 8], "little")
        k = (k * M) & MASK
        k ^= k >> r
        k = (k * M) & MASK
        h ^= k
        h = (h * M) & MASK
    rest = data[8 * n:]
    if rest:
        h ^= int.from_bytes(rest, "little")
        h = (h * M) & MASK
    h ^= h >> r
    h = (h * M) & MASK
    h ^= h >> r
    return h


def bucket(salt, feature, user):
    key = salt.encode() + b"\0" + feature.encode() + b"\0" + user.encode()
    return ((murmur64a(key) >> 32) * BUCKETS) >> 32


def starts(weights):
    total = float(sum(weights))
    out, cum = [], 0.0
    for w in weights:
        out.append(min(BUCKETS, int(math.floor(BUCKETS * cum / total))))
        cum += w
    return out + [BUCKETS]


def variation(salt, feature, user, keys, weights=None):
    s = starts(weights if weights is not None else [1] * len(keys))
    b = bucket(salt, feature, user)
    for i in range(len(keys) - 1):
        if b < s[i + 1]:
            return keys[i]
    return keys[-1]


if __name__ == "__main__":
    for salt, feature, user in [("shop/home", "layout", "user-1"), ("", "f", ""), ("demo/for-you", "home-rfy",
                                                                                     "user-0001"),
                                ("s", "feature.with-dots_1", "a-much-longer-user-id-that-spans-words")]:
        print(repr((salt, feature, user)), bucket(salt, feature, user))
