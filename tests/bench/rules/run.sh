#!/bin/sh
# Post-ranking rules benchmark (issue #20): builds optimized, then prints microseconds per
# RecommendItems call (numResults 25) inside the core with no rules and with every rule on, on a
# cache miss and a cache hit, measured in the same run, and the rules stage alone.
#
#   tests/bench/rules/run.sh [ROUNDS]      (from the repository root; about half a minute)
set -eu
cd "$(dirname "$0")/../../.."
bazel build -c opt --symlink_prefix=/ ${PZ_BENCH_BAZEL_FLAGS:-} //tests/bench/rules:rules_bench
BIN="$(bazel info -c opt bazel-bin 2>/dev/null)"
DATA="$(mktemp -d)"
trap 'rm -rf "$DATA"' EXIT
"$BIN/tests/bench/rules/rules_bench" "$DATA" "${1:-7}"
