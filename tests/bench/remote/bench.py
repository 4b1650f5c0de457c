#!/usr/bin/python3
"""Remote-recommender benchmark: the server's added latency on a miss (every request calls the
upstream) and its throughput with many calls in flight, against a local C fake of the Personalize
runtime that answers at once (fake_upstream.c). Loopback only; every wrk run lasts 1 to 5 s.

Build (optimized) and run:
  bazel build -c opt //server:personalization-server //tests/bench/remote:fake_upstream
  /usr/bin/python3 tests/bench/remote/bench.py

Measured in the same run, with wrk (closed loop):
  direct    wrk -> fake upstream (POST /recommendations): the upstream's own time, loopback hop included
  remote    wrk -> server (GET /recommend-items, personalize-campaign variation, SigV4) -> fake upstream
  unsigned  the same through an `http` variation (no SigV4): the engine without signing
  builtin   wrk -> server (builtin popular variation): the server alone, no upstream
  added     the goal's figure (issue #6: p99 <= 200 us over the upstream's own time), server-side,
            per request of the 1-connection `remote` rounds, from the server's access log:
            dur_ms - upstream_ms. dur_ms runs from receipt in the front to completion in the core,
            before the response is written (the client-facing write is not in it); upstream_ms is
            the upstream call's own time from libcurl's timings (connection set-up + request sent ->
            transfer done; building, signing and sending the request stay the server's), so the
            server->upstream loopback hop counts as the upstream's time, as the server sees it.
  client-side added  remote - direct with 1 connection, measured by wrk: the same plus the
            response write and one extra loopback hop (server -> fake) charged to the server; an
            upper bound, kept for information
Latency is measured in interleaved 1 s rounds and each percentile is the median over the rounds, so
a stall of the shared machine during one round does not decide the figure. Throughput: 64
connections, 5 s each. The fake counts requests, so the run checks that every server request
really was an upstream call (no response cache in the way).
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ARN = "arn:aws:personalize:us-east-1:111122223333:campaign/bench"
UNITS = {"us": 1.0, "ms": 1000.0, "s": 1e6}


def opt_binary(path):
    """The -c opt build's output (bazel-bin follows whatever was built last)."""
    opt = os.path.join(ROOT, "bazel-out", "k8-opt", "bin", path)
    return opt if os.path.exists(opt) else os.path.join(ROOT, "bazel-bin", path)


