"""Automatic context and dynamic filter values, end to end, with no CDN in front: the real binary
with a GeoIP database written by MaxMind's writer (//tests/data:test_mmdb) and the clock of time
rules pinned with --context-time, driven over REST (curl) and gRPC (python3-grpcio). What the rules
resolved is read back through `explain`; what reached the upstreams is read at the network
boundary: a fake Personalize runtime and Lambda (tests/integration/remote/fakes.py) for inference
`context` and `filterValues`, a fake Personalize event tracker and Kinesis
(tests/integration/events/fake_aws.py) for event `properties`. All of them check SigV4.

Clients connect from 127.0.0.1, which the test database places in Tokyo (Asia/Tokyo, UTC+9, no
DST); 127.0.0.1 is a trusted proxy, so X-Forwarded-For 203.0.113.5 is a viewer in Sydney
(Australia/Sydney: southern hemisphere, UTC+10 in July). The pinned instant is Tuesday
2025-07-01 08:30 UTC: 17:30 in Tokyo, 18:30 in Sydney, 04:30 EDT in New York."""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.dirname(HERE)
sys.path.insert(0, INTEGRATION)
sys.path.insert(0, os.path.join(INTEGRATION, "remote"))
sys.path.insert(0, os.path.join(INTEGRATION, "events"))
from harness import REPO_ROOT, curl, curl_json, find_generated_python, run_tests  # noqa: E402
import fakes  # noqa: E402
from fake_aws import FakeAWS, secrets_for  # noqa: E402

find_generated_python()
import grpc  # noqa: E402
from personalization.v1 import personalization_pb2 as pb  # noqa: E402

ACCOUNT = "111122223333"
P_ARN = "arn:aws:personalize:us-east-1:%s:" % ACCOUNT
L_ARN = "arn:aws:lambda:us-east-1:%s:function:" % ACCOUNT
GEOIP_DB = os.path.join(REPO_ROOT, "tests", "data", "geoip", "test-city.mmdb")
if not os.path.exists(GEOIP_DB):  # a source checkout after `bazel build //tests/data:test_mmdb`
    GEOIP_DB = os.path.join(REPO_ROOT, "bazel-bin", "tests", "data", "geoip", "test-city.mmdb")
CONTEXT_TIME = "2025-07-01T08:30:00Z"

IPHONE_17 = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
IPHONE_16 = "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
SMART_TV = "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) TV Safari/537.36"

PERSONALIZE = fakes.Fake("personalize")
LAMBDA = fakes.Fake("lambda")
SAGEMAKER = fakes.Fake("sagemaker")
HTTP = fakes.Fake(None)
SECRETS = secrets_for(fakes.ACCESS_KEY, fakes.SECRET_KEY, fakes.SESSION_TOKEN)
TRACKER = FakeAWS("personalize", SECRETS)
KINESIS = FakeAWS("kinesis", SECRETS)


def header_rule(header, value, map_to):
    return {"type": "header-value", "header": header,
            "valueMappings": [{"operator": "equals", "value": value, "mapTo": map_to}]}


SEASONS = [{"operator": "equals", "value": i, "mapTo": name}
           for i, name in enumerate(["Spring", "Summer", "Fall", "Winter"])]

