#!/bin/sh
# Runs layering.py over the sources Bazel staged for this test (the runfiles tree mirrors the
# repository layout).
exec /usr/bin/python3 tests/architecture/layering.py .
