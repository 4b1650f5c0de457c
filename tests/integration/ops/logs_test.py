"""JSON access logs with request ids and W3C trace ids, over REST (curl) and gRPC (grpcio): the
server runs with --log-format json, so every line it writes must parse as JSON; the request id a
response carries (X-Request-Id / x-request-id metadata, errors included) is the one its access line
names, and an incoming traceparent's trace id is logged.

Usage: logs_test.py SERVER_BINARY
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import curl, find_generated_python, run_tests  # noqa: E402

find_generated_python()
import grpc  # noqa: E402
from personalization.v1 import personalization_pb2 as pb  # noqa: E402

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SVC = "/personalization.v1.PersonalizationService/"


def log_lines(s):
    lines = [line for line in s.read_log().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is JSON, or this raises


def access_line(s, request_id, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for line in log_lines(s):
            if line.get("msg") == "access" and line.get("request_id") == request_id:
                return line
        time.sleep(0.05)
    raise AssertionError("no access line for request %s" % request_id)


def test_every_line_is_json(s):
    lines = log_lines(s)
    assert lines and all({"time", "level", "msg"} <= set(line) for line in lines), lines[:3]
    assert any("REST  listening" in line["msg"] for line in lines)


def test_rest_access_line(s):
    status, hdrs, _ = curl(s, "/recommend-items/demo/for-you/user-0001?numResults=2",
                           headers=("traceparent: " + TRACEPARENT,))
    assert status == 200
    rid = hdrs["x-request-id"]
    assert len(rid) == 16 and "X-Request-Id" in hdrs["access-control-expose-headers"]
    line = access_line(s, rid)
    assert line["level"] == "info" and line["protocol"] == "rest" and line["status"] == 200
    assert line["route"] == "GET /recommend-items/{namespace}/{recommender}/{user_id}"
    assert line["namespace"] == "demo" and line["recommender"] == "for-you" and line["variation"]
    assert line["trace_id"] == TRACE_ID and line["duration_ms"] >= 0 and line["cache"] in ("miss", "hit")


def test_caller_request_id_and_errors(s):
    status, hdrs, _ = curl(s, "/recommend-items/demo/nope/user-0001", headers=("X-Request-Id: caller-7",))
    assert status == 404 and hdrs["x-request-id"] == "caller-7"  # errors carry it too
    line = access_line(s, "caller-7")
    assert line["status"] == 404 and line["error"] == "RecommenderNotConfigured" and "trace_id" not in line
    # an invalid id or traceparent is replaced / ignored, never echoed
    status, hdrs, _ = curl(s, "/recommend-items/demo/for-you/user-0001",
                           headers=("X-Request-Id: has spaces in it", "traceparent: 00-zz-bad-01"))
    assert status == 200 and hdrs["x-request-id"] != "has spaces in it"
    assert "trace_id" not in access_line(s, hdrs["x-request-id"])


def test_grpc_metadata_and_access_line(s):
    with grpc.insecure_channel(s.grpc_target) as ch:
        fn = ch.unary_unary(SVC + "RecommendItems", request_serializer=pb.RecommendItemsRequest.SerializeToString,
                            response_deserializer=pb.RecommendationResponse.FromString)
        _, call = fn.with_call(pb.RecommendItemsRequest(namespace="demo", recommender="for-you", user_id="user-0002"),
                               metadata=(("traceparent", TRACEPARENT),), timeout=10)
        rid = dict(call.initial_metadata())["x-request-id"]
        line = access_line(s, rid)
        assert line["protocol"] == "grpc" and line["status"] == 0 and line["route"] == "RecommendItems"
        assert line["trace_id"] == TRACE_ID and line["namespace"] == "demo"
        # a cache hit sends the prepared response's metadata by reference: still this request's own id
        _, hit = fn.with_call(pb.RecommendItemsRequest(namespace="demo", recommender="for-you", user_id="user-0002"),
                              metadata=(("x-request-id", "grpc-hit-1"),), timeout=10)
        md, first = dict(hit.initial_metadata()), dict(call.initial_metadata())
        assert md["x-request-id"] == "grpc-hit-1" and access_line(s, "grpc-hit-1")["cache"] == "hit", md
        assert {k: v for k, v in md.items() if k != "x-request-id"} == \
            {k: v for k, v in first.items() if k != "x-request-id"}, (md, first)
        try:
            fn.with_call(pb.RecommendItemsRequest(namespace="demo", recommender="nope", user_id="u"),
                         metadata=(("x-request-id", "grpc-caller-1"),), timeout=10)
            raise AssertionError("expected NOT_FOUND")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND
            assert dict(e.initial_metadata())["x-request-id"] == "grpc-caller-1"
    assert access_line(s, "grpc-caller-1")["status"] == grpc.StatusCode.NOT_FOUND.value[0]


if __name__ == "__main__":
    run_tests(globals(), server_args=["--demo", "--log-format", "json"])
