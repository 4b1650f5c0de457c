#!/bin/sh
# Bazel sh_test wrapper: runs an integration test module with Debian's python3 (which has
# python3-grpcio), whatever python3 is first on PATH. Usage: run_python.sh TEST.py SERVER_BINARY
exec /usr/bin/python3 "$@"
