"""Hardening of the core, the events and the configuration (issue 19), end to end against the real
binary: each test reproduces an attack from the issue and asserts the fixed behaviour.

- one validation for both protocols: embedded NUL and invalid UTF-8 in ids over gRPC (raw
  protobuf bytes) get INVALID_ARGUMENT, as REST refuses them; nothing is stored;
- client time: a sentAt in the year 2100 (or 1e308) is refused over REST and gRPC and never
  reaches `popular`;
- events `properties` nested deeper than 64 levels are refused;
- rerank: empty ids (",," and [""]) are a 400, and POST takes its ids from the body only;
- secrets: webhook credentials, token query values and tracking ids appear neither in
  /admin/events/stats nor in the log;
- the configuration `version` has a size limit (--check-config and reload);
- a FIFO in place of the config file: SIGHUP does not block, SIGTERM still stops the server;
- a thread limit (RLIMIT_NPROC, as an unprivileged user): posting to many namespaces is refused
  with 503 for the targets that cannot get a delivery thread, and the server keeps serving.
"""
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, curl, curl_json, find_generated_python, run_tests  # noqa: E402

find_generated_python()
import grpc  # noqa: E402
from personalization.v1 import personalization_pb2 as pb  # noqa: E402

SVC = "/personalization.v1.PersonalizationService/"
NOW = time.time()


def raw_call(s, method, body):
    """Sends protobuf bytes as they are (no client-side encoding checks); returns the RpcError or None."""
    ch = grpc.insecure_channel(s.grpc_target)
    try:
        ch.unary_unary(SVC + method)(body, timeout=10)
        return None
    except grpc.RpcError as e:
        return e
    finally:
        ch.close()


def patched(msg, marker, replacement):
    data = msg.SerializeToString()
    assert marker in data and len(marker) == len(replacement)
    return data.replace(marker, replacement, 1)


def test_grpc_nul_and_invalid_utf8_in_ids_are_refused(s):
    req = pb.RecommendItemsRequest(namespace="demo", recommender="for-you", user_id="uXXu", num_results=3)
    e = raw_call(s, "RecommendItems", patched(req, b"uXXu", b"u\x00Xu"))
    assert e is not None and e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
    assert e.details() == "userId holds a NUL character", e.details()
    e = raw_call(s, "RecommendItems", patched(req, b"uXXu", b"u\xc3\x28u"))
    assert e is not None and e.code() == grpc.StatusCode.INVALID_ARGUMENT and "not valid UTF-8" in e.details(), e
    # The REST counterpart is refused too (the same rule).
    status, _, doc = curl_json(s, "/recommend-items/demo/for-you/u%00u")
    assert status == 400, (status, doc)
    # The unpatched request is served.
    assert raw_call(s, "RecommendItems", req.SerializeToString()) is None


def test_grpc_event_id_with_nul_is_refused_not_stored_changed(s):
    req = pb.PutEventsRequest(namespace="demo", session_id="s-nul", user_id="u-nul")
    ev = req.event_list.add()
    ev.event_id, ev.event_type, ev.item_id = "eXXe", "click", "sku-00001"
    e = raw_call(s, "PutEvents", patched(req, b"eXXe", b"e\x00Xe"))
    assert e is not None and e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
    assert e.details() == "eventList[0].eventId holds a NUL character", e.details()
    e = raw_call(s, "PutEvents", patched(req, b"eXXe", b"e\xffXe"))
    assert e is not None and e.code() == grpc.StatusCode.INVALID_ARGUMENT, e


def post_events(s, body):
    return curl_json(s, "/events/demo", method="POST", data=json.dumps(body),
                     headers=["Content-Type: application/json"])


def popular_ids(s):
    status, _, doc = curl_json(s, "/recommend-items/demo/popular/anyone?numResults=50")
    assert status == 200, doc
    return [it["itemId"] for it in doc["itemList"]]


