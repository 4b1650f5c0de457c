"""Response cache benchmark (issues #4, #21). Prints figures and ratios measured in the same run:

  1. REST cache-hit throughput of the personalization server vs h2o's own file handler serving
     the same JSON bytes (static_server), with wrk (HTTP/1.1, keep-alive); then the same with
     `Accept-Encoding: gzip`, against the file handler serving our exact gzip bytes precompressed
     (its send-compressed mode: no compression per request on either side); goal >= 1.0 for the
     plain hits.
  2. gRPC cache-hit throughput vs a bare grpc-core server answering with the same protobuf bytes
     and the same response metadata entries (grpc_echo_server; the entries our hit sends, the request id
     included), with h2load and gRPC framing, run with one and with two completion-queue threads;
     goal >= 0.9 against the faster of the two in the run (which one is depends on the machine);
     and, for reference, vs the slower one, vs the same bare server without metadata, and vs the same bare
     server behind the personalization server's own acceptor (grpc_echo_server --guard: admission and
     the rapid-reset guard in grpc core's reads, which every plaintext gRPC connection of ours passes),
     which tells the guard's cost from the rest of ours.
  3. Latency p50/p99 of a REST cache hit and of a miss (one connection, wrk --latency; client-side
     on loopback, so it includes the loopback round trip).
  4. What recording metrics costs a REST and a gRPC cache hit: two fresh servers, --metrics on (the
     default) and off, in alternating pairs of runs; server CPU per request of each, and the median
     of the pairs' differences with their spread.

Everything listens on 127.0.0.1 only. The load generator shares the machine's cores with the
server under test; each run is short (RUN_SECONDS) and bounded. Run it through run.sh, which
builds the optimized binaries first:

  tests/bench/cache/run.sh
  PZ_BENCH_SERVER_ARGS='--grpc-threads 1' tests/bench/cache/run.sh   (extra server flags)
"""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

RUN_SECONDS = int(os.environ.get("PZ_BENCH_SECONDS", "3"))
SERVER_ARGS = os.environ.get("PZ_BENCH_SERVER_ARGS", "").split()
LATENCY_SECONDS = 3
ROUNDS = int(os.environ.get("PZ_BENCH_ROUNDS", "5"))
# Section 4 compares two servers whose difference is expected to be tiny: more pairs than ROUNDS.
METRICS_PAIRS = int(os.environ.get("PZ_BENCH_METRICS_PAIRS", "11"))
HIT_PATH = "/recommend-items/demo/for-you/user-0001?numResults=25"
GRPC_METHOD = "/personalization.v1.PersonalizationService/RecommendItems"
HERE = os.path.dirname(os.path.abspath(__file__))

MISS_LUA = """
-- every request a different key: 400 demo users x 40 list lengths
counter = 0
request = function()
  counter = counter + 1
  local user = counter % 400 + 1
  local n = 10 + math.floor(counter / 400) % 40
  return wrk.format("GET", string.format("/recommend-items/demo/for-you/user-%04d?numResults=%d", user, n))
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not listen on %d" % (what, port))


def http_get(port, path, headers=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, dict((k.lower(), v) for k, v in r.headers.items()), r.read()


def cpu_seconds(pid):
    """User + system CPU time of a process (all its threads) so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url, seconds, connections=64, threads=2, latency=False, script=None, pid=None, headers=()):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % seconds]
    for h in headers:
        cmd += ["-H", h]
    if latency:
        cmd.append("--latency")
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    cpu0 = cpu_seconds(pid) if pid else 0
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
    cpu1 = cpu_seconds(pid) if pid else 0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not m or errors:
        raise RuntimeError("wrk failed:\n" + out)
    n = int(re.search(r"(\d+) requests in", out).group(1))
    result = {"rps": float(m.group(1)), "raw": out, "cpu_us": (cpu1 - cpu0) / n * 1e6 if pid else None}
    if latency:
        for pct in ("50", "99"):
            lm = re.search(r"^\s+%s(?:\.000)?%%\s+([\d.]+)(us|ms|s)\s*$" % pct, out, re.M)
            value = float(lm.group(1))
            result["p" + pct] = value / 1000.0 if lm.group(2) == "us" else value * (1000.0 if lm.group(2) == "s"
                                                                                      else 1.0)
    return result


