#!/bin/sh
# Builtin recommender benchmarks (issue #21): builds optimized binaries, then prints
#   1. the offline quality table (quality.c: hit-rate/recall/NDCG@10 per strategy on a time split of
#      a synthetic history with user segments), about a minute;
#   2. the scale curve through the real server (scale.py: ingest rate, miss p50/p99 server-side,
#      store bytes per event, RSS at 100k/1M/10M events, baselines in the same run).
#
#   tests/bench/builtin/run.sh                          (10M events: about 15 minutes)
#   PZ_BENCH_EVENTS=1000000 tests/bench/builtin/run.sh  (1M events, extrapolated to 10M)
#   PZ_BENCH_QUALITY_ONLY=1 tests/bench/builtin/run.sh
#
# Needs wrk (bazel/setup.sh --test installs it). Loopback only.
set -eu
cd "$(dirname "$0")/../../.."
bazel build -c opt --symlink_prefix=/ ${PZ_BENCH_BAZEL_FLAGS:-} //server:personalization-server \
    //tests/bench/builtin:quality //tests/bench/builtin:gen_history
BIN="$(bazel info -c opt bazel-bin 2>/dev/null)"
"$BIN/tests/bench/builtin/quality"
[ -n "${PZ_BENCH_QUALITY_ONLY:-}" ] && exit 0
echo
/usr/bin/python3 tests/bench/builtin/scale.py "$BIN/server/personalization-server" tests/bench/catalog/gen_items.py \
    "$BIN/tests/bench/builtin/gen_history"
