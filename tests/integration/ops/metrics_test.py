"""Prometheus metrics end to end: GET /metrics on the admin port passes `promtool check metrics`,
has the families the operations section of the README promises, and a real Prometheus server
(Debian's `prometheus`, started here with its own configuration and data directory on loopback)
scrapes it and answers a rate query through its HTTP API. The README's example alert rules pass
`promtool check rules` and load into that Prometheus.

The server serves a namespace with a builtin recommender, a remote `http` one (a local fake, so
upstream metrics exist), a localdb catalog and file + builtin event targets.

Usage: metrics_test.py SERVER_BINARY
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import REPO_ROOT, curl, run_tests  # noqa: E402

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


class Recommender:
    """An http recommender answering every GET with two items."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                body = json.dumps({"itemList": [{"itemId": "r1"}, {"itemId": "r2"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]


RECOMMENDER = Recommender()
TMP = tempfile.mkdtemp(prefix="pz-metrics-")
CONFIG = os.path.join(TMP, "config.json")
with open(CONFIG, "w") as f:
    json.dump({"version": "m1",
               "cacheControl": {"userSpecified": {"maxAge": 30, "directives": "private"},
                                "syntheticUserSpecified": {"maxAge": 30, "directives": "public"},
                                "noUserSpecified": {"maxAge": 30, "directives": "public"}},
               "namespaces": {"shop": {
                   "inferenceItemMetadata": {"type": "localdb"},
                   "recommenders": {"recommend-items": {
                       "popular": {"variations": {"b": {"type": "builtin", "strategy": "popular"}}},
                       "remote": {"variations": {"h": {"type": "http", "url": "http://127.0.0.1:%d/recs?u={userId}"
                                                                          % RECOMMENDER.port}}}}},
                   "eventTargets": [{"type": "builtin"}, {"type": "file", "path": os.path.join(TMP, "events.jsonl")}]}}},
              f)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def traffic(s, rounds=10):
    for i in range(rounds):
        curl(s, "/recommend-items/shop/popular/u%d?numResults=3" % (i % 3))
        curl(s, "/recommend-items/shop/remote/u%d" % i)
        curl(s, "/recommend-items/shop/nope/u1")  # 404: unknown recommender, no label for it
    curl(s, "/events/shop", method="POST", headers=("Content-Type: application/json",),
         data=json.dumps({"sessionId": "s", "userId": "u1", "eventList": [{"eventType": "click", "itemId": "i1"}]}))
    curl(s, s.admin_url("/admin/catalog/shop/items"), method="POST", data='{"id": "i1", "name": "one"}\n')


