"""Post-ranking rules (issue #20), end to end: the real server on loopback, an http recommender
faked here (a fixed ranking i01, i02, ... with scores 100, 99, ...; it records what it was asked),
the catalog loaded with the real CLI, the user's history from events sent over REST. Every rule is
checked over REST (curl) and gRPC (python3-grpcio), alone and together."""
import http.server
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import Server, curl_json, find_generated_python, run_tests  # noqa: E402

find_generated_python()
import grpc  # noqa: E402
from personalization.v1 import personalization_pb2 as pb  # noqa: E402

SVC = "/personalization.v1.PersonalizationService/"
N_ITEMS = 30
CATEGORIES = ["shoes", "shoes", "shoes", "hats", "hats", "bags", "bags", "shoes", "hats", "bags"]
ITEMS = [{"id": "i%02d" % k, "category": CATEGORIES[(k - 1) % 10], "brand": "acme" if k % 2 else "zeta",
          "price": float(k)} for k in range(1, N_ITEMS + 1)]
CATEGORY = {it["id"]: it["category"] for it in ITEMS}
_users = itertools.count()


def user():
    return "rules-user-%d-%d" % (os.getpid(), next(_users))


# ---- the fake http recommender ----

class Recorder:
    lock = threading.Lock()
    calls = []


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query, keep_blank_values=True)
        n = int(q.get("n", ["25"])[0])
        with Recorder.lock:
            Recorder.calls.append({k: v[0] for k, v in q.items()})
        items = [{"itemId": "i%02d" % k, "score": 101 - k} for k in range(1, min(n, N_ITEMS) + 1)]
        if q.get("meta", [""])[0] == "1":  # the recommender's own metadata: i02 says it is a hat
            items[1]["metadata"] = {"category": "hats"}
        body = json.dumps({"itemList": items}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def n_calls():
    with Recorder.lock:
        return len(Recorder.calls)


def last_call():
    with Recorder.lock:
        return Recorder.calls[-1]


FAKE = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=FAKE.serve_forever, daemon=True).start()
URL = "http://127.0.0.1:%d/rec?n={numResults}&fv={filterValues}&item={itemId}" % FAKE.server_address[1]


def variation(meta=False):
    return {"http": {"type": "http", "url": URL + ("&meta=1" if meta else "")}}


def rec(rules=None, meta=False, **extra):
    r = {"variations": variation(meta)}
    if rules is not None:
        r["rules"] = rules
    r.update(extra)
    return r


CONFIG = {
    "version": "rules-it-1",
    "namespaces": {
        "shop": {
            "inferenceItemMetadata": {"type": "localdb"},
            "eventTargets": [{"type": "builtin"}],
            "recommenders": {
                "recommend-items": {
                    "plain": rec(),
                    "diverse": rec({"diversity": {"field": "category", "maxPerValue": 1}}),
                    "diverse2": rec({"diversity": {"field": "category", "maxPerValue": 2},
                                     "lookAheadMultiplier": 3}),
                    "mmr": rec({"diversity": {"field": "category", "method": "mmr"}}),
                    "merch": rec({"pin": [{"itemId": "i09", "position": 2},
                                          {"itemId": "new-item", "position": 4}],
                                  "boost": [{"field": "category", "values": ["hats"], "weight": 10}],
                                  "bury": [{"itemIds": ["i01"]}]}),
                    "fresh": rec({"excludeSeen": {"eventTypes": ["purchase"]}},
                                 cacheControl={"userSpecified": {"maxAge": 300, "directives": "private"}}),
                    "meta": rec({"diversity": {"field": "category", "maxPerValue": 1}}, meta=True),
                    "paged": rec({"pagination": {"maxItems": 8},
                                  "diversity": {"field": "category", "maxPerValue": 3}},
                                 cacheControl={"userSpecified": {"maxAge": 60, "directives": "private"}}),
                    "short-lived": rec({"pagination": {"ttlSeconds": 1}}),
                    "all": rec({"excludeSeen": {}, "bury": [{"field": "brand", "values": ["acme"]}],
                                "boost": [{"itemIds": ["i10"], "weight": 2}],
                                "diversity": {"field": "category", "maxPerValue": 2},
                                "pin": [{"field": "category", "values": ["bags"], "position": 1}]}),
                },
                "related-items": {
                    "similar": rec({"filterValuesFromItem": {"CATEGORY": "category", "PRICE": "price"}}),
                },
                "rerank-items": {
                    "rank": {"rules": {"bury": [{"itemIds": ["i01"]}]},
                             "variations": {"aff": {"type": "builtin"}}},
                },
            },
        },
        "inherit": {
            "inferenceItemMetadata": {"type": "localdb"},
            "rules": {"bury": [{"itemIds": ["i01", "i02"]}]},
            "recommenders": {"recommend-items": {
                "from-ns": rec(),
                "own": rec({"pin": [{"itemId": "i05", "position": 1}]}),
            }},
        },
    },
}

