"""Remote recommenders end to end: the real binary calling fake Personalize, SageMaker, Lambda,
DynamoDB and http upstreams (fakes.py, SigV4 checked with botocore), driven over REST with curl and
over gRPC with python3-grpcio. Slow, failing, throttling and malformed upstreams included."""
import atexit
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import Server, curl_json, find_generated_python, run_tests  # noqa: E402
import fakes  # noqa: E402

find_generated_python()
import grpc  # noqa: E402
from personalization.v1 import personalization_pb2 as pb  # noqa: E402

ACCOUNT = "111122223333"
P_ARN = "arn:aws:personalize:us-east-1:%s:" % ACCOUNT
L_ARN = "arn:aws:lambda:us-east-1:%s:function:" % ACCOUNT

PERSONALIZE = fakes.Fake("personalize")
PERSONALIZE_EDGE = fakes.Fake("personalize")  # reached only through a variation's endpointUrl
SAGEMAKER = fakes.Fake("sagemaker")
LAMBDA = fakes.Fake("lambda")
DYNAMODB = fakes.Fake("dynamodb")
HTTP = fakes.Fake(None)
DYNAMODB.tables["PersonalizationApiItemMetadata_catalog"] = {
    "catalog-picks-0": fakes.ddb_item("catalog-picks-0", name="Tan Backpack", price=90.99, stock=3,
                                      tags=["outdoor", "bags"], dims={"h": 40}),
    "catalog-picks-2": fakes.ddb_item("catalog-picks-2", name="Trail Shoe", price=89.5),
}
DYNAMODB.tables["PersonalizationApiItemMetadata_catalog"].update(
    {"unproc-%d" % k: fakes.ddb_item("unproc-%d" % k, rank=k) for k in range(4)})


def campaign(name, **extra):
    return dict({"type": "personalize-campaign", "arn": P_ARN + "campaign/" + name}, **extra)


CONFIG = {
    "version": "remote-1",
    "namespaces": {
        "shop": {
            "recommenders": {
                "recommend-items": {
                    "personalized": {"variations": {"up": campaign("shop-up", filters=[
                        {"arn": P_ARN + "filter/exclude-purchased", "condition": "user-required"},
                        {"arn": P_ARN + "filter/in-stock"}])}},
                    "rfy": {"variations": {"rfy": {
                        "type": "personalize-recommender", "arn": P_ARN + "recommender/shop-rfy",
                        "promotions": [{"name": "deals", "percentPromotedItems": 20,
                                        "filterArn": P_ARN + "filter/deals",
                                        "filterValues": {"CATEGORY": "\"shoes\""}}]}}},
                    "quick": {"variations": {"q": campaign("shop-quick", timeoutMs=300)}},
                    "guarded": {"variations": {
                        "primary": campaign("shop-guarded", timeoutMs=300, fallback="backup"),
                        "backup": {"type": "builtin", "strategy": "popular"}}},
                    "down": {"variations": {"d": campaign("shop-down")}},
                    "local": {"variations": {"local-b": {"type": "builtin", "strategy": "popular"}}},
                    "edge": {"variations": {"e": campaign("shop-edge", endpointUrl=PERSONALIZE_EDGE.url,
                                                          region="us-east-1")}},
                    "sm": {"variations": {"two-tower": {"type": "sagemaker", "endpointName": "ok-endpoint"}}},
                    "sm-broken": {"variations": {"m": {"type": "sagemaker", "endpointName": "error-endpoint"}}},
                    "fn": {"variations": {"custom": {"type": "function", "arn": L_ARN + "recs-fn"}}},
                    "fn-broken": {"variations": {"b": {"type": "lambda", "arn": L_ARN + "broken-fn"}}},
                    "post": {
                        "responsePostProcessor": {"type": "lambda", "arn": L_ARN + "post-fn",
                                                  "lookAheadMultiplier": 2, "lookAheadMaximumValue": 30},
                        "variations": {"p": campaign("shop-post")}},
                },
                "related-items": {
                    "similar": {"variations": {"sims": campaign("shop-sims", filters=[
                        {"arn": P_ARN + "filter/exclude-purchased", "condition": "user-required"}])}},
                    "partner": {"variations": {"partner": {
                        "type": "http",
                        "url": HTTP.url + "/related/{itemId}?n={numResults}&u={userId}&ns={namespace}&ctx={context}"}}},
                },
                "rerank-items": {"ranking": {"variations": {"rank": campaign("shop-ranking")}}},
            },
            "eventTargets": [{"type": "builtin"}],
        },
        "media": {
            "inferenceItemMetadata": {"type": "personalize", "itemColumns": ["TITLE", "GENRE"]},
            "recommenders": {"recommend-items": {"top": {"variations": {"top": {
                "type": "personalize-recommender", "arn": P_ARN + "recommender/media-top"}}}}},
        },
        "catalog": {
            "inferenceItemMetadata": {"type": "dynamodb"},
            "recommenders": {"recommend-items": {
                "picks": {"variations": {"p": campaign("catalog-picks")}},
                "late": {"variations": {"p": campaign("unproc")}},
                "hot": {"variations": {"p": campaign("ddb-throttle")}},
            }},
        },
    },
}