# Six fields: the device from CloudFront-Is-*-Viewer, local time of day and weekday type, the
# country and city, and the hemisphere-aware season.
AUTO_CONTEXT = {
    "deviceType": {"type": "string", "default": "Desktop", "evaluateAll": True, "rules": [
        header_rule("CloudFront-Is-Mobile-Viewer", "true", "Phone"),
        header_rule("CloudFront-Is-Tablet-Viewer", "true", "Tablet"),
        header_rule("CloudFront-Is-SmartTV-Viewer", "true", "TV")]},
    "timeOfDay": {"type": "string", "rules": [{"type": "hour-of-day", "valueMappings": [
        {"operator": "less-than", "value": 5, "mapTo": "Night"},
        {"operator": "less-than", "value": 12, "mapTo": "Morning"},
        {"operator": "less-than", "value": 17, "mapTo": "Afternoon"},
        {"operator": "less-than", "value": 22, "mapTo": "Evening"},
        {"operator": "greater-than", "value": 21, "mapTo": "Night"}]}]},
    "dayType": {"type": "string", "rules": [{"type": "day-of-week", "valueMappings": [
        {"operator": "less-than", "value": 5, "mapTo": "Weekday"},
        {"operator": "greater-than", "value": 4, "mapTo": "Weekend"}]}]},
    "country": {"type": "string", "rules": [{"type": "header-value", "header": "cloudfront-viewer-country"}]},
    "city": {"type": "string", "rules": [{"type": "header-value", "header": "cloudfront-viewer-city"}]},
    "season": {"type": "string", "rules": [{"type": "season-of-year", "valueMappings": SEASONS}]},
}

CONFIG = {
    "version": "context-1",
    "trustedProxies": ["127.0.0.1/32"],
    "cacheControl": {"userSpecified": {"maxAge": 60, "directives": "private"},
                     "syntheticUserSpecified": {"maxAge": 60, "directives": "public"},
                     "noUserSpecified": {"maxAge": 60, "directives": "public"}},
    "autoContext": AUTO_CONTEXT,
    "namespaces": {
        "shop": {
            "recommenders": {
                "recommend-items": {
                    "for-you": {"variations": {"b": {"type": "builtin", "strategy": "popular"}}},
                    "personalized": {"variations": {"up": {
                        "type": "personalize-campaign", "arn": P_ARN + "campaign/shop-up",
                        "filters": [{"arn": P_ARN + "filter/by-season", "autoDynamicFilterValues": {
                            "SEASON": {"type": "string", "rules": [
                                {"type": "season-of-year", "valueMappings": SEASONS}]},
                            "HOUR": {"type": "integer", "rules": [{"type": "hour-of-day"}]}}}]}}},
                    "fn": {"variations": {"f": {"type": "lambda", "arn": L_ARN + "recs-fn"}}},
                    "sm": {"variations": {"m": {"type": "sagemaker", "endpointName": "ctx-endpoint"}}},
                    "partner": {"variations": {"h": {
                        "type": "http", "url": HTTP.url + "/recs/{userId}?n={numResults}&ctx={context}"}}},
                },
                "rerank-items": {"ranking": {"variations": {"r": {"type": "builtin"}}}},
            },
            "eventTargets": [{"type": "personalize-event-tracker", "trackingId": "trk-ctx"},
                             {"type": "kinesis-stream", "streamName": "clicks"}],
        },
    },
}

TMP = tempfile.mkdtemp(prefix="pz-context-it-")
atexit.register(shutil.rmtree, TMP, True)
CONFIG_PATH = os.path.join(TMP, "config.json")
with open(CONFIG_PATH, "w") as f:
    json.dump(CONFIG, f)

os.environ.update({
    "AWS_ACCESS_KEY_ID": fakes.ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": fakes.SECRET_KEY,
    "AWS_SESSION_TOKEN": fakes.SESSION_TOKEN,
    "AWS_REGION": fakes.REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME": PERSONALIZE.url,
    "AWS_ENDPOINT_URL_LAMBDA": LAMBDA.url,
    "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": SAGEMAKER.url,
    "AWS_ENDPOINT_URL_PERSONALIZE_EVENTS": TRACKER.url,
    "AWS_ENDPOINT_URL_KINESIS": KINESIS.url,
})
SERVER_ARGS = ["--config", CONFIG_PATH, "--geoip-db", GEOIP_DB, "--context-time", CONTEXT_TIME]


def field(value, type_="string"):
    return {"values": [value], "type": type_}


def explained(s, path, *headers, args=()):
    sep = "&" if "?" in path else "?"
    st, hdrs, doc = curl_json(s, path + sep + "explain=true", *args, headers=headers)
    assert st == 200, (st, doc)
    assert hdrs.get("cache-control") == "no-store", hdrs
    assert "etag" not in hdrs, hdrs
    return hdrs, doc["explain"]


