"""Two builds of the personalization server side by side on the cache benchmark's gRPC hit: starts
both (demo data, free loopback ports), warms their caches, then runs h2load (-c16 -m32, 3 s) on
each in turn for ROUNDS rounds and prints both medians, the median of the back-to-back ratios
(NEW/OLD) and the CPU per call. For changes smaller than what one run of run.sh drifts: the two
servers see the same machine, round after round.

  /usr/bin/python3 tests/bench/cache/ab_grpc.py OLD_BINARY NEW_BINARY [server flags]
  PZ_BENCH_ROUNDS=9 ... (default 9)
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

ROUNDS = int(os.environ.get("PZ_BENCH_ROUNDS", "9"))
SECONDS = 3


def main():
    old_binary, new_binary = (os.path.abspath(p) for p in sys.argv[1:3])
    flags = ["--log-level", "warn"] + sys.argv[3:]
    tmp = tempfile.mkdtemp(prefix="pz-bench-ab-")
    procs = []
    try:
        old, _, old_port = bench.start_server(old_binary, tmp, flags, data="old")
        procs.append(old)
        new, _, new_port = bench.start_server(new_binary, tmp, flags, data="new")
        procs.append(new)
        request = bench.recommend_request_bytes()
        for port in (old_port, new_port):  # fills each cache (the two differ in their recommendation ids)
            assert bench.fetch_grpc_response(port, request)
        body = os.path.join(tmp, "request.bin")
        with open(body, "wb") as f:
            f.write(bench.grpc_frame(request))
        runs_old, runs_new = [], []
        for _ in range(ROUNDS):
            for runs, port, proc in ((runs_old, old_port, old), (runs_new, new_port, new)):
                runs.append(bench.h2load("http://127.0.0.1:%d%s" % (port, bench.GRPC_METHOD), body, SECONDS,
                                         pid=proc.pid))
        (old_rps, old_cpu), (new_rps, new_cpu) = (
            (bench.median([r["rps"] for r in runs]), bench.median([r["cpu_us"] for r in runs]))
            for runs in (runs_old, runs_new))
        print("old %.0f req/s median, %.2f us CPU/call | new %.0f req/s, %.2f us | new/old %.3f (median of %d "
              "back-to-back pairs); CPU old/new %.3f" % (old_rps, old_cpu, new_rps, new_cpu,
                                                        bench.paired_ratio(runs_new, runs_old), ROUNDS,
                                                        old_cpu / new_cpu))
    finally:
        for p in procs:
            bench.stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
