"""A fake Amazon Personalize control plane for the generate-config test: a threaded http.server on
loopback that speaks the documented AWS JSON 1.1 protocol (POST / with X-Amz-Target
AmazonPersonalize.<Operation>) and checks every request independently with python3-botocore:
its SigV4 signature (tests/integration/sigv4_check.py), and its parameters against the operation's
input shape in botocore's Personalize service model.

The account holds three dataset groups ("shop", an ECOMMERCE domain group; "media", a custom one;
"other", never selected by the tests that name groups), recommenders, campaigns (through solution
versions), event trackers and filters, with one recommender of a recipe no action maps to.
Lists are served in pages of at most PAGE_SIZE items, so every List call follows nextToken; the
first call of every DescribeCampaign and the second page of ListCampaigns are throttled once
(400 ThrottlingException), so retries are exercised. `fail_operation` makes an operation answer
400 AccessDeniedException.
"""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.session
from botocore.validate import ParamValidator

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from sigv4_check import verify_sigv4  # noqa: E402

ACCESS_KEY = "AKIDFAKECONTROLPLANE"
SECRET_KEY = "fake/control+plane"
REGION = "eu-west-1"
ACCOUNT = "111122223333"
PAGE_SIZE = 2

_MODEL = botocore.session.get_session().get_service_model("personalize")


def arn(kind, name):
    return "arn:aws:personalize:%s:%s:%s/%s" % (REGION, ACCOUNT, kind, name)


def recipe(name):
    return "arn:aws:personalize:::recipe/" + name


DATASET_GROUPS = [
    {"name": "shop", "datasetGroupArn": arn("dataset-group", "shop"), "status": "ACTIVE", "domain": "ECOMMERCE"},
    {"name": "media", "datasetGroupArn": arn("dataset-group", "media"), "status": "ACTIVE"},
    {"name": "other", "datasetGroupArn": arn("dataset-group", "other"), "status": "ACTIVE"},
]

RECOMMENDERS = [
    {"name": "for-you", "recommenderArn": arn("recommender", "for-you"), "datasetGroupArn": arn("dataset-group", "shop"),
     "recipeArn": recipe("aws-ecomm-recommended-for-you"), "status": "ACTIVE"},
    {"name": "bought-together", "recommenderArn": arn("recommender", "bought-together"),
     "datasetGroupArn": arn("dataset-group", "shop"), "recipeArn": recipe("aws-ecomm-frequently-bought-together"),
     "status": "ACTIVE"},
    {"name": "best-sellers", "recommenderArn": arn("recommender", "best-sellers"),
     "datasetGroupArn": arn("dataset-group", "shop"), "recipeArn": recipe("aws-ecomm-popular-items-by-purchases"),
     "status": "ACTIVE"},
    # a recipe no action maps to: skipped with a warning
    {"name": "next-action", "recommenderArn": arn("recommender", "next-action"),
     "datasetGroupArn": arn("dataset-group", "shop"), "recipeArn": recipe("aws-next-best-action"), "status": "ACTIVE"},
]

# campaign name -> (solution version name, dataset group, recipe)
CAMPAIGNS = {
    "personal": ("personal-sv", "media", "aws-user-personalization-v2"),
    "similar": ("similar-sv", "media", "aws-sims"),
    "ranking": ("ranking-sv", "media", "aws-personalized-ranking-v2"),
    "trending": ("trending-sv", "media", "aws-trending-now"),
    "legacy": ("legacy-sv", "media", "aws-user-personalization"),
    "elsewhere": ("elsewhere-sv", "other", "aws-sims"),
}

EVENT_TRACKERS = {
    "shop": [("shop-clicks", "tid-shop-1")],
    "media": [("media-plays", "tid-media-1"), ("media-views", "tid-media-2")],
    "other": [("other-events", "tid-other")],
}

FILTERS = {
    "shop": ["in-stock", "no-purchased", "category"],
    "media": ["kids-only"],
    "other": [],
}