def last(fake, pred=lambda r: True):
    hits = fake.matching(pred)
    assert hits, "the fake saw no matching request"
    return hits[-1]


# ---- REST: what the rules see without a CDN ----


def test_phone_from_user_agent_and_place_from_geoip(s):
    hdrs, e = explained(s, "/recommend-items/shop/for-you/u-phone", "User-Agent: " + IPHONE_17)
    assert e["context"] == {
        "deviceType": field("Phone"), "timeOfDay": field("Evening"), "dayType": field("Weekday"),
        "country": field("JP"), "city": field("Tokyo"), "season": field("Summer")}, e["context"]
    assert e["sentContext"] == {"deviceType": "Phone", "timeOfDay": "Evening", "dayType": "Weekday",
                                "country": "JP", "city": "Tokyo", "season": "Summer"}, e
    assert e["timeZone"] == "Asia/Tokyo" and e["localTime"] == "2025-07-01T17:30:00+09:00", e
    assert e["variation"] == "b" and e["cache"] == "miss", e
    assert "user-agent" in e["vary"] and "cloudfront-viewer-time-zone" in e["vary"], e["vary"]
    assert e["upstreamMs"] == 0, e


def test_desktop_and_smart_tv(s):
    _, e = explained(s, "/recommend-items/shop/for-you/u-desk", "User-Agent: " + FIREFOX)
    assert e["context"]["deviceType"] == field("Desktop"), e  # the default
    _, e = explained(s, "/recommend-items/shop/for-you/u-tv", "User-Agent: " + SMART_TV)
    assert e["context"]["deviceType"] == field("TV"), e


def test_real_cdn_headers_win(s):
    _, e = explained(s, "/recommend-items/shop/for-you/u-cdn", "User-Agent: " + IPHONE_17,
                     "CloudFront-Is-Mobile-Viewer: false", "CloudFront-Is-Tablet-Viewer: true",
                     "cloudfront-viewer-country: FR", "CloudFront-Viewer-Time-Zone: America/New_York",
                     "CloudFront-Viewer-Latitude: -33.9")
    assert e["context"]["deviceType"] == field("Tablet"), e
    assert e["context"]["country"] == field("FR"), e
    assert e["context"]["city"] == field("Tokyo"), e  # not sent by the CDN: still derived
    # New York in July is on daylight-saving time: 04:30 EDT
    assert e["timeZone"] == "America/New_York" and e["localTime"] == "2025-07-01T04:30:00-04:00", e
    assert e["context"]["timeOfDay"] == field("Night"), e
    assert e["context"]["season"] == field("Winter"), e  # the CDN's latitude is southern


def test_client_behind_a_trusted_proxy(s):
    hdrs, e = explained(s, "/recommend-items/shop/for-you/u-syd", "X-Forwarded-For: 203.0.113.5")
    assert e["context"]["country"] == field("AU") and e["context"]["city"] == field("Sydney"), e
    assert e["timeZone"] == "Australia/Sydney" and e["localTime"] == "2025-07-01T18:30:00+10:00", e
    assert e["context"]["season"] == field("Winter"), e  # July in the southern hemisphere
    assert "x-forwarded-for" in e["vary"], e["vary"]
    assert "x-forwarded-for" in hdrs["vary"], hdrs


def test_forwarding_headers_from_an_untrusted_peer_are_ignored(s):
    # 127.0.0.2 is not in trustedProxies: its X-Forwarded-For could be anything
    _, e = explained(s, "/recommend-items/shop/for-you/u-spoof", "X-Forwarded-For: 203.0.113.5",
                     args=("--interface", "127.0.0.2"))
    assert e["context"]["country"] == field("JP"), e