def h2load(url, body_file, seconds, clients=16, streams=32, pid=None):
    cmd = ["h2load", "-D", str(seconds), "-c", str(clients), "-m", str(streams), "-t", "1", "-d", body_file,
           "-H", "content-type: application/grpc", "-H", "te: trailers", url]
    cpu0 = cpu_seconds(pid)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
    cpu1 = cpu_seconds(pid)
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    ok = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
    if not m or not ok or not done or int(done.group(3)) != 0 or int(ok.group(1)) == 0:
        raise RuntimeError("h2load failed:\n" + out)
    return {"rps": float(m.group(1)), "done": int(done.group(1)), "raw": out,
            "cpu_us": (cpu1 - cpu0) / int(done.group(2)) * 1e6}


def start(cmd, log_path):
    log = open(log_path, "w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def stop(proc):
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# REST port -> admin port (/admin/..., /metrics) of each server started.
ADMIN_PORTS = {}


def start_server(binary, tmp, extra, data="data"):
    """Starts the server on free loopback ports (given explicitly: --log-level warn hides the lines
    that would say which ones it picked). Returns (process, REST port, gRPC port)."""
    http_port, grpc_port, admin_port = free_port(), free_port(), free_port()
    ADMIN_PORTS[http_port] = admin_port
    log_path = os.path.join(tmp, "server-%d.log" % len(os.listdir(tmp)))
    proc = start([binary, "--demo", "--data-dir", os.path.join(tmp, data), "--http-port", str(http_port),
                  "--grpc-port", str(grpc_port), "--admin-port", str(admin_port), "--admin-grpc-port", "0"] + extra,
                 log_path)
    wait_port(http_port, proc, "personalization-server", timeout=60)
    wait_port(grpc_port, proc, "personalization-server", timeout=60)
    deadline = time.time() + 60
    while time.time() < deadline:  # the demo seeds its history before serving
        try:
            if http_get(http_port, "/healthz")[0] == 200:
                return proc, http_port, grpc_port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server never became healthy:\n" + open(log_path).read())


def grpc_frame(message):
    return b"\x00" + struct.pack(">I", len(message)) + message


def recommend_request_bytes():
    # RecommendItemsRequest{namespace="demo", recommender="for-you", user_id="user-0001", num_results=25}
    def field(num, wire, payload):
        return bytes([num << 3 | wire]) + payload

    def s(num, text):
        b = text.encode()
        return field(num, 2, bytes([len(b)]) + b)
    return s(1, "demo") + s(2, "for-you") + s(3, "user-0001") + field(4, 0, bytes([25]))


def fetch_grpc_response(port, request, metadata=None):
    """The raw protobuf bytes our server sends for request (via curl with gRPC framing). With a list
    `metadata`, the response's own metadata entries are appended to it as "key=value" (all but
    content-type and grpc core's grpc-* entries), in the order sent."""
    with tempfile.NamedTemporaryFile() as head:
        out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-H", "content-type: application/grpc",
                              "-H", "te: trailers", "--data-binary", "@-", "-o", "-", "-D", head.name,
                              "http://127.0.0.1:%d%s" % (port, GRPC_METHOD)],
                             input=grpc_frame(request), capture_output=True, timeout=20, check=True).stdout
        for line in head.read().decode("latin-1").splitlines():
            key, sep, value = line.partition(":")
            key = key.strip().lower()
            if metadata is not None and sep and not key.startswith(("grpc-", "http/")) and key != "content-type":
                metadata.append("%s=%s" % (key, value.strip()))
    if len(out) < 5 or out[0] != 0:
        raise RuntimeError("unexpected gRPC body %r" % out[:40])
    (n,) = struct.unpack(">I", out[1:5])
    return out[5:5 + n]


def stats(port):
    return json.loads(http_get(ADMIN_PORTS[port], "/admin/cache/stats")[2])


