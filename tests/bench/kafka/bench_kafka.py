#!/usr/bin/python3
"""Kafka benchmark (issue 18): events/s into Kafka from the outbox, and the lag from a 200 on
instance A to the changed recommendation on instance B through the namespace event log.

Usage (from the repository root; builds nothing itself):
    bazel build -c opt //server:personalization-server //tests/integration/kafka:mock_cluster
    /usr/bin/python3 tests/bench/kafka/bench_kafka.py [bazel-out/k8-opt/bin/server/personalization-server]

The cluster is librdkafka's mock cluster (3 brokers on loopback, in one process; see
tests/integration/kafka/mock_cluster.c): it speaks the protocol but keeps messages in memory, so
the figures are the server's side of the work plus a loopback broker, not a disk-backed cluster.

  1. delivery: a backlog of 10-event calls (wrk, post10.lua) accepted while the cluster is down is
     drained once it is up: records/s and events/s from the first delivery until no lag; baseline
     in the same run: a file target drained the same way (fdatasync per batch).
  2. replay: a new instance whose namespace names step 1's topic as its eventLog consumes it from
     the start into its builtin model: events/s applied by one instance (consumer throughput).
  3. lag: user lag-i clicks item pair-i-a on A (whose co-item pair-i-b B already knows); B is polled
     for lag-i's recommendations until pair-i-b appears: p50/p99 of the time from A's 200;
     baseline in the same run: the same on A itself (its builtin target applies before the 200).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "kafka"))
from harness import Server  # noqa: E402
from kafka_harness import MockCluster, target_stats  # noqa: E402

BINARY = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                         os.path.join(ROOT, "bazel-out", "k8-opt", "bin", "server", "personalization-server"))
LUA = os.path.join(ROOT, "tests", "bench", "events", "post10.lua")
LAG_SAMPLES = int(os.environ.get("PZ_BENCH_LAG_SAMPLES", "200"))


def write(tmp, name, doc):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def drain(server, type_, timeout=300):
    """(seconds, records, events) from the first delivery of the target until it has no lag."""
    first = None
    deadline = time.time() + timeout
    while time.time() < deadline:
        t = target_stats(server, type_)[0]
        now = time.time()
        if first is None and t["delivered"] > 0:
            first = (now, t["delivered"], t["deliveredEvents"])
        if t["lag"] == 0 and first is not None:
            return max(now - first[0], 1e-3), t["delivered"] - first[1], t["deliveredEvents"] - first[2]
        time.sleep(0.002)
    raise RuntimeError("%s target did not catch up" % type_)


def bench_delivery(tmp, cluster):
    cluster.topic("bench", 8)
    sink = os.path.join(tmp, "sink-later")  # missing: the file target waits until it exists
    config = write(tmp, "delivery.json", {"namespaces": {
        "k": {"eventTargets": [{"type": "kafka", "brokers": cluster.bootstrap, "topic": "bench"}]},
        "f": {"eventTargets": [{"type": "file", "path": os.path.join(sink, "f.jsonl")}]}}})
    for b in (1, 2, 3):
        cluster.cmd("down %d" % b)
    s = Server(BINARY, args=["--config", config, "--config-watch-ms", "0"]).start()
    for ns in ("k", "f"):
        subprocess.run(["wrk", "-t2", "-c32", "-d3s", "-s", LUA, s.url("/")], env=dict(os.environ, PZ_NS=ns),
                       capture_output=True, timeout=60)
    backlog = {t["namespace"]: t["lag"] for t in json.loads(
        subprocess.run(["curl", "-s", s.admin_url("/admin/events/stats")], capture_output=True).stdout)["targets"]}
    s.stop()
    for b in (1, 2, 3):
        cluster.cmd("up %d" % b)
    s2 = Server(BINARY, args=["--config", config, "--config-watch-ms", "0"], data_dir=s.data_dir).start()
    k = drain(s2, "kafka")
    os.makedirs(sink)
    f = drain(s2, "file")
    s2.stop()
    print("1. delivery from the outbox (backlog accepted while the cluster was down: %d kafka, %d file records)"
          % (backlog.get("k", 0), backlog.get("f", 0)))
    print("   kafka target (idempotent, acks=all, 3-broker mock cluster): %9.0f records/s  %9.0f events/s"
          % (k[1] / k[0], k[2] / k[0]))
    print("   baseline: file target, same run:                           %9.0f records/s  %9.0f events/s"
          % (f[1] / f[0], f[2] / f[0]))
    print("   ratio kafka / file: %.2f" % ((k[1] / k[0]) / (f[1] / f[0])))
    s.cleanup()
    s2.cleanup()
    return backlog.get("k", 0)


def bench_replay(tmp, cluster, records):
    """Step 3: a new instance replays step 1's topic (records of 10 events) into its model."""
    config = write(tmp, "replay.json", {"namespaces": {"k": {
        "recommenders": {"recommend-items": {"for-you": {"variations": {"p": {"type": "builtin"}}}}},
        "eventTargets": [{"type": "builtin"}],
        "eventLog": {"brokers": cluster.bootstrap, "topic": "bench"}}}})
    s = Server(BINARY, args=["--config", config, "--config-watch-ms", "0"]).start()
    first = None
    deadline = time.time() + 300
    while time.time() < deadline:
        log = json.loads(subprocess.run(["curl", "-s", s.admin_url("/admin/events/stats")],
                                        capture_output=True).stdout)["eventLogs"]["logs"]
        now = time.time()
        if log and first is None and log[0]["consumed"] > 0:
            first = (now, log[0]["consumed"], log[0]["applied"])
        if log and log[0]["consumed"] >= records:
            break
        time.sleep(0.005)
    secs = max(now - first[0], 1e-3)
    print("2. replay of the topic by a new instance (%d messages, %d events)" % (log[0]["consumed"], log[0]["applied"]))
    print("   consumed and applied to the builtin model: %9.0f messages/s  %9.0f events/s"
          % ((log[0]["consumed"] - first[1]) / secs, (log[0]["applied"] - first[2]) / secs))
    s.stop()
    s.cleanup()


