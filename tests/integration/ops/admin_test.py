"""The admin API end to end: REST under /admin on --admin-port (curl) and the gRPC AdminService on
--admin-grpc-port (python3-grpcio with the generated admin_pb2), the `config` CLI against the running
server, and the routes that moved off the public port.

The server serves a config with a localdb-decorated namespace and two event targets: the builtin
recommender and a webhook (Webhook below) that refuses records holding "reject-me", so dead letters
appear; the webhook's Authorization header is the secret the admin API must redact.

Usage: admin_test.py SERVER_BINARY
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import Server, curl, curl_json, find_generated_python, run_tests  # noqa: E402

find_generated_python()
import grpc  # noqa: E402
from google.protobuf import json_format, struct_pb2  # noqa: E402
from personalization.v1 import admin_pb2  # noqa: E402

ADMIN = "/personalization.v1.AdminService/"
SECRET = "Bearer s3cret-token"


class Webhook:
    def __init__(self):
        self.bodies = []

        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                hook.bodies.append(body)
                status = 400 if b"reject-me" in body else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]


HOOK = Webhook()


def document(version, extra_ns=None):
    doc = {"version": version,
           "cacheControl": {"userSpecified": {"maxAge": 60, "directives": "private"},
                            "syntheticUserSpecified": {"maxAge": 60, "directives": "public"},
                            "noUserSpecified": {"maxAge": 60, "directives": "public"}},
           "namespaces": {"shop": {
               "inferenceItemMetadata": {"type": "localdb"},
               "recommenders": {"recommend-items": {"popular": {"variations": {
                   "b": {"type": "builtin", "strategy": "popular"}}}}},
               "eventTargets": [{"type": "builtin"},
                                {"type": "http", "url": HOOK.url, "headers": {"Authorization": SECRET}}]}}}
    if extra_ns:
        doc["namespaces"][extra_ns] = {"eventTargets": []}
    return json.dumps(doc, indent=1)


TMP = tempfile.mkdtemp(prefix="pz-admin-")
CONFIG = os.path.join(TMP, "config.json")
with open(CONFIG, "w") as f:
    f.write(document("v1"))


def admin(s, path, method=None, data=None, headers=()):
    return curl_json(s, s.admin_url(path), method=method, data=data, headers=headers)


def admin_grpc(s, name, request, response_cls):
    with grpc.insecure_channel(s.admin_grpc_target) as ch:
        fn = ch.unary_unary(ADMIN + name, request_serializer=type(request).SerializeToString,
                            response_deserializer=response_cls.FromString)
        resp, call = fn.with_call(request, timeout=20)
        return resp, dict(call.initial_metadata())


def served_version(s):
    return curl_json(s, "/healthz")[2]["configVersion"]


def cli(s, *args):
    env = dict(os.environ)
    env.pop("BUILD_WORKING_DIRECTORY", None)
    return subprocess.run([s.binary_path, "config"] + list(args) + ["--admin", s.admin_url("")], capture_output=True,
                          text=True, timeout=60, env=env)


def wait_for(what, fn, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def test_admin_routes_are_off_the_public_port(s):
    for path in ("/admin/cache/stats", "/admin/events/stats", "/admin/config", "/metrics"):
        status, _, doc = curl_json(s, path)
        assert status == 404 and doc["code"] == "RouteNotFound", (path, status, doc)
    # and the API is not on the admin port
    status, _, _ = curl_json(s, s.admin_url("/recommend-items/shop/popular/u1"))
    assert status == 404
    assert admin(s, "/healthz")[2]["status"] == "SERVING"


def test_browsers_are_refused(s):
    """A page the operator opens must not drive the admin API: cross-site POSTs (CSRF) and DNS
    rebinding both come with Origin or Sec-Fetch-Site."""
    for header in ("Origin: http://evil.example", "Sec-Fetch-Site: same-origin"):
        status, hdrs, doc = admin(s, "/admin/cache/purge", method="POST", data='{"all": true}', headers=(header,))
        assert status == 403 and doc["code"] == "BrowserRequestRefused", (header, status, doc)
        assert "access-control-allow-origin" not in hdrs
    status, hdrs, _ = admin(s, "/admin/cache/stats")
    assert status == 200 and "access-control-allow-origin" not in hdrs  # no CORS on the admin port
    status, _, _ = curl(s, s.admin_url("/admin/config"), method="OPTIONS",
                        headers=("Origin: http://evil.example", "Access-Control-Request-Method: POST"))
    assert status == 403
    # the API's port still serves browsers
    status, hdrs, _ = curl(s, "/healthz", headers=("Origin: http://shop.example",))
    assert status == 200 and hdrs["access-control-allow-origin"] == "*"


def test_get_config_redacts_secrets_on_both_protocols(s):
    status, hdrs, rec = admin(s, "/admin/config")
    assert status == 200 and hdrs["cache-control"] == "no-store", (status, hdrs)
    assert rec["status"] == "accepted" and rec["active"] is True and rec["hash"].startswith("sha256:")
    assert rec["version"] == served_version(s)
    target = rec["document"]["namespaces"]["shop"]["eventTargets"][1]
    assert target["headers"] == {"Authorization": "***"}, target
    assert SECRET not in json.dumps(rec)
    assert target["url"] == HOOK.url  # no user info: kept as is
    resp, md = admin_grpc(s, "GetConfig", admin_pb2.GetConfigRequest(), admin_pb2.ConfigRecord)
    assert resp.hash == rec["hash"] and resp.active
    assert resp.document.fields["namespaces"].struct_value.fields["shop"].struct_value.fields["eventTargets"] \
        .list_value.values[1].struct_value.fields["headers"].struct_value.fields["Authorization"].string_value \
        == "***"
    assert len(md["x-request-id"]) == 16


def test_validate_changes_nothing(s):
    before = served_version(s)
    status, _, v = admin(s, "/admin/config/validate", method="POST", data='{"version": "x", "namespaces": {"a": 1}}')
    assert status == 200 and v["valid"] is False, v
    assert v["errors"][0]["path"].startswith("$.namespaces.a"), v
    status, _, v = admin(s, "/admin/config/validate", method="POST", data=document("candidate"))
    assert status == 200 and v["valid"] is True and v["version"] == "candidate" and v["namespaces"] == 1, v
    status, _, v = admin(s, "/admin/config/validate", method="POST", data="")
    assert status == 400 and "document is missing" in v["message"], v
    resp, _ = admin_grpc(s, "ValidateConfig", admin_pb2.ConfigDocument(document=b"{nope"), admin_pb2.ConfigValidation)
    assert not resp.valid and "invalid JSON" in resp.errors[0].message
    assert served_version(s) == before


def test_apply_rollback_and_history(s):
    status, _, change = admin(s, "/admin/config", method="POST", data=document("v2", extra_ns="blog"))
    assert status == 200 and change["applied"] is True, change
    assert change["record"]["version"] == "v2" and change["record"]["source"] == "admin"
    assert served_version(s) == "v2"
    # a bad document: rejected with its errors, recorded, nothing changes
    status, _, change = admin(s, "/admin/config", method="POST", data='{"version": "v3", "namespaces": {"x": {"y": 1}}}')
    assert status == 200 and change["applied"] is False, change
    assert change["record"]["status"] == "rejected" and change["record"]["errors"], change
    assert served_version(s) == "v2"
    status, _, hist = admin(s, "/admin/config/history?limit=3")
    assert [r["status"] for r in hist["records"]] == ["rejected", "accepted", "accepted"], hist
    assert hist["records"][1]["active"] is True and hist["records"][2].get("active", False) is False, hist
    # one record, with its document (redacted)
    status, _, rec = admin(s, "/admin/config/history/v1")
    assert status == 200 and rec["version"] == "v1" and rec["active"] is False
    assert rec["document"]["namespaces"]["shop"]["eventTargets"][1]["headers"]["Authorization"] == "***"
    status, _, err = admin(s, "/admin/config/history/nope")
    assert status == 404 and "no accepted configuration with version 'nope'" in err["message"]
    # the CLI against the running server
    p = cli(s, "history", "--limit", "2")
    assert p.returncode == 0 and "rejected" in p.stdout.splitlines()[1], p.stdout + p.stderr
    assert p.stdout.splitlines()[2].startswith("* ") and " v2 " in p.stdout.splitlines()[2]
    p = cli(s, "show", "v2")
    assert p.returncode == 0 and json.loads(p.stdout)["namespaces"]["blog"] == {"eventTargets": []}
    assert "***" in p.stdout and SECRET not in p.stdout
    # roll back: an ordinary reload of the stored document (not the redacted one)
    p = cli(s, "rollback", "v1")
    assert p.returncode == 0 and "now serves version v1" in p.stdout, p.stdout + p.stderr
    assert served_version(s) == "v1"
    status, _, rec = admin(s, "/admin/config")
    assert rec["source"].startswith("rollback:@") and rec["document"]["namespaces"].keys() == {"shop"}
    assert rec["hash"] == admin(s, "/admin/config/history/%401")[2]["hash"]
    # rolling back to a rejected attempt or an unknown version fails, over gRPC too
    rejected = hist["records"][0]["id"]
    status, _, err = admin(s, "/admin/config/rollback", method="POST", data=json.dumps({"version": "@%d" % rejected}))
    assert status == 400 and "was rejected" in err["message"], err
    try:
        admin_grpc(s, "RollbackConfig", admin_pb2.RollbackConfigRequest(version="v42"), admin_pb2.ConfigChange)
        raise AssertionError("expected NOT_FOUND")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, e
    p = cli(s, "rollback", "v42")
    assert p.returncode == 1 and "404" in p.stderr
    assert served_version(s) == "v1"


def test_catalog_upsert_delete_and_status(s):
    items = '{"id": "sku-1", "name": "Trail Shoe", "price": 89.5}\n{"id": "sku-2", "name": "Tent"}\n'
    status, _, r = admin(s, "/admin/catalog/shop/items", method="POST", data=items)
    assert status == 200 and r["upserted"] == 2 and r["items"] >= 2 and r["present"] is True, r
    status, _, st = admin(s, "/admin/catalog/shop")
    assert status == 200 and st["items"] == r["items"] and st["revision"] == r["revision"], st
    assert st["import"] is not None and st["import"]["failed"] == 0
    # a bad line: nothing changes, the line is named
    status, _, err = admin(s, "/admin/catalog/shop/items", method="POST", data='{"id": "sku-3"}\n{"name": "no id"}\n')
    assert status == 400 and err["message"].startswith("line 2:"), err
    assert admin(s, "/admin/catalog/shop")[2]["revision"] == st["revision"]
    status, _, err = admin(s, "/admin/catalog/bad%20ns/items", method="POST", data=items)
    assert status == 400 and "invalid namespace" in err["message"], err
    # delete, over gRPC
    resp, _ = admin_grpc(s, "DeleteItems", admin_pb2.DeleteItemsRequest(namespace="shop", ids=["sku-2", "nope"]),
                         struct_pb2.Struct)
    out = json_format.MessageToDict(resp)
    assert out["deleted"] == 1 and out["notFound"] == 1, out


def test_dead_letters_and_replay(s):
    status, _, _ = curl(s, "/events/shop", method="POST", headers=("Content-Type: application/json",),
                        data=json.dumps({"sessionId": "s1", "userId": "u-dead",
                                         "eventList": [{"eventType": "click", "itemId": "reject-me"}]}))
    assert status == 200

    def dead():
        _, _, d = admin(s, "/admin/events/dead-letters?limit=10")
        return d["deadLetters"]
    letters = wait_for("a dead letter", dead)
    assert letters[0]["target"].startswith("shop/http") and "reject-me" in json.dumps(letters[0]["record"])
    target = letters[0]["target"]
    status, _, stats = admin(s, "/admin/events/stats")
    assert status == 200 and any(t["id"] == target and t["deadLettered"] >= 1 for t in stats["targets"]), stats
    n = len(HOOK.bodies)
    status, _, r = admin(s, "/admin/events/replay", method="POST", data=json.dumps({"target": target}))
    assert status == 200 and r["requeued"] >= 1, r
    status, _, err = admin(s, "/admin/events/replay", method="POST", data=json.dumps({"target": "shop/http/nope"}))
    assert status == 404, err
    status, _, err = admin(s, "/admin/events/replay", method="POST", data=json.dumps({"all": True, "target": target}))
    assert status == 400, err
    # the replayed record is delivered again (and refused again: a new dead letter)
    wait_for("the redelivery", lambda: len(HOOK.bodies) > n)
    status, _, err = admin(s, "/admin/events/dead-letters?limit=100000")
    assert status == 400 and "limit is at most 10000" in err["message"], err


def test_cache_stats_and_purges(s):
    path = "/recommend-items/shop/popular/u-cache?numResults=3"

    def stored():  # a catalog change just before makes results briefly not stored (the purge settles)
        before = admin(s, "/admin/cache/stats")[2]["stores"]
        curl(s, path)
        return admin(s, "/admin/cache/stats")[2]["stores"] > before
    wait_for("a stored response", stored)
    before = admin(s, "/admin/cache/stats")[2]
    curl(s, path)
    after = admin(s, "/admin/cache/stats")[2]
    assert after["hits"] == before["hits"] + 1, (before, after)
    status, _, r = admin(s, "/admin/cache/purge", method="POST", data=json.dumps({"namespace": "shop",
                                                                                 "userId": "u-cache"}))
    assert status == 200 and r["purged"] == 1, r
    curl(s, path)
    again = admin(s, "/admin/cache/stats")[2]
    assert again["misses"] == after["misses"] + 1 and again["hits"] == after["hits"], (after, again)
    resp, _ = admin_grpc(s, "PurgeCache", admin_pb2.PurgeCacheRequest(all=True),
                         struct_pb2.Struct)
    assert json_format.MessageToDict(resp)["purged"] >= 1
    status, _, err = admin(s, "/admin/cache/purge", method="POST", data=json.dumps({"userId": "u-cache"}))
    assert status == 400, err
    status, _, err = admin(s, "/admin/cache/purge", method="POST", data="{")
    assert status == 400 and err["code"] == "InvalidJSONRequestPayload", err


def test_body_limit(s):
    big = "x" * (16 * 1024 * 1024 + 1)  # PZ_ADMIN_MAX_BODY_BYTES + 1
    status, _, _ = curl(s, s.admin_url("/admin/config/validate"), method="POST", data=big)
    assert status == 413, status
    # the same size is fine on the admin port for a document, refused on the public port's events
    status, _, _ = curl(s, "/events/shop", method="POST", data="x" * (2 * 1024 * 1024),
                        headers=("Content-Type: application/json",))
    assert status == 413


ADMIN_MAX_CONNECTIONS = 6  # --admin-max-connections for this server


def closed_within(sock, seconds):
    """True when the server closes sock (EOF or reset) within seconds."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_connection_caps_on_both_admin_ports(s):
    """--admin-max-connections: the admin ports are the fronts' own servers with their caps; past
    the cap a connection is closed at accept, and served again once one closes."""
    for port in (s.admin_port, s.admin_grpc_port):
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(ADMIN_MAX_CONNECTIONS)]
        try:
            time.sleep(0.2)
            extra = socket.create_connection(("127.0.0.1", port))
            assert closed_within(extra, 2), "connection %d to port %d was served" % (ADMIN_MAX_CONNECTIONS + 1, port)
            extra.close()
            held.pop().close()
            time.sleep(0.3)
            if port == s.admin_port:
                status, _, doc = admin(s, "/healthz")
                assert status == 200 and doc["status"] == "SERVING", (status, doc)
            else:
                resp, _ = admin_grpc(s, "ListConfigHistory", admin_pb2.ListConfigHistoryRequest(limit=1),
                                     admin_pb2.ConfigHistory)
                assert len(resp.records) == 1
        finally:
            for h in held:
                h.close()
    log = s.read_log()
    assert "rest: refused" in log and "grpc: refused" in log, log[-2000:]


