#!/usr/bin/env bash
# Fails when a C source or header of the tree is not formatted as .clang-format says.
#   tests/format_check.sh          check (prints the files to fix, exits 1 when there are any)
#   tests/format_check.sh --fix    reformat them in place
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
    echo "format_check: clang-format is not installed (bazel/setup.sh --test installs it)" >&2
    exit 1
fi
mapfile -t files < <(git ls-files '*.c' '*.h')
if [ "${1:-}" = "--fix" ]; then
    clang-format -i "${files[@]}"
    exit 0
fi
bad=()
for f in "${files[@]}"; do
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ "${#bad[@]}" -gt 0 ]; then
    printf 'format_check: not clang-format clean (run tests/format_check.sh --fix):\n' >&2
    printf '  %s\n' "${bad[@]}" >&2
    echo "format: 0 passed, 1 failed"
    exit 1
fi
echo "format: ${#files[@]} files clang-format clean: 1 passed, 0 failed"