def best(results):
    return max(r["rps"] for r in results)


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def paired_ratio(ours, baseline):
    """Median of the ratios of runs made back to back: robust to load that drifts during the run
    (other processes on the machine), which best-of figures are not."""
    return median([a["rps"] / b["rps"] for a, b in zip(ours, baseline)])


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def print_comparison(title, ours_label, ours, base_label, base, extra, goal=None):
    print(title)
    print("  %-23s %9.0f req/s best, %9.0f median   (runs: %s%s)" % (
        ours_label, best(ours), median([r["rps"] for r in ours]), ", ".join("%.0f" % r["rps"] for r in ours), extra))
    print("  %-23s %9.0f req/s best, %9.0f median   (runs: %s)" % (
        base_label, best(base), median([r["rps"] for r in base]), ", ".join("%.0f" % r["rps"] for r in base)))
    print("  ratio                   %9.2f (median of back-to-back pairs; best/best %.2f%s)" % (
        paired_ratio(ours, base), best(ours) / best(base), "; goal >= %.2f" % goal if goal is not None else ""))
    ours_cpu = median([r["cpu_us"] for r in ours])
    base_cpu = median([r["cpu_us"] for r in base])
    print("  server CPU per request  %6.1f us vs %.1f us: efficiency ratio %.2f (immune to other load on the "
          "machine)" % (ours_cpu, base_cpu, base_cpu / ours_cpu))


def print_reference(label, runs, ours):
    """One line for a reference baseline: its medians, and ours against it."""
    cpu = median([r["cpu_us"] for r in runs])
    print("  %s: %.0f req/s median, %.1f us CPU/request; ours vs it: ratio %.2f, efficiency %.2f" % (
        label, median([r["rps"] for r in runs]), cpu, paired_ratio(ours, runs),
        cpu / median([r["cpu_us"] for r in ours])))


def print_metrics_cost(title, runs_on, runs_off):
    diffs = sorted(a["cpu_us"] - b["cpu_us"] for a, b in zip(runs_on, runs_off))
    q = len(diffs) // 4
    print(title)
    print("  metrics on  %9.0f req/s median, %.2f us server CPU per request" % (
        median([r["rps"] for r in runs_on]), median([r["cpu_us"] for r in runs_on])))
    print("  metrics off %9.0f req/s median, %.2f us server CPU per request" % (
        median([r["rps"] for r in runs_off]), median([r["cpu_us"] for r in runs_off])))
    print("  recording costs %+.2f us per request (median of paired differences; middle half %+.2f .. %+.2f, "
          "all %+.2f .. %+.2f)" % (median(diffs), diffs[q], diffs[len(diffs) - 1 - q], diffs[0], diffs[-1]))