TMP = tempfile.mkdtemp(prefix="pz-remote-")
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
    "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": SAGEMAKER.url,
    "AWS_ENDPOINT_URL_LAMBDA": LAMBDA.url,
    "AWS_ENDPOINT_URL_DYNAMODB": DYNAMODB.url,
})
SERVER_ARGS = ["--config", CONFIG_PATH]


def last(fake, pred=lambda r: True):
    hits = fake.matching(pred)
    assert hits, "the fake saw no matching request"
    return hits[-1]


def by_user(user):
    return lambda r: (r["body"] or {}).get("userId") == user


def expect_error(s, path, status, type_, code, *needles):
    st, _, doc = curl_json(s, path)
    assert st == status, (st, doc)
    assert doc["type"] == type_ and doc["code"] == code, doc
    for n in needles:
        assert n in doc["message"], (n, doc)
    return doc


# ---- Personalize ----

def test_personalize_recommend(s):
    st, h, doc = curl_json(s, "/recommend-items/shop/personalized/u1?numResults=3")
    assert st == 200, doc
    assert [i["itemId"] for i in doc["itemList"]] == ["shop-up-0", "shop-up-1", "shop-up-2"], doc
    assert doc["itemList"][1]["score"] == 0.5
    assert doc["recommendationId"] == "RID-fake-shop-up"  # kept from Personalize
    assert h["x-personalization-variation"] == "up"
    req = last(PERSONALIZE, by_user("u1"))
    assert req["path"] == "/recommendations"
    assert req["body"] == {"campaignArn": P_ARN + "campaign/shop-up", "userId": "u1", "numResults": 3,
                           "filterArn": P_ARN + "filter/exclude-purchased"}, req["body"]
    assert req["sig_ok"], req["sig_why"]


def access_line(s, variation):
    """The latest REST access-log line of a request served by `variation`."""
    deadline = time.time() + 5
    while time.time() < deadline:
        lines = [l for l in s.read_log().splitlines() if "access rest GET" in l and " variation=%s " % variation in l]
        if lines:
            return lines[-1]
        time.sleep(0.05)
    raise AssertionError("no access line for variation %s:\n%s" % (variation, s.read_log()[-2000:]))


def test_access_log_upstream_ms_only_for_remote_calls(s):
    st, _, doc = curl_json(s, "/recommend-items/shop/personalized/u-upstream-ms?numResults=2")
    assert st == 200, doc
    line = access_line(s, "up")
    m = re.search(r"status=200 dur_ms=([\d.]+) upstream_ms=([\d.]+) client=", line)
    assert m, line
    dur, upstream = float(m.group(1)), float(m.group(2))
    assert 0 < upstream <= dur, line  # the upstream's own time is part of the request's
    st, _, doc = curl_json(s, "/recommend-items/shop/local/u-upstream-ms?numResults=2")
    assert st == 200, doc
    line = access_line(s, "local-b")
    assert re.search(r"status=200 dur_ms=[\d.]+ client=", line) and "upstream_ms=" not in line, line


