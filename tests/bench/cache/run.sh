#!/bin/sh
# Response cache benchmark (issue #4): builds optimized binaries, then prints the core's own cost of a
# hit (no front), cache-hit throughput of the REST and gRPC fronts next to baselines measured in the
# same run (h2o's file handler and a bare grpc-core server serving the same bytes), and hit/miss
# latency.
#
#   tests/bench/cache/run.sh            (from the repository root; about 5 minutes; loopback only)
#   PZ_BENCH_SECONDS=8 tests/bench/cache/run.sh
#   PZ_BENCH_BAZEL_FLAGS='--copt=-Wno-error' tests/bench/cache/run.sh   (extra build flags)
#
# Needs wrk and h2load (Debian packages wrk and nghttp2-client; bazel/setup.sh --test installs them).
set -eu
cd "$(dirname "$0")/../../.."
# -c opt outputs live apart from the default fastbuild ones; no convenience symlinks are touched.
bazel build -c opt --symlink_prefix=/ ${PZ_BENCH_BAZEL_FLAGS:-} //server:personalization-server //tests/bench/cache:static_server \
    //tests/bench/cache:grpc_echo_server //tests/bench/cache:core_hit_bench
BIN="$(bazel info -c opt bazel-bin 2>/dev/null)"
DATA="$(mktemp -d)"
trap 'rm -rf "$DATA"' EXIT
"$BIN/tests/bench/cache/core_hit_bench" "$DATA"
echo
/usr/bin/python3 tests/bench/cache/bench.py "$BIN/server/personalization-server" \
    "$BIN/tests/bench/cache/static_server" "$BIN/tests/bench/cache/grpc_echo_server"
