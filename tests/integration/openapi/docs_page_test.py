"""Swagger UI at /docs in a real browser (issue #16): headless Chromium loads the page the server
serves, which lists the operations of the served document; "Try it out" on recommend-items returns
200 with items; nothing is fetched from another host; the screenshots are kept as test artifacts
($TEST_UNDECLARED_OUTPUTS_DIR under Bazel). Without swagger-ui-dist installed, /docs says so (503)."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from harness import TOOLS, Server, curl, curl_json, run_tests  # noqa: E402

TMP = tempfile.mkdtemp(prefix="pz-docs-page-")


def test_swagger_ui_in_headless_chromium(s):
    doc = curl_json(s, "/openapi.json")[2]
    out_dir = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR", TMP)
    shot = os.path.join(out_dir, "swagger-ui")
    op = "/recommend-items/demo/for-you/{user_id}"
    p = subprocess.run(["node", os.path.join(HERE, "docs_check.js"), s.url("/docs"), op, shot],
                       capture_output=True, text=True, timeout=180, env=dict(os.environ, NODE_PATH=TOOLS))
    assert p.returncode == 0, p.stdout + p.stderr
    seen = json.loads(p.stdout.strip().splitlines()[-1])
    assert seen["title"].startswith(doc["info"]["title"]) and "demo-1" in seen["title"], seen["title"]
    listed = sorted(o.replace("\u200b", "") for o in seen["operations"])
    documented = sorted("%s %s" % (m.upper(), path) for path, item in doc["paths"].items() for m in item
                        if m in ("get", "post"))  # a path item's `servers` is not an operation
    assert listed == documented, (listed, documented)
    assert seen["status"] == "200", seen["status"]
    body = json.loads(seen["body"])
    assert len(body["itemList"]) > 0 and all(i["itemId"].startswith("sku-") for i in body["itemList"]), body
    origin = s.url("")
    others = [u for u in seen["requests"] if not u.startswith(origin + "/") and not u.startswith("data:")]
    assert others == [], others
    assert any(u.startswith(s.url("/recommend-items/demo/for-you/user-0001")) for u in seen["requests"]), seen
    assert seen["consoleErrors"] == [], seen["consoleErrors"]
    for name in ("swagger-ui-overview.png", "swagger-ui-try-it-out.png"):
        assert os.path.getsize(os.path.join(out_dir, name)) > 10000, name


def test_page_headers(s):
    status, hdrs, body = curl(s, "/docs")
    assert status == 200 and hdrs["content-type"] == "text/html; charset=utf-8", (status, hdrs)
    assert "script-src" not in hdrs["content-security-policy"] and "default-src 'self'" in \
        hdrs["content-security-policy"], hdrs
    assert b"https://" not in body and b"http://" not in body
    status, hdrs, body = curl(s, "/docs/swagger-ui-bundle.js")
    assert status == 200 and hdrs["content-type"].startswith("text/javascript") and len(body) > 100000, status
    status, _, _ = curl(s, "/docs/swagger-ui-bundle.js", headers=("If-None-Match: " + hdrs["etag"],))
    assert status == 304
    for path in ("/docs/package.json", "/docs/..%2Fpackage.json", "/docs/"):
        status, _, doc = curl_json(s, path)
        assert status == 404 and doc["code"] == "RouteNotFound", (path, status, doc)


def test_without_swagger_ui_dist_the_page_says_what_to_install(s):
    srv = Server(s.binary_path, args=["--demo", "--swagger-ui-dir", os.path.join(TMP, "missing")]).start()
    try:
        status, _, doc = curl_json(srv, "/docs")
        assert status == 503 and doc["code"] == "DocsUnavailable" and "swagger-ui-dist" in doc["message"], doc
        assert "swagger-ui-dist" in srv.read_log()  # the start-up warning
        status, _, _ = curl_json(srv, "/openapi.json")
        assert status == 200
    finally:
        srv.stop()
        srv.cleanup()


if __name__ == "__main__":
    run_tests(globals())