def test_personalize_filter_name_arn_values_and_context(s):
    fv = '{"CATEGORY":"\\"shoes\\""}'
    st, _, doc = curl_json(s, "/recommend-items/shop/personalized/u-filter?numResults=2&filter=recent"
                              "&filterValues=" + urllib.parse.quote(fv, safe="")
                           + "&context=%7B%22DEVICE%22%3A%22Phone%22%7D")
    assert st == 200, doc
    body = last(PERSONALIZE, by_user("u-filter"))["body"]
    assert body["filterArn"] == P_ARN + "filter/recent", body  # a name becomes an ARN
    assert body["filterValues"] == {"CATEGORY": "\"shoes\""}, body
    assert body["context"] == {"DEVICE": "Phone"}, body
    arn = "arn:aws:personalize:us-east-1:999999999999:filter/theirs"
    st, _, _ = curl_json(s, "/recommend-items/shop/personalized/u-arn?filter=" + arn)
    assert st == 200
    assert last(PERSONALIZE, by_user("u-arn"))["body"]["filterArn"] == arn  # an ARN is passed through


def test_personalize_related_without_user(s):
    st, h, doc = curl_json(s, "/related-items/shop/similar/i-42?numResults=4")
    assert st == 200, doc
    assert len(doc["itemList"]) == 4
    body = last(PERSONALIZE, lambda r: (r["body"] or {}).get("itemId") == "i-42")["body"]
    assert body == {"campaignArn": P_ARN + "campaign/shop-sims", "itemId": "i-42", "numResults": 4}, body
    st, _, _ = curl_json(s, "/related-items/shop/similar/i-43?userId=u7")
    body = last(PERSONALIZE, lambda r: (r["body"] or {}).get("itemId") == "i-43")["body"]
    assert body["userId"] == "u7" and body["filterArn"] == P_ARN + "filter/exclude-purchased", body


def test_personalize_rerank_get_and_post(s):
    st, _, doc = curl_json(s, "/rerank-items/shop/ranking/u-rr/a,b,c")
    assert st == 200, doc
    assert [i["itemId"] for i in doc["personalizedRanking"]] == ["c", "b", "a"], doc
    req = last(PERSONALIZE, by_user("u-rr"))
    assert req["path"] == "/personalize-ranking"
    assert req["body"]["inputList"] == ["a", "b", "c"] and "numResults" not in req["body"], req["body"]
    st, h, doc = curl_json(s, "/rerank-items/shop/ranking/u-rr2", method="POST", data='["x","y"]',
                           headers=["Content-Type: application/json"])
    assert st == 200, doc
    assert [i["itemId"] for i in doc["personalizedRanking"]] == ["y", "x"]
    assert h["cache-control"] == "no-store"


def test_personalize_recommender_arn_and_promotions(s):
    st, _, doc = curl_json(s, "/recommend-items/shop/rfy/u-promo?numResults=3")
    assert st == 200, doc
    first = doc["itemList"][0]
    assert first["promotionName"] == "deals" and first["reason"] == ["Promoted item"], first
    body = last(PERSONALIZE, by_user("u-promo"))["body"]
    assert body["recommenderArn"] == P_ARN + "recommender/shop-rfy" and "campaignArn" not in body
    assert body["promotions"] == CONFIG["namespaces"]["shop"]["recommenders"]["recommend-items"]["rfy"][
        "variations"]["rfy"]["promotions"], body


def test_personalize_metadata_columns_clamped_to_50(s):
    st, _, doc = curl_json(s, "/recommend-items/media/top/u-meta?numResults=80")
    assert st == 200, doc
    assert len(doc["itemList"]) == 50, len(doc["itemList"])  # Personalize's limit with metadata (§14 #25)
    assert doc["itemList"][0]["metadata"] == {"title": "title of media-top-0", "genre": "genre of media-top-0"}
    body = last(PERSONALIZE, by_user("u-meta"))["body"]
    assert body["numResults"] == 50 and body["metadataColumns"] == {"ITEMS": ["TITLE", "GENRE"]}, body
    st, _, doc = curl_json(s, "/recommend-items/media/top/u-nometa?numResults=80&decorateItems=0")
    assert st == 200 and len(doc["itemList"]) == 80
    assert "metadata" not in doc["itemList"][0]
    body = last(PERSONALIZE, by_user("u-nometa"))["body"]
    assert "metadataColumns" not in body and body["numResults"] == 80, body