def wrk(url, seconds, conns, threads, script=None):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 30).stdout
    pct = {m.group(1): float(m.group(2)) * UNITS[m.group(3)]
           for m in re.finditer(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if non2xx or errors:
        raise SystemExit("wrk saw failures on %s:\n%s" % (url, out))
    return {"p50": pct["50"], "p99": pct["99"], "rps": rps, "requests": total}


def pct(values, p):
    """Nearest-rank percentile of a non-empty list."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(-(-p * len(v) // 100)) - 1))]


def server_added_us(log_text, variation):
    """dur - upstream in us for every access-log line of a request served by `variation`."""
    rx = r"access rest GET \S+ status=200 dur_ms=([\d.]+) upstream_ms=([\d.]+) .*variation=%s " % variation
    return [(float(m.group(1)) - float(m.group(2))) * 1000.0 for m in re.finditer(rx, log_text)]


def fake_count(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/stats" % port, timeout=5) as r:
        return int(r.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default=opt_binary("server/personalization-server"))
    ap.add_argument("--fake", default=opt_binary("tests/bench/remote/fake_upstream"))
    ap.add_argument("--seconds", type=int, default=5, help="per throughput run (at most 10)")
    ap.add_argument("--rounds", type=int, default=9, help="1 s latency rounds per path")
    ap.add_argument("--connections", type=int, default=64, help="for the throughput runs")
    args = ap.parse_args()
    seconds = max(1, min(args.seconds, 10))
    tmp = tempfile.mkdtemp(prefix="pz-bench-remote-")
    fake = subprocess.Popen([args.fake, "0"], stdout=subprocess.PIPE, text=True)
    fake_port = int(fake.stdout.readline().split()[1])
    config = {"version": "bench", "namespaces": {"bench": {"recommenders": {"recommend-items": {
        "remote": {"variations": {"p": {"type": "personalize-campaign", "arn": ARN}}},
        "unsigned": {"variations": {"h": {"type": "http",
                                          "url": "http://127.0.0.1:%d/recs/{userId}?n={numResults}" % fake_port}}},
        "local": {"variations": {"b": {"type": "builtin", "strategy": "popular"}}}}}}}}
    cfg_path = os.path.join(tmp, "config.json")
    with open(cfg_path, "w") as f:
        json.dump(config, f)
    script = os.path.join(tmp, "post.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                'wrk.body = \'{"campaignArn":"%s","userId":"user-1","numResults":25}\'\n' % ARN)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDBENCH", AWS_SECRET_ACCESS_KEY="bench-secret",
               AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME="http://127.0.0.1:%d" % fake_port)
    log = open(os.path.join(tmp, "server.log"), "w+")
    server = subprocess.Popen([args.server, "--config", cfg_path, "--http-port", "0", "--grpc-port", "0",
                               "--admin-port", "0", "--admin-grpc-port", "0",
                               "--data-dir", os.path.join(tmp, "data"), "--config-watch-ms", "0",
                               "--cache-bytes", "0", "--log-level", "info"],
                              stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        port = None
        for _ in range(200):
            m = re.search(r"REST  listening on http://[^ ]*:(\d+)", open(log.name).read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.05)
        if port is None:
            raise SystemExit("server did not start:\n" + open(log.name).read())
        base = "http://127.0.0.1:%d/recommend-items/bench/" % port
        direct_url = "http://127.0.0.1:%d/recommendations" % fake_port
        for url, sc in ((base + "remote/user-1", None), (base + "unsigned/user-1", None), (direct_url, script),
                        (base + "local/user-1", None)):
            wrk(url, 1, 4, 1, sc)  # warm-up: connections, caches
        urls = {"direct": (direct_url, script), "remote": (base + "remote/user-1?numResults=25", None),
                 "unsigned": (base + "unsigned/user-1?numResults=25", None),
                 "builtin": (base + "local/user-1?numResults=25", None)}
        before = fake_count(fake_port)
        rounds = {k: [] for k in urls}
        variation = {"remote": "p", "unsigned": "h"}
        # server-side added latency (us) of each remote / unsigned request, per round
        server_rounds = {k: [] for k in variation}
        for _ in range(args.rounds):
            for k, (url, sc) in urls.items():
                start = os.path.getsize(log.name)
                rounds[k].append(wrk(url, 1, 1, 1, sc))
                if k in variation:
                    time.sleep(0.05)  # the last access lines
                    with open(log.name) as f:
                        f.seek(start)
                        added = server_added_us(f.read(), variation[k])
                    if len(added) < rounds[k][-1]["requests"]:
                        raise SystemExit("found %d %s access lines with upstream_ms for %d requests" %
                                         (len(added), k, rounds[k][-1]["requests"]))
                    server_rounds[k].append(added)
        lat = {k: {p: statistics.median(r[p] for r in rs) for p in ("p50", "p99")} for k, rs in rounds.items()}
        # like the client figures: the percentile of each 1 s round, then the median over the rounds
        srv = {k: {p: statistics.median(pct(a, n) for a in rs) for p, n in (("p50", 50), ("p99", 99))}
               for k, rs in server_rounds.items()}
        srv_all = [x for a in server_rounds["remote"] for x in a]
        thr = {k: wrk(url, seconds, args.connections, 2, sc) for k, (url, sc) in urls.items()}
        upstream_calls = fake_count(fake_port) - before - 1
        expected = sum(r["requests"] for k in ("direct", "remote", "unsigned") for r in rounds[k]) + \
            sum(thr[k]["requests"] for k in ("direct", "remote", "unsigned"))
        # wrk counts completed requests (calls still in flight when it stops reached the upstream too);
        # a response cache would show as far fewer upstream calls
        if upstream_calls < expected:
            raise SystemExit("upstream saw %d calls, expected %d: not every request was a miss" %
                             (upstream_calls, expected))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        fake.kill()
        fake.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    added50 = lat["remote"]["p50"] - lat["direct"]["p50"]
    added99 = lat["remote"]["p99"] - lat["direct"]["p99"]
    print("remote recommender benchmark (wrk, loopback, server, fake and client on %d cores)" % os.cpu_count())
    print("latency, 1 connection, median of %d x 1 s rounds   p50 us     p99 us" % args.rounds)
    for k in ("direct", "remote", "unsigned", "builtin"):
        print("  %-46s %8.0f   %8.0f" % (k, lat[k]["p50"], lat[k]["p99"]))
    print("  %-46s %8.0f   %8.0f   (client-side: includes the response write" % (
        "client-side added (remote - direct)", added50, added99))
    print("  %-46s %8s   %8s    and the extra server->fake loopback hop; information only)" % ("", "", ""))
    print("  %-46s %8.0f   %8.0f" % ("  of which SigV4 (remote - unsigned)", lat["remote"]["p50"] - lat["unsigned"]["p50"],
                                     lat["remote"]["p99"] - lat["unsigned"]["p99"]))
    print("server-side added latency of a miss, 1 connection: access log dur_ms - upstream_ms, per request")
    print("  (dur_ms: receipt in the front -> completion in the core, before the response is written, so the")
    print("   client-facing network write is excluded; upstream_ms: the upstream call's own time, libcurl timings)")
    print("  %-46s %8.0f   %8.0f   (goal p99 <= 200 us: %s)" % (
        "remote: added by the server to a miss", srv["remote"]["p50"], srv["remote"]["p99"],
        "met" if srv["remote"]["p99"] <= 200 else "NOT met"))
    print("  %-46s %8.0f   %8.0f   (%d requests)" % ("  remote, all rounds pooled", pct(srv_all, 50),
                                                  pct(srv_all, 99), len(srv_all)))
    print("  %-46s %8.0f   %8.0f" % ("unsigned (http variation, no SigV4)", srv["unsigned"]["p50"],
                                     srv["unsigned"]["p99"]))
    print("throughput, %d connections, %d s each   req/s" % (args.connections, seconds))
    for k in ("direct", "remote", "unsigned", "builtin"):
        print("  %-46s %8.0f" % (k, thr[k]["rps"]))
    print("  remote / direct            %8.2f" % (thr["remote"]["rps"] / thr["direct"]["rps"]))
    print("  remote / builtin           %8.2f" % (thr["remote"]["rps"] / thr["builtin"]["rps"]))
    print("every remote request was an upstream call: %d upstream calls for %d client requests" %
          (upstream_calls, expected))
    return 0


if __name__ == "__main__":
    sys.exit(main())
