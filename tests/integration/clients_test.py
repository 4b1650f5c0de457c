"""The client examples in clients/ run verbatim against the demo server."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO_ROOT, run_tests  # noqa: E402


def test_curl_examples(s):
    script = os.path.join(REPO_ROOT, "clients", "shell", "curl-examples.sh")
    out = subprocess.run(["bash", script, s.url("")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "HTTP/1.1 200" in text and "x-personalization-config-version: demo-1" in text.lower(), text[:2000]
    assert text.count('"itemList"') == 2, text
    assert text.count('"personalizedRanking"') == 2, text
    assert '"code":"ValidationError"' in text, text


def test_c_client(s):
    binary = os.path.join(REPO_ROOT, "clients", "c", "recommend")
    out = subprocess.run([binary, s.grpc_target, "user-0001", "4"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("recommendationId RID-"), out.stdout
    assert sum(1 for l in lines if l.strip().startswith("sku-")) == 4, out.stdout
    assert "x-personalization-config-version: demo-1" in out.stdout, out.stdout
    # a negative count is invalid (0 is an empty list since issue 12)
    out = subprocess.run([binary, s.grpc_target, "user-0001", "-1"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "status 3" in out.stderr, out.stderr  # INVALID_ARGUMENT


if __name__ == "__main__":
    run_tests(globals())