def test_future_sent_at_is_refused_and_never_reaches_popular(s):
    for sent_at in (4102444800, 1e308, NOW + 3600):
        status, _, doc = post_events(s, {"sessionId": "s-future", "eventList": [
            {"eventType": "click", "itemId": "poison-item", "sentAt": sent_at}]})
        assert status == 400 and doc["code"] == "ValidationError" and "sentAt" in doc["message"], (status, doc)
    status, _, doc = post_events(s, {"sessionId": "s-old", "eventList": [
        {"eventType": "click", "itemId": "poison-item", "sentAt": NOW - 400 * 86400}]})
    assert status == 400 and "days in the past" in doc["message"], doc
    # gRPC refuses the same.
    req = pb.PutEventsRequest(namespace="demo", session_id="s-future")
    ev = req.event_list.add()
    ev.event_type, ev.item_id, ev.sent_at = "click", "poison-item", 4102444800
    e = raw_call(s, "PutEvents", req.SerializeToString())
    assert e is not None and e.code() == grpc.StatusCode.INVALID_ARGUMENT and "sentAt" in e.details(), e
    assert "poison-item" not in popular_ids(s)
    # Within the allowed skew it is accepted, and popular stays finite.
    status, _, doc = post_events(s, {"sessionId": "s-skew", "eventList": [
        {"eventType": "click", "itemId": "sku-00002", "sentAt": time.time() + 60}]})
    assert status == 200, doc
    status, _, doc = curl_json(s, "/recommend-items/demo/popular/anyone?numResults=5")
    assert all(it["score"] < 1e300 for it in doc["itemList"]), doc


def nested(depth):
    return "{\"a\":" * (depth - 1) + "{}" + "}" * (depth - 1)


def test_properties_nesting_limit(s):
    status, _, doc = post_events(s, {"sessionId": "s-deep", "eventList": [
        {"eventType": "click", "itemId": "sku-00001", "properties": nested(100)}]})
    assert status == 400 and "nested at most 64 levels" in doc["message"], doc
    status, _, doc = post_events(s, {"sessionId": "s-deep", "eventList": [
        {"eventType": "click", "itemId": "sku-00001", "properties": nested(64)}]})
    assert status == 200, doc


def test_rerank_empty_ids_and_post_ids_from_body_only(s):
    for path in ("/rerank-items/demo/ranking/user-0001/sku-00001,,sku-00002",
                 "/rerank-items/demo/ranking/user-0001/,,"):
        status, _, doc = curl_json(s, path)
        assert status == 400 and "itemIds[" in doc["message"], (path, status, doc)
    status, _, doc = curl_json(s, "/rerank-items/demo/ranking/user-0001", method="POST", data='[""]',
                               headers=["Content-Type: application/json"])
    assert status == 400 and "itemIds[0]" in doc["message"], doc
    status, _, doc = curl_json(s, "/rerank-items/demo/ranking/user-0001?itemIds=sku-00003", method="POST",
                               data='["sku-00001","sku-00002"]', headers=["Content-Type: application/json"])
    assert status == 200, doc
    assert sorted(it["itemId"] for it in doc["personalizedRanking"]) == ["sku-00001", "sku-00002"], doc


