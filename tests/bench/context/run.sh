#!/bin/sh
# Automatic context benchmark (issue #13): builds optimized, then prints what a 6-field autoContext
# costs on a cache hit, with CloudFront headers and without a CDN (User-Agent + GeoIP), next to the
# same request without autoContext, all measured in the same run.
#
#   tests/bench/context/run.sh                 (from the repository root; under a minute)
#   tests/bench/context/run.sh 500000          (calls per round)
set -eu
cd "$(dirname "$0")/../../.."
bazel build -c opt --symlink_prefix=/ ${PZ_BENCH_BAZEL_FLAGS:-} //tests/bench/context:context_bench //tests/data:test_mmdb
BIN="$(bazel info -c opt bazel-bin 2>/dev/null)"
"$BIN/tests/bench/context/context_bench" "$BIN/tests/data/geoip/test-city.mmdb" "$@"