def test_explicit_context_wins(s):
    ctx = urllib.parse.quote(json.dumps({"deviceType": "Kiosk", "store": "S1"}))
    _, e = explained(s, "/recommend-items/shop/for-you/u-explicit?context=" + ctx, "User-Agent: " + IPHONE_17)
    assert e["context"]["deviceType"] == field("Phone"), e  # what the rules resolved
    assert e["sentContext"]["deviceType"] == "Kiosk" and e["sentContext"]["store"] == "S1", e
    assert e["sentContext"]["country"] == "JP", e
    assert list(e["sentContext"])[:2] == ["deviceType", "store"], e  # explicit entries first


def test_malformed_context_and_filter_values_are_400(s):
    st, _, doc = curl_json(s, "/recommend-items/shop/for-you/u1?context=%7Bnot-json")
    assert st == 400 and doc["code"] == "InvalidContextParameter", (st, doc)
    st, _, doc = curl_json(s, "/recommend-items/shop/for-you/u1?filterValues=%5B1%5D")
    assert st == 400 and doc["code"] == "InvalidFilterParameter", (st, doc)


def test_rerank_is_explained_too(s):
    _, e = explained(s, "/rerank-items/shop/ranking/u-rr/a,b,c", "User-Agent: " + IPHONE_17)
    assert e["context"]["deviceType"] == field("Phone"), e


# ---- the response cache ----


def test_cache_keys_on_resolved_values_and_varies(s):
    path = "/recommend-items/shop/for-you/u-cache"
    st, h1, _ = curl(s, path, headers=["User-Agent: " + IPHONE_17])
    assert st == 200 and h1.get("etag"), h1
    vary = [v.strip() for v in h1["vary"].split(",")]
    assert "user-agent" in vary and "cloudfront-is-mobile-viewer" in vary and "cloudfront-viewer-country" in vary, h1
    # another iPhone: another User-Agent, the same device type: the same entry (same ETag)
    st, h2, _ = curl(s, path, headers=["User-Agent: " + IPHONE_16])
    assert st == 200 and h2["etag"] == h1["etag"], (h1, h2)
    _, e = explained(s, path, "User-Agent: " + IPHONE_16)
    assert e["cache"] == "hit", e
    # a desktop resolves differently: its own entry and ETag; the phone's ETag does not match it
    st, h3, _ = curl(s, path, headers=["User-Agent: " + FIREFOX, "If-None-Match: " + h1["etag"]])
    assert st == 200 and h3["etag"] != h1["etag"], (h1, h3)
    st, _, _ = curl(s, path, headers=["User-Agent: " + IPHONE_16, "If-None-Match: " + h1["etag"]])
    assert st == 304, st


# ---- gRPC: metadata feeds the same rules ----


def grpc_call(s, method, req, resp_cls, metadata=None, options=None):
    ch = grpc.insecure_channel(s.grpc_target, options=options or [])
    fn = ch.unary_unary("/personalization.v1.PersonalizationService/" + method,
                        request_serializer=type(req).SerializeToString, response_deserializer=resp_cls.FromString)
    try:
        return fn.with_call(req, timeout=10, metadata=metadata)
    finally:
        ch.close()


def values(f):
    return [v.string_value for v in f.values]


