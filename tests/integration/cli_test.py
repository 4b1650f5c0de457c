"""The binary's command line and life cycle: --help, flag errors, --check-config on the upstream
samples and broken documents, start-up with a config file, hot reload on file change and on
SIGHUP (a bad new config is rejected while the old one keeps serving), clean shutdown."""
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO_ROOT, Server, curl_json, run_tests  # noqa: E402

CONFIGS = os.path.join(REPO_ROOT, "tests", "data", "configs")
BINARY = None


def run(*args, timeout=30):
    return subprocess.run([BINARY] + list(args), capture_output=True, text=True, timeout=timeout)


def test_help(s):
    out = run("--help")
    assert out.returncode == 0
    for flag in ("--config", "--data-dir", "--http-port", "--grpc-port", "--demo", "--check-config", "--log-level"):
        assert flag in out.stdout, flag


def flag_rows():
    """The rows of the flag table in server/main.c, as (name, kind) pairs."""
    with open(os.path.join(REPO_ROOT, "server", "main.c")) as f:
        src = f.read()
    table = src[src.index("static const flag FLAGS[] = {"):]
    table = table[:table.index("\n};")]
    rows = []
    for chunk in table.split("{.name = ")[1:]:
        name = re.match(r'"([a-z0-9-]+)"', chunk).group(1)
        kind = re.search(r"\.kind = (FLAG_[A-Z]+)", chunk).group(1)
        rows.append((name, kind))
    return rows


def test_help_shows_every_row_of_the_flag_table(s):
    rows = flag_rows()
    assert len(rows) >= 20, rows
    out = run("--help")
    assert out.returncode == 0
    for name, _ in rows:
        assert re.search(r"^  --%s(\s|$)" % re.escape(name), out.stdout, re.M), (name, out.stdout)
        err = run("--" + name, "1", "--http-port", "x").stderr  # stops at a flag error, whatever the row
        assert "unrecognized option '--%s'" % name not in err, (name, err)
    shown = re.findall(r"^  --([a-z0-9-]+)", out.stdout, re.M)
    assert sorted(shown) == sorted(name for name, _ in rows), shown


def check_integer_flag_limits(name):
    flag = "--" + name
    out = run(flag, "x", "--demo")
    m = re.fullmatch(r"error: %s expects an integer from (-?\d+) to (-?\d+)( or ([a-z]+))? \(got 'x'\)\n" %
                     re.escape(flag), out.stderr)
    assert out.returncode == 2 and m, (flag, out.returncode, out.stderr)
    lo, hi, alternative, word = int(m.group(1)), int(m.group(2)), m.group(3) or "", m.group(4)
    for value in (lo - 1, hi + 1):  # one past each limit
        out = run(flag, str(value), "--demo")
        assert out.returncode == 2, (flag, value, out.returncode)
        assert out.stderr == "error: %s expects an integer from %d to %d%s (got '%d')\n" % (
            flag, lo, hi, alternative, value), out.stderr
    for value in (lo, hi) + ((word,) if word else ()):  # the limits, and the word it names, are accepted
        out = run("--check-config", "--demo", flag, str(value))
        assert out.returncode == 0, (flag, value, out.stdout + out.stderr)


def test_integer_flags_reject_values_past_their_limits(s):
    names = [name for name, kind in flag_rows() if kind in ("FLAG_INT", "FLAG_SIZE")]
    # Flags are independent: checked four at a time (each check starts the binary five times).
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for _ in pool.map(check_integer_flag_limits, names):
            pass
    assert len(names) >= 10, names


def test_bad_flags(s):
    assert run("--http-port", "nope", "--demo").returncode == 2
    assert run("--bogus").returncode == 2
    out = run()
    assert out.returncode == 2 and "--config" in out.stderr


def test_check_config_accepts_upstream_samples(s):
    for name in ("sample-a.json", "sample-b.json"):
        out = run("--check-config", "--config", os.path.join(CONFIGS, name))
        assert out.returncode == 0, out.stdout + out.stderr
        assert "is valid" in out.stdout, out.stdout
    out = run("--check-config", "--demo")
    assert out.returncode == 0 and "demo-1" in out.stdout, out.stdout


def test_check_config_reports_every_problem_with_its_path(s):
    tmp = tempfile.mkdtemp()
    try:
        doc = {"version": 3, "bogus": True, "namespaces": {"n": {"recommenders": {"recommend-items": {
            "r": {"variations": {"v": {"type": "personalize-campaign", "arn": "not-an-arn"}}}}}}}}
        path = os.path.join(tmp, "bad.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        out = run("--check-config", "--config", path)
        assert out.returncode == 1, out.stdout
        assert "$.version" in out.stdout and "$.bogus" in out.stdout, out.stdout
        assert "$.namespaces.n.recommenders.recommend-items.r.variations.v.arn" in out.stdout, out.stdout
        with open(path, "w") as f:
            f.write("{ not json")
        out = run("--check-config", "--config", path)
        assert out.returncode == 1 and "line 1" in out.stdout, out.stdout
        out = run("--check-config", "--config", os.path.join(tmp, "missing.json"))
        assert out.returncode == 1, out.stdout
    finally:
        shutil.rmtree(tmp)


def write_config(path, version, extra_recommender=None):
    with open(os.path.join(REPO_ROOT, "tests", "data", "demo", "config.json")) as f:
        doc = json.load(f)
    doc["version"] = version
    if extra_recommender:
        doc["namespaces"]["demo"]["recommenders"]["recommend-items"][extra_recommender] = {
            "variations": {"pop": {"type": "builtin", "strategy": "popular"}}}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, path)


