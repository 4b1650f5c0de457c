"""The JavaScript client example (fetch for REST, @grpc/grpc-js for gRPC) against the demo."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO_ROOT, TOOLS, run_tests  # noqa: E402


def test_js_client(s):
    script = os.path.join(REPO_ROOT, "clients", "js", "client.js")
    env = dict(os.environ, NODE_PATH=TOOLS)
    out = subprocess.run(["node", script, "--rest", s.url(""), "--grpc", s.grpc_target, "--user", "user-0001"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout
    assert "REST 200: sku-" in lines and "config demo-1" in lines, lines
    assert "REST events 200" in lines, lines
    assert "REST error 400: Validation/ValidationError" in lines, lines
    assert "gRPC RecommendItems: sku-" in lines, lines
    assert "gRPC RerankItems: sku-" in lines, lines
    assert "gRPC error: NOT_FOUND" in lines, lines


if __name__ == "__main__":
    run_tests(globals())