def test_grpc_metadata_and_explain(s):
    req = pb.RecommendItemsRequest(namespace="shop", recommender="for-you", user_id="g-1", explain=True)
    resp, call = grpc_call(s, "RecommendItems", req, pb.RecommendationResponse,
                           metadata=[("cloudfront-is-mobile-viewer", "true"), ("x-forwarded-for", "203.0.113.5")])
    e = resp.explain
    assert values(e.context["deviceType"]) == ["Phone"] and e.context["deviceType"].type == "string", e
    assert values(e.context["country"]) == ["AU"] and e.time_zone == "Australia/Sydney", e
    assert e.sent_context["season"] == "Winter", e
    md = dict(call.initial_metadata())
    assert md.get("cache-control") == "no-store" and "etag" not in md, md
    # the User-Agent of a gRPC client is classified like a browser's
    resp, _ = grpc_call(s, "RecommendItems", req, pb.RecommendationResponse,
                        options=[("grpc.primary_user_agent", IPHONE_17)])
    assert values(resp.explain.context["deviceType"]) == ["Phone"], resp.explain
    # the request's context map wins over automatic values
    req = pb.RecommendItemsRequest(namespace="shop", recommender="for-you", user_id="g-1", explain=True,
                                   context={"country": "NZ"})
    resp, _ = grpc_call(s, "RecommendItems", req, pb.RecommendationResponse)
    assert resp.explain.sent_context["country"] == "NZ" and values(resp.explain.context["country"]) == ["JP"]
    # a bad map entry is INVALID_ARGUMENT with the upstream code, as REST's 400
    for bad, code in (({"context": {"": "x"}}, "InvalidContextParameter"),
                      ({"context": {"k": "v" * 1001}}, "InvalidContextParameter"),
                      ({"filter_values": {"K" * 51: "\"x\""}}, "InvalidFilterParameter")):
        req = pb.RecommendItemsRequest(namespace="shop", recommender="for-you", user_id="g-1", **bad)
        try:
            grpc_call(s, "RecommendItems", req, pb.RecommendationResponse)
            raise AssertionError("expected INVALID_ARGUMENT for %r" % (bad,))
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (bad, e.code())
            assert dict(e.trailing_metadata())["x-personalization-error-code"] == code, (bad, e.trailing_metadata())
    # without explain: no explain object, a cacheable answer
    req = pb.RecommendItemsRequest(namespace="shop", recommender="for-you", user_id="g-1")
    resp, call = grpc_call(s, "RecommendItems", req, pb.RecommendationResponse)
    assert not resp.HasField("explain")
    assert "max-age=60" in dict(call.initial_metadata()).get("cache-control", "")


# ---- what reaches the upstreams ----


def test_personalize_receives_context_and_filter_values(s):
    PERSONALIZE.clear()
    st, _, doc = curl_json(s, "/recommend-items/shop/personalized/p-1?numResults=3",
                           headers=["User-Agent: " + IPHONE_17, "X-Forwarded-For: 203.0.113.5"])
    assert st == 200 and len(doc["itemList"]) == 3, (st, doc)
    body = last(PERSONALIZE, lambda r: (r["body"] or {}).get("userId") == "p-1")["body"]
    assert body["context"] == {"deviceType": "Phone", "timeOfDay": "Evening", "dayType": "Weekday",
                               "country": "AU", "city": "Sydney", "season": "Winter"}, body
    assert body["filterArn"] == P_ARN + "filter/by-season", body
    # string values quoted, other types the first value as text
    assert body["filterValues"] == {"SEASON": "\"Winter\"", "HOUR": "18"}, body
    # explicit filterValues keys win; the others are still filled in
    fv = urllib.parse.quote(json.dumps({"SEASON": "\"Spring\""}))
    st, _, _ = curl_json(s, "/recommend-items/shop/personalized/p-2?filterValues=" + fv)
    body = last(PERSONALIZE, lambda r: (r["body"] or {}).get("userId") == "p-2")["body"]
    assert body["filterValues"] == {"SEASON": "\"Spring\"", "HOUR": "17"}, body
    assert body["context"]["country"] == "JP", body
    # the explain of the same call shows both resolutions
    _, e = explained(s, "/recommend-items/shop/personalized/p-3", "X-Forwarded-For: 203.0.113.5")
    assert e["filter"] == P_ARN + "filter/by-season", e
    assert e["autoFilterValues"]["SEASON"] == field("Winter") and e["autoFilterValues"]["HOUR"] == field(18, "integer")
    assert e["filterValues"] == {"SEASON": "\"Winter\"", "HOUR": "18"}, e
    assert e["upstreamMs"] > 0, e