CONFIG_PATH = os.path.join(tempfile.mkdtemp(prefix="pz-rules-it-"), "config.json")
with open(CONFIG_PATH, "w") as f:
    json.dump(CONFIG, f)

_loaded = set()


def catalog(s, ns="shop"):
    """Loads the catalog of ns once, with the real CLI, while the server serves."""
    if ns in _loaded:
        return
    path = os.path.join(s.tmp, "items-%s.jsonl" % ns)
    with open(path, "w") as f:
        f.writelines(json.dumps(it) + "\n" for it in ITEMS)
    p = subprocess.run([s.binary_path, "load-items", "--data-dir", s.data_dir, "--namespace", ns, path],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    # The server's catalog watcher notices the load within a second or so (server/catalog/runtime.h)
    # and makes the namespace's cached answers stale then, and for a second after that answers are
    # not stored (server/core/cache.h, purge_settle_ms): wait for both, so that no test meets that
    # purge midway (a test that expects a cache hit would get a new list).
    seen = "catalog: namespace '%s' changed" % ns
    deadline = time.time() + 30
    while seen not in s.read_log():
        assert time.time() < deadline, "the server never noticed the catalog load of " + ns
        time.sleep(0.05)
    time.sleep(1.1)
    _loaded.add(ns)


def rest(s, path):
    status, hdrs, doc = curl_json(s, path)
    assert status == 200, (status, doc)
    return doc


def ids(doc, key="itemList"):
    return [it["itemId"] for it in doc[key]]


def grpc_recommend(s, recommender, user_id, n, ns="shop"):
    ch = grpc.insecure_channel(s.grpc_target)
    try:
        fn = ch.unary_unary(SVC + "RecommendItems", request_serializer=pb.RecommendItemsRequest.SerializeToString,
                            response_deserializer=pb.RecommendationResponse.FromString)
        return fn(pb.RecommendItemsRequest(namespace=ns, recommender=recommender, user_id=user_id, num_results=n),
                  timeout=10)
    finally:
        ch.close()


def post_events(s, user_id, events):
    body = json.dumps({"sessionId": "s-" + user_id, "userId": user_id,
                       "eventList": [{"eventType": t, "itemId": i} for t, i in events]})
    status, _, doc = curl_json(s, "/events/shop", method="POST", data=body, headers=["Content-Type: application/json"])
    assert status == 200, (status, doc)


# ---- tests ----

def test_no_rules_is_the_recommenders_answer(s):
    catalog(s)
    doc = rest(s, "/recommend-items/shop/plain/%s?numResults=5" % user())
    assert ids(doc) == ["i01", "i02", "i03", "i04", "i05"], doc
    assert last_call()["n"] == "5"  # no rules: no look-ahead


def test_diversity_cap_rest_and_grpc(s):
    catalog(s)
    doc = rest(s, "/recommend-items/shop/diverse/%s?numResults=3" % user())
    assert ids(doc) == ["i01", "i04", "i06"], doc  # one shoe, one hat, one bag
    assert last_call()["n"] == "6"  # look-ahead: numResults x 2
    # scores are the recommender's, untouched
    assert [it["score"] for it in doc["itemList"]] == [100, 97, 95], doc
    assert [it["metadata"]["category"] for it in doc["itemList"]] == ["shoes", "hats", "bags"]
    r = grpc_recommend(s, "diverse", user(), 3)
    assert [it.item_id for it in r.item_list] == ["i01", "i04", "i06"]
    assert [it.score for it in r.item_list] == [100, 97, 95]


def test_look_ahead_meets_num_results(s):
    catalog(s)
    doc = rest(s, "/recommend-items/shop/diverse2/%s?numResults=6" % user())
    assert last_call()["n"] == "18"  # lookAheadMultiplier 3
    got = ids(doc)
    assert got == ["i01", "i02", "i04", "i05", "i06", "i07"], got  # two of each category, six in all
    # numResults=0 still asks nobody and answers an empty list
    doc = rest(s, "/recommend-items/shop/diverse2/%s?numResults=0" % user())
    assert doc["itemList"] == []


def test_diversity_mmr(s):
    catalog(s)
    doc = rest(s, "/recommend-items/shop/mmr/%s?numResults=5" % user())
    # an unseen category first, then the best remaining: shoes, hats, bags, then shoes again
    assert ids(doc) == ["i01", "i04", "i06", "i02", "i03"], doc


def test_pin_boost_bury(s):
    catalog(s)
    doc = rest(s, "/recommend-items/shop/merch/%s?numResults=5" % user())
    # candidates i01..i10; hats (i04, i05, i09) x10 lead; i01 buried; i09 pinned to 2; new-item
    # (not returned by the recommender) pinned to 4, with no score
    assert ids(doc) == ["i04", "i09", "i05", "new-item", "i02"], doc
    new = doc["itemList"][3]
    assert "score" not in new and "metadata" not in new, new
    assert doc["itemList"][0]["score"] == 97
    r = grpc_recommend(s, "merch", user(), 5)
    assert [it.item_id for it in r.item_list] == ["i04", "i09", "i05", "new-item", "i02"]
    assert not r.item_list[3].HasField("score")


def test_exclude_seen_and_cache_purge(s):
    catalog(s)
    u = user()
    path = "/recommend-items/shop/fresh/%s?numResults=3" % u
    # The answer is cached (the recommender is not asked again) once the catalog load's purge has
    # settled (a result computed within a second of a purge is not stored).
    for _ in range(50):
        before = n_calls()
        assert ids(rest(s, path)) == ["i01", "i02", "i03"]
        if n_calls() == before:
            break
        time.sleep(0.1)
    assert n_calls() == before, "never a cache hit"
    post_events(s, u, [("purchase", "i01"), ("view", "i02"), ("purchase", "i03")])
    doc = rest(s, path)  # the user's events purged the cached answer
    assert n_calls() == before + 1
    assert ids(doc) == ["i02", "i04", "i05"], doc  # purchases go, the view stays
    r = grpc_recommend(s, "fresh", u, 3)
    assert [it.item_id for it in r.item_list] == ["i02", "i04", "i05"]
    # another user is unaffected
    assert ids(rest(s, "/recommend-items/shop/fresh/%s?numResults=3" % user())) == ["i01", "i02", "i03"]


def test_recommender_metadata_wins_over_the_catalog(s):
    catalog(s)
    doc = rest(s, "/recommend-items/shop/meta/%s?numResults=3" % user())
    # i02 says it is a hat: it takes the hats slot before i04
    assert ids(doc) == ["i01", "i02", "i06"], doc


def test_all_rules_together(s):
    catalog(s)
    u = user()
    post_events(s, u, [("click", "i02")])
    doc = rest(s, "/recommend-items/shop/all/%s?numResults=4" % u)
    # candidates i01..i08 (look-ahead 2; the boosted i10 is not among them); i02 seen; acme (odd
    # ids) buried: i04, i06, i08, then i01, i03, i05, i07; two per category drops i03 (a third
    # shoe); the best bag (i06) pinned to 1: i06, i04, i08, i01, i05, i07
    assert last_call()["n"] == "8"
    assert ids(doc) == ["i06", "i04", "i08", "i01"], doc


def test_filter_values_from_item(s):
    catalog(s)
    rest(s, "/related-items/shop/similar/i04?numResults=2")
    fv = json.loads(last_call()["fv"])
    assert fv == {"CATEGORY": "\"hats\"", "PRICE": "4"}, fv
    # an explicit value wins; an item not in the catalog adds nothing
    q = urllib.parse.quote(json.dumps({"CATEGORY": "\"bags\""}))
    rest(s, "/related-items/shop/similar/i05?numResults=2&filterValues=" + q)
    assert json.loads(last_call()["fv"]) == {"CATEGORY": "\"bags\"", "PRICE": "5"}
    rest(s, "/related-items/shop/similar/unknown?numResults=2")
    assert last_call()["fv"] == ""
    ch = grpc.insecure_channel(s.grpc_target)
    try:
        fn = ch.unary_unary(SVC + "RelatedItems", request_serializer=pb.RelatedItemsRequest.SerializeToString,
                            response_deserializer=pb.RecommendationResponse.FromString)
        fn(pb.RelatedItemsRequest(namespace="shop", recommender="similar", item_id="i06", num_results=2), timeout=10)
    finally:
        ch.close()
    assert json.loads(last_call()["fv"]) == {"CATEGORY": "\"bags\"", "PRICE": "6"}


def test_pages_never_repeat_rest(s):
    catalog(s)
    u = user()
    base = "/recommend-items/shop/paged/%s?numResults=3" % u
    first = rest(s, base)
    # maxItems 8 asked x2 (look-ahead of the diversity rule): 16 candidates, at most three per
    # category, the first 8 kept: i01 i02 i03 (shoes) i04 i05 (hats) i06 i07 (bags) i09 (hats)
    assert last_call()["n"] == "16"
    calls = n_calls()
    pages, token, rid = [ids(first)], first.get("nextPageToken"), first["recommendationId"]
    while token:
        doc = rest(s, base + "&pageToken=" + urllib.parse.quote(token))
        assert doc["recommendationId"] == rid, doc  # the same list
        pages.append(ids(doc))
        token = doc.get("nextPageToken")
    assert pages == [["i01", "i02", "i03"], ["i04", "i05", "i06"], ["i07", "i09"]], pages
    assert n_calls() == calls  # later pages asked no recommender
    # the pages are decorated like any answer
    doc = rest(s, base + "&pageToken=" + urllib.parse.quote(first["nextPageToken"]))
    assert [it["metadata"]["category"] for it in doc["itemList"]] == ["hats", "hats", "bags"], doc
    # numResults may change between pages
    doc = rest(s, "/recommend-items/shop/paged/%s?numResults=5&pageToken=%s" % (u, first["nextPageToken"]))
    assert ids(doc) == ["i04", "i05", "i06", "i07", "i09"] and "nextPageToken" not in doc, doc
    # the first page is cached with its token: the same token again, no new list
    again = rest(s, base)
    assert again.get("nextPageToken") == first["nextPageToken"], (again, first)


def test_pages_over_grpc(s):
    catalog(s)
    u = user()
    ch = grpc.insecure_channel(s.grpc_target)
    try:
        fn = ch.unary_unary(SVC + "RecommendItems", request_serializer=pb.RecommendItemsRequest.SerializeToString,
                            response_deserializer=pb.RecommendationResponse.FromString)
        seen, token = [], None
        while True:
            req = pb.RecommendItemsRequest(namespace="shop", recommender="paged", user_id=u, num_results=4)
            if token:
                req.page_token = token
            r = fn(req, timeout=10)
            seen += [it.item_id for it in r.item_list]
            if not r.HasField("next_page_token"):
                break
            token = r.next_page_token
        assert seen == ["i01", "i02", "i03", "i04", "i05", "i06", "i07", "i09"], seen
        req = pb.RecommendItemsRequest(namespace="shop", recommender="paged", user_id=u, num_results=4,
                                       page_token="p1nonsense")
        try:
            fn(req, timeout=10)
            raise AssertionError("a bad token was accepted")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
            assert "pageToken" in e.details(), e.details()
    finally:
        ch.close()


def test_page_token_errors(s):
    catalog(s)
    u = user()
    first = rest(s, "/recommend-items/shop/paged/%s?numResults=3" % u)
    token = urllib.parse.quote(first["nextPageToken"])
    # another user's token reads nothing
    status, _, doc = curl_json(s, "/recommend-items/shop/paged/%s?numResults=3&pageToken=%s" % (user(), token))
    assert status == 400 and doc["code"] == "PageTokenExpired", (status, doc)
    assert set(doc) == {"type", "code", "message"}, doc
    # not a token at all
    status, _, doc = curl_json(s, "/recommend-items/shop/paged/%s?pageToken=hello" % u)
    assert status == 400 and doc["code"] == "InvalidPageToken", (status, doc)
    status, _, doc = curl_json(s, "/recommend-items/shop/paged/%s?pageToken=%s" % (u, "p" * 65))
    assert status == 400 and doc["code"] == "InvalidPageToken" and "64" in doc["message"], (status, doc)
    # a recommender that does not paginate
    status, _, doc = curl_json(s, "/recommend-items/shop/plain/%s?pageToken=%s" % (u, token))
    assert status == 400 and "does not paginate" in doc["message"], (status, doc)
    # an expired list (ttlSeconds 1)
    doc = rest(s, "/recommend-items/shop/short-lived/%s?numResults=2" % u)
    assert doc.get("nextPageToken"), doc
    time.sleep(1.3)
    status, _, doc = curl_json(s, "/recommend-items/shop/short-lived/%s?numResults=2&pageToken=%s"
                               % (u, urllib.parse.quote(doc["nextPageToken"])))
    assert status == 400 and doc["code"] == "PageTokenExpired", (status, doc)
    assert "kept 1 s" in doc["message"], doc


def test_rerank_is_not_reordered(s):
    catalog(s)
    doc = rest(s, "/rerank-items/shop/rank/%s/i01,i02,i03" % user())
    assert sorted(ids(doc, "personalizedRanking")) == ["i01", "i02", "i03"], doc


def test_namespace_rules_are_inherited(s):
    catalog(s, "inherit")
    doc = rest(s, "/recommend-items/inherit/from-ns/%s?numResults=3" % user())
    assert ids(doc) == ["i03", "i04", "i05"], doc  # i01, i02 buried past the page
    doc = rest(s, "/recommend-items/inherit/own/%s?numResults=3" % user())
    assert ids(doc) == ["i05", "i01", "i02"], doc  # the recommender's block replaces the namespace's


def test_bad_rules_are_refused_with_their_path(s):
    bad = json.loads(json.dumps(CONFIG))
    bad["namespaces"]["shop"]["recommenders"]["recommend-items"]["diverse"]["rules"]["diversity"]["maxPerValue"] = 0
    path = os.path.join(s.tmp, "bad.json")
    with open(path, "w") as f:
        json.dump(bad, f)
    p = subprocess.run([s.binary_path, "--check-config", "--config", path], capture_output=True, text=True,
                       timeout=30)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert "$.namespaces.shop.recommenders.recommend-items.diverse.rules.diversity.maxPerValue" in out, out


if __name__ == "__main__":
    run_tests(globals(), server_args=["--config", CONFIG_PATH])
