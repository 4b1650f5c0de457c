"""Response cache, end to end: the real binary on the embedded demo, driven with the real curl and
python3-grpcio. Each test uses its own user ids, so entries never leak from one test to another."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from harness import Server, curl, curl_json, find_generated_python, run_tests  # noqa: E402

find_generated_python()
import grpc  # noqa: E402
from personalization.v1 import personalization_pb2 as pb  # noqa: E402

ETAG = re.compile(r'^"[0-9a-f]{16}"$')
SVC = "/personalization.v1.PersonalizationService/"


def recommend_path(user, n=5):
    return "/recommend-items/demo/for-you/%s?numResults=%d" % (user, n)


def stats(s):
    status, hdrs, doc = curl_json(s, s.admin_url("/admin/cache/stats"))
    assert status == 200 and hdrs["cache-control"] == "no-store", (status, hdrs)
    return doc


def grpc_call(s, name, req, resp_cls, metadata=None):
    ch = grpc.insecure_channel(s.grpc_target)
    try:
        fn = ch.unary_unary(SVC + name, request_serializer=type(req).SerializeToString,
                            response_deserializer=resp_cls.FromString)
        resp, call = fn.with_call(req, timeout=10, metadata=metadata)
        return resp, dict(call.initial_metadata())
    finally:
        ch.close()


def test_hit_after_miss_has_the_same_etag_and_body(s):
    before = stats(s)
    status, h1, b1 = curl(s, recommend_path("cache-u1"))
    assert status == 200, b1
    assert ETAG.match(h1["etag"]), h1
    status, h2, b2 = curl(s, recommend_path("cache-u1"))
    assert status == 200
    assert h2["etag"] == h1["etag"] and b2 == b1, (h1, h2)
    assert json.loads(b2)["recommendationId"] == json.loads(b1)["recommendationId"]
    after = stats(s)
    assert after["hits"] == before["hits"] + 1 and after["misses"] == before["misses"] + 1, (before, after)
    # another user never gets this entry, and numResults is part of the key
    _, h3, _ = curl(s, recommend_path("cache-u1-other"))
    _, h4, _ = curl(s, recommend_path("cache-u1", 6))
    assert h3["etag"] != h1["etag"] and h4["etag"] != h1["etag"]


def test_if_none_match_gives_304_with_headers_and_no_body(s):
    _, hdrs, _ = curl(s, recommend_path("cache-u2"))
    etag = hdrs["etag"]
    for inm in (etag, "W/" + etag, '"0000000000000000", ' + etag, "*"):
        status, h, body = curl(s, recommend_path("cache-u2"), headers=["If-None-Match: " + inm])
        assert status == 304, (inm, status, body)
        assert body == b"", body
        assert h["etag"] == etag, h
        assert h["cache-control"] == "private,max-age=10", h
        assert h["x-personalization-config-version"] == "demo-1", h
        assert h["access-control-allow-origin"] == "*", h
        assert "ETag" in h["access-control-expose-headers"], h
    # over HTTP/2 as well
    status, h, body = curl(s, recommend_path("cache-u2"), headers=["If-None-Match: " + etag], http2=True)
    assert status == 304 and body == b"" and h["etag"] == etag, (status, h)
    # anything that does not match is answered in full: never a 500 (upstream defect #12)
    for inm in ('"0000000000000000"', '"unterminated', "1234567-1700000000000-10", "W/", ",,,", etag[1:-1] + "x"):
        status, h, body = curl(s, recommend_path("cache-u2"), headers=["If-None-Match: " + inm])
        assert status == 200 and h["etag"] == etag and json.loads(body)["itemList"], (inm, status)


def test_cache_control_per_class_and_no_store_routes(s):
    _, h, _ = curl(s, recommend_path("cache-u3"))
    assert h["cache-control"] == "private,max-age=10" and "etag" in h, h
    _, h, _ = curl(s, "/related-items/demo/similar/sku-00248?numResults=5")
    assert h["cache-control"] == "public,max-age=1200" and ETAG.match(h["etag"]), h
    _, h, _ = curl(s, "/related-items/demo/similar/sku-00248?numResults=5&userId=seg-7&syntheticUser=true")
    assert h["cache-control"] == "public,max-age=300" and ETAG.match(h["etag"]), h
    # POST rerank and events: no-store, no ETag, never a 304
    status, h, body = curl(s, "/rerank-items/demo/ranking/cache-u3", method="POST",
                           data=json.dumps(["sku-00632", "sku-00248"]),
                           headers=["Content-Type: application/json", "If-None-Match: *"])
    assert status == 200 and h["cache-control"] == "no-store" and "etag" not in h, (status, h)
    assert json.loads(body)["personalizedRanking"]
    status, h, _ = curl(s, "/events/demo", method="POST", headers=["If-None-Match: *"],
                        data=json.dumps({"sessionId": "s", "userId": "cache-u3",
                                         "eventList": [{"eventType": "click", "itemId": "sku-00001"}]}))
    assert status == 200 and h["cache-control"] == "no-store" and "etag" not in h, (status, h)
    # GET rerank is cacheable like the other GET routes
    _, h1, _ = curl(s, "/rerank-items/demo/ranking/cache-u3b/sku-00632,sku-00248")
    _, h2, _ = curl(s, "/rerank-items/demo/ranking/cache-u3b/sku-00632,sku-00248")
    assert ETAG.match(h1["etag"]) and h1["etag"] == h2["etag"], (h1, h2)


def test_an_event_by_the_user_changes_the_next_response(s):
    _, h1, _ = curl(s, recommend_path("cache-u4"))
    _, h2, _ = curl(s, recommend_path("cache-u4"))
    _, other1, _ = curl(s, recommend_path("cache-u4-bystander"))
    assert h1["etag"] == h2["etag"]
    status, _, _ = curl(s, "/events/demo", method="POST", headers=["Content-Type: application/json"],
                        data=json.dumps({"sessionId": "s4", "userId": "cache-u4",
                                         "eventList": [{"eventType": "click", "itemId": "sku-00248"}]}))
    assert status == 200
    _, h3, body = curl(s, recommend_path("cache-u4"))
    assert h3["etag"] != h1["etag"], (h1, h3)
    assert "sku-00248" not in [i["itemId"] for i in json.loads(body)["itemList"]]  # just clicked: now seen
    _, other2, _ = curl(s, recommend_path("cache-u4-bystander"))
    assert other2["etag"] == other1["etag"]  # other users keep their entries


def test_access_log_shows_the_cache_outcome(s):
    path = recommend_path("cache-u5")
    _, h, _ = curl(s, path)
    curl(s, path)
    curl(s, path, headers=["If-None-Match: " + h["etag"]])
    log = s.read_log()
    route = "GET /recommend-items/{namespace}/{recommender}/{user_id}"
    assert re.search(re.escape(route) + r" status=200 .*cache=miss", log), log[-3000:]
    assert re.search(re.escape(route) + r" status=200 .*cache=hit\b", log), log[-3000:]
    assert re.search(re.escape(route) + r" status=304 .*cache=hit,not-modified", log), log[-3000:]


def test_stats_route(s):
    doc = stats(s)
    for key in ("enabled", "entries", "bytes", "capacityBytes", "hits", "staleHits", "staleIfError", "misses",
                "coalesced", "refreshes", "stores", "evictions", "purged", "notModified"):
        assert key in doc, (key, doc)
    assert doc["enabled"] is True and doc["capacityBytes"] == 64 << 20, doc
    assert 0 < doc["bytes"] <= doc["capacityBytes"] and doc["entries"] > 0, doc


def test_grpc_etag_metadata_matches_rest_and_not_modified(s):
    # the same request over REST and gRPC is one cache entry with one ETag
    _, rest, _ = curl(s, "/recommend-items/demo/for-you/cache-u6?numResults=4")
    req = pb.RecommendItemsRequest(namespace="demo", recommender="for-you", user_id="cache-u6", num_results=4)
    resp, md = grpc_call(s, "RecommendItems", req, pb.RecommendationResponse)
    assert md["etag"] == rest["etag"], (md, rest)
    assert md["cache-control"] == "private,max-age=10"
    assert len(resp.item_list) == 4 and not resp.not_modified
    for inm in (md["etag"], "W/" + md["etag"], "*"):
        nm, md2 = grpc_call(s, "RecommendItems", req, pb.RecommendationResponse, metadata=[("if-none-match", inm)])
        assert nm.not_modified, nm
        assert len(nm.item_list) == 0 and not nm.recommendation_id, nm
        assert md2["etag"] == md["etag"] and md2["cache-control"] == "private,max-age=10", md2
    full, _ = grpc_call(s, "RecommendItems", req, pb.RecommendationResponse,
                        metadata=[("if-none-match", '"0000000000000000"')])
    assert not full.not_modified and len(full.item_list) == 4
    # rerank carries the flag too
    rr = pb.RerankItemsRequest(namespace="demo", recommender="ranking", user_id="cache-u6",
                               item_ids=["sku-00632", "sku-00248", "sku-00165"])
    r1, rmd = grpc_call(s, "RerankItems", rr, pb.RerankResponse)
    assert ETAG.match(rmd["etag"]) and len(r1.personalized_ranking) == 3
    r2, _ = grpc_call(s, "RerankItems", rr, pb.RerankResponse, metadata=[("if-none-match", rmd["etag"])])
    assert r2.not_modified and len(r2.personalized_ranking) == 0


def test_cache_off_still_validates(s):
    srv = Server(s.binary_path, args=["--demo", "--cache-bytes", "0"])
    try:
        srv.start()
        _, h1, _ = curl(srv, recommend_path("cache-u7"))
        _, h2, _ = curl(srv, recommend_path("cache-u7"))
        assert ETAG.match(h1["etag"]) and ETAG.match(h2["etag"])
        assert h1["etag"] != h2["etag"]  # computed twice: a new recommendationId each time
        status, _, doc = curl_json(srv, srv.admin_url("/admin/cache/stats"))
        assert status == 200 and doc["enabled"] is False and doc["hits"] == 0, doc
        assert srv.stop() == 0
    finally:
        if srv.proc and srv.proc.poll() is None:
            srv.proc.kill()
        srv.cleanup()


if __name__ == "__main__":
    run_tests(globals())