def test_lambda_sagemaker_and_http_receive_the_context(s):
    LAMBDA.clear()
    st, _, _ = curl_json(s, "/recommend-items/shop/fn/l-1?numResults=2", headers=["User-Agent: " + SMART_TV])
    assert st == 200, st
    body = last(LAMBDA)["body"]
    assert body["context"]["deviceType"] == "TV" and body["context"]["city"] == "Tokyo", body
    st, _, _ = curl_json(s, "/recommend-items/shop/sm/s-1?numResults=2", headers=["X-Forwarded-For: 198.51.100.7"])
    assert st == 200, st
    body = last(SAGEMAKER)["body"]
    assert body["context"]["country"] == "US" and body["context"]["city"] == "Seattle", body
    assert body["context"]["timeOfDay"] == "Night", body  # 01:30 PDT in Seattle
    st, _, _ = curl_json(s, "/recommend-items/shop/partner/h-1?numResults=2", headers=["User-Agent: " + IPHONE_17])
    assert st == 200, st
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(last(HTTP)["path"]).query)
    assert json.loads(q["ctx"][0])["deviceType"] == "Phone", q


# ---- events ----


def wait_for(what, fn, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def test_events_get_the_namespace_auto_context(s):
    body = {"sessionId": "sess-ctx", "userId": "ev-1", "eventList": [
        {"eventId": "ctx-e1", "eventType": "click", "itemId": "i1"},
        {"eventId": "ctx-e2", "eventType": "click", "itemId": "i2",
         "properties": json.dumps({"country": "ZZ", "basket": 2})}]}
    st, _, _ = curl(s, "/events/shop", method="POST", data=json.dumps(body),
                    headers=["Content-Type: application/json", "User-Agent: " + IPHONE_17,
                             "X-Forwarded-For: 203.0.113.5"])
    assert st == 200, st
    sent = wait_for("the tracker", lambda: [e for e in TRACKER.events if e.get("eventId", "").startswith("ctx-")])
    wait_for("both events", lambda: len([e for e in TRACKER.events if e.get("eventId", "").startswith("ctx-")]) == 2)
    by_id = {e["eventId"]: e for e in TRACKER.events if e.get("eventId", "").startswith("ctx-")}
    assert sent and all(isinstance(e["properties"], str) for e in by_id.values()), by_id  # PutEvents: a JSON string
    p1 = json.loads(by_id["ctx-e1"]["properties"])
    assert p1 == {"deviceType": "Phone", "timeOfDay": "Evening", "dayType": "Weekday", "country": "AU",
                  "city": "Sydney", "season": "Winter"}, p1
    p2 = json.loads(by_id["ctx-e2"]["properties"])
    assert p2["country"] == "ZZ" and p2["basket"] == 2 and p2["deviceType"] == "Phone", p2  # the event's own win
    records = wait_for("kinesis", lambda: [r for r in KINESIS.snapshot()[0]
                                           if r["envelope"]["body"].get("sessionId") == "sess-ctx"])
    k1 = records[0]["envelope"]["body"]["eventList"][0]
    assert json.loads(k1["properties"])["city"] == "Sydney", k1
    assert not TRACKER.snapshot()[1] and not KINESIS.snapshot()[1], (TRACKER.snapshot()[1], KINESIS.snapshot()[1])


# ---- flags ----


def test_flag_errors(s):
    binary = s.binary_path

    def run(*args):
        return subprocess.run([binary, "--http-port", "0", "--grpc-port", "0", "--data-dir",
                               os.path.join(TMP, "flags"), "--config", CONFIG_PATH] + list(args),
                              capture_output=True, text=True, timeout=60)

    out = run("--context-time", "yesterday")
    assert out.returncode == 2 and "--context-time expects an ISO 8601" in out.stderr, out.stderr
    out = run("--default-time-zone", "Mars/Olympus_Mons")
    assert out.returncode == 1 and "no such time zone" in out.stderr, out.stderr
    out = run("--geoip-db", "/nonexistent/city.mmdb")
    assert out.returncode == 1 and "cannot open the GeoIP database" in out.stderr, out.stderr
    assert "--context-time" in run("--help").stdout


if __name__ == "__main__":
    run_tests(globals(), SERVER_ARGS)
