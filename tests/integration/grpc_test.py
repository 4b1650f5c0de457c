"""gRPC front, end to end: the real binary on the embedded demo, driven with python3-grpcio."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import auto_relay_threads, find_generated_python, run_tests  # noqa: E402

PROTO_PY = find_generated_python()
import grpc  # noqa: E402
from personalization.v1 import personalization_pb2 as pb  # noqa: E402

SVC = "/personalization.v1.PersonalizationService/"


def stub(s, name, req_cls, resp_cls):
    ch = grpc.insecure_channel(s.grpc_target)
    return ch, ch.unary_unary(SVC + name, request_serializer=req_cls.SerializeToString,
                              response_deserializer=resp_cls.FromString)


def call(s, name, req, resp_cls, timeout=10, metadata=None):
    ch, fn = stub(s, name, type(req), resp_cls)
    try:
        return fn.with_call(req, timeout=timeout, metadata=metadata)
    finally:
        ch.close()


def expect_error(s, name, req, resp_cls, code):
    try:
        call(s, name, req, resp_cls)
    except grpc.RpcError as e:
        assert e.code() == code, (e.code(), e.details())
        assert e.details(), "error without a message"
        return e
    raise AssertionError("%s succeeded, expected %s" % (name, code))


def test_relay_threads_auto_is_one_in_plaintext(s):
    """--grpc-relay-threads defaults to auto: one thread in plaintext (it only accepts and waits for
    prefaces; grpc core reads the sockets itself, through the guard)."""
    assert auto_relay_threads(tls=False) == 1
    assert "1 relay thread(s)" in s.read_log(), s.read_log()[-2000:]


def test_recommend_items(s):
    resp, c = call(s, "RecommendItems", pb.RecommendItemsRequest(namespace="demo", recommender="for-you",
                                                                 user_id="user-0001", num_results=7),
                   pb.RecommendationResponse)
    assert len(resp.item_list) == 7
    assert resp.recommendation_id.startswith("RID-")
    assert all(it.HasField("score") for it in resp.item_list)
    md = dict(c.initial_metadata())
    assert md["x-personalization-config-version"] == "demo-1", md
    assert md["cache-control"] == "private,max-age=10", md
    assert md["x-personalization-variation"] == "builtin-personalized", md


def test_default_num_results_is_25(s):
    resp, _ = call(s, "RecommendItems", pb.RecommendItemsRequest(namespace="demo", recommender="popular",
                                                                 user_id="u"), pb.RecommendationResponse)
    assert len(resp.item_list) == 25


def test_related_and_rerank(s):
    resp, _ = call(s, "RelatedItems", pb.RelatedItemsRequest(namespace="demo", recommender="similar",
                                                             item_id="sku-00248", num_results=5),
                   pb.RecommendationResponse)
    assert len(resp.item_list) == 5 and "sku-00248" not in [i.item_id for i in resp.item_list]
    ids = ["sku-00632", "sku-00248", "sku-00165", "sku-00580", "sku-00002", "unknown-id"]
    resp, _ = call(s, "RerankItems", pb.RerankItemsRequest(namespace="demo", recommender="ranking",
                                                           user_id="user-0001", item_ids=ids), pb.RerankResponse)
    ranked = [i.item_id for i in resp.personalized_ranking]
    assert sorted(ranked) == sorted(ids) and ranked[-1] == "unknown-id"
    assert not resp.personalized_ranking[-1].HasField("score")


def test_put_events(s):
    req = pb.PutEventsRequest(namespace="demo", session_id="g-s1", user_id="grpc-user",
                              event_list=[pb.Event(event_type="click", item_id="sku-00126"),
                                          pb.Event(event_id="my-id", event_type="view", item_id="sku-00127")])
    resp, c = call(s, "PutEvents", req, pb.PutEventsResponse)
    assert len(resp.event_ids) == 2 and resp.event_ids[1] == "my-id"
    assert len(resp.event_ids[0]) == 36  # minted UUID
    assert dict(c.initial_metadata())["cache-control"] == "no-store"
    # learned: rerank puts what grpc-user clicked near first
    r, _ = call(s, "RerankItems", pb.RerankItemsRequest(namespace="demo", recommender="ranking", user_id="grpc-user",
                                                        item_ids=["sku-00632", "sku-00128", "sku-01100"]),
                pb.RerankResponse)
    assert len(r.personalized_ranking) == 3


def test_errors_are_statuses(s):
    e = expect_error(s, "RecommendItems", pb.RecommendItemsRequest(namespace="nope", recommender="x", user_id="u"),
                     pb.RecommendationResponse, grpc.StatusCode.NOT_FOUND)
    trailers = dict(e.trailing_metadata() or ())
    assert trailers.get("x-personalization-error-code") == "RecommenderNotConfigured", trailers
    expect_error(s, "RecommendItems", pb.RecommendItemsRequest(namespace="demo", recommender="for-you", user_id="u",
                                                               num_results=-1),
                 pb.RecommendationResponse, grpc.StatusCode.INVALID_ARGUMENT)
    expect_error(s, "RecommendItems", pb.RecommendItemsRequest(namespace="demo", recommender="for-you"),
                 pb.RecommendationResponse, grpc.StatusCode.INVALID_ARGUMENT)
    e = expect_error(s, "PutEvents", pb.PutEventsRequest(namespace="demo", session_id="s",
                                                         event_list=[pb.Event(event_type="c")] * 11),
                     pb.PutEventsResponse, grpc.StatusCode.INVALID_ARGUMENT)
    assert "10" in e.details()
    expect_error(s, "PutEvents", pb.PutEventsRequest(namespace="nope", event_list=[pb.Event(event_type="c")]),
                 pb.PutEventsResponse, grpc.StatusCode.NOT_FOUND)


def test_unknown_method_is_unimplemented(s):
    ch = grpc.insecure_channel(s.grpc_target)
    fn = ch.unary_unary(SVC + "Nope", request_serializer=lambda x: x, response_deserializer=lambda x: x)
    try:
        fn(b"", timeout=5)
        raise AssertionError("expected UNIMPLEMENTED")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNIMPLEMENTED, e.code()
    finally:
        ch.close()


def test_garbage_payload_is_invalid_argument(s):
    ch = grpc.insecure_channel(s.grpc_target)
    fn = ch.unary_unary(SVC + "RecommendItems", request_serializer=lambda x: x, response_deserializer=lambda x: x)
    try:
        fn(b"\xff\xff\xff\xff", timeout=5)
        raise AssertionError("expected INVALID_ARGUMENT")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.code()
    finally:
        ch.close()


def test_metadata_reaches_the_core_and_deadline(s):
    # an already-expired deadline is reported as DEADLINE_EXCEEDED, not served. grpc core (1.51)
    # keeps deadlines in whole milliseconds, so a 1 us timeout becomes 1 ms, and a server that
    # answers within that millisecond legitimately serves it: most attempts must still expire, and
    # none may fail any other way.
    expired = 0
    for _ in range(10):
        try:
            call(s, "RecommendItems", pb.RecommendItemsRequest(namespace="demo", recommender="for-you", user_id="u"),
                 pb.RecommendationResponse, timeout=0.000001)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.code()
            expired += 1
    assert expired >= 5, "expected DEADLINE_EXCEEDED, got %d of 10" % expired
    resp, _ = call(s, "RecommendItems", pb.RecommendItemsRequest(namespace="demo", recommender="for-you",
                                                                 user_id="u"),
                   pb.RecommendationResponse, metadata=[("cloudfront-viewer-country", "DE")])
    assert len(resp.item_list) == 25


def test_health_check(s):
    ch = grpc.insecure_channel(s.grpc_target)
    check = ch.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda x: x,
                           response_deserializer=lambda x: x)
    try:
        # HealthCheckRequest{service=""} is empty; HealthCheckResponse{status=SERVING(1)} is 08 01
        assert check(b"", timeout=5) == b"\x08\x01"
        name = b"personalization.v1.PersonalizationService"
        assert check(b"\x0a" + bytes([len(name)]) + name, timeout=5) == b"\x08\x01"
        try:
            check(b"\x0a\x04nope", timeout=5)
            raise AssertionError("expected NOT_FOUND")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND
    finally:
        ch.close()


def test_many_concurrent_calls(s):
    ch, fn = stub(s, "RecommendItems", pb.RecommendItemsRequest, pb.RecommendationResponse)
    try:
        futures = [fn.future(pb.RecommendItemsRequest(namespace="demo", recommender="for-you",
                                                      user_id="user-%04d" % (i % 400 + 1), num_results=5),
                             timeout=20) for i in range(300)]
        results = [f.result() for f in futures]
        assert all(len(r.item_list) == 5 for r in results)
    finally:
        ch.close()


def test_example_client(s):
    import subprocess
    here = os.path.dirname(os.path.abspath(__file__))
    client = os.path.join(here, "..", "..", "clients", "python", "recommend.py")
    env = dict(os.environ, PZ_PROTO_PY=PROTO_PY)
    out = subprocess.run(["/usr/bin/python3", client, "--target", s.grpc_target, "--user", "user-0001"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert "RecommendItems: 5 items" in out.stdout, out.stdout
    assert "PutEvents: stored event" in out.stdout, out.stdout
    assert "NOT_FOUND" in out.stdout, out.stdout


if __name__ == "__main__":
    run_tests(globals())
