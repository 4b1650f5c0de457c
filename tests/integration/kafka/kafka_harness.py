"""Kafka test helpers (issue 18): a librdkafka mock cluster in a subprocess (mock_cluster.c), an
independent reader of a topic (Debian's kcat), and small REST helpers shared by the Kafka
integration test and benchmark."""
import json
import os
import subprocess
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def mock_cluster_binary():
    for c in (os.path.join(HERE, "mock_cluster"),
              os.path.join(REPO_ROOT, "bazel-bin", "tests", "integration", "kafka", "mock_cluster")):
        if os.path.exists(c):
            return c
    raise RuntimeError("mock_cluster not built: bazel build //tests/integration/kafka:mock_cluster")


class MockCluster:
    """A 3-broker mock Kafka cluster on loopback ports; `cmd` drives it (see mock_cluster.c)."""

    def __init__(self, brokers=3):
        self.brokers = brokers
        self.proc = subprocess.Popen([mock_cluster_binary(), str(brokers)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.bootstrap = self.proc.stdout.readline().strip()
        if not self.bootstrap:
            raise RuntimeError("mock cluster did not start")

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer != "ok":
            raise AssertionError("mock cluster: %s -> %s" % (line, answer))

    def topic(self, name, partitions=4):
        self.cmd("topic %s %d" % (name, partitions))

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


FIELD, RECORD = "\x1f", "\x1e"


def kcat_read(bootstrap, topic):
    """Every message of the topic as (partition, key, headers, value), read from the beginning to
    the end of every partition by kcat, a consumer independent of the server."""
    p = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-e", "-q",
                        "-f", "%p" + FIELD + "%k" + FIELD + "%h" + FIELD + "%s" + RECORD],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("kcat failed: %s" % p.stderr)
    out = []
    for rec in p.stdout.split(RECORD):
        if not rec.strip():
            continue
        part, key, headers, value = rec.split(FIELD, 3)
        out.append((int(part), key, headers, value))
    return out


def event_ids(messages):
    ids = []
    for _, _, _, value in messages:
        env = json.loads(value)
        ids += [e.get("eventId") for e in env["body"].get("eventList", [])]
    return ids


def http(server, path, body=None, timeout=20):
    """(status, parsed JSON or None) of a GET, or a POST when body is given."""
    data = json.dumps(body).encode() if body is not None else None
    url = server.admin_url(path) if path.startswith("/admin/") else server.url(path)  # /admin: the admin port
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read()
            return r.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        text = e.read()
        return e.code, (json.loads(text) if text else None)


def target_stats(server, type_):
    _, stats = http(server, "/admin/events/stats")
    return [t for t in stats["targets"] if t["type"] == type_]


def wait_for(what, fn, timeout=30, interval=0.1):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def wait_delivered(server, type_="kafka", timeout=60):
    return wait_for("%s targets delivered" % type_,
                    lambda: all(t["lag"] == 0 for t in target_stats(server, type_)) and target_stats(server, type_),
                    timeout=timeout)
