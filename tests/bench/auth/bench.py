"""Authentication on a cache hit, end to end (issue #15): the server's CPU per request for a REST
(wrk) and gRPC (h2load) cache hit without credentials, with an API key and with a JWT it has seen
before, measured in the same run, alternating rounds. Two servers on the embedded demo: one as
shipped (no auth) and one whose configuration adds an `auth` block (an API key, a JWT policy with a
JWKS file, limits high enough never to refuse, so their cost is counted). Tokens are minted with
python3-jwt. Run it through run.sh.
"""
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
spec = importlib.util.spec_from_file_location("cache_bench", os.path.join(REPO, "tests", "bench", "cache", "bench.py"))
cb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cb)

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Bench"
API_KEY = "pzk_bench_" + os.urandom(16).hex()
HIGH = {"requestsPerSecond": 1e9}


def auth_config(tmp):
    key = rsa.generate_private_key(65537, 2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "k1", "alg": "RS256", "use": "sig"})
    jwks = os.path.join(tmp, "jwks.json")
    json.dump({"keys": [jwk]}, open(jwks, "w"))
    with open(os.path.join(REPO, "tests", "data", "demo", "config.json")) as f:
        cfg = json.load(f)
    cfg["auth"] = {"jwt": {"jwksFile": jwks, "issuer": ISSUER, "clientId": "bench", "userIdClaim": "sub"},
                   "apiKeys": [{"name": "bench", "sha256": hashlib.sha256(API_KEY.encode()).hexdigest(),
                                "namespaces": ["*"], "scopes": ["inference"]}],
                   "rateLimits": {"perApiKey": HIGH, "perSubject": HIGH, "perClientAddress": HIGH}}
    path = os.path.join(tmp, "auth.json")
    json.dump(cfg, open(path, "w"))
    claims = {"sub": "user-0001", "iss": ISSUER, "client_id": "bench", "token_use": "access", "scope": "openid",
              "iat": int(__import__("time").time()), "exp": int(__import__("time").time()) + 7200,
              "username": "user-0001"}
    return path, jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


def wrk_with(url, header, pid):
    """cb.wrk with one request header (a Lua script sets it)."""
    if header is None:
        return cb.wrk(url, cb.RUN_SECONDS, pid=pid)
    script = os.path.join(TMP, "header-%d.lua" % (abs(hash(header)) % 100000))
    name, _, value = header.partition(": ")
    with open(script, "w") as f:
        f.write('wrk.headers["%s"] = "%s"\n' % (name, value))
    return cb.wrk(url, cb.RUN_SECONDS, pid=pid, script=script)


def h2load_with(url, body, header, pid):
    if header is None:
        return cb.h2load(url, body, cb.RUN_SECONDS, pid=pid)
    orig = cb.subprocess.run

    def run(cmd, **kw):  # one more -H for this call
        return orig(cmd[:-1] + ["-H", header, cmd[-1]], **kw)
    cb.subprocess.run = run
    try:
        return cb.h2load(url, body, cb.RUN_SECONDS, pid=pid)
    finally:
        cb.subprocess.run = orig


VARIANTS = (("no auth (baseline)", "none"), ("same header, no auth", "filler_key"), ("API key", "key"),
            ("same header, no auth", "filler_jwt"), ("remembered JWT", "jwt"))


def report(title, results):
    """Each credential against the baseline, and against the same request with the same header sent to
    the server without auth (what the credential costs the transport, apart from what authentication
    does with it)."""
    cpu = {k: cb.median([r["cpu_us"] for r in results[k]]) for _, k in VARIANTS}
    print(title)
    for label, key in VARIANTS:
        rps = cb.median([r["rps"] for r in results[key]])
        extra = ""
        if key in ("key", "jwt"):
            extra = "   adds %5.2f us in all, %5.2f us over the same header unchecked (goal <= 2 us)" % (
                cpu[key] - cpu["none"], cpu[key] - cpu["filler_" + key])
        print("  %-22s %6.2f us server CPU/request, %8.0f req/s median%s" % (label, cpu[key], rps, extra))


def main():
    global TMP
    binary = os.path.abspath(sys.argv[1])
    TMP = tempfile.mkdtemp(prefix="pz-bench-auth-")
    procs = []
    try:
        cfg, token = auth_config(TMP)
        plain, p_http, p_grpc = cb.start_server(binary, TMP, ["--log-level", "warn"])
        procs.append(plain)
        authd, a_http, a_grpc = cb.start_server(binary, TMP, ["--log-level", "warn", "--config", cfg])
        procs.append(authd)
        key_h, jwt_h = "X-Api-Key: " + API_KEY, "Authorization: Bearer " + token
        for port, hdr in ((p_http, {}), (a_http, {"X-Api-Key": API_KEY}), (a_http, {"Authorization": "Bearer " + token})):
            status, _, _ = cb.http_get(port, cb.HIT_PATH, hdr)
            assert status == 200
        request = cb.recommend_request_bytes()
        body = os.path.join(TMP, "request.bin")
        with open(body, "wb") as f:
            f.write(cb.grpc_frame(request))
        print("machine: %d cores shared by the servers and the load generator; %d rounds of %d s, alternating; "
              "load average %s; %d-byte JWT" % (os.cpu_count(), cb.ROUNDS, cb.RUN_SECONDS, cb.loadavg(), len(token)))
        print()
        # the same headers sent to the server without auth, which ignores them: what the credential costs
        # the transport (h2o's HTTP/1 parser; grpc's HPACK decoder, which gets `authorization` as a
        # never-indexed literal on every request from nghttp2) apart from what authentication does
        filler_key, filler_jwt = key_h, jwt_h
        rest = {k: [] for _, k in VARIANTS}
        grpc = {k: [] for _, k in VARIANTS}
        rest_url = lambda port: "http://127.0.0.1:%d%s" % (port, cb.HIT_PATH)  # noqa: E731
        grpc_url = lambda port: "http://127.0.0.1:%d%s" % (port, cb.GRPC_METHOD)  # noqa: E731
        runs = (("none", p_http, p_grpc, plain, None), ("filler_key", p_http, p_grpc, plain, filler_key),
                ("key", a_http, a_grpc, authd, key_h), ("filler_jwt", p_http, p_grpc, plain, filler_jwt),
                ("jwt", a_http, a_grpc, authd, jwt_h))
        for _ in range(cb.ROUNDS):
            for key, http_port, _, proc, header in runs:
                rest[key].append(wrk_with(rest_url(http_port), header, proc.pid))
        report("REST cache hit (wrk -t2 -c64, HTTP/1.1)", rest)
        print()
        for _ in range(cb.ROUNDS):
            for key, _, grpc_port, proc, header in runs:
                hdr = None if header is None else header.split(": ", 1)[0].lower() + ": " + header.split(": ", 1)[1]
                grpc[key].append(h2load_with(grpc_url(grpc_port), body, hdr, proc.pid))
        report("gRPC cache hit (h2load -c16 -m32 -t1)", grpc)
        print()
        print("load average at the end: %s" % cb.loadavg())
    finally:
        for p in procs:
            cb.stop(p)
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
