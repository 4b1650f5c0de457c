"""A/B experiments end to end (issue #14): the real binary driven with curl (REST) and
python3-grpcio (gRPC). Assignments are checked against an independent implementation of the bucket
scheme (buckets.py); every figure of the results against values computed here from what the test
sent (rates, Wilson intervals, z-test p-values, and the probability to beat the control by
numerical integration of the Beta posteriors, a different method from the server's closed form)."""
import json
import math
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import Server, curl, curl_json, find_generated_python, run_tests  # noqa: E402
import buckets  # noqa: E402

find_generated_python()
import grpc  # noqa: E402
from personalization.v1 import personalization_pb2 as pb  # noqa: E402

SVC = "/personalization.v1.PersonalizationService/"
TMP = tempfile.mkdtemp(prefix="pz-exp-")
FILE_PATH = os.path.join(TMP, "records.jsonl")
METRICS = {"clicks": {"entityIdKey": "userDetails.userId", "valueKey": "details.clicked"},
           "buys": {"entityIdKey": "user", "valueKey": "value", "trackExposures": False}}
BUILTIN = {"type": "builtin", "strategy": "popular"}


def config(home_weights=None, extra_variation=False, with_exact=True):
    home = {"method": "local", "metrics": METRICS}
    if home_weights:
        home["weights"] = home_weights
    home_vars = {"a": BUILTIN, "b": {"type": "builtin"}}
    if extra_variation:
        home_vars["c"] = BUILTIN
    recs = {
        "home": {"experiments": {"layout": home, "other": {"method": "local", "metrics": {"m": METRICS["clicks"]}}},
                 "variations": home_vars,
                 "cacheControl": {"userSpecified": {"maxAge": 60}}},
        "legacy": {"experiments": {"rfy": {"method": "evidently", "project": "retail", "metrics": METRICS}},
                   "variations": {"x": BUILTIN, "y": BUILTIN, "z": BUILTIN}},
        "solo": {"experiments": {"s": {"method": "local"}}, "variations": {"only": BUILTIN}},
    }
    if with_exact:
        recs["exact"] = {"experiments": {"exact": {"method": "local", "weights": {"a": 1, "b": 1},
                                                   "metrics": METRICS}},
                         "variations": {"a": BUILTIN, "b": BUILTIN}}
    return {"version": "exp-1", "namespaces": {
        "shop": {"recommenders": {"recommend-items": recs,
                                  "related-items": {"similar": {"experiments": {"r": {"method": "local"}},
                                                                "variations": {"p": BUILTIN, "q": BUILTIN}}}},
                 "eventTargets": [{"type": "file", "path": FILE_PATH}]},
        "quiet": {"recommenders": {"recommend-items": {"home": {
            "experiments": {"layout": {"method": "local", "metrics": {"clicks": METRICS["clicks"]}}},
            "variations": {"a": BUILTIN, "b": BUILTIN}}}}},
    }}


CONFIG_PATH = os.path.join(TMP, "config.json")
with open(CONFIG_PATH, "w") as f:
    json.dump(config(), f)


# ---- helpers ----

def grpc_call(s, name, req, resp_cls, metadata=None):
    ch = grpc.insecure_channel(s.grpc_target)
    try:
        fn = ch.unary_unary(SVC + name, request_serializer=type(req).SerializeToString,
                            response_deserializer=resp_cls.FromString)
        resp, call = fn.with_call(req, timeout=10, metadata=metadata)
        return resp, dict(call.initial_metadata())
    finally:
        ch.close()


def grpc_error(s, name, req, resp_cls):
    try:
        grpc_call(s, name, req, resp_cls)
    except grpc.RpcError as e:
        return e.code(), dict(e.trailing_metadata() or ()).get("x-personalization-error-code"), e.details()
    raise AssertionError("expected an error from " + name)