def test_endpoint_url_config_key_wins(s):
    st, _, doc = curl_json(s, "/recommend-items/shop/edge/u-edge?numResults=1")
    assert st == 200, doc
    req = last(PERSONALIZE_EDGE, by_user("u-edge"))
    assert req["sig_ok"], req["sig_why"]
    assert not PERSONALIZE.matching(by_user("u-edge"))


# ---- failures ----

def test_upstream_errors_map_to_statuses(s):
    base = "/recommend-items/shop/personalized/"
    what = "personalize-campaign variation 'up' of recommender 'personalized'"
    expect_error(s, base + "err-500", 502, "Personalize", "InternalServerError", what, "something broke")
    expect_error(s, base + "throttle", 429, "Personalize", "ThrottlingException", what, "Rate exceeded")
    expect_error(s, base + "invalid", 400, "Personalize", "InvalidInputException", what, "Invalid filter values")
    expect_error(s, base + "bad-json", 502, "Personalize", "InvalidUpstreamResponse", what, "not JSON")
    expect_error(s, base + "bad-shape", 502, "Personalize", "InvalidUpstreamResponse", "itemList[0].itemId")


def test_idempotent_calls_are_retried(s):
    st, _, doc = curl_json(s, "/recommend-items/shop/personalized/flaky-1?numResults=2")
    assert st == 200, doc
    assert len(PERSONALIZE.matching(by_user("flaky-1"))) == 2  # 503 once, then fine
    expect_error(s, "/recommend-items/shop/personalized/err-500", 502, "Personalize", "InternalServerError")
    assert len(PERSONALIZE.matching(by_user("err-500"))) >= 2  # retried (up to 3 attempts, within the budget)
    expect_error(s, "/recommend-items/shop/fn-broken/u", 502, "Function", "FunctionInvokeError")
    assert len(LAMBDA.matching(lambda r: "broken-fn" in r["path"])) == 1  # Invoke is never retried


def test_timeout_is_504(s):
    t0 = time.time()
    expect_error(s, "/recommend-items/shop/quick/slow-1500", 504, "Personalize", "UpstreamTimeout",
                 "variation 'q' of recommender 'quick'")
    assert time.time() - t0 < 1.2, "the server waited for the slow upstream"


def test_fallback_serves_and_says_so(s):
    st, h, doc = curl_json(s, "/recommend-items/shop/guarded/slow-1500?numResults=3")
    assert st == 200, doc
    assert h["x-personalization-fallback"] == "primary", h
    assert h["x-personalization-variation"] == "backup", h
    st, h, doc = curl_json(s, "/recommend-items/shop/guarded/err-500")
    assert st == 200 and h["x-personalization-fallback"] == "primary", (st, h, doc)
    # the caller's own mistakes are not masked
    expect_error(s, "/recommend-items/shop/guarded/invalid", 400, "Personalize", "InvalidInputException")
    st, h, _ = curl_json(s, "/recommend-items/shop/guarded/u-ok")
    assert st == 200 and "x-personalization-fallback" not in h and h["x-personalization-variation"] == "primary"


def test_circuit_breaker_opens(s):
    before = len(PERSONALIZE.matching(lambda r: (r["body"] or {}).get("campaignArn", "").endswith("shop-down")))
    codes = []
    for _ in range(10):
        st, _, doc = curl_json(s, "/recommend-items/shop/down/u-down")
        codes.append((st, doc["code"]))
        if st == 503:
            break
    assert codes[0] == (502, "InternalServerError"), codes
    assert codes[-1] == (503, "CircuitOpen"), codes
    st, _, doc = curl_json(s, "/recommend-items/shop/down/u-down")
    assert (st, doc["code"]) == (503, "CircuitOpen"), doc  # still open: answered at once
    calls = len(PERSONALIZE.matching(lambda r: (r["body"] or {}).get("campaignArn", "").endswith("shop-down")))
    assert calls - before == 5, calls - before  # the threshold (retries included); then nothing left the server


