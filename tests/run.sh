#!/usr/bin/env bash
# Runs every test: installs what is missing, checks that the C sources are clang-format clean
# (tests/format_check.sh), then `bazel test` over the whole tree (cmocka unit tests, the
# architecture check and the integration tests that drive the real binary with curl,
# python3-grpcio, grpc-js and buf curl), then the same suite again under ASan+UBSan
# (`--config=asan`), then every libFuzzer target for a short bounded run (tests/fuzz/run.sh,
# PZ_FUZZ_SECONDS per target, default 20).
#
#   tests/run.sh            everything
#   tests/run.sh --quick    skip the sanitizer pass and the fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1

bazel/setup.sh --test

status=0
tests/format_check.sh || status=$?
bazel test --test_output=all //... || status=$?
if [ "$quick" = 0 ]; then
    bazel test --config=asan --test_output=all //... || status=$?
    tests/fuzz/run.sh "${PZ_FUZZ_SECONDS:-20}" || status=$?
fi
exit "$status"