def rest_recommend(s, rec, user, feature=None, ns="shop"):
    path = "/recommend-items/%s/%s/%s?numResults=3" % (ns, rec, user) + ("&feature=" + feature if feature else "")
    status, hdrs, doc = curl_json(s, path)
    assert status == 200, doc
    return hdrs, doc


def grpc_recommend(s, rec, user, feature=None, ns="shop"):
    req = pb.RecommendItemsRequest(namespace=ns, recommender=rec, user_id=user, num_results=3)
    if feature:
        req.feature = feature
    return grpc_call(s, "RecommendItems", req, pb.RecommendationResponse)


def post_events(s, body, ns="shop"):
    return curl_json(s, "/events/" + ns, method="POST", data=json.dumps(body),
                     headers=("Content-Type: application/json",))


def results(s, rec, feature, ns="shop"):
    status, _, doc = curl_json(s, "/experiments/%s/%s/%s" % (ns, rec, feature))
    assert status == 200, doc
    return doc


def wait_for(what, fn, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def figures(doc, metric, variation):
    m = [x for x in doc["metrics"] if x["metric"] == metric][0]
    return [v for v in m["variations"] if v["variation"] == variation][0]


# ---- statistics computed independently ----

def wilson(x, n, z=1.959963984540054):
    p = x / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def p_value(xa, na, xb, nb):
    p = (xa + xb) / (na + nb)
    z = (xb / nb - xa / na) / math.sqrt(p * (1 - p) * (1 / na + 1 / nb))
    return math.erfc(abs(z) / math.sqrt(2))


def beta_pdf(x, a, b):
    return math.exp((a - 1) * math.log(x) + (b - 1) * math.log(1 - x) -
                    (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)))


def prob_beat(xa, na, xb, nb, steps=8000):
    """P(q_B > q_A) = integral of f_A(x) (1 - F_B(x)) dx, Simpson's rule on a grid."""
    aa, ba, ab, bb = 1 + xa, 1 + na - xa, 1 + xb, 1 + nb - xb
    h = 1.0 / steps
    xs = [i * h for i in range(steps + 1)]
    fb = [0.0 if x <= 0 or x >= 1 else beta_pdf(x, ab, bb) for x in xs]
    cdf = [0.0]
    for i in range(1, steps + 1):
        cdf.append(cdf[-1] + (fb[i - 1] + fb[i]) * h / 2)
    total = 0.0
    for i, x in enumerate(xs):
        fa = 0.0 if x <= 0 or x >= 1 else beta_pdf(x, aa, ba)
        w = 1 if i in (0, steps) else (4 if i % 2 else 2)
        total += w * fa * (1 - cdf[i])
    return total * h / 3


# ---- tests ----

def test_assignment_is_the_documented_hash_on_both_protocols(s):
    for i in range(40):
        user = "assign-%d" % i
        want = buckets.variation("shop/home", "layout", user, ["a", "b"])
        hdrs, doc = rest_recommend(s, "home", user)
        assert doc["matchedExperiment"]["variation"] == want, (user, doc)
        assert doc["matchedExperiment"]["type"] == "local" and doc["matchedExperiment"]["feature"] == "layout"
        assert doc["matchedExperiment"]["details"] == {"experiment": "layout", "treatment": want,
                                                       "bucket": buckets.bucket("shop/home", "layout", user)}
        assert hdrs["x-personalization-experiment"] == "feature=layout; variation=" + want, hdrs
        assert hdrs["x-personalization-variation"] == want
        resp, md = grpc_recommend(s, "home", user)
        assert resp.matched_experiment.variation == want and resp.matched_experiment.feature == "layout"
        assert md["x-personalization-experiment"] == "feature=layout; variation=" + want, md
        # the second experiment, asked by feature
        want2 = buckets.variation("shop/home", "other", user, ["a", "b"])
        assert rest_recommend(s, "home", user, "other")[1]["matchedExperiment"]["variation"] == want2
        assert grpc_recommend(s, "home", user, "other")[0].matched_experiment.variation == want2