def test_config_version_limit(s):
    tmp = tempfile.mkdtemp(prefix="pz-version-")
    try:
        path = os.path.join(tmp, "config.json")
        with open(path, "w") as f:
            json.dump({"version": "v" * 70000, "namespaces": {}}, f)
        p = subprocess.run([s.binary_path, "--check-config", "--config", path], capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 1 and "$.version" in p.stdout + p.stderr and "at most 256" in p.stdout + p.stderr, p
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_fifo_in_place_of_the_config_does_not_block_signals(s):
    tmp = tempfile.mkdtemp(prefix="pz-fifo-")
    path = os.path.join(tmp, "config.json")
    with open(path, "w") as f:
        json.dump({"version": "fifo-1", "namespaces": {"n": {"eventTargets": []}}}, f)
    srv = Server(s.binary_path, args=["--config", path])
    try:
        srv.start()
        os.unlink(path)
        os.mkfifo(path)
        srv.signal(signal.SIGHUP)
        time.sleep(0.5)  # the watcher (200 ms) sees it too
        status, hdrs, _ = curl(srv, "/healthz")
        assert status == 200 and hdrs.get("x-personalization-config-version") in (None, "fifo-1"), hdrs
        t0 = time.time()
        srv.proc.send_signal(signal.SIGTERM)
        rc = srv.proc.wait(timeout=15)
        assert rc == 0 and time.time() - t0 < 15, rc
        assert "is not a regular file" in srv.read_log(), srv.read_log()[-2000:]
    finally:
        if srv.proc is not None and srv.proc.poll() is None:
            srv.proc.kill()
        srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def test_secrets_are_redacted_in_stats_and_logs(s):
    tmp = tempfile.mkdtemp(prefix="pz-redact-")
    path = os.path.join(tmp, "config.json")
    with open(path, "w") as f:
        json.dump({"version": "redact-1", "namespaces": {"hooks": {"eventTargets": [
            {"type": "http", "url": "http://admin:hunter2@127.0.0.1:9/in?token=s3cr3t-token&x=1",
             "headers": {"Authorization": "Bearer sekrit-bearer"}},
            {"type": "personalize-event-tracker", "trackingId": "3f1e2d4c-aaaa-bbbb-cccc-1234567890ab",
             "endpointUrl": "http://127.0.0.1:9"}]}}}, f)
    srv = Server(s.binary_path, args=["--config", path],
                 env={"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "us-east-1",
                      "AWS_EC2_METADATA_DISABLED": "true"})
    try:
        srv.start()
        status, _, _ = curl(srv, "/events/hooks", method="POST", headers=["Content-Type: application/json"],
                            data=json.dumps({"sessionId": "s", "eventList": [{"eventType": "click"}]}))
        assert status == 200
        deadline = time.time() + 20
        while True:  # both targets fail (nothing listens on port 9) and say so
            _, _, stats = curl_json(srv, srv.admin_url("/admin/events/stats"))
            errors = [t for t in stats["targets"] if t.get("lastError")]
            if len(errors) == 2 or time.time() > deadline:
                break
            time.sleep(0.2)
        _, _, metrics = curl(srv, srv.admin_url("/metrics"))  # target labels too (issue 17)
        text = json.dumps(stats) + srv.read_log() + metrics.decode()
        for secret in ("hunter2", "s3cr3t-token", "sekrit-bearer", "3f1e2d4c-aaaa-bbbb-cccc"):
            assert secret not in text, (secret, text[-3000:])
        ids = sorted(t["id"] for t in stats["targets"])
        assert ids == ["hooks/http/http://***@127.0.0.1:9/in?token=***&x=***",
                       "hooks/personalize-event-tracker/***90ab"], ids
        for shown in ids:  # the same display ids label the delivery metrics
            assert 'pz_event_target_lag_records{target="%s"' % shown in metrics.decode(), shown
        assert len(errors) == 2, stats
    finally:
        srv.stop(expect_clean=False)
        srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def uid_in_use(uid):
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        pass
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/status" % pid) as f:
                if any(line.startswith("Uid:") and str(uid) in line.split()[1:] for line in f):
                    return True
        except OSError:
            pass
    return False


def server_pid(srv):
    """The server's pid under the setpriv/prlimit wrapper (both exec, so it is the child's)."""
    return srv.proc.pid


def test_thread_limit_refuses_new_targets_and_keeps_serving(s):
    """RLIMIT_NPROC binds only unprivileged users: the server runs as an unused uid under prlimit."""
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        print("  (skipped: no user nobody)")
        return
    if os.getuid() != 0 or shutil.which("setpriv") is None or shutil.which("prlimit") is None:
        print("  (skipped: needs root to switch to nobody, setpriv and prlimit)")
        return
    # In /tmp: the test's own temporary directory may sit under a path `nobody` cannot traverse.
    tmp = tempfile.mkdtemp(prefix="pz-nproc-", dir="/tmp")
    os.chmod(tmp, 0o777)
    probe = subprocess.run(["setpriv", "--reuid=%d" % nobody.pw_uid, "--regid=%d" % nobody.pw_gid, "--clear-groups",
                            "true"], capture_output=True, text=True)
    if probe.returncode != 0:  # e.g. inside a user namespace that maps root only (Bazel's sandbox)
        shutil.rmtree(tmp, ignore_errors=True)
        raise AssertionError("cannot switch to nobody here (%s); the BUILD runs this test unsandboxed"
                             % probe.stderr.strip())
    sink = os.path.join(tmp, "sink")
    os.mkdir(sink)
    os.chmod(sink, 0o777)
    n_ns = 60
    path = os.path.join(tmp, "config.json")
    with open(path, "w") as f:
        json.dump({"version": "nproc-1", "namespaces": {
            "ns%02d" % i: {"eventTargets": [{"type": "file", "path": os.path.join(sink, "ns%02d.jsonl" % i)}]}
            for i in range(n_ns)}}, f)
    os.chmod(path, 0o644)
    binary = os.path.join(tmp, "personalization-server")
    shutil.copy(s.binary_path, binary)
    os.chmod(binary, 0o755)
    # RLIMIT_NPROC counts every thread of the real user id, machine-wide: a uid of its own (not
    # `nobody`, which other processes, or this test running in another checkout, may use).
    uid = next(u for u in range(61000 + os.getpid() % 3000, 65000) if not uid_in_use(u))

    def wrapper_with(limit):
        wrapper = os.path.join(tmp, "limited.sh")
        prefix = "prlimit --nproc=%d " % limit if limit else ""
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec setpriv --reuid=%d --regid=%d --clear-groups %s%s \"$@\"\n"
                    % (uid, nobody.pw_gid, prefix, binary))
        os.chmod(wrapper, 0o755)
        return wrapper

    # The limit: the threads the server starts with (fronts, grpc, writer, watchers: counted on a
    # run without the limit) plus 20, so some of the 60 delivery threads fit and the rest do not.
    probe_srv = Server(wrapper_with(0), args=["--config", path], data_dir=os.path.join(tmp, "probe"))
    os.chmod(probe_srv.tmp, 0o777)
    try:
        probe_srv.start()
        base_threads = len(os.listdir("/proc/%d/task" % server_pid(probe_srv)))
    finally:
        probe_srv.stop(expect_clean=False)
        probe_srv.cleanup()
    limit = base_threads + 20
    wrapper = wrapper_with(limit)
    srv = Server(wrapper, args=["--config", path], data_dir=os.path.join(tmp, "data"))
    os.chmod(srv.tmp, 0o777)
    try:
        srv.start()
        codes = {}
        for i in range(n_ns):
            status, _, doc = curl_json(srv, "/events/ns%02d" % i, method="POST",
                                       headers=["Content-Type: application/json"],
                                       data=json.dumps({"sessionId": "s", "eventList": [{"eventType": "click"}]}))
            codes.setdefault(status, []).append(i)
            if status == 503:
                assert doc["code"] == "DeliveryCapacityExhausted", doc
        assert set(codes) <= {200, 503} and 200 in codes and 503 in codes, codes
        assert srv.proc.poll() is None, "the server died:\n" + srv.read_log()[-3000:]
        status, _, _ = curl(srv, "/healthz")
        assert status == 200
        # Accepted events reach their targets.
        deadline = time.time() + 20
        while time.time() < deadline:
            done = [i for i in codes[200] if os.path.exists(os.path.join(sink, "ns%02d.jsonl" % i))]
            if len(done) == len(codes[200]):
                break
            time.sleep(0.2)
        assert len(done) == len(codes[200]), (done, codes)
        # One log line per interval, not one per refused call.
        assert srv.read_log().count("refused: cannot start a delivery thread") <= 2, srv.read_log()[-3000:]
        print("  accepted %d namespaces, refused %d under --nproc=%d (%d threads at start)"
              % (len(codes[200]), len(codes[503]), limit, base_threads))
    finally:
        srv.stop(expect_clean=False)
        srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run_tests(globals())
