"""Authentication, authorization and rate limits end to end (issue #15): the real binary with an
`auth` block, API keys (inline, a hot-reloaded keys file made by `create-api-key`), Cognito-shaped
JWTs minted with python3-jwt against a JWKS served by a local HTTP server, and the RFC 8725 attacks;
driven with curl (REST), python3-grpcio and grpc-js (gRPC).
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import REPO_ROOT, TOOLS, curl, curl_json, find_generated_python, run_tests  # noqa: E402
import idp as idp_mod  # noqa: E402

find_generated_python()
import grpc  # noqa: E402
from google.protobuf import struct_pb2  # noqa: E402
from personalization.v1 import admin_pb2 as admin_pb  # noqa: E402
from personalization.v1 import personalization_pb2 as pb  # noqa: E402

SVC = "/personalization.v1.PersonalizationService/"
TMP = tempfile.mkdtemp(prefix="pz-auth-it-")
IDP = idp_mod.IdP()
IDP.add_key("rsa-1", "rsa")
IDP.add_key("ec-1", "ec")
IDP.add_key("rsa-2", "rsa", publish=False)  # appears while serving (rotation)

KEYS = {name: "pzk_test_%s_%s" % (name, os.urandom(8).hex()) for name in
        ("backend", "ops", "other-ns", "expired", "slow", "limited")}
KEYS_FILE = os.path.join(TMP, "keys.json")
EVENTS_FILE = os.path.join(TMP, "events.jsonl")
FORWARDED_FILE = os.path.join(TMP, "forwarded.jsonl")
ADMIN_SCOPE = "personalization/admin"


def sha(key):
    return hashlib.sha256(key.encode()).hexdigest()


def api_key(name, scopes, namespaces=("*",), **extra):
    entry = {"name": name, "sha256": sha(KEYS[name]), "namespaces": list(namespaces), "scopes": scopes}
    entry.update(extra)
    return entry


def write_config():
    with open(os.path.join(REPO_ROOT, "tests", "data", "demo", "config.json")) as f:
        cfg = json.load(f)
    cfg["auth"] = {
        "jwt": {"jwksUrl": IDP.jwks_url, "issuer": idp_mod.ISSUER, "clientId": idp_mod.CLIENT_ID,
                "userIdClaim": "sub", "leewaySeconds": 5, "jwksMinRefreshSeconds": 2,
                "requiredScopes": {"admin": [ADMIN_SCOPE]}},
        "apiKeys": [api_key("backend", ["inference", "events"]), api_key("ops", ["admin"]),
                    api_key("other-ns", ["inference"], namespaces=["elsewhere"]),
                    api_key("expired", ["inference"], expires="2020-01-01T00:00:00Z"),
                    api_key("slow", ["inference"], rateLimit={"requestsPerSecond": 0.01, "burst": 3})],
        "apiKeysFile": KEYS_FILE,
        "rateLimits": {"perSubject": {"requestsPerSecond": 0.01, "burst": 12}},
    }
    demo = cfg["namespaces"]["demo"]
    demo["eventTargets"] = demo.get("eventTargets", []) + [{"type": "file", "path": EVENTS_FILE}]
    # the same recommenders, open to anyone, and behind a per-address limit
    cfg["namespaces"]["open"] = dict(demo, auth={}, eventTargets=[{"type": "builtin"}])
    # events forwarded as sent (file target only): userId is read from the raw body
    cfg["namespaces"]["forwarded"] = dict(demo, eventTargets=[{"type": "file", "path": FORWARDED_FILE}])
    cfg["namespaces"]["limited"] = dict(demo, eventTargets=[{"type": "builtin"}], auth={
        "apiKeys": [api_key("limited", ["inference"])],
        "rateLimits": {"perClientAddress": {"requestsPerSecond": 0.01, "burst": 4}}})
    path = os.path.join(TMP, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    with open(KEYS_FILE, "w") as f:
        json.dump({"apiKeys": []}, f)
    return path


CONFIG = write_config()
REC = "/recommend-items/demo/for-you/%s?numResults=3"


def rest(s, path, *headers, method=None, data=None):
    return curl_json(s, path, method=method, data=data, headers=headers)


def key_header(name):
    return "X-Api-Key: " + KEYS[name]


def bearer(token):
    return "Authorization: Bearer " + token


def grpc_recommend(s, user, metadata=(), namespace="demo"):
    ch = grpc.insecure_channel(s.grpc_target)
    try:
        fn = ch.unary_unary(SVC + "RecommendItems", request_serializer=pb.RecommendItemsRequest.SerializeToString,
                            response_deserializer=pb.RecommendationResponse.FromString)
        return fn.with_call(pb.RecommendItemsRequest(namespace=namespace, recommender="for-you", user_id=user,
                                                     num_results=3), metadata=list(metadata), timeout=10)
    finally:
        ch.close()


def grpc_error(s, user, metadata=(), namespace="demo"):
    try:
        grpc_recommend(s, user, metadata, namespace)
    except grpc.RpcError as e:
        return e
    raise AssertionError("the call succeeded")


def assert_401(status, hdrs, doc, code, secret=None):
    assert status == 401, (status, doc)
    assert doc["code"] == code and doc["type"] == "Authentication" and doc["message"], doc
    assert "Bearer realm=" in hdrs.get("www-authenticate", ""), hdrs
    if secret is not None:
        assert secret not in json.dumps(doc), doc


def js_call(s, user, kind, value=""):
    env = dict(os.environ, NODE_PATH=TOOLS,
               PZ_PROTO=os.path.join(REPO_ROOT, "proto", "personalization", "v1", "personalization.proto"))
    out = subprocess.run(["node", os.path.join(HERE, "auth_client.js"), s.grpc_target, user, kind, value],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


# ---- no credentials, open routes ----

def test_missing_credentials_are_401_on_both_protocols(s):
    status, hdrs, doc = rest(s, REC % "user-0001")
    assert_401(status, hdrs, doc, "MissingCredentials")
    assert hdrs["www-authenticate"] == 'Bearer realm="personalization", ApiKey realm="personalization"', hdrs
    assert "access-control-allow-origin" in hdrs  # CORS on errors too
    e = grpc_error(s, "user-0001")
    assert e.code() == grpc.StatusCode.UNAUTHENTICATED, e
    assert dict(e.trailing_metadata())["x-personalization-error-code"] == "MissingCredentials"
    assert js_call(s, "user-0001", "--none").startswith("ERROR UNAUTHENTICATED"), "grpc-js"
    status, _, doc = rest(s, "/events/demo", method="POST", data='{"sessionId":"s","eventList":[]}')
    assert status == 401 and doc["code"] == "MissingCredentials", doc


def test_healthz_preflight_and_open_namespace_need_nothing(s):
    status, _, doc = rest(s, "/healthz")
    assert status == 200 and doc["status"] == "SERVING"
    status, hdrs, _ = curl(s, "/recommend-items/demo/for-you/u", method="OPTIONS",
                           headers=["Origin: https://shop.example", "Access-Control-Request-Method: GET"])
    assert status == 204 and "X-Api-Key" in hdrs["access-control-allow-headers"], hdrs
    status, _, doc = rest(s, "/recommend-items/open/for-you/user-0001?numResults=3")
    assert status == 200 and "recommendationId" in doc, doc  # its recommender has no history: no items
    resp, _ = grpc_recommend(s, "user-0001", namespace="open")
    assert resp.recommendation_id.startswith("RID-")


def test_unknown_namespace_is_401_before_404(s):
    status, hdrs, doc = rest(s, "/recommend-items/nowhere/for-you/u")
    assert_401(status, hdrs, doc, "MissingCredentials")  # whether it exists is not said
    status, _, doc = rest(s, "/recommend-items/nowhere/for-you/u", key_header("backend"))
    assert status == 404, doc


def test_both_credentials_and_other_schemes_are_refused(s):
    token = IDP.token("user-0001")
    status, hdrs, doc = rest(s, REC % "user-0001", key_header("backend"), bearer(token))
    assert_401(status, hdrs, doc, "AmbiguousCredentials", token)
    status, hdrs, doc = rest(s, REC % "user-0001", "Authorization: Basic dXNlcjpwYXNz")
    assert_401(status, hdrs, doc, "InvalidAuthorizationHeader")


# ---- API keys ----

def test_api_key_rest_grpc_and_grpc_js(s):
    status, hdrs, doc = rest(s, REC % "user-0042", key_header("backend"))
    assert status == 200 and len(doc["itemList"]) == 3, doc
    resp, _ = grpc_recommend(s, "user-0077", [("x-api-key", KEYS["backend"])])  # any user: a backend
    assert len(resp.item_list) == 3
    assert js_call(s, "user-0003", "--api-key", KEYS["backend"]) == "OK 3"
    status, _, _ = rest(s, "/events/demo", key_header("backend"), method="POST",
                        data='{"sessionId":"s1","userId":"user-0042","eventList":[{"eventType":"click","itemId":"sku-00001"}]}')
    assert status == 200


def test_bad_and_expired_api_keys_are_401(s):
    status, hdrs, doc = rest(s, REC % "u", "X-Api-Key: pzk_guess")
    assert_401(status, hdrs, doc, "InvalidApiKey", "pzk_guess")
    status, hdrs, doc = rest(s, REC % "u", key_header("expired"))
    assert_401(status, hdrs, doc, "ApiKeyExpired", KEYS["expired"])
    e = grpc_error(s, "u", [("x-api-key", "pzk_guess")])
    assert e.code() == grpc.StatusCode.UNAUTHENTICATED and "pzk_guess" not in e.details()


def test_api_key_scopes_and_namespaces_are_403(s):
    status, _, doc = rest(s, REC % "u", key_header("ops"))
    assert status == 403 and doc["code"] == "InsufficientScope" and doc["type"] == "Authorization", doc
    status, _, doc = rest(s, REC % "u", key_header("other-ns"))
    assert status == 403 and doc["code"] == "NamespaceNotAllowed", doc
    e = grpc_error(s, "u", [("x-api-key", KEYS["other-ns"])])
    assert e.code() == grpc.StatusCode.PERMISSION_DENIED, e
    status, _, doc = rest(s, "/events/demo", key_header("ops"), method="POST",
                          data='{"sessionId":"s","userId":"u","eventList":[{"eventType":"click","itemId":"i"}]}')
    assert status == 403 and doc["code"] == "InsufficientScope", doc


def test_admin_needs_the_admin_scope(s):
    status, hdrs, doc = rest(s, s.admin_url("/admin/cache/stats"))
    assert_401(status, hdrs, doc, "MissingCredentials")
    status, _, doc = rest(s, s.admin_url("/admin/cache/stats"), key_header("backend"))
    assert status == 403 and doc["code"] == "InsufficientScope", doc
    status, _, doc = rest(s, s.admin_url("/admin/cache/stats"), key_header("ops"))
    assert status == 200 and "hits" in doc, doc
    status, _, doc = rest(s, s.admin_url("/admin/events/stats"), bearer(IDP.token("admin-person")))
    assert status == 403 and doc["code"] == "InsufficientScope", doc  # tokens: only through requiredScopes
    status, _, doc = rest(s, s.admin_url("/admin/auth/stats"), bearer(IDP.token("admin-person", scope="openid " + ADMIN_SCOPE)))
    assert status == 200 and "tokensVerified" in doc, doc
    # experiment results are operators' data too, over both protocols
    status, hdrs, doc = rest(s, "/experiments/demo")
    assert_401(status, hdrs, doc, "MissingCredentials")
    status, _, doc = rest(s, "/experiments/demo", key_header("backend"))
    assert status == 403 and doc["code"] == "InsufficientScope", doc
    status, _, doc = rest(s, "/experiments/demo", key_header("ops"))
    assert status == 200, doc
    ch = grpc.insecure_channel(s.grpc_target)
    try:
        fn = ch.unary_unary(SVC + "ListExperiments", request_serializer=pb.ListExperimentsRequest.SerializeToString,
                            response_deserializer=pb.ListExperimentsResponse.FromString)
        try:
            fn(pb.ListExperimentsRequest(namespace="demo"), metadata=[("x-api-key", KEYS["backend"])], timeout=10)
            raise AssertionError("ListExperiments without the admin scope succeeded")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.PERMISSION_DENIED, e
        fn(pb.ListExperimentsRequest(namespace="demo"), metadata=[("x-api-key", KEYS["ops"])], timeout=10)
    finally:
        ch.close()
    # the admin listener: its scrape and the gRPC AdminService need the scope too, /healthz does not
    status, hdrs, _ = curl(s, s.admin_url("/metrics"))
    assert status == 401 and "apikey" in hdrs["www-authenticate"].lower(), (status, hdrs)
    status, _, body = curl(s, s.admin_url("/metrics"), headers=(key_header("ops"),))
    assert status == 200 and b"pz_requests_total" in body, status
    assert curl(s, s.admin_url("/healthz"))[0] == 200
    ch = grpc.insecure_channel(s.admin_grpc_target)
    try:
        fn = ch.unary_unary("/personalization.v1.AdminService/GetCacheStats",
                            request_serializer=admin_pb.GetCacheStatsRequest.SerializeToString,
                            response_deserializer=struct_pb2.Struct.FromString)
        for md, code in (((), grpc.StatusCode.UNAUTHENTICATED),
                         ((("x-api-key", KEYS["backend"]),), grpc.StatusCode.PERMISSION_DENIED)):
            try:
                fn(admin_pb.GetCacheStatsRequest(), metadata=md, timeout=10)
                raise AssertionError("GetCacheStats without the admin scope succeeded")
            except grpc.RpcError as e:
                assert e.code() == code, e
        assert "hits" in fn(admin_pb.GetCacheStatsRequest(), metadata=[("x-api-key", KEYS["ops"])], timeout=10)
    finally:
        ch.close()


def test_keys_file_made_by_the_cli_hot_reloads(s):
    out = subprocess.run([s.binary_path, "create-api-key", "--name", "from-cli", "--scopes", "inference",
                          "--namespaces", "demo", "--keys-file", KEYS_FILE], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip().splitlines()[0]
    assert key.startswith("pzk_") and len(key) > 40
    with open(KEYS_FILE) as f:
        stored = json.load(f)
    assert stored["apiKeys"][0]["sha256"] == sha(key) and key not in json.dumps(stored)
    assert oct(os.stat(KEYS_FILE).st_mode & 0o777) == "0o600"
    deadline = time.time() + 10
    status = None
    while time.time() < deadline:
        status, _, doc = rest(s, REC % "user-0005", "X-Api-Key: " + key)
        if status == 200:
            break
        time.sleep(0.2)
    assert status == 200, doc
    # a broken file keeps the keys loaded before
    with open(KEYS_FILE, "w") as f:
        f.write('{"apiKeys": [{"name": "x"}]}')
    time.sleep(2.5)
    status, _, _ = rest(s, REC % "user-0005", "X-Api-Key: " + key)
    assert status == 200
    assert "API keys file" in s.read_log() and "keeping the API keys loaded before" in s.read_log()
    # without --keys-file the entry is printed for the configuration
    out = subprocess.run([s.binary_path, "create-api-key", "--name", "cfg", "--scopes", "inference,events",
                          "--expires", "2030-01-01T00:00:00Z", "--rate-limit", "50:100"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    key2, entry = out.stdout.strip().splitlines()
    entry = json.loads(entry)
    assert entry["sha256"] == sha(key2) and entry["rateLimit"] == {"requestsPerSecond": 50, "burst": 100}, entry
    bad = subprocess.run([s.binary_path, "create-api-key", "--name", "x", "--scopes", "everything"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1 and "unknown scope" in bad.stderr and bad.stdout == "", bad


# ---- JWT ----

def test_rs256_and_es256_tokens_act_for_their_user(s):
    for kid in ("rsa-1", "ec-1"):
        token = IDP.token("user-0010", kid=kid)
        status, _, doc = rest(s, REC % "user-0010", bearer(token))
        assert status == 200 and len(doc["itemList"]) == 3, (kid, doc)
        resp, _ = grpc_recommend(s, "user-0010", [("authorization", "Bearer " + token)])
        assert len(resp.item_list) == 3
        assert js_call(s, "user-0010", "--bearer", token) == "OK 3"
    assert "principal=token:user-0010" in s.read_log()


def test_a_token_is_bound_to_its_user(s):
    token = IDP.token("user-0011")
    status, _, doc = rest(s, REC % "user-0012", bearer(token))
    assert status == 403 and doc["code"] == "UserMismatch", doc
    status, _, doc = rest(s, "/related-items/demo/similar/sku-00248?userId=user-0012", bearer(token))
    assert status == 403 and doc["code"] == "UserMismatch", doc
    status, _, doc = rest(s, "/related-items/demo/similar/sku-00248", bearer(token))
    assert status == 200, doc  # no user: nothing private
    status, _, doc = rest(s, "/rerank-items/demo/ranking/user-0012/sku-00001,sku-00002", bearer(token))
    assert status == 403, doc
    body = '{"sessionId":"s","userId":"%s","eventList":[{"eventType":"click","itemId":"sku-00001"}]}'
    status, _, doc = rest(s, "/events/demo", bearer(token), method="POST", data=body % "user-0012")
    assert status == 403 and doc["code"] == "UserMismatch", doc
    status, _, _ = rest(s, "/events/demo", bearer(token), method="POST", data=body % "user-0011")
    assert status == 200
    e = grpc_error(s, "user-0012", [("authorization", "Bearer " + token)])
    assert e.code() == grpc.StatusCode.PERMISSION_DENIED, e
    # a forward-only namespace takes any JSON object: the user is the body's userId all the same
    body = '{"sessionId":"s","userId":"%s","eventList":[{"eventType":"click","itemId":"x","extra":{"a":1}}]}'
    status, _, doc = rest(s, "/events/forwarded", bearer(token), method="POST", data=body % "user-0012")
    assert status == 403 and doc["code"] == "UserMismatch", doc
    status, _, doc = rest(s, "/events/forwarded", bearer(token), method="POST", data=body % "user-0011")
    assert status == 200, doc
    # a cached response of user-0012 is not served to user-0011's token
    status, _, _ = rest(s, REC % "user-0012", key_header("backend"))
    assert status == 200
    status, _, doc = rest(s, REC % "user-0012", bearer(token))
    assert status == 403, doc


def attack_tokens():
    k = IDP.keys["rsa-1"]
    now = int(time.time())
    yield "alg none", idp_mod.unsigned_token(IDP.claims("mallory")), "UnsupportedAlgorithm"
    yield "HS256 keyed with the public key", idp_mod.hs256_with_public_key(IDP.claims("mallory"), k), \
        "UnsupportedAlgorithm"
    yield "expired", IDP.token("mallory", exp=now - 60, iat=now - 3660), "TokenExpired"
    yield "not yet valid", IDP.token("mallory", nbf=now + 600), "TokenNotYetValid"
    yield "issued in the future", IDP.token("mallory", iat=now + 600), "TokenNotYetValid"
    yield "wrong issuer", IDP.token("mallory", iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"), \
        "InvalidIssuer"
    yield "wrong client", IDP.token("mallory", client_id="someone-else"), "InvalidAudience"
    yield "an ID token", IDP.token("mallory", token_use="id"), "InvalidTokenUse"
    yield "no expiry", IDP.token("mallory", exp=None), "InvalidToken"
    yield "unknown kid", IDP.token("mallory", headers={"kid": "nobody-knows"}), "UnknownKeyId"
    yield "oversized", IDP.token("mallory", padding="x" * 6500), "TokenTooLarge"
    yield "garbage base64", "eyJ!!!.@@@.###", "InvalidToken"
    yield "two segments", "abc.def", "InvalidToken"
    good = IDP.token("mallory")
    head, payload, sig = good.split(".")
    forged = idp_mod.b64url(json.dumps(IDP.claims("admin")).encode())
    yield "payload swapped", "%s.%s.%s" % (head, forged, sig), "InvalidSignature"
    yield "ES256 header on an RSA key", IDP.token("mallory", kid="ec-1", headers={"kid": "rsa-1"}), "InvalidSignature"


def test_rfc8725_attacks_are_401(s):
    for what, token, code in attack_tokens():
        status, hdrs, doc = rest(s, REC % "mallory", bearer(token))
        assert status == 401, (what, status, doc)
        assert doc["code"] == code, (what, doc)
        assert 'error="invalid_token"' in hdrs["www-authenticate"], (what, hdrs)
        assert token[:40] not in json.dumps(doc), what
        e = grpc_error(s, "mallory", [("authorization", "Bearer " + token)])
        if what == "oversized":  # over gRPC, grpc core's own 8 KiB metadata limit refuses it first
            assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "metadata" in e.details(), (what, e)
            continue
        assert e.code() == grpc.StatusCode.UNAUTHENTICATED, (what, e)
        assert dict(e.trailing_metadata())["x-personalization-error-code"] == code, what


def test_a_remembered_token_is_not_verified_again(s):
    token = IDP.token("user-0020")
    rest(s, REC % "user-0020", bearer(token))
    _, _, before = rest(s, s.admin_url("/admin/auth/stats"), key_header("ops"))
    for _ in range(5):
        status, _, _ = rest(s, REC % "user-0020", bearer(token))
        assert status == 200
    _, _, after = rest(s, s.admin_url("/admin/auth/stats"), key_header("ops"))
    assert after["tokenCacheHits"] - before["tokenCacheHits"] == 5, (before, after)
    assert after["tokensVerified"] == before["tokensVerified"], (before, after)
    text = json.dumps(after)
    assert all(v not in text for v in KEYS.values()) and sha(KEYS["backend"]) not in text


def test_key_rotation_while_serving(s):
    time.sleep(2.1)  # past jwksMinRefreshSeconds since any earlier fetch
    fetches = IDP.fetch_count()
    IDP.publish("rsa-2")
    status, _, doc = rest(s, REC % "user-0030", bearer(IDP.token("user-0030", kid="rsa-2")))
    assert status == 200, doc  # an unknown kid refreshed the keys
    assert IDP.fetch_count() == fetches + 1
    # another unknown kid right after: no second fetch within jwksMinRefreshSeconds
    status, _, doc = rest(s, REC % "user-0030", bearer(IDP.token("user-0030", headers={"kid": "rsa-3"})))
    assert status == 401 and doc["code"] == "UnknownKeyId", doc
    assert IDP.fetch_count() == fetches + 1


def test_jwks_down_serves_the_keys_it_has(s):
    remembered = IDP.token("user-0040")
    assert rest(s, REC % "user-0040", bearer(remembered))[0] == 200
    IDP.set_down(True)
    try:
        time.sleep(2.2)  # past jwksMinRefreshSeconds: an unknown kid tries the IdP again
        fetches = IDP.fetch_count()
        status, _, doc = rest(s, REC % "user-0041", bearer(IDP.token("user-0041", headers={"kid": "rsa-9"})))
        assert status == 401 and doc["code"] == "UnknownKeyId", doc
        assert IDP.fetch_count() == fetches + 1  # it asked, the IdP was down
        assert rest(s, REC % "user-0040", bearer(remembered))[0] == 200  # remembered
        assert rest(s, REC % "user-0041", bearer(IDP.token("user-0041")))[0] == 200  # new token, stale keys
        assert "not refreshed (HTTP status 503)" in s.read_log()
    finally:
        IDP.set_down(False)


# ---- rate limits ----

def test_rate_limit_per_api_key(s):
    statuses = [rest(s, REC % "u", key_header("slow"))[0] for _ in range(3)]
    assert statuses == [200, 200, 200], statuses
    status, hdrs, doc = rest(s, REC % "u", key_header("slow"))
    assert status == 429 and doc["code"] == "TooManyRequests" and doc["type"] == "Throttling", doc
    assert 60 <= int(hdrs["retry-after"]) <= 100, hdrs  # one token every 100 s
    e = grpc_error(s, "u", [("x-api-key", KEYS["slow"])])
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
    assert int(dict(e.trailing_metadata())["retry-after"]) >= 1
    assert "retry-after=" in js_call(s, "u", "--api-key", KEYS["slow"])
    assert rest(s, REC % "u", key_header("backend"))[0] == 200  # other keys are not affected


def test_rate_limit_per_subject(s):
    token = IDP.token("flood-user")
    statuses = [rest(s, REC % "flood-user", bearer(token))[0] for _ in range(12)]
    assert statuses == [200] * 12, statuses  # the burst
    status, hdrs, doc = rest(s, REC % "flood-user", bearer(token))  # a token every 100 s
    assert status == 429 and doc["code"] == "TooManyRequests" and int(hdrs["retry-after"]) >= 1, (status, doc)
    assert rest(s, REC % "calm-user", bearer(IDP.token("calm-user")))[0] == 200


def test_rate_limit_per_client_address(s):
    path = "/recommend-items/limited/for-you/u?numResults=2"
    statuses = [rest(s, path, key_header("limited"))[0] for _ in range(4)]
    assert statuses == [200] * 4, statuses
    status, hdrs, doc = rest(s, path, "X-Api-Key: wrong")  # charged before any verification
    assert status == 429 and "retry-after" in hdrs, doc
    e = grpc_error(s, "u", [("x-api-key", KEYS["limited"])], namespace="limited")
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_header_size_limits_on_both_fronts(s):
    """REST: path + headers over --http-max-header-bytes (10 KiB, upstream's API Gateway limit) is 431
    in the upstream shape, before authentication; gRPC: grpc core's 8 KiB metadata limit."""
    near = "X-Filler: " + "a" * 9000
    over = "X-Filler: " + "a" * 11000
    for http2 in (False, True):
        status, _, doc = curl_json(s, REC % "user-0001", headers=[key_header("backend"), near], http2=http2)
        assert status == 200, (http2, status, doc)
        status, hdrs, doc = curl_json(s, REC % "user-0001", headers=[key_header("backend"), over], http2=http2)
        assert status == 431 and doc["code"] == "RequestHeaderFieldsTooLarge" and doc["type"], (http2, status, doc)
        assert hdrs.get("access-control-allow-origin"), hdrs
        status, _, doc = curl_json(s, "/healthz", headers=[over], http2=http2)  # open routes too
        assert status == 431, (http2, status, doc)
    assert rest(s, REC % "user-0001", key_header("backend"))[0] == 200  # the connection pool is fine
    e = grpc_error(s, "user-0001", [("x-api-key", KEYS["backend"]), ("x-filler", "a" * 9000)])
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "metadata" in e.details(), e
    assert grpc_recommend(s, "user-0001", [("x-api-key", KEYS["backend"])])[0].item_list


# ---- secrets ----

def test_secrets_stay_out_of_logs_envelopes_and_check_config(s):
    deadline = time.time() + 10
    records = []
    while time.time() < deadline and not records:
        if os.path.exists(EVENTS_FILE):
            with open(EVENTS_FILE) as f:
                records = [json.loads(line) for line in f if line.strip()]
        time.sleep(0.2)
    assert records, "no event delivered to the file target"
    for r in records:
        for name in ("x-api-key", "authorization"):
            if name in r["headers"]:
                assert r["headers"][name] == "[REDACTED]", r["headers"]
    assert any("x-api-key" in r["headers"] for r in records) and any("authorization" in r["headers"] for r in records)
    text = open(EVENTS_FILE).read() + s.read_log()
    assert all(v not in text for v in KEYS.values())
    assert IDP.token("user-0011")[:60] not in text
    out = subprocess.run([s.binary_path, "--check-config", "--config", CONFIG], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stdout
    assert sha(KEYS["backend"]) not in out.stdout + out.stderr
    bad = json.load(open(CONFIG))
    bad["auth"]["apiKeys"][0]["sha256"] = "zz" + sha(KEYS["backend"])[2:]
    bad["auth"]["jwt"]["algorithms"] = ["RS256", "none", "HS256"]
    path = os.path.join(TMP, "bad.json")
    json.dump(bad, open(path, "w"))
    out = subprocess.run([s.binary_path, "--check-config", "--config", path], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 1, out.stdout
    assert "$.auth.apiKeys[0].sha256" in out.stdout and sha(KEYS["backend"])[2:] not in out.stdout, out.stdout
    assert re.search(r"algorithms\[1\]: algorithm \"none\" is not allowed", out.stdout), out.stdout
    assert "algorithms[2]" in out.stdout, out.stdout


def test_jwks_unavailable_at_start_is_503(s):
    """A server whose IdP has never answered: bearer tokens get 503, API keys still work."""
    from harness import Server
    cfg = json.load(open(CONFIG))
    cfg["auth"]["jwt"]["jwksUrl"] = "http://127.0.0.1:9/.well-known/jwks.json"  # discard port: refused
    path = os.path.join(TMP, "down.json")
    json.dump(cfg, open(path, "w"))
    other = Server(s.binary_path, args=["--demo", "--config", path]).start()
    try:
        status, _, doc = rest(other, REC % "user-0001", bearer(IDP.token("user-0001")))
        assert status == 503 and doc["code"] == "SigningKeysUnavailable", doc
        assert rest(other, REC % "user-0001", key_header("backend"))[0] == 200
        other.stop()
    finally:
        if other.proc.poll() is None:
            other.proc.kill()
        other.cleanup()


if __name__ == "__main__":
    try:
        run_tests(globals(), server_args=["--demo", "--config", CONFIG])
    finally:
        IDP.stop()
