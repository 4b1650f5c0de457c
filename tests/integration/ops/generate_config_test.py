"""`personalization-server generate-config` against a fake Personalize control plane
(fake_personalize.py: botocore checks every signature and every request's parameters), with
pagination, throttling and a recipe no action maps to; the document it prints passes
--check-config.

Usage: generate_config_test.py SERVER_BINARY
"""
import json
import os
import subprocess
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_personalize as fp  # noqa: E402

BINARY = os.path.abspath(sys.argv[1])


def run_generate(plane, *args, env_extra=None):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("AWS_"):
            del env[k]
    env.update({"AWS_ACCESS_KEY_ID": fp.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": fp.SECRET_KEY,
                "AWS_ENDPOINT_URL_PERSONALIZE": plane.url, "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"})
    env.pop("BUILD_WORKING_DIRECTORY", None)
    env.update(env_extra or {})
    return subprocess.run([BINARY, "generate-config"] + list(args), capture_output=True, text=True, env=env,
                          timeout=120)


def variation(doc, ns, action, rec):
    return doc["namespaces"][ns]["recommenders"][action][rec]["variations"]


def test_all_dataset_groups(plane):
    p = run_generate(plane, "--region", fp.REGION)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert plane.bad == [], plane.bad
    assert doc["version"] == "2" and doc["description"]
    assert doc["cacheControl"] == {"autoProvision": True,
                                   "userSpecified": {"maxAge": 10, "directives": "private"},
                                   "syntheticUserSpecified": {"maxAge": 300, "directives": "public"},
                                   "noUserSpecified": {"maxAge": 1200, "directives": "public"}}
    assert set(doc["namespaces"]) == {"shop", "media", "other"}
    # recommenders: the recipe picks the action, the variation key is the recipe renamed
    assert variation(doc, "shop", "recommend-items", "for-you") == {
        "personalize-ecomm-recommended-for-you": {"type": "personalize-recommender",
                                                  "arn": fp.arn("recommender", "for-you")}}
    assert "personalize-ecomm-frequently-bought-together" in variation(doc, "shop", "related-items",
                                                                       "bought-together")
    assert "best-sellers" in doc["namespaces"]["shop"]["recommenders"]["recommend-items"]
    # the recipe no action maps to is skipped, with a warning naming it
    assert "next-action" not in json.dumps(doc)
    assert "aws-next-best-action" in p.stderr and "skipped" in p.stderr
    # campaigns, through DescribeCampaign + DescribeSolutionVersion; the newer recipes map too
    media = doc["namespaces"]["media"]["recommenders"]
    assert media["recommend-items"]["personal"]["variations"] == {
        "personalize-user-personalization-v2": {"type": "personalize-campaign", "arn": fp.arn("campaign", "personal")}}
    assert "personalize-trending-now" in media["recommend-items"]["trending"]["variations"]
    assert "personalize-user-personalization" in media["recommend-items"]["legacy"]["variations"]
    assert "personalize-sims" in media["related-items"]["similar"]["variations"]
    assert "personalize-personalized-ranking-v2" in media["rerank-items"]["ranking"]["variations"]
    # event trackers with their tracking ids (DescribeEventTracker), in order
    assert doc["namespaces"]["media"]["eventTargets"] == [
        {"type": "personalize-event-tracker", "trackingId": "tid-media-1"},
        {"type": "personalize-event-tracker", "trackingId": "tid-media-2"}]
    assert doc["namespaces"]["shop"]["eventTargets"] == [{"type": "personalize-event-tracker",
                                                          "trackingId": "tid-shop-1"}]
    # filters are named in the description, not applied
    desc = doc["namespaces"]["shop"]["description"]
    assert "ECOMMERCE" in desc and "in-stock, no-purchased, category" in desc, desc
    assert "filters" not in doc["namespaces"]["shop"]
    # pagination: every List call that had more than a page followed nextToken to the end
    tokens = [c["params"].get("nextToken") for c in plane.calls("ListCampaigns")]
    assert tokens.count(None) == 1 and "tok-2" in tokens and "tok-4" in tokens, tokens
    assert [c["params"].get("nextToken") for c in plane.calls("ListDatasetGroups")] == [None, "tok-2"]
    assert all(c["params"].get("maxResults") == 100 for c in plane.calls("ListFilters"))
    # throttling: each throttled call was retried (6 DescribeCampaign throttled once each, one page)
    assert len(plane.calls("DescribeCampaign")) == 2 * len(fp.CAMPAIGNS)
    assert "7 throttled and retried" in p.stderr, p.stderr


def test_output_passes_check_config(plane):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "generated.json")
        p = run_generate(plane, "--region", fp.REGION, "--output", out, "--config-version", "gen-7")
        assert p.returncode == 0, p.stderr
        assert p.stdout == ""
        check = subprocess.run([BINARY, "--check-config", "--config", out], capture_output=True, text=True,
                               timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "is valid: version gen-7, 3 namespace(s), 0 warning(s)" in check.stdout, check.stdout


def test_selected_dataset_groups(plane):
    p = run_generate(plane, "--region", fp.REGION, "--dataset-groups", "media, shop")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert set(doc["namespaces"]) == {"media", "shop"}
    assert "elsewhere" not in json.dumps(doc)  # a campaign of an unselected dataset group
    # only the selected groups were listed
    listed = {c["params"]["datasetGroupArn"] for c in plane.calls("ListEventTrackers")}
    assert listed == {fp.arn("dataset-group", "media"), fp.arn("dataset-group", "shop")}


def test_unknown_dataset_group_fails(plane):
    p = run_generate(plane, "--region", fp.REGION, "--dataset-groups", "media,nope")
    assert p.returncode == 1
    assert p.stdout == ""
    assert "no dataset group named 'nope'" in p.stderr, p.stderr


def test_service_error_fails_with_its_message(plane):
    plane.fail_operation = "ListFilters"
    try:
        p = run_generate(plane, "--region", fp.REGION)
    finally:
        plane.fail_operation = None
    assert p.returncode == 1 and p.stdout == ""
    assert "ListFilters: HTTP 400 AccessDeniedException: User is not authorized" in p.stderr, p.stderr
    assert len(plane.calls("ListFilters")) == 1  # not retried: a person is waiting


def test_region_comes_from_the_environment(plane):
    p = run_generate(plane, env_extra={"AWS_REGION": fp.REGION})
    assert p.returncode == 0, p.stderr
    assert plane.bad == []
    p = run_generate(plane, env_extra={"AWS_REGION": "us-east-1"})  # signed for the wrong region
    assert p.returncode == 1 and "InvalidSignatureException" in p.stderr, p.stderr


def test_no_region(plane):
    p = run_generate(plane)
    assert p.returncode == 1 and "no AWS region" in p.stderr, p.stderr


def test_usage_errors(plane):
    del plane
    assert subprocess.run([BINARY, "generate-config", "--bogus"], capture_output=True).returncode == 2
    assert subprocess.run([BINARY, "generate-config", "extra"], capture_output=True).returncode == 2


def main():
    tests = sorted((n, f) for n, f in globals().items() if n.startswith("test_") and callable(f))
    only = os.environ.get("PZ_TEST_FILTER")
    passed = failed = 0
    for name, fn in tests:
        if only and only not in name:
            continue
        plane = fp.ControlPlane()
        try:
            fn(plane)
            passed += 1
            print("[ OK ] " + name, flush=True)
        except Exception:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print("[FAIL] %s\n%s" % (name, traceback.format_exc()), flush=True)
        finally:
            plane.stop()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