def test_bad_utf8_is_refused_before_the_upstream(s):
    expect_error(s, "/recommend-items/shop/personalized/bad%FFuser", 400, "Validation", "ValidationError", "UTF-8")


# ---- SageMaker, Lambda, post-processor, http ----

def test_sagemaker_invoke_endpoint(s):
    st, _, doc = curl_json(s, "/recommend-items/shop/sm/u-sm?numResults=3")
    assert st == 200, doc
    assert [i["itemId"] for i in doc["itemList"]] == ["sm-0", "sm-1", "sm-2"]
    req = last(SAGEMAKER, by_user("u-sm"))
    assert req["path"] == "/endpoints/ok-endpoint/invocations" and req["sig_ok"], req
    assert req["headers"]["content-type"] == "application/json" and req["headers"]["accept"] == "application/json"
    body = req["body"]
    assert body["version"] == "1.0" and body["action"] == "recommend-items" and body["numResults"] == 3, body
    assert body["recommender"]["path"] == "sm" and body["variation"]["endpointName"] == "ok-endpoint", body
    expect_error(s, "/recommend-items/shop/sm-broken/u", 502, "SageMaker", "ModelError", "model")


def test_lambda_function_type(s):
    st, _, doc = curl_json(s, "/recommend-items/shop/fn/u-fn?numResults=2&context=%7B%22DEVICE%22%3A%22TV%22%7D")
    assert st == 200, doc
    assert [i["itemId"] for i in doc["itemList"]] == ["fn-0", "fn-1"]
    req = last(LAMBDA, by_user("u-fn"))
    assert req["path"] == "/2015-03-31/functions/recs-fn/invocations", req["path"]
    assert req["headers"]["x-amz-invocation-type"] == "RequestResponse" and req["sig_ok"], req["sig_why"]
    body = req["body"]
    assert body["variation"]["type"] == "function" and body["context"] == {"DEVICE": "TV"}, body
    assert body["recommender"] == {"path": "fn", "config": CONFIG["namespaces"]["shop"]["recommenders"][
        "recommend-items"]["fn"]}, body["recommender"]
    doc = expect_error(s, "/recommend-items/shop/fn-broken/u", 502, "Function", "FunctionInvokeError", "boom")
    assert "variation 'b' of recommender 'fn-broken'" in doc["message"]


def test_post_processor_with_look_ahead(s):
    st, _, doc = curl_json(s, "/recommend-items/shop/post/u-post?numResults=5")
    assert st == 200, doc
    assert last(PERSONALIZE, by_user("u-post"))["body"]["numResults"] == 10  # 5 x lookAheadMultiplier 2
    pp = last(LAMBDA, lambda r: "post-fn" in r["path"])["body"]
    assert pp["userId"] == "u-post" and len(pp["response"]["itemList"]) == 10, pp
    assert pp["response"]["recommendationId"] == "RID-fake-shop-post"
    assert [i["itemId"] for i in doc["itemList"]] == ["shop-post-%d" % k for k in (9, 8, 7, 6, 5)], doc
    assert doc["itemList"][0]["reason"] == ["post-processed"] and doc["recommendationId"] == "RID-post"


def test_http_variation_template(s):
    st, _, doc = curl_json(s, "/related-items/shop/partner/item%20one?userId=u%2F1&numResults=4"
                              "&context=%7B%22A%22%3A%22b%22%7D")
    assert st == 200, doc
    assert [i["itemId"] for i in doc["itemList"]] == ["h-0", "h-1", "h-2", "h-3"]
    assert doc["itemList"][2]["metadata"] == {"rank": 2} and doc["recommendationId"] == "RID-http"
    path = last(HTTP, lambda r: "/related/item%20one" in r["path"])["path"]
    assert path == "/related/item%20one?n=4&u=u%2F1&ns=shop&ctx=%7B%22A%22%3A%22b%22%7D", path
    st, _, doc = curl_json(s, "/related-items/shop/partner/bad-shape")
    assert st == 502 and doc["type"] == "Http" and doc["code"] == "InvalidUpstreamResponse", doc


