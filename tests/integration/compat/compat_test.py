"""Upstream compatibility (issue 12), end to end: the real binary with a configuration upstream's
schema accepts, an http recommender that answers what upstream passes through (empty lists, custom
fields), driven over REST with curl and over gRPC with python3-grpcio. Covers: lists always present,
custom fields kept, the split-header attempt refused at load and at reload, POST rerank never
cached, configs that load with warnings (duplicate keys, no variations, query-string placeholders),
parameters upstream treats as absent, forward-only event namespaces, compression (gzip and br, one
coded body per cache entry, ETags per coding, Vary), reason phrases and the empty version header."""
import atexit
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from harness import curl, curl_json, find_generated_python, run_tests  # noqa: E402

find_generated_python()
import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from personalization.v1 import personalization_pb2 as pb  # noqa: E402

SVC = "/personalization.v1.PersonalizationService/"


class Upstream:
    """An http recommender answering by path, recording every request's path and query."""

    def __init__(self):
        self.requests = []
        up = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                parsed = urllib.parse.urlsplit(self.path)
                q = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
                up.requests.append((parsed.path, q))
                data = json.dumps(up.answer(parsed.path, q)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def answer(path, q):
        n = int(q.get("n", "10") or "10")
        if path == "/empty":
            return {"itemList": [], "recommendationId": "RID-empty"}
        if path == "/empty-ranking":
            return {"personalizedRanking": []}
        if path == "/custom":
            return {"itemList": [
                {"itemId": "c-1", "score": 0.5, "reason": [], "badge": "new", "rank": {"n": 1}},
                {"itemId": "c-2", "reason": ["Promoted"], "tags": []},
                {"itemId": "c-3"}],
                "recommendationId": "RID-custom", "page": q.get("page", ""), "nextCursor": "abc"}
        if path == "/many":
            return {"itemList": [{"itemId": "item-%04d" % k, "score": round(1.0 / (k + 1), 6),
                                  "metadata": {"title": "A fairly descriptive title for item %d" % k}}
                                 for k in range(n)]}
        return {"itemList": []}


UPSTREAM = Upstream()
TMP = tempfile.mkdtemp(prefix="pz-compat-")
atexit.register(shutil.rmtree, TMP, True)
EVENTS_FILE = os.path.join(TMP, "forwarded.jsonl")
CONFIG_PATH = os.path.join(TMP, "config.json")


def http_variation(path):
    return {"type": "http", "url": UPSTREAM.url + path}


CACHE = {"userSpecified": {"maxAge": 60, "directives": "private"},
         "syntheticUserSpecified": {"maxAge": 60, "directives": "public"},
         "noUserSpecified": {"maxAge": 60, "directives": "public"}}

CONFIG = {
    "version": "",
    "cacheControl": CACHE,
    "namespaces": {
        "compat": {
            "recommenders": {
                "recommend-items": {
                    "empty": {"variations": {"e": http_variation("/empty")}},
                    "custom": {"variations": {"c": http_variation("/custom?page={page}")}},
                    "many": {"variations": {"m": http_variation("/many?n={numResults}")}},
                    "none": {"name": "not yet"},
                    "builtin": {"variations": {"b": {"type": "builtin"}}},
                    "one-variation": {
                        "experiments": {"f": {"method": "local", "weights": {"a": 1}}},
                        "variations": {"a": http_variation("/many?n={numResults}")}},
                },
                "related-items": {"similar": {"variations": {"s": http_variation("/empty")}}},
                "rerank-items": {
                    "empty": {"variations": {"e": http_variation("/empty-ranking")}},
                    "rank": {"variations": {"r": {"type": "builtin"}}},
                },
            },
            "eventTargets": [{"type": "builtin"}],
        },
        "stream": {"eventTargets": [{"type": "file", "path": EVENTS_FILE}]},
    },
}


def write_config(doc_text):
    tmp = CONFIG_PATH + ".tmp"
    with open(tmp, "w") as f:
        f.write(doc_text)
    os.rename(tmp, CONFIG_PATH)


# A key given twice (upstream's loader keeps the last): it loads, with a warning.
GOOD_TEXT = json.dumps(CONFIG)[:-1] + ', "description": "first", "description": "second"}'
write_config(GOOD_TEXT)


def stub(server):
    ch = grpc.insecure_channel(server.grpc_target)
    return ch, lambda m, req, resp: ch.unary_unary(SVC + m, request_serializer=req.SerializeToString,
                                                  response_deserializer=resp.FromString)


def grpc_call(server, method, req, resp_type):
    ch, call = stub(server)
    try:
        return call(method, req, resp_type).with_call(req, timeout=10)
    finally:
        ch.close()


# ---- lists always present, custom fields kept ----

def test_empty_lists_keep_their_key(s):
    status, _, doc = curl_json(s, "/recommend-items/compat/empty/u1")
    assert status == 200 and doc == {"itemList": [], "recommendationId": "RID-empty"}, doc
    status, _, doc = curl_json(s, "/rerank-items/compat/empty/u1/a,b")
    assert status == 200 and doc["personalizedRanking"] == [], doc
    status, _, doc = curl_json(s, "/recommend-items/compat/builtin/nobody-has-data")  # a builtin with no data
    assert status == 200 and doc["itemList"] == [], doc
    # gRPC: protobuf carries an empty repeated field as absent; the same response
    resp, _ = grpc_call(s, "RecommendItems", pb.RecommendItemsRequest(namespace="compat", recommender="empty",
                                                                       user_id="u1"), pb.RecommendationResponse)
    assert len(resp.item_list) == 0 and resp.recommendation_id == "RID-empty", resp


def test_custom_fields_and_empty_reason_pass_through(s):
    status, _, doc = curl_json(s, "/recommend-items/compat/custom/u1?page=2")
    assert status == 200, doc
    assert doc == {"itemList": [{"itemId": "c-1", "score": 0.5, "reason": [], "badge": "new", "rank": {"n": 1}},
                                {"itemId": "c-2", "reason": ["Promoted"], "tags": []},
                                {"itemId": "c-3"}],
                   "recommendationId": "RID-custom", "page": "2", "nextCursor": "abc"}, doc
    resp, _ = grpc_call(s, "RecommendItems", pb.RecommendItemsRequest(namespace="compat", recommender="custom",
                                                                       user_id="u1"), pb.RecommendationResponse)
    first = resp.item_list[0]
    assert first.empty_reason and len(first.reason) == 0, first
    assert json_format.MessageToDict(first.custom_fields) == {"badge": "new", "rank": {"n": 1}}, first
    assert not resp.item_list[1].empty_reason and list(resp.item_list[1].reason) == ["Promoted"]
    assert not resp.item_list[2].HasField("custom_fields")
    # gRPC has no query string: {page} is empty
    assert json_format.MessageToDict(resp.custom_fields) == {"page": "", "nextCursor": "abc"}, resp.custom_fields


def test_query_placeholders_come_from_the_query_string_and_key_the_cache(s):
    UPSTREAM.requests.clear()
    _, _, a = curl_json(s, "/recommend-items/compat/custom/u-page?page=1")
    _, _, b = curl_json(s, "/recommend-items/compat/custom/u-page?page=2")
    _, _, c = curl_json(s, "/recommend-items/compat/custom/u-page?page=1&_=buster")
    assert (a["page"], b["page"], c["page"]) == ("1", "2", "1"), (a, b, c)
    pages = [q.get("page") for p, q in UPSTREAM.requests if p == "/custom"]
    assert pages == ["1", "2"], pages  # the third one came from the cache: page=1 is in the key
    _, _, d = curl_json(s, "/recommend-items/compat/custom/u-page?page=%3Cb%3E%26x%3D1")
    assert d["page"] == "<b>&x=1", d  # encoded into the URL, not spliced


# ---- the split-header attempt ----

BAD_DIRECTIVES = dict(CONFIG, cacheControl=dict(CACHE, userSpecified={
    "maxAge": 60, "directives": "private\r\nSet-Cookie: session=stolen"}))


def test_split_header_attempt_refused_by_check_config(s):
    bad = os.path.join(TMP, "bad.json")
    with open(bad, "w") as f:
        json.dump(BAD_DIRECTIVES, f)
    p = subprocess.run([s.binary_path, "--check-config", "--config", bad], capture_output=True, text=True,
                       timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert "$.cacheControl.userSpecified.directives" in out and "U+000D (CR)" in out, out
    assert "\r" not in out, out  # reported on one line
    # the good document passes, listing what it warns about
    p = subprocess.run([s.binary_path, "--check-config", "--config", CONFIG_PATH], capture_output=True, text=True,
                       timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "warning: $.namespaces.compat.recommenders.recommend-items.none.variations" in out, out
    assert "no variations" in out, out
    assert "warning: $.description: key given more than once" in out, out
    assert "{page} is not one of the server's" in out, out


def test_split_header_attempt_refused_at_reload(s):
    before = s.read_log().count("rejected")
    with open(CONFIG_PATH + ".bad", "w") as f:
        json.dump(BAD_DIRECTIVES, f)
    os.rename(CONFIG_PATH + ".bad", CONFIG_PATH)
    try:
        deadline = time.time() + 10
        while time.time() < deadline and s.read_log().count("rejected") == before:
            time.sleep(0.1)
        assert s.read_log().count("rejected") > before, s.read_log()[-2000:]
        status, hdrs, raw = curl(s, "/recommend-items/compat/builtin/u-split")
        assert status == 200 and "set-cookie" not in hdrs, hdrs
        assert hdrs["cache-control"] == "private,max-age=60", hdrs  # the old document serves
    finally:
        write_config(GOOD_TEXT)


# ---- POST rerank never meets the cache ----

def stats(s):
    return curl_json(s, s.admin_url("/admin/cache/stats"))[2]


def test_post_rerank_is_never_cached(s):
    path = "/rerank-items/compat/rank/u-post"
    status, hdrs, get1 = curl_json(s, path + "/a,b,c")
    assert status == 200 and hdrs.get("etag"), hdrs
    _, _, get2 = curl_json(s, path + "/a,b,c")
    assert get2["recommendationId"] == get1["recommendationId"]  # a GET is cached
    before = stats(s)
    posts = []
    for _ in range(2):
        status, hdrs, doc = curl_json(s, path, method="POST", data=json.dumps(["a", "b", "c"]),
                                      headers=["Content-Type: application/json", "If-None-Match: *"])
        assert status == 200 and hdrs["cache-control"] == "no-store" and "etag" not in hdrs, (status, hdrs)
        posts.append(doc["recommendationId"])
    assert get1["recommendationId"] not in posts and posts[0] != posts[1], (get1, posts)
    after = stats(s)
    for k in ("hits", "misses", "stores", "coalesced"):
        assert after[k] == before[k], (k, before, after)
    # gRPC RerankItems keeps the GET semantics (cached, validators)
    _, call = grpc_call(s, "RerankItems", pb.RerankItemsRequest(namespace="compat", recommender="rank",
                                                                 user_id="u-post", item_ids=["a", "b", "c"]),
                        pb.RerankResponse)
    assert dict(call.initial_metadata()).get("etag") == hdrs_etag(s, path + "/a,b,c")


def hdrs_etag(s, path):
    return curl(s, path)[1]["etag"]


# ---- configs upstream accepts ----

def test_recommender_without_variations_answers_404(s):
    status, hdrs, doc = curl_json(s, "/recommend-items/compat/none/u1")
    assert status == 404 and doc["code"] == "NoVariationsConfigured" and doc["type"] == "Configuration", doc
    try:
        grpc_call(s, "RecommendItems", pb.RecommendItemsRequest(namespace="compat", recommender="none", user_id="u"),
                  pb.RecommendationResponse)
        raise AssertionError("expected NOT_FOUND")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, e
        assert dict(e.trailing_metadata())["x-personalization-error-code"] == "NoVariationsConfigured"


def test_the_server_started_with_warnings_logged(s):
    log = s.read_log()
    assert "config" in log and "$.description: key given more than once" in log, log[:3000]


# ---- parameters upstream treats as absent ----

def test_empty_parameters_are_absent(s):
    for q in ("context=", "filterValues=", "context=&filterValues=&filter=&feature="):
        status, _, doc = curl_json(s, "/recommend-items/compat/many/u1?numResults=2&" + q)
        assert status == 200 and len(doc["itemList"]) == 2, (q, doc)
    status, hdrs, doc = curl_json(s, "/related-items/compat/similar/i1?userId=")
    assert status == 200 and hdrs["cache-control"] == "public,max-age=60", (status, hdrs, doc)  # no user
    status, _, doc = curl_json(s, "/recommend-items/compat/many/u1?numResults=501")
    assert status == 200 and len(doc["itemList"]) == 500, len(doc["itemList"])
    assert ("/many", {"n": "500"}) in UPSTREAM.requests, UPSTREAM.requests[-3:]
    status, _, doc = curl_json(s, "/recommend-items/compat/many/u1?numResults=0")
    assert status == 200 and doc["itemList"] == [], doc
    for bad in ("-1", "x", "2.5"):
        status, _, doc = curl_json(s, "/recommend-items/compat/many/u1?numResults=" + bad)
        assert status == 400 and doc["code"] == "ValidationError", doc
    # one variation: no experiment decides, so an unknown feature is ignored
    status, _, doc = curl_json(s, "/recommend-items/compat/one-variation/u1?numResults=1&feature=nope")
    assert status == 200, doc
    resp, _ = grpc_call(s, "RecommendItems", pb.RecommendItemsRequest(namespace="compat", recommender="many",
                                                                       user_id="u1", num_results=501),
                        pb.RecommendationResponse)
    assert len(resp.item_list) == 500
    resp, _ = grpc_call(s, "RelatedItems", pb.RelatedItemsRequest(namespace="compat", recommender="similar",
                                                                   item_id="i1", user_id=""),
                        pb.RecommendationResponse)
    assert resp.recommendation_id == "RID-empty"


# ---- forward-only event namespaces ----

def forwarded(n, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(EVENTS_FILE):
            with open(EVENTS_FILE) as f:
                lines = [json.loads(x) for x in f if x.strip()]
            if len(lines) >= n:
                return lines
        time.sleep(0.1)
    raise AssertionError("fewer than %d records forwarded" % n)


def test_forward_only_namespace_takes_any_json_object(s):
    accepted = curl_json(s, s.admin_url("/admin/events/stats"))[2]["accepted"]["events"]
    body = {"sessionId": "s-1", "page": "home", "eventList": [
        {"eventType": "view", "properties": {"deviceType": "Phone"}, "eventValue": 1.5}] * 11 + [7]}
    status, hdrs, raw = curl(s, "/events/stream", method="POST", data=json.dumps(body),
                             headers=["Content-Type: application/json"])
    assert status == 200 and raw == b"", (status, raw)
    rec = forwarded(1)[-1]
    assert rec["namespace"] == "stream" and rec["path"] == "/events/stream", rec
    got = rec["body"]
    assert list(got) == ["sessionId", "page", "eventList"], got  # as sent, in order
    assert len(got["eventList"]) == 12 and got["eventList"][-1] == 7, got
    ev = got["eventList"][0]
    assert ev["properties"] == {"deviceType": "Phone"} and ev["eventValue"] == 1.5, ev
    assert len(ev["eventId"]) == 36 and isinstance(ev["sentAt"], int), ev  # the server's defaults
    # counted as accepted like any other namespace's events (the raw body's list, not an empty message)
    stats = curl_json(s, s.admin_url("/admin/events/stats"))[2]
    assert stats["accepted"]["events"] == accepted + 12, (accepted, stats["accepted"])
    for bad, code in (("[1]", "ValidationError"), ("{nope", "InvalidJSONRequestPayload")):
        status, _, doc = curl_json(s, "/events/stream", method="POST", data=bad)
        assert status == 400 and doc["code"] == code, doc
    # a namespace with the builtin target keeps the PutEvents rules
    status, _, doc = curl_json(s, "/events/compat", method="POST", data=json.dumps(body))
    assert status == 400 and doc["code"] == "ValidationError", doc
    # gRPC: the message, without the PutEvents limits
    req = pb.PutEventsRequest(namespace="stream", event_list=[pb.Event(properties="not json")] * 12)
    resp, _ = grpc_call(s, "PutEvents", req, pb.PutEventsResponse)
    assert len(resp.event_ids) == 12
    rec = forwarded(2)[-1]
    assert len(rec["body"]["eventList"]) == 12 and rec["body"]["eventList"][0]["properties"] == "not json", rec


# ---- compression ----

def raw_get(s, path, *headers, http2=False):
    return curl(s, path, http2=http2, headers=list(headers))


def test_compressed_responses(s):
    path = "/recommend-items/compat/many/u-gz?numResults=100"
    status, plain_h, plain = raw_get(s, path)
    assert status == 200 and "content-encoding" not in plain_h and len(plain) > 2048, plain_h
    assert plain_h["vary"] == "Accept-Encoding", plain_h
    status, gz_h, gz = raw_get(s, path, "Accept-Encoding: gzip")
    assert status == 200 and gz_h["content-encoding"] == "gzip", gz_h
    assert gzip.decompress(gz) == plain and len(gz) < len(plain) / 3, (len(gz), len(plain))
    assert gz_h["vary"] == "Accept-Encoding"
    assert gz_h["etag"] == plain_h["etag"][:-1] + '-gzip"', (gz_h["etag"], plain_h["etag"])
    assert gz_h["content-length"] == str(len(gz))
    status, br_h, br = raw_get(s, path, "Accept-Encoding: gzip, br")  # a tie: br for a cached body
    assert status == 200 and br_h["content-encoding"] == "br" and br_h["etag"].endswith('-br"'), br_h
    assert len(br) < len(gz), (len(br), len(gz))  # tests/unit/gateway/compress_test decodes br
    status, h2_h, h2 = raw_get(s, path, "Accept-Encoding: gzip;q=1, br;q=0.5", http2=True)
    assert status == 200 and h2_h["content-encoding"] == "gzip" and gzip.decompress(h2) == plain, h2_h
    # 304s name the representation the client would get
    status, h, body = raw_get(s, path, "Accept-Encoding: gzip", "If-None-Match: " + gz_h["etag"])
    assert status == 304 and body == b"" and h["etag"] == gz_h["etag"] and h["vary"] == "Accept-Encoding", h
    status, h, _ = raw_get(s, path, "If-None-Match: " + gz_h["etag"])  # same content, now identity
    assert status == 304 and h["etag"] == plain_h["etag"], h
    # below the threshold (2048 bytes): never coded, no Vary
    status, h, small = raw_get(s, "/recommend-items/compat/many/u-gz?numResults=2", "Accept-Encoding: gzip")
    assert status == 200 and "content-encoding" not in h and "vary" not in h and len(small) < 2048, h
    # uncacheable responses are coded per response, gzip on a tie (cheaper per response)
    ids = json.dumps(["item-%04d" % k for k in range(200)])
    status, h, body = curl(s, "/rerank-items/compat/rank/u-gz", method="POST", data=ids,
                           headers=["Content-Type: application/json", "Accept-Encoding: gzip, deflate, br"])
    assert status == 200 and h["content-encoding"] == "gzip" and "etag" not in h and h["vary"] == "Accept-Encoding", h
    assert len(json.loads(gzip.decompress(body))["personalizedRanking"]) == 200


def test_one_coded_body_per_cache_entry(s):
    path = "/recommend-items/compat/many/u-once?numResults=300"
    before = stats(s)
    bodies = {raw_get(s, path, "Accept-Encoding: gzip")[2] for _ in range(5)}
    raw_get(s, path, "Accept-Encoding: br")
    raw_get(s, path, "Accept-Encoding: br")
    raw_get(s, path)
    after = stats(s)
    assert len(bodies) == 1, len(bodies)
    assert after["hits"] - before["hits"] == 7, (before, after)  # the first gzip request was the miss
    assert after["codedBodies"] - before["codedBodies"] == 2, (before, after)  # gzip once, br once


# ---- smaller items ----

def test_reason_phrases_and_empty_version(s):
    for path, line in (("/recommend-items/compat/nope/u1", b"HTTP/1.1 404 Not Found\r\n"),
                       ("/recommend-items/compat/many/u1?numResults=x", b"HTTP/1.1 400 Bad Request\r\n"),
                       ("/events/compat", b"HTTP/1.1 405 Method Not Allowed\r\n")):
        p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-D", "-", s.url(path)], capture_output=True, timeout=20)
        assert p.stdout.startswith(line), p.stdout[:80]
    status, hdrs, _ = curl(s, "/recommend-items/compat/empty/u1")
    assert status == 200 and "x-personalization-config-version" not in hdrs, hdrs  # version ""


if __name__ == "__main__":
    run_tests(globals(), server_args=["--config", CONFIG_PATH])