class ControlPlane:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.bad = []  # requests that failed the signature or the parameter check
        self.throttled = {}
        self.fail_operation = None
        plane = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("content-length", "0"))
                plane.handle(self, self.rfile.read(n))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()

    def calls(self, operation):
        with self.lock:
            return [r for r in self.requests if r["operation"] == operation]

    def reply(self, h, status, payload, error_type=None):
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/x-amz-json-1.1")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def error(self, h, status, code, message):
        self.reply(h, status, {"__type": code, "message": message})

    def throttle_once(self, key):
        with self.lock:
            first = key not in self.throttled
            self.throttled[key] = True
            return first

    def handle(self, h, body):
        headers = {k.lower(): v for k, v in h.headers.items()}
        target = headers.get("x-amz-target", "")
        operation = target[len("AmazonPersonalize."):] if target.startswith("AmazonPersonalize.") else None
        ok, why, scope = verify_sigv4("POST", h.path, headers, body, {ACCESS_KEY: (SECRET_KEY, None)})
        if ok and (scope["service"] != "personalize" or scope["region"] != REGION):
            ok, why = False, "signed for %s/%s" % (scope["service"], scope["region"])
        try:
            params = json.loads(body) if body else {}
        except ValueError:
            params = None
        rec = {"operation": operation, "params": params, "sig_ok": ok, "why": why,
               "content_type": headers.get("content-type")}
        with self.lock:
            self.requests.append(rec)
        if not ok:
            self.bad.append(rec)
            return self.error(h, 403, "InvalidSignatureException", why)
        if operation is None or operation not in _MODEL.operation_names:
            self.bad.append(rec)
            return self.error(h, 400, "UnknownOperationException", "unknown target %r" % target)
        if rec["content_type"] != "application/x-amz-json-1.1" or not isinstance(params, dict):
            self.bad.append(rec)
            return self.error(h, 400, "SerializationException", "bad content type or body")
        report = ParamValidator().validate(params, _MODEL.operation_model(operation).input_shape)
        if report.has_errors():
            rec["why"] = report.generate_report()
            self.bad.append(rec)
            return self.error(h, 400, "ValidationException", rec["why"])
        if operation == self.fail_operation:
            return self.error(h, 400, "AccessDeniedException", "User is not authorized to perform %s" % operation)
        handler = getattr(self, "op_" + operation, None)
        if handler is None:
            self.bad.append(rec)
            return self.error(h, 400, "ValidationException", "the fake does not serve %s" % operation)
        status, payload = handler(params)
        if status != 200:
            return self.error(h, status, payload["__type"], payload["message"])
        self.reply(h, 200, payload)

    # ---- pagination ----

    def page(self, items, params, key):
        start = int(params.get("nextToken", "tok-0")[4:]) if params.get("nextToken") else 0
        size = min(PAGE_SIZE, params.get("maxResults", 100))
        out = {key: items[start:start + size]}
        if start + size < len(items):
            out["nextToken"] = "tok-%d" % (start + size)
        return 200, out

    # ---- operations ----

    def op_ListDatasetGroups(self, p):
        return self.page(DATASET_GROUPS, p, "datasetGroups")

    def op_ListRecommenders(self, p):
        items = [r for r in RECOMMENDERS if r["datasetGroupArn"] == p.get("datasetGroupArn")]
        return self.page(items, p, "recommenders")

    def op_ListCampaigns(self, p):
        if p.get("nextToken") == "tok-2" and self.throttle_once("ListCampaigns-tok-2"):
            return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
        items = [{"name": n, "campaignArn": arn("campaign", n), "status": "ACTIVE"} for n in CAMPAIGNS]
        return self.page(items, p, "campaigns")

    def op_DescribeCampaign(self, p):
        name = p["campaignArn"].rsplit("/", 1)[1]
        if self.throttle_once("DescribeCampaign-" + name):
            return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
        sv, _, _ = CAMPAIGNS[name]
        return 200, {"campaign": {"name": name, "campaignArn": p["campaignArn"], "status": "ACTIVE",
                                  "solutionVersionArn": arn("solution", sv + "/1")}}

    def op_DescribeSolutionVersion(self, p):
        sv = p["solutionVersionArn"].split("/")[-2]
        for _, (name, dg, rcp) in CAMPAIGNS.items():
            if name == sv:
                return 200, {"solutionVersion": {"solutionVersionArn": p["solutionVersionArn"],
                                                 "datasetGroupArn": arn("dataset-group", dg),
                                                 "recipeArn": recipe(rcp), "status": "ACTIVE"}}
        return 404, {"__type": "ResourceNotFoundException", "message": "no such solution version"}

    def op_ListEventTrackers(self, p):
        dg = p["datasetGroupArn"].rsplit("/", 1)[1]
        items = [{"name": n, "eventTrackerArn": arn("event-tracker", n), "status": "ACTIVE"}
                 for n, _ in EVENT_TRACKERS[dg]]
        return self.page(items, p, "eventTrackers")

    def op_DescribeEventTracker(self, p):
        name = p["eventTrackerArn"].rsplit("/", 1)[1]
        for dg, trackers in EVENT_TRACKERS.items():
            for n, tid in trackers:
                if n == name:
                    return 200, {"eventTracker": {"name": n, "eventTrackerArn": p["eventTrackerArn"],
                                                  "trackingId": tid, "accountId": ACCOUNT,
                                                  "datasetGroupArn": arn("dataset-group", dg), "status": "ACTIVE"}}
        return 404, {"__type": "ResourceNotFoundException", "message": "no such event tracker"}

    def op_ListFilters(self, p):
        dg = p["datasetGroupArn"].rsplit("/", 1)[1]
        items = [{"name": n, "filterArn": arn("filter", n), "datasetGroupArn": p["datasetGroupArn"],
                  "status": "ACTIVE"} for n in FILTERS[dg]]
        return self.page(items, p, "Filters")
