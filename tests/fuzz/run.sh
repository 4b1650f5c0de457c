#!/usr/bin/env bash
# Builds every libFuzzer target in tests/fuzz/ with Debian's clang (libFuzzer + ASan + UBSan with
# float-cast-overflow) and runs each for a bounded time on its committed corpus and dictionary.
#
#   tests/fuzz/run.sh                  every target, 20 s each (what tests/run.sh runs in CI)
#   tests/fuzz/run.sh 600              every target, 10 minutes each (the longer run, on demand)
#   tests/fuzz/run.sh 60 config        one target
#
# Seeds: under CI (CI=true, as .ci/run is run) every target starts from the fixed seed
# PZ_FUZZ_SEED (default 1), so a red run is reproduced by running the same command, and a change
# is judged by what it changed, not by what a random walk happened to reach that day. Elsewhere
# the seed is random (set PZ_FUZZ_SEED to pin it): the longer runs are there to explore.
#
# Targets (tests/fuzz/<name>_fuzz.c; corpus in tests/fuzz/corpus/<name>/, dictionary in
# tests/fuzz/<name>.dict, past crashes in tests/fuzz/regressions/<name>/):
#   config     the configuration loader (server/core/config*.c)
#   routes     REST route matching and request building: path, query, body (gateway/routes.c)
#   transcode  the JSON <-> protobuf transcoder (gateway/transcode*.c)
#   events     PutEvents: protobuf bytes or JSON -> the core's string check and event validation
#              -> outbox record (server/core/message_check.c, event_validation.c, events/record.c)
#   catalog    catalog item lines (server/catalog/catalog_load.c)
#   upstream   upstream answers: the JSON reader, Personalize/Lambda-shaped item lists, DynamoDB
#              items (server/upstream/json_read.c, recommenders/remote_json.c, dynamodb.c)
#   tzif       time zones: TZif files, POSIX TZ strings, ISO 8601 date-times (server/core/tz.c)
#   viewer     what automatic context reads from request headers: User-Agent, X-Forwarded-For,
#              Forwarded, CIDR blocks, addresses (server/core/useragent.c, netaddr.c)
#
# Every committed regression input is run first (a plain libFuzzer run of those files); a crash
# stops with the input saved under $PZ_FUZZ_OUT (default /tmp/pz-fuzz-<hash of this checkout's path>: objects
# are reused between runs, so two checkouts must not share them) and a non-zero exit: fix the
# bug, then commit the input to tests/fuzz/regressions/<name>/. New corpus entries found by a run
# stay in $PZ_FUZZ_OUT/<name>/corpus; merge useful ones into the committed corpus with
#   <binary> -merge=1 tests/fuzz/corpus/<name> $PZ_FUZZ_OUT/<name>/corpus
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-20}
only=${2:-}
out=${PZ_FUZZ_OUT:-/tmp/pz-fuzz-$(pwd -P | md5sum | cut -c1-12)}
targets=(config routes transcode events catalog upstream tzif viewer)

command -v clang >/dev/null || { echo "clang is missing: bazel/setup.sh --test installs it" >&2; exit 1; }

# Generated protobuf-c sources come from Bazel's genrules.
bazel build //proto:personalization_pb_c //tests/unit/gateway:transcode_test_types_pb_c >/dev/null 2>&1 ||
    bazel build //proto:personalization_pb_c //tests/unit/gateway:transcode_test_types_pb_c
bin=$(bazel info bazel-bin 2>/dev/null)

flags=(-g -O1 -std=gnu11 -D_GNU_SOURCE -fno-omit-frame-pointer
       -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all
       -I. -I"$bin" -I"$bin/proto")
# Everything a target may reach, instrumented for coverage, in one archive: each target links only
# the objects it needs. The fronts, main.c and the reflection descriptor set are not parsers of
# their own (the fronts' parsing is h2o's and grpc's; route and transcoder code is here).
sources=(server/core/*.c server/upstream/*.c server/recommenders/*.c server/catalog/*.c server/events/*.c
         gateway/routes.c gateway/experiment_page.c gateway/transcode.c gateway/transcode_parse.c gateway/transcode_write.c
         "$bin"/proto/personalization/v1/personalization.pb-c.c "$bin"/proto/personalization/v1/admin.pb-c.c
         "$bin"/proto/google/protobuf/struct.pb-c.c
         "$bin"/tests/unit/gateway/transcode_test_types.pb-c.c)
objdir="$out/obj"
mkdir -p "$objdir"
objs=()
for src in "${sources[@]}"; do
    obj="$objdir/$(echo "$src" | sed 's|^/||; s|[/.]|_|g').o"
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find server gateway -name '*.h' -newer "$obj" -print -quit)" ]; then
        clang "${flags[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj" &
        # two at a time: the machine has two cores and others build too
        [ "$(jobs -r | wc -l)" -ge 2 ] && wait -n
    fi
    objs+=("$obj")
done
wait
rm -f "$objdir/libpz.a"
ar rcs "$objdir/libpz.a" "${objs[@]}"
libs=(-ljansson -lprotobuf-c -lcurl -lssl -lcrypto -llmdb -lz -lm -lpthread)

seed=()
if [ -n "${PZ_FUZZ_SEED:-}" ]; then
    seed=(-seed="$PZ_FUZZ_SEED")
elif [ "${CI:-}" = true ]; then
    seed=(-seed=1)
fi

passed=0
failed=0
for t in "${targets[@]}"; do
    [ -n "$only" ] && [ "$only" != "$t" ] && continue
    exe="$out/$t/${t}_fuzz"
    mkdir -p "$out/$t/corpus" "$out/$t/crashes"
    clang "${flags[@]}" -fsanitize=fuzzer "tests/fuzz/${t}_fuzz.c" "$objdir/libpz.a" "${libs[@]}" -o "$exe"
    dict=()
    [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
    if [ -d "tests/fuzz/regressions/$t" ] && [ -n "$(ls -A "tests/fuzz/regressions/$t")" ]; then
        if ! "$exe" "${dict[@]}" tests/fuzz/regressions/"$t"/* >"$out/$t/regressions.log" 2>&1; then
            echo "FAIL $t: a committed regression input crashes again (log: $out/$t/regressions.log)"
            failed=$((failed + 1))
            continue
        fi
    fi
    # -rss_limit_mb: the parsers bound their inputs; a run that grows past it is a bug.
    if "$exe" "${dict[@]}" "${seed[@]}" -max_total_time="$seconds" -max_len=16384 -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$out/$t/crashes/" -print_final_stats=1 \
        "$out/$t/corpus" "tests/fuzz/corpus/$t" >"$out/$t/fuzz.log" 2>&1; then
        echo "ok   $t: ${seconds}s, $(grep -E '^stat::number_of_executed_units' "$out/$t/fuzz.log" | awk '{print $2}')" \
             "runs, corpus $(ls "$out/$t/corpus" | wc -l) new + $(ls "tests/fuzz/corpus/$t" | wc -l) committed"
        passed=$((passed + 1))
    else
        echo "FAIL $t: crash or leak; input under $out/$t/crashes/, log $out/$t/fuzz.log"
        tail -40 "$out/$t/fuzz.log"
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" = 0 ]