# ---- DynamoDB item metadata ----

def test_dynamodb_decoration(s):
    st, _, doc = curl_json(s, "/recommend-items/catalog/picks/u-ddb?numResults=3")
    assert st == 200, doc
    items = doc["itemList"]
    assert items[0]["metadata"] == {"name": "Tan Backpack", "price": 90.99, "stock": 3, "tags": ["outdoor", "bags"],
                                    "dims": {"h": 40}}, items[0]
    assert "metadata" not in items[1]  # not in the table: keeps its place, no metadata
    assert items[2]["metadata"] == {"name": "Trail Shoe", "price": 89.5}
    req = last(DYNAMODB)
    assert req["headers"]["x-amz-target"] == "DynamoDB_20120810.BatchGetItem" and req["sig_ok"], req["sig_why"]
    keys = req["body"]["RequestItems"]["PersonalizationApiItemMetadata_catalog"]["Keys"]
    assert sorted(k["id"]["S"] for k in keys) == ["catalog-picks-0", "catalog-picks-1", "catalog-picks-2"]
    # more unique ids than one BatchGetItem may ask for (100): split, in parallel, all found
    n = len(DYNAMODB.requests)
    st, _, doc = curl_json(s, "/recommend-items/catalog/picks/u-ddb-many?numResults=150")
    assert st == 200 and len(doc["itemList"]) == 150, doc
    sizes = sorted(len(r["body"]["RequestItems"]["PersonalizationApiItemMetadata_catalog"]["Keys"])
                   for r in DYNAMODB.requests[n:])
    assert sizes == [50, 100], sizes
    assert doc["itemList"][2]["metadata"]["name"] == "Trail Shoe"
    n = len(DYNAMODB.requests)
    st, _, doc = curl_json(s, "/recommend-items/catalog/picks/u-ddb2?numResults=3&decorateItems=false")
    assert st == 200 and "metadata" not in doc["itemList"][0]
    assert len(DYNAMODB.requests) == n  # no lookup when decoration is off


def test_dynamodb_unprocessed_keys_are_retried(s):
    t0 = time.time()
    st, _, doc = curl_json(s, "/recommend-items/catalog/late/u-late?numResults=4")
    assert st == 200, doc
    assert [i["metadata"]["rank"] for i in doc["itemList"]] == [0, 1, 2, 3], doc
    assert time.time() - t0 >= 0.25  # asked again after the 250 ms backoff
    unproc = DYNAMODB.matching(lambda r: "unproc-0" in json.dumps(r["body"] or {}))
    assert len(unproc) == 2, len(unproc)


def test_dynamodb_throttling_is_429(s):
    expect_error(s, "/recommend-items/catalog/hot/u-hot?numResults=2", 429, "DynamoDB",
                 "ProvisionedThroughputExceededException", "PersonalizationApiItemMetadata_catalog")


# ---- gRPC front ----

def grpc_call(s, method, req, resp_cls, timeout=10):
    ch = grpc.insecure_channel(s.grpc_target)
    try:
        fn = ch.unary_unary("/personalization.v1.PersonalizationService/" + method,
                            request_serializer=type(req).SerializeToString, response_deserializer=resp_cls.FromString)
        return fn.with_call(req, timeout=timeout)
    finally:
        ch.close()


def grpc_error(s, method, req, resp_cls, timeout=10):
    try:
        grpc_call(s, method, req, resp_cls, timeout)
    except grpc.RpcError as e:
        return e
    raise AssertionError("expected an error")


def test_grpc_remote_recommendations(s):
    resp, call = grpc_call(s, "RecommendItems", pb.RecommendItemsRequest(
        namespace="media", recommender="top", user_id="u-grpc", num_results=2), pb.RecommendationResponse)
    assert [i.item_id for i in resp.item_list] == ["media-top-0", "media-top-1"]
    assert resp.item_list[0].metadata["title"] == "title of media-top-0"  # Struct over gRPC
    assert resp.recommendation_id == "RID-fake-media-top"
    assert dict(call.initial_metadata())["x-personalization-variation"] == "top"
    resp, _ = grpc_call(s, "RerankItems", pb.RerankItemsRequest(
        namespace="shop", recommender="ranking", user_id="u-grpc", item_ids=["p", "q"]), pb.RerankResponse)
    assert [i.item_id for i in resp.personalized_ranking] == ["q", "p"]


