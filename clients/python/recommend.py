#!/usr/bin/python3
"""Example gRPC client (Debian python3-grpcio + python3-protobuf) for PersonalizationService.

Generate the message module once (it lands in bazel-bin/proto):
    bazel build //proto:personalization_py_gen
Then, with the demo server running (bazel/demo.sh):
    /usr/bin/python3 clients/python/recommend.py --target 127.0.0.1:50051 --user user-0001

It calls RecommendItems, then reports a click with PutEvents, then RerankItems, printing what
comes back, including the response metadata (config version, cache-control, variation).
No generated gRPC stubs are needed: grpc's generic unary calls take the message classes.
"""
import argparse
import os
import sys

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
for candidate in (os.path.join(HERE, "..", "..", "bazel-bin", "proto"), os.environ.get("PZ_PROTO_PY", "")):
    if candidate and os.path.isdir(candidate):
        sys.path.insert(0, candidate)
from personalization.v1 import personalization_pb2 as pb  # noqa: E402

SERVICE = "/personalization.v1.PersonalizationService/"


def method(channel, name, request_cls, response_cls):
    return channel.unary_unary(SERVICE + name, request_serializer=request_cls.SerializeToString,
                               response_deserializer=response_cls.FromString)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="127.0.0.1:50051")
    ap.add_argument("--namespace", default="demo")
    ap.add_argument("--user", default="user-0001")
    ap.add_argument("--num-results", type=int, default=5)
    args = ap.parse_args()

    with grpc.insecure_channel(args.target) as channel:
        recommend = method(channel, "RecommendItems", pb.RecommendItemsRequest, pb.RecommendationResponse)
        put_events = method(channel, "PutEvents", pb.PutEventsRequest, pb.PutEventsResponse)
        rerank = method(channel, "RerankItems", pb.RerankItemsRequest, pb.RerankResponse)

        resp, call = recommend.with_call(
            pb.RecommendItemsRequest(namespace=args.namespace, recommender="for-you", user_id=args.user,
                                     num_results=args.num_results), timeout=5)
        meta = dict(call.initial_metadata())
        print("RecommendItems: %d items, recommendationId %s, config version %s, variation %s" % (
            len(resp.item_list), resp.recommendation_id, meta.get("x-personalization-config-version"),
            meta.get("x-personalization-variation")))
        for item in resp.item_list:
            print("  %-12s score %.4f" % (item.item_id, item.score))
        if not resp.item_list:
            return 0

        clicked = resp.item_list[0].item_id
        ack = put_events(pb.PutEventsRequest(
            namespace=args.namespace, session_id="example-session", user_id=args.user,
            event_list=[pb.Event(event_type="click", item_id=clicked, recommendation_id=resp.recommendation_id)]),
            timeout=5)
        print("PutEvents: stored event %s (click on %s)" % (ack.event_ids[0], clicked))

        ids = [item.item_id for item in resp.item_list][::-1]
        ranked = rerank(pb.RerankItemsRequest(namespace=args.namespace, recommender="ranking", user_id=args.user,
                                              item_ids=ids), timeout=5)
        print("RerankItems: %s" % ", ".join(i.item_id for i in ranked.personalized_ranking))

        try:
            recommend(pb.RecommendItemsRequest(namespace="no-such-namespace", recommender="for-you",
                                               user_id=args.user), timeout=5)
        except grpc.RpcError as e:
            print("Errors are gRPC statuses: %s: %s" % (e.code().name, e.details()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