def test_admin_grpc_without_a_poller_of_its_own_serves_and_stops_cleanly(s):
    """The admin gRPC server polls nothing itself (grpc_server.h non_polling): the public server's
    threads carry its I/O. Calls on both ports interleave on open channels, and SIGTERM with both
    channels still open exits 0 promptly."""
    srv = Server(s.binary_path, args=["--config", CONFIG])
    srv.start()
    try:
        admin_ch = grpc.insecure_channel(srv.admin_grpc_target)
        history = admin_ch.unary_unary(ADMIN + "ListConfigHistory",
                                       request_serializer=admin_pb2.ListConfigHistoryRequest.SerializeToString,
                                       response_deserializer=admin_pb2.ConfigHistory.FromString)
        public_ch = grpc.insecure_channel(srv.grpc_target)
        health = public_ch.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda m: m,
                                       response_deserializer=lambda b: b)
        for _ in range(20):
            assert len(history(admin_pb2.ListConfigHistoryRequest(limit=1), timeout=10).records) == 1
            health(b"", timeout=10)
        t0 = time.time()
        srv.proc.send_signal(15)
        rc = srv.proc.wait(timeout=20)
        assert rc == 0, (rc, srv.read_log()[-2000:])
        assert time.time() - t0 < 10, time.time() - t0
        admin_ch.close()
        public_ch.close()
    finally:
        srv.stop(expect_clean=False)
        srv.cleanup()


def test_grpc_admin_service_by_reflection(s):
    buf = os.path.join("/opt/pz-test-tools/node_modules/.bin/buf")
    if not os.path.exists(buf):
        raise AssertionError("buf is not installed: run bazel/setup.sh --test")
    out = subprocess.run([buf, "curl", "--protocol", "grpc", "--http2-prior-knowledge", "--list-services",
                          "http://%s" % s.admin_grpc_target], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                                  "grpc.reflection.v1alpha.ServerReflection",
                                  "personalization.v1.AdminService"], out.stdout
    out = subprocess.run([buf, "curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", '{"limit": 1}',
                          "http://%s/personalization.v1.AdminService/ListConfigHistory" % s.admin_grpc_target],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["records"]) == 1


if __name__ == "__main__":
    run_tests(globals(), server_args=["--config", CONFIG, "--admin-max-connections", str(ADMIN_MAX_CONNECTIONS)])
