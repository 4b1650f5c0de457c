#!/usr/bin/env bash
# Item catalog benchmarks (issue #3), each step bounded and printing its own baseline:
#   1. load throughput: `personalization-server load-items` of N generated items (JSON Lines);
#   2. decoration cost per item with that catalog, in process (decorate_bench), ids drawn uniformly
#      (every lookup a cold page: the worst case) and Zipf-distributed (s=1, popular items first);
#   3. server memory with the catalog loaded, excluding page cache (rss.py), against a server
#      without a catalog.
# Builds with -c opt (plus $PZ_BENCH_BAZEL_FLAGS). Work files go to ${PZ_BENCH_DIR:-/tmp/pz-bench-catalog}
# (the generated file is kept between runs).
#
#   tests/bench/catalog/run.sh [N]        N items, default 1000000
set -euo pipefail

N=${1:-1000000}
WORK=${PZ_BENCH_DIR:-/tmp/pz-bench-catalog}
cd "$(dirname "$0")/../../.."
# shellcheck disable=SC2086
bazel build -c opt ${PZ_BENCH_BAZEL_FLAGS:-} //server:personalization-server //tests/bench/catalog:decorate_bench
BIN=bazel-out/k8-opt/bin
SERVER=$BIN/server/personalization-server

mkdir -p "$WORK"
ITEMS=$WORK/items-$N.jsonl
if [ ! -f "$ITEMS" ]; then
    echo "== generating $N items into $ITEMS"
    /usr/bin/python3 tests/bench/catalog/gen_items.py "$N" "$ITEMS"
fi
echo "== $(wc -c <"$ITEMS") bytes of JSON Lines, $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg)"

echo "== 1. load throughput (full replace, strict)"
rm -rf "$WORK/data"
"$SERVER" load-items --data-dir "$WORK/data" --namespace bench "$ITEMS"
echo "catalog on disk: $(du -sh "$WORK/data/catalog" | cut -f1)"

echo "== 2. decoration cost per item (each figure the fastest of 7 interleaved rounds)"
"$BIN/tests/bench/catalog/decorate_bench" --catalog "$WORK/data/catalog" --items "$N"
"$BIN/tests/bench/catalog/decorate_bench" --catalog "$WORK/data/catalog" --items "$N" --zipf 1

echo "== 3. server memory"
/usr/bin/python3 tests/bench/catalog/rss.py "$SERVER" "$WORK/data" "$N"