def request(conn, method, path, body=None):
    conn.request(method, path, body, {"Content-Type": "application/json"} if body else {})
    r = conn.getresponse()
    data = r.read()
    return r.status, data


def wait_item(conn, path, item, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, data = request(conn, "GET", path)
        if status == 200 and ('"%s"' % item).encode() in data:
            return time.time()
        time.sleep(0.001)
    raise RuntimeError("%s never showed %s" % (path, item))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def bench_lag(tmp, cluster):
    cluster.topic("lag-log", 4)
    config = write(tmp, "lag.json", {"namespaces": {"shop": {
        "recommenders": {"recommend-items": {"for-you": {"variations": {"p": {"type": "builtin"}}}}},
        "eventTargets": [{"type": "builtin"}],
        "eventLog": {"brokers": cluster.bootstrap, "topic": "lag-log"}}}})
    a = Server(BINARY, args=["--config", config, "--config-watch-ms", "0"]).start()
    b = Server(BINARY, args=["--config", config, "--config-watch-ms", "0"]).start()
    ca = http.client.HTTPConnection("127.0.0.1", a.http_port, timeout=10)
    cb = http.client.HTTPConnection("127.0.0.1", b.http_port, timeout=10)
    for i in range(LAG_SAMPLES):  # the pairs both instances know before the timing
        body = '{"sessionId":"seed-%d","userId":"seed-%d","eventList":[{"eventType":"click","itemId":"pair-%d-a"},' \
               '{"eventType":"click","itemId":"pair-%d-b"}]}' % (i, i, i, i)
        assert request(cb, "POST", "/events/shop", body)[0] == 200
    remote, local = [], []
    for i in range(LAG_SAMPLES):
        body = '{"sessionId":"lag-%d","userId":"lag-%d","eventList":[{"eventType":"click","itemId":"pair-%d-a"}]}' \
               % (i, i, i)
        path = "/recommend-items/shop/for-you/lag-%d?numResults=5" % i
        status, _ = request(ca, "POST", "/events/shop", body)
        t200 = time.time()
        assert status == 200
        local.append(wait_item(ca, path, "pair-%d-b" % i) - t200)
        remote.append(wait_item(cb, path, "pair-%d-b" % i) - t200)
    ca.close()
    cb.close()
    a.stop()
    b.stop()
    print("3. lag from a 200 on A to the changed recommendation (%d users)" % LAG_SAMPLES)
    print("   on B, through the event log:    p50 %7.1f ms   p99 %7.1f ms   max %7.1f ms"
          % (1000 * pct(remote, 50), 1000 * pct(remote, 99), 1000 * max(remote)))
    print("   baseline: on A itself, same run: p50 %7.1f ms   p99 %7.1f ms"
          % (1000 * pct(local, 50), 1000 * pct(local, 99)))
    a.cleanup()
    b.cleanup()


def main():
    if not os.path.exists(BINARY):
        sys.exit("no server binary at %s; run `bazel build -c opt //server:personalization-server`" % BINARY)
    tmp = tempfile.mkdtemp(prefix="pz-bench-kafka-")
    cluster = MockCluster(3)
    try:
        print("server: %s; cluster: librdkafka mock, 3 brokers at %s" % (BINARY, cluster.bootstrap))
        records = bench_delivery(tmp, cluster)
        bench_replay(tmp, cluster, records)
        bench_lag(tmp, cluster)
    finally:
        cluster.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
