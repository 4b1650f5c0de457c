"""The results page in a real browser (issue #14): headless Chromium loads the page of an experiment
seeded with known exposures and conversions, the test checks what a reader sees (the verdict in
plain words, one bar with its 95 % interval per variation, the figures, nothing fetched from any
other host) and saves a screenshot as a test artifact ($TEST_UNDECLARED_OUTPUTS_DIR under Bazel)."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import TOOLS, curl_json, run_tests  # noqa: E402
import buckets  # noqa: E402

TMP = tempfile.mkdtemp(prefix="pz-page-")
CONFIG_PATH = os.path.join(TMP, "config.json")
BUILTIN = {"type": "builtin", "strategy": "popular"}
with open(CONFIG_PATH, "w") as f:
    json.dump({"version": "page-1", "namespaces": {"shop": {"recommenders": {"recommend-items": {"home": {
        "experiments": {"layout": {"method": "local", "description": "new home layout",
                                   "metrics": {"clicks": {"entityIdKey": "u", "valueKey": "v"}}}},
        "variations": {"control": BUILTIN, "redesign": BUILTIN}}}}}}}, f)


def seed(s):
    """240 users exposed once; 8 % of control and 25 % of redesign convert: a clear winner."""
    users = ["page-%03d" % i for i in range(240)]
    n = {"control": 0, "redesign": 0}
    x = {"control": 0, "redesign": 0}
    for i, u in enumerate(users):
        status, _, doc = curl_json(s, "/recommend-items/shop/home/%s?numResults=1" % u)
        v = doc["matchedExperiment"]["variation"]
        assert v == buckets.variation("shop/home", "layout", u, ["control", "redesign"])
        n[v] += 1
        if (v == "redesign" and i % 4 == 0) or (v == "control" and i % 12 == 0):
            status, _, _ = curl_json(s, "/events/shop", method="POST", data=json.dumps(
                {"userId": u, "experimentConversions": [{"recommender": "home"}]}),
                headers=("Content-Type: application/json",))
            assert status == 200
            x[v] += 1
    return n, x


def test_the_page_in_headless_chromium(s):
    n, x = seed(s)
    import time
    deadline = time.time() + 20
    while time.time() < deadline:
        doc = curl_json(s, "/experiments/shop/home/layout")[2]
        conv = sum(int(v["convertedUsers"]) for v in doc["metrics"][0]["variations"])
        if int(doc["usersExposed"]) == 240 and conv == x["control"] + x["redesign"]:
            break
        time.sleep(0.1)
    out_dir = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR", TMP)
    shot = os.path.join(out_dir, "experiment-results.png")
    env = dict(os.environ, NODE_PATH=TOOLS)
    p = subprocess.run(["node", os.path.join(HERE, "page_check.js"), s.url("/experiments/shop/home/layout"), shot],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    seen = json.loads(p.stdout.strip().splitlines()[-1])
    assert seen["verdict"] == doc["verdict"] and seen["verdict"].startswith("redesign beats control with"), seen
    assert len(seen["bars"]) == 2 and seen["intervals"] == 2, seen
    # the bars are drawn to scale: their widths are in the ratio of the two rates
    rates = {v["variation"]: v["conversionRate"] for v in doc["metrics"][0]["variations"]}
    assert abs(seen["bars"][1] / seen["bars"][0] - rates["redesign"] / rates["control"]) < 0.02, (seen, rates)
    rows = "\n".join(seen["rows"])
    assert ("%d" % n["redesign"]) in rows and "P(beats control)" in rows, rows
    origin = s.url("/")
    assert all(r.startswith(origin) for r in seen["requests"]), seen["requests"]  # no CDN, no other host
    assert os.path.getsize(shot) > 10000, shot
    print("screenshot: %s" % shot)


run_tests(globals(), server_args=["--config", CONFIG_PATH])
