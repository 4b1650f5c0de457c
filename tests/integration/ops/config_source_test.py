"""Configuration from a URL, and the configuration history with its `config` CLI (offline).

The server polls a local HTTP config source (ConfigSource below) that changes, fails, serves garbage
and goes away; the version it serves is read back from /healthz. Each test starts its own servers.

Usage: config_source_test.py SERVER_BINARY
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import Server  # noqa: E402

BINARY = os.path.abspath(sys.argv[1])


def document(version, ns="shop"):
    return json.dumps({"version": version, "namespaces": {ns: {
        "recommenders": {"recommend-items": {"popular": {"variations": {"b": {"type": "builtin",
                                                                             "strategy": "popular"}}}}},
        "eventTargets": [{"type": "builtin"}]}}})


class ConfigSource:
    """A config server: answers GET /cfg.json with the current document and an ETag, 304 when
    If-None-Match matches; mode "fail" answers 500, "garbage" 200 with a body that is not JSON."""

    def __init__(self, port=0):
        self.body = document("v1").encode()
        self.mode = "ok"
        self.lock = threading.Lock()
        self.log = []  # (If-None-Match, status)
        src = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                src.serve(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/cfg.json" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def etag(self):
        return '"%x"' % (hash(self.body) & 0xffffffff)

    def set(self, body, mode="ok"):
        with self.lock:
            self.body = body.encode() if isinstance(body, str) else body
            self.mode = mode

    def serve(self, h):
        with self.lock:
            body, mode, etag = self.body, self.mode, self.etag()
        inm = h.headers.get("If-None-Match")
        if mode == "fail":
            status, payload, etag = 500, b"oops", None
        elif mode == "garbage":
            status, payload = 200, b"<html>this is not a configuration</html>"
            etag = '"garbage"'
        elif inm == etag:
            status, payload = 304, b""
        else:
            status, payload = 200, body
        with self.lock:
            self.log.append((inm, status))
        h.send_response(status)
        if etag:
            h.send_header("ETag", etag)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    def statuses(self):
        with self.lock:
            return [s for _, s in self.log]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def served_version(srv):
    with urllib.request.urlopen(srv.url("/healthz"), timeout=5) as r:
        return json.loads(r.read())["configVersion"]


def wait_version(srv, version, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if served_version(srv) == version:
            return
        time.sleep(0.05)
    raise AssertionError("still serving %r, not %r:\n%s" % (served_version(srv), version, srv.read_log()[-3000:]))


def wait_for(pred, what, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def cli(*args):
    env = dict(os.environ)
    env.pop("BUILD_WORKING_DIRECTORY", None)
    return subprocess.run([BINARY, "config"] + list(args), capture_output=True, text=True, timeout=60, env=env)


def history(data_dir):
    p = cli("history", "--data-dir", data_dir, "--json")
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()]


def test_url_source_changes_fails_and_serves_garbage(tmp):
    src = ConfigSource()
    srv = Server(BINARY, args=["--config", src.url, "--config-poll-ms", "100"], data_dir=os.path.join(tmp, "d"))
    servers, sources = [srv], [src]
    try:
        srv.start()
        assert served_version(srv) == "v1"
        # polls carry the ETag and are answered 304: nothing changes
        wait_for(lambda: 304 in src.statuses(), "a 304")
        assert any(inm == src.etag() for inm, _ in src.log)
        src.set(document("v2"))
        wait_version(srv, "v2")
        # the source fails: the server keeps serving
        src.set(document("v2"), mode="fail")
        n = len(src.log)
        wait_for(lambda: len(src.log) > n + 2, "failed polls")
        assert served_version(srv) == "v2"
        assert "answered HTTP 500; keeping the current configuration" in srv.read_log()
        # garbage: rejected (once, however often it is served), recorded with its errors
        src.set(document("v2"), mode="garbage")
        n = len(src.log)
        wait_for(lambda: len(src.log) > n + 3, "garbage polls")
        assert served_version(srv) == "v2"
        records = history(srv.data_dir)
        rejected = [r for r in records if r["status"] == "rejected"]
        assert len(rejected) == 1, records
        assert rejected[0]["source"] == "url:" + src.url
        assert "invalid JSON" in rejected[0]["errors"][0]["message"]
        # a good document again: applied, and kept as the last good copy
        src.set(document("v3"))
        wait_version(srv, "v3")
        assert [r["version"] for r in history(srv.data_dir) if r["status"] == "accepted"] == ["v3", "v2", "v1"]
        srv.stop()
        # restart while the source is down: the last good copy serves
        src.stop()
        sources.remove(src)
        srv2 = Server(BINARY, args=["--config", src.url, "--config-poll-ms", "100"], data_dir=srv.data_dir)
        servers.append(srv2)
        srv2.start()
        assert served_version(srv2) == "v3"
        assert "starting from the last good copy" in srv2.read_log()
        # the source comes back (same port) with a new document: picked up
        src2 = ConfigSource(port=src.port)
        sources.append(src2)
        src2.set(document("v4"))
        wait_version(srv2, "v4")
        srv2.stop()
        # restart while the source serves garbage: the last good copy (v4) serves
        src2.set(b"", mode="garbage")
        srv3 = Server(BINARY, args=["--config", src2.url, "--config-poll-ms", "100"], data_dir=srv.data_dir)
        servers.append(srv3)
        srv3.start()
        assert served_version(srv3) == "v4"
        srv3.stop()
    finally:
        for s in servers:
            s.stop(expect_clean=False)
            s.cleanup()
        for s in sources:
            s.stop()


def test_url_source_down_without_a_copy_does_not_start(tmp):
    src = ConfigSource()
    url = src.url
    src.stop()
    p = subprocess.run([BINARY, "--config", url, "--data-dir", os.path.join(tmp, "d"), "--http-port", "0",
                        "--grpc-port", "0"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert "cannot fetch the configuration" in p.stderr and "no last good copy" in p.stderr, p.stderr


def test_sighup_polls_now(tmp):
    src = ConfigSource()
    srv = Server(BINARY, args=["--config", src.url, "--config-poll-ms", "0"], data_dir=os.path.join(tmp, "d"))
    try:
        srv.start()
        src.set(document("hup"))
        time.sleep(0.5)
        assert served_version(srv) == "v1"  # no polling
        srv.signal(signal.SIGHUP)
        wait_version(srv, "hup")
        srv.stop()
    finally:
        srv.stop(expect_clean=False)
        srv.cleanup()
        src.stop()


def test_check_config_reads_a_url(tmp):
    del tmp
    src = ConfigSource()
    try:
        p = subprocess.run([BINARY, "--check-config", "--config", src.url], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and "is valid: version v1" in p.stdout, p.stdout
        src.set("{", mode="ok")
        p = subprocess.run([BINARY, "--check-config", "--config", src.url], capture_output=True, text=True, timeout=60)
        assert p.returncode == 1 and "invalid JSON" in p.stdout, p.stdout
    finally:
        src.stop()


def test_file_history_show_and_offline_rollback(tmp):
    path = os.path.join(tmp, "cfg.json")
    with open(path, "w") as f:
        f.write(document("f1"))
    srv = Server(BINARY, args=["--config", path], data_dir=os.path.join(tmp, "d"))
    try:
        srv.start()
        with open(path, "w") as f:
            f.write(document("f2"))
        wait_version(srv, "f2")
        with open(path, "w") as f:
            f.write('{"version": "f3", "namespaces": {"x": {"bogus": true}}}')
        wait_for(lambda: any(r["status"] == "rejected" for r in history(srv.data_dir)), "the rejected record")
        assert served_version(srv) == "f2"
        table = cli("history", "--data-dir", srv.data_dir)
        assert table.returncode == 0
        lines = table.stdout.splitlines()
        assert lines[0].split()[:3] == ["ID", "STATUS", "VERSION"]
        assert lines[1].split()[1] == "rejected" and "error(s), first: $.namespaces.x" in lines[1], lines
        assert lines[2].startswith("* ") and " f2 " in lines[2], lines  # being served
        assert " f1 " in lines[3] and not lines[3].startswith("*")
        # show: the document byte for byte, by version or @id
        shown = cli("show", "f1", "--data-dir", srv.data_dir)
        assert shown.returncode == 0 and shown.stdout == document("f1") + "\n"
        assert cli("show", "@2", "--data-dir", srv.data_dir).stdout == document("f2") + "\n"
        bad = cli("show", "nope", "--data-dir", srv.data_dir)
        assert bad.returncode == 1 and "no accepted configuration with version 'nope'" in bad.stderr
        # offline rollback rewrites the file; the running server sees a change, validates and serves it
        rb = cli("rollback", "f1", "--data-dir", srv.data_dir, "--config", path)
        assert rb.returncode == 0, rb.stderr
        with open(path) as f:
            assert f.read() == document("f1")
        wait_version(srv, "f1")
        # a rollback target that no longer validates is refused, the file untouched
        rb = cli("rollback", "@3", "--data-dir", srv.data_dir, "--config", path)
        assert rb.returncode == 1 and "does not validate" in rb.stderr, rb.stderr
        with open(path) as f:
            assert f.read() == document("f1")
        srv.stop()
    finally:
        srv.stop(expect_clean=False)
        srv.cleanup()


def test_history_keeps_the_newest(tmp):
    path = os.path.join(tmp, "cfg.json")
    with open(path, "w") as f:
        f.write(document("k0"))
    srv = Server(BINARY, args=["--config", path, "--config-history", "2"], data_dir=os.path.join(tmp, "d"))
    try:
        srv.start()
        for i in range(1, 4):
            with open(path, "w") as f:
                f.write(document("k%d" % i))
            wait_version(srv, "k%d" % i)
        assert [r["version"] for r in history(srv.data_dir)] == ["k3", "k2"]
        srv.signal(signal.SIGHUP)  # the same document again: no new record
        time.sleep(0.5)
        assert len(history(srv.data_dir)) == 2
        srv.stop()
    finally:
        srv.stop(expect_clean=False)
        srv.cleanup()


def test_cli_usage(tmp):
    assert cli("history", "--data-dir", os.path.join(tmp, "none")).returncode == 1
    assert cli("show", "--data-dir", tmp).returncode == 2  # needs a VERSION
    assert cli("rollback", "v1", "--data-dir", tmp).returncode == 2  # needs --admin or --config
    p = cli("rollback", "v1", "--config", "http://example.com/c.json", "--data-dir", tmp)
    assert p.returncode == 1 and "is a URL" in p.stderr
    assert cli("frobnicate").returncode == 2


def main():
    tests = sorted((n, f) for n, f in globals().items() if n.startswith("test_") and callable(f))
    only = os.environ.get("PZ_TEST_FILTER")
    passed = failed = 0
    for name, fn in tests:
        if only and only not in name:
            continue
        with tempfile.TemporaryDirectory(prefix="pz-ops-") as tmp:
            t0 = time.time()
            try:
                fn(tmp)
                passed += 1
                print("[ OK ] %s (%.2fs)" % (name, time.time() - t0), flush=True)
            except Exception:  # noqa: BLE001 - report every failure and go on
                failed += 1
                print("[FAIL] %s\n%s" % (name, traceback.format_exc()), flush=True)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
