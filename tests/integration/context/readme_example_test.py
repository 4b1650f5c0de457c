"""The README's worked example of automatic context ("### A worked example"), run as written: the
demo with tests/data/configs/context-example.json, the test GeoIP database and the pinned clock.
The expected outputs are read from README.md itself (the explain JSON block, the sentContext
comment, the User-Agents of its curl commands, the stored event properties), so the README cannot
drift from what the server does. Only the example's file target is moved into a temporary
directory."""
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from harness import REPO_ROOT, curl, curl_json, find_generated_python, run_tests  # noqa: E402

find_generated_python()
import grpc  # noqa: E402
from personalization.v1 import personalization_pb2 as pb  # noqa: E402

GEOIP_DB = os.path.join(REPO_ROOT, "tests", "data", "geoip", "test-city.mmdb")
if not os.path.exists(GEOIP_DB):  # a source checkout after `bazel build //tests/data:test_mmdb`
    GEOIP_DB = os.path.join(REPO_ROOT, "bazel-bin", "tests", "data", "geoip", "test-city.mmdb")
EXAMPLE_EVENTS = "/tmp/pz-context-events.jsonl"

with open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8") as f:
    README = f.read()
_START = README.index("### A worked example")
SECTION = README[_START:README.index("\n## ", _START)]  # to the next section of the guide
COMMAND = re.search(r"bazel-bin/server/personalization-server (.*?)\n```", SECTION, re.S).group(1)
ARGS = COMMAND.replace("\\\n", " ").split()
EXPLAIN_JSON = json.loads(re.search(r"```json\n(.*?)```", SECTION, re.S).group(1))
USER_AGENTS = re.findall(r"curl -s -A '([^']+)'", SECTION)  # the phone's, then the desktop's
SYDNEY_SENT = json.loads(re.search(r"\n# (\{.*\})\n", SECTION).group(1))
STORED = re.search(r"from an iPad stores `(\{.*?\})`", SECTION).group(1)
POSTED = json.loads(re.search(r"posting `(\{.*?\})`", SECTION).group(1))
PATH = "/recommend-items/demo/for-you/user-0001?numResults=2"
IPAD = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
IPHONE_16 = "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"

TMP = tempfile.mkdtemp(prefix="pz-readme-context-")
EVENTS = os.path.join(TMP, "events.jsonl")
with open(os.path.join(REPO_ROOT, "tests", "data", "configs", "context-example.json")) as f:
    text = f.read()
assert EXAMPLE_EVENTS in text
CONFIG_PATH = os.path.join(TMP, "context-example.json")
with open(CONFIG_PATH, "w") as f:
    f.write(text.replace(EXAMPLE_EVENTS, EVENTS))


def server_args():
    args = list(ARGS)
    args[args.index("--config") + 1] = CONFIG_PATH
    args[args.index("--geoip-db") + 1] = GEOIP_DB
    return args


def explained(s, *headers, path=PATH):
    st, hdrs, doc = curl_json(s, path + "&explain=true", headers=headers)
    assert st == 200, (st, doc)
    return doc["explain"]


# Named in the order they run (alphabetical): the first explain must be the entry's first request.


def test_1_phone_explain_is_the_readme_block(s):
    assert len(USER_AGENTS) == 2 and "iPhone" in USER_AGENTS[0], USER_AGENTS
    e = explained(s, "User-Agent: " + USER_AGENTS[0])
    assert e == EXPLAIN_JSON, (e, EXPLAIN_JSON)


def test_2_desktop_in_sydney_behind_the_proxy(s):
    e = explained(s, "User-Agent: " + USER_AGENTS[1], "X-Forwarded-For: 203.0.113.5")
    assert e["sentContext"] == SYDNEY_SENT, (e["sentContext"], SYDNEY_SENT)


def test_3_cloudfront_headers_and_explicit_context_win(s):
    e = explained(s, "User-Agent: " + USER_AGENTS[1], "CloudFront-Is-Mobile-Viewer: true",
                  "CloudFront-Viewer-Country: FR", "CloudFront-Viewer-Time-Zone: America/New_York")
    sent = e["sentContext"]
    assert (sent["deviceType"], sent["country"], sent["timeOfDay"]) == ("Phone", "FR", "Night"), e
    assert e["localTime"] == "2025-07-01T04:30:00-04:00", e  # EDT
    ctx = urllib.parse.quote(json.dumps({"deviceType": "Kiosk"}))
    e = explained(s, "User-Agent: " + USER_AGENTS[0], path=PATH + "&context=" + ctx)
    assert e["sentContext"]["deviceType"] == "Kiosk", e


def test_4_grpc_metadata_plays_the_headers(s):
    req = pb.RecommendItemsRequest(namespace="demo", recommender="for-you", user_id="user-0001", num_results=2,
                                   explain=True)
    ch = grpc.insecure_channel(s.grpc_target)
    try:
        fn = ch.unary_unary("/personalization.v1.PersonalizationService/RecommendItems",
                            request_serializer=pb.RecommendItemsRequest.SerializeToString,
                            response_deserializer=pb.RecommendationResponse.FromString)
        resp = fn(req, timeout=10, metadata=[("cloudfront-is-tablet-viewer", "true")])
    finally:
        ch.close()
    assert resp.explain.sent_context["deviceType"] == "Tablet", resp.explain


def test_5_cache_per_resolved_context(s):
    st, h1, _ = curl(s, PATH, headers=["User-Agent: " + USER_AGENTS[0]])
    st2, h2, _ = curl(s, PATH, headers=["User-Agent: " + IPHONE_16])
    st3, h3, _ = curl(s, PATH, headers=["User-Agent: " + USER_AGENTS[1]])
    assert st == st2 == st3 == 200, (st, st2, st3)
    assert h1["etag"] == h2["etag"] != h3["etag"], (h1, h2, h3)
    assert h1["vary"] == ", ".join(EXPLAIN_JSON["vary"]), h1
    # a compressed answer: Accept-Encoding joins the same Vary header
    st, h, _ = curl(s, "/recommend-items/demo/for-you/user-0001?numResults=60", "--compressed",
                    headers=["User-Agent: " + USER_AGENTS[0]])
    assert st == 200 and h.get("content-encoding") in ("br", "gzip"), h
    assert h["vary"] == ", ".join(EXPLAIN_JSON["vary"] + ["Accept-Encoding"]), h


def test_6_event_properties_as_the_readme_says(s):
    body = {"sessionId": "readme-session", "userId": "user-0001", "eventList": [POSTED]}
    st, _, _ = curl(s, "/events/demo", method="POST", data=json.dumps(body),
                    headers=["Content-Type: application/json", "User-Agent: " + IPAD])
    assert st == 200, st
    deadline = time.time() + 30
    while time.time() < deadline:
        if os.path.exists(EVENTS):
            with open(EVENTS) as f:
                lines = [json.loads(line) for line in f if line.strip()]
            events = [e for line in lines if line["body"].get("sessionId") == "readme-session"
                      for e in line["body"]["eventList"]]
            if events:
                assert events[0]["properties"] == STORED, (events[0]["properties"], STORED)
                return
        time.sleep(0.05)
    raise AssertionError("the file target got no event")


if __name__ == "__main__":
    try:
        run_tests(globals(), server_args())
    finally:
        shutil.rmtree(TMP, True)