def main():
    binary, static_server, echo_server = (os.path.abspath(p) for p in sys.argv[1:4])
    tmp = tempfile.mkdtemp(prefix="pz-bench-cache-")
    procs = []
    try:
        ours, http_port, grpc_port = start_server(binary, tmp, ["--log-level", "warn"] + SERVER_ARGS)
        procs.append(ours)
        wait_port(http_port, ours, "server")
        # the entry both fronts will hit, and its exact bytes for the baselines
        status, hdrs, body = http_get(http_port, HIT_PATH)
        assert status == 200 and hdrs.get("etag"), hdrs
        www = os.path.join(tmp, "www")
        os.makedirs(www)
        with open(os.path.join(www, "hit.json"), "wb") as f:
            f.write(body)
        gz_status, gz_hdrs, gz_body = http_get(http_port, HIT_PATH, {"Accept-Encoding": "gzip"})
        assert gz_status == 200 and gz_hdrs.get("content-encoding") == "gzip", gz_hdrs
        with open(os.path.join(www, "hit.json.gz"), "wb") as f:
            f.write(gz_body)
        request = recommend_request_bytes()
        our_metadata = []
        response = fetch_grpc_response(grpc_port, request, our_metadata)
        with open(os.path.join(tmp, "response.pb"), "wb") as f:
            f.write(response)
        with open(os.path.join(tmp, "request.bin"), "wb") as f:
            f.write(grpc_frame(request))

        static_port, echo_port, static_gz_port = free_port(), free_port(), free_port()
        static = start([static_server, www, str(static_port), "2"], os.path.join(tmp, "static.log"))
        procs.append(static)
        static_gz = start([static_server, www, str(static_gz_port), "2", "gzip"], os.path.join(tmp, "static-gz.log"))
        procs.append(static_gz)
        echo = start([echo_server, str(echo_port), GRPC_METHOD, os.path.join(tmp, "response.pb"), "1"],
                     os.path.join(tmp, "echo.log"))
        procs.append(echo)
        # the same server sending the metadata entries our hit sends (the request id too, with the
        # value of the fetch above: as long as any), the goal's baseline; grpc 1.51 encodes custom
        # metadata as literals on every response, so without them it is a lighter server
        assert any(m.startswith("x-request-id=") for m in our_metadata), our_metadata
        echo_md_port = free_port()
        echo_md = start([echo_server, str(echo_md_port), GRPC_METHOD, os.path.join(tmp, "response.pb"), "1"]
                        + our_metadata, os.path.join(tmp, "echo-md.log"))
        procs.append(echo_md)
        # with two completion-queue threads too, as ours has by default: which of one or two serves
        # more depends on the machine (on 2 cores shared with h2load, one did on one machine, two on
        # another), and the goal's baseline is the faster of the two in this run
        echo_md2_port = free_port()
        echo_md2 = start([echo_server, str(echo_md2_port), GRPC_METHOD, os.path.join(tmp, "response.pb"), "2"]
                         + our_metadata, os.path.join(tmp, "echo-md2.log"))
        procs.append(echo_md2)
        # and behind the personalization server's own acceptor (its rapid-reset guard), to tell the
        # guard's cost from the rest of ours
        echo_guarded_port = free_port()
        echo_guarded = start([echo_server, "--guard", str(echo_guarded_port), GRPC_METHOD,
                              os.path.join(tmp, "response.pb"), "1"] + our_metadata,
                             os.path.join(tmp, "echo-guarded.log"))
        procs.append(echo_guarded)
        wait_port(echo_guarded_port, echo_guarded, "grpc_echo_server (guarded)")
        wait_port(echo_md_port, echo_md, "grpc_echo_server (metadata)")
        wait_port(echo_md2_port, echo_md2, "grpc_echo_server (metadata, 2 threads)")
        wait_port(static_port, static, "static_server")
        wait_port(static_gz_port, static_gz, "static_server (gzip)")
        wait_port(echo_port, echo, "grpc_echo_server")
        assert http_get(static_port, "/hit.json")[2] == body
        gz_check = http_get(static_gz_port, "/hit.json", {"Accept-Encoding": "gzip"})
        assert gz_check[1].get("content-encoding") == "gzip" and gz_check[2] == gz_body, gz_check[1]

        print("response: %d bytes of JSON (%d gzip), %d bytes of protobuf, ETag %s" % (
            len(body), len(gz_body), len(response), hdrs["etag"]))
        print("server flags: %s" % (" ".join(SERVER_ARGS) or "defaults"))
        print("machine: %d cores shared by server and load generator; %d rounds of %d s runs, alternating; "
              "load average %s" % (os.cpu_count(), ROUNDS, RUN_SECONDS, loadavg()))
        print()

        # 1. REST
        before = stats(http_port)
        rest_ours, rest_static = [], []
        for _ in range(ROUNDS):
            rest_ours.append(wrk("http://127.0.0.1:%d%s" % (http_port, HIT_PATH), RUN_SECONDS, pid=ours.pid))
            rest_static.append(wrk("http://127.0.0.1:%d/hit.json" % static_port, RUN_SECONDS, pid=static.pid))
        after = stats(http_port)
        served = sum(r["rps"] for r in rest_ours) * RUN_SECONDS
        hits = after["hits"] - before["hits"]
        print_comparison("REST  cache hit (wrk -t2 -c64, HTTP/1.1)", "personalization-server", rest_ours,
                         "h2o file handler", rest_static,
                         "; %d cache hits, %d misses" % (hits, after["misses"] - before["misses"]), 1.0)
        if hits < 0.9 * served:
            print("  WARNING: only %d of ~%.0f requests were cache hits" % (hits, served))
        print()

        # 1b. REST, the client accepting gzip: the coded body kept with the entry
        gzip_header = ["Accept-Encoding: gzip"]
        before = stats(http_port)
        gz_ours, gz_static = [], []
        for _ in range(ROUNDS):
            gz_ours.append(wrk("http://127.0.0.1:%d%s" % (http_port, HIT_PATH), RUN_SECONDS, pid=ours.pid,
                               headers=gzip_header))
            gz_static.append(wrk("http://127.0.0.1:%d/hit.json" % static_gz_port, RUN_SECONDS, pid=static_gz.pid,
                                 headers=gzip_header))
        after = stats(http_port)
        print_comparison("REST  cache hit, Accept-Encoding: gzip (%d-byte body)" % len(gz_body),
                         "personalization-server", gz_ours, "h2o file handler, .gz", gz_static,
                         "; %d cache hits, %d bodies coded" % (after["hits"] - before["hits"],
                                                              after["codedBodies"] - before["codedBodies"]))
        print("  vs our plain hit: %.2f of its median throughput, %.1f us vs %.1f us CPU/request" % (
            median([r["rps"] for r in gz_ours]) / median([r["rps"] for r in rest_ours]),
            median([r["cpu_us"] for r in gz_ours]), median([r["cpu_us"] for r in rest_ours])))
        print()

        # 2. gRPC
        url_ours = "http://127.0.0.1:%d%s" % (grpc_port, GRPC_METHOD)
        url_echo = "http://127.0.0.1:%d%s" % (echo_port, GRPC_METHOD)
        req_file = os.path.join(tmp, "request.bin")
        before = stats(http_port)
        url_echo_md = "http://127.0.0.1:%d%s" % (echo_md_port, GRPC_METHOD)
        url_echo_md2 = "http://127.0.0.1:%d%s" % (echo_md2_port, GRPC_METHOD)
        url_echo_guarded = "http://127.0.0.1:%d%s" % (echo_guarded_port, GRPC_METHOD)
        grpc_ours, grpc_echo, grpc_echo_md, grpc_echo_md2, grpc_echo_guarded = [], [], [], [], []
        for _ in range(ROUNDS):
            grpc_ours.append(h2load(url_ours, req_file, RUN_SECONDS, pid=ours.pid))
            grpc_echo.append(h2load(url_echo, req_file, RUN_SECONDS, pid=echo.pid))
            grpc_echo_md.append(h2load(url_echo_md, req_file, RUN_SECONDS, pid=echo_md.pid))
            grpc_echo_md2.append(h2load(url_echo_md2, req_file, RUN_SECONDS, pid=echo_md2.pid))
            grpc_echo_guarded.append(h2load(url_echo_guarded, req_file, RUN_SECONDS, pid=echo_guarded.pid))
        after = stats(http_port)
        # the goal's baseline: the bare server with the metadata at its faster thread count here
        baselines = sorted([(median([r["rps"] for r in grpc_echo_md]), 1, grpc_echo_md),
                            (median([r["rps"] for r in grpc_echo_md2]), 2, grpc_echo_md2)], key=lambda b: b[0])
        _, slow_threads, slow_runs = baselines[0]
        _, fast_threads, fast_runs = baselines[1]
        print_comparison("gRPC  cache hit (h2load -c16 -m32 -t1, gRPC framing)", "personalization-server",
                         grpc_ours, "bare grpc-core, same bytes and metadata (%d entries), %d thread%s" % (
                             len(our_metadata), fast_threads, "s" if fast_threads > 1 else ""), fast_runs,
                         "; %d cache hits" % (after["hits"] - before["hits"]), 0.9)
        print_reference("the same bare server with %d thread%s" % (slow_threads, "s" if slow_threads > 1 else ""),
                        slow_runs, grpc_ours)
        print_reference("the bare server without the metadata (1 thread)", grpc_echo, grpc_ours)
        print_reference("the bare server behind our acceptor (the rapid-reset guard), same bytes and metadata "
                        "(1 thread)",
                        grpc_echo_guarded, grpc_ours)
        print()

        # 3. latency, one connection
        stop(static)
        stop(static_gz)
        stop(echo)
        stop(echo_md)
        stop(echo_md2)
        stop(echo_guarded)
        hit = wrk("http://127.0.0.1:%d%s" % (http_port, HIT_PATH), LATENCY_SECONDS, connections=1, threads=1,
                  latency=True)
        script = os.path.join(tmp, "miss.lua")
        with open(script, "w") as f:
            f.write(MISS_LUA)
        before = stats(http_port)
        miss = wrk("http://127.0.0.1:%d/" % http_port, LATENCY_SECONDS, connections=1, threads=1, latency=True,
                   script=script)
        after = stats(http_port)
        print("REST  latency, 1 connection (wrk --latency -t1 -c1; client-side, loopback)")
        print("  hit    p50 %7.3f ms   p99 %7.3f ms   (%.0f req/s)" % (hit["p50"], hit["p99"], hit["rps"]))
        print("  miss   p50 %7.3f ms   p99 %7.3f ms   (%.0f req/s; %d misses, %d hits: builtin recommender, "
              "personalized, 10-49 items)" % (miss["p50"], miss["p99"], miss["rps"], after["misses"] - before["misses"],
                                              after["hits"] - before["hits"]))
        print("  miss/hit p50 %.1fx" % (miss["p50"] / hit["p50"]))
        # misses of a client accepting gzip: each new entry's body is coded once, by its first request
        # (the counter restarts, so these are new keys again: numResults 50-89)
        with open(script, "w") as f:
            f.write(MISS_LUA.replace("10 + math.floor", "50 + math.floor"))
        before = stats(http_port)
        miss_gz = wrk("http://127.0.0.1:%d/" % http_port, LATENCY_SECONDS, connections=1, threads=1, latency=True,
                      script=script, headers=["Accept-Encoding: gzip"])
        after = stats(http_port)
        print("  miss, Accept-Encoding: gzip   p50 %7.3f ms   p99 %7.3f ms   (%.0f req/s; %d misses, %d bodies "
              "coded: the coding is part of the miss)" % (miss_gz["p50"], miss_gz["p99"], miss_gz["rps"],
                                                          after["misses"] - before["misses"],
                                                          after["codedBodies"] - before["codedBodies"]))

        # 4. metrics on vs off: what recording costs a hit, in server CPU per request. Two fresh servers
        # started alike (the one above has served sections 1-3), alternating pairs of runs; the
        # figure is the median of the pairs' differences, with their spread: a difference smaller
        # than the spread is not a measurement of the recording.
        on, on_port, on_grpc = start_server(binary, tmp, ["--log-level", "warn", "--metrics", "on"], data="data-on")
        procs.append(on)
        off, off_port, off_grpc = start_server(binary, tmp, ["--log-level", "warn", "--metrics", "off"],
                                               data="data-off")
        procs.append(off)
        http_get(on_port, HIT_PATH)
        http_get(off_port, HIT_PATH)
        pairs = max(ROUNDS, METRICS_PAIRS)
        runs_on, runs_off = [], []
        for i in range(pairs):
            first, second = (on, on_port, runs_on), (off, off_port, runs_off)
            for proc, port, runs in ((first, second) if i % 2 == 0 else (second, first)):
                runs.append(wrk("http://127.0.0.1:%d%s" % (port, HIT_PATH), RUN_SECONDS, pid=proc.pid))
        print()
        print_metrics_cost("REST  cache hit, --metrics on vs off (wrk -t2 -c64, %d alternating pairs)" % pairs,
                           runs_on, runs_off)
        fetch_grpc_response(on_grpc, request)
        fetch_grpc_response(off_grpc, request)
        grpc_on, grpc_off = [], []
        for i in range(pairs):
            first = (on, on_grpc, grpc_on)
            second = (off, off_grpc, grpc_off)
            for proc, port, runs in ((first, second) if i % 2 == 0 else (second, first)):
                runs.append(h2load("http://127.0.0.1:%d%s" % (port, GRPC_METHOD), req_file, RUN_SECONDS,
                                   pid=proc.pid))
        print_metrics_cost("gRPC  cache hit, --metrics on vs off (h2load -c16 -m32, %d alternating pairs)" % pairs,
                           grpc_on, grpc_off)
        print("  (goal <= 0.2 us; the core's own figure, thread CPU time without the fronts' threads, is "
              "printed by core_hit_bench above)")
        for p in (on, off):
            stop(p)
            procs.remove(p)

        # the same hit with the access log on (one line per request at info level)
        stop(ours)
        procs.remove(ours)
        logged, http_port2, _ = start_server(binary, tmp, [])
        procs.append(logged)
        http_get(http_port2, HIT_PATH)
        with_log = wrk("http://127.0.0.1:%d%s" % (http_port2, HIT_PATH), RUN_SECONDS)
        print()
        print("REST  cache hit with the access log on (default --log-level info): %.0f req/s (%.2f of the file "
              "handler's best)" % (with_log["rps"], with_log["rps"] / best(rest_static)))
        print("load average at the end: %s" % loadavg())
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