def scrape(s):
    with urllib.request.urlopen(s.admin_url("/metrics"), timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8", r.headers["Content-Type"]
        return r.read().decode()


def value(text, sample):
    """The value of the sample line that starts with `sample` (name and labels)."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no sample %s" % sample)


def test_promtool_accepts_the_exposition(s):
    traffic(s)
    text = scrape(s)
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "" and p.stderr.strip() == "", p.stdout + p.stderr


def test_the_promised_families_are_there(s):
    traffic(s, rounds=2)
    text = scrape(s)
    families = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    for name in ("pz_requests_total", "pz_request_duration_seconds", "pz_cache_lookups_total", "pz_cache_bytes",
                 "pz_upstream_calls_total", "pz_upstream_call_duration_seconds", "pz_upstream_breaker_state",
                 "pz_upstream_queued", "pz_upstream_retries_total", "pz_events_accepted_total",
                 "pz_event_target_delivered_records_total", "pz_event_target_retries_total",
                 "pz_event_target_dead_lettered_total", "pz_event_target_lag_records",
                 "pz_event_target_lag_seconds", "pz_event_outbox_used_bytes", "pz_catalog_items",
                 "pz_catalog_revision", "pz_config_info", "pz_config_reloads_total",
                 "pz_config_reload_failures_total", "process_resident_memory_bytes", "process_open_fds",
                 "process_threads", "process_start_time_seconds", "process_cpu_seconds_total"):
        assert name in families, name
    ok = ('pz_requests_total{protocol="rest",route="GET /recommend-items/{namespace}/{recommender}/{user_id}",'
          'namespace="shop",recommender="popular",variation="b",status_class="2xx"}')
    assert value(text, ok) >= 2
    # the unknown recommender is counted without its name: label sets stay bounded
    unknown = ('pz_requests_total{protocol="rest",route="GET /recommend-items/{namespace}/{recommender}/{user_id}",'
               'namespace="",recommender="",variation="",status_class="4xx"}')
    assert value(text, unknown) >= 2 and "nope" not in text
    upstream = 'pz_upstream_calls_total{upstream="http://127.0.0.1:%d",outcome="ok"}' % RECOMMENDER.port
    assert value(text, upstream) >= 1
    assert value(text, 'pz_upstream_breaker_state{upstream="http://127.0.0.1:%d"}' % RECOMMENDER.port) == 0
    assert value(text, 'pz_cache_lookups_total{outcome="hit"}') >= 1
    assert value(text, 'pz_config_info{version="m1",hash="sha256:%s",source="file:%s"}'
                 % (re.search(r'hash="sha256:([0-9a-f]{64})"', text).group(1), CONFIG)) == 1
    assert value(text, 'pz_catalog_items{namespace="shop"}') >= 1
    assert value(text, 'pz_events_accepted_total') >= 1
    assert value(text, 'process_resident_memory_bytes') > 1e6


def readme_alert_rules():
    with open(os.path.join(REPO_ROOT, "README.md")) as f:
        readme = f.read()
    m = re.search(r"### Example alert rules.*?```yaml\n(.*?)```", readme, re.S)
    assert m, "the README has no example alert rules"
    return m.group(1)


class Prometheus:
    def __init__(self, targets, rules_file):
        self.dir = tempfile.mkdtemp(prefix="pz-prom-")
        self.port = free_port()
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "rule_files: [%s]\n"
                    "scrape_configs:\n  - job_name: personalization\n    static_configs:\n"
                    "      - targets: ['%s']\n" % (json.dumps(rules_file), targets))
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w+")
        self.proc = subprocess.Popen([PROMETHEUS, "--config.file=" + config,
                                      "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                                      "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url("/-/ready"), timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.2)
        self.log.seek(0)
        raise RuntimeError("prometheus did not become ready:\n" + self.log.read())

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def api(self, path, **params):
        with urllib.request.urlopen(self.url(path + "?" + urllib.parse.urlencode(params)), timeout=10) as r:
            doc = json.load(r)
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, expr):
        return self.api("/api/v1/query", query=expr)["result"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def test_prometheus_scrapes_and_answers_a_rate(s):
    rules = os.path.join(TMP, "alerts.yml")
    with open(rules, "w") as f:
        f.write(readme_alert_rules())
    check = subprocess.run([PROMTOOL, "check", "rules", rules], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    prom = Prometheus("127.0.0.1:%d" % s.admin_port, rules)
    try:
        stop = threading.Event()

        def load():
            while not stop.is_set():
                curl(s, "/recommend-items/shop/popular/u1?numResults=3")
                time.sleep(0.02)
        t = threading.Thread(target=load, daemon=True)
        t.start()
        expr = 'sum(rate(pz_requests_total{namespace="shop",recommender="popular",status_class="2xx"}[5s]))'
        rate = 0.0
        deadline = time.time() + 45
        while time.time() < deadline and rate <= 1:  # the first samples may extrapolate a sliver of the window
            result = prom.query(expr)
            rate = float(result[0]["value"][1]) if result else 0.0
            if rate <= 1:
                time.sleep(0.5)
        stop.set()
        t.join()
        assert 1 < rate < 10000, (rate, prom.query("up"))
        up = prom.query('up{job="personalization"}')
        assert up and up[0]["value"][1] == "1", up
        info = prom.query("pz_config_info")
        assert info and info[0]["metric"]["version"] == "m1", info
        q = prom.query('histogram_quantile(0.99, sum by (le) (rate(pz_request_duration_seconds_bucket'
                       '{namespace="shop"}[10s])))')
        assert q and 0 < float(q[0]["value"][1]) < 10, q
        groups = prom.api("/api/v1/rules")["groups"]
        names = [r["name"] for g in groups for r in g["rules"]]
        assert "PersonalizationHighErrorRate" in names and len(names) >= 4, names
    finally:
        prom.stop()


def test_metrics_off_records_no_requests(s):
    from harness import Server
    off = Server(s.binary_path, args=["--config", CONFIG, "--metrics", "off"])
    try:
        off.start()
        curl(off, "/recommend-items/shop/popular/u1")
        with urllib.request.urlopen(off.admin_url("/metrics"), timeout=10) as r:
            text = r.read().decode()
        assert "pz_requests_total{" not in text and "pz_upstream_calls_total" not in text
        assert "pz_cache_lookups_total" in text and "pz_config_info" in text  # read at scrape time either way
        off.stop()
    finally:
        off.stop(expect_clean=False)
        off.cleanup()


if __name__ == "__main__":
    run_tests(globals(), server_args=["--config", CONFIG])
