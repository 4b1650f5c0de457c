"""REST front, end to end: the real binary on the embedded demo, driven with the real curl."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO_ROOT, curl, curl_json, run_tests  # noqa: E402


def load_catalog():
    items = {}
    with open(os.path.join(REPO_ROOT, "tests", "data", "demo", "items.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                obj = json.loads(line)
                items[obj["id"]] = obj
    return items


CATALOG = load_catalog()


def category_share(item_ids, categories):
    return sum(1 for i in item_ids if CATALOG[i]["category"] in categories) / max(1, len(item_ids))


def assert_cors(hdrs):
    assert hdrs.get("access-control-allow-origin") == "*", hdrs
    assert "ETag" in hdrs.get("access-control-expose-headers", ""), hdrs


def assert_error(status, hdrs, doc, want_status, want_code, want_type=None):
    assert status == want_status, (status, doc)
    assert hdrs["content-type"].startswith("application/json"), hdrs
    assert set(doc) >= {"type", "code", "message"}, doc
    assert doc["code"] == want_code, doc
    if want_type:
        assert doc["type"] == want_type, doc
    assert doc["message"], doc
    assert_cors(hdrs)


def test_recommend_items_shape_and_headers(s):
    status, hdrs, doc = curl_json(s, "/recommend-items/demo/for-you/user-0001")
    assert status == 200, doc
    assert hdrs["content-type"] == "application/json"
    assert hdrs["x-personalization-config-version"] == "demo-1"
    assert hdrs["cache-control"] == "private,max-age=10", hdrs
    assert hdrs["x-personalization-variation"] == "builtin-personalized"
    assert_cors(hdrs)
    assert set(doc) == {"itemList", "recommendationId"}, doc.keys()
    assert doc["recommendationId"].startswith("RID-")
    items = doc["itemList"]
    assert len(items) == 25  # default numResults
    for it in items:
        assert it["itemId"] in CATALOG, it
        assert isinstance(it["score"], (int, float)), it
    scores = [it["score"] for it in items]
    assert scores == sorted(scores, reverse=True), scores
    assert len({it["itemId"] for it in items}) == len(items)


def test_recommend_items_is_personalized(s):
    _, _, doc = curl_json(s, "/recommend-items/demo/for-you/user-0001?numResults=20")
    ids = [it["itemId"] for it in doc["itemList"]]
    assert len(ids) == 20
    # user-0001 browses outdoor gear and footwear (tests/data/demo/README.md)
    share = category_share(ids, {"outdoor", "footwear"})
    assert share >= 0.6, (share, [CATALOG[i]["category"] for i in ids])
    _, _, popular = curl_json(s, "/recommend-items/demo/popular/user-0001?numResults=20")
    assert [it["itemId"] for it in popular["itemList"]] != ids


def test_popular_is_the_same_for_everyone(s):
    _, _, a = curl_json(s, "/recommend-items/demo/popular/user-0001?numResults=10")
    _, hdrs, b = curl_json(s, "/recommend-items/demo/popular/someone-new?numResults=10")
    assert [i["itemId"] for i in a["itemList"]] == [i["itemId"] for i in b["itemList"]]
    assert hdrs["x-personalization-variation"] == "builtin-popular"
    assert a["recommendationId"] != b["recommendationId"]


def test_num_results_limits(s):
    status, _, doc = curl_json(s, "/recommend-items/demo/for-you/user-0001?numResults=3")
    assert status == 200 and len(doc["itemList"]) == 3
    for bad in ("abc", "1.5", "", "-1"):
        status, hdrs, doc = curl_json(s, "/recommend-items/demo/for-you/user-0001?numResults=" + bad)
        assert_error(status, hdrs, doc, 400, "ValidationError", "Validation")
        assert "numResults" in doc["message"], doc
    status, _, doc = curl_json(s, "/recommend-items/demo/for-you/user-0001?numResults=500")
    assert status == 200 and 0 < len(doc["itemList"]) <= 500
    # as upstream: above 500 is clamped to 500, 0 answers an empty list (issue 12; both were 400s)
    status, _, clamped = curl_json(s, "/recommend-items/demo/for-you/user-0001?numResults=501")
    assert status == 200 and [i["itemId"] for i in clamped["itemList"]] == [i["itemId"] for i in doc["itemList"]]
    status, _, doc = curl_json(s, "/recommend-items/demo/for-you/user-0001?numResults=0")
    assert status == 200 and doc["itemList"] == [] and doc["recommendationId"].startswith("RID-"), doc


def test_json_query_parameters(s):
    status, hdrs, doc = curl_json(s, "/recommend-items/demo/for-you/user-0001?context=%7Bnot-json")
    assert_error(status, hdrs, doc, 400, "InvalidContextParameter")
    status, hdrs, doc = curl_json(s, "/recommend-items/demo/for-you/user-0001?filterValues=%5B1%5D")
    assert_error(status, hdrs, doc, 400, "InvalidFilterParameter")
    ctx = "%7B%22DEVICE_TYPE%22%3A%22Phone%22%7D"
    status, _, doc = curl_json(s, "/recommend-items/demo/for-you/user-0001?context=" + ctx + "&decorateItems=no")
    assert status == 200, doc
    # unknown parameters (cache busters) are ignored, as upstream does
    status, _, _ = curl_json(s, "/recommend-items/demo/for-you/user-0001?_=12345&utm_source=x")
    assert status == 200


def test_unknown_namespace_and_recommender(s):
    status, hdrs, doc = curl_json(s, "/recommend-items/nope/for-you/u1")
    assert_error(status, hdrs, doc, 404, "RecommenderNotConfigured", "Configuration")
    assert "nope" in doc["message"]
    status, hdrs, doc = curl_json(s, "/recommend-items/demo/nope/u1")
    assert_error(status, hdrs, doc, 404, "RecommenderNotConfigured")
    # a recommender exists only under its own action
    status, hdrs, doc = curl_json(s, "/related-items/demo/for-you/sku-00001")
    assert_error(status, hdrs, doc, 404, "RecommenderNotConfigured")


def test_related_items(s):
    status, hdrs, doc = curl_json(s, "/related-items/demo/similar/sku-00248?numResults=10")
    assert status == 200, doc
    assert hdrs["cache-control"] == "public,max-age=1200", hdrs  # noUserSpecified
    ids = [it["itemId"] for it in doc["itemList"]]
    assert len(ids) == 10 and "sku-00248" not in ids
    assert category_share(ids, {CATALOG["sku-00248"]["category"]}) >= 0.6, [CATALOG[i]["category"] for i in ids]
    status, hdrs, _ = curl_json(s, "/related-items/demo/similar/sku-00248?userId=user-0001")
    assert status == 200 and hdrs["cache-control"] == "private,max-age=10", hdrs
    status, hdrs, _ = curl_json(s, "/related-items/demo/similar/sku-00248?userId=seg-1&syntheticUser=true")
    assert status == 200 and hdrs["cache-control"] == "public,max-age=300", hdrs


def test_rerank_get_and_post_agree(s):
    ids = ["sku-00632", "sku-00248", "sku-00165", "sku-00580", "sku-00002", "not-in-catalog"]
    status, hdrs, get_doc = curl_json(s, "/rerank-items/demo/ranking/user-0001/" + ",".join(ids))
    assert status == 200, get_doc
    assert hdrs["cache-control"] == "private,max-age=10"
    ranked = [it["itemId"] for it in get_doc["personalizedRanking"]]
    assert sorted(ranked) == sorted(ids)
    assert ranked[-1] == "not-in-catalog" and "score" not in get_doc["personalizedRanking"][-1]
    # user-0001's taste (outdoor, footwear) ranks the sleeping pad and the boot first
    assert set(ranked[:2]) == {"sku-00165", "sku-00002"}, ranked
    status, hdrs, post_doc = curl_json(s, "/rerank-items/demo/ranking/user-0001", method="POST",
                                       data=json.dumps(ids), headers=["Content-Type: application/json"])
    assert status == 200, post_doc
    assert hdrs["cache-control"] == "no-store", hdrs
    assert [it["itemId"] for it in post_doc["personalizedRanking"]] == ranked


def test_rerank_errors(s):
    url = "/rerank-items/demo/ranking/user-0001"
    status, hdrs, doc = curl_json(s, url, method="POST", data="[\"a\",", headers=["Content-Type: application/json"])
    assert_error(status, hdrs, doc, 400, "InvalidJSONRequestPayload")
    assert "line 1" in doc["message"], doc
    status, hdrs, doc = curl_json(s, url, method="POST", data='{"a":1}', headers=["Content-Type: application/json"])
    assert_error(status, hdrs, doc, 400, "InvalidRequestPayload")
    status, hdrs, doc = curl_json(s, url, method="POST", data="[]", headers=["Content-Type: application/json"])
    assert_error(status, hdrs, doc, 400, "ValidationError")
    many = json.dumps(["sku-%05d" % i for i in range(1, 502)])
    status, hdrs, doc = curl_json(s, url, method="POST", data=many, headers=["Content-Type: application/json"])
    assert_error(status, hdrs, doc, 400, "ValidationError")
    assert "500" in doc["message"]


def test_events_accepted_and_learned(s):
    body = {"sessionId": "it-s1", "userId": "it-user-kitchen",
            "eventList": [{"eventType": "click", "itemId": "sku-00248"} for _ in range(3)]}
    status, hdrs, raw = curl(s, "/events/demo", method="POST", data=json.dumps(body),
                             headers=["Content-Type: application/json"])
    assert status == 200, raw
    assert raw == b"" and hdrs["content-type"].startswith("text/plain"), (hdrs, raw)
    assert hdrs["cache-control"] == "no-store"
    assert hdrs["x-personalization-config-version"] == "demo-1"
    assert_cors(hdrs)
    # the click is visible in the next response: kitchen items co-viewed with the skillet
    _, _, doc = curl_json(s, "/recommend-items/demo/for-you/it-user-kitchen?numResults=10")
    ids = [it["itemId"] for it in doc["itemList"]]
    assert "sku-00248" not in ids  # seen items are excluded
    assert category_share(ids, {CATALOG["sku-00248"]["category"]}) >= 0.5, ids


def test_events_validation(s):
    def post(body, raw=None):
        data = raw if raw is not None else json.dumps(body)
        return curl_json(s, "/events/demo", method="POST", data=data, headers=["Content-Type: application/json"])

    ev = {"eventType": "click", "itemId": "sku-00001"}
    status, hdrs, doc = post({"sessionId": "s", "eventList": [ev] * 11})
    assert_error(status, hdrs, doc, 400, "ValidationError")
    assert "10" in doc["message"]
    status, hdrs, doc = post({"sessionId": "s", "eventList": [{"itemId": "sku-00001"}]})
    assert_error(status, hdrs, doc, 400, "ValidationError")
    assert "eventType" in doc["message"]
    status, hdrs, doc = post(None, raw="{nope")
    assert_error(status, hdrs, doc, 400, "InvalidJSONRequestPayload")
    status, hdrs, doc = post({"sessionId": "s", "eventList": [ev], "bogus": 1})
    assert_error(status, hdrs, doc, 400, "ValidationError")
    assert "bogus" in doc["message"]
    status, hdrs, doc = post({"sessionId": "s", "eventList": [dict(ev, properties="x" * 1025)]})
    assert_error(status, hdrs, doc, 400, "ValidationError")
    status, hdrs, doc = post({"sessionId": "s", "eventList": [dict(ev, impression=["i"] * 26)]})
    assert_error(status, hdrs, doc, 400, "ValidationError")
    status, hdrs, doc = post({"sessionId": "s", "eventList": []})
    assert_error(status, hdrs, doc, 400, "ValidationError")
    status, hdrs, doc = curl_json(s, "/events/nope", method="POST", data=json.dumps({"eventList": [ev]}))
    assert_error(status, hdrs, doc, 404, "NamespaceNotFound", "Configuration")


def test_bad_events_change_nothing(s):
    # a request with one bad event among good ones stores none of them
    user = "it-user-atomic"
    events = [{"eventType": "click", "itemId": "sku-00126"}] * 3 + [{"itemId": "sku-00126"}]
    status, _, _ = curl_json(s, "/events/demo", method="POST",
                             data=json.dumps({"sessionId": "s", "userId": user, "eventList": events}))
    assert status == 400
    # an unknown user gets the popular list; had the clicks been stored, it would be personalized
    _, _, mine = curl_json(s, "/recommend-items/demo/for-you/%s?numResults=10" % user)
    _, _, pop = curl_json(s, "/recommend-items/demo/popular/%s?numResults=10" % user)
    assert [i["itemId"] for i in mine["itemList"]] == [i["itemId"] for i in pop["itemList"]]
    status, _, _ = curl_json(s, "/events/demo", method="POST",
                             data=json.dumps({"sessionId": "s", "userId": user, "eventList": events[:3]}))
    assert status == 200
    _, _, mine = curl_json(s, "/recommend-items/demo/for-you/%s?numResults=10" % user)
    assert [i["itemId"] for i in mine["itemList"]] != [i["itemId"] for i in pop["itemList"]]


def test_cors_preflight(s):
    status, hdrs, body = curl(s, "/recommend-items/demo/for-you/u1", method="OPTIONS",
                              headers=["Origin: https://app.example", "Access-Control-Request-Method: GET"])
    assert status == 204, (status, body)
    assert hdrs["access-control-allow-origin"] == "*"
    assert "GET" in hdrs["access-control-allow-methods"]
    assert "X-Api-Key" in hdrs["access-control-allow-headers"]
    assert hdrs["access-control-max-age"] == "500"
    status, hdrs, _ = curl(s, "/rerank-items/demo/ranking/u1", method="OPTIONS")
    assert status == 204 and "POST" in hdrs["access-control-allow-methods"], hdrs


def test_routing_errors(s):
    status, hdrs, doc = curl_json(s, "/nope")
    assert status == 404 and doc["code"] == "RouteNotFound", doc
    assert_cors(hdrs)
    status, hdrs, doc = curl_json(s, "/events/demo")  # GET on a POST route
    assert status == 405 and "POST" in hdrs["allow"], (status, hdrs)
    status, hdrs, doc = curl_json(s, "/recommend-items/demo/for-you/bad%zz")
    assert status == 400, doc


def test_percent_decoded_segments(s):
    _, _, a = curl_json(s, "/rerank-items/demo/ranking/user%2D0001/sku-00165%2Csku-00632")
    _, _, b = curl_json(s, "/rerank-items/demo/ranking/user-0001/sku-00165,sku-00632")
    assert [i["itemId"] for i in a["personalizedRanking"]] == [i["itemId"] for i in b["personalizedRanking"]]


def test_http2_cleartext(s):
    status, hdrs, body = curl(s, "/recommend-items/demo/for-you/user-0001?numResults=2", "-w", "",
                              http2=True)
    assert status == 200 and len(json.loads(body)["itemList"]) == 2
    status, _, body = curl(s, "/recommend-items/demo/for-you/user-0001?numResults=2", "--http2")
    assert status == 200  # h2c via Upgrade


def test_body_size_limit(s):
    big = json.dumps({"sessionId": "s", "eventList": [{"eventType": "x" * (2 << 20)}]})
    status, _, _ = curl(s, "/events/demo", method="POST", data=big)
    assert status == 413, status


def test_healthz(s):
    status, hdrs, doc = curl_json(s, "/healthz")
    assert status == 200 and doc["status"] == "SERVING" and doc["configVersion"] == "demo-1", doc


def test_access_log(s):
    curl_json(s, "/recommend-items/demo/for-you/access-log-user")
    log = s.read_log()
    assert "access rest GET /recommend-items/{namespace}/{recommender}/{user_id} status=200" in log, log[-2000:]


if __name__ == "__main__":
    run_tests(globals())
