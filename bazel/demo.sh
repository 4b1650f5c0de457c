#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and runs the server on its embedded demo
# (REST on http://127.0.0.1:8080, gRPC on 127.0.0.1:50051). Extra arguments go to the server,
# e.g. `bazel/demo.sh --host 0.0.0.0 --http-port 9000`.
set -euo pipefail
cd "$(dirname "$0")/.."
bazel/setup.sh
exec bazel run -c opt //server:personalization-server -- --demo "$@"
