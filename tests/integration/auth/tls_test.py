"""TLS on both fronts (issue #15 point 7): the same --tls-cert/--tls-key serve REST (curl) and gRPC
(python3-grpcio secure channels); --tls-client-ca requires client certificates on both (mTLS); SIGHUP
loads new certificates for new connections while connections already open keep working.
Certificates are made here with the openssl command line.
"""
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from harness import REPO_ROOT, Server, auto_relay_threads, find_generated_python, make_pki  # noqa: E402

find_generated_python()
import grpc  # noqa: E402
from personalization.v1 import personalization_pb2 as pb  # noqa: E402

SVC = "/personalization.v1.PersonalizationService/"
REC = "/recommend-items/demo/for-you/user-0001?numResults=2"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def peer_cert_sha(port, d, client=True):
    """The SHA-256 of the certificate a new TLS connection to port is shown (None: refused)."""
    ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
    ctx.set_alpn_protocols(["h2"])
    if client:
        ctx.load_cert_chain(os.path.join(d, "client.pem"), os.path.join(d, "client.key"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def grpc_channel(s, d, client=True):
    creds = grpc.ssl_channel_credentials(
        root_certificates=read(os.path.join(d, "ca.pem")),
        private_key=read(os.path.join(d, "client.key")) if client else None,
        certificate_chain=read(os.path.join(d, "client.pem")) if client else None)
    return grpc.secure_channel(s.grpc_target, creds)


def recommend(ch):
    fn = ch.unary_unary(SVC + "RecommendItems", request_serializer=pb.RecommendItemsRequest.SerializeToString,
                        response_deserializer=pb.RecommendationResponse.FromString)
    return fn(pb.RecommendItemsRequest(namespace="demo", recommender="for-you", user_id="user-0001", num_results=2),
              timeout=10)


def curl_status(s, d, client=True):
    cmd = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", os.path.join(d, "ca.pem"),
           "--max-time", "10"]
    if client:
        cmd += ["--cert", os.path.join(d, "client.pem"), "--key", os.path.join(d, "client.key")]
    out = subprocess.run(cmd + [s.url(REC)], capture_output=True, text=True, timeout=30)
    return out.stdout if out.returncode == 0 else "refused"


def start(d, extra, config=None):
    s = Server(sys.argv[1], args=["--demo"] + (["--config", config] if config else []) + ["--tls-cert", os.path.join(d, "tls.pem"), "--tls-key",
                                  os.path.join(d, "tls.key")] + extra)
    s.wait_healthy = lambda deadline: None  # /healthz needs a client certificate under mTLS
    s.start()
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            peer_cert_sha(s.http_port, d)
            return s
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("no TLS on the REST port:\n" + s.read_log())


def test_grpc_serves_tls_with_the_rest_flags(d):
    s = start(d, [])
    try:
        assert "gRPC  listening" in s.read_log() and "; TLS terminated in the connection relay" in s.read_log()
        # --grpc-relay-threads auto over TLS: one relay thread per CPU
        assert "%d relay thread(s)" % auto_relay_threads(tls=True) in s.read_log(), s.read_log()[-2000:]
        ch = grpc_channel(s, d, client=False)
        assert len(recommend(ch).item_list) == 2
        ch.close()
        plain = grpc.insecure_channel(s.grpc_target)
        try:
            recommend(plain)
            raise AssertionError("a plaintext call succeeded on the TLS port")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAVAILABLE, e
        plain.close()
        assert curl_status(s, d, client=False) == "200"
        s.stop()
    finally:
        s.proc.kill() if s.proc.poll() is None else None
        s.cleanup()


def test_mtls_and_reload_on_sighup(d):
    s = start(d, ["--tls-client-ca", os.path.join(d, "ca.pem")])
    try:
        # mTLS on both fronts
        assert curl_status(s, d) == "200"
        assert curl_status(s, d, client=False) == "refused"
        ch = grpc_channel(s, d)
        assert len(recommend(ch).item_list) == 2
        bare = grpc_channel(s, d, client=False)
        try:
            recommend(bare)
            raise AssertionError("a call without a client certificate succeeded")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAVAILABLE, e
        bare.close()

        # connections open across the reload
        ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
        ctx.load_cert_chain(os.path.join(d, "client.pem"), os.path.join(d, "client.key"))
        rest_conn = http.client.HTTPSConnection("127.0.0.1", s.http_port, context=ctx, timeout=10)
        rest_conn.request("GET", REC)
        assert rest_conn.getresponse().read() and True
        before_rest, before_grpc = peer_cert_sha(s.http_port, d), peer_cert_sha(s.grpc_port, d)
        assert before_rest == before_grpc == hashlib.sha256(
            ssl.PEM_cert_to_DER_cert(read(os.path.join(d, "server.pem")).decode())).hexdigest()

        shutil.copy(os.path.join(d, "server2.pem"), os.path.join(d, "tls.pem"))
        shutil.copy(os.path.join(d, "server2.key"), os.path.join(d, "tls.key"))
        s.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "certificates reloaded" not in s.read_log() and time.time() < deadline:
            time.sleep(0.05)
        assert "certificates reloaded" in s.read_log(), s.read_log()[-2000:]

        # the open ones keep working
        rest_conn.request("GET", REC)
        r = rest_conn.getresponse()
        assert r.status == 200 and r.read()
        assert len(recommend(ch).item_list) == 2
        # new ones see the new certificate, on both ports
        want = hashlib.sha256(ssl.PEM_cert_to_DER_cert(read(os.path.join(d, "server2.pem")).decode())).hexdigest()
        assert peer_cert_sha(s.http_port, d) == want
        assert peer_cert_sha(s.grpc_port, d) == want
        ch2 = grpc_channel(s, d)
        assert len(recommend(ch2).item_list) == 2
        ch2.close()
        ch.close()
        rest_conn.close()

        # a broken certificate keeps the one in use
        with open(os.path.join(d, "tls.pem"), "w") as f:
            f.write("not a certificate\n")
        s.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "keeps its certificate" not in s.read_log() and time.time() < deadline:
            time.sleep(0.05)
        assert "keeps its certificate" in s.read_log()
        assert peer_cert_sha(s.http_port, d) == want and peer_cert_sha(s.grpc_port, d) == want
        s.stop()
    finally:
        s.proc.kill() if s.proc.poll() is None else None
        s.cleanup()


def closed_within(sock, seconds):
    """Seconds until the server closed sock (EOF or reset), or None if it is still open after seconds."""
    t0 = time.time()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except socket.timeout:
        return None
    except (ConnectionResetError, ssl.SSLError):
        pass
    return time.time() - t0


def test_grpc_tls_port_keeps_the_handshake_timeout_and_client_address_limits(d):
    """The TLS port's handshake timeout (the TLS handshake and the HTTP/2 preface) and the client's
    address, which the per-address rate limit is keyed by (a call without an address would never be
    limited). The relay's caps and frame guard over TLS: tests/integration/hardening/fronts_test.py."""
    key = "pzk_tls-test-key"
    with open(os.path.join(REPO_ROOT, "tests", "data", "demo", "config.json")) as f:
        cfg = json.load(f)
    cfg["auth"] = {"apiKeys": [{"name": "backend", "sha256": hashlib.sha256(key.encode()).hexdigest(),
                                "namespaces": ["*"], "scopes": ["inference"]}],
                   "rateLimits": {"perClientAddress": {"requestsPerSecond": 0.01, "burst": 3}}}
    config = os.path.join(d, "config.json")
    with open(config, "w") as f:
        json.dump(cfg, f)
    s = start(d, ["--grpc-handshake-timeout-ms", "1500"], config=config)
    try:
        # a TCP connection that never starts the TLS handshake (grpc's default would wait 120 s)
        silent = socket.create_connection(("127.0.0.1", s.grpc_port), timeout=10)
        took = closed_within(silent, 8)
        silent.close()
        assert took is not None and took < 8, took
        # a TLS connection that never sends the HTTP/2 preface
        ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection(("127.0.0.1", s.grpc_port), timeout=10)
        tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        took = closed_within(tls, 8)
        tls.close()
        assert took is not None and took < 8, took

        # the per-address limit: the burst, then RESOURCE_EXHAUSTED with retry-after
        ch = grpc_channel(s, d, client=False)
        fn = ch.unary_unary(SVC + "RecommendItems", request_serializer=pb.RecommendItemsRequest.SerializeToString,
                            response_deserializer=pb.RecommendationResponse.FromString)
        req = pb.RecommendItemsRequest(namespace="demo", recommender="for-you", user_id="user-0001", num_results=2)
        for _ in range(3):
            assert len(fn(req, timeout=10, metadata=[("x-api-key", key)]).item_list) == 2
        try:
            fn(req, timeout=10, metadata=[("x-api-key", key)])
            raise AssertionError("the fourth call from one address passed a burst of 3")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
            assert int(dict(e.trailing_metadata())["retry-after"]) >= 1, e.trailing_metadata()
        ch.close()
        s.stop()
    finally:
        s.proc.kill() if s.proc.poll() is None else None
        s.cleanup()


def main():
    d = tempfile.mkdtemp(prefix="pz-tls-")
    passed = failed = 0
    try:
        make_pki(d)
        for name, fn in sorted((n, f) for n, f in globals().items() if n.startswith("test_")):
            shutil.copy(os.path.join(d, "server.pem"), os.path.join(d, "tls.pem"))
            shutil.copy(os.path.join(d, "server.key"), os.path.join(d, "tls.key"))
            t0 = time.time()
            try:
                fn(d)
                passed += 1
                print("[ OK ] %s (%.2fs)" % (name, time.time() - t0), flush=True)
            except Exception:  # noqa: BLE001 - report every failure and go on
                import traceback
                failed += 1
                print("[FAIL] %s\n%s" % (name, traceback.format_exc()), flush=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