def test_equal_split_without_weights(s):
    # quiet/home gives no weights: an equal split, user by user as the scheme says (the 100,000-user
    # split within 1 point is a unit test: tests/unit/core/experiment_test.c)
    for i in range(60):
        user = "split-%d" % i
        got = rest_recommend(s, "home", user, ns="quiet")[1]["matchedExperiment"]["variation"]
        assert got == buckets.variation("quiet/home", "layout", user, ["a", "b"]), user


def test_no_experiment_without_user_or_with_one_variation(s):
    status, hdrs, doc = curl_json(s, "/related-items/shop/similar/item-1?numResults=2&feature=nope")
    assert status == 200 and "matchedExperiment" not in doc and "x-personalization-experiment" not in hdrs, doc
    hdrs, doc = rest_recommend(s, "solo", "u1", feature="nope")
    assert "matchedExperiment" not in doc and hdrs["x-personalization-variation"] == "only"
    # with a user, related-items decides
    status, hdrs, doc = curl_json(s, "/related-items/shop/similar/item-1?numResults=2&userId=rel-u")
    assert doc["matchedExperiment"]["variation"] == buckets.variation("shop/similar", "r", "rel-u", ["p", "q"])


def test_unknown_feature_is_400_on_both_protocols(s):
    status, _, doc = curl_json(s, "/recommend-items/shop/home/u1?feature=nope")
    assert status == 400 and doc == {"type": "Validation", "code": "InvalidExperimentFeature",
                                     "message": "feature 'nope' is not an experiment of recommender 'home'"}, doc
    code, trailer, details = grpc_error(s, "RecommendItems", pb.RecommendItemsRequest(
        namespace="shop", recommender="home", user_id="u1", feature="nope"), pb.RecommendationResponse)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and trailer == "InvalidExperimentFeature", (code, trailer)


def test_evidently_experiments_are_assigned_locally(s):
    user = "legacy-user"
    want = buckets.variation("shop/legacy", "rfy", user, ["x", "y", "z"])
    _, doc = rest_recommend(s, "legacy", user)
    assert doc["matchedExperiment"]["type"] == "evidently" and doc["matchedExperiment"]["variation"] == want, doc
    assert s.read_log().count("evaluated locally") == 1  # logged once, at load


def test_cache_hits_never_cross_arms_and_still_count_exposures(s):
    # home has a 60 s cache for users: the second request is a hit, and still an exposure
    users = ["cached-%d" % i for i in range(6)]
    for u in users:
        first = rest_recommend(s, "home", u)[1]
        second = rest_recommend(s, "home", u)[1]
        assert second == first  # the same entry: same arm, same body
        assert grpc_recommend(s, "home", u)[0].matched_experiment.variation == first["matchedExperiment"]["variation"]
    status, _, stats = curl_json(s, s.admin_url("/admin/cache/stats"))
    assert stats["hits"] >= 2 * len(users), stats
    per_variation = {"a": 0, "b": 0}
    for u in users:
        per_variation[buckets.variation("shop/home", "layout", u, ["a", "b"])] += 1
    # each cached user: 3 responses -> 3 exposures of `clicks` (buys does not track exposures)
    lines = []

    def three_each():
        if not os.path.exists(FILE_PATH):  # the file target creates it with its first record
            return False
        lines[:] = [json.loads(x) for x in open(FILE_PATH)]
        mine = [r for r in lines if r["body"].get("userId") in users and "experimentEvent" in r["body"]]
        return len(mine) == 3 * len(users)
    wait_for("3 exposure records per cached user", three_each)
    rec = [r for r in lines if r["body"].get("userId") == users[0]][0]
    ev = rec["body"]["experimentEvent"]
    assert rec["namespace"] == "shop" and rec["path"] == "/experiments/shop/home/layout"
    assert ev["type"] == "exposure" and ev["metric"] == "clicks" and ev["feature"] == "layout"
    assert ev["variation"] == buckets.variation("shop/home", "layout", users[0], ["a", "b"])
    assert ev["data"] == {"userDetails": {"userId": users[0]}, "details": {"clicked": 1e-07}}, ev


