#!/bin/sh
# Authentication benchmark (issue #15): builds optimized binaries, then prints
#   1. the core's CPU per cache hit without auth, with an API key and with a remembered JWT, and the
#      CPU of verifying a first-seen RS256 / ES256 token (auth_hit_bench: no front, no network);
#   2. the server's CPU per REST and gRPC cache hit, the same three ways, two servers alternating
#      (bench.py: wrk, h2load).
#
#   tests/bench/auth/run.sh            (from the repository root; about two minutes; loopback only)
#   PZ_BENCH_SECONDS=5 PZ_BENCH_ROUNDS=7 tests/bench/auth/run.sh
#
# Needs wrk, h2load and python3-jwt (bazel/setup.sh --test installs them).
set -eu
cd "$(dirname "$0")/../../.."
bazel build -c opt --symlink_prefix=/ ${PZ_BENCH_BAZEL_FLAGS:-} //server:personalization-server \
    //tests/bench/auth:auth_hit_bench
BIN="$(bazel info -c opt bazel-bin 2>/dev/null)"
"$BIN/tests/bench/auth/auth_hit_bench"
echo
/usr/bin/python3 tests/bench/auth/bench.py "$BIN/server/personalization-server"
