"""gRPC call latency over TLS (issue 15): p50/p99 of sequential unary RecommendItems cache hits from
python3-grpcio, over TLS and, as the baseline measured in the same run, plaintext on the same binary;
given a second binary (e.g. main's before a change), both side by side. Servers run at once and are
called in alternating rounds so machine load hits every column alike. Certificates are made with the
openssl command line.

  bazel build -c opt --symlink_prefix=/ //server:personalization-server //proto:personalization_py_gen
  /usr/bin/python3 tests/bench/auth/tls_latency.py "$(bazel info -c opt bazel-bin)/server/personalization-server" [BEFORE]

PZ_BENCH_CALLS (calls per round and server, default 2000) and PZ_BENCH_ROUNDS (default 5).
"""
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "integration"))
from harness import Server, find_generated_python, make_pki  # noqa: E402

find_generated_python()
import grpc  # noqa: E402
from personalization.v1 import personalization_pb2 as pb  # noqa: E402

RECOMMEND = "/personalization.v1.PersonalizationService/RecommendItems"
CALLS = int(os.environ.get("PZ_BENCH_CALLS", "2000"))
ROUNDS = int(os.environ.get("PZ_BENCH_ROUNDS", "5"))


def percentile(lat, q):
    return lat[min(len(lat) - 1, int(q * len(lat)))]


def main():
    binaries = [("this build", sys.argv[1])] + ([("before", sys.argv[2])] if len(sys.argv) > 2 else [])
    d = tempfile.mkdtemp(prefix="pz-tls-bench-")
    servers, columns = [], []
    try:
        make_pki(d)
        with open(os.path.join(d, "ca.pem"), "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        for label, binary in binaries:
            for mode in ("plaintext", "TLS"):
                tls = ["--tls-cert", os.path.join(d, "server.pem"), "--tls-key", os.path.join(d, "server.key")]
                srv = Server(os.path.abspath(binary), args=["--demo"] + (tls if mode == "TLS" else []))
                srv.start()
                servers.append(srv)
                ch = grpc.secure_channel(srv.grpc_target, creds) if mode == "TLS" else grpc.insecure_channel(
                    srv.grpc_target)
                call = ch.unary_unary(RECOMMEND, request_serializer=pb.RecommendItemsRequest.SerializeToString,
                                      response_deserializer=pb.RecommendationResponse.FromString)
                columns.append({"name": "%s, %s" % (label, mode), "call": call, "channel": ch, "lat": []})
        req = pb.RecommendItemsRequest(namespace="demo", recommender="for-you", user_id="user-0001", num_results=5)
        for c in columns:  # connect, and the first call fills the response cache
            for _ in range(200):
                c["call"](req, timeout=10)
        for _ in range(ROUNDS):
            for c in columns:
                for _ in range(CALLS):
                    t0 = time.perf_counter()
                    c["call"](req, timeout=10)
                    c["lat"].append((time.perf_counter() - t0) * 1e6)
        print("gRPC unary RecommendItems cache hits, sequential, one channel, python3-grpcio: %d rounds x %d calls"
              % (ROUNDS, CALLS))
        print("%-28s %10s %10s" % ("", "p50 (µs)", "p99 (µs)"))
        for c in columns:
            lat = sorted(c["lat"])
            print("%-28s %10.0f %10.0f" % (c["name"], percentile(lat, 0.5), percentile(lat, 0.99)))
            c["channel"].close()
    finally:
        for srv in servers:
            srv.stop(expect_clean=False)
            srv.cleanup()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