def test_grpc_errors_and_fallback(s):
    e = grpc_error(s, "RecommendItems", pb.RecommendItemsRequest(namespace="shop", recommender="personalized",
                                                                  user_id="throttle"), pb.RecommendationResponse)
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e.code()
    trailers = dict(e.trailing_metadata())
    assert trailers["x-personalization-error-code"] == "ThrottlingException"
    assert trailers["x-personalization-error-type"] == "Personalize"
    e = grpc_error(s, "RecommendItems", pb.RecommendItemsRequest(namespace="shop", recommender="quick",
                                                                  user_id="slow-1500"), pb.RecommendationResponse)
    assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED and "UpstreamTimeout" in dict(e.trailing_metadata()).get(
        "x-personalization-error-code", ""), (e.code(), e.details())
    _, call = grpc_call(s, "RecommendItems", pb.RecommendItemsRequest(namespace="shop", recommender="guarded",
                                                                       user_id="slow-1200"), pb.RecommendationResponse)
    md = dict(call.initial_metadata())
    assert md["x-personalization-fallback"] == "primary" and md["x-personalization-variation"] == "backup", md


def test_grpc_client_deadline_bounds_the_upstream_call(s):
    t0 = time.time()
    e = grpc_error(s, "RecommendItems", pb.RecommendItemsRequest(
        namespace="shop", recommender="personalized", user_id="slow-2500"), pb.RecommendationResponse, timeout=0.4)
    assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    deadline = time.time() + 5
    while time.time() < deadline:  # the server's access line for it: the upstream call ended at the deadline
        lines = [l for l in s.read_log().splitlines()
                 if "access grpc RecommendItems" in l and "variation=up " in l and "error=UpstreamTimeout" in l]
        done = [re.search(r"status=(\d+) dur_ms=([\d.]+)", l) for l in lines]
        if done:
            assert float(done[-1].group(2)) < 1500, lines[-1]
            break
        time.sleep(0.05)
    else:
        raise AssertionError("no UpstreamTimeout access line:\n" + s.read_log()[-2000:])
    assert time.time() - t0 < 2.5


# ---- limits ----

def test_queue_full_is_429(s):
    small = Server(s.binary_path, args=SERVER_ARGS + ["--upstream-max-inflight", "1", "--upstream-max-queued", "0"])
    small.start()
    try:
        results = []

        def fire(u):
            results.append(curl_json(small, "/recommend-items/shop/personalized/" + u))
        threads = [threading.Thread(target=fire, args=("slow-700",))]
        threads[0].start()
        deadline = time.time() + 5
        while time.time() < deadline and not PERSONALIZE.matching(by_user("slow-700")):
            time.sleep(0.01)
        fire("u-second")  # the only slot is taken and no one may wait: rejected at once
        threads[0].join()
        codes = sorted((st, doc.get("code")) for st, _, doc in results)
        assert codes[0][0] == 200 and codes[1] == (429, "UpstreamQueueFull"), codes
        assert not PERSONALIZE.matching(by_user("u-second"))
    finally:
        small.stop()
        small.cleanup()


def test_zz_every_aws_call_was_signed_and_connections_reused(s):
    for fake in (PERSONALIZE, PERSONALIZE_EDGE, SAGEMAKER, LAMBDA, DYNAMODB):
        bad = fake.matching(lambda r: not r["sig_ok"])
        assert not bad, bad[0]["sig_why"]
        assert fake.requests, "a fake was never called"
        for r in fake.requests:
            assert r["headers"]["x-amz-security-token"] == fakes.SESSION_TOKEN
    assert len(PERSONALIZE.connections) < len(PERSONALIZE.requests) / 2, (
        len(PERSONALIZE.connections), len(PERSONALIZE.requests))


if __name__ == "__main__":
    run_tests(globals(), server_args=SERVER_ARGS)
