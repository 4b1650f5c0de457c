#!/usr/bin/python3
"""Event pipeline benchmark: acknowledged durable events per second and delivery throughput.

Usage (from the repository root; builds nothing itself):
    bazel build -c opt //server:personalization-server
    /usr/bin/python3 tests/bench/events/bench_events.py [bazel-out/k8-opt/bin/server/personalization-server]

Runs the real server on loopback (REST, 2 loop threads) and, each step at most ~8 s:
  1. baseline: wrk GET /healthz (no disk, no core work) with the same client settings;
  2. acknowledged durable events/s: wrk POSTs 10-event bodies to a namespace whose target is a
     file; every 200 means the call was committed (fsync'ed) to the LMDB outbox by the group-
     committing writer; delivery to the file runs at the same time;
  3. the same to a namespace with the builtin target, whose statistics are updated before the 200;
  4. delivery throughput: events accepted while a fake Kinesis (tests/integration/events/fake_aws.py,
     SigV4 verified with botocore) is down are drained once it is up, and a file target is drained
     the same way; reported as records/s and events/s.
The load generator shares the machine's cores with the server. Prints every figure and its ratio
to the baseline.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "events"))
from fake_aws import FakeAWS, secrets_for  # noqa: E402

BINARY = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                         os.path.join(ROOT, "bazel-out", "k8-opt", "bin", "server", "personalization-server"))
DURATION = "8s"
WRK = ["wrk", "-t2", "-c64", "-d" + DURATION]


def wrk(url, lua=None, ns=None):
    cmd = WRK + (["-s", lua] if lua else []) + [url]
    env = dict(os.environ, PZ_NS=ns or "")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = re.search(r"Latency\s+(\S+)", out).group(1)
    errors = re.search(r"non-200 responses: (\d+)", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, lat, int(errors.group(1)) if errors else 0, int(bad.group(1)) if bad else 0


# REST port -> admin port of each server started: the /admin/... routes live on the admin listener.
ADMIN_PORTS = {}


def get_json(port, path):
    if path.startswith("/admin/"):
        port = ADMIN_PORTS[port]
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return json.load(r)


def start(binary, config, data_dir, env):
    log = open(os.path.join(os.path.dirname(data_dir), "server.log"), "w")
    proc = subprocess.Popen([binary, "--config", config, "--data-dir", data_dir, "--http-port", "0",
                             "--grpc-port", "0", "--admin-port", "0", "--admin-grpc-port", "0", "--log-level", "info",
                             "--config-watch-ms", "0"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 30
    while time.time() < deadline:
        with open(log.name) as f:
            text = f.read()
        m = re.search(r"REST  listening on http://[^ ]*:(\d+)", text)
        a = re.search(r"admin listening on http://[^ ]*:(\d+)", text)
        if m and a:
            ADMIN_PORTS[int(m.group(1))] = int(a.group(1))
            return proc, int(m.group(1))
        time.sleep(0.05)
    raise RuntimeError("server did not start")


def post_fast(port, ns, calls, sessions=1000):
    """Posts `calls` 10-event calls sequentially over one keep-alive connection (http.client)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for n in range(calls):
        events = ",".join('{"eventType":"click","itemId":"item-%d"}' % ((n * 7 + i * 13) % 5000) for i in range(10))
        body = '{"sessionId":"s-%d","userId":"u-%d","eventList":[%s]}' % (n % sessions, n % 3000, events)
        conn.request("POST", "/events/" + ns, body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        assert r.status == 200, r.status
    conn.close()


def target_stats(port, ident):
    for t in get_json(port, "/admin/events/stats")["targets"]:
        if t["id"] == ident:
            return t
    return None


def drain_time(port, ident, timeout=60):
    """Seconds from the first successful delivery (the backoff wait before it is not counted) until
    the target has no lag, and the records delivered in that time."""
    t0 = time.time()
    first = None
    while time.time() - t0 < timeout:
        t = target_stats(port, ident)
        now = time.time()
        if t is not None and first is None and t["delivered"] > 0:
            first = (now, t["delivered"])
        if t is not None and t["lag"] == 0:
            if first is None:
                return 0.0, 0
            return max(now - first[0], 1e-3), t["delivered"] - first[1]
        time.sleep(0.002)
    raise RuntimeError("%s did not catch up" % ident)


def main():
    if not os.path.exists(BINARY):
        sys.exit("no server binary at %s; run `bazel build -c opt //server:personalization-server`" % BINARY)
    tmp = tempfile.mkdtemp(prefix="pz-bench-events-")
    secrets = secrets_for("AKIDBENCH", "bench-secret", None)
    kinesis = FakeAWS("kinesis", secrets)
    kinesis.down = True
    sink_dir = os.path.join(tmp, "sink-later")
    config = {"namespaces": {
        "durable": {"eventTargets": [{"type": "file", "path": os.path.join(tmp, "durable.jsonl")}]},
        "learn": {"eventTargets": [{"type": "builtin"}]},
        "stream": {"eventTargets": [{"type": "kinesis-stream", "streamName": "bench", "endpointUrl": kinesis.url}]},
        "late": {"eventTargets": [{"type": "file", "path": os.path.join(sink_dir, "late.jsonl")}]},
    }}
    config_path = os.path.join(tmp, "config.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDBENCH", AWS_SECRET_ACCESS_KEY="bench-secret",
               AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    data = os.path.join(tmp, "data")
    proc, port = start(BINARY, config_path, data, env)
    base = "http://127.0.0.1:%d" % port
    lua = os.path.join(HERE, "post10.lua")
    try:
        print("server: %s (2 REST loop threads); client: %s" % (BINARY, " ".join(WRK)))
        h_rps, h_lat, _, _ = wrk(base + "/healthz")
        print("baseline GET /healthz:                %9.0f req/s   (latency avg %s)" % (h_rps, h_lat))
        commits0 = get_json(port, "/admin/events/stats")["accepted"]["commits"]
        d_rps, d_lat, d_err, d_bad = wrk(base + "/events/durable", lua, "durable")
        st = get_json(port, "/admin/events/stats")
        commits = st["accepted"]["commits"] - commits0
        calls = st["accepted"]["calls"]
        print("POST /events (file target), 10/call:  %9.0f calls/s = %.0f acknowledged durable events/s "
              "(latency avg %s; %d non-200; %.1f calls per commit; %.2fx the baseline's request rate)"
              % (d_rps, d_rps * 10, d_lat, d_err + d_bad, calls / max(commits, 1), d_rps / h_rps))
        b_rps, b_lat, b_err, b_bad = wrk(base + "/events/learn", lua, "learn")
        print("POST /events (builtin target):        %9.0f calls/s = %.0f events/s applied before the 200 "
              "(latency avg %s; %d non-200; %.2fx the baseline)" % (b_rps, b_rps * 10, b_lat, b_err + b_bad,
                                                                    b_rps / h_rps))
        t = target_stats(port, "durable/file/" + os.path.join(tmp, "durable.jsonl"))
        print("file target during the run: %d records delivered, lag %d at the end" % (t["delivered"], t["lag"]))

        # delivery throughput: a backlog accepted while the targets cannot take it, then released
        n_calls = 20000
        post_fast(port, "stream", n_calls)
        post_fast(port, "late", n_calls)
        kinesis.down = False
        secs, n = drain_time(port, "stream/kinesis-stream/bench")
        print("Kinesis PutRecords to a local fake:   %9.0f records/s = %.0f events/s (%d records in %.2f s, up to "
              "500 per call, SigV4 verified by the fake; %d bad requests)"
              % (n / secs, n * 10 / secs, n, secs, len(kinesis.problems)))
        os.makedirs(sink_dir)
        secs, n = drain_time(port, "late/file/" + os.path.join(sink_dir, "late.jsonl"))
        print("file target (fdatasync per batch):    %9.0f records/s = %.0f events/s (%d records in %.2f s)"
              % (n / secs, n * 10 / secs, n, secs))
        assert len(kinesis.event_ids()) >= n_calls * 10
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        kinesis.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