def test_conversion_codes_on_both_protocols(s):
    cases = [
        ({"experimentConversions": [{"recommender": "home", "feature": "layout"}]}, "UserIdRequired"),
        ({"userId": "u", "experimentConversions": [{"feature": "layout"}]}, "InvalidExperimentConversions"),
        ({"userId": "u", "experimentConversions": [{"recommender": "nope"}]}, "InvalidRecommender"),
        ({"userId": "u", "experimentConversions": [{"recommender": "home"}]}, "InvalidExperimentFeature"),
        ({"userId": "u", "experimentConversions": [{"recommender": "home", "feature": "x"}]},
         "InvalidExperimentFeature"),
        ({"userId": "u", "experimentConversions": [{"recommender": "home", "feature": "layout"}]},
         "InvalidExperimentMetric"),
        ({"userId": "u", "experimentConversions": [{"recommender": "home", "feature": "layout", "metric": "x"}]},
         "InvalidExperimentMetric"),
    ]
    for body, code in cases:
        status, _, doc = post_events(s, body)
        assert status == 400 and doc["code"] == code and doc["type"] == "Validation", (body, doc)
        req = pb.PutEventsRequest(namespace="shop", user_id=body.get("userId", ""))
        if "userId" not in body:
            req.ClearField("user_id")
        for c in body["experimentConversions"]:
            req.experiment_conversions.add(**c)
        gcode, trailer, _ = grpc_error(s, "PutEvents", req, pb.PutEventsResponse)
        assert gcode == grpc.StatusCode.INVALID_ARGUMENT and trailer == code, (body, gcode, trailer)
    # a conversion-only post needs no eventTargets (spec §14 #17)
    status, _, _ = post_events(s, {"userId": "q1", "experimentConversions": [{"recommender": "home"}]}, ns="quiet")
    assert status == 200