def wait_for(predicate, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_reload_on_change_and_sighup(s):
    tmp = tempfile.mkdtemp()
    cfg = os.path.join(tmp, "config.json")
    write_config(cfg, "v1")
    srv = Server(BINARY, args=["--config", cfg, "--demo"])
    try:
        srv.start()

        def version():
            return curl_json(srv, "/recommend-items/demo/for-you/user-0001?numResults=1")[1].get(
                "x-personalization-config-version")

        assert version() == "v1"
        status, _, _ = curl_json(srv, "/recommend-items/demo/new-one/u1")
        assert status == 404
        write_config(cfg, "v2", extra_recommender="new-one")  # picked up by the file watcher
        assert wait_for(lambda: version() == "v2"), srv.read_log()[-2000:]
        status, _, doc = curl_json(srv, "/recommend-items/demo/new-one/u1?numResults=2")
        assert status == 200 and len(doc["itemList"]) == 2, doc
        with open(cfg, "w") as f:  # a broken document: rejected, v2 keeps serving
            f.write('{"namespaces": {"demo": {"recommenders": 5}}}')
        time.sleep(1.0)
        srv.signal(signal.SIGHUP)
        time.sleep(0.5)
        assert version() == "v2"
        assert "recommenders" in srv.read_log()
        _, _, health = curl_json(srv, "/healthz")
        assert health["configRejected"] >= 1, health
        write_config(cfg, "v3")
        srv.signal(signal.SIGHUP)
        assert wait_for(lambda: version() == "v3")
        assert srv.stop() == 0
    finally:
        if srv.proc and srv.proc.poll() is None:
            srv.proc.kill()
        srv.cleanup()
        shutil.rmtree(tmp)


def test_health_escapes_the_config_version(s):
    tmp = tempfile.mkdtemp()
    cfg = os.path.join(tmp, "config.json")
    version = 'release "7" \\ beta'
    write_config(cfg, version)
    srv = Server(BINARY, args=["--config", cfg, "--demo"])
    try:
        srv.start()
        status, _, health = curl_json(srv, "/healthz")
        assert status == 200 and health["configVersion"] == version, health
        assert srv.stop() == 0
    finally:
        if srv.proc and srv.proc.poll() is None:
            srv.proc.kill()
        srv.cleanup()
        shutil.rmtree(tmp)


def test_state_survives_restart(s):
    tmp = tempfile.mkdtemp()
    data = os.path.join(tmp, "data")
    try:
        a = Server(BINARY, data_dir=data).start()
        status, _, _ = curl_json(a, "/events/demo", method="POST", data=json.dumps(
            {"sessionId": "r", "userId": "restart-user", "eventList": [{"eventType": "purchase", "itemId": "sku-00126"}]}))
        assert status == 200
        _, _, before = curl_json(a, "/recommend-items/demo/for-you/restart-user?numResults=5")
        assert a.stop() == 0
        b = Server(BINARY, data_dir=data).start()
        _, _, after = curl_json(b, "/recommend-items/demo/for-you/restart-user?numResults=5")
        assert [i["itemId"] for i in before["itemList"]] == [i["itemId"] for i in after["itemList"]]
        assert "seeded" not in b.read_log()  # the demo history is loaded only once
        assert b.stop() == 0
    finally:
        shutil.rmtree(tmp)


def test_tls_with_h2_via_alpn(s):
    tmp = tempfile.mkdtemp()
    try:
        key, cert = os.path.join(tmp, "key.pem"), os.path.join(tmp, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                        "-days", "1", "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
        srv = Server(BINARY, args=["--demo", "--tls-cert", cert, "--tls-key", key]).start()
        try:
            assert srv.url("/").startswith("https://")
            out = subprocess.run(["curl", "-sS", "-k", "--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                                  srv.url("/recommend-items/demo/for-you/user-0001?numResults=2")],
                                 capture_output=True, text=True, timeout=30)
            assert out.stdout == "2 200", (out.stdout, out.stderr)
            out = subprocess.run(["curl", "-sS", "-k", "--http1.1", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                                  srv.url("/healthz")], capture_output=True, text=True, timeout=30)
            assert out.stdout == "1.1 200", (out.stdout, out.stderr)
            assert srv.stop() == 0
        finally:
            if srv.proc.poll() is None:
                srv.proc.kill()
            srv.cleanup()
        out = run("--demo", "--tls-cert", cert, "--tls-key", os.path.join(tmp, "missing.pem"), "--data-dir",
                  os.path.join(tmp, "d"), "--http-port", "0", "--grpc-port", "0", "--admin-port", "0",
                  "--admin-grpc-port", "0")
        assert out.returncode == 1 and "TLS" in out.stderr, out.stderr
    finally:
        shutil.rmtree(tmp)


def test_refuses_to_start_on_bad_config(s):
    tmp = tempfile.mkdtemp()
    try:
        path = os.path.join(tmp, "bad.json")
        with open(path, "w") as f:
            f.write('{"namespaces": 1}')
        out = run("--config", path, "--data-dir", os.path.join(tmp, "d"), "--http-port", "0", "--grpc-port", "0",
                  "--admin-port", "0", "--admin-grpc-port", "0")
        assert out.returncode == 1 and "$.namespaces" in out.stderr, out.stderr
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(
        REPO_ROOT, "bazel-bin", "server", "personalization-server")
    run_tests(globals())
