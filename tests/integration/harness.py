"""Integration-test harness: starts the real personalization-server on free loopback ports, runs
test functions against it, prints a plain `N passed, N failed` line and exits non-zero on failure.

Each test module calls `run_tests(globals())`. Test functions named `test_*` take the running
`Server` as their only argument. Run under Bazel (sh_test via run_python.sh) or by hand:
  /usr/bin/python3 tests/integration/rest_test.py bazel-bin/server/personalization-server
"""
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = "/opt/pz-test-tools/node_modules"


def find_generated_python():
    """Adds the directory holding personalization/v1/personalization_pb2.py to sys.path."""
    candidates = [
        os.path.join(REPO_ROOT, "proto"),                  # runfiles tree under Bazel
        os.path.join(REPO_ROOT, "bazel-bin", "proto"),     # a source checkout after bazel build
    ]
    for c in candidates:
        if os.path.exists(os.path.join(c, "personalization", "v1", "personalization_pb2.py")):
            sys.path.insert(0, c)
            return c
    raise RuntimeError("personalization_pb2.py not found; run `bazel build //proto:personalization_py_gen`")


class Server:
    """A personalization-server process with its own data directory and ports."""

    def __init__(self, binary, args=None, data_dir=None, env=None):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="pz-it-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.log_path = os.path.join(self.tmp, "server.log")
        self.args = args if args is not None else ["--demo"]
        self.env = env
        self.proc = None
        self.http_port = None
        self.grpc_port = None
        self.admin_port = None
        self.admin_grpc_port = None
        self.scheme = "http"

    def start(self, timeout=60):
        cmd = [self.binary, "--http-port", "0", "--grpc-port", "0", "--admin-port", "0", "--admin-grpc-port", "0",
               "--data-dir", self.data_dir, "--config-watch-ms", "200"] + self.args
        self.log = open(self.log_path, "w+")
        env = dict(os.environ)
        env.pop("BUILD_WORKING_DIRECTORY", None)
        if self.env:
            env.update(self.env)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.read_log()
            m_http = re.search(r"REST  listening on (https?)://[^ ]*:(\d+)", text)
            m_grpc = re.search(r"gRPC  listening on [^ ]*:(\d+)", text)
            m_admin = re.search(r"admin listening on http://[^ ]*:(\d+) .* gRPC [^ ]*:(\d+)", text)
            if m_http and m_grpc and m_admin:
                self.scheme = m_http.group(1)
                self.http_port, self.grpc_port = int(m_http.group(2)), int(m_grpc.group(1))
                self.admin_port, self.admin_grpc_port = int(m_admin.group(1)), int(m_admin.group(2))
                self.wait_healthy(deadline)
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %s:\n%s" % (self.proc.returncode, text))
            time.sleep(0.05)
        raise RuntimeError("server did not start in %ss:\n%s" % (timeout, self.read_log()))

    def wait_healthy(self, deadline):
        while time.time() < deadline:
            try:
                ctx = ssl._create_unverified_context() if self.scheme == "https" else None
                with urllib.request.urlopen(self.url("/healthz"), timeout=2, context=ctx) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server never became healthy:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def log_tail(self, lines=40):
        """The last lines of the log without its access lines, which a polling test floods it with
        and which hide the warnings that explain a failure."""
        kept = [line for line in self.read_log().splitlines() if " access " not in line]
        return "\n".join(kept[-lines:])

    def url(self, path):
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.http_port, path)

    def admin_url(self, path):
        """A URL of the admin API (REST under /admin, /metrics) on --admin-port."""
        return "http://127.0.0.1:%d%s" % (self.admin_port, path)

    @property
    def grpc_target(self):
        return "127.0.0.1:%d" % self.grpc_port

    @property
    def admin_grpc_target(self):
        return "127.0.0.1:%d" % self.admin_grpc_port

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, expect_clean=True):
        """SIGTERM and wait; returns the exit code. A clean stop exits 0."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        if expect_clean and rc != 0:
            raise AssertionError("server exited with %d on SIGTERM:\n%s" % (rc, self.read_log()[-4000:]))
        return rc

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def auto_relay_threads(tls):
    """What --grpc-relay-threads auto resolves to here (README "Running it"): one in plaintext; over
    TLS the CPUs of this process's affinity, or fewer under a cgroup v2 cpu.max quota (rounded up),
    at least one."""
    if not tls:
        return 1
    cpus = len(os.sched_getaffinity(0))
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()
        if quota != "max":
            cpus = min(cpus, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return max(1, min(64, cpus))


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=60)


def make_pki(d):
    """With the openssl command line, in directory d: a CA (ca.pem), two server certificates for
    127.0.0.1 (server.pem/.key, server2.pem/.key for a reload) and a client one (client.pem/.key)."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=test-ca", "-days", "2",
            "-keyout", os.path.join(d, "ca.key"), "-out", os.path.join(d, "ca.pem"))
    ext = os.path.join(d, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, cn in (("server", "server-one"), ("server2", "server-two"), ("client", "client-one")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn, "-keyout", os.path.join(d, name + ".key"),
                "-out", os.path.join(d, name + ".csr"))
        openssl("x509", "-req", "-in", os.path.join(d, name + ".csr"), "-CA", os.path.join(d, "ca.pem"), "-CAkey",
                os.path.join(d, "ca.key"), "-CAcreateserial", "-days", "2", "-extfile", ext,
                "-out", os.path.join(d, name + ".pem"))


def curl(server, path, *args, method=None, data=None, headers=(), http2=False):
    """Runs the real curl; returns (status, headers dict lower-cased, body bytes)."""
    cmd = ["curl", "-sS", "-D", "-", "-o", "-", "--max-time", "20"]
    if http2:
        cmd.append("--http2-prior-knowledge")
    if method:
        cmd += ["-X", method]
    if data is not None:
        cmd += ["--data-binary", "@-"]
    for h in headers:
        cmd += ["-H", h]
    cmd += list(args)
    cmd.append(server.url(path) if path.startswith("/") else path)
    p = subprocess.run(cmd, input=data.encode() if isinstance(data, str) else data, capture_output=True,
                       timeout=30)
    if p.returncode != 0:
        raise AssertionError("curl failed (%d): %s" % (p.returncode, p.stderr.decode()))
    raw = p.stdout
    # Skip interim responses (100 Continue, 101 Switching Protocols).
    while True:
        head, _, rest = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status in (100, 101) and rest.startswith(b"HTTP/"):
            raw = rest
            continue
        break
    hdrs = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.decode("latin-1").partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, rest


def curl_json(server, path, *args, **kw):
    status, hdrs, body = curl(server, path, *args, **kw)
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        raise AssertionError("not JSON (status %d): %r" % (status, body[:300]))
    return status, hdrs, doc


def run_tests(namespace, server_args=None):
    """Runs every test_* function of the calling module against one server started with
    server_args (default --demo). Prints per-test lines and `N passed, N failed`."""
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO_ROOT, "bazel-bin", "server",
                                                                 "personalization-server")
    binary = os.path.abspath(binary)
    tests = sorted((name, fn) for name, fn in namespace.items() if name.startswith("test_") and callable(fn))
    only = os.environ.get("PZ_TEST_FILTER")
    if only:
        tests = [(n, f) for n, f in tests if only in n]
    server = Server(binary, args=server_args)
    server.binary_path = binary
    passed = failed = 0
    try:
        server.start()
        for name, fn in tests:
            t0 = time.time()
            try:
                fn(server)
                passed += 1
                print("[ OK ] %s (%.2fs)" % (name, time.time() - t0), flush=True)
            except Exception:  # noqa: BLE001 - report every failure and go on
                failed += 1
                print("[FAIL] %s\n%s" % (name, traceback.format_exc()), flush=True)
        server.stop()
    except Exception:  # noqa: BLE001
        failed += 1
        print("[FAIL] harness\n%s" % traceback.format_exc(), flush=True)
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.kill()
        if failed:
            print("---- server log (tail) ----\n%s" % server.read_log()[-6000:] if os.path.exists(server.log_path)
                  else "", flush=True)
        server.cleanup()
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)