def test_exact_figures_over_both_protocols(s):
    users = ["exact-%03d" % i for i in range(240)]
    assigned = {u: buckets.variation("shop/exact", "exact", u, ["a", "b"]) for u in users}
    exposures = {"a": 0, "b": 0}
    for i, u in enumerate(users):
        for _ in range(2 if i % 10 == 0 else 1):  # every tenth user twice: still one user
            if i % 2:
                assert grpc_recommend(s, "exact", u)[0].matched_experiment.variation == assigned[u]
            else:
                assert rest_recommend(s, "exact", u)[1]["matchedExperiment"]["variation"] == assigned[u]
            exposures[assigned[u]] += 1
    # conversions: b converts more often than a; some twice, with values; half over gRPC
    conv = {"a": 0, "b": 0}
    converted = {"a": set(), "b": set()}
    value = {"a": 0.0, "b": 0.0}
    for i, u in enumerate(users):
        v = assigned[u]
        if i % (3 if v == "b" else 7) != 0:
            continue
        times = 2 if i % 4 == 0 else 1
        for t in range(times):
            val = 2.5 if t else None
            c = {"recommender": "exact", "metric": "clicks"}
            if val is not None:
                c["value"] = val
            if i % 2:
                req = pb.PutEventsRequest(namespace="shop", user_id=u)
                req.experiment_conversions.add(**c)
                grpc_call(s, "PutEvents", req, pb.PutEventsResponse)
            else:
                assert post_events(s, {"userId": u, "experimentConversions": [c]})[0] == 200
            conv[v] += 1
            converted[v].add(u)
            value[v] += val if val is not None else 1.0
    # a user never exposed: counted apart, not in the rates
    stranger = "exact-stranger"
    assert post_events(s, {"userId": stranger, "experimentConversions": [
        {"recommender": "exact", "metric": "clicks"}]})[0] == 200
    n = {v: sum(1 for u in users if assigned[u] == v) for v in ("a", "b")}
    wait_for("every conversion counted", lambda: sum(
        int(figures(results(s, "exact", "exact"), "clicks", v)["conversions"]) for v in ("a", "b")) ==
        conv["a"] + conv["b"] and int(results(s, "exact", "exact")["usersExposed"]) == len(users))
    doc = results(s, "exact", "exact")
    x = {v: len(converted[v]) for v in ("a", "b")}
    for v in ("a", "b"):
        f = figures(doc, "clicks", v)
        assert int(f["usersExposed"]) == n[v], (v, f, n)
        assert int(f["exposures"]) == exposures[v], (v, f, exposures)
        assert int(f["conversions"]) == conv[v] and int(f["convertedUsers"]) == x[v], (v, f)
        assert abs(f["conversionValue"] - value[v]) < 1e-9, (v, f, value)
        assert abs(f["conversionRate"] - x[v] / n[v]) < 1e-12
        lo, hi = wilson(x[v], n[v])
        assert abs(f["conversionRateLow"] - lo) < 1e-9 and abs(f["conversionRateHigh"] - hi) < 1e-9, (f, lo, hi)
        fb = figures(doc, "buys", v)  # no exposures tracked, no conversions sent
        assert int(fb["exposures"]) == 0 and int(fb["usersExposed"]) == n[v]
    stranger_variation = buckets.variation("shop/exact", "exact", stranger, ["a", "b"])
    assert int(figures(doc, "clicks", stranger_variation)["unattributedConversions"]) == 1
    fb = figures(doc, "clicks", "b")
    assert abs(fb["lift"] - ((x["b"] / n["b"]) - (x["a"] / n["a"])) / (x["a"] / n["a"])) < 1e-9
    assert abs(fb["pValue"] - p_value(x["a"], n["a"], x["b"], n["b"])) < 1e-9
    beat = prob_beat(x["a"], n["a"], x["b"], n["b"])
    assert abs(fb["probabilityToBeatControl"] - beat) < 1e-4, (fb, beat)
    assert "lift" not in figures(doc, "clicks", "a")
    expected = "b beats a with %d%% probability" % int(beat * 100 + 0.5) if beat >= 0.95 else None
    if expected and beat < 0.99:
        assert doc["verdict"] == expected, (doc["verdict"], beat)
    else:
        assert "b" in doc["verdict"] and "a" in doc["verdict"], doc["verdict"]
    # the same over gRPC
    r, md = grpc_call(s, "GetExperimentResults", pb.GetExperimentResultsRequest(
        namespace="shop", recommender="exact", feature="exact"), pb.ExperimentResults)
    gb = [v for v in r.metrics[0].variations if v.variation == "b"][0]
    assert r.users_exposed == len(users) and gb.converted_users == x["b"] and gb.users_exposed == n["b"]
    assert abs(gb.probability_to_beat_control - fb["probabilityToBeatControl"]) < 1e-12
    assert r.verdict == doc["verdict"] and md.get("cache-control") == "no-store", md


def test_list_and_errors_on_both_protocols(s):
    status, hdrs, doc = curl_json(s, "/experiments/shop")
    assert status == 200 and hdrs["cache-control"] == "no-store"
    names = {(e["recommender"], e["feature"]) for e in doc["experiments"]}
    assert {("home", "layout"), ("home", "other"), ("legacy", "rfy"), ("similar", "r")} <= names, names
    home = [e for e in doc["experiments"] if e["feature"] == "layout"][0]
    assert home["status"] == "running" and home["variations"] == ["a", "b"]
    assert home["resultsPath"] == "/experiments/shop/home/layout"
    r, _ = grpc_call(s, "ListExperiments", pb.ListExperimentsRequest(namespace="shop"), pb.ListExperimentsResponse)
    assert {(e.recommender, e.feature) for e in r.experiments} == names
    status, _, doc = curl_json(s, "/experiments/shop/home/nope")
    assert status == 404 and doc["code"] == "ExperimentNotFound", doc
    status, _, doc = curl_json(s, "/experiments/nope")
    assert status == 404 and doc["code"] == "NamespaceNotFound", doc
    code, trailer, _ = grpc_error(s, "GetExperimentResults", pb.GetExperimentResultsRequest(namespace="shop"),
                                  pb.ExperimentResults)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, code


