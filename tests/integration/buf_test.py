"""gRPC server reflection with a real third-party client: `buf curl` (npm @bufbuild/buf), which
needs no .proto file: it learns the schema from the server."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TOOLS, run_tests  # noqa: E402

BUF = os.path.join(TOOLS, ".bin", "buf")


def buf(s, *args, data=None, reflect=None):
    cmd = [BUF, "curl", "--protocol", "grpc", "--http2-prior-knowledge"]
    if reflect:
        cmd += ["--reflect-protocol", reflect]
    if data is not None:
        cmd += ["-d", json.dumps(data)]
    cmd += list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def base(s):
    return "http://%s" % s.grpc_target


def test_buf_is_installed(s):
    assert os.access(BUF, os.X_OK), "run bazel/setup.sh --test (installs buf into /opt/pz-test-tools)"


def test_list_services(s):
    for reflect in ("grpc-v1", "grpc-v1alpha"):
        out = buf(s, "--list-services", base(s), reflect=reflect)
        assert out.returncode == 0, out.stderr
        services = out.stdout.split()
        assert "personalization.v1.PersonalizationService" in services, out.stdout
        assert "grpc.health.v1.Health" in services, out.stdout


def test_list_methods(s):
    out = buf(s, "--list-methods", base(s))
    assert out.returncode == 0, out.stderr
    for m in ("RecommendItems", "RelatedItems", "RerankItems", "PutEvents"):
        assert "personalization.v1.PersonalizationService/" + m in out.stdout, out.stdout


def test_call_with_json_and_no_proto_file(s):
    out = buf(s, base(s) + "/personalization.v1.PersonalizationService/RecommendItems",
              data={"namespace": "demo", "recommender": "for-you", "userId": "user-0001", "numResults": 3})
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert len(doc["itemList"]) == 3 and doc["itemList"][0]["itemId"].startswith("sku-"), doc
    assert doc["recommendationId"].startswith("RID-")


def test_events_and_errors_through_buf(s):
    out = buf(s, base(s) + "/personalization.v1.PersonalizationService/PutEvents",
              data={"namespace": "demo", "sessionId": "b1", "eventList": [{"eventType": "click", "itemId": "sku-1"}]})
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["eventIds"]) == 1
    out = buf(s, base(s) + "/personalization.v1.PersonalizationService/RecommendItems",
              data={"namespace": "nope", "recommender": "x", "userId": "u"})
    assert out.returncode != 0
    assert "not_found" in out.stderr.lower() or "not found" in out.stderr.lower(), out.stderr


def test_health_through_buf(s):
    out = buf(s, base(s) + "/grpc.health.v1.Health/Check", data={})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "SERVING", out.stdout


if __name__ == "__main__":
    run_tests(globals())