def test_results_page_is_html_from_the_server(s):
    status, hdrs, body = curl(s, "/experiments/shop/home/layout",
                              headers=("Accept: text/html,application/xhtml+xml,*/*;q=0.8",))
    assert status == 200 and hdrs["content-type"].startswith("text/html"), hdrs
    page = body.decode()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and 'id="verdict"' in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # nothing fetched elsewhere
    status, hdrs, body = curl(s, "/experiments/shop", headers=("Accept: text/html",))
    assert status == 200 and 'href="/experiments/shop/home/layout"' in body.decode()
    # API clients still get JSON
    status, hdrs, _ = curl(s, "/experiments/shop/home/layout", headers=("Accept: */*",))
    assert hdrs["content-type"] == "application/json"


def test_reload_restart_removal_and_delete(s):
    """Its own server: hot reloads keep counts, a restart keeps them, a removed experiment stays
    readable until the CLI deletes its data."""
    path = os.path.join(TMP, "reload.json")
    with open(path, "w") as f:
        json.dump(config(with_exact=False), f)
    srv = Server(s.binary_path, args=["--config", path]).start()
    try:
        users = ["reload-%d" % i for i in range(20)]
        for u in users:
            rest_recommend(srv, "home", u)
        wait_for("20 users", lambda: int(results(srv, "home", "layout")["usersExposed"]) == 20)
        # weights change and a variation is added: counts stay, users move only by bucket range
        with open(path, "w") as f:
            json.dump(config(home_weights={"a": 1, "b": 1, "c": 2}, extra_variation=True, with_exact=False), f)
        wait_for("the reload", lambda: len(results(srv, "home", "layout")["variations"]) == 3)
        doc = results(srv, "home", "layout")
        assert int(doc["usersExposed"]) == 20 and doc["variations"][2]["weight"] == 0.5, doc
        for u in users:
            want = buckets.variation("shop/home", "layout", u, ["a", "b", "c"], [1, 1, 2])
            assert rest_recommend(srv, "home", u)[1]["matchedExperiment"]["variation"] == want
        srv.stop()
        srv = Server(s.binary_path, args=["--config", path], data_dir=srv.data_dir).start()
        before = results(srv, "home", "layout")
        assert int(before["usersExposed"]) >= 20, before  # durable across the restart
        # the experiment is removed from the configuration: its results stay readable
        cfg = config(with_exact=False)
        del cfg["namespaces"]["shop"]["recommenders"]["recommend-items"]["home"]["experiments"]["layout"]
        with open(path, "w") as f:
            json.dump(cfg, f)
        wait_for("the removal", lambda: results(srv, "home", "layout")["status"] == "removed")
        doc = results(srv, "home", "layout")
        assert doc["usersExposed"] == before["usersExposed"] and doc["variations"][0]["variation"] == "a", doc
        listed = curl_json(srv, "/experiments/shop")[2]["experiments"]
        assert [e["status"] for e in listed if e["feature"] == "layout"] == ["removed"]
        # the CLI deletes it (while the server runs)
        p = subprocess.run([s.binary_path, "experiments", "delete", "--data-dir", srv.data_dir, "--namespace",
                            "shop", "--recommender", "home", "--feature", "layout"], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        status, _, doc = curl_json(srv, "/experiments/shop/home/layout")
        assert status == 404 and doc["code"] == "ExperimentNotFound", doc
    finally:
        srv.stop()
        srv.cleanup()


run_tests(globals(), server_args=["--config", CONFIG_PATH])
